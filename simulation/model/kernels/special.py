"""scipy's normal CDF and its inverse, callable from the kernels with the very bits of ``scipy.special``.

The kernels call the C functions behind ``scipy.special.ndtr`` and ``ndtri`` (scipy's cython_special), bound
by symbol name, not by address, so numba can still cache the kernels that call them on disk (an address
would change from process to process). tests/test_kernels_options.py checks them against scipy.special.
"""

from __future__ import annotations

import llvmlite.binding as llvm
from numba import types
from numba.extending import get_cython_function_address

llvm.add_symbol("outsim_ndtr", get_cython_function_address("scipy.special.cython_special", "__pyx_fuse_1ndtr"))
llvm.add_symbol("outsim_ndtri", get_cython_function_address("scipy.special.cython_special", "ndtri"))

ndtr = types.ExternalFunction("outsim_ndtr", types.float64(types.float64))  # P(Z <= x), Z standard normal
ndtri = types.ExternalFunction("outsim_ndtri", types.float64(types.float64))  # its inverse
