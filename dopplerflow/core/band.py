"""Band stage: the recording's signal band.

A recorder stores a band-limited signal: the sound card's anti-aliasing filter, the audio
low-pass of a pocket Doppler (3-5 kHz), resampling from a lower rate, the cut-off of a
lossy codec.  Above the band the recording holds digital silence, the sound card's own
faint noise or a codec's artefacts, and no flow.  Those bins are found on the quiet floor
of the noise tracker (:class:`~.noise.NoiseFloor`: the lowest smoothed power of each bin
over the last seconds), which calls :func:`_band_update` at the end of every sub-window;
they are left out of the flow detection, of the noise estimate and of the envelopes, and
the maximum envelope does not run above the band's top.

A bin is out of the band when its quiet floor is

* **near digital silence**: within :data:`SILENT_DB` of the samples' quantisation noise
  (a few quantisation steps: :mod:`.noise`) and :data:`BELOW_DB` below the band's median noise; or
* **far below the rest**: :data:`FAR_DB` below the band's median noise.

A bin whose noise rises and falls with its mirror's (``line`` 3: a lossy codec codes each
real channel in clumps of bins and frames, and a clump of the I or the Q channel stands at
+f and -f alike; :data:`~.noise.MIRROR_COHERENCE`) may end the band as such a bin does.

The band's top is the lowest such bin above which at least half of the bins are out of
the band or tonal lines (:mod:`.tones`), both up to the top and within the next tenth of
the band (an isolated notch is no limit), or the foot of a cut-off edge (a drop of
:data:`EDGE_DB` within two bins, to :data:`BELOW_DB` below the band's noise) above which
a third are: a codec's cut-off can carry its artefacts above it.  Coloured noise falls
smoothly and stays in the band; a flow band's edge falls onto the noise, not below it.
Its numba kernels are at the end of this module.
"""

import numpy as np
from numba import njit

from ._numba import _JIT_PURE

__all__ = ["SignalBand", "SILENT_DB", "BELOW_DB", "FAR_DB", "EDGE_DB"]

#: A bin whose quiet floor lies within this much of the samples' quantisation noise
#: (noise of about three quantisation steps rms) is near digital silence, dB.
SILENT_DB = 20.0
#: ... when it also lies this far below the band's median noise, dB.
BELOW_DB = 20.0
#: A bin this far below the band's median noise is out of the band at any level, dB.
FAR_DB = 30.0
#: A cut-off edge: a drop of this much within two bins, dB.  The Hann window spreads a
#: brick-wall cut-off over two bins; coloured noise falls a few dB over as many.
EDGE_DB = 12.0
#: A band whose top lies below this fraction of the highest searched frequency is
#: reported as limited (the anti-aliasing filter's roll-off just below the Nyquist
#: frequency is not).
LIMITED_FRACTION = 0.8


class SignalBand:
    """The signal band of one stream, per direction, as the tracker last found it.

    Parameters
    ----------
    config : SpectralConfig

    Attributes
    ----------
    tops : ndarray, shape (2,), int64
        Per direction, the outward index of the band's top bin (-1: no band).
    """

    def __init__(self, config):
        self.config = config
        self.tops = (config.dir_count - 1).astype(np.int64)
        # calls in a row that found a wider band, per direction; then the widest top found
        # after the warm-up (-1: none yet)
        self.pending = np.array([0, 0, -1, -1], np.int64)
        self.ratios = np.array([10.0 ** (SILENT_DB / 10.0), 10.0 ** (-BELOW_DB / 10.0),
                                10.0 ** (-FAR_DB / 10.0), 10.0 ** (EDGE_DB / 10.0)])

    def widest(self):
        """Per direction, the outward index of the band's top bin, the widest it was found
        after the first sub-window (before, as found so far; -1: no band)."""
        return self.pending[2:] if self.pending[2:].max() >= 0 else self.tops

    def top_hz(self):
        """The band's top, Hz: the upper edge of its highest bin in either direction, the
        widest it was found after the first sub-window (before, as found so far; None: no
        band)."""
        cfg = self.config
        widest = self.widest()
        tops = [cfg.dir_f0[d] + (widest[d] + 0.5) * cfg.bin_hz
                for d in range(2) if cfg.dir_count[d] and widest[d] >= 0]
        return float(max(tops)) if tops else None

    def band_hz(self):
        """``[lowest, highest]`` frequency searched in the band, Hz (None: no band)."""
        top = self.top_hz()
        if top is None:
            return None
        return [round(float(self.config.floor_hz), 1), round(top, 1)]

    @property
    def limited(self):
        """Whether the band ends well below the highest frequency searched."""
        cfg = self.config
        top = self.top_hz()
        searched = max(cfg.dir_f0[d] + (cfg.dir_count[d] - 0.5) * cfg.bin_hz
                       for d in range(2) if cfg.dir_count[d])
        return top is not None and top < LIMITED_FRACTION * searched

    def warning(self, coded=False):
        """The result's warning about a limited band, or None.  ``coded``: the bins above
        the band's top rise and fall with their mirrors (a lossy codec's coarse coding,
        :data:`~.noise.MIRROR_COHERENCE`)."""
        if self.top_hz() is None:
            return ("no signal band: every bin is near digital silence or far below the rest; "
                    "nothing was searched for flow")
        if not self.limited:
            return None
        if coded:
            return (f"the recording's signal band ends at {self.top_hz() / 1e3:.2f} kHz: "
                    f"above it the noise comes and goes in clumps alike on both sides of "
                    f"zero, as a lossy codec (MP3, Vorbis) codes each channel, and would "
                    f"read as flow both ways; flow is not searched above it (record "
                    f"lossless audio: WAV or FLAC)")
        return (f"the recording's signal band ends at {self.top_hz() / 1e3:.2f} kHz (a "
                f"low-pass, resampling or a lossy codec's cut-off above it); flow is not "
                f"searched above it")


