"""Tones stage: stationary tonal lines (interference, a pilot tone, a whistle).

A tonal line is a narrow peak of the spectrum, about the width of the window's main lobe,
that holds its frequency for seconds.  Blood never makes one: its spectrum is speckle
spread over a band that moves with the heartbeat and with breathing.  The lines are
found on the mean spectrum of each sub-window of the noise tracker
(:class:`~.noise.NoiseFloor`), which calls :func:`_tone_hits` and :func:`_tone_hold`
at the end of every sub-window; their bins are then left out of the flow detection and
of the envelopes (the whitened spectrum holds the noise level there) and out of the
noise estimate.  A peak is a line once it has held its bin for :data:`LINE_HOLD_S`, or
at once when its mirror bin holds a peak of the same level (:func:`_mirror_hits`): a
tone picked up on the signal lines is real on the two channels and stands at ``+f`` and
``-f`` alike, which no flow does.  Mirrored pairs are also sought in the warm-up shapes,
on the mean of its frames so far (:func:`_warm_hits`), so that such a tone does not read
as flow both ways from the first rows on (nor as two vessels, to the second-vessel
watch).

The mains hum removal (:mod:`.hum`) is separate: a comb of harmonics 50 or 60 Hz apart
fills every bin of a 100 Hz grid and stands above no neighbour, so it is no tonal line
here; ``--hum`` removes it.  Its numba kernels are at the end of this module.
"""

import math

import numpy as np
from numba import njit
from scipy.special import gammainccinv

from ._numba import _JIT_PURE

__all__ = ["Tones", "LINE_DB", "LINE_HOLD_S", "LINE_WARM_P"]

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
#: In the warm-up, a mirrored pair's peaks stand above the median of the nine bins around
#: them as far as the mean of the warm-up's ``n`` frames of a noise bin strays above its
#: median with this probability (at least :data:`LINE_DB`).
LINE_WARM_P = 1e-3


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
        Kernel state (see :func:`_tone_hold`).
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

    def warm_ratios(self, n_last):
        """The ratios of :func:`_warm_hits` for the means of 1, 2, 4 ... ``n_last`` frames.

        A noise bin's mean power over ``n`` frames is a gamma variable of shape ``n``:
        a peak stands above its surroundings' median (that variable's median) as far as
        its upper :data:`LINE_WARM_P` quantile, and at least :data:`LINE_DB`.

        Returns
        -------
        ndarray, shape (log2(n_last) + 1,), float64
        """
        out = []
        n = 1
        while n <= n_last:
            out.append(max(self.ratio, gammainccinv(n, LINE_WARM_P) / gammainccinv(n, 0.5)))
            n *= 2
        return np.array(out)

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
        v = np.float64(mean[st + sp * jj])
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
def _tone_hits(mean, quiet, st, sp, cnt, ratio, hit, low):
    """Mark the peaks of one direction that stand like a line in a sub-window's spectrum.

    Parameters
    ----------
    mean, quiet : ndarray, shape (n_fft,), float32
        Mean and lowest smoothed power of each bin over the sub-window.
    st, sp, cnt : int
        The direction's first searched bin, outward step and number of bins.
    ratio : float
        How far (power ratio) a line's peak stands above the higher of the lowest bins 3
        to 6 bins away on each side (a peak within 6 bins of the direction's first or last
        bin is none).
    hit : ndarray, shape (n_fft,), int8
        Set to 1 on the peaks, 0 on the direction's other bins.
    low : ndarray, shape (2, n_fft), float32
        Scratch.
    """
    low_mean = low[0]
    low_quiet = low[1]
    _low4(mean, st, sp, cnt, low_mean)
    _low4(quiet, st, sp, cnt, low_quiet)
    for j in range(cnt):
        hit[st + sp * j] = 0
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


@njit(**_JIT_PURE)
def _warm_hits(mean, med, st, sp, cnt, ratio, hit):
    """Mark the peaks of one direction in the mean of the warm-up's first frames.

    Few frames leave the lowest of four bins (:func:`_tone_hits`) far below the noise,
    now and then: a peak is marked when it stands ``ratio`` (:meth:`Tones.warm_ratios`)
    above ``med``, the median of the nine bins around it, and above its two neighbours
    (none within 6 bins of either end of the direction).  ``hit`` is set to 1 on the
    peaks, 0 on the direction's other bins.
    """
    for j in range(cnt):
        hit[st + sp * j] = 0
    for j in range(6, cnt - 6):
        k = st + sp * j
        v = mean[k]
        hit[k] = 1 if (mean[k - sp] <= v and mean[k + sp] <= v and med[k] > 0.0
                       and v > ratio * med[k]) else 0


