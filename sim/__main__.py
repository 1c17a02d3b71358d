"""`python -m sim` is the `etcdsim` command (in a checkout, from a fresh `make fast` build)."""

import sys

from sim.commands.launch import main

sys.exit(main())
