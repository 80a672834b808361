"""`python -m bot` runs the `emac` command line."""

import sys

from bot.cli import main

sys.exit(main())
