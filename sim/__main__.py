"""`python -m sim` is the `etcdsim` command."""

import sys

from sim.commands.cli import main

sys.exit(main())
