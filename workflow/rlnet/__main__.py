"""``python -m rlnet``: the pipeline's command-line entry point."""

import sys

from rlnet.cli import main

sys.exit(main())
