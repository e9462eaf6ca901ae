"""Shared pieces of the numba kernels: the jit options and helpers used by more than one stage.

Every kernel in the package is pure: it takes arrays and scalars, writes into the
output arrays it is given, reads no module globals other than compile-time
constants and allocates nothing inside its per-sample or per-frame loop.
"""


import numpy as np
from numba import njit

_JIT = dict(cache=True, nogil=True, error_model="numpy", no_cfunc_wrapper=True)
#: Options of kernels that allocate nothing, nor call a kernel that does: no reference
#: counting of the arrays they take, slice and pass on (its atomic counts cost more than a
#: short loop over a frame).
_JIT_PURE = dict(_JIT, _nrt=False)

#: Called once, before the first block a process analyses, if the kernels are not cached
#: (:func:`notify_first_compile`); None: nobody to tell.
_compile_notice = None


def kernels_cached():
    """Whether numba's cache holds the analysis kernels (the index files of the marker
    kernels of :mod:`dopplerflow._cache`): False on a machine's first run (or after an
    upgrade changed them), when they are compiled first, once."""
    import importlib

    from .._cache import _MARKERS

    kernels = [getattr(importlib.import_module(f"{__package__}.{name.split('.')[0]}"),
                       name.split(".")[1]) for name in _MARKERS]
    try:
        indexes = [k._cache._cache_file for k in kernels]
    except AttributeError:  # a numba whose cache is laid out otherwise, or the kernels
        return True  # interpreted (dopplerflow._first_run): say nothing
    try:
        # an index of entries saved from these sources (numba reads one from others as empty)
        return all(index._load_index() for index in indexes)
    except Exception:  # noqa: BLE001 - a damaged index: its kernel is compiled anew
        return False


def notify_first_compile(callback):
    """Call ``callback()`` before the first block this process analyses if the kernels
    are not in numba's cache yet (compiled once per machine): the command line says so
    on stderr, after the input has been checked."""
    global _compile_notice
    _compile_notice = callback


def announce_compile():
    """Tell the callback of :func:`notify_first_compile`, once, if the kernels are not
    cached yet."""
    global _compile_notice
    if _compile_notice is None:
        return
    callback, _compile_notice = _compile_notice, None
    if not kernels_cached():
        callback()



# --------------------------------------------------------------------------- kernels
@njit(**_JIT)
def _sum3(smooth, i, st, sp, cnt, j):
    """Three-bin sum centred on bin ``j`` (outward index) of a direction of frame ``i``.

    The first bin has no inner neighbour outside the wall band: its two-bin
    sum is scaled to the same noise mean.  Past the last bin the sum is 0.
    """
    if j == 0:
        return 1.5 * np.float64(smooth[i, st] + smooth[i, st + sp])
    if j >= cnt - 1:
        return 0.0
    # the float32 sum, widened (as numba widens it to the 0.0 above; numpy, interpreted,
    # only when told)
    return np.float64(smooth[i, st + sp * (j - 1)] + smooth[i, st + sp * j]
                      + smooth[i, st + sp * (j + 1)])


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


@njit(inline="always", **_JIT)
def _insert_sorted(buf, k, x):
    """Insert ``x`` into the ascending ``buf[:k]`` (``buf[k]`` is room): a few values kept
    sorted as they come, without numba's quicksort (some ten functions to compile).

    For the row stages' kernels only: on a first run they are compiled by the second
    process (:mod:`._ahead`), and no kernel may be compiled by both."""
    p = k
    while p > 0 and buf[p - 1] > x:
        buf[p] = buf[p - 1]
        p -= 1
    buf[p] = x
