"""The parts of simulated Doppler audio, and the channel layouts it is written in.

**Blood.**  Complex Gaussian speckle whose instantaneous power spectrum is the
Doppler spectrum of the vessel's velocity profile, scaled by the centre-line
Doppler shift ``f_c(t) = 2 f0 v(t) cos(angle) / c`` (Mo & Cobbold 1989).  For the
profile ``v(r) = v_c (1 - (r/R)^n)`` and uniform scatterer density, the power
density over ``u = f / f_c`` is ``p(u) = (2/n) (1 - u)^(2/n - 1)`` on ``[0, 1]``:
uniform for the parabolic profile (``n = 2``), piled up near the edge for blunt
ones.  Each velocity component is widened by a Gaussian of standard deviation
``broadening * u`` (transit-time broadening, a few percent of the frequency).
The signal is built by time warping: a stationary complex Gaussian process
``g(theta)`` with spectrum ``S(x) = p * gaussian`` in cycles per unit ``theta``
is read at ``theta(t) = integral of f_c(t) dt``.  Its instantaneous frequency is
then ``x f_c(t)`` for every spectral component ``x``, so the whole spectrum scales
with ``v(t)``, and when ``v`` turns negative ``theta`` runs backwards and every
scatterer reverses (the spectrum mirrors to the other sign of frequency): the
same red cells move back through the sample volume.  When ``v = 0`` the blood
echo is constant (stationary blood), which a wall filter removes.

**Wall clutter.**  Echoes of tissue and the vessel walls: a static component and
two walls moving with the cardiac cycle at a peak of 0.4 cm/s (20.8 Hz at 8 MHz
and 60 degrees), as phase-modulated complex exponentials, ``clutter_db`` (40-60
dB) above the blood power.

**Mains hum** (:func:`mains_hum`): the harmonics of a wandering mains frequency, as a
ground loop adds them.  :func:`to_layout` writes a complex baseband as the channels of any
layout of :data:`dopplerflow.core.layouts.LAYOUTS` (the inverse of the reader).
"""

import math

import numpy as np
from scipy.fft import fft, ifft, next_fast_len

from ..core.layouts import LAYOUTS
from ..core.velocity import doppler_shift_hz
from ..errors import SettingsError

__all__ = ["profile_spectrum", "blood_signal", "wall_clutter", "mains_hum", "to_layout",
           "WALL_VELOCITY_CM_S", "HUM_DRIFT_HZ"]

#: Peak wall velocity of the clutter model, cm/s.
WALL_VELOCITY_CM_S = 0.4
#: Amplitude of the mains frequency's wander in :func:`mains_hum`, Hz.
HUM_DRIFT_HZ = 0.03
#: Oversampling of the warped process ``g(theta)`` (linear interpolation images
#: fall about 35 dB below the blood).
_OVERSAMPLE = 64


def profile_spectrum(x, profile_exponent=2.0, broadening=0.03):
    """Doppler power spectrum of a velocity profile, on a normalised axis.

    Parameters
    ----------
    x : array_like
        Frequency divided by the centre-line Doppler shift (dimensionless).
    profile_exponent : float
        ``n`` of ``v(r) = v_c (1 - (r/R)^n)``, ``n >= 1``; 2 is parabolic.
    broadening : float
        Transit-time broadening: standard deviation of each component as a
        fraction of its frequency.

    Returns
    -------
    ndarray
        Power density at ``x`` (unnormalised), same shape as ``x``.
    """
    n_u = 400
    u = np.linspace(0.0, 1.0, n_u + 1)
    area = (1.0 - u) ** (2.0 / profile_exponent)  # area fraction moving faster than u
    weight = area[:-1] - area[1:]
    centre = 0.5 * (u[:-1] + u[1:])
    sigma = broadening * centre + 0.5 / n_u
    x = np.asarray(x, dtype=float)
    grid = np.linspace(-0.5, 1.8, 4097)
    table = (weight / sigma * np.exp(-0.5 * ((grid[:, None] - centre) / sigma) ** 2)).sum(axis=1)
    return np.interp(x, grid, table, left=0.0, right=0.0)


