"""`python -m creditrisk.releases <command>`: see `creditrisk.releases.cli`."""

import sys

from creditrisk.releases.cli import main

if __name__ == "__main__":
    sys.exit(main())
