"""`python -m benchmarks [--quick] [--only NAME] [--out DIR]`: the same as `lab bench`."""

import sys

from benchmarks.harness import main

sys.exit(main(sys.argv[1:]))
