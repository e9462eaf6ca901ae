"""Level statistics of the raw samples: clipping, mean level and RMS per channel.

Integer audio ends at full scale (1.0); float audio may hold values beyond it, which
are counted apart from the samples at full scale: they are not clipped, though a
conversion to integer audio would clip them.

The running sums go on in stream order in lanes (the same whatever the blocks).
Its numba kernels are at the end of this module.
"""

import math

import numpy as np
from numba import njit

from ._numba import _JIT

__all__ = ["Levels", "CLIP_LEVEL"]

#: Sample values at or above this magnitude count as clipped (full scale), up to 1.0;
#: beyond 1.0 they are beyond full scale (:attr:`Levels.beyond`).
CLIP_LEVEL = 0.999
#: Lanes per channel of the running sums.
_LANES = 64
#: Full scale of 16-bit integer samples: float values that are whole numbers within it
#: are 16-bit samples not scaled to [-1, 1).
INT16_FULL_SCALE = 32768.0


def _percent(count, total):
    """``count`` of ``total`` as a percentage a message gives: ``"100%"`` (all),
    ``"99%"`` (nearly all: never rounded up to all), ``"12%"``, ``"1.9%"``, ``"0.023%"``,
    ``"under 0.01%"``."""
    p = 100.0 * count / total
    if count == total:
        return "100%"
    if p >= 10:
        return f"{min(round(p), 99)}%"
    if p >= 0.01:
        return f"{p:.2g}%"
    return "under 0.01%"


class Levels:
    """Level statistics of the raw samples of a stream: a sample stage that only reads.

    Parameters
    ----------
    n_channels : int
    sample_rate_hz : float
    """

    def __init__(self, n_channels, sample_rate_hz):
        self.n_channels = int(n_channels)
        self.sample_rate_hz = float(sample_rate_hz)
        self.n = 0  # samples received (gaps excluded)
        self._lanes = np.zeros((5, _LANES * self.n_channels), np.float64)
        # every value so far a whole number, and the largest magnitude while they are:
        # 16-bit integer samples handed over as floats, unscaled
        self.whole = True
        self.whole_peak = 0.0

    def add(self, block):
        """Account for ``block`` (float32, ``(frames, channels)``) of raw samples; values
        that are not finite are counted apart (:attr:`non_finite`)."""
        _block_stats(block.reshape(-1), self.n * self.n_channels, CLIP_LEVEL, self._lanes)
        self.n += len(block)
        if self.whole and block.size:  # the first block of real audio ends the check
            self.whole = bool(np.all(np.rint(block) == block))
            self.whole_peak = max(self.whole_peak, float(np.abs(block).max()))

    @property
    def non_finite(self):
        """Values that were NaN or infinite, all channels."""
        return int(self._lanes[3].sum())

    @property
    def clipped(self):
        """Samples at full scale or beyond it, all channels."""
        return float(self._lanes[2].sum())

    @property
    def beyond(self):
        """Samples beyond full scale (magnitude over 1.0: float audio only), all channels."""
        return int(self._lanes[4].sum())

    @property
    def sums(self):
        """Per channel: the sum of the samples."""
        return self._lanes[0].reshape(-1, self.n_channels).sum(axis=0)

    @property
    def squares(self):
        """Per channel: the sum of the squared samples."""
        return self._lanes[1].reshape(-1, self.n_channels).sum(axis=0)

    def level_dbfs(self):
        """Mean power of all channels, dBFS (-inf when silent)."""
        ms = self.squares.sum() / max(self.n * self.n_channels, 1)
        return 10 * math.log10(ms) if ms > 0 else -math.inf

    def warnings(self, hum_warning=None, full_scale=True, damaged=0):
        """Clipping, samples beyond full scale, DC offset, silence (or no sample that is a
        number) and low level, in that order (``hum_warning``, when given, goes before the
        silence and level warnings).  Without ``full_scale`` (the values lie far outside
        the usual range, so full scale means nothing, and a sample of them is not zero)
        only the hum warning is given.  ``damaged``: values beyond full scale that were
        blanked as damage (:attr:`.Glitches.damaged_beyond`), which no recorder wrote and
        the glitch warning names: not counted as beyond full scale."""
        n = self.n
        out = []
        if n == 0:
            return out
        if not full_scale:
            return out + ([hum_warning] if hum_warning else [])
        out += self._scale_warnings(damaged)
        if hum_warning:
            out.append(hum_warning)
        peak_rms = float(np.sqrt(self.squares / n).max())
        if self.non_finite == n * self.n_channels:
            out.append("no sample of the recording is a number: every one is NaN or "
                       "infinite; check the file, or the program that wrote it")
        elif peak_rms == 0:
            out.append("the recording is silent: every sample is zero"
                       + (" or not a number (NaN or infinite)" if self.non_finite else ""))
        elif 20 * math.log10(peak_rms) < -60:
            out.append(f"very low level: {20 * math.log10(peak_rms):.0f} dBFS RMS; raise the "
                       f"input gain or check the cable")
        return out

    def _scale_warnings(self, damaged=0):
        """Clipping, samples beyond full scale (but ``damaged`` of them) and DC offset.
        Clipping counts the samples at full scale (integer audio's limit); float samples
        beyond it are not clipped, and are named apart.  A mean level beyond full scale is
        no DC offset but samples beyond it, which that warning names."""
        n, nch = self.n, self.n_channels
        out = []
        clipped = (self.clipped - self.beyond) / (n * nch)
        beyond = max(0, self.beyond - damaged)
        if clipped > 1e-4:
            out.append(f"clipping: {100 * clipped:.2f}% of samples at full scale; "
                       f"lower the input gain")
        if beyond:
            what = "a float value" if beyond == 1 else "float values"
            hint = ""
            if self.whole and self.whole_peak <= INT16_FULL_SCALE:
                hint = (f"; every value is a whole number, up to {self.whole_peak:.0f}: "
                        f"integer samples given as floats? divide them by "
                        f"{INT16_FULL_SCALE:.0f}")
            out.append(f"{beyond} sample{'s' if beyond != 1 else ''} "
                       f"({_percent(beyond, n * nch)}) beyond full scale: {what} over 1.0 in "
                       f"magnitude, which a conversion to integer audio would clip{hint}")
        means = self.sums / n
        for c in range(nch):
            if 0.01 < abs(means[c]) <= 1.0:
                out.append(f"mean level of {100 * means[c]:+.1f}% of full scale on channel "
                           f"{c + 1}: a DC offset or strong stationary echoes (removed by the "
                           f"wall filter)")
        return out


