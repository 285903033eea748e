"""`python -m lab ...`: the `lab` console script, for a checkout that is not installed (e.g. a
machine without a package index, with lab's dependencies already there)."""

import sys

from lab.cli import main

sys.exit(main())