def blood_signal(doppler_hz, sample_rate_hz, rng, *, profile_exponent=2.0, broadening=0.03):
    """Complex blood speckle following a time-varying centre-line Doppler shift.

    Parameters
    ----------
    doppler_hz : ndarray, shape (n,)
        Signed centre-line Doppler shift at each sample, Hz (+ = toward).
    sample_rate_hz : float
        Sample rate, Hz.
    rng : numpy.random.Generator
        Source of the speckle.
    profile_exponent, broadening : float
        See :func:`profile_spectrum`.

    Returns
    -------
    ndarray, shape (n,), complex128
        Blood echo with unit mean power.
    """
    f = np.asarray(doppler_hz, dtype=float)
    theta = np.concatenate(([0.0], np.cumsum(f[:-1]) / sample_rate_hz))
    margin = 4.0
    lo = theta.min() - margin
    m = int(math.ceil((theta.max() - lo + margin) * _OVERSAMPLE))
    m = next_fast_len(max(1024, m))
    white = rng.standard_normal((2, m))
    spec = fft(white[0] + 1j * white[1], overwrite_x=True)
    spec *= np.sqrt(profile_spectrum(np.fft.fftfreq(m, d=1.0 / _OVERSAMPLE),
                                     profile_exponent, broadening))
    g = ifft(spec, overwrite_x=True)
    g /= math.sqrt(np.mean(np.abs(g) ** 2))
    return np.interp((theta - lo) * _OVERSAMPLE, np.arange(m), g)


def wall_clutter(time_s, heart_rate_hz, carrier_hz, angle_deg, sound_speed_m_s, rng, *,
                 wall_velocity_cm_s=WALL_VELOCITY_CM_S):
    """Slow, strong tissue and wall echoes moving with the cardiac cycle.

    A static tissue echo plus two walls moving in opposite directions; each wall
    velocity is a smooth periodic waveform (three cardiac harmonics, zero mean,
    peak ``wall_velocity_cm_s`` for the faster wall), so each echo is a
    phase-modulated complex exponential whose instantaneous frequency never
    exceeds the Doppler shift of ``wall_velocity_cm_s``.

    Parameters
    ----------
    time_s : ndarray, shape (n,)
        Sample times, s.
    heart_rate_hz : float
        Cardiac rate, Hz.
    carrier_hz, angle_deg, sound_speed_m_s : float
        Insonation geometry.
    rng : numpy.random.Generator
        Source of the random phases and amplitudes.
    wall_velocity_cm_s : float
        Peak wall velocity, cm/s.

    Returns
    -------
    ndarray, shape (n,), complex128
        Clutter with unit mean power.
    """
    t = np.asarray(time_s, dtype=float)
    w = 2.0 * np.pi * heart_rate_hz
    harm = np.array([1.0, 0.5, 0.25])
    psi = rng.uniform(0.0, 2.0 * np.pi, 3)
    one_cycle = np.linspace(0.0, 1.0 / heart_rate_hz, 2001)
    peak = np.abs(sum(c * np.sin(w * (h + 1) * one_cycle + p)
                      for h, (c, p) in enumerate(zip(harm, psi, strict=True)))).max()
    # displacement in cycles of phase per unit wall Doppler shift: integral of the waveform
    disp = sum(-c / (w * (h + 1)) * np.cos(w * (h + 1) * t + p)
               for h, (c, p) in enumerate(zip(harm, psi, strict=True))) / peak
    f_wall = doppler_shift_hz(wall_velocity_cm_s, carrier_hz, angle_deg, sound_speed_m_s)
    amps = np.array([1.0, 0.6, 0.4]) * rng.uniform(0.8, 1.2, 3)
    speeds = np.array([0.0, 1.0, -0.7])
    phases = rng.uniform(0.0, 2.0 * np.pi, 3)
    out = np.zeros(t.shape, dtype=complex)
    for a, s, ph in zip(amps, speeds, phases, strict=True):
        out += a * np.exp(1j * (ph + 2.0 * np.pi * s * f_wall * disp))
    return out / math.sqrt(np.sum(amps ** 2))


