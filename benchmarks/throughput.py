"""Throughput of ``analyze``: x real time, against the scipy baseline and the FFT bound.

For each configuration (sample rate, window, hop) the candidates are timed
round robin in one process (:func:`benchmarks.interleaved`), medians after a
warm-up:

* ``analyze`` on an in-memory ``(frames, 2)`` float32 array (block size 65536);
* ``analyze`` on the same audio as a 16-bit WAV and a 16-bit FLAC file, and as an AAC
  M4A (a phone's recording, 256 kbit/s) where PyAV (the ``media`` extra) is installed;
* the plain scipy pipeline of :mod:`benchmarks.baseline`;
* the bare FFT bound of :mod:`benchmarks.fft_bound`.

``stage_breakdown`` splits one ``analyze`` into its stages by timing the
processor's stage objects and kernels from the outside (no change to the
package): where the time goes per STFT frame.
"""

import os
import tempfile
import time

import numpy as np

from . import interleaved, iq_test_signal
from .baseline import baseline_analyze
from .fft_bound import fft_runner

__all__ = ["GOALS", "measure", "stage_breakdown", "run"]

#: Goals of the headline configuration (48 kHz I/Q, 10 ms window, 5 ms hop).
GOALS = {"x_realtime": 2000.0, "vs_baseline": 20.0, "pct_of_fft_bound": 55.0}

#: (sample rate Hz, window s, hop s, label).  The first is the headline.
HEADLINE = (48000, 0.010, 0.005, "48 kHz, 10 ms / 5 ms (default)")
RATES = ((8000, 0.010, 0.005, "8 kHz, 10 ms / 5 ms"),
         (44100, 0.010, 0.005, "44.1 kHz, 10 ms / 5 ms"),
         (96000, 0.010, 0.005, "96 kHz, 10 ms / 5 ms"))
WINDOWS = ((48000, 0.005, 0.0025, "48 kHz, 5 ms / 2.5 ms (arterial, fast changes)"),
           (48000, 0.020, 0.010, "48 kHz, 20 ms / 10 ms (slow venous flow, fine bins)"),
           (48000, 0.010, 0.002, "48 kHz, 10 ms / 2 ms (smooth trace)"))


def _write(path, x, fs, fmt):
    if fmt == "M4A":
        return _write_m4a(path, x, fs)
    import soundfile

    soundfile.write(path, x, int(fs), subtype="PCM_16", format=fmt)


def _write_m4a(path, x, fs, bit_rate=256000):
    """``x`` ((frames, 2) float32) as an AAC M4A through PyAV's encoder."""
    import av

    with av.open(path, "w") as out:
        stream = out.add_stream("aac", rate=int(fs), layout="stereo")
        stream.bit_rate = bit_rate
        for i in range(0, len(x), 65536):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[i:i + 65536].T),
                                               format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = int(fs), i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def _file_formats():
    """The formats timed as files: WAV and FLAC, and M4A where PyAV is installed."""
    from dopplerflow.core.media import available

    return ("WAV", "FLAC", "M4A") if available() else ("WAV", "FLAC")


