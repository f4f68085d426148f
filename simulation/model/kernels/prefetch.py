"""A hint to the CPU to start loading a row of an array it will read soon (LLVM's ``prefetch``).

A kernel that visits scattered rows of many arrays, one due slot after another, waits for memory at each array of
each row when the market no longer fits in the cache (100,000 firms). Asking a few rows ahead for those rows' cache
lines lets the loads of the coming rows overlap the arithmetic of this one. A prefetch changes no value and no
memory: only when the data arrives, never what a kernel computes. tests/test_kernels.py checks that a kernel gives
the same results with it as without.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: How many rows ahead a kernel asks for: far enough that the lines arrive before the row is read, near enough that
#: they are still in the cache then (8 and 16 did as well for the review's option pricing at 100,000 firms; in a
#: synthetic gather 4 did worse).
PREFETCH_ROWS = 8


@intrinsic
def prefetch_row(typingctx, arr, i):
    """Start loading the cache line of ``arr[i]`` (a 1-d array) or ``arr[i, 0]`` (2-d) for reading; ``i`` must be a
    valid row (no bounds check)."""
    if not isinstance(arr, types.Array) or arr.ndim not in (1, 2) or not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        aryty, _ = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        index = [args[1]] if aryty.ndim == 1 else [args[1], context.get_constant(types.intp, 0)]
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, index, wraparound=False, boundscheck=False)
        byte_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        # read (0), keep in every cache level (3), data cache (1)
        builder.call(fn, [builder.bitcast(ptr, byte_ptr), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, i), codegen
