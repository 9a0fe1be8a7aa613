"""``python -m explorer.train`` — the entry point torchrun launches (same flags as ``gan-explorer train``)."""

import sys

from explorer.train.cli import main

if __name__ == "__main__":
    sys.exit(main())