def measure(duration_s, sample_rate_hz=48000, window_s=0.010, hop_s=0.005, *, repeat=5,
            baseline=True, files=True, label=None, tmpdir=None):
    """Time one configuration; every ratio comes from the same interleaved run.

    Parameters
    ----------
    duration_s : float
        Length of the test audio, s.
    sample_rate_hz : float
    window_s, hop_s : float
        STFT window and hop, s.
    repeat : int
        Timed rounds (median reported).
    baseline, files : bool
        Include the scipy baseline / the WAV, FLAC (and M4A) reads.
    label : str, optional
    tmpdir : str, optional
        Where the files go (a temporary directory by default; removed).

    Returns
    -------
    dict
        ``label``, ``sample_rate_hz``, ``window_s``, ``hop_s``, ``duration_s``,
        ``n_frames``, ``n_fft`` and per candidate (``analyze_memory``,
        ``analyze_wav``, ``analyze_flac``, ``analyze_m4a``, ``baseline``, ``fft_bound``) a dict
        with ``median_s``, ``min_s``, ``x_realtime`` and ``ns_per_frame``; then
        ``vs_baseline`` (baseline time / analyze time), ``pct_of_fft_bound``
        (FFT time / analyze time, %), ``file_overhead_pct`` per format.
    """
    import dopplerflow

    fs = float(sample_rate_hz)
    x = iq_test_signal(duration_s, fs)
    settings = dict(window_s=window_s, hop_s=hop_s)
    fft_run, geo = fft_runner(duration_s, fs, window_s, hop_s)
    cands = {"analyze_memory": lambda: dopplerflow.analyze(x, sample_rate_hz=fs, layout="iq",
                                                           **settings),
             "fft_bound": fft_run}
    if baseline:
        cands["baseline"] = lambda: baseline_analyze(x, fs, **settings)
    with tempfile.TemporaryDirectory(dir=tmpdir) as tmp:
        if files:
            for fmt in _file_formats():
                path = os.path.join(tmp, f"test.{fmt.lower()}")
                _write(path, x, fs, fmt)
                cands[f"analyze_{fmt.lower()}"] = (
                    lambda p=path: dopplerflow.analyze(p, layout="iq", **settings))
        stats = interleaved(cands, repeat=repeat, warmup=1)
    out = {"label": label or f"{fs / 1e3:g} kHz, {window_s * 1e3:g} ms / {hop_s * 1e3:g} ms",
           "sample_rate_hz": fs, "window_s": window_s, "hop_s": hop_s,
           "duration_s": duration_s, "n_frames": geo["n_frames"], "n_fft": geo["n_fft"],
           "repeat": repeat}
    for name, st in stats.items():
        out[name] = {"median_s": st["median_s"], "min_s": st["min_s"],
                     "x_realtime": duration_s / st["median_s"],
                     "ns_per_frame": 1e9 * st["median_s"] / geo["n_frames"]}
    t_mem = stats["analyze_memory"]["median_s"]
    out["pct_of_fft_bound"] = 100.0 * stats["fft_bound"]["median_s"] / t_mem
    out["vs_baseline"] = stats["baseline"]["median_s"] / t_mem if baseline else None
    if files:
        out["file_overhead_pct"] = {
            f.lower(): 100.0 * (stats[f"analyze_{f.lower()}"]["median_s"] / t_mem - 1.0)
            for f in _file_formats()}
    return out


class _Timed:
    """Wrap a callable and add its wall time to ``acc[name]``."""

    def __init__(self, fn, acc, name):
        self.fn, self.acc, self.name = fn, acc, name

    def __getattr__(self, name):
        return getattr(self.fn, name)  # the wrapped stage's other methods and attributes

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.acc[self.name] = self.acc.get(self.name, 0.0) + time.perf_counter() - t0


def _breakdown_once(x, fs, block_size):
    """One pass of the processor with its stages timed from the outside."""
    import scipy.fft

    import dopplerflow
    from dopplerflow.core import processor

    acc = {}
    proc = dopplerflow.Processor(dopplerflow.Settings(), fs, x.shape[1])
    # the processor's named stages, timed as a whole (method None) or through the method
    # the processor calls
    for stage, method, name in ((proc, "wall", "wall filter"),
                                (proc.noise, "whiten", "noise floor (whitening)"),
                                (proc.framer, "commit", "framer (frames, FFT, power)"),
                                (proc, "noise", "noise floor"), (proc, "average", "time average"),
                                (proc.tracker, "update", "reflux tracker"),
                                (proc.levels, "add", "level statistics"),
                                (proc.dropouts, "add", "dropouts"),
                                (proc, "glitches", "glitches"),
                                (proc.grid, "add", "quantisation step"),
                                (proc.hum_probe, "add", "hum search (kept stretch)"),
                                (proc.layout_check, "add", "layout check"),
                                (proc.watch, "update", "second-vessel watch"),
                                (proc, "bridger", "stored rows (bridging)"),
                                (proc.beats, "update", "beats"),
                                (proc.totals, "update", "flow totals"),
                                (proc.noise_record, "add", "noise record")):
        if stage is not None:
            setattr(stage, method, _Timed(getattr(stage, method), acc, name))
    patches = [(scipy.fft, "fft", "FFT (scipy.fft)"),
               (processor, "envelopes", "envelopes"),
               (processor, "band_power", "band power"),
               (processor, "provisional_envelopes", "provisional envelopes"),
               (processor, "_store_rows", "stored rows (bridging)"),
               (processor, "trace_rows", "trace rows")]
    saved = []
    for mod, attr, name in patches:
        if hasattr(mod, attr):
            saved.append((mod, attr, getattr(mod, attr)))
            setattr(mod, attr, _Timed(getattr(mod, attr), acc, name))
    try:
        t0 = time.perf_counter()
        for i in range(0, len(x), block_size):
            proc.push(x[i:i + block_size], rows=False)
        proc.finish()
        total = time.perf_counter() - t0
    finally:
        for mod, attr, fn in saved:
            setattr(mod, attr, fn)
    return acc, total


