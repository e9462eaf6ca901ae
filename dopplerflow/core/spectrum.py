"""Spectrum stage: framing, window, FFT, power spectrum and the centred time average.

:func:`spectral_config` derives everything the row stages need once from the
settings and the sample rate (:class:`SpectralConfig`).  :class:`Framer` turns
filtered samples into power frames and :class:`TimeAverager` averages them over
1 or 3 frames; both keep their state between blocks.  Its numba kernels are at
the end of this module.
"""

import functools
from dataclasses import dataclass

import numpy as np
import scipy.fft
from numba import njit
from scipy.special import gammainccinv

from . import _design
from ._numba import _JIT_PURE
from .layouts import ChannelMap

#: Probability that a frame of pure noise is taken for flow, per direction.
FALSE_ALARM = 1e-5


#: Frames that may be averaged (centred) in the time-averaged spectrum: 3 (the default)
#: lowers the speckle variance; 1 saves a hop of latency for live use.
AVERAGE_CHOICES = (1, 3)


#: Bins below ``wall_hz + LOW_BINS_HZ * bin_hz`` are not searched for flow: the main
#: lobe of what the wall filter leaves of the wall echoes reaches into them.
LOW_BINS_HZ = 0.5


#: Sound-card anti-aliasing filters roll off above ~0.45 fs; those bins are left
#: out of the noise estimate.
_NOISE_TOP = 0.45
#: The fewest noise bins an estimate of the noise's level takes: fewer, over the wall
#: filter's twice and under that top, and every bin searched is one; fewer in the signal
#: band, and the noise floor takes no estimate (:func:`~dopplerflow.core.noise._estimate`).
MIN_NOISE_BINS = 8


#: Quantisation step of 16-bit audio on the full scale [-1, 1): the unit the quantisation
#: noise of any step is scaled from (:mod:`.noise`).
QUANT_STEP = 2.0 ** -15


@dataclass(frozen=True)
class SpectralConfig:
    """Everything derived once from the settings and the sample rate.

    Attributes
    ----------
    sample_rate_hz : float
    n_window, hop, n_fft : int
        Window length, hop and FFT length in samples.
    window : ndarray, shape (n_window,), float32
        Periodic Hann window (read-only).
    bin_hz : float
        FFT bin spacing, Hz.
    freqs_hz : ndarray, shape (n_fft,)
        Baseband frequency of each ascending bin (positive = toward).
    order : ndarray, shape (n_fft,), int64
        FFT bin shown at each ascending position.
    dir_start, dir_step, dir_count : ndarray, shape (2,), int64
        Usable bins of direction 0 (toward) and 1 (away), outward from the
        wall band.
    dir_f0 : ndarray, shape (2,), float64
        ``|f|`` of each direction's first usable bin.
    noise_bins : ndarray, int64
        Bins used to estimate the noise floor.
    t_high, t_low : float
        Detection and edge thresholds (see :func:`detection_thresholds`).
    average_frames : int
        Frames in the centred time average.
    floor_hz : float
        Lowest ``|f|`` searched for flow (the wall cut-off plus ``LOW_BINS_HZ``
        bins), Hz: slower flow is not measured.
    mirror : ndarray, shape (n_fft,), int64
        For layouts whose noise is the same at ``+f`` and ``-f`` (``iq``, ``qi``, the
        toward/away pairs), the bin at ``-f`` of each bin; -1 elsewhere and for the
        ``mono`` and ``offset`` layouts.
    track_lo, track_hi : int
        The bins ``track_lo .. track_hi - 1`` hold every searched bin: the per-bin noise
        floor is tracked there.
    quant_power : float
        Mean power of a bin of the noise of 16-bit quantisation (:data:`QUANT_STEP`,
        uniform, ``step**2 / 12`` a sample and channel), in the units of the power
        spectrum: the unit of the quantisation noise of any step.
    tone_power : float
        Power of the bin of a full-scale tone (amplitude 1 in each channel) at the bin's
        centre, in the same units.
    """

    sample_rate_hz: float
    n_window: int
    hop: int
    n_fft: int
    window: np.ndarray
    bin_hz: float
    freqs_hz: np.ndarray
    order: np.ndarray
    separated: bool
    dir_start: np.ndarray
    dir_step: np.ndarray
    dir_count: np.ndarray
    dir_f0: np.ndarray
    noise_bins: np.ndarray
    t_high: float
    t_low: float
    average_frames: int = 3
    floor_hz: float = 0.0
    mirror: np.ndarray = None
    track_lo: int = 0
    track_hi: int = 0
    quant_power: float = 0.0
    tone_power: float = 0.0

    @property
    def hop_s(self):
        """Frame hop, s."""
        return self.hop / self.sample_rate_hz

    @property
    def t0_s(self):
        """Time of the centre of frame 0, s."""
        return 0.5 * self.n_window / self.sample_rate_hz


