"""``python -m dpe.study ...``: see dpe.study.runner."""

import sys

from dpe.study.runner import main

sys.exit(main())
