"""Framing, window, FFT, power spectrum, wall filter and noise floor.

The stages here are incremental: each object keeps the state it needs between
blocks (filter memory, the samples of a frame not yet complete, the tracked
noise floor), so feeding a stream in blocks of any size gives exactly the
same spectra as feeding it whole.
"""

import functools
import math
from dataclasses import dataclass

import numpy as np
import scipy.fft

from . import _design
from . import _kernels as K
from .layouts import ChannelMap

__all__ = ["SpectralConfig", "spectral_config", "wall_filter_sos", "settling_samples",
           "WallFilter", "Framer",
           "NoiseFloor", "TimeAverager"]

#: Stop-band attenuation of the wall filter, dB.  Wall echoes are 40-60 dB above
#: blood; 50 dB at 0.38 x the cut-off puts the residue near the blood level
#: only where the echoes are strongest, inside the excluded wall band.
WALL_STOP_DB = 50.0
#: Stop-band edge of the wall filter as a fraction of its -3 dB cut-off.
WALL_STOP_RATIO = 0.385
#: Sound-card anti-aliasing filters roll off above ~0.45 fs; those bins are left
#: out of the noise estimate.
_NOISE_TOP = 0.45
#: Quantile of the noise bins that estimates the floor (robust to flow filling
#: up to three quarters of the band).
_NOISE_Q = 0.25
#: Time constant of the noise floor tracking, s, and how often it is updated.
_NOISE_TAU_S = 0.5
_NOISE_EVERY = 16
#: Probability that a frame of pure noise is taken for flow, per direction.
FALSE_ALARM = 1e-5
#: Frames that may be averaged (centred) in the time-averaged spectrum: 3 (the default)
#: lowers the speckle variance; 1 saves a hop of latency for live use.
AVERAGE_CHOICES = (1, 3)
#: Bins below ``wall_hz + LOW_BINS_HZ * bin_hz`` are not searched for flow: the main
#: lobe of what the wall filter leaves of the wall echoes reaches into them.
LOW_BINS_HZ = 0.5


def wall_filter_sos(wall_hz, sample_rate_hz):
    """Design the wall (clutter) filter: a 4th-order inverse-Chebyshev high-pass.

    Parameters
    ----------
    wall_hz : float
        -3 dB cut-off, Hz.
    sample_rate_hz : float

    Returns
    -------
    sos : ndarray, shape (2, 6), float64
        Two second-order sections; flat pass band, at least ``WALL_STOP_DB``
        attenuation below ``WALL_STOP_RATIO * wall_hz``.
    """
    return np.ascontiguousarray(_design.cheby2_highpass_sos(
        4, WALL_STOP_DB, WALL_STOP_RATIO * wall_hz, sample_rate_hz), dtype=np.float64)


def settling_samples(sos, sample_rate_hz, level_db=-60.0, max_s=0.5):
    """Samples until the wall filter's step response stays within ``level_db`` of its end value.

    Wall echoes 40-60 dB above blood enter the filter as a step when the
    stream starts (beyond the steady state it starts in) or restarts after
    lost samples; frames within this time of such a start still carry the
    step's transient and are left out of the analysis.

    Parameters
    ----------
    sos : ndarray, shape (2, 6)
    sample_rate_hz : float
    level_db : float
        Level relative to the step.
    max_s : float
        Longest response examined, s.

    Returns
    -------
    int
    """
    sos = np.ascontiguousarray(sos, np.float64)
    return _cached_settling(sos.tobytes(), float(sample_rate_hz), float(level_db), float(max_s))


@functools.lru_cache(maxsize=64)
def _cached_settling(sos_bytes, sample_rate_hz, level_db, max_s):
    """:func:`settling_samples` of a (2, 6) float64 ``sos`` given as bytes, cached."""
    h = np.empty(int(max_s * sample_rate_hz))
    K._step_response(np.frombuffer(sos_bytes, np.float64).reshape(2, 6), h)
    # the inverse-Chebyshev high-pass passes DC at the stop-band level: the transient is
    # the difference from that end value
    above = np.flatnonzero(np.abs(h - h[-1]) > 10 ** (level_db / 20))
    return int(above[-1] + 1) if above.size else 0


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
    t_high = _design.gamma_isf(shape, p_bin) * scale
    t_low = _design.gamma_isf(shape, edge_p) * scale
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
    n_fft = _design.next_fast_len(n_window)
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
        start, step, count, f0 = _direction_bins(freqs, lo, fs / 2, fs / 2)
    if not cmap.direction_available:
        count[1] = 0  # a real signal's spectrum is symmetric: one side holds it all
    searched = [np.arange(start[d], start[d] + step[d] * count[d], step[d]) for d in range(2)]
    usable = np.concatenate(searched)
    top = _NOISE_TOP * fs
    if cmap.mix_hz:
        top = min(top, fs / 2 - cmap.mix_hz, cmap.mix_hz)
    noise_bins = usable[(np.abs(freqs[usable]) >= 2 * wall_hz)
                        & (np.abs(freqs[usable]) <= top)].astype(np.int64)
    if noise_bins.size < 8:
        noise_bins = usable.astype(np.int64)
    if noise_bins.size > 256:
        # neighbouring Hann bins are correlated: every other one carries nearly all the
        # information, for half the selection work
        noise_bins = noise_bins[::2].copy()
    t_high, t_low = _cached_thresholds(window.astype(float).tobytes(), hop,
                                       int(max(count.max(), 1)), average_frames)
    return SpectralConfig(fs, n_window, hop, n_fft, window, bin_hz, freqs, order, cmap.separated,
                          start, step, count, f0, noise_bins, t_high, t_low, average_frames, lo)


