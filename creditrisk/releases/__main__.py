"""`python -m creditrisk.releases <command>`: see `creditrisk.releases.cli`."""

import sys

from creditrisk.releases.cli import main

sys.exit(main())
