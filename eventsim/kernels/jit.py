"""The one place Numba options are set for every eventsim kernel.

``cache=True`` writes compiled code next to the sources (``__pycache__``), so a
second process starts without recompiling.  Numba does not track dependencies
between cached files: after editing :mod:`eventsim.fixed_point` or a kernel
module, remove ``__pycache__`` (``make clean``) before trusting a timing.
"""
from __future__ import annotations

import numba

OPTIONS = {"cache": True, "nogil": True, "boundscheck": False, "error_model": "numpy"}


def kernel(fn):
    """Compile ``fn`` as a serial kernel."""
    return numba.njit(**OPTIONS)(fn)


def parallel_kernel(fn):
    """Compile ``fn`` with ``parallel=True`` (``prange`` over images)."""
    return numba.njit(parallel=True, **OPTIONS)(fn)
