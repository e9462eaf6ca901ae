"""A machine's first run of a short recording: analysed at once, the kernels compiled behind.

The analysis kernels are numba functions kept in numba's cache.  On a machine's first run
(or after an upgrade) they are not there, and compiling them takes some 33 s of CPU, 18-20 s
on two cores (:mod:`dopplerflow.core._ahead`) before the first result.  Each kernel is also
plain Python and numpy, and numba runs it as such when its ``DISABLE_JIT`` is set as the
kernels are defined: slower per sample (about 10-25 µs of a recording's sample frame against
well under 1 µs compiled), but with nothing to compile.  A short recording is done so in a
few seconds.

``dopplerflow analyze`` and ``dopplerflow report`` call :func:`choose` before they import
the analysis.  It chooses the interpreted kernels when

* the kernels are not in numba's cache (:func:`dopplerflow._cache.cache_state`), or a
  compilation behind an earlier command is still filling it;
* the analysis is not imported yet in this process (a program that uses the API has
  imported it: its kernels are compiled, as before);
* the recording is short: the interpreted analysis is estimated (:func:`estimate_s`) at
  :data:`INTERPRET_MAX_S` or less;
* no mains hum is removed (``--hum``: its canceller's sums are left to the compiler), and
  the system has file locks (POSIX).

The command then calls :func:`compile_behind`, which starts a process that compiles the
kernels into the cache for the next runs: it runs the same analysis of the same file,
compiled, and keeps nothing of it.  It runs at a lower priority, outlives the command (some
35 s of CPU), and holds a lock beside the cache while it does, so that there is one at a
time; a command that finds the kernels not cached and the lock held analyses a short file
interpreted, and waits for the lock before it compiles a long one (no cache entry is read
while another process writes it; see :mod:`dopplerflow.core._ahead`); so do the commands
that always compile (``exam``, ``batch``, ``replay``, ``live``, ...: :func:`wait_behind`).

Results: the interpreted kernels give the compiled kernels' bits.  numba computes a float32
meeting a float64 in float64, where numpy keeps an operation of a float32 with a Python float
or int in float32: the kernels widen such values themselves, and leave no sum's order to the
compiler (``docs/architecture.md``).  The spectrogram, the trace and the result of the
samples, the real recordings and the simulated ones checked are the same, bit for bit
(``docs/performance.md``, ``tests/test_first_run.py``).  Set ``DOPPLERFLOW_FIRST_RUN=compile``
to compile on a first run in any case.
"""

import os
import pickle
import subprocess
import sys

__all__ = ["INTERPRET_MAX_S", "choose", "compile_behind", "estimate_s", "wait_behind"]

#: Longest estimated interpreted analysis, s: about half of a compiled first run on two
#: cores, which also leaves the compilation behind it a core while it runs.
INTERPRET_MAX_S = 8.0
#: Interpreted cost of a sample frame, s: 23 µs measured with two directions at 8 kHz,
#: 10-12 µs mono at 11,025 Hz, 16-18 µs mono at 44.1 kHz (``docs/performance.md``).
FRAME_S = 25e-6
#: Interpreted start-up (the imports), s.
START_S = 0.8
#: The lock file a compilation behind a command holds, in the kernels' cache folder.
LOCK_NAME = "dopplerflow-compile.lock"
#: The environment variable that turns the interpreted first run off (``compile``).
ENV = "DOPPLERFLOW_FIRST_RUN"

_state = {"interpreted": False, "folder": None}
_CHILD = ("import sys; sys.path.insert(0, {root!r}); "
          "from dopplerflow._first_run import _compile_main; _compile_main()")


def estimate_s(frames):
    """Estimated wall time of an interpreted analysis of ``frames`` sample frames, s."""
    return START_S + FRAME_S * frames


def _lock_path(folder):
    return os.path.join(folder, LOCK_NAME)


