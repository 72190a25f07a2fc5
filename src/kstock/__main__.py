"""``python -m kstock`` is the same as the ``kstock`` console script."""

import sys

from kstock.cli import main

sys.exit(main())