def mains_hum(n_samples, sample_rate_hz, n_channels, rms, *, mains_hz=50.0,
              drift_hz=HUM_DRIFT_HZ, seed=0):
    """Mains hum as a ground loop adds it to a recording: its harmonics, wandering.

    Harmonics ``k f(t)`` up to 45 % of the sample rate with amplitudes ``1/k``
    and random phases; ``f(t) = mains_hz + drift_hz sin(2 pi t / 20 s + phi)``,
    the slow wander of a grid's frequency.  The first channel's rms is
    ``rms``; the others carry half of it, with their own phases.

    Returns
    -------
    ndarray, shape (n_samples, n_channels), float64
    """
    rng = np.random.default_rng([int(seed), 50])
    fs = float(sample_rate_hz)
    t = np.arange(int(n_samples)) / fs
    f = mains_hz + drift_hz * np.sin(2.0 * np.pi * t / 20.0 + rng.uniform(0.0, 2.0 * np.pi))
    phase = 2.0 * np.pi * np.cumsum(f) / fs
    out = np.zeros((len(t), int(n_channels)))
    for c in range(out.shape[1]):
        for k in range(1, int(0.45 * fs // mains_hz) + 1):
            out[:, c] += np.cos(k * phase + rng.uniform(0.0, 2.0 * np.pi)) / k
    first = float(np.sqrt(np.mean(out[:, 0] ** 2))) if len(t) else 1.0
    gains = np.r_[1.0, np.full(out.shape[1] - 1, 0.5)]
    return out * (rms / first) * gains



def to_layout(baseband, layout, sample_rate_hz, *, offset_hz=None, invert=False):
    """Write a complex baseband as the channels of a layout (inverse of the reader).

    Parameters
    ----------
    baseband : ndarray, shape (n,), complex
        ``z`` with toward-probe flow at positive frequency.
    layout : str
        ``iq`` ``[Re z, Im z]``; ``qi`` ``[Im z, Re z]``; ``toward-away``
        ``[Re z+, Re conj(z-)]`` with ``z+``/``z-`` the positive/negative-frequency
        parts of ``z`` (split in the FFT domain, so that
        ``analytic(toward) + conj(analytic(away)) = z``; the real part of the DC
        bin goes half to each channel; the imaginary parts of the DC and, for an
        even length, Nyquist bins cannot be carried by two real channels);
        ``away-toward`` swapped; ``mono`` ``[sqrt(2) Re z]`` (speed, no
        direction); ``offset`` ``[sqrt(2) Re(z exp(2j pi offset_hz t))]``.
    sample_rate_hz : float
        Sample rate, Hz.
    offset_hz : float, optional
        Zero-velocity frequency of ``offset``, in (0, fs/2); ``fs / 4`` if None.
    invert : bool
        Write with the opposite quadrature convention (``z -> conj(z)``), as a
        device that needs ``--invert`` would.

    Returns
    -------
    ndarray, shape (n, channels), float64

    Raises
    ------
    SettingsError
        Unknown layout or offset outside (0, fs/2).
    """
    if layout not in LAYOUTS:
        raise SettingsError(f"layout '{layout}' is not known; use one of {', '.join(LAYOUTS)}")
    z = np.asarray(baseband, dtype=complex)
    if z.ndim != 1:
        raise SettingsError(f"baseband must be 1-D complex, got shape {z.shape}")
    if invert:
        z = np.conj(z)
    if layout in ("iq", "qi"):
        out = np.stack([z.real, z.imag], axis=1)
        return out[:, ::-1].copy() if layout == "qi" else out
    if layout in ("toward-away", "away-toward"):
        # FFT-domain phasing filter.  The FFT treats the recording as periodic: the jump from
        # its last sample back to its first (strong wall echoes included) would ring through
        # the Hilbert transform's 1/t tails into both ends.  A mirrored extension of up to
        # 0.5 s on each side keeps that jump far from the samples that are kept.
        pad = min(len(z) - 1, int(0.5 * sample_rate_hz))
        zp = np.pad(z, pad, mode="reflect") if pad > 0 else z
        if pad > 0:
            # ... and fades to zero towards its far ends, so the wrap-around is smooth too
            fade = 0.5 - 0.5 * np.cos(np.pi * np.arange(pad) / pad)
            zp[:pad] *= fade
            zp[len(zp) - pad:] *= fade[::-1]
        spec = np.fft.fft(zp)
        f = np.fft.fftfreq(len(zp))
        pos = np.where(f > 0, spec, 0.0)
        neg = np.where(f < 0, spec, 0.0)
        pos[0] = neg[0] = 0.5 * spec[0].real
        keep = slice(pad, pad + len(z))
        toward = np.fft.ifft(pos).real[keep]
        away = np.fft.ifft(neg).real[keep]  # Re(conj(x)) = Re(x)
        out = np.stack([toward, away], axis=1)
        return out[:, ::-1].copy() if layout == "away-toward" else out
    if layout == "mono":
        return (math.sqrt(2.0) * z.real)[:, None]
    if offset_hz is None:
        offset_hz = sample_rate_hz / 4.0
    if not 0.0 < offset_hz < sample_rate_hz / 2.0:
        raise SettingsError(
            f"offset {offset_hz:g} Hz must lie between 0 and half the sample rate "
            f"({sample_rate_hz / 2:g} Hz); fs/4 leaves room both ways")
    t = np.arange(len(z)) / sample_rate_hz
    return (math.sqrt(2.0) * (z * np.exp(2j * np.pi * offset_hz * t)).real)[:, None]
