"""A hint to the CPU to start loading a row of an array it will read soon (LLVM's ``prefetch``).

A kernel that visits scattered rows of many arrays, one due slot after another, waits for memory at each array of
each row when the market no longer fits in the cache (100,000 firms). Asking a few rows ahead for those rows' cache
lines lets the loads of the coming rows overlap the arithmetic of this one. A prefetch changes no value and no
memory: only when the data arrives, never what a kernel computes. tests/test_kernels.py checks that a loop gives the
same result with it, and the kernels' own tests check them against their numpy.
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


def _is_row_array(ty) -> bool:
    return isinstance(ty, types.Array) and ty.ndim in (1, 2)


@intrinsic
def prefetch_rows(typingctx, arrays, i):
    """Start loading, for reading, the cache line of row ``i`` (``a[i]`` of a 1-d array, ``a[i, 0]`` of a 2-d one) of
    ``arrays``: one array, or a tuple of them; ``i`` must be a valid row (no bounds check)."""
    many = isinstance(arrays, types.BaseTuple)
    members = tuple(arrays.types) if many else (arrays,)
    if not members or not all(_is_row_array(ty) for ty in members) or not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        byte_ptr, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        row = context.cast(builder, args[1], signature.args[1], types.intp)
        for n, aryty in enumerate(members):
            value = builder.extract_value(args[0], n) if many else args[0]
            ary = context.make_array(aryty)(context, builder, value)
            index = [row] if aryty.ndim == 1 else [row, context.get_constant(types.intp, 0)]
            ptr = cgutils.get_item_pointer(context, builder, aryty, ary, index, wraparound=False, boundscheck=False)
            # read (0), keep in every cache level (3), data cache (1)
            builder.call(fn, [builder.bitcast(ptr, byte_ptr), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arrays, i), codegen