def _direction_bins(freqs_hz, lo_hz, hi_pos_hz, hi_neg_hz):
    """First bin, step and count of each direction's usable band."""
    start = np.zeros(2, np.int64)
    step = np.array([1, -1], np.int64)
    count = np.zeros(2, np.int64)
    f0 = np.zeros(2, np.float64)
    pos = np.nonzero((freqs_hz >= lo_hz) & (freqs_hz <= hi_pos_hz))[0]
    neg = np.nonzero((freqs_hz <= -lo_hz) & (freqs_hz >= -hi_neg_hz))[0]
    if pos.size:
        start[0], count[0], f0[0] = pos[0], pos.size, freqs_hz[pos[0]]
    if neg.size:
        start[1], count[1], f0[1] = neg[-1], neg.size, -freqs_hz[neg[-1]]
    return start, step, count, f0


def detection_thresholds(window, hop, n_bins_searched, average_frames=3, false_alarm=None,
                         edge_p=0.05):
    """Thresholds for the three-bin sum of the time-averaged spectrum.

    The statistic ``D = sum of |X|^2 over 3 bins x average_frames frames`` of
    complex white Gaussian noise is a weighted sum of exponentials whose
    weights are the eigenvalues of the covariance of those nine spectral
    values, computed here from the window and hop.  Its tail is approximated
    by a gamma distribution with the same mean and variance (Welch-
    Satterthwaite).

    Parameters
    ----------
    window : ndarray, shape (n_window,)
    hop : int
    n_bins_searched : int
        Bins tested per frame and direction; the per-bin false-alarm
        probability is ``false_alarm / n_bins_searched``.
    average_frames : int
        Frames in the time average (1 or 3).
    false_alarm : float
        Probability that a frame of pure noise is taken for flow.
    edge_p : float
        Per-bin probability that noise exceeds the edge threshold.

    Returns
    -------
    t_high, t_low : float
        Thresholds on the three-bin sum of the (frame-averaged) spectrum, as
        multiples of the mean noise power per bin and frame.
    """
    if false_alarm is None:
        false_alarm = FALSE_ALARM
    n = len(window)
    span = n + (average_frames - 1) * hop
    rows = []
    t = np.arange(n)
    for f in range(average_frames):
        for b in (-1, 0, 1):
            row = np.zeros(span, complex)
            row[f * hop:f * hop + n] = window * np.exp(-2j * np.pi * b * t / n)
            rows.append(row)
    a = np.array(rows)
    unit = np.sum(np.abs(window) ** 2)
    lam = np.linalg.eigvalsh(a @ a.conj().T).clip(min=0) / unit / average_frames
    mean, var = lam.sum(), (lam ** 2).sum()
    shape, scale = mean ** 2 / var, var / mean
    p_bin = false_alarm / max(n_bins_searched, 1)
    t_high = gammainccinv(shape, p_bin) * scale
    t_low = gammainccinv(shape, edge_p) * scale
    return float(t_high), float(t_low)


@functools.lru_cache(maxsize=64)
def _cached_thresholds(window_bytes, hop, *args):
    """:func:`detection_thresholds` of a float64 window given as bytes, cached.

    They depend on nothing else, and computing them (eigenvalues and gamma
    quantiles) is most of the cost of setting up a processor.
    """
    return detection_thresholds(np.frombuffer(window_bytes, np.float64), hop, *args)


