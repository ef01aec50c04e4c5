"""``python -m rlnet``: the pipeline's command-line entry point."""

import sys

try:
    from rlnet.cli import main

    sys.exit(main())
except KeyboardInterrupt:  # Ctrl-C outside a stage (while importing): one line, no traceback
    print("rlnet: interrupted (Ctrl-C)", file=sys.stderr)
    sys.exit(130)
