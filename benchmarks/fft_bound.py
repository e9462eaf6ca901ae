"""The bare FFT bound: only the complex64 FFTs of the frames ``analyze`` computes.

Every frame of the pipeline needs one complex FFT of ``n_fft`` points; nothing
else in the design is irreducible.  This module times exactly those FFTs, in
place, in the batches the pipeline uses (the frames of one 65536-sample block),
with ``scipy.fft`` on one core: the physical floor of this design on this
machine.  ``norm="ortho"`` keeps the repeatedly transformed buffer finite; it
costs the same as an unnormalised transform of a fresh copy (measured: 1.21 vs
1.18 us per 480-point frame).
"""

import math

import numpy as np
import scipy.fft

__all__ = ["frame_geometry", "fft_runner", "fft_bound"]


def frame_geometry(sample_rate_hz, window_s=0.010, hop_s=0.005):
    """Window, hop and FFT length (samples) that ``analyze`` uses for these settings.

    Returns
    -------
    dict
        ``n_window``, ``hop``, ``n_fft`` (ints) and ``frames_per_s`` (float).
    """
    import dopplerflow

    proc = dopplerflow.Processor(dopplerflow.Settings(window_s=window_s, hop_s=hop_s),
                                 sample_rate_hz, 2)
    cfg = proc.config
    return {"n_window": int(cfg.n_window), "hop": int(cfg.hop), "n_fft": int(cfg.n_fft),
            "frames_per_s": float(sample_rate_hz) / cfg.hop}


def fft_runner(duration_s, sample_rate_hz=48000, window_s=0.010, hop_s=0.005, *,
               block_size=65536):
    """A callable that runs the FFTs of ``duration_s`` of audio, and its geometry.

    Parameters
    ----------
    duration_s : float
        Audio length the frames stand for, s.
    sample_rate_hz : float
    window_s, hop_s : float
        STFT window and hop, s (the pipeline's geometry is taken from
        :func:`frame_geometry`).
    block_size : int
        Samples per block of the pipeline; one batch holds its frames.

    Returns
    -------
    run : callable
        Transforms ``n_frames`` frames of ``n_fft`` complex64 points in batches
        of ``batch``, in place, one core.
    info : dict
        ``n_fft``, ``n_frames``, ``batch``.
    """
    geo = frame_geometry(sample_rate_hz, window_s, hop_s)
    n_frames = max(1, int((duration_s * sample_rate_hz - geo["n_window"]) // geo["hop"]) + 1)
    batch = max(1, min(n_frames, block_size // geo["hop"]))
    n_calls = math.ceil(n_frames / batch)
    rng = np.random.default_rng(0)
    buf = (rng.standard_normal((batch, geo["n_fft"]))
           + 1j * rng.standard_normal((batch, geo["n_fft"]))).astype(np.complex64)
    last = n_frames - (n_calls - 1) * batch

    def run():
        for k in range(n_calls):
            part = buf if k < n_calls - 1 else buf[:last]
            scipy.fft.fft(part, axis=1, workers=1, overwrite_x=True, norm="ortho")

    return run, {"n_fft": geo["n_fft"], "n_frames": n_frames, "batch": batch}


def fft_bound(duration_s, sample_rate_hz=48000, window_s=0.010, hop_s=0.005, *,
              block_size=65536, repeat=5):
    """Time the FFTs of ``duration_s`` of audio, and only those.

    Parameters are those of :func:`fft_runner`, plus ``repeat`` (timed runs
    after one warm-up; the median is reported).

    Returns
    -------
    dict
        ``n_fft``, ``n_frames``, ``batch``, ``median_s``, ``ns_per_frame`` and
        ``x_realtime`` (audio seconds per second of FFT).
    """
    from . import interleaved

    run, info = fft_runner(duration_s, sample_rate_hz, window_s, hop_s, block_size=block_size)
    t = interleaved({"fft": run}, repeat=repeat)["fft"]["median_s"]
    return dict(info, median_s=t, ns_per_frame=1e9 * t / info["n_frames"],
                x_realtime=duration_s / t)
