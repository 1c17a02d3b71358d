"""`python -m sim` is the `etcdsim` command."""

import sys

from sim.cli import main

sys.exit(main())
