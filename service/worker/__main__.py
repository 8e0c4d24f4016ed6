"""``python -m service.worker``: the same as ``shrinknets worker``."""

import sys

from service.worker._main import main

sys.exit(main())
