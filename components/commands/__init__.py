"""One module per `churnguard` command (see components/cli.py)."""