def spectral_config(sample_rate_hz, cmap: ChannelMap, *, window_s, hop_s, wall_hz,
                    average_frames=3):
    """Build the :class:`SpectralConfig` of a stream.

    Parameters
    ----------
    sample_rate_hz : float
    cmap : ChannelMap
        From :func:`dopplerflow.layouts.channel_map`.
    window_s, hop_s : float
        STFT window and hop, s.
    average_frames : int
        Frames in the centred time average (1 or 3).
    wall_hz : float
        Wall-filter cut-off, Hz; bins below ``wall_hz + bin_hz / 2`` are not
        searched for flow (the filter's transition band and the residue of
        the wall echoes' window main lobe lie there).
    """
    fs = float(sample_rate_hz)
    n_window = int(round(window_s * fs))
    hop = int(round(hop_s * fs))
    n_fft = scipy.fft.next_fast_len(n_window)
    window = _design.hann(n_window).astype(np.float32)
    window.setflags(write=False)
    bin_hz = fs / n_fft
    order = np.fft.fftshift(np.arange(n_fft)).astype(np.int64)
    freqs = np.fft.fftshift(np.fft.fftfreq(n_fft, 1.0 / fs))
    lo = wall_hz + LOW_BINS_HZ * bin_hz
    if cmap.mix_hz:
        # heterodyne: the usable band is the upper sideband mixed down
        start, step, count, f0 = _direction_bins(freqs, lo, fs / 2 - cmap.mix_hz - bin_hz,
                                                 cmap.mix_hz - bin_hz)
        if cmap.sign1 < 0:
            start, count, f0 = start[::-1].copy(), count[::-1].copy(), f0[::-1].copy()
            step = step[::-1].copy()
    else:
        # two real channels (toward, away) meet within the window's main lobe of fs / 2:
        # a bin there holds both sides, and a click's edge frames stand out in it
        hi = fs / 2 - (2.5 * bin_hz if cmap.separated else 0.0)
        start, step, count, f0 = _direction_bins(freqs, lo, hi, hi)
    if not cmap.direction_available:
        count[1] = 0  # a real signal's spectrum is symmetric: one side holds it all
    searched = [np.arange(start[d], start[d] + step[d] * count[d], step[d]) for d in range(2)]
    usable = np.concatenate(searched)
    top = _NOISE_TOP * fs
    if cmap.mix_hz:
        top = min(top, fs / 2 - cmap.mix_hz, cmap.mix_hz)
    noise_bins = usable[(np.abs(freqs[usable]) >= 2 * wall_hz)
                        & (np.abs(freqs[usable]) <= top)].astype(np.int64)
    if noise_bins.size < MIN_NOISE_BINS:
        noise_bins = usable.astype(np.int64)
    if noise_bins.size > 256:
        # neighbouring Hann bins are correlated: every other one carries nearly all the
        # information, for half the selection work
        noise_bins = noise_bins[::2].copy()
    t_high, t_low = _cached_thresholds(window.astype(float).tobytes(), hop,
                                       int(max(count.max(), 1)), average_frames)
    mirror = _mirror_bins(freqs, cmap)
    track_lo = int(usable.min()) if usable.size else 0
    track_hi = int(usable.max()) + 1 if usable.size else 0
    return SpectralConfig(fs, n_window, hop, n_fft, window, bin_hz, freqs, order, cmap.separated,
                          start, step, count, f0, noise_bins, t_high, t_low, average_frames, lo,
                          mirror, track_lo, track_hi, _quant_power(window, cmap),
                          _tone_power(window, cmap))


def _mirror_bins(freqs_hz, cmap):
    """The bin at ``-f`` of every bin (-1: none) where the noise is symmetric about zero.

    The complex baseband of two real channels (``I + jQ``) carries the noise of each
    channel, a real signal, equally at ``+f`` and ``-f``; the toward/away pairs put
    each channel's own noise on one side, the same when the two channels are alike.
    One channel (``mono``) has one side only, and a heterodyne (``offset``) moves the
    noise's symmetry off zero.
    """
    mirror = np.full(len(freqs_hz), -1, np.int64)
    if not cmap.direction_available or cmap.mix_hz or cmap.i1 < 0:
        return mirror
    # the bins ascend: the bin of -f is found by bisection (-fs/2 has no mirror)
    j = np.clip(np.searchsorted(freqs_hz, -freqs_hz), 0, len(freqs_hz) - 1)
    ok = np.isclose(freqs_hz[j], -freqs_hz)
    mirror[ok] = j[ok]
    mirror.setflags(write=False)
    return mirror


