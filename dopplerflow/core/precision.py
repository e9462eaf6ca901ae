"""The arithmetic floor of the spectra: below it a bin holds rounding, not signal.

The samples and the spectra are single precision (float32, 24-bit mantissa): every
bin of a frame carries rounding of about 2^-24 of the frame's strongest content,
some 145 dB or more below the strongest bin's power.  A recording with noise buries
that under its noise floor.  A recording without any (a constant: the DC of a
sound card with nothing plugged in; a synthetic signal written as floats) has only
the rounding to estimate a noise floor from, and the rounding of a constant or a
tone is not noise-like but a few lines, which stand out from it as flow at fixed
speeds, both ways.

So the noise level a frame is judged against is never below :data:`PRECISION_DB`
under the frame's strongest bin.  No converter resolves that much (the best reach
about 125 dB), so on a recording with noise in it the floor is never reached and
changes nothing.
"""

import numpy as np

__all__ = ["PRECISION_DB", "precision_floor"]

#: The least noise level a frame is judged against, in dB under its strongest bin: above
#: float32 rounding (145 dB and more below it) with a margin, under any converter's range.
PRECISION_DB = 130.0


def precision_floor(power):
    """The least noise level of each frame: its strongest bin, :data:`PRECISION_DB` down.

    Parameters
    ----------
    power : ndarray, shape (n_frames, n_bins)
        Power spectra of the frames (the wall band included: a constant passes the wall
        filter at its stop-band level, and rounds with the other bins).

    Returns
    -------
    ndarray, shape (n_frames,), float64
        Power per bin, in the units of ``power``.
    """
    if not len(power):
        return np.zeros(0)
    return power.max(axis=1).astype(np.float64) * 10.0 ** (-PRECISION_DB / 10.0)
