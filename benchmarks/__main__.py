"""`python -m benchmarks [--quick] [--only NAME] [--out DIR]`: the same as `lab bench`."""

import sys

from lab.bench import main

sys.exit(main(sys.argv[1:]))
