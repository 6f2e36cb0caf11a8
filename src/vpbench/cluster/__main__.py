"""``python -m vpbench.cluster``: see :mod:`vpbench.cluster.cli`."""

import sys

from vpbench.cluster.cli import main

sys.exit(main())
