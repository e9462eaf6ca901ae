"""Scaling with recording length: wall time and peak memory of a whole process.

For each length a 16-bit I/Q WAV file is written by repeating one synthetic
block through ``soundfile`` in chunks (the long file never exists in memory),
into a temporary directory that is removed afterwards.  Then
``dopplerflow analyze FILE --json OUT`` (the command line's ``cli.main``) runs
as a separate process on one core; its wall time and its own peak resident
memory (``VmHWM`` from ``/proc``, reported by the child as it exits) are
recorded.  Goals: time linear in length, memory
flat (< 200 MB peak for 2 h).

:func:`live_growth` measures the live path's memory the same way: a child process
pushes the same audio in the 128-sample blocks `dopplerflow live` delivers into one
processor, and reports its resident memory after the first minutes and at the end.
"""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from . import iq_test_signal, single_core_env

__all__ = ["GOAL_PEAK_MB", "write_long_wav", "run_analyze_process", "measure",
           "floor_rss_mb", "live_growth", "run"]

#: Peak resident memory allowed for a 2 h recording, MB.
GOAL_PEAK_MB = 200.0
#: Recording lengths, minutes.
FULL_MINUTES = (1, 10, 30, 60, 120)
QUICK_MINUTES = (1, 5)
#: Live path: block size (frames), minutes streamed before the first reading, and
#: minutes after it (full, quick).
LIVE_BLOCK = 128
LIVE_SETTLE_MIN = 2
LIVE_MINUTES = {False: 10, True: 2}


def write_long_wav(path, duration_s, sample_rate_hz=48000, chunk_s=12.0):
    """Write ``duration_s`` of I/Q audio as 16-bit WAV by repeating one block.

    The block is :func:`benchmarks.iq_test_signal` of ``chunk_s``; it is
    written again and again through one open ``soundfile.SoundFile``, so memory
    stays at one block whatever the length.

    Returns
    -------
    int
        Frames written.
    """
    import soundfile

    block = iq_test_signal(chunk_s, sample_rate_hz)
    total = int(round(duration_s * sample_rate_hz))
    written = 0
    with soundfile.SoundFile(path, "w", samplerate=int(sample_rate_hz), channels=2,
                             subtype="PCM_16", format="WAV") as f:
        while written < total:
            n = min(len(block), total - written)
            f.write(block[:n])
            written += n
    return written


#: Child process: run the ``dopplerflow`` command line, then report its own peak
#: memory.  ``VmHWM`` is the high-water mark of the process's memory after
#: ``exec``; ``ru_maxrss`` would also count the copy of the (large) parent made
#: by ``fork`` before ``exec``, which Linux carries into the child's figure.
_CHILD = """
import sys
from dopplerflow import cli
rc = cli.main(sys.argv[1:])
try:
    with open("/proc/self/status") as fh:
        kb = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))
    sys.stderr.write(f"\\nVmHWM_kB {kb}\\n")
except OSError:
    pass
sys.exit(rc)
"""


def _peak_from(stderr, usage):
    for line in reversed(stderr.splitlines()):
        if line.startswith("VmHWM_kB "):
            return int(line.split()[1]) / 1024.0, "VmHWM"
    return usage.ru_maxrss / 1024.0, "ru_maxrss"  # no /proc: includes the fork copy


def run_analyze_process(path, json_path, extra_env=None, args=()):
    """Run ``dopplerflow analyze`` (its command line, ``cli.main``) on ``path`` as a child.

    Returns
    -------
    dict
        ``wall_s`` (wall clock of the whole process), ``peak_rss_mb`` (the
        child's own peak resident memory, ``VmHWM``), ``returncode`` and
        ``stderr`` (last 500 characters, without the memory report).
    """
    env = single_core_env()
    env.update(extra_env or {})
    cmd = [sys.executable, "-c", _CHILD, "analyze", str(path), "--json", str(json_path),
           *args]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak, source = _peak_from(err, usage)
    err = "\n".join(line for line in err.splitlines() if not line.startswith("VmHWM_kB "))
    return {"wall_s": wall, "peak_rss_mb": peak, "peak_source": source,
            "returncode": proc.returncode, "stderr": err.strip()[-500:]}


def measure(minutes, sample_rate_hz=48000, tmpdir=None, repeat=1):
    """Write, analyse (in a child process) and delete a recording of each length.

    Parameters
    ----------
    minutes : sequence of float
        Recording lengths, min.
    sample_rate_hz : float
    tmpdir : str, optional
        Parent of the temporary directory (large files: 2 h of 48 kHz 16-bit
        stereo is 1.4 GB).
    repeat : int
        Process runs per length; the median wall time and the largest peak
        memory are kept.

    Returns
    -------
    list of dict
        ``minutes``, ``file_mb``, ``wall_s``, ``x_realtime``, ``s_per_audio_min``,
        ``peak_rss_mb``, ``returncode``.
    """
    rows = []
    with tempfile.TemporaryDirectory(dir=tmpdir) as tmp:
        warm = os.path.join(tmp, "warm.wav")
        write_long_wav(warm, 2.0, sample_rate_hz)
        run_analyze_process(warm, os.path.join(tmp, "warm.json"))  # numba cache warm
        for m in minutes:
            path = os.path.join(tmp, f"rec_{m:g}min.wav")
            write_long_wav(path, 60.0 * m, sample_rate_hz)
            size_mb = os.path.getsize(path) / 1e6
            runs = [run_analyze_process(path, os.path.join(tmp, "out.json"))
                    for _ in range(max(1, repeat))]
            os.remove(path)
            wall = float(np.median([r["wall_s"] for r in runs]))
            rows.append({"minutes": m, "file_mb": size_mb, "wall_s": wall,
                         "x_realtime": 60.0 * m / wall, "s_per_audio_min": wall / m,
                         "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
                         "returncode": max(r["returncode"] for r in runs),
                         "stderr": runs[-1]["stderr"] if runs[-1]["returncode"] else ""})
    return rows


