"""Shared pieces of the numba kernels: the jit options and helpers used by more than one stage.

Every kernel in the package is pure: it takes arrays and scalars, writes into the
output arrays it is given, reads no module globals other than compile-time
constants and allocates nothing inside its per-sample or per-frame loop.
"""

from numba import njit

_JIT = dict(cache=True, nogil=True)
#: Options of kernels that allocate nothing, nor call a kernel that does: no reference
#: counting of the arrays they take, slice and pass on (its atomic counts cost more than a
#: short loop over a frame).
_JIT_PURE = dict(_JIT, _nrt=False)



# --------------------------------------------------------------------------- kernels
@njit(**_JIT)
def _sum3(smooth, i, st, sp, cnt, j):
    """Three-bin sum centred on bin ``j`` (outward index) of a direction of frame ``i``.

    The first bin has no inner neighbour outside the wall band: its two-bin
    sum is scaled to the same noise mean.  Past the last bin the sum is 0.
    """
    if j == 0:
        return 1.5 * (smooth[i, st] + smooth[i, st + sp])
    if j >= cnt - 1:
        return 0.0
    return smooth[i, st + sp * (j - 1)] + smooth[i, st + sp * j] + smooth[i, st + sp * (j + 1)]


@njit(**_JIT)
def _walk_out(smooth, i, st, sp, cnt, j, level):
    """Last outward index from ``j`` whose three-bin sum stays above ``level``
    (one-bin gaps bridged)."""
    edge = j
    j += 1
    while j < cnt - 1:
        if _sum3(smooth, i, st, sp, cnt, j) > level:
            edge = j
            j += 1
        elif _sum3(smooth, i, st, sp, cnt, j + 1) > level:
            edge = j + 1
            j += 2
        else:
            break
    return edge
