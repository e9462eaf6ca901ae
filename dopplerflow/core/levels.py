"""Level statistics of the raw samples: clipping, mean level and RMS per channel.

The running sums go on in stream order in lanes (the same whatever the blocks).
Its numba kernels are at the end of this module.
"""


import numpy as np
from numba import njit

from ._numba import _JIT


# --------------------------------------------------------------------------- kernels
@njit(**_JIT)
def _stats_add(v, k, clip_level, s, s2, clipped):
    """One value into lane ``k`` of the level statistics (see ``_block_stats``)."""
    s[k] += v
    s2[k] += np.float64(v) * v
    clipped[k] += abs(v) >= clip_level


@njit(**_JIT)
def _block_stats(flat, pos, clip_level, lanes):
    """Accumulate level statistics of a raw block into per-lane sums.

    Parameters
    ----------
    flat : ndarray, shape (n * channels,), float32
        The block's samples, frame after frame (a ``(frames, channels)``
        block raveled).
    pos : int
        Index of ``flat[0]`` among all the values of the stream so far.
    clip_level : float
        Values at or above this magnitude count as clipped.
    lanes : ndarray, shape (3, m), float64
        Per lane: sum, sum of squares, and clipped count.  Sums of finite
        float32 values cannot overflow float64, so a sum that is not finite
        marks a NaN or infinite value in the block.  Value ``e`` of the
        stream goes to lane ``e % m``; ``m`` is a multiple of the channel
        count, so lane ``l`` holds channel ``l % channels``.  Each lane sums
        in stream order, so the sums do not depend on how the stream is cut
        into blocks, and the lanes are independent, so the loop vectorises.
    """
    m = lanes.shape[1]
    n = flat.shape[0]
    s = lanes[0]
    s2 = lanes[1]
    clipped = lanes[2]
    head = min(n, (m - pos % m) % m)
    for i in range(head):
        _stats_add(flat[i], (pos + i) % m, clip_level, s, s2, clipped)
    # from here value j of ``rest`` goes to lane j % m (a slice, so that the index is
    # known not to be negative and the loop vectorises)
    rest = flat[head:]
    i = 0
    while i + m <= rest.shape[0]:
        for k in range(m):
            _stats_add(rest[i + k], k, clip_level, s, s2, clipped)
        i += m
    for j in range(i, rest.shape[0]):
        _stats_add(rest[j], j % m, clip_level, s, s2, clipped)
