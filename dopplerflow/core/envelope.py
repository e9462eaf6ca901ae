"""Maximum and mean frequency envelopes, separately for each flow direction.

Two estimators of the maximum frequency are offered:

``threshold`` (noise-adaptive threshold)
    Flow is detected where a three-bin sum of the time-averaged spectrum
    exceeds a threshold set from the tracked noise floor for a chosen
    false-alarm rate (``spectral.detection_thresholds``).  From the highest
    detected run of bins the edge is followed outward while the sum stays
    above a lower edge threshold, and placed between bins where it crosses
    it.  A noisy frame cannot push the envelope to the top of the band: the
    detection needs two neighbouring sums above a threshold that pure noise
    passes once in a thousand frames.

``geometric`` (modified geometric method, Moraes et al. 1995)
    The noise floor is subtracted from the spectrum and integrated outward;
    the maximum frequency is the knee of that integral: the point furthest
    above the straight line from its start to its maximum.  It is searched
    only in frames where the detector above found flow, up to twice the
    detected edge.

The default is the one with the smaller velocity error on the simulator's
scenarios (``dopplerflow evaluate``; see the README's accuracy table).
The mean frequency is the power-weighted mean of the noise-subtracted
spectrum up to the maximum frequency.
"""

import numpy as np

from ..errors import SettingsError
from . import _kernels as K

__all__ = ["METHODS", "DEFAULT_METHOD", "envelopes", "edge_levels"]

METHODS = {"threshold": 0, "geometric": 1}
DEFAULT_METHOD = "threshold"
#: Consecutive three-bin sums above the detection threshold that make a detection:
#: a flow spectrum is wider than the main lobe of one noise peak.
MIN_RUN = 2


def method_code(name):
    """Kernel code of an envelope method name; raise SettingsError if unknown."""
    try:
        return METHODS[name]
    except KeyError:
        raise SettingsError(
            f"envelope method '{name}' is not known; use one of {', '.join(METHODS)}") from None


def edge_levels(config):
    """Frequencies that bound what the envelopes show near zero flow.

    Parameters
    ----------
    config : spectral.SpectralConfig

    Returns
    -------
    floor_hz : float
        Lowest frequency searched for flow (``config.floor_hz``): slower flow
        is not detected.
    shown_hz : float
        Lowest maximum frequency a detection reports: the first searched bin,
        where flow confined to the bottom of the band is placed.  Flow between
        the two reads as this.
    """
    f0 = config.dir_f0[config.dir_count > 0]
    shown_hz = float(f0.min()) if f0.size else config.floor_hz
    return config.floor_hz, shown_hz


def envelopes(smooth, noise, config, method=DEFAULT_METHOD):
    """Detect flow and estimate envelopes in each direction.

    Parameters
    ----------
    smooth : ndarray, shape (n_frames, n_bins), float32
        Time-averaged power spectrum, bins ascending
        (``spectral.TimeAverager``).
    noise : ndarray, shape (n_frames,), float64
        Mean noise power per bin in force at each frame.
    config : spectral.SpectralConfig
    method : {'threshold', 'geometric'}

    Returns
    -------
    ndarray, shape (n_frames, 2, 4), float64
        For direction 0 (toward) and 1 (away): detected (0/1), maximum
        frequency (Hz, >= 0), mean frequency (Hz, >= 0) and flow power above
        the noise (power units of ``smooth``).
    """
    smooth = np.ascontiguousarray(smooth, dtype=np.float32)
    noise = np.ascontiguousarray(noise, dtype=np.float64)
    if smooth.ndim != 2 or smooth.shape[1] != config.n_fft or noise.shape != smooth.shape[:1]:
        raise ValueError(f"smooth must be (n_frames, {config.n_fft}) with one noise level a "
                         f"frame; got {smooth.shape} and {noise.shape}")
    out = np.empty((smooth.shape[0], 2, 4), np.float64)
    K._envelopes(smooth, noise, config.dir_start, config.dir_step, config.dir_count,
                 config.dir_f0, config.bin_hz, config.t_high, config.t_low, MIN_RUN,
                 method_code(method), out)
    return out
