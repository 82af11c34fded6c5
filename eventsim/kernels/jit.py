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

Vectorization
-------------
Numba leaves LLVM's SLP vectorizer off.  The specialised kernels unroll
their fixed-width loops completely, and without SLP that code stays scalar
(the dense input convolution runs 0.76x instead of 6x, see
``docs/engine.md``).  :func:`vectorizing` turns it on while eventsim's
kernels compile: Numba reads ``config.SLP_VECTORIZE`` whenever it finalises
a library, so this works whether or not numba was imported (or used) before
eventsim, and it does not change how the user's own functions compile.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import threading
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
    path = root / "eventsim" / "numba" / _DIGEST
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    if os.access(path, os.W_OK):
        numba.config.CACHE_DIR = str(path)


_DIGEST = _source_digest()
_configure_cache()

_slp_lock = threading.Lock()
_slp_users = [0, 0]  # [blocks open, value before the first]


@contextlib.contextmanager
def vectorizing():
    """Compile with LLVM's SLP vectorizer on inside this block (restored after the last one closes).

    Blocks may nest and run in several threads at once; the kernels called
    inside keep running in parallel (only the bookkeeping is locked).
    """
    with _slp_lock:
        if _slp_users[0] == 0:
            _slp_users[1] = numba.config.SLP_VECTORIZE
        _slp_users[0] += 1
        numba.config.SLP_VECTORIZE = 1
    try:
        yield
    finally:
        with _slp_lock:
            _slp_users[0] -= 1
            if _slp_users[0] == 0:
                numba.config.SLP_VECTORIZE = _slp_users[1]


def source_digest() -> str:
    """Digest of every kernel source and the Numba version (names caches of compiled and generated code)."""
    return _DIGEST


def kernel(fn):
    """Compile ``fn`` as a serial kernel."""
    return numba.njit(**OPTIONS)(fn)


def inlined(fn):
    """Compile ``fn`` to be inlined into its callers at Numba IR level.

    For small helpers called in hot loops (once per position or event): a
    call that stays a call keeps LLVM from vectorizing across it (the
    fixed-width neuron update ran 4x slower as a call, see docs/engine.md).
    """
    return numba.njit(inline="always", **OPTIONS)(fn)
