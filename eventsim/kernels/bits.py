"""Bit and register intrinsics for the kernels: population count, lowest set
bit and fixed-size arrays on the stack.

A stack array whose size is a compile-time constant (a module-level integer
of a specialised kernel, see :mod:`eventsim.kernels.specialize`) lets LLVM
keep it in vector registers once the loops over it are fully unrolled: this
is what makes register blocking possible from Numba.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic, register_jitable

__all__ = ["popcount", "lowest_bit", "clear_lowest", "stack_array"]


@intrinsic
def _ctpop(typingctx, word):
    def codegen(context, builder, signature, args):
        [x] = args
        fnty = ir.FunctionType(x.type, [x.type])
        fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.ctpop.i{x.type.width}")
        return builder.call(fn, [x])

    return word(word), codegen


@register_jitable
def popcount(word):
    """Number of set bits of an unsigned 64-bit word, as int64."""
    return np.int64(_ctpop(word))


@register_jitable
def lowest_bit(word):
    """Index of the lowest set bit of a non-zero uint64 word, as int64."""
    return np.int64(trailing_zeros(word))


@register_jitable
def clear_lowest(word):
    """``word`` with its lowest set bit cleared."""
    return word & (word - np.uint64(1))


@intrinsic(prefer_literal=True)
def stack_array(typingctx, size, dtype):
    """Pointer to ``size`` elements of ``dtype`` on the stack (wrap with ``numba.carray``).

    ``size`` must be a compile-time constant.  The memory is uninitialised
    and lives for the whole call of the function that asks for it (the
    allocation sits in its entry block, so calling this in a loop allocates
    once).
    """
    if not isinstance(size, types.IntegerLiteral):
        return None
    n = size.literal_value
    nbty = dtype.dtype if isinstance(dtype, types.DType) else dtype
    if isinstance(nbty, types.NumberClass):
        nbty = nbty.instance_type
    sig = types.CPointer(nbty)(size, dtype)

    def codegen(context, builder, signature, args):
        elt = context.get_data_type(nbty)
        with builder.goto_entry_block():
            ptr = builder.alloca(ir.ArrayType(elt, n))
        return builder.bitcast(ptr, elt.as_pointer())

    return sig, codegen