# --------------------------------------------------------------------------- kernels
@njit(**_JIT)
def _stats_add(v, k, clip_level, s, s2, clipped, bad, beyond):
    """One value into lane ``k`` of the level statistics (see ``_block_stats``); a value
    that is not finite is only counted (a select, not a branch: the loop vectorises)."""
    finite = np.isfinite(v)
    w = v if finite else np.float32(0.0)
    s[k] += w
    s2[k] += np.float64(w) * w
    clipped[k] += abs(w) >= clip_level
    bad[k] += not finite
    beyond[k] += abs(w) > 1.0


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
    lanes : ndarray, shape (5, m), float64
        Per lane: sum, sum of squares, clipped count (magnitude at least
        ``clip_level``), the count of values that are not finite (left out of
        the sums) and the count of those beyond full scale (magnitude over
        1.0).  Value ``e`` of the stream goes to lane ``e % m``; ``m`` is a
        multiple of the channel count, so lane ``l`` holds channel
        ``l % channels``.  Each lane sums in stream order, so the sums do not
        depend on how the stream is cut into blocks, and the lanes are
        independent, so the loop vectorises.
    """
    m = lanes.shape[1]
    n = flat.shape[0]
    s = lanes[0]
    s2 = lanes[1]
    clipped = lanes[2]
    bad = lanes[3]
    beyond = lanes[4]
    head = min(n, (m - pos % m) % m)
    for i in range(head):
        _stats_add(flat[i], (pos + i) % m, clip_level, s, s2, clipped, bad, beyond)
    # from here value j of ``rest`` goes to lane j % m (a slice, so that the index is
    # known not to be negative and the loop vectorises)
    rest = flat[head:]
    i = 0
    while i + m <= rest.shape[0]:
        for k in range(m):
            _stats_add(rest[i + k], k, clip_level, s, s2, clipped, bad, beyond)
        i += m
    for j in range(i, rest.shape[0]):
        _stats_add(rest[j], j % m, clip_level, s, s2, clipped, bad, beyond)