def _chunk_matrices(sos, m):
    """Natural response ``h`` (m, 4) and chunk transition ``phi`` (4, 4) of the wall filter.

    Column ``k`` is the filter run for ``m`` samples with no input from a unit
    value in state variable ``k``: ``h[:, k]`` its outputs, ``phi[:, k]`` its
    final state.  Both are read-only (shared by the filters with the same
    ``sos`` and ``m``).
    """
    return _cached_chunk_matrices(np.ascontiguousarray(sos, np.float64).tobytes(), int(m))


@functools.lru_cache(maxsize=64)
def _cached_chunk_matrices(sos_bytes, m):
    """:func:`_chunk_matrices` of a (2, 6) float64 ``sos`` given as bytes, cached."""
    sos = np.frombuffer(sos_bytes, np.float64).reshape(2, 6)
    h = np.zeros((m, 4))
    phi = np.zeros((4, 4))
    for k in range(4):
        s = np.zeros(4)
        s[k] = 1.0
        for n in range(m):
            h[n, k] = K._tdf2_step(sos, 0.0, s)
        phi[:, k] = s
    h.setflags(write=False)
    phi.setflags(write=False)
    return h, phi


class WallFilter:
    """Channel selection, optional heterodyne, and the wall high-pass, streaming.

    Parameters
    ----------
    cmap : ChannelMap
    sos : ndarray, shape (2, 6)
        From :func:`wall_filter_sos`.
    sample_rate_hz : float
    """

    #: Samples per chunk of the chunk-parallel filter, and chunks filtered at once.
    CHUNK = 64
    LANES = 32

    def __init__(self, cmap, sos, sample_rate_hz):
        self.cmap = cmap
        self.sos = np.ascontiguousarray(sos, np.float64)
        self._mix_step = cmap.mix_hz / float(sample_rate_hz)
        self._zi = _design.sos_step_state(sos)  # (2, 2): steady state for a unit step
        self._h, self._phi = _chunk_matrices(self.sos, self.CHUNK)
        self._s = np.zeros((2, 4), np.float64)  # true state at the current chunk's start
        self._z = np.zeros((2, 4), np.float64)  # zero-state recurrence inside the chunk
        self._lanes = np.empty((self.CHUNK, 2 * self.LANES), np.float64)
        self._sbuf = np.empty((4, 2 * self.LANES), np.float64)
        self._index = 0
        self._origin = 0  # where the chunk grid starts: stream start or last restart
        self._restart = True

    def __call__(self, block, out=None):
        """Filter ``block`` (frames, channels) float32; return (frames, 2) float32.

        ``out``, if given, is the (frames, 2) float32 array written and returned.
        """
        if out is None:
            out = np.empty((block.shape[0], 2), np.float32)
        if block.shape[0] == 0:
            return out
        if self._restart and not self._mix_step:
            # start in steady state for the first sample's level: no DC transient
            x0 = float(block[0, self.cmap.i0])
            x1 = self.cmap.sign1 * float(block[0, self.cmap.i1]) if self.cmap.i1 >= 0 else 0.0
            self._s[0] = (self._zi * x0).ravel()
            self._s[1] = (self._zi * x1).ravel()
        self._restart = False
        K._wall_filter(block, self.cmap.i0, self.cmap.i1, self.cmap.sign1, self._mix_step,
                       self._index, self._index - self._origin, self.sos, self._h, self._phi,
                       self._s, self._z, self._lanes, self._sbuf, out)
        self._index += block.shape[0]
        return out

    def skip(self, n_samples):
        """Lost samples: advance the stream position and restart the filter after them.

        Restarting in steady state for the next sample avoids the transient a
        jump from silence back to strong wall echoes would ring through the
        spectrum.  Returns ``n_samples`` zero samples for the framer.
        """
        self._index += n_samples
        self._s[:] = 0.0
        self._z[:] = 0.0
        self._origin = self._index
        self._restart = True
        return np.zeros((n_samples, 2), np.float32)


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
        if n_new:
            if len(self._frames) < n_new:
                self._frames = np.empty((n_new, cfg.n_fft), np.complex64)
            frames = self._frames[:n_new]
            K._frames(self._buf.reshape(-1), 0, cfg.hop, self._window2, n_new,
                      frames.view(np.float32))
            spec = scipy.fft.fft(frames, axis=1, workers=1, overwrite_x=True)
            if cfg.separated:
                K._power(spec, cfg.separated, cfg.order, power)
            else:
                K._power_flat(spec.view(np.float32), self._shift, power)
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
        K._noise_update(power, self.cfg.noise_bins, self._q_index, self._q_to_mean, self._alpha,
                        _NOISE_EVERY, self._frame, self._scratch, self._state, out)
        self._frame += power.shape[0]
        return out


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
            K._average3(tail, new, r - 1 - base, mid)
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
