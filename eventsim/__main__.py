"""``python -m eventsim``: the same as the ``eventsim`` command."""
import sys

from .cli import main

sys.exit(main())