@njit(**_JIT_PURE)
def _mirror_hits(mean, mirror, lo, hi, steady, hit):
    """Mark 2 on the peaks (``hit`` 1) whose mirror bin, or a bin beside it, holds a narrow
    local maximum of ``mean`` at a level within ``steady`` (a power ratio) of theirs, and
    on that maximum.

    A tone picked up on the signal lines is real on the channels: it stands at ``+f`` and
    ``-f`` at once, at the same level.  Blood flows one way at a time, and two vessels'
    narrow peaks do not mirror each other bin for bin; a strong peak's image (the
    channels' imbalance) lies tens of dB below it.  Such a pair is a line from the
    sub-window it is seen in.  On the side of the flow, flow around the tone's bins may
    hide how narrow it is: there the pair needs only a local maximum of the tone's level
    (flow adds to it, within ``steady``) more than twice over the bins two away (the
    Hann window's main lobe holds a tone within a bin on either side of its peak).
    ``mirror`` is the bin of ``-f`` (-1: none, a mono recording); the bins ascend in
    frequency.
    """
    for k in range(lo, hi):
        j = mirror[k]
        if hit[k] == 0 or j < 0:
            continue
        for jj in range(max(j - 1, lo + 2), min(j + 2, hi - 2)):
            v = mean[jj]
            if mirror[jj] >= 0 and mean[jj - 1] <= v and mean[jj + 1] <= v \
                    and v > 2.0 * max(mean[jj - 2], mean[jj + 2]) \
                    and steady * v >= mean[k] and steady * mean[k] >= v:
                hit[k] = 2
                hit[jj] = 2
                break


@njit(**_JIT_PURE)
def _tone_hold(mean, st, sp, cnt, steady, n_hold, reach, hit, scratch, score, level, held,
               found, line, warm):
    """Update the tonal lines of one direction from its peaks of a sub-window.

    Parameters
    ----------
    mean : ndarray, shape (n_fft,), float32
        Mean power of each bin over the sub-window.
    st, sp, cnt : int
        The direction's first searched bin, outward step and number of bins.
    steady : float
        How far (power ratio) a line's mean level may move from one sub-window to the
        next.
    n_hold : int
        Score at which a peak is taken for a line.
    reach : int
        Most bins on either side of a line's peak that its leakage covers.
    hit : ndarray, shape (n_fft,), int8
        The peaks (:func:`_tone_hits`): 1, or 2 for a mirrored pair (:func:`_mirror_hits`),
        which is held at once.
    scratch : ndarray, shape (n_fft,), int32
        Scratch.
    level : ndarray, shape (n_fft,), float32
        The mean level of each bin at its last peak (0: none); updated in place.
    score, held, found : ndarray, shape (n_fft,)
        Per bin: the hold score (int32; a peak this sub-window gets the highest score of
        its bin and the two beside it plus one, a mirrored peak at least ``n_hold``, a bin
        without one loses two but in the warm-up), whether a line is held there (int8:
        from ``n_hold`` on, until the score falls to half of it) and whether a line was
        ever held at a peak there (int8).  Updated in place.
    line : ndarray, shape (n_fft,), int8
        Set to 1 on the bins a held line covers: its peak and the bins beside it that
        stand more than twice above its surroundings, up to ``reach``.  Only set, never
        cleared: the caller clears it before the directions are updated.
    warm : bool
        A warm-up's mean: a bin without a peak keeps its score and level (flow crossing
        a line in the first frames hides it, and only a sub-window's quietest moment
        shows it again), and a held line is not recorded in ``found`` (it is reported
        once a sub-window's spectrum shows it too).
    """
    if cnt <= 0:
        return
    # the direction's bins (its step is 1 or -1) as one ascending run from ``k0``: bin by
    # bin, the passes below do not depend on the order (a peak reads its neighbours'
    # scores and levels from before them), and sliced so that their indices start at 0
    # they vectorise
    k0 = min(st, st + sp * (cnt - 1))
    n = cnt
    pk = hit[k0:k0 + n]
    old = scratch[k0:k0 + n]
    sc = score[k0:k0 + n]
    lv = level[k0:k0 + n]
    me = mean[k0:k0 + n]
    he = held[k0:k0 + n]
    fo = found[k0:k0 + n]
    for i in range(n):
        old[i] = sc[i]
    # a bin without a peak loses two, but in the warm-up
    if not warm:
        for i in range(n):
            sc[i] = max(old[i] - 2, 0)
    for i in range(n):
        if pk[i]:
            # the line goes on from its bin or a neighbour if its level held (within
            # ``steady``): a tone switched off and on, or a strong line's faint image
            # replaced by the line, starts again
            s = 0
            for ii in range(max(i - 1, 0), min(i + 2, n)):
                lvl = lv[ii]
                if old[ii] > s and lvl > 0.0 and steady * lvl >= me[i] \
                        and steady * me[i] >= lvl:
                    s = old[ii]
            sc[i] = min(s + 1, 2 * n_hold)
            if pk[i] == 2:
                sc[i] = max(sc[i], n_hold)
    for i in range(n):
        # (a line once found is the recorder's: it stays)
        s = sc[i]
        he[i] = 1 if s >= n_hold else (0 if (s <= n_hold // 2) & (fo[i] == 0) else he[i])
    if not warm:
        for i in range(n):
            fo[i] = 1 if (he[i] != 0) & (pk[i] != 0) else fo[i]
        for i in range(n):
            lv[i] = me[i] if pk[i] else np.float32(0.0)
    else:
        for i in range(n):
            lv[i] = me[i] if pk[i] else lv[i]
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
