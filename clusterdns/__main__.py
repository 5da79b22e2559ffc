"""``python -m clusterdns``: the same command as the ``clusterdns`` console script."""

import sys

from .cli import main

sys.exit(main())
