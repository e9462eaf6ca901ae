"""Mains hum: finding and removing a ground loop's 50 or 60 Hz lines and their harmonics.

A sound card sharing a ground with a mains-powered probe, charger or computer
adds hum to every channel: lines at the mains frequency and its harmonics, up
to several kHz.  In the Doppler spectrum they are flow at fixed speeds in both
directions, so they stretch or hide reflux.  The mains frequency wanders
(a few hundredths of a Hz on a large grid, more on a generator), which the
harmonics multiply: 0.05 Hz is 2 Hz at the 40th.  Fixed notches narrow enough
to spare the blood miss such lines, and wide ones eat the band;
:class:`HumCanceller` follows them instead (``--hum 50`` or ``--hum 60``).
:func:`detect_hum` finds hum in a stretch of audio, for a warning that
suggests it.
"""

import functools
import math

import numpy as np

from ..errors import SettingsError
from . import _kernels as K
from ._design import hann

__all__ = ["MAINS_HZ", "HumCanceller", "detect_hum", "harmonics_below"]

#: Mains frequencies, Hz.
MAINS_HZ = (50.0, 60.0)
#: Harmonics are removed up to this share of the Nyquist frequency: a line anywhere in the
#: band reads as flow at its speed.
_TOP_NYQUIST = 0.9
#: Time constant of each harmonic's amplitude, s: each notch is 1 / (pi tau) wide (3.2 Hz,
#: two of them in a 100 Hz bin take 6 % of its blood power), and a line whose frequency
#: is off by ``d`` Hz is left at about ``2 pi d tau`` of its level before the frequency is
#: followed.
TAU_S = 0.1
#: Time constant of the running mean taken out of what the amplitudes follow, s.
MEAN_TAU_S = 0.02
#: Interval of the frequency corrections, s, and the share of the measured error applied
#: at each (the fundamental follows the mains within about 0.1 s).
CHECK_S = 0.01
_GAIN = 0.1
#: Pull back to the nominal frequency per correction (with no line to follow, the
#: fundamental returns to it within a few seconds; with lines, it costs 1 % of the offset).
_LEAK = 0.001
#: A harmonic steers the frequency when its power is this many times the power by which
#: its amplitude moves in a check: noise moves it by about ``2 * CHECK_S / TAU_S`` (a
#: fifth) of its power, a steady line 50 times less, so only lines some 6 dB over the
#: noise in their notch count.
_SIGNIFICANT = 100.0
#: A harmonic is taken out from this many times the power by which its amplitude moves in
#: a check, fully from twice that: a line 3 to 6 dB over the noise in its notch (noise
#: alone passes 3 dB one check in seven, and adds its scatter only then).  Weaker lines
#: are some 15 dB under the noise of an analysis bin (150 Hz of noise bandwidth against
#: the notch's 5 Hz).
_SHOW = 20.0
#: A harmonic whose amplitude moves this many times more than usual in a check was hit by
#: a transient, which turns every harmonic in step like a frequency error: left out.
_KICK = 9.0
#: The fundamental is followed within this share of the mains frequency (+-0.25 Hz at 50
#: Hz: grids hold +-0.2 Hz).
_RANGE = 0.005
#: Harmonics that steer the frequency: those that turn by under a quarter turn in a check
#: with the fundamental off by the whole range (the 100th at 50 Hz, 83rd at 60 Hz); the
#: ones above are removed all the same.
_STEER_TURN = 0.25


