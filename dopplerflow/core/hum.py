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
from numba import njit

from ..errors import SettingsError
from ._design import hann
from ._numba import _JIT
from .precision import FINEST_STEP, PRECISION_DB, grid_step

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
        _set_phasors(self._phasor, 0.0, step)
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
        _cancel_hum(block, out, self._osc, self._phasor, self._amp, self._prev, self._bias,
                      self._jitter, self._shown, self._alpha, self._beta, _GAIN, _LEAK,
                      _SIGNIFICANT, _SHOW, _KICK, self._steer, self._check, *self._bounds,
                      self._nominal)
        return out

    def skip(self, n_samples):
        """Lost samples: the mains went on, so the phase moves on over them."""
        self._osc[0] = (self._osc[0] + self._osc[1] * int(n_samples)) % (2.0 * math.pi)
        _set_phasors(self._phasor, self._osc[0], self._osc[1])


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
    ten times its median about once in 10^9 bins.  A line more than
    :data:`~dopplerflow.core.precision.PRECISION_DB` under the channel's power is the
    rounding of a recording without noise (a constant, a synthetic tone), not hum; so is
    a line weaker than the noise of rounding the samples to their grid (``step**2 / 12``:
    :class:`~dopplerflow.core.precision.SampleGrid`), which a periodic signal turns into
    lines at its harmonics.

    Parameters
    ----------
    audio : ndarray, shape (frames, channels), float
        At least 2 s (a little more above 4 kHz, for the low-pass).  It is
        low-passed and brought down to about 2 kHz first; samples that are not
        finite (NaN, infinity) are taken as zero.
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
    finite = np.isfinite(x)
    if not finite.all():  # left out as the glitch stage leaves them out: they hold no hum
        x = np.where(finite, x, np.float32(0.0))
    # the least power of a line: rounding of the channel's own power lies under it, and
    # so does the rounding of the samples to their grid (a periodic signal's rounding
    # error is lines at its harmonics, of step**2 / 12 in all)
    least = np.mean(np.square(x, dtype=np.float64), axis=0) * 10.0 ** (-PRECISION_DB / 10.0)
    step = grid_step(x)
    if math.isfinite(step) and step >= FINEST_STEP:
        least = np.maximum(least, step ** 2 / 12.0)
    # the ten harmonics searched lie under 610 Hz: about 2 kHz of sample rate is plenty
    q = max(1, int(fs // _PROBE_RATE_HZ))
    x = np.ascontiguousarray(x.T, dtype=np.float64)
    if q > 1:
        taps = _probe_filter(fs, q)
        low = np.empty((x.shape[0], (x.shape[1] - len(taps)) // q + 1))
        _fir_decimate(x, taps, q, low)
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
        excess = (p[:, centre + np.arange(-3, 4)] - floor[:, :, None]).clip(0.0).sum(axis=2)
        found = (top > floor * 10.0 ** (min_db / 10.0)) & (excess * df > least[:, None])
        lines = found.sum(axis=1)
        c = int(np.argmax(lines))
        if lines[c] >= min_lines and (best is None or lines[c] > best["lines"]):
            level = float((np.where(found, excess, 0.0).sum(axis=1) * df).max())
            best = {"mains_hz": mains, "lines": int(lines[c]),
                    "level_dbfs": 10.0 * math.log10(max(level, 1e-20))}
    return best


#: Seconds of raw audio, from the start, that :class:`HumProbe` searches for hum.
PROBE_S = 2.5


class HumProbe:
    """Keeps the first ``probe_s`` seconds of raw audio and searches them for mains hum.

    Used when no hum is removed: :meth:`warning` then suggests ``--hum``.

    Parameters
    ----------
    sample_rate_hz : float
    probe_s : float
        Seconds searched (:data:`PROBE_S`).
    """

    def __init__(self, sample_rate_hz, probe_s=PROBE_S):
        self.sample_rate_hz = float(sample_rate_hz)
        self._len = int(round(probe_s * self.sample_rate_hz))
        self._blocks = []
        self._n = 0

    def add(self, block):
        """Keep what of ``block`` (raw samples) falls in the searched stretch."""
        if self._n < self._len:
            self._blocks.append(block[:self._len - self._n].copy())
            self._n += len(self._blocks[-1])

    def warning(self):
        """The warning to give if the stretch holds hum, else None."""
        if not self._blocks:
            return None
        found = detect_hum(np.concatenate(self._blocks), self.sample_rate_hz)
        if found is None:
            return None
        mains = f"{found['mains_hz']:g}"
        return (f"mains hum at {mains} Hz and its harmonics ({found['lines']} lines, "
                f"{found['level_dbfs']:.0f} dBFS; a ground loop): it reads as flow "
                f"both ways at fixed speeds; remove it with --hum {mains}")


# --------------------------------------------------------------------------- kernels
@njit(**_JIT)
def _set_phasors(phasor, theta, step):
    """``phasor`` (4, K) of :func:`_cancel_hum` for the fundamental's phase and step."""
    for k in range(phasor.shape[1]):
        phasor[0, k] = np.cos((k + 1) * theta)
        phasor[1, k] = np.sin((k + 1) * theta)
        phasor[2, k] = np.cos((k + 1) * step)
        phasor[3, k] = np.sin((k + 1) * step)


@njit(**_JIT, fastmath=True)
def _cancel_hum(x, out, osc, phasor, amp, prev, bias, jitter, shown, alpha, beta, gain, leak,
                sig, show, kick, steer, check, lo, hi, nominal):
    """Subtract mains hum, harmonics of a drifting fundamental, from each channel.

    A bank of adaptive line cancellers (Widrow et al. 1975), one per harmonic
    ``k`` (1 to ``K``) and channel: the hum is modelled as
    ``Re(A_k exp(j k theta))`` with ``theta`` the fundamental's phase, and
    each complex amplitude follows the residual ``e`` (less its running mean)
    as ``A_k += 2 alpha e exp(-j k theta)``: a notch ``alpha fs / pi`` Hz wide
    around each harmonic, time constant ``1 / (alpha fs)`` samples.

    Every ``check`` samples the fundamental's step is corrected (a frequency
    locked loop): an error of ``d`` radians a sample turns ``A_k`` by
    ``k d check``, so the least-squares slope of the turns against ``k``,
    weighted by each harmonic's power in excess of ``sig`` times how far its
    amplitude usually moves in a check (its noise), gives ``d``, of which
    ``gain`` is applied.  Only the first ``steer`` harmonics steer it: higher
    ones could turn by more than half a turn in a check, which reads as the
    wrong way.  A harmonic that moved more than ``kick`` times its
    usual amount was hit by a transient, which turns all harmonics in step
    like a frequency error; it is left out of that check.  The step is also
    pulled back toward ``nominal`` by ``leak`` of its offset, and kept in
    ``[lo, hi]``.  Every update counts samples, not blocks: the output does
    not depend on how the stream is cut.

    Parameters
    ----------
    x, out : ndarray, shape (n, C), float32
        Samples in, and the samples less the hum out (may be the same array).
    osc : ndarray, shape (3,), float64
        Phase of the fundamental (rad), its step (rad a sample), samples since
        the last check.  Updated in place.
    phasor : ndarray, shape (4, K), float64
        Each harmonic's ``cos``, ``sin`` of ``k theta``, and of ``k step``, by
        which they turn each sample (independent across harmonics, so the
        loops over them vectorise); set exactly at each check
        (:func:`_set_phasors`).  Updated in place.
    amp, prev : ndarray, shape (C, 2, K), float64
        Amplitudes (re; im) of each channel's harmonics, and their values at
        the last check.  Updated in place.
    bias : ndarray, shape (C,), float64
        Each channel's running mean (rate ``beta``), taken out of the residual
        the amplitudes follow but left in ``out``: a DC offset stepping in at
        the start of a stream would otherwise ring in every notch.  Updated in
        place.
    jitter : ndarray, shape (C, K), float64
        How far each amplitude usually moves in a check (squared).  Updated in
        place.
    shown : ndarray, shape (C, K), float64
        The share of each harmonic taken out of ``out``: 0 for one whose power
        is under ``show`` times its jitter (no line, only noise), rising to 1
        at twice that; the amplitudes follow the full residual all the same.
        Updated at each check.
    alpha, beta, gain, leak, sig, show, kick : float
        As above.
    steer : int
        Harmonics that steer the frequency.
    check : int
        Samples between frequency corrections.
    lo, hi, nominal : float
        Bounds and nominal value of the step, rad a sample.
    """
    n, n_ch = x.shape
    n_h = amp.shape[2]
    two_pi = 2.0 * np.pi
    theta = osc[0]
    step = osc[1]
    count = int(osc[2])
    ck = phasor[0]
    sk = phasor[1]
    rc = phasor[2]
    rs = phasor[3]
    for i in range(n):
        for ch in range(n_ch):
            hum = 0.0
            found = 0.0
            for k in range(n_h):
                line = amp[ch, 0, k] * ck[k] - amp[ch, 1, k] * sk[k]
                hum += line
                found += shown[ch, k] * line
            e = x[i, ch] - hum
            out[i, ch] = x[i, ch] - found
            e -= bias[ch]
            bias[ch] += beta * e
            g = 2.0 * alpha * e
            for k in range(n_h):
                amp[ch, 0, k] += g * ck[k]
                amp[ch, 1, k] -= g * sk[k]
        for k in range(n_h):
            c = ck[k]
            ck[k] = c * rc[k] - sk[k] * rs[k]
            sk[k] = sk[k] * rc[k] + c * rs[k]
        theta += step
        if theta >= two_pi:
            theta -= two_pi
        count += 1
        if count >= check:
            count = 0
            num = 0.0
            den = 0.0
            for ch in range(n_ch):
                for k in range(n_h):
                    ar = amp[ch, 0, k]
                    ai = amp[ch, 1, k]
                    pr = prev[ch, 0, k]
                    pi_ = prev[ch, 1, k]
                    prev[ch, 0, k] = ar
                    prev[ch, 1, k] = ai
                    dr = ar * pr + ai * pi_
                    di = ai * pr - ar * pi_
                    # how far the amplitude moves in a check, read from its magnitude
                    # (twice its square: noise moves the phase as much), so that a line
                    # turning while the frequency is followed counts as steady: noise
                    # moves it about sqrt(2 check / tau) of its own size, a line hardly
                    # at all; a transient (a knock, the wall's thump) kicks every
                    # harmonic with a phase that grows with k, like a frequency error:
                    # such a check is left out
                    moved = 2.0 * (np.sqrt(ar * ar + ai * ai) - np.sqrt(pr * pr + pi_ * pi_)) ** 2
                    usual = jitter[ch, k]
                    if usual == 0.0:  # the first check: learn how far it moves
                        jitter[ch, k] = moved
                        continue
                    jitter[ch, k] += 0.1 * (min(moved, kick * usual) - usual)
                    power = ar * ar + ai * ai
                    # only a line is taken out: subtracting the noise-driven amplitude of
                    # an empty harmonic would only add its scatter
                    shown[ch, k] = min(1.0, max(0.0, power / (show * usual) - 1.0))
                    w = power - sig * usual
                    if w <= 0.0 or moved > kick * usual or k >= steer:
                        continue
                    kk = k + 1.0
                    num += w * kk * np.arctan2(di, dr)
                    den += w * kk * kk
            step -= leak * (step - nominal)
            if den > 0.0:
                step += gain * num / (den * check)
            step = min(max(step, lo), hi)
            _set_phasors(phasor, theta, step)
    osc[0] = theta
    osc[1] = step
    osc[2] = count


@njit(**_JIT)
def _fir_decimate(x, taps, q, out):
    """Each row of ``x`` (C, n) float64 through the FIR ``taps``, only every ``q``-th
    output: ``out[c, m] = sum_j taps[j] x[c, m q + j]`` for the ``(n - len(taps)) // q + 1``
    outputs whose taps lie inside the row.

    The sum runs in four lanes (tap ``j`` in lane ``j % 4``, the taps past the last four
    in lane 0), added pairwise: an order fixed in the source, which the compiler may
    vectorise without reassociating, so that every machine and the interpreted kernel
    (:mod:`dopplerflow._first_run`) give the same bits."""
    n_t = taps.shape[0]
    n_4 = n_t - n_t % 4
    for c in range(x.shape[0]):
        row = x[c]
        o = out[c]
        for m in range(o.shape[0]):
            seg = row[m * q:m * q + n_t]
            a0 = np.float64(0.0)
            a1 = np.float64(0.0)
            a2 = np.float64(0.0)
            a3 = np.float64(0.0)
            for j in range(0, n_4, 4):
                a0 += taps[j] * seg[j]
                a1 += taps[j + 1] * seg[j + 1]
                a2 += taps[j + 2] * seg[j + 2]
                a3 += taps[j + 3] * seg[j + 3]
            for j in range(n_4, n_t):
                a0 += taps[j] * seg[j]
            o[m] = (a0 + a1) + (a2 + a3)
