"""`python -m cart`: the `cart` command without its console script (a venv not on PATH)."""

import sys

from cart.cli import main

sys.exit(main())
