"""Running one function over many tasks: here, in a process pool, or on a Dask cluster.

:func:`run_tasks` yields the results as they arrive, in any order, each with the index
of its task; the caller puts them in order.  The function and its tasks must be
picklable (a function at the top of a module, plain data).

* ``jobs=1``: in this process, one task after the other.
* ``jobs=N``: a :class:`concurrent.futures.ProcessPoolExecutor` of N processes.  On
  Linux, while this process runs one thread, the workers are forked: they inherit the
  modules already imported and start at once; the first task runs in this process
  before the fork, so that what it loads (numba's kernels) is loaded once for all.
  Otherwise (macOS, Windows, a process that runs threads, such as one that hosts a
  Dask client) they are spawned: each imports dopplerflow itself, from the same
  ``sys.path`` and environment (so a ``PYTHONPATH`` in force here is in force there).
  An interrupt (Ctrl-C, or SIGTERM where a handler raises for it) kills the workers,
  whose tasks are then unwanted; and a worker ends when its parent dies, even by
  SIGKILL (:func:`_start_worker`).
* ``dask=ADDRESS`` (or a ``distributed.Client``): the tasks go to the workers of a
  Dask distributed scheduler, which must reach the same files under the same paths
  (shared storage) and have the same dopplerflow installed.  Before any task is sent,
  each worker is asked for the digest of the dopplerflow sources it imported
  (:func:`check_workers`): a worker started before an upgrade (or before an edit of an
  editable install) keeps the code it imported, under the same version number, and its
  rows would be another code's.
"""

import contextlib
import os
import signal
import sys
import threading

from .._cache import sources_digest
from ..errors import DopplerflowError, SettingsError

__all__ = ["run_tasks", "default_jobs", "require_distributed", "connect", "check_workers",
           "TaskFailed"]


