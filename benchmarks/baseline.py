"""The plain scipy pipeline a careful user would write, as the speed baseline.

Same stages and settings as ``dopplerflow.analyze`` (Hann window, 10 ms
window, 5 ms hop, 4th-order inverse-Chebyshev wall filter, noise floor from the
recording, time-averaged spectrum, per-direction maximum and mean frequency,
Doppler equation, reflux events longer than a threshold), written with the
standard tools and no numba:

* ``scipy.signal.sosfilt`` for the wall filter (float64, whole recording);
* ``scipy.signal.ShortTimeFFT`` (``fft_mode="centered"``) for the spectrogram;
* numpy for the noise floor (a low percentile per frame, smoothed), the
  three-frame average and the envelopes (highest bin above a threshold);
* a Python loop over frames for the reflux state machine.

It reads the whole recording into memory, as such scripts do.  It is a speed
reference, not a second implementation to trust: its detection rule is
simpler (one bin above a fixed multiple of the noise floor), so its traces
agree with dopplerflow's on strong flow and differ in noise.
"""

import math

import numpy as np
from scipy import ndimage, signal

__all__ = ["baseline_analyze"]

#: Single-bin threshold over the mean noise power (after the 3-frame average):
#: 10 dB, about 1e-4 false alarms per bin for the averaged exponential noise.
THRESHOLD_FACTOR = 10.0
#: Percentile of the noise bins taken as the floor, and its time smoothing.
NOISE_PERCENTILE = 25.0
NOISE_SMOOTH_S = 0.5
#: Retrograde gaps bridged inside an episode, s.
GAP_S = 0.06


def _envelope(power, freqs, noise):
    """Highest frequency above threshold, power-weighted mean, and band power.

    ``power`` (n_bins_dir, n_frames) with bins ordered outward (increasing
    |f|), ``freqs`` (n_bins_dir,) the |f| of each bin.
    """
    above = power > THRESHOLD_FACTOR * noise[None, :]
    detected = above.any(axis=0)
    top = power.shape[0] - 1 - np.argmax(above[::-1], axis=0)
    fmax = np.where(detected, freqs[top], 0.0)
    excess = np.clip(power - noise[None, :], 0.0, None)
    excess = np.where(np.arange(power.shape[0])[:, None] <= top[None, :], excess, 0.0)
    band = excess.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        fmean = np.where(band > 0, (excess * freqs[:, None]).sum(axis=0) / band, 0.0)
    return detected, fmax, fmean, band * detected


def _events(retro, velocity, hop_s, t0_s, threshold_s):
    """Python loop over frames: retrograde episodes with short gaps bridged."""
    gap = int(round(GAP_S / hop_s))
    events = []
    start = last = None
    peak = 0.0
    for i, r in enumerate(retro):
        if r:
            if start is None:
                start, peak = i, 0.0
            last = i
            peak = max(peak, -velocity[i])
        elif start is not None and i - last > gap:
            events.append((start, last, peak))
            start = None
    if start is not None:
        events.append((start, last, peak))
    out = []
    for s, e, p in events:
        t_start = t0_s + (s - 0.5) * hop_s
        t_end = t0_s + (e + 0.5) * hop_s
        if t_end - t_start > threshold_s:
            out.append({"start_s": t_start, "end_s": t_end, "duration_s": t_end - t_start,
                        "peak_velocity_cm_s": p})
    return out


