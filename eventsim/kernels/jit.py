"""The one place Numba options are set for every eventsim kernel.

Caching
-------
Kernels use ``cache=True`` so a new process starts without recompiling.
Numba keys a cached function on its *own* file only: a kernel that calls
code in another file (``fixed_point.py``, ``neurons.py``) would keep running
stale machine code after that file changes.  To rule that out, the cache
lives in a directory named by a digest of every source the kernels compile
from (``eventsim/kernels/*.py`` and ``eventsim/fixed_point.py``) and of the
Numba version: ``$XDG_CACHE_HOME/eventsim/numba/<digest>`` (default
``~/.cache``).  Any edit gives a fresh, empty cache.  Setting
``NUMBA_CACHE_DIR`` yourself overrides this.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba

OPTIONS = {"cache": True, "nogil": True, "boundscheck": False, "error_model": "numpy"}


def _source_digest() -> str:
    here = Path(__file__).parent
    h = hashlib.sha256(numba.__version__.encode())
    for path in sorted(here.glob("*.py")) + [here.parent / "fixed_point.py"]:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _configure_cache() -> None:
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = root / "eventsim" / "numba" / _source_digest()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    if os.access(path, os.W_OK):
        numba.config.CACHE_DIR = str(path)


_configure_cache()


def kernel(fn):
    """Compile ``fn`` as a serial kernel."""
    return numba.njit(**OPTIONS)(fn)


def parallel_kernel(fn):
    """Compile ``fn`` with ``parallel=True`` (``prange`` over images)."""
    return numba.njit(parallel=True, **OPTIONS)(fn)