def _quant_power(window, cmap):
    """Mean power of a bin of 16-bit quantisation noise, for this layout's spectrum.

    Noise of variance ``s2`` a sample in each channel gives ``s2 * sum(w**2)`` a bin for
    one channel, twice that for ``I + jQ``, and four times for a toward/away pair (each
    side is twice one channel's analytic signal).
    """
    channels = 1 if cmap.i1 < 0 else (4 if cmap.separated else 2)
    return channels * QUANT_STEP ** 2 / 12.0 * float(np.sum(window.astype(float) ** 2))


def _tone_power(window, cmap):
    """Power of the bin of a full-scale tone at the bin's centre, for this layout's
    spectrum: ``sum(w)**2`` for ``I + jQ`` of amplitude 1 (and a toward/away pair's side,
    twice one channel's analytic signal), a quarter of it for one real channel."""
    gain = float(np.sum(window.astype(float))) ** 2
    return gain / 4.0 if cmap.i1 < 0 else gain


class Framer:
    """Cut the filtered stream into windowed frames and return their power spectra.

    Keeps the samples of the frame not yet complete, so frames fall at the
    same places whatever the block size.  New samples can be written straight
    into its buffer: ``space(n)`` gives the place, ``commit(n)`` frames them.
    """

    def __init__(self, config: SpectralConfig):
        self.cfg = config
        self._buf = np.zeros((0, 2), np.float32)  # pending samples in _buf[:_fill]
        self._fill = 0
        self.n_frames = 0
        self._shift = int(config.order[0])
        self._window2 = np.repeat(config.window, 2)
        self._frames = np.empty((0, config.n_fft), np.complex64)  # reused FFT input
        #: Power of the samples in the first and in the second half of each new frame's
        #: window, shape (n_new, 2) float32 (the last ``commit``'s frames): a frame whose
        #: halves differ by far more than flow does holds a step of level (:mod:`.impulses`).
        self.halves = np.zeros((0, 2), np.float32)

    def space(self, n):
        """A (n, 2) float32 array for the next ``n`` filtered samples (then ``commit(n)``)."""
        need = self._fill + n
        if need > len(self._buf):
            grown = np.empty((max(need, 2 * len(self._buf)), 2), np.float32)
            grown[:self._fill] = self._buf[:self._fill]
            self._buf = grown
        return self._buf[self._fill:need]

    def commit(self, n):
        """Frame the ``n`` samples written into ``space(n)``; return (new_frames, n_fft) power."""
        cfg = self.cfg
        self._fill += n
        n_new = 0 if self._fill < cfg.n_window else (self._fill - cfg.n_window) // cfg.hop + 1
        power = np.empty((n_new, cfg.n_fft), np.float32)
        self.halves = np.zeros((n_new, 2), np.float32)
        if n_new:
            if len(self._frames) < n_new:
                self._frames = np.empty((n_new, cfg.n_fft), np.complex64)
            frames = self._frames[:n_new]
            _frames(self._buf.reshape(-1), 0, cfg.hop, self._window2, n_new,
                    frames.view(np.float32), self.halves)
            spec = scipy.fft.fft(frames, axis=1, workers=1, overwrite_x=True)
            if cfg.separated:
                _power(spec, cfg.separated, cfg.order, power)
            else:
                _power_flat(spec.view(np.float32), self._shift, power)
            keep_from = n_new * cfg.hop
            rest = self._fill - keep_from
            self._buf[:rest] = self._buf[keep_from:self._fill]
            self._fill = rest
        self.n_frames += n_new
        return power

    def __call__(self, filtered):
        """Append ``filtered`` (n, 2) float32; return (new_frames, n_fft) float32 power."""
        self.space(len(filtered))[:] = filtered
        return self.commit(len(filtered))