def harmonics_below(mains_hz, sample_rate_hz):
    """Number of harmonics of ``mains_hz`` removed at ``sample_rate_hz``."""
    return max(1, int(_TOP_NYQUIST * sample_rate_hz / 2.0 // mains_hz))


class HumCanceller:
    """Streaming removal of mains hum from every channel (``_kernels._cancel_hum``).

    Parameters
    ----------
    mains_hz : float
        50 or 60.
    sample_rate_hz : float
    n_channels : int

    The amplitudes start at zero and are learnt within three time constants
    (:attr:`settle`); the frequency is followed from the nominal one.
    """

    def __init__(self, mains_hz, sample_rate_hz, n_channels):
        if mains_hz not in MAINS_HZ:
            raise SettingsError(f"mains frequency {mains_hz!r} Hz is not 50 or 60")
        fs = float(sample_rate_hz)
        self.mains_hz = float(mains_hz)
        self.sample_rate_hz = fs
        self.n_harmonics = harmonics_below(self.mains_hz, fs)
        step = 2.0 * math.pi * self.mains_hz / fs
        self._osc = np.array([0.0, step, 0.0])
        self._bounds = (step * (1.0 - _RANGE), step * (1.0 + _RANGE))
        self._nominal = step
        self._phasor = np.empty((4, self.n_harmonics))
        K._set_phasors(self._phasor, 0.0, step)
        self._amp = np.zeros((int(n_channels), 2, self.n_harmonics))
        self._prev = np.zeros_like(self._amp)
        self._bias = np.zeros(int(n_channels))
        self._jitter = np.zeros((int(n_channels), self.n_harmonics))
        self._shown = np.zeros((int(n_channels), self.n_harmonics))
        self._started = False
        self._beta = 1.0 / (MEAN_TAU_S * fs)
        self._alpha = 1.0 / (TAU_S * fs)
        self._check = max(1, int(round(CHECK_S * fs)))
        self._steer = max(1, int(_STEER_TURN / (_RANGE * self.mains_hz * CHECK_S)))

    @property
    def settle(self):
        """Samples over which the amplitudes are learnt from zero (three time constants)."""
        return int(round(3.0 * TAU_S * self.sample_rate_hz))

    @property
    def frequency_hz(self):
        """The fundamental's frequency as followed so far, Hz."""
        return self._osc[1] * self.sample_rate_hz / (2.0 * math.pi)

    @property
    def level(self):
        """The hum's rms level per channel, as estimated now (full scale = 1)."""
        return np.sqrt(0.5 * (self._amp ** 2).sum(axis=(1, 2)))

    def __call__(self, block, out=None):
        """Remove the hum from ``block`` (frames, channels) float32; return it."""
        if out is None:
            out = np.empty_like(block)
        if not self._started and len(block):
            self._bias[:] = block[0]  # the mean starts where the stream does
            self._started = True
        K._cancel_hum(block, out, self._osc, self._phasor, self._amp, self._prev, self._bias,
                      self._jitter, self._shown, self._alpha, self._beta, _GAIN, _LEAK,
                      _SIGNIFICANT, _SHOW, _KICK, self._steer, self._check, *self._bounds,
                      self._nominal)
        return out

    def skip(self, n_samples):
        """Lost samples: the mains went on, so the phase moves on over them."""
        self._osc[0] = (self._osc[0] + self._osc[1] * int(n_samples)) % (2.0 * math.pi)
        K._set_phasors(self._phasor, self._osc[0], self._osc[1])


#: Sample rate the audio is brought down to before :func:`detect_hum` searches it, Hz.
_PROBE_RATE_HZ = 2000.0


@functools.lru_cache(maxsize=8)
def _probe_filter(sample_rate_hz, q):
    """Low-pass FIR applied before keeping every ``q``-th sample: a Hann-windowed sinc
    cut at 40 % of the lower rate, 8 taps per kept sample (aliases folding onto the
    harmonics searched are some 40 dB down)."""
    n = 8 * q + 1
    cut = 0.4 / q  # of the sample rate
    t = np.arange(n) - (n - 1) / 2.0
    taps = 2.0 * cut * np.sinc(2.0 * cut * t) * hann(n + 2)[1:-1]
    return taps / taps.sum()


def _welch(x, n_seg, fs):
    """One-sided power spectral density (per Hz) along the rows of ``x``: the mean
    periodogram of Hann segments of ``n_seg`` samples, half overlapping."""
    w = hann(n_seg)
    hop = n_seg // 2
    starts = range(0, x.shape[1] - n_seg + 1, hop)
    p = sum(np.abs(np.fft.rfft(x[:, i:i + n_seg] * w, axis=1)) ** 2 for i in starts)
    return 2.0 * p / (len(starts) * fs * float(np.sum(w ** 2)))


def detect_hum(audio, sample_rate_hz, *, min_lines=3, min_db=10.0):
    """Find mains hum in a stretch of audio.

    Each channel's power spectrum at 1 Hz resolution (Welch: 1 s Hann
    segments, half overlapping) is searched around the first ten harmonics of 50 and of 60 Hz
    above 80 Hz (lower ones are inside the wall filter's band): a harmonic is a
    line when its strongest bin within 3 Hz stands ``min_db`` over the median
    of the bins 4 to 10 Hz away, and hum needs ``min_lines`` of them.  Blood flow, a broad
    band, has no such lines: the mean of three segments' periodograms exceeds
    ten times its median about once in 10^9 bins.

    Parameters
    ----------
    audio : ndarray, shape (frames, channels), float
        At least 2 s (a little more above 4 kHz, for the low-pass).  It is
        low-passed and brought down to about 2 kHz first.
    sample_rate_hz : float
    min_lines, min_db : int, float
        Lines needed, and how far they stand out.

    Returns
    -------
    dict or None
        ``mains_hz``, ``lines`` (harmonics found, the most in any channel) and
        ``level_dbfs`` (rms of the lines found, dB full scale, the loudest
        channel); None if no mains frequency has ``min_lines`` lines.
    """
    x = np.asarray(audio, dtype=np.float32)
    fs = float(sample_rate_hz)
    if x.ndim != 2 or len(x) < 2 * fs:
        return None
    # the ten harmonics searched lie under 610 Hz: about 2 kHz of sample rate is plenty
    q = max(1, int(fs // _PROBE_RATE_HZ))
    x = np.ascontiguousarray(x.T, dtype=np.float64)
    if q > 1:
        taps = _probe_filter(fs, q)
        low = np.empty((x.shape[0], (x.shape[1] - len(taps)) // q + 1))
        K._fir_decimate(x, taps, q, low)
        x = low
        fs /= q
    n_seg = int(round(fs))  # 1 s: 1 Hz bins
    if x.shape[1] < 2 * n_seg:
        return None
    p = _welch(x, n_seg, fs)  # (C, bins)
    f = np.fft.rfftfreq(n_seg, 1.0 / fs)
    df = f[1] - f[0]
    best = None
    for mains in MAINS_HZ:
        fk = mains * np.arange(1, 11)
        fk = fk[(fk >= 80.0) & (fk + 10.0 <= _TOP_NYQUIST * fs / 2.0)]
        centre = np.rint(fk / df).astype(int)[:, None]
        # the line within 3 bins of its harmonic (a mains 0.5 % off, at the 10th), its
        # floor the median of the 14 bins from 4 to 10 on either side
        top = p[:, centre + np.arange(-3, 4)].max(axis=2)  # (C, K)
        side = np.r_[np.arange(-10, -3), np.arange(4, 11)]
        floor = np.median(p[:, centre + side], axis=2)
        found = top > floor * 10.0 ** (min_db / 10.0)
        excess = (p[:, centre + np.arange(-3, 4)] - floor[:, :, None]).clip(0.0).sum(axis=2)
        lines = found.sum(axis=1)
        c = int(np.argmax(lines))
        if lines[c] >= min_lines and (best is None or lines[c] > best["lines"]):
            level = float((np.where(found, excess, 0.0).sum(axis=1) * df).max())
            best = {"mains_hz": mains, "lines": int(lines[c]),
                    "level_dbfs": 10.0 * math.log10(max(level, 1e-20))}
    return best
