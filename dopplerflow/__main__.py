"""``python -m dopplerflow``: the same as the ``dopplerflow`` command."""

import sys

from .cli import main

sys.exit(main())
