"""Tones stage: stationary tonal lines (interference, a pilot tone, a whistle).

A tonal line is a narrow peak of the spectrum, about the width of the window's main lobe,
that holds its frequency for seconds.  Blood never makes one: its spectrum is speckle
spread over a band that moves with the heartbeat and with breathing.  The lines are
found on the mean spectrum of each sub-window of the noise tracker
(:class:`~.noise.NoiseFloor`), which calls :func:`_tone_update` at the end of every
sub-window; their bins are then left out of the flow detection and of the envelopes
(the whitened spectrum holds the noise level there) and out of the noise estimate.

The mains hum removal (:mod:`.hum`) is separate: a comb of harmonics 50 or 60 Hz apart
fills every bin of a 100 Hz grid and stands above no neighbour, so it is no tonal line
here; ``--hum`` removes it.  Its numba kernels are at the end of this module.
"""

import math

import numpy as np
from numba import njit

from ._numba import _JIT_PURE

__all__ = ["Tones", "LINE_DB", "LINE_HOLD_S"]

#: A line stands this far above the bins around it (3 to 6 bins away on either side), dB.
#: Ten dB is ten times the level of the noise around it: over a sub-window of 75 frames
#: the mean power of a noise bin is within 1 dB of its level.
LINE_DB = 6.0
#: A line holds its bin (or a neighbour: a line between two bins moves from one to the
#: other) in this many seconds of sub-windows, less two for every sub-window it misses.
LINE_HOLD_S = 2.5
#: Bins on either side of a line's peak that its leakage may cover: the Hann window's main
#: lobe reaches two bins, a line between bins three.
LINE_REACH = 3
#: A line's mean level moves by less than this from one sub-window to the next, dB: a
#: steady line is one source, steady in level as in frequency.
LINE_STEADY_DB = 6.0


class Tones:
    """The tonal lines of one stream: their state between sub-windows and what was found.

    Parameters
    ----------
    config : SpectralConfig
    subwindow_s : float
        Length of the tracker's sub-window, s.

    Attributes
    ----------
    n_hold : int
        Sub-windows a line must hold to be taken for one.
    score, held, found, hit : ndarray, shape (n_fft,)
        Kernel state (see :func:`_tone_update`).
    """

    def __init__(self, config, subwindow_s):
        self.config = config
        n = config.n_fft
        self.n_hold = max(2, int(math.ceil(LINE_HOLD_S / subwindow_s)))
        self.ratio = 10.0 ** (LINE_DB / 10.0)
        self.steady = 10.0 ** (LINE_STEADY_DB / 10.0)
        self.level = np.zeros(n, np.float32)
        self.score = np.zeros(n, np.int32)
        self.scratch = np.zeros(n, np.int32)
        self.low = np.zeros((2, n), np.float32)
        self.hit = np.zeros(n, np.int8)
        self.held = np.zeros(n, np.int8)
        self.found = np.zeros(n, np.int8)

    def frequencies_hz(self, top_hz=None):
        """Frequency of every line found so far (signed baseband Hz, positive toward the
        probe), one a line: the mean of its peak bins; only those up to ``top_hz``
        (``|f|``, the signal band's top) if given."""
        k = np.flatnonzero(self.found)
        if top_hz is not None:
            k = k[np.abs(self.config.freqs_hz[k]) <= top_hz]
        if not k.size:
            return []
        groups = np.split(k, np.flatnonzero(np.diff(k) > 1) + 1)
        return [float(np.mean(self.config.freqs_hz[g])) for g in groups]

    def warning(self, top_hz=None):
        """The result's warning about the lines found (up to ``top_hz``), or None."""
        f = self.frequencies_hz(top_hz)
        if not f:
            return None
        signed = bool(self.config.dir_count[1])  # with direction, the side of zero matters
        listed = ", ".join(f"{x:+.0f} Hz" if signed else f"{abs(x):.0f} Hz" for x in f)
        return (f"{len(f)} stationary tonal line(s) at {listed} (interference, a whistle or a "
                f"pilot tone: narrow and steady for seconds, unlike blood) left out of the "
                f"flow detection")


# --------------------------------------------------------------------------- kernels
@njit(**_JIT_PURE)
def _side_floor(mean, st, sp, cnt, j, near, far):
    """Lowest of ``mean`` at the outward bins ``j + near .. j + far`` (clipped to the
    direction's ``cnt`` bins; ``near``/``far`` negative for the inner side); -1 if none."""
    lo = min(j + near, j + far)
    hi = max(j + near, j + far)
    best = -1.0
    for jj in range(max(lo, 0), min(hi, cnt - 1) + 1):
        v = mean[st + sp * jj]
        if best < 0.0 or v < best:
            best = v
    return best


