"""``python -m skdensity``: the command-line tool (see ``skdensity --help``)."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