class TimeAverager:
    """Centred average of 3 consecutive power frames (or none), streaming.

    Row ``r`` is the mean of frames ``r - 1``, ``r`` and ``r + 1``, so it is
    ready one frame after frame ``r``; the first and last rows average the two
    frames they have.  Averaging the speckle of three overlapping frames
    lowers the variance of the noise and flow estimates at the cost of one
    hop of latency.  With ``n_frames=1`` rows are the frames themselves.
    """

    def __init__(self, n_frames=3):
        if n_frames not in AVERAGE_CHOICES:
            raise ValueError(f"n_frames must be one of {AVERAGE_CHOICES}")
        self.n_frames = n_frames
        self._tail = None
        self._seen = 0  # frames received
        self._next = 0  # next row to emit

    def kept(self):
        """The newest frames (up to two, oldest first) kept from the calls so far, or None."""
        return self._tail

    def __call__(self, new, final=False):
        """Add power frames ``new`` (m, n_bins); return the rows now complete."""
        if self.n_frames == 1:
            return np.ascontiguousarray(new, np.float32)
        tail = self._tail if self._tail is not None else new[:0]
        base = self._seen - len(tail)  # stream index of tail[0]; new[0] follows tail
        total = self._seen + len(new)
        last = total - 1 if final else total - 2
        rows = []
        r = self._next
        if r == 0 and last >= 0:
            first = self._span(tail, new, base, 0, min(total, 2))
            rows.append(first if total == 1 else (first[0:1] + first[1:2]) * np.float32(0.5))
            r = 1
        hi = min(last, total - 2)  # rows with both neighbours
        if hi >= r:
            mid = np.empty((hi - r + 1, new.shape[1]), np.float32)
            _average3(tail, new, r - 1 - base, mid)
            rows.append(mid)
            r = hi + 1
        if final and r == total - 1 and r >= 1:
            pair = self._span(tail, new, base, r - 1, r + 1)
            rows.append((pair[0:1] + pair[1:2]) * np.float32(0.5))
            r = total
        self._next = r
        self._seen = total
        if len(new) >= 2:
            self._tail = new[-2:].copy()
        elif len(new):
            self._tail = np.concatenate((tail, new))[-2:].copy()
        if not rows:
            return np.zeros((0, new.shape[1]), np.float32)
        if len(rows) == 1:
            return rows[0].astype(np.float32, copy=False)
        return np.concatenate(rows).astype(np.float32, copy=False)

    @staticmethod
    def _span(tail, new, base, f0, f1):
        """Frames ``f0 .. f1 - 1`` (stream indices) of ``tail`` followed by ``new``."""
        k = len(tail)
        parts = []
        if f0 - base < k:
            parts.append(tail[f0 - base:min(f1 - base, k)])
        if f1 - base > k:
            parts.append(new[max(f0 - base - k, 0):f1 - base - k])
        return parts[0] if len(parts) == 1 else np.concatenate(parts)



