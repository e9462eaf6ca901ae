"""Small design helpers: the wall filter's coefficients and the window.

They are written out here rather than taken from ``scipy.signal`` because importing
it costs some 0.5 s at every start of the command line, more than the analysis of a
short file.  (``scipy.fft`` loads ``scipy.special``: the gamma quantiles and the FFT
lengths are taken from those.)  ``tests/test_design.py`` checks each against scipy.
"""

import math

import numpy as np

__all__ = ["cheby2_highpass_sos", "sos_step_state", "hann"]


def cheby2_highpass_sos(order, stop_db, stop_hz, sample_rate_hz):
    """Inverse-Chebyshev (type II) digital high-pass as second-order sections.

    The same design as ``scipy.signal.cheby2(order, stop_db, stop_hz,
    'highpass', fs=sample_rate_hz, output='sos')``: the analogue prototype,
    transformed to a high-pass at the pre-warped edge, then the bilinear
    transform.

    Parameters
    ----------
    order : int
        Even filter order.
    stop_db : float
        Minimum stop-band attenuation, dB.
    stop_hz : float
        Stop-band edge, Hz.
    sample_rate_hz : float

    Returns
    -------
    sos : ndarray, shape (order // 2, 6), float64
    """
    if order % 2:
        raise ValueError("order must be even")
    n = order
    # analogue low-pass prototype, stop-band edge at 1 rad/s
    de = 1.0 / math.sqrt(10.0 ** (0.1 * stop_db) - 1.0)
    mu = math.asinh(1.0 / de) / n
    m = np.arange(-n + 1, n, 2)
    z = -np.conj(1j / np.sin(m * np.pi / (2.0 * n)))
    p = -np.exp(1j * np.pi * np.arange(-n + 1, n, 2) / (2.0 * n))
    p = math.sinh(mu) * p.real + 1j * math.cosh(mu) * p.imag
    p = 1.0 / p
    k = (np.prod(-p) / np.prod(-z)).real
    # high-pass at the pre-warped edge (fs = 2 normalisation as in scipy)
    fs = 2.0
    wn = 2.0 * stop_hz / sample_rate_hz
    wo = 2.0 * fs * math.tan(math.pi * wn / fs)
    k = k * (np.prod(-z) / np.prod(-p)).real
    z, p = wo / z, wo / p
    # bilinear transform (equal numbers of zeros and poles: no zeros to add)
    fs2 = 2.0 * fs
    k = k * (np.prod(fs2 - z) / np.prod(fs2 - p)).real
    z, p = (fs2 + z) / (fs2 - z), (fs2 + p) / (fs2 - p)
    # pair each conjugate pole pair, closest to the unit circle first, with the nearest zeros
    poles = sorted(p[p.imag > 0], key=lambda q: -abs(q))
    zeros = list(z[z.imag > 0])
    sections = []
    for q in poles:
        zi = min(range(len(zeros)), key=lambda i: abs(zeros[i] - q))
        zz = zeros.pop(zi)
        sections.append([1.0, -2.0 * zz.real, abs(zz) ** 2, 1.0, -2.0 * q.real, abs(q) ** 2])
    sos = np.array(sections[::-1], dtype=np.float64)
    sos[0, :3] *= k
    return sos


def sos_step_state(sos):
    """Steady-state transposed-direct-form-II state of each section for a unit step.

    The same as ``scipy.signal.sosfilt_zi``: start a filter with ``x[0]``
    times this state and a constant input passes without a transient.

    Returns
    -------
    ndarray, shape (n_sections, 2)
    """
    zi = np.empty((len(sos), 2))
    scale = 1.0
    for s, (b0, b1, b2, _, a1, a2) in enumerate(sos):
        # solve (I - A^T) z = b[1:] - a[1:] b0 for the 2x2 companion matrix A
        r0, r1 = b1 - a1 * b0, b2 - a2 * b0
        det = (1.0 + a1) + a2
        z0 = (r0 + r1) / det
        z1 = r1 - a2 * z0
        zi[s] = (z0 * scale, z1 * scale)
        scale *= (b0 + b1 + b2) / (1.0 + a1 + a2)
    return zi


def hann(n):
    """Periodic Hann window of ``n`` points (``scipy.signal.windows.hann(n, sym=False)``)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
