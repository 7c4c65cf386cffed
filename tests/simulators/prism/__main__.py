"""``python -m tests.simulators.prism``: see cli.py (``--help`` lists the commands, default port and account)."""
import sys

from tests.simulators.prism.cli import main

if __name__ == "__main__":
    sys.exit(main())
