"""The arithmetic floor of the spectra: below it a bin holds rounding, not signal.

The samples and the spectra are single precision (float32, 24-bit mantissa): every
bin of a frame carries rounding of about 2^-24 of the frame's strongest content,
some 145 dB or more below the strongest bin's power.  A recording with noise buries
that under its noise floor.  A recording without any (a constant: the DC of a
sound card with nothing plugged in; a synthetic signal written as floats) has only
the rounding to estimate a noise floor from, and the rounding of a constant or a
tone is not noise-like but a few lines, which stand out from it as flow at fixed
speeds, both ways.

So the noise level a frame is judged against is never below :data:`PRECISION_DB`
under the frame's strongest bin.  No converter resolves that much (the best reach
about 125 dB), so on a recording with noise in it the floor is never reached and
changes nothing.

The samples themselves may be coarser than float32: a 16-bit converter's output lies on a
grid of 2^-15, an 8-bit one's on 2^-7, and rounding to that grid adds noise of
``step**2 / 12`` a sample, spread over the band (:class:`SampleGrid` finds the step from
the samples' bits, whatever the container: a 16-bit file, a float file of 16-bit audio, a
sound card's stream).  Real noise never lies under it; the rounding of a tone or a constant
to the grid is not noise-like but lines (at the harmonics of a periodic signal), which
would stand out from a floor of the band's quietest bins as flow.  So no bin's floor is
below the quantisation noise either (:mod:`.noise`).
"""

import math

import numpy as np
from numba import njit

from ._numba import _JIT_PURE

__all__ = ["PRECISION_DB", "precision_floor", "SampleGrid", "FINEST_STEP", "grid_step"]

#: Steps finer than this are no converter's (24 bits resolve 2^-23): such samples are
#: taken as continuous, and the grid is no longer followed.
FINEST_STEP = 2.0 ** -24

#: The most changes of step (each to a finer power of two) one call of :func:`_changes`
#: reports.
_MAX_CHANGES = 64

#: The least noise level a frame is judged against, in dB under its strongest bin: above
#: float32 rounding (145 dB and more below it) with a margin, under any converter's range.
PRECISION_DB = 130.0


def precision_floor(power):
    """The least noise level of each frame: its strongest bin, :data:`PRECISION_DB` down.

    Parameters
    ----------
    power : ndarray, shape (n_frames, n_bins)
        Power spectra of the frames (the wall band included: a constant passes the wall
        filter at its stop-band level, and rounds with the other bins).

    Returns
    -------
    ndarray, shape (n_frames,), float64
        Power per bin, in the units of ``power``.
    """
    if not len(power):
        return np.zeros(0)
    return power.max(axis=1).astype(np.float64) * 10.0 ** (-PRECISION_DB / 10.0)


def grid_step(x):
    """The coarsest power-of-two step that every finite, non-zero sample of ``x`` is a
    whole multiple of (``inf``: no such sample; 0: finer than :data:`FINEST_STEP`), as
    :class:`SampleGrid` finds it.

    Parameters
    ----------
    x : ndarray, float32
    """
    grid = SampleGrid()
    grid.add(np.ascontiguousarray(x, np.float32).reshape(-1, 1))
    return grid.step


class SampleGrid:
    """The quantisation step of a stream's samples: the coarsest power of two that every
    sample so far is a whole multiple of.

    Samples arrive in order (:meth:`add`, :meth:`skip` for lost or blanked ones, which
    carry none).  The step only ever gets finer; :meth:`steps_at` gives the step in force
    at given sample positions, from the samples before them only, so the answer does not
    depend on the blocks.  Until a sample has a value the step is ``inf``; once it is
    under :data:`FINEST_STEP` it is 0 (continuous samples: no grid).
    """

    def __init__(self):
        self.n = 0
        self.step = math.inf
        self._at = [0]  # sample index from which each step holds
        self._steps = [math.inf]

    def add(self, x):
        """Follow the (n, channels) float32 samples ``x``, next in the stream."""
        n = len(x)
        if n and self.step > 0.0:
            x = np.ascontiguousarray(x, np.float32).reshape(n, -1)
            bits = x.view(np.int32)
            if not _on_grid(x.reshape(-1), self.step):
                pos, steps = np.empty(_MAX_CHANGES, np.int64), np.empty(_MAX_CHANGES)
                k = _changes(bits, self.step, pos, steps)
                for p, st in zip(pos[:k], steps[:k], strict=True):
                    st = 0.0 if st < FINEST_STEP else st
                    self._at.append(self.n + int(p))
                    self._steps.append(st)
                    self.step = st
                    if st == 0.0:
                        break
        self.n += n

    @property
    def last_change(self):
        """Sample index from which :attr:`step` holds (0: from the first sample on)."""
        return self._at[-1]

    def skip(self, n):
        """``n`` samples lost or blanked: they carry no step."""
        self.n += int(n)

    def steps_at(self, ends):
        """The step in force after the samples before each of ``ends`` (sample indices,
        ascending), as a float64 array."""
        ends = np.asarray(ends)
        if len(ends) and self._at[-1] < ends[0]:  # no change among them: the last step
            return np.full(len(ends), self._steps[-1], np.float64)
        i = np.searchsorted(np.asarray(self._at), ends, side="left") - 1
        return np.asarray(self._steps, np.float64)[np.maximum(i, 0)]


# --------------------------------------------------------------------------- kernels
#: Bits of a float32 magnitude from which it is infinite or NaN.
_EXP_MASK = 0x7F800000


@njit(**_JIT_PURE)
def _sample_step(b):
    """The power-of-two step of the float32 with the bits ``b`` (its lowest set mantissa
    bit, in value); ``inf`` for zero and for non-finite values."""
    b &= 0x7FFFFFFF
    if b == 0 or b >= _EXP_MASK:
        return math.inf
    m = b & 0x7FFFFF
    if b >= 0x800000:
        m |= 0x800000  # a normal number's leading bit
    # the value's lowest set bit: the value scaled by that bit over the mantissa
    return abs(np.float64(np.int32(b).view(np.float32))) * (m & -m) / m


@njit(**_JIT_PURE)
def _on_grid(x, step):
    """Whether every float32 sample ``x`` is a whole multiple of ``step`` (``inf``:
    whether every sample is 0): one multiply and a rounding a sample (it vectorises),
    exact for a power-of-two step."""
    bad = 0
    if step == math.inf:
        for i in range(x.shape[0]):
            bad += 1 if x[i] != 0 else 0
        return bad == 0
    inv = np.float32(1.0 / step)
    for i in range(x.shape[0]):
        y = x[i] * inv
        bad += 1 if y != math.floor(y) else 0  # inf and NaN fail too: a look at their step
    return bad == 0


@njit(**_JIT_PURE)
def _changes(bits, step, pos, steps):
    """Where the step of the (n, channels) samples ``bits`` first gets finer than
    ``step``, and again after, until it is under :data:`FINEST_STEP`: the sample indices
    into ``pos`` and the steps into ``steps`` (at most their length); returns their count.
    """
    n = bits.shape[0]
    k = 0
    for t in range(n):
        s = step
        for c in range(bits.shape[1]):
            s = min(s, _sample_step(bits[t, c]))
        if s < step:
            step = s
            if k < pos.shape[0]:
                pos[k] = t
                steps[k] = s
                k += 1
            if s < FINEST_STEP:
                break
    return k
