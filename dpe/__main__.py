"""``python -m dpe run ...``: see dpe.cli."""

import sys

from dpe.cli import main

sys.exit(main())
