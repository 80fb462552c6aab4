"""`python -m churnguard.cli <command>`: the same as the `churnguard` entry point."""

import sys

from churnguard.cli import main

sys.exit(main())
