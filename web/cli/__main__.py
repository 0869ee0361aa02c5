"""``python -m web.cli``: the same as the ``gongjue`` command."""

import sys

from web.cli import main

sys.exit(main())
