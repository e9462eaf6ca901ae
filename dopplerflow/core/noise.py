"""Noise stage: the noise floor the detection and the envelopes work against.

:class:`NoiseFloor` takes power frames and returns one noise level per frame,
incrementally.  Its numba kernels are at the end of this module.
"""

import math

import numpy as np
from numba import njit

from ._numba import _JIT
from .spectrum import SpectralConfig

#: Quantile of the noise bins that estimates the floor (robust to flow filling
#: up to three quarters of the band).
_NOISE_Q = 0.25


#: Time constant of the noise floor tracking, s, and how often it is updated.
_NOISE_TAU_S = 0.5


_NOISE_EVERY = 16


class NoiseFloor:
    """Tracked mean noise power per bin, estimated from the recording itself.

    A low quantile of the bins away from the wall band and the anti-aliasing
    roll-off, scaled to a mean by the exponential law of a noise bin
    (``Q_q = -ln(1 - q) * mean``), smoothed over ``_NOISE_TAU_S``.
    """

    def __init__(self, config: SpectralConfig):
        self.cfg = config
        m = config.noise_bins.size
        self._q_index = int(_NOISE_Q * (m - 1))
        q = (self._q_index + 0.5) / m
        self._q_to_mean = 1.0 / -math.log(1.0 - q)
        every_s = _NOISE_EVERY * config.hop_s
        self._alpha = 1.0 - math.exp(-every_s / _NOISE_TAU_S)
        self._scratch = np.empty(m, np.float32)
        self._state = np.zeros(1, np.float64)
        self._frame = 0

    @property
    def level(self):
        """Current mean noise power per bin (0 before the first frame)."""
        return float(self._state[0])

    def __call__(self, power):
        """Return the noise level (n_frames,) float64 for new raw power frames."""
        out = np.empty(power.shape[0], np.float64)
        _noise_update(power, self.cfg.noise_bins, self._q_index, self._q_to_mean, self._alpha,
                        _NOISE_EVERY, self._frame, self._scratch, self._state, out)
        self._frame += power.shape[0]
        return out



class NoiseRecord:
    """The noise level of every ``every``-th row, for the recording's summary.

    The level changes every :data:`_NOISE_EVERY` frames at most, so these rows hold
    all there is of it; the memory used grows by 8 bytes every ``every`` rows.
    """

    def __init__(self, every=_NOISE_EVERY):
        self.every = int(every)
        self._kept = []

    def add(self, noise, row0):
        """Keep the levels of the rows ``row0`` ... (``noise``, one a row) that fall on the
        stride."""
        self._kept.append(noise[(-row0) % self.every::self.every].copy())

    def levels(self):
        """Every level kept, in stream order."""
        return np.concatenate(self._kept) if self._kept else np.zeros(0)


# --------------------------------------------------------------------------- kernels
@njit(**_JIT)
def _select(a, n, q):
    """q-th smallest of a[:n] (0-based), reordering a.

    Quickselect with branch-free partitions (the branches of a classic
    partition mispredict on random spectra): first the values below the pivot,
    then those equal to it, so runs of equal values (digital silence) end the
    search at once.  The pivot is the median of three pseudo-random positions,
    so no order of the input makes it quadratic.  The q-th smallest value is
    unique, so the result is that of any other correct selection.
    """
    lo = 0
    hi = n - 1
    r = 12345
    while hi > lo:
        # median of three pseudo-random positions (an LCG): no input order makes
        # the search quadratic
        span = hi - lo + 1
        r = (r * 1103515245 + 12345) & 0x7FFFFFFF
        k0 = lo + r % span
        r = (r * 1103515245 + 12345) & 0x7FFFFFFF
        k1 = lo + r % span
        r = (r * 1103515245 + 12345) & 0x7FFFFFFF
        k2 = lo + r % span
        x, y, z = a[k0], a[k1], a[k2]
        if (x <= y) == (y <= z):
            k = k1
        elif (y <= x) == (x <= z):
            k = k0
        else:
            k = k2
        p = a[k]
        a[k] = a[hi]
        a[hi] = p
        s1 = lo
        for k in range(lo, hi):
            v = a[k]
            a[k] = a[s1]
            a[s1] = v
            s1 += v < p
        s2 = s1
        for k in range(s1, hi):
            v = a[k]
            a[k] = a[s2]
            a[s2] = v
            s2 += v == p
        a[hi] = a[s2]
        a[s2] = p
        if q < s1:
            hi = s1 - 1
        elif q <= s2:
            return p
        else:
            lo = s2 + 1
    return a[q]


@njit(**_JIT)
def _noise_update(power, noise_bins, q_index, q_to_mean, alpha, every, frame0, scratch, state,
                  out):
    """Track the noise floor (mean noise power per bin) over frames.

    Every ``every``-th frame (counted from the stream start), the
    ``q_index``-th smallest power among ``noise_bins`` is taken, turned into a
    mean by ``q_to_mean`` (exponential statistics of a noise bin) and merged
    into the tracked level with weight ``alpha``; ``state[0]`` holds the level
    (0 before the first estimate).  A zero estimate (digital silence, or the
    zeros standing in for lost samples) leaves the level as it was.
    ``out[i]`` receives the level in force at frame ``i``.
    """
    n_frames = power.shape[0]
    m = noise_bins.shape[0]
    for i in range(n_frames):
        if (frame0 + i) % every == 0:
            for j in range(m):
                scratch[j] = power[i, noise_bins[j]]
            est = _select(scratch, m, q_index) * q_to_mean
            if est <= 0.0:
                pass  # digital silence or lost samples: keep the level known so far
            elif state[0] <= 0.0:
                state[0] = est
            else:
                state[0] += alpha * (est - state[0])
        out[i] = state[0]