def _lock_busy(folder):
    """Whether a compilation behind a command holds the lock in ``folder``; None where
    locks are not to be had (not POSIX)."""
    try:
        import fcntl
    except ImportError:
        return None
    try:
        with open(_lock_path(folder), "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
    except OSError:
        return None
    return False


def _wait_for_lock(folder, quiet):
    """Wait until the compilation behind an earlier command has ended."""
    import fcntl

    if not quiet:
        print("dopplerflow: waiting for the kernels that an earlier command is compiling "
              "(at most some 35 s, once)", file=sys.stderr, flush=True)
    with open(_lock_path(folder), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        fcntl.flock(f, fcntl.LOCK_UN)


def _frames(path):
    """Sample frames of the audio file ``path``, at least as many as its size holds in
    16-bit samples (a header that states too few frames, as a recorder cut off before it
    wrote the length leaves, does not pass a long recording for a short one); None if it
    cannot be read (the analysis then says why)."""
    try:
        import soundfile as sf

        path = os.fspath(path)
        info = sf.info(path)
        return max(info.frames, os.path.getsize(path) // (2 * max(info.channels, 1)))
    except Exception:  # noqa: BLE001 - anything the analysis itself reports better
        return None


def _cache_now():
    """Before the analysis is imported: ``(folder, cached, busy)`` of numba's cache of the
    kernels (:func:`dopplerflow._cache.cache_state`; ``busy``: :func:`_lock_busy`, None
    without a folder); None once the analysis is imported (its kernels are defined)."""
    if "dopplerflow.core._numba" in sys.modules:
        return None
    from ._cache import cache_state, configure_numba_cache

    configure_numba_cache()
    folder, cached = cache_state()
    return folder, cached, _lock_busy(folder) if folder is not None else None


def wait_behind(quiet=False):
    """Before a command that compiles the kernels (``exam``, ``batch``, ``replay``, ``live``,
    ...) imports the analysis: wait for a compilation behind an earlier command to end, if
    one still fills the cache, rather than compile beside it (no cache entry is read while
    another process writes it).  Returns whether it waited."""
    now = _cache_now()
    if now is None or not now[2]:
        return False
    _wait_for_lock(now[0], quiet)
    return True


def choose(path, quiet=False, hum=False):
    """Choose, before the analysis is imported, whether this process runs its kernels
    interpreted (see the module's docstring); return whether it does.

    Parameters
    ----------
    path : str
        The recording the command analyses.
    quiet : bool
        No line on stderr.
    hum : bool
        The analysis removes mains hum: compiled (its canceller is the one kernel whose
        sums the compiler may reorder, as ``fastmath`` lets it, for speed).
    """
    mode = os.environ.get(ENV, "auto") or "auto"
    if mode not in ("auto", "compile"):
        print(f"dopplerflow: {ENV}={mode} is neither 'auto' nor 'compile': taken as 'auto'",
              file=sys.stderr, flush=True)
    now = None if mode == "compile" or hum else _cache_now()
    if now is None:
        return False
    folder, cached, busy = now
    if busy is None and folder is not None:
        return False  # no lock to keep compilations apart: compile here, as before
    if cached and not busy:
        return False
    frames = _frames(path)
    if frames is None:  # not an audio file that can be read: the analysis says so at once
        return False
    if estimate_s(frames) > INTERPRET_MAX_S:
        if busy:
            _wait_for_lock(folder, quiet)
        return False
    from numba.core import config

    config.DISABLE_JIT = True  # read as each kernel is defined, on import
    import numpy as np

    np.seterr(all="ignore")  # as the compiled kernels: inf and nan without warnings
    _state.update(interpreted=True, folder=None if busy else folder)
    if not quiet:
        if folder is None:
            why = ("numba cannot keep the compiled analysis kernels (no writable folder: not "
                   "the package's __pycache__, NUMBA_CACHE_DIR nor ~/.cache): this short "
                   "recording is analysed without compiling them; set NUMBA_CACHE_DIR to a "
                   "writable folder to keep them")
        elif busy:
            why = ("the analysis kernels are still compiling behind an earlier command: this "
                   "short recording is analysed without them")
        else:
            why = ("first run on this machine: this short recording is analysed without "
                   "compiled kernels; they compile in the background for the next runs "
                   "(some 35 s of CPU)")
        print(f"dopplerflow: {why}", file=sys.stderr, flush=True)
    return True


def compile_behind(path, settings, *, keep_spectrogram=False, keep_trace=True):
    """If this process runs the kernels interpreted, start a process that compiles them
    into numba's cache: it analyses ``path`` with ``settings`` (the same analysis, its
    results discarded).  It holds the lock while it runs, and outlives this process."""
    folder = _state["folder"]
    if not _state["interpreted"] or folder is None:
        return None
    _state["folder"] = None
    import fcntl

    job = pickle.dumps({"path": os.path.abspath(os.fspath(path)), "settings": settings,
                        "keep_spectrogram": keep_spectrogram, "keep_trace": keep_trace})
    lock = open(_lock_path(folder), "a")  # noqa: SIM115 - passed to the child
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # another command's started meanwhile
        lock.close()
        return None
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}
    env["DOPPLERFLOW_LOCK_FD"] = str(lock.fileno())
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", _CHILD.format(root=root)], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(lock.fileno(),),
            start_new_session=True, env=env)
        process.stdin.write(job)
        process.stdin.close()
    except OSError:  # no process to be had: the next run compiles
        return None
    finally:
        lock.close()  # the child holds the lock now (the same open file)
    return process


def _compile_main():
    """The compilation behind a command: read the job, analyse compiled, release the lock
    as the process ends."""
    lock_fd = int(os.environ.pop("DOPPLERFLOW_LOCK_FD"))
    job = pickle.loads(sys.stdin.buffer.read())
    try:
        os.nice(10)
    except OSError:
        pass
    from .core import analyze

    try:
        analyze(job["path"], settings=job["settings"], keep_spectrogram=job["keep_spectrogram"],
                keep_trace=job["keep_trace"])
    finally:
        os.close(lock_fd)