#: The digest of the dopplerflow sources as this process imported them (as it imported this
#: module, with the analysis): a Dask worker imports this module as it meets its first
#: task of dopplerflow, and keeps its digest as it keeps its code.
_CODE = sources_digest(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class TaskFailed(Exception):
    """A task that did not return: its worker process died, or the cluster lost it."""


def default_jobs():
    """The number of CPUs this process may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_tasks(func, tasks, *, jobs=1, dask=None):
    """Call ``func(task)`` for every task; yield ``(index, result)`` as each returns.

    Parameters
    ----------
    func : callable
        A module-level function (it is pickled by name).
    tasks : sequence
        Its arguments, one per call.
    jobs : int
        Processes (1: in this process).  Ignored with ``dask``.
    dask : str or distributed.Client, optional
        Scheduler address (``tcp://host:8786``) or a connected client.

    Yields
    ------
    index : int
        Position of the task in ``tasks``.
    result : object or TaskFailed
        What ``func`` returned, or a :class:`TaskFailed` when the task was lost
        (its process died: out of memory, a crash in a library).

    Raises
    ------
    SettingsError
        ``jobs`` below 1; ``dask`` given without dask and distributed installed.
    DopplerflowError
        The Dask scheduler cannot be reached.
    """
    if dask is not None:
        yield from _on_dask(func, tasks, dask)
        return
    if not isinstance(jobs, int) or jobs < 1:
        raise SettingsError(f"jobs {jobs!r} must be a positive whole number of processes")
    if jobs == 1 or len(tasks) <= 1:
        for i, task in enumerate(tasks):
            yield i, func(task)
        return
    yield from _in_pool(func, tasks, min(jobs, len(tasks)))


def _context():
    """fork where it is safe and cheap (Linux, one thread), spawn elsewhere."""
    import multiprocessing

    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _in_pool(func, tasks, jobs):
    """The tasks in a pool of ``jobs`` processes.  With fork, the first task runs here
    first: what it loads (modules, kernels from numba's cache) the workers inherit, so
    it is loaded once rather than once per worker."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    context = _context()
    first = 0
    if context.get_start_method() == "fork":
        yield 0, func(tasks[0])
        first = 1
    with _signals_held():
        pool = ProcessPoolExecutor(max_workers=min(jobs, len(tasks) - first),
                                   mp_context=context, initializer=_start_worker,
                                   initargs=(os.getpid(),))
        futures = {pool.submit(func, tasks[i]): i for i in range(first, len(tasks))}
    try:
        for fut in as_completed(futures):
            try:
                result = fut.result()
            except BrokenProcessPool:
                result = TaskFailed("a worker process died (out of memory, or a crash in a "
                                    "library); run again with --resume to retry")
            except Exception as e:  # func raised: report it with the task, go on
                result = TaskFailed(f"{type(e).__name__}: {e}")
            yield futures[fut], result
    except BaseException:  # interrupted (Ctrl-C, SIGTERM), or the caller stopped early:
        with _signals_held():  # the tasks under way are not wanted, and may take minutes
            _end_workers(pool)
        raise
    finally:
        with _signals_held():
            pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _signals_held():
    """SIGINT and SIGTERM wait until the block ends, then arrive.

    Their handlers raise (Ctrl-C, and SIGTERM under ``dopplerflow batch``); raised
    half-way through multiprocessing's setting up or ending of processes, such an
    exception leaves objects half made (tracebacks at exit, a wrong exit status).  Only
    the main thread handles signals: elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got = []
    held = {s: signal.signal(s, lambda signum, frame: got.append(signum))
            for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in held.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)
        for s in dict.fromkeys(got):
            signal.raise_signal(s)


def _end_workers(pool):
    """Kill the worker processes of ``pool`` (their tasks are lost)."""
    if hasattr(pool, "kill_workers"):  # Python 3.14
        pool.kill_workers()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.kill()


#: Seconds between two looks of a worker at its parent, where the system cannot signal
#: the parent's death (not Linux).
PARENT_POLL_S = 1.0


def _start_worker(parent_pid):
    """Set up a worker process.

    Workers leave Ctrl-C to the parent (no traceback from every worker): it ends them;
    SIGTERM ends a worker at once (a forked worker would otherwise inherit the
    parent's handler).  A worker never outlives the parent: killed (SIGKILL, or a
    crash) the parent cannot end them, so on Linux the kernel sends each a SIGKILL
    when the parent dies (``PR_SET_PDEATHSIG``), and elsewhere a thread of each looks
    every :data:`PARENT_POLL_S` s whether its parent is still there.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if not _die_with_parent():
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True,
                         name="dopplerflow-parent-watch").start()
    if os.getppid() != parent_pid:  # the parent died before the watch began
        os._exit(1)


def _die_with_parent():
    """Ask Linux to SIGKILL this process when its parent dies; False where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) == 0  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid):
    """End this worker once its parent is gone (it is then a child of another process)."""
    import time

    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def require_distributed():
    """Import :mod:`distributed`, or raise a one-line :class:`SettingsError` saying how
    to get it."""
    try:
        import distributed
    except ImportError:
        raise SettingsError('--dask needs dask and distributed: pip install '
                            '"dopplerflow[dask]"') from None
    return distributed


def connect(dask):
    """``(client, own)``: a ``distributed.Client`` given as it is (``own`` False), or a
    new one connected to the scheduler at the address ``dask`` (``own`` True: the
    caller closes it).

    Raises
    ------
    SettingsError
        ``dask`` is not an address (no port), or distributed is not installed.
    DopplerflowError
        The scheduler cannot be reached (within 20 s).
    """
    distributed = require_distributed()
    if isinstance(dask, distributed.Client):
        return dask, False
    from distributed.comm import addressing

    address = str(dask)
    if not address.startswith("inproc://"):
        try:  # before a Client is made: a half-made one hangs and complains at exit
            addressing.get_address_host_port(addressing.normalize_address(address))
        except ValueError as e:
            raise SettingsError(f"--dask {address} is not a scheduler's address ({e}); give "
                                f"one such as tcp://10.0.0.5:8786") from None
    try:
        return distributed.Client(address, timeout="20s", set_as_default=False), True
    except (OSError, TimeoutError, ValueError) as e:
        raise DopplerflowError(f"cannot reach the Dask scheduler at {address} ({e}); start "
                               f"it with 'dask scheduler' and check the address") from None


#: Most tasks sent to a Dask worker as one: a task of Dask costs about a millisecond of
#: scheduling, as much as a short recording's analysis; grouping a few keeps it small.
DASK_CHUNK = 8


def _call_each(chunk, task_function):
    """Run ``task_function`` on each task of a chunk, on a Dask worker."""
    return [task_function(t) for t in chunk]


def _chunk_size(client, n_tasks):
    """Tasks per chunk: up to :data:`DASK_CHUNK`, with at least four chunks per worker
    thread so that the cluster stays busy to the end."""
    try:
        threads = sum(w.get("nthreads", 1) for w in
                      client.scheduler_info()["workers"].values()) or 1
    except Exception:  # an old or unusual scheduler: no grouping
        return 1
    return max(1, min(DASK_CHUNK, n_tasks // (4 * threads)))


def _code_identity():
    """This process's dopplerflow: its version and :data:`_CODE`."""
    from .. import __version__

    return __version__, _CODE


def check_workers(client):
    """Raise :class:`DopplerflowError` unless every worker of ``client``'s cluster runs the
    dopplerflow code this process runs (the same sources, as imported)."""
    from .. import __version__

    found = client.run(_code_identity, on_error="return")
    broken = {a: r for a, r in found.items() if isinstance(r, BaseException)}
    if broken:
        address, e = sorted(broken.items())[0]
        raise DopplerflowError(f"{len(broken)} of {len(found)} Dask worker(s) cannot run "
                               f"dopplerflow ({address}: {type(e).__name__}: {e}); install "
                               f"this dopplerflow where they run and restart them")
    other = sorted(a for a, r in found.items() if tuple(r) != (__version__, _CODE))
    if other:
        version = found[other[0]][0]
        raise DopplerflowError(
            f"{len(other)} of {len(found)} Dask worker(s) run other dopplerflow code than "
            f"this one ({other[0]}: version {version}, here {__version__}; its sources "
            f"differ: installed or changed since the workers started); restart them on "
            f"this installation, then run again")


def _on_dask(func, tasks, dask):
    client, own = connect(dask)  # first: it says how to install distributed
    from distributed import as_completed

    tasks = list(tasks)
    try:
        check_workers(client)
        with client.as_current():
            size = _chunk_size(client, len(tasks))
            starts = range(0, len(tasks), size)
            futures = client.map(_call_each, [tasks[i:i + size] for i in starts],
                                 task_function=func, pure=False)
            first = {f.key: i for i, f in zip(starts, futures, strict=True)}
            for fut, results in as_completed(futures, with_results=True, raise_errors=False):
                i = first[fut.key]
                if isinstance(results, BaseException):  # a lost worker, KilledWorker
                    failed = TaskFailed(f"the Dask cluster lost the task "
                                        f"({type(results).__name__}: {results}); run again "
                                        f"with --resume to retry")
                    results = [failed] * len(tasks[i:i + size])
                for k, r in enumerate(results):
                    yield i + k, r
                fut.release()
    finally:
        if own:
            client.close()
