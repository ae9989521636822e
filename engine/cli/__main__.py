"""``python -m engine.cli`` runs the same entry point as the ``quantpick`` script."""

import sys

from engine.cli.main import main

sys.exit(main())
