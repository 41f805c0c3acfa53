"""``python -m nndl`` (also what ``torchrun -m nndl ...`` runs)."""

import sys

from .cli import main

sys.exit(main())
