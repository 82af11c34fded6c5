"""Pure-Python stand-ins for the kernels' LLVM intrinsics, for runs with ``NUMBA_DISABLE_JIT=1``.

With the JIT off every kernel runs as plain Python (so ``make coverage`` can
measure line coverage), except the intrinsics of :mod:`eventsim.kernels.bits`,
which exist only as LLVM code.  :func:`install` swaps them for NumPy/ctypes
twins with the same results (and ``numba.carray`` passes those
arrays through); ``tests/conftest.py`` calls it when the JIT is
disabled, before any kernel module is generated or imported.
"""
from __future__ import annotations

import numba
import numpy as np

_CARRAY = numba.carray


def ctpop(word):
    """Set bits of an unsigned word (``llvm.ctpop``)."""
    return type(word)(bin(int(word)).count("1"))


def trailing_zeros(word):
    """Index of the lowest set bit of a non-zero word (``llvm.cttz``)."""
    w = int(word)
    return np.int64((w & -w).bit_length() - 1)


def stack_array(size, dtype):
    """``size`` fresh elements of ``dtype``, as an array (:func:`carray` passes it through)."""
    return np.zeros(int(size), dtype)


def carray(ptr, shape, dtype=None):
    """``numba.carray`` that also accepts the arrays of :func:`stack_array`."""
    if isinstance(ptr, np.ndarray):
        return ptr[:shape] if np.isscalar(shape) else ptr.reshape(shape)
    return _CARRAY(ptr, shape, dtype)


def install() -> None:
    """Replace the intrinsics in :mod:`eventsim.kernels.bits` (the kernels look them up there)."""
    from eventsim.kernels import bits

    bits._ctpop = ctpop
    bits.trailing_zeros = trailing_zeros
    bits.stack_array = stack_array
    numba.carray = carray
