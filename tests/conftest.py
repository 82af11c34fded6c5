import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

if os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"):
    import nojit

    nojit.install()

from hypothesis import settings

# Numba compiles a kernel on its first call, which can land inside any example;
# wall-clock deadlines would make that flaky, so they are off for the suite.
settings.register_profile("eventsim", deadline=None, print_blob=True)
settings.load_profile("eventsim")