def stage_breakdown(duration_s=20.0, sample_rate_hz=48000, *, block_size=65536, repeat=5):
    """Where the time of one ``analyze`` goes, per STFT frame.

    The processor's named stages, ``scipy.fft.fft`` and ``processor.envelopes``
    are wrapped with timers for the run (and
    restored after).  The FFT is inside the framer; it is listed on its own and
    subtracted from the framer's time.

    Returns
    -------
    dict
        ``n_frames``, ``total_ns_per_frame``, ``stages``: list of
        ``{"stage", "ns_per_frame", "pct"}`` (median over ``repeat`` runs after
        a warm-up), the rest as ``"other (Python glue, result assembly)"``.
    """
    from .fft_bound import frame_geometry

    fs = float(sample_rate_hz)
    x = iq_test_signal(duration_s, fs)
    geo = frame_geometry(fs)
    n_frames = int((len(x) - geo["n_window"]) // geo["hop"]) + 1
    _breakdown_once(x, fs, block_size)
    runs = [_breakdown_once(x, fs, block_size) for _ in range(max(1, repeat))]
    names = sorted({k for acc, _ in runs for k in acc})
    med = {k: float(np.median([acc.get(k, 0.0) for acc, _ in runs])) for k in names}
    total = float(np.median([t for _, t in runs]))
    framer = "framer (frames, FFT, power)"
    if framer in med and "FFT (scipy.fft)" in med:
        med["framer (frames, FFT, power)"] -= med["FFT (scipy.fft)"]
        med["frames + power + buffering"] = med.pop(framer)
    med["other (Python glue, result assembly)"] = max(0.0, total - sum(med.values()))
    stages = [{"stage": k, "ns_per_frame": 1e9 * v / n_frames, "pct": 100.0 * v / total}
              for k, v in sorted(med.items(), key=lambda kv: -kv[1])]
    return {"duration_s": duration_s, "sample_rate_hz": fs, "n_frames": n_frames,
            "total_ns_per_frame": 1e9 * total / n_frames,
            "x_realtime": duration_s / total, "stages": stages}


def run(quick=False, log=print):
    """All throughput measurements of the suite.

    Quick: the headline configuration on 10 s, 3 rounds, and a 10 s stage
    breakdown.  Full: 60 s, 7 rounds, plus the other sample rates and
    window/hop choices (30 s, 5 rounds).

    Returns
    -------
    dict
        ``headline`` (a :func:`measure` dict with ``goals``), ``configs``
        (list of :func:`measure` dicts), ``stages`` (:func:`stage_breakdown`).
    """
    fs, win, hop, label = HEADLINE
    dur, rep = (10.0, 3) if quick else (60.0, 7)
    log(f"throughput: {label}, {dur:g} s of audio, {rep} rounds")
    head = measure(dur, fs, win, hop, repeat=rep, label=label)
    values = {"x_realtime": head["analyze_memory"]["x_realtime"],
              "vs_baseline": head["vs_baseline"], "pct_of_fft_bound": head["pct_of_fft_bound"]}
    head["goals"] = {k: {"goal": GOALS[k], "value": v, "met": bool(v >= GOALS[k])}
                     for k, v in values.items()}
    configs = [head]
    if not quick:
        for fs_c, win_c, hop_c, label_c in RATES + WINDOWS:
            log(f"throughput: {label_c}")
            configs.append(measure(30.0, fs_c, win_c, hop_c, repeat=5, files=False,
                                   label=label_c))
    log("throughput: stage breakdown")
    stages = stage_breakdown(10.0 if quick else 30.0, fs, repeat=3 if quick else 7)
    return {"headline": head, "configs": configs, "stages": stages}