# --------------------------------------------------------------------------- kernels
@njit(**_JIT_PURE)
def _frames(buf, start, hop, window2, n_frames, out, halves):
    """Cut windowed complex frames ``window * (c0 + j c1)`` from ``buf``; sum the samples'
    power over each half of the window.

    Parameters
    ----------
    buf : ndarray, shape (2 * n,), float32
        Samples ``c0, c1`` interleaved (an (n, 2) array raveled).
    start, hop : int
        Frame ``i`` starts at sample ``start + i * hop``.
    window2 : ndarray, shape (2 * n_window,), float32
        The window with each value twice (``np.repeat(window, 2)``).
    n_frames : int
    out : ndarray, shape (n_frames, 2 * n_fft), float32
        The (n_frames, n_fft) complex64 frames viewed as float32; samples
        past the window are zero.
    halves : ndarray, shape (n_frames, 2), float32
        The power ``c0**2 + c1**2`` of the samples (not windowed: each sample counts
        alike) summed over the first and the second half of the window (the middle
        sample of an odd window in neither).
    """
    n_w2 = window2.shape[0]
    n_f2 = out.shape[1]
    half = (n_w2 // 4) * 2  # interleaved values in each half
    for i in range(n_frames):
        seg = buf[2 * (start + i * hop):]
        row = out[i]
        for k in range(n_w2):
            row[k] = window2[k] * seg[k]
        for k in range(n_w2, n_f2):
            row[k] = 0.0
        h0 = np.float32(0.0)
        h1 = np.float32(0.0)
        for k in range(half):
            h0 += seg[k] * seg[k]
            h1 += seg[n_w2 - 1 - k] * seg[n_w2 - 1 - k]
        halves[i, 0] = h0
        halves[i, 1] = h1


@njit(**_JIT_PURE)
def _power(spec, separated, order, out):
    """Power spectrum with bins in ascending frequency.

    Parameters
    ----------
    spec : ndarray, shape (n_frames, n_fft), complex64
        FFT of the windowed frames of ``c0 + j c1``.
    separated : bool
        If True, ``c0`` and ``c1`` are two real channels holding the toward and
        away audio; they are unpacked from the one complex FFT and the toward
        spectrum is placed at positive, the away spectrum at negative frequency
        (``z = analytic(toward) + conj(analytic(away))``).
    order : ndarray, shape (n_fft,), int64
        ``order[j]`` is the FFT bin shown at ascending position ``j``.
    out : ndarray, shape (n_frames, n_fft), float32
    """
    n_frames, n_fft = spec.shape
    for i in range(n_frames):
        for j in range(n_fft):
            k = order[j]
            y = spec[i, k]
            if separated and k > 0:
                # positive bins: 2 F_toward = y + conj(y[-k]); negative: 2j F_away = y - conj(y[-k])
                # (the DC bin keeps |F_toward|^2 + |F_away|^2)
                ym = np.conj(spec[i, n_fft - k])
                if 2 * k < n_fft:
                    y = y + ym
                else:
                    y = y - ym
            out[i, j] = y.real * y.real + y.imag * y.imag


@njit(**_JIT_PURE)
def _power_flat(spec, shift, out):
    """``_power`` for one complex input (``separated`` False), on a float32 view.

    ``spec`` is the (n_frames, n_fft) complex64 FFT viewed as
    (n_frames, 2 * n_fft) float32; ascending position ``j`` holds FFT bin
    ``(j + shift) % n_fft`` (``shift = order[0]``).  Same arithmetic as
    ``_power``, in two contiguous runs per frame.
    """
    n_frames, n_fft = out.shape
    head = n_fft - shift
    for i in range(n_frames):
        # two runs, each sliced so that its indices start at 0 (the loops vectorise)
        src = spec[i, 2 * shift:]
        dst = out[i, :head]
        for j in range(head):
            re = src[2 * j]
            im = src[2 * j + 1]
            dst[j] = re * re + im * im
        src = spec[i, :2 * shift]
        dst = out[i, head:]
        for j in range(shift):
            re = src[2 * j]
            im = src[2 * j + 1]
            dst[j] = re * re + im * im


@njit(**_JIT_PURE)
def _average3(prev, frames, a, out):
    """Centred three-frame mean of ``prev`` followed by ``frames``.

    With ``f`` the rows of ``prev`` (m0, n_bins) then those of ``frames``
    (m1, n_bins), both float32: ``out[r] = (f[a+r] + f[a+r+1] + f[a+r+2]) * (1/3)``.
    The float32 operations and their order are those of the numpy expression
    they replace.
    """
    third = np.float32(1.0 / 3.0)
    n_out, n_bins = out.shape
    k = prev.shape[0]
    for r in range(n_out):
        f0 = prev[a + r] if a + r < k else frames[a + r - k]
        f1 = prev[a + r + 1] if a + r + 1 < k else frames[a + r + 1 - k]
        f2 = prev[a + r + 2] if a + r + 2 < k else frames[a + r + 2 - k]
        o = out[r]
        for j in range(n_bins):
            o[j] = (f0[j] + f1[j] + f2[j]) * third
