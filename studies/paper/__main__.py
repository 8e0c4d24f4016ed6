"""``python -m studies.paper <experiment> --out DIR [--quick]``."""

from studies.paper.cli import main

raise SystemExit(main())