@njit(**_JIT_PURE)
def _low4(profile, st, sp, cnt, out):
    """``out[j]``: the lowest of ``profile`` at the outward bins ``j .. j + 3`` of a
    direction, for ``j < cnt - 3``."""
    for j in range(cnt - 3):
        k = st + sp * j
        out[j] = min(min(profile[k], profile[k + sp]),
                     min(profile[k + 2 * sp], profile[k + 3 * sp]))


@njit(**_JIT_PURE)
def _tone_update(mean, quiet, st, sp, cnt, ratio, steady, n_hold, reach, hit, scratch, low,
                 score, level, held, found, line):
    """Update the tonal lines of one direction from a sub-window's mean spectrum.

    Parameters
    ----------
    mean, quiet : ndarray, shape (n_fft,), float32
        Mean and lowest smoothed power of each bin over the sub-window.
    st, sp, cnt : int
        The direction's first searched bin, outward step and number of bins.
    steady : float
        How far (power ratio) a line's mean level may move from one sub-window to the
        next.
    ratio : float
        How far (power ratio) a line's peak stands above the higher of the lowest bins 3
        to 6 bins away on each side (a peak within 6 bins of the direction's first or last
        bin is none).
    n_hold : int
        Score at which a peak is taken for a line.
    reach : int
        Most bins on either side of a line's peak that its leakage covers.
    hit, scratch : ndarray, shape (n_fft,)
        Scratch (int8, int32).
    low : ndarray, shape (2, n_fft), float32
        Scratch.
    level : ndarray, shape (n_fft,), float32
        The mean level of each bin at its last peak (0: none); updated in place.
    score, held, found : ndarray, shape (n_fft,)
        Per bin: the hold score (int32; a peak this sub-window gets the highest score of
        its bin and the two beside it plus one, a bin without one loses two), whether a
        line is held there (int8: from ``n_hold`` on, until the score falls to half of
        it) and whether a line was ever held at a peak there (int8).  Updated in place.
    line : ndarray, shape (n_fft,), int8
        Set to 1 on the bins a held line covers: its peak and the bins beside it that
        stand more than twice above its surroundings, up to ``reach``.  Only set, never
        cleared: the caller clears it before the directions are updated.
    """
    low_mean = low[0]
    low_quiet = low[1]
    _low4(mean, st, sp, cnt, low_mean)
    _low4(quiet, st, sp, cnt, low_quiet)
    for j in range(cnt):
        k = st + sp * j
        scratch[k] = score[k]
        hit[k] = 0
    # a line's peak stands ``ratio`` above the higher of the lowest bins 3 to 6 away on
    # either side, in the mean (a line switched on and off) or in the quietest moment (a
    # line among clicks); none within 6 bins of either end of the direction (a peak at the
    # band's first bins is slow flow at the wall band's edge, one at its last the band's
    # edge).  Inline: a helper's call per bin costs more than the test.
    for j in range(6, cnt - 6):
        k = st + sp * j
        v = mean[k]
        ref = max(low_mean[j - 6], low_mean[j + 3])
        h = mean[k - sp] <= v and mean[k + sp] <= v and ref > 0.0 and v > ratio * ref
        v = quiet[k]
        ref = max(low_quiet[j - 6], low_quiet[j + 3])
        h = h or (quiet[k - sp] <= v and quiet[k + sp] <= v and ref > 0.0 and v > ratio * ref)
        hit[k] = 1 if h else 0
    for j in range(cnt):
        k = st + sp * j
        if hit[k]:
            # the line goes on from its bin or a neighbour if its level held (within
            # ``steady``): a tone switched off and on, or a strong line's faint image
            # replaced by the line, starts again
            s = 0
            for jj in range(max(j - 1, 0), min(j + 2, cnt)):
                kk = st + sp * jj
                lv = level[kk]
                if scratch[kk] > s and lv > 0.0 and steady * lv >= mean[k] \
                        and steady * mean[k] >= lv:
                    s = scratch[kk]
            score[k] = min(s + 1, 2 * n_hold)
        else:
            score[k] = max(scratch[k] - 2, 0)
        if score[k] >= n_hold:
            held[k] = 1
        elif score[k] <= n_hold // 2:
            held[k] = 0
        if held[k] and hit[k]:
            found[k] = 1
    for j in range(cnt):
        k = st + sp * j
        level[k] = mean[k] if hit[k] else 0.0
    for j in range(cnt):
        k = st + sp * j
        if not held[k]:
            continue
        # (typed: literal offsets would compile _side_floor once for each side)
        a = _side_floor(mean, st, sp, cnt, j, np.int64(-3), np.int64(-6))
        b = _side_floor(mean, st, sp, cnt, j, np.int64(3), np.int64(6))
        ref = max(a, b)
        line[k] = 1
        for side in (-1, 1):
            for w in range(1, reach + 1):
                jj = j + side * w
                if jj < 0 or jj >= cnt:
                    break
                kk = st + sp * jj
                if w > 1 and not mean[kk] > 2.0 * ref:
                    break
                line[kk] = 1
