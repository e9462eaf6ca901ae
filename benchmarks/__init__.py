"""The dopplerflow benchmark suite: speed, memory, latency and accuracy, side by side.

Run ``python -m benchmarks`` (full) or ``python -m benchmarks --quick`` (CI smoke,
under two minutes), or ``dopplerflow bench [--quick]``.  Results go to
``benchmarks/results/``: ``latest.md`` (tables), ``latest.json`` (every figure
with the machine's CPU, core count and versions) and PNG plots.

Rules every module here follows:

* one core: :func:`pin_single_core` binds the process to one CPU and sets the
  BLAS / OpenMP thread counts (and, before numba loads, ``NUMBA_NUM_THREADS``)
  to 1, the subprocesses get :data:`SINGLE_CORE_ENV`, and every FFT is called
  with ``workers=1``;
* timings are medians of several runs after a warm-up run, and the candidates of
  one comparison are run interleaved (round robin) in the same process, so a
  ratio is never taken between numbers measured at different times;
* where a goal is not met, the tables say so.

This module holds what the pieces share: the single-core setting, the timer,
the machine description and the synthetic test signal.  It imports numpy and
dopplerflow only inside its functions, so ``python -m benchmarks`` can pin the
thread counts before any numerical library loads (``dopplerflow bench`` starts
after they have loaded: numba's thread count then stays as it is, which does
not matter because dopplerflow's kernels are serial, nor does the BLAS thread
count, because no timed stage calls BLAS).
"""

import os
import platform
import sys
import time

__all__ = ["SINGLE_CORE_ENV", "RESULTS_DIR", "pin_single_core", "single_core_env",
           "interleaved", "machine_info", "iq_test_signal", "TEST_SCENARIO",
           "sweep_arguments", "write_sweep"]

#: Where the results go by default.
RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

#: Environment that keeps numba, OpenMP and the BLAS libraries on one thread.
SINGLE_CORE_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}
#: Scenario of :mod:`dopplerflow.sim.synth` used as the speed-test signal: phasic
#: venous flow with a 2 s reflux, wall clutter and noise (12 s, tiled as needed).
TEST_SCENARIO = "jugular_valsalva"


def single_core_env(base=None):
    """A copy of ``base`` (default ``os.environ``) with :data:`SINGLE_CORE_ENV` set."""
    env = dict(os.environ if base is None else base)
    env.update(SINGLE_CORE_ENV)
    return env


def pin_single_core():
    """Keep this process on one thread for numba, OpenMP and BLAS, and on one CPU.

    The environment variables only bind libraries imported after this call.
    numba is the exception to handle with care: each time it compiles it reads
    ``NUMBA_NUM_THREADS`` again (and, when that is unset, the number of CPUs the
    process may use), and once its thread pool has started it raises
    ``RuntimeError`` for any value other than the pool's.  So where numba is
    already imported (``dopplerflow bench`` imports it before the suite runs),
    the variable is set to the value numba runs with, whatever the core count,
    and numba's own threads are left alone: dopplerflow's kernels are serial
    (no ``parallel=True``), so numba's pool size does not change a timing.
    Where the system allows it, the process is then bound to the last CPU it may
    use, so the scheduler does not move it (and its caches) between cores
    mid-measurement; child processes inherit the binding.

    Returns
    -------
    int or None
        The CPU bound to, or None where binding is not available.
    """
    env = dict(SINGLE_CORE_ENV)
    numba = sys.modules.get("numba")
    if numba is not None:
        env["NUMBA_NUM_THREADS"] = str(numba.config.NUMBA_NUM_THREADS)
    os.environ.update(env)
    try:
        cpu = max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError):
        return None
    return cpu


def interleaved(candidates, repeat=5, warmup=1):
    """Time several callables round robin; return their statistics.

    Parameters
    ----------
    candidates : dict of str to callable
        Each is called with no argument.
    repeat : int
        Timed rounds; each round runs every candidate once.
    warmup : int
        Untimed rounds first (numba compilation, caches, page faults).

    Returns
    -------
    dict of str to dict
        Per candidate ``median_s``, ``min_s``, ``max_s`` and ``runs`` (list of
        seconds, wall clock from ``time.perf_counter``).
    """
    import numpy as np

    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    runs = {name: [] for name in candidates}
    for _ in range(max(1, repeat)):
        for name, fn in candidates.items():
            t0 = time.perf_counter()
            fn()
            runs[name].append(time.perf_counter() - t0)
    return {name: {"median_s": float(np.median(r)), "min_s": float(np.min(r)),
                   "max_s": float(np.max(r)), "runs": [float(v) for v in r]}
            for name, r in runs.items()}


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info():
    """CPU, core count, platform and library versions, for ``latest.json``."""
    import numba
    import numpy as np
    import scipy
    import soundfile

    import dopplerflow

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        affinity = None
    return {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_available": affinity,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {"dopplerflow": dopplerflow.__version__, "numpy": np.__version__,
                     "scipy": scipy.__version__, "numba": numba.__version__,
                     "soundfile": soundfile.__version__,
                     "libsndfile": soundfile.__libsndfile_version__},
        "threads": {k: os.environ.get(k, v) for k, v in SINGLE_CORE_ENV.items()},
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


_SIGNALS = {}


def iq_test_signal(duration_s, sample_rate_hz=48000, seed=0):
    """Synthetic I/Q recording for speed tests, ``(frames, 2)`` float32.

    The :data:`TEST_SCENARIO` scenario (12 s of venous flow with reflux, wall
    clutter and noise; positive frequency toward the probe) tiled to
    ``duration_s``.  The content matters little for speed, but it exercises
    every stage: flow in both directions, noise-only stretches, a reflux event
    every 12 s.

    Parameters
    ----------
    duration_s : float
        Length, s.
    sample_rate_hz : float
    seed : int

    Returns
    -------
    ndarray, shape (round(duration_s * sample_rate_hz), 2), float32
        Columns I and Q (layout ``iq``), peak about 0.7 of full scale.
    """
    import numpy as np

    from dopplerflow.sim import synth

    key = (float(sample_rate_hz), int(seed))
    if key not in _SIGNALS:
        z = synth.synthesize(TEST_SCENARIO, sample_rate_hz=sample_rate_hz, seed=seed).baseband
        iq = np.stack((z.real, z.imag), axis=1)
        iq *= 0.7 / np.abs(iq).max()
        _SIGNALS[key] = iq.astype(np.float32)
    base = _SIGNALS[key]
    n = int(round(duration_s * sample_rate_hz))
    reps = -(-n // len(base))
    return np.ascontiguousarray(np.tile(base, (reps, 1))[:n])


def sweep_arguments(prog, doc, quick_help):
    """The command line of a standalone sweep (``python -m benchmarks.NAME``): ``--quick``
    and ``--out``; ``doc`` is the module docstring, whose first paragraph describes it."""
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--out", metavar="DIR", default=RESULTS_DIR,
                        help="directory for the tables (default: benchmarks/results)")
    return parser


def write_sweep(text, out_dir, name, quick):
    """Write a sweep's markdown to ``out_dir/NAME.md`` (``NAME_quick.md`` for a quick run),
    print it and where it went; return the path."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{name}_quick.md" if quick else f"{name}.md")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(text)
    print(f"written to {path}")
    return path
