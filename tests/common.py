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


#: Where :func:`contact_lost_over_reflux` loses the probe's contact, s: over the whole of the
#: jugular Valsalva's reflux (4.35-6.36 s).
CONTACT_LOST_S = (3.6, 7.45)


def contact_lost_over_reflux(fs=FS):
    """The simulator's ``jugular_valsalva`` (I/Q, 16-bit steps) with the probe's contact
    lost over the whole of its reflux (:data:`CONTACT_LOST_S`: the device's own noise alone,
    one step of triangular noise): the audio holds no trace of the reflux.

    Returns
    -------
    x : ndarray, (n, 2) float32
    antegrade : str
        The scenario's antegrade direction.
    """
    from dopplerflow.sim.synth import synthesize, to_layout

    step = spectrum.QUANT_STEP
    syn = synthesize("jugular_valsalva", sample_rate_hz=fs, seed=0)
    x = np.asarray(to_layout(syn.baseband, "iq", fs), np.float64)
    x *= 0.5 / np.abs(x).max()
    rng = np.random.default_rng(4)
    i0, i1 = (int(t * fs) for t in CONTACT_LOST_S)
    x[i0:i1] = (rng.random((i1 - i0, 2)) - rng.random((i1 - i0, 2))) * step
    return (np.round(x / step) * step).astype(np.float32), syn.truth["antegrade"]
