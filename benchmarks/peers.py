"""The published heart-rate methods the beat stage is compared with.

Both read the Doppler audio itself, as a mono channel, and give one heart rate for a
stretch of it from the autocorrelation of an amplitude envelope:

* :func:`stac_heart_rate`, the short-term autocorrelation (STAC) of Hoang et al.
  2023 (A. Hoang, D. Le et al., "Automated heart rate detection in post-dive
  precordial Doppler ultrasound recordings", Undersea and Hyperbaric Medicine 50(2),
  2023), written for the post-dive precordial recordings of
  ``../shared/real/postdive``: the rectified audio in 2 s windows every second, the
  highest autocorrelation peak between 50 and 190 beats/min in each, outlying window
  rates left out, their median;
* :func:`fetal_autocorrelation_heart_rate`, the fetal heart-rate method of
  Valderrama et al. 2019 (C. E. Valderrama, L. Stroux, N. Katebi et al., "An open
  source autocorrelation-based method for fetal heart rate estimation from
  one-dimensional Doppler ultrasound", Physiological Measurement 40(2), 025005),
  the code published with the cliffordlab recordings of ``../shared/real/fetal``:
  the audio at 4 kHz band-passed to 25-600 Hz, spikes removed (Schmidt et al.
  2010), its homomorphic envelope, and the autocorrelation peak between 0.287 and
  0.839 s chosen by the paper's harmonic rule, in 3.75 s segments.

They are written here from those papers' descriptions and parameters, with scipy,
to be run on the same recordings as the beat stage (``python -m benchmarks.beats``).
"""

import numpy as np
from scipy import signal

__all__ = ["stac_heart_rate", "stac_window_rates", "fetal_autocorrelation_heart_rate",
           "fetal_segment_rate", "despike", "homomorphic_envelope", "METHODS", "STAC_BPM",
           "FETAL_BPM"]

# ---------------------------------------------------------------------------- STAC (2023)
#: STAC's analysis window and step, s.
STAC_WINDOW_S, STAC_STEP_S = 2.0, 1.0
#: Rates STAC searches, beats/min.
STAC_BPM = (50.0, 190.0)
#: A window's rate more than this many scaled median absolute deviations from the
#: median of the recording's windows is an outlier (MATLAB's ``isoutlier``).
OUTLIER_MADS = 3.0


def stac_window_rates(audio, fs):
    """STAC's heart rate in each 2 s window, beats/min (NaN: no peak, or an outlier).

    The audio goes through the method's fourth-order FIR band-pass "1-3 Hz" (five
    taps of a Hamming window design scaled to unit gain at 2 Hz: at audio rates, a
    mild low-pass of unit gain near 0 Hz) forward and backward; each window of its
    magnitude, divided by its maximum, gives its unbiased autocorrelation, whose
    highest local maximum between :data:`STAC_BPM` is the window's period.
    """
    x = np.asarray(audio, np.float64)
    b = signal.firwin(5, [1.0, 3.0], pass_zero=False, fs=fs)
    y = signal.filtfilt(b, [1.0], x, padlen=min(len(x) - 1, 3 * len(b)))
    win, step = int(round(STAC_WINDOW_S * fs)), int(round(STAC_STEP_S * fs))
    lo = int(60.0 * fs / STAC_BPM[1])
    hi = int(round(60.0 * fs / STAC_BPM[0]))
    nfft = 1 << int(np.ceil(np.log2(2 * win)))
    unbiased = win - np.arange(win)
    rates = []
    for start in range(0, len(y) - win, step):
        chunk = np.abs(y[start:start + win])
        peak = chunk.max()
        if not peak > 0:
            rates.append(np.nan)
            continue
        chunk = chunk / peak
        spec = np.fft.rfft(chunk, nfft)
        ac = np.fft.irfft(spec * np.conj(spec), nfft)[:win] / unbiased
        seg = ac[lo:min(hi, win)]
        locs, _ = signal.find_peaks(seg)
        if not len(locs):
            rates.append(np.nan)
            continue
        lag = lo + locs[np.argmax(seg[locs])]
        rates.append(60.0 * fs / lag)
    rates = np.array(rates, np.float64)
    ok = np.isfinite(rates)
    if ok.sum() >= 3:
        med = np.median(rates[ok])
        mad = 1.4826 * np.median(np.abs(rates[ok] - med))
        rates[ok & (np.abs(rates - med) > OUTLIER_MADS * mad)] = np.nan
    return rates


def stac_heart_rate(audio, fs):
    """STAC's heart rate of a recording: the median of its windows' rates (None: none)."""
    rates = stac_window_rates(audio, fs)
    rates = rates[np.isfinite(rates)]
    return float(np.median(rates)) if len(rates) else None


# --------------------------------------------------------------- Valderrama et al. (2019)
#: The method's sample rate, Hz, segment length, s, and autocorrelation search, s.
FETAL_FS = 4000
FETAL_SEGMENT_S = 3.75
FETAL_PERIOD_S = (0.287308661149887, 0.839140444683137)
#: Rates that search covers, beats/min.
FETAL_BPM = (60.0 / FETAL_PERIOD_S[1], 60.0 / FETAL_PERIOD_S[0])
#: Low-pass of the homomorphic envelope, Hz, and the peak-height ratio of the
#: harmonic rule (the paper's Bayesian-optimised values).
FETAL_ENVELOPE_HZ = 14.794675954494590
FETAL_FIRST_PEAK_RATIO = 0.650124394601487


