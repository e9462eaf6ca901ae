"""Shared values of the stage tests: the sample rate, the Doppler scale and a spectral
configuration of the default geometry."""

import numpy as np

from dopplerflow.core import io, spectrum
from dopplerflow.core.layouts import channel_map
from dopplerflow.core.velocity import cm_s_per_hz

FS = 8000
SCALE = cm_s_per_hz(8e6, 60.0)  # cm/s per Hz at the default geometry


def config(fs=FS, layout="iq", **kw):
    """The channel map and spectral configuration of ``layout`` at ``fs`` (10 ms window,
    5 ms hop, 80 Hz wall filter)."""
    cmap = channel_map(layout, 1 if layout in ("mono", "offset") else 2, **kw)
    return cmap, spectrum.spectral_config(fs, cmap, window_s=0.01, hop_s=0.005, wall_hz=80.0)


def read_blocks(path, block_size):
    """The samples of ``path`` read in blocks of ``block_size`` (a gap past damage inside
    the file as NaN frames), and the reader's report."""
    reader = io.iter_blocks(path, block_size)
    items = [b if isinstance(b, io.Gap) else b.copy() for b in reader]
    width = next((b.shape[1] for b in items if not isinstance(b, io.Gap)), 2)
    blocks = [np.full((b.n_samples, width), np.nan, np.float32) if isinstance(b, io.Gap)
              else b for b in items]
    return np.concatenate(blocks) if blocks else np.zeros((0, 2), np.float32), reader.report
