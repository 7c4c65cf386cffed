# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""python -m netevents_listener --config FILE [run|check-config|dead-letters ...]"""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