def _cardiac_band_filter():
    """The equiripple band-pass of the method at 4 kHz: pass 25-600 Hz (1 dB), stop
    under 10 Hz and over 615 Hz (60 dB)."""
    ripple = (10 ** (1 / 20) - 1) / (10 ** (1 / 20) + 1)
    stop = 10 ** (-60 / 20)
    # Herrmann's estimate of the length, for the narrower (15 Hz) transition band
    n = int(np.ceil((-20 * np.log10(np.sqrt(ripple * stop)) - 13) / (14.6 * 15.0 / FETAL_FS)))
    n += 1 - n % 2  # odd: a type I filter
    return signal.remez(n, [0, 10, 25, 600, 615, FETAL_FS / 2], [0, 1, 0],
                        weight=[1 / stop, 1 / ripple, 1 / stop], fs=FETAL_FS, maxiter=100)


def despike(x, fs):
    """Schmidt et al.'s spike removal: while a half-second frame's largest magnitude is
    over three times the median of the frames' largest magnitudes, the largest spike
    of the loudest frame is set to 0.0001 between the zero crossings around it."""
    y = np.array(x, np.float64)
    size = int(round(fs / 2))
    n = len(y) // size
    if n == 0:
        return y
    frames = y[:n * size].reshape(n, size)  # a view: changes land in y
    maas = np.abs(frames).max(axis=1)
    while np.any(maas > 3 * np.median(maas)):
        w = int(np.argmax(maas))
        f = frames[w]
        at = int(np.argmax(np.abs(f)))
        crossings = np.r_[np.abs(np.diff(np.sign(f))) > 1, False]
        before = np.flatnonzero(crossings[:at + 1])
        start = before[-1] if len(before) else 0
        after = np.flatnonzero(crossings[at + 1:])
        end = at + 1 + after[0] if len(after) else size - 1
        f[start:end + 1] = 0.0001
        maas[w] = np.abs(f).max()
    return y


def homomorphic_envelope(x, fs, cutoff_hz=FETAL_ENVELOPE_HZ):
    """``exp`` of the zero-phase first-order Butterworth low-pass of ``log |hilbert(x)|``
    (its first sample set to the second's)."""
    b, a = signal.butter(1, cutoff_hz, fs=fs)
    mag = np.abs(signal.hilbert(x))
    env = np.exp(signal.filtfilt(b, a, np.log(np.maximum(mag, np.finfo(float).tiny))))
    env[0] = env[1]
    return env


def fetal_segment_rate(segment, band=None):
    """The method's heart rate of one 3.75 s segment at 4 kHz, beats/min (NaN: none).

    The autocorrelation (mean removed, normalised to 1 at lag 0) of the homomorphic
    envelope is searched for peaks (at least a third of a second apart, the higher
    first) between :data:`FETAL_PERIOD_S`; of the first two, the first is taken where
    its lag is half the second's (a harmonic) or its height at least
    :data:`FETAL_FIRST_PEAK_RATIO` of the second's, the higher where one is negative,
    else the second.
    """
    band = _cardiac_band_filter() if band is None else band
    x = signal.filtfilt(band, [1.0], np.asarray(segment, np.float64))
    env = homomorphic_envelope(despike(x, FETAL_FS), FETAL_FS)
    e = env - env.mean()
    nfft = 1 << int(np.ceil(np.log2(2 * len(e))))
    spec = np.fft.rfft(e, nfft)
    ac = np.fft.irfft(spec * np.conj(spec), nfft)[:len(e)]
    ac /= ac[0]
    lo, hi = (int(round(p * FETAL_FS)) for p in FETAL_PERIOD_S)
    seg = ac[lo:hi + 1]
    locs, _ = signal.find_peaks(seg, distance=FETAL_FS / 3)
    if not len(locs):
        return np.nan
    pick = locs[0]
    if len(locs) > 1:
        l1, l2 = lo + locs[0], lo + locs[1]
        p1, p2 = seg[locs[0]], seg[locs[1]]
        if not 0.48 <= l1 / l2 <= 0.52:
            ratio = p1 / p2
            if ratio < 0:
                pick = locs[0] if p1 > p2 else locs[1]
            elif ratio < FETAL_FIRST_PEAK_RATIO:
                pick = locs[1]
    return 60.0 * FETAL_FS / (lo + pick)


def fetal_autocorrelation_heart_rate(audio, fs):
    """The method's heart rate of a recording: the audio resampled to 4 kHz, the median
    of its consecutive 3.75 s segments' rates (None: none)."""
    from fractions import Fraction

    q = Fraction(FETAL_FS, int(round(fs))).limit_denominator(1000)
    x = signal.resample_poly(np.asarray(audio, np.float64), q.numerator, q.denominator)
    size = int(FETAL_SEGMENT_S * FETAL_FS)
    band = _cardiac_band_filter()
    rates = np.array([fetal_segment_rate(x[s:s + size], band)
                      for s in range(0, len(x) - size + 1, size)])
    rates = rates[np.isfinite(rates)]
    return float(np.median(rates)) if len(rates) else None


#: The methods by name: ``method(audio, fs) -> beats/min or None``.
METHODS = {"stac": stac_heart_rate, "fetal_ac": fetal_autocorrelation_heart_rate}