_LIVE_CHILD = """
import sys
import numpy as np
from benchmarks import iq_test_signal
from dopplerflow.core.processor import Processor
from dopplerflow.core.settings import settings_from

def rss_mb():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmRSS:")) / 1024.0

block, settle, minutes = (int(a) for a in sys.argv[1:4])
fs = 48000
x = iq_test_signal(60.0, fs)
proc = Processor(settings_from(None, {}), fs, 2, keep_trace=False)
for m in range(settle + minutes):
    if m == settle:
        start = rss_mb()
    for i in range(0, len(x), block):
        proc.push(x[i:i + block])
print(start, rss_mb())
"""


def live_growth(minutes=10, block=LIVE_BLOCK, settle=LIVE_SETTLE_MIN):
    """Resident memory of a child process that pushes 48 kHz I/Q into one processor in
    ``block``-frame blocks, as a live session does: after ``settle`` minutes, and
    ``minutes`` later.

    Returns
    -------
    dict
        ``block``, ``settle_minutes``, ``minutes``, ``rss_start_mb``, ``rss_end_mb`` and
        ``rss_growth_mb_per_hour``.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = single_core_env()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    out = subprocess.run([sys.executable, "-c", _LIVE_CHILD, str(block), str(settle),
                          str(minutes)], capture_output=True, text=True, env=env, check=True)
    start, end = (float(v) for v in out.stdout.split()[-2:])
    return {"block": block, "settle_minutes": settle, "minutes": minutes,
            "rss_start_mb": start, "rss_end_mb": end,
            "rss_growth_mb_per_hour": (end - start) / (minutes / 60.0)}


def floor_rss_mb(tmpdir=None):
    """Peak memory of the same child process analysing 0.1 s (imports plus kernels).

    Everything above this in a row of :func:`measure` is what the recording's
    length costs.
    """
    with tempfile.TemporaryDirectory(dir=tmpdir) as tmp:
        path = os.path.join(tmp, "short.wav")
        write_long_wav(path, 0.1, 48000, chunk_s=0.1)
        return run_analyze_process(path, os.path.join(tmp, "out.json"))["peak_rss_mb"]


def run(quick=False, log=print, tmpdir=None):
    """Scaling rows for the suite (quick: 1 and 5 min; full: 1 min to 2 h).

    Returns
    -------
    dict
        ``rows`` (see :func:`measure`); ``floor_rss_mb`` (peak of a process
        that analyses 0.1 s: imports and compiled kernels, under every row);
        ``s_per_audio_min`` and ``startup_s`` (least-squares line through the
        wall times); ``time_linear`` (every recording of 10 min or more lies
        within 20 % of that line; None without two such rows);
        ``rss_growth_mb`` (peak of the longest minus the shortest) and
        ``rss_growth_mb_per_hour``; ``memory_goal_met`` (full mode: the 2 h
        peak is under :data:`GOAL_PEAK_MB`); ``live`` (:func:`live_growth`: 10 min
        streamed, quick 2).
    """
    minutes = QUICK_MINUTES if quick else FULL_MINUTES
    log(f"scaling: {', '.join(f'{m:g}' for m in minutes)} min recordings")
    rows = measure(minutes, tmpdir=tmpdir)
    floor = floor_rss_mb(tmpdir)
    log(f"scaling: live path, {LIVE_BLOCK}-sample blocks, {LIVE_MINUTES[quick]} min")
    live = live_growth(LIVE_MINUTES[quick])
    longest, first = rows[-1], rows[0]
    # wall = a + b * minutes, least squares: b is the cost of an audio minute, a the
    # start-up; linear when every recording of 10 min or more lies within 20 % of the line
    mins = np.array([r["minutes"] for r in rows], float)
    wall = np.array([r["wall_s"] for r in rows], float)
    slope = intercept = None
    linear = None
    if len(rows) > 1:
        slope, intercept = (float(v) for v in np.polyfit(mins, wall, 1))
        long_rows = mins >= 10
        if long_rows.sum() >= 2:
            dev = np.abs(wall[long_rows] - (intercept + slope * mins[long_rows]))
            linear = bool(np.all(dev <= 0.2 * wall[long_rows]))
    return {"rows": rows, "floor_rss_mb": floor, "goal_peak_mb": GOAL_PEAK_MB, "live": live,
            "s_per_audio_min": slope, "startup_s": intercept, "time_linear": linear,
            "rss_growth_mb": longest["peak_rss_mb"] - first["peak_rss_mb"],
            "rss_growth_mb_per_hour": ((longest["peak_rss_mb"] - first["peak_rss_mb"])
                                       / ((longest["minutes"] - first["minutes"]) / 60.0)
                                       if longest["minutes"] > first["minutes"] else None),
            "memory_goal_met": (bool(longest["minutes"] >= 120
                                     and longest["peak_rss_mb"] < GOAL_PEAK_MB)
                                if not quick else None),
            "memory_goal_note": ("measured on 2 h" if not quick else
                                 "quick mode stops at 5 min; the 2 h goal needs the full run")}
