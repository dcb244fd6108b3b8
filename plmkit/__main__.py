"""``python -m plmkit``: the same as the ``plmkit`` command (torchrun uses this form)."""

import sys

from .cli.main import main

sys.exit(main())
