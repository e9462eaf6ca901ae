"""Cold start: ``dopplerflow analyze`` on a 10 s file, as a whole process.

*First run*: a fresh, empty ``NUMBA_CACHE_DIR``, so every kernel is compiled.
*Warm*: the same cache directory again (kernels loaded from the cache); the
median of several runs.  Both are wall clock from process start to exit, on
one core.  Goal: warm under 1.5 s.  Imports alone are timed too (a process that
only imports), to tell start-up from analysis: ``import dopplerflow``, which defers
the analysis core, and ``from dopplerflow import analyze``, which loads it (numpy,
scipy.fft, numba and the cached kernels).
"""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from . import single_core_env
from .scaling import run_analyze_process, write_long_wav

__all__ = ["GOAL_WARM_S", "measure", "run"]

#: Wall time allowed for a warm ``dopplerflow analyze`` of a 10 s file, s.
GOAL_WARM_S = 1.5


def _import_time(env, repeat, code="import dopplerflow"):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def measure(duration_s=10.0, sample_rate_hz=48000, warm_repeat=5, tmpdir=None):
    """Time a first (empty cache) and warm ``dopplerflow analyze`` process.

    Returns
    -------
    dict
        ``file_s``, ``first_run_s``, ``warm_s`` (median), ``warm_runs`` (list),
        ``import_s`` and ``core_import_s`` (medians of a process that only runs
        ``import dopplerflow``, or ``from dopplerflow import analyze``),
        ``peak_rss_mb`` (warm), ``goal_warm_s``, ``goal_met``.
    """
    with tempfile.TemporaryDirectory(dir=tmpdir) as tmp:
        path = os.path.join(tmp, "ten_seconds.wav")
        write_long_wav(path, duration_s, sample_rate_hz)
        cache = os.path.join(tmp, "numba_cache")
        os.mkdir(cache)
        # compiled on the first run (a short recording's first run is interpreted:
        # benchmarks.compile_profile)
        env = {"NUMBA_CACHE_DIR": cache, "DOPPLERFLOW_FIRST_RUN": "compile"}
        out = os.path.join(tmp, "out.json")
        first = run_analyze_process(path, out, extra_env=env)
        warm = [run_analyze_process(path, out, extra_env=env)
                for _ in range(max(1, warm_repeat))]
        env = dict(single_core_env(), NUMBA_CACHE_DIR=cache)
        imp = _import_time(env, max(1, warm_repeat))
        core = _import_time(env, max(1, warm_repeat), "from dopplerflow import analyze")
    warm_s = float(np.median([w["wall_s"] for w in warm]))
    return {"file_s": duration_s, "first_run_s": first["wall_s"], "warm_s": warm_s,
            "warm_runs": [w["wall_s"] for w in warm], "import_s": imp, "core_import_s": core,
            "peak_rss_mb": max(w["peak_rss_mb"] for w in warm),
            "returncode": max([first["returncode"]] + [w["returncode"] for w in warm]),
            "goal_warm_s": GOAL_WARM_S, "goal_met": bool(warm_s < GOAL_WARM_S)}


def run(quick=False, log=print, tmpdir=None):
    """Cold start for the suite (quick: 3 warm runs; full: 7)."""
    log("cold start: dopplerflow analyze on a 10 s file, first run and warm")
    return measure(warm_repeat=3 if quick else 7, tmpdir=tmpdir)
