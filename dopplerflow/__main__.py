"""``python -m dopplerflow``: the same as the ``dopplerflow`` command."""

import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C before the command line could take it
    print("\ndopplerflow: interrupted", file=sys.stderr, flush=True)
    sys.exit(130)

sys.exit(main())
