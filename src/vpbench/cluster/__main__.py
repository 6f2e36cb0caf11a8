"""``python -m vpbench.cluster``: see :mod:`vpbench.cluster.cli`."""

import sys

from vpbench.cluster.cli import main

if __name__ == "__main__":  # importing the package's modules (e.g. a walk over them) runs nothing
    sys.exit(main())