def baseline_analyze(iq, sample_rate_hz, *, window_s=0.010, hop_s=0.005, wall_hz=80.0,
                     carrier_hz=8e6, angle_deg=60.0, sound_speed_m_s=1540.0,
                     threshold_s=0.5, antegrade="toward"):
    """Analyse an I/Q recording with plain scipy/numpy.

    Parameters
    ----------
    iq : ndarray, shape (frames, 2)
        I and Q samples (positive frequency = toward the probe).
    sample_rate_hz : float
    window_s, hop_s : float
        STFT window and hop, s.
    wall_hz : float
        Wall-filter cut-off, Hz.
    carrier_hz, angle_deg, sound_speed_m_s : float
        Doppler geometry: v = c f / (2 f0 cos(angle)).
    threshold_s : float
        Reflux threshold, s.
    antegrade : {'toward', 'away'}
        Normal flow direction.

    Returns
    -------
    dict
        ``time_s`` (n,), ``velocity_cm_s`` (n,, signed, + antegrade),
        ``antegrade_max_cm_s``, ``retrograde_max_cm_s``, ``mean_velocity_cm_s``,
        ``flow`` (n,, bool) and ``reflux_events`` (list of dicts with
        ``start_s``, ``end_s``, ``duration_s``, ``peak_velocity_cm_s``).
    """
    fs = float(sample_rate_hz)
    n_win = int(round(window_s * fs))
    hop = int(round(hop_s * fs))
    sos = signal.cheby2(4, 50.0, 0.385 * wall_hz, "highpass", fs=fs, output="sos")
    filtered = signal.sosfilt(sos, np.asarray(iq, np.float64), axis=0)
    z = filtered[:, 0] + 1j * filtered[:, 1]

    stft = signal.ShortTimeFFT(signal.windows.hann(n_win, sym=False), hop, fs,
                               fft_mode="centered")
    p0 = stft.lower_border_end[1]
    p1 = stft.upper_border_begin(len(z))[1]
    spec = stft.stft(z, p0=p0, p1=p1)  # frames fully inside the signal
    power = ndimage.uniform_filter1d(spec.real ** 2 + spec.imag ** 2, 3, axis=1,
                                     mode="nearest")
    freqs = stft.f
    bin_hz = fs / stft.mfft

    lo = wall_hz + 0.5 * bin_hz
    noise_sel = (np.abs(freqs) >= 2 * wall_hz) & (np.abs(freqs) <= 0.45 * fs)
    q = NOISE_PERCENTILE / 100.0
    noise = np.percentile(power[noise_sel], NOISE_PERCENTILE, axis=0) / -math.log(1.0 - q)
    noise = ndimage.uniform_filter1d(noise, max(1, int(round(NOISE_SMOOTH_S / hop_s))),
                                     mode="nearest")

    pos = np.flatnonzero(freqs >= lo)
    neg = np.flatnonzero(freqs <= -lo)[::-1]
    det_t, fmax_t, fmean_t, pw_t = _envelope(power[pos], freqs[pos], noise)
    det_a, fmax_a, fmean_a, pw_a = _envelope(power[neg], -freqs[neg], noise)

    scale = 100.0 * sound_speed_m_s / (2.0 * carrier_hz * math.cos(math.radians(angle_deg)))
    if antegrade == "toward":
        ante, retro = (fmax_t, fmean_t, pw_t, det_t), (fmax_a, fmean_a, pw_a, det_a)
    else:
        ante, retro = (fmax_a, fmean_a, pw_a, det_a), (fmax_t, fmean_t, pw_t, det_t)
    total = ante[2] + retro[2]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(total > 0, (ante[1] * ante[2] - retro[1] * retro[2]) / total, 0.0)
    retro_dom = retro[3] & (retro[2] > ante[2])
    velocity = np.where(retro_dom, -retro[0], ante[0]) * scale

    t0_s = (p0 * hop) / fs  # ShortTimeFFT slices are centred on p * hop
    time_s = t0_s + np.arange(spec.shape[1]) * hop_s
    events = _events(retro_dom, velocity, hop / fs, t0_s, threshold_s)
    return {"time_s": time_s, "velocity_cm_s": velocity,
            "antegrade_max_cm_s": ante[0] * scale, "retrograde_max_cm_s": retro[0] * scale,
            "mean_velocity_cm_s": mean * scale, "flow": ante[3] | retro[3],
            "reflux_events": events}
