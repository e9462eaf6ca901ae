"""``python -m dopplerflow.cli``: the same as the ``dopplerflow`` command."""

import sys

from . import main

sys.exit(main())
