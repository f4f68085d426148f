"""The kernels' shared scalar helpers and numpy's pairwise row sum.

Every kernel module that calls these also holds :data:`CORE_SOURCE`, this file's hash: numba's on-disk
cache notices changes only in a kernel's own file, so a change here must come with the new hash there
(tests/test_kernels.py checks it), which makes numba recompile the callers.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def client_price(j, client_region, client_factor, spot_price, coordination, provider_region):
    """``Prices.for_client`` for one provider and client: the spot price, plus the coordination cost times the
    client's factor when they sit in different regions."""
    cross = 1.0 if provider_region[j] != client_region else 0.0
    return spot_price[j] + coordination[j] * cross * client_factor


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def nonprice(c, friction, learning, experience, error, quality):
    """``sourcing.costs.nonprice_cost`` for one hour: friction cut by experience, plus the cost of errors."""
    return c * (friction * (1.0 - learning * experience) + error * (1.0 - quality))


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def numpy_row_sum(x):
    """The sum of a contiguous row, added in the order numpy's ``sum(axis=-1)`` adds it (its pairwise summation:
    one by one from 0.0 below 8 values, eight running sums combined in pairs up to 128 and added to 0.0,
    halves above), so that a kernel's sums equal numpy's bit for bit, values of -0.0 summing to 0.0 too.
    tests/test_kernels.py checks this order against numpy.

    Not inlined: inlined, the reference counting of ``x`` around its branches made the softmax and loyalty
    kernels slower. A kernel summing many short rows may add a row of fewer than 8 values itself, one by one
    from 0.0, and save the call (as :func:`kernels.row_sums` and :func:`kernels.loyalty` do)."""
    n = len(x)
    if n < 8:
        total = 0.0
        for i in range(n):
            total += x[i]
        return total
    if n > 128:
        half = n // 2
        half -= half % 8
        return numpy_row_sum(x[:half]) + numpy_row_sum(x[half:])
    r0, r1, r2, r3, r4, r5, r6, r7 = x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]
    m = n - n % 8
    for i in range(8, m, 8):
        r0 += x[i]
        r1 += x[i + 1]
        r2 += x[i + 2]
        r3 += x[i + 3]
        r4 += x[i + 4]
        r5 += x[i + 5]
        r6 += x[i + 6]
        r7 += x[i + 7]
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(m, n):
        total += x[i]
    return 0.0 + total  # as numpy's: a sum of -0.0s is 0.0 (adding 0.0 leaves any other sum as it is)


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def max0(x):
    """``np.maximum(x, 0.0)`` for one value, as numpy compares: NaN stays NaN, -0.0 becomes 0.0."""
    return x if (x > 0.0 or x != x) else 0.0


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def clip01(x):
    """``np.clip(x, 0.0, 1.0)`` for one value, as numpy compares: NaN stays NaN and -0.0 stays -0.0."""
    x = x if (x >= 0.0 or x != x) else 0.0
    return x if (x <= 1.0 or x != x) else 1.0
