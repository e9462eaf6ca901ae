"""Shared values of the stage tests: the sample rate, the Doppler scale and a spectral
configuration of the default geometry."""

from dopplerflow.core import spectrum
from dopplerflow.core.layouts import channel_map
from dopplerflow.core.velocity import cm_s_per_hz

FS = 8000
SCALE = cm_s_per_hz(8e6, 60.0)  # cm/s per Hz at the default geometry


def config(fs=FS, layout="iq", **kw):
    """The channel map and spectral configuration of ``layout`` at ``fs`` (10 ms window,
    5 ms hop, 80 Hz wall filter)."""
    cmap = channel_map(layout, 1 if layout in ("mono", "offset") else 2, **kw)
    return cmap, spectrum.spectral_config(fs, cmap, window_s=0.01, hop_s=0.005, wall_hz=80.0)
