"""``python -m honed``: the same as the ``honed`` command."""

import sys

from honed.cli.app import main

sys.exit(main())
