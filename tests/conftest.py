"""Shared signal makers for the tests: seeded, with known truth."""

import numpy as np
import pytest


def chirp_tones(segments, fs, amp=0.1, noise_rms=0.003, seed=0):
    """Complex baseband made of constant-frequency tones, phase-continuous.

    Parameters
    ----------
    segments : list of (duration_s, freq_hz)
    fs : float
    amp : float
        Tone amplitude (per complex sample).
    noise_rms : float
        Complex white noise, rms of |n| (per complex sample).

    Returns
    -------
    z : ndarray, complex128
    """
    f = np.concatenate([np.full(int(round(d * fs)), fr, float) for d, fr in segments])
    ph = 2 * np.pi * np.cumsum(f) / fs
    rng = np.random.default_rng(seed)
    n = (rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f))) * noise_rms / np.sqrt(2)
    return amp * np.exp(1j * ph) + n


def band_noise(n, fs, f_lo, f_hi, power=1e-3, noise_rms=0.0, seed=0):
    """Complex Gaussian noise with a flat spectrum between ``f_lo`` and ``f_hi`` (signed, Hz).

    Like the Doppler signal of plug-to-parabolic flow: speckle with a sharp
    spectral edge at ``f_hi`` (or ``f_lo`` for negative bands).
    """
    rng = np.random.default_rng(seed)
    spec = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    f = np.fft.fftfreq(n, 1 / fs)
    spec[(f < f_lo) | (f > f_hi)] = 0
    z = np.fft.ifft(spec)
    z *= np.sqrt(power / np.mean(np.abs(z) ** 2))
    z += (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * noise_rms / np.sqrt(2)
    return z


def iq(z):
    """(frames, 2) float array [I, Q] of a complex baseband."""
    return np.stack((z.real, z.imag), axis=1)


def separate(z):
    """Toward and away audio channels of a complex baseband (FFT phasing)."""
    n = len(z)
    spec = np.fft.fft(z)
    k = np.arange(n)
    pos = (k > 0) & (2 * k < n)
    neg = 2 * k > n
    z_pos = np.fft.ifft(np.where(pos, spec, 0))
    z_neg = np.fft.ifft(np.where(neg, spec, 0))
    return np.stack((z_pos.real, z_neg.real), axis=1)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


#: --slow (release checks): tests/test_fuzz.py tries 20 times as many examples, at random.
SLOW = False


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true",
                     help="release checks: the fuzz tests try 20 times as many examples")


def pytest_configure(config):
    global SLOW
    SLOW = config.getoption("--slow")
