"""``python -m service.cli``: the ``rnntune`` command."""

import sys

from service.cli import main

sys.exit(main())