# --------------------------------------------------------------------------- kernels
@njit(**_JIT_PURE)
def _band_update(prof, bias, line, st, sp, cnt, ref, quiet, ratios, low, out, code, tops,
                 pending, d):
    """Find the signal band of direction ``d`` on a quiet floor.

    Parameters
    ----------
    prof : ndarray, shape (n_fft,), float32
        Quiet floor of each bin (the tracker's minimum statistic), biased low by
        ``1 / bias``.
    bias : float
        Factor that turns ``prof`` into a mean noise level.
    line : ndarray, shape (n_fft,), int8
        Not 0 on the bins of tonal lines and of peaks that may become lines.
    st, sp, cnt : int
        The direction's first searched bin, outward step and number of bins.
    ref : float
        The band's median quiet floor (as ``prof``).
    quiet : float
        Mean power of a bin of the samples' quantisation noise (:mod:`.noise`).
    ratios : ndarray, shape (4,), float64
        :data:`SILENT_DB`, :data:`BELOW_DB`, :data:`FAR_DB` and :data:`EDGE_DB` as
        power ratios (``10 ** (+-dB / 10)``).
    low : ndarray, shape (n_fft,), float32
        Scratch: the lowest quiet floor of each bin and its two neighbours (a line two
        bins wide does not hide a silent bin).
    out : ndarray, shape (n_fft,), int32
        Scratch.
    code : ndarray, shape (n_fft,), int8
        Set to 0 on the direction's bins in the band, 1 on those out of it.
    tops : ndarray, shape (2,), int64
        ``tops[d]`` holds the band's top bin (outward index; -1: none) and receives the
        new one: lower at once, higher once two calls in a row find it so.
    pending : ndarray, shape (4,), int64
        ``pending[d]``: calls in a row that found a wider band (updated in place).
    """
    if cnt <= 0:
        tops[d] = -1
        return
    silent_at = ratios[0] * quiet
    below = ratios[1] * ref
    far = ratios[2] * ref
    # the lowest of each bin and its two neighbours (one at the direction's ends), and
    # out[k]: 1 for a bin out of the band (the suffix counts of bins out or in lines go in
    # the loop below, from the top).  Over the direction's bins (its step is 1 or -1) as
    # one ascending run from ``k0``, the inner bins without a branch (the loop
    # vectorises), each bin's minimum taken outward as the direction orders them
    k0 = min(st, st + sp * (cnt - 1))
    p = prof[k0:k0 + cnt]
    lw = low[k0:k0 + cnt]
    ot = out[k0:k0 + cnt]
    lw[0] = p[0] if cnt == 1 else min(p[0], p[1])
    lw[cnt - 1] = p[cnt - 1] if cnt == 1 else min(p[cnt - 1], p[cnt - 2])
    if sp > 0:
        for i in range(1, cnt - 1):
            lw[i] = min(min(p[i], p[i - 1]), p[i + 1])
    else:
        for i in range(1, cnt - 1):
            lw[i] = min(min(p[i], p[i + 1]), p[i - 1])
    n_silent = 0
    for i in range(cnt):
        v = lw[i]
        ot[i] = 1 if ((v * bias <= silent_at) & (v <= below)) | (v <= far) else 0
        n_silent += 1 if v * bias <= silent_at else 0
    if n_silent == cnt:
        # a quiet floor of digital silence in every bin (no signal yet, or none for a
        # whole memory) tells nothing of the band: it stays as it was
        pending[d] = 0
        for j in range(cnt):
            code[st + sp * j] = 1 if j > tops[d] else 0
        return
    # from the top down: counts of the bins out or in lines from j up to the top, and in
    # the window of the next ``win`` bins (an isolated notch is no band limit)
    win = max(3, cnt // 10)
    top = cnt - 1
    above = 0
    near = 0
    best = cnt  # lowest j that qualifies
    for j in range(cnt - 1, 0, -1):
        k = st + sp * j
        flag = 1 if (out[k] == 1 or line[k] != 0) else 0
        above += flag
        near += flag
        if j + win < cnt:
            kw = st + sp * (j + win)
            near -= 1 if (out[kw] == 1 or line[kw] != 0) else 0
        n_above = cnt - j
        n_near = min(win, n_above)
        if (out[k] == 1 or line[k] == 3) and above >= 0.5 * n_above \
                and near >= 0.5 * n_near:
            best = j
        elif 2 <= j < cnt - 1 and above >= 0.3 * n_above:
            before = max(low[k - sp], low[k - 2 * sp])
            after = min(low[k], low[k + sp])
            if after > 0.0 and before >= ratios[3] * after and after <= below:
                best = j
    if best < cnt:
        top = best - 1
    # a band widens only when two sub-windows in a row find it wider (a sub-window of
    # codec artefacts switched off does not open the band above its cut-off)
    if top > tops[d] and tops[d] >= 0:
        pending[d] += 1
        if pending[d] < 2:
            top = tops[d]
        else:
            pending[d] = 0
    else:
        pending[d] = 0
    tops[d] = top
    for j in range(cnt):
        k = st + sp * j
        code[k] = 1 if (j > top or out[k] == 1) else 0
