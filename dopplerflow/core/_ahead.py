"""A machine's first run compiles the analysis kernels on two cores.

On a first run (numba's cache without the analysis kernels) each kernel is compiled
as its stage first meets data, one after the other.  The command line calls
:func:`prepare` as it starts an analysing command: on a first run, a second process
starts and imports the analysis while this one opens and checks the input.  The first
:class:`~dopplerflow.core.processor.Processor` built then hands it its settings
(:func:`compile_ahead`), and it takes the *row stages*, those after the envelopes (a
second vessel, the stored rows, reflux, beats, the result): it builds a processor with
the same settings and runs those stages once over rows without flow
(:meth:`~dopplerflow.core.processor.Processor.warm_up`), which compiles their kernels
into numba's cache.  Meanwhile this process reads the audio and compiles the stages
before (levels, glitches, wall filter, spectrum, noise floor, envelopes).  Before its
first rows reach the row stages, the processor waits for the second process to end
(:meth:`Ahead.wait`) and then loads their kernels from the cache.

Cache entries are never written by one process while the other reads them: numba
writes an entry as an index, then a data file (each by an atomic rename), and a
reader between the two would find the index without its data.  The first process
calls no row-stage kernel before the second has ended (or been stopped), and the
second leaves the stages before alone, beyond the few kernels a processor's
construction runs, which the first has compiled and saved before it hands over the
settings.  Whatever the second process does, the results are those of one process:
it only fills the cache, and a kernel it did not leave there is compiled as before.

It only starts where it helps: the kernels are not cached, numba's cache can be
written, and the process may run on more than one CPU.
"""

import atexit
import os
import pickle
import subprocess
import sys

__all__ = ["Ahead", "compile_ahead", "main", "pending", "prepare", "release"]

#: Longest wait for the second process, s; after it, it is stopped and this process
#: compiles what is left.
WAIT_S = 300.0
#: The package's parent folder: the second process imports this very dopplerflow.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_CHILD = (f"import sys; sys.path.insert(0, {_ROOT!r}); "
          f"from dopplerflow.core._ahead import main; main()")

_pending = None  # started, waiting for its settings
_active = None  # given its settings, compiling
_running = set()


def _cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _cache_writable():
    """Whether numba can keep the kernels (not the stand-in of ``dopplerflow/_cache.py`` for a
    folder that cannot be written)."""
    from numba.core.caching import NullCache

    from .wall import _wall_filter

    return not isinstance(getattr(_wall_filter, "_cache", None), NullCache)


def prepare():
    """On a first run, start the second process now; the first processor built hands
    it its settings (:func:`compile_ahead`).  Called by the command line as a command
    that analyses starts; :func:`release` ends it if no processor was built."""
    global _pending
    from . import _numba

    if _pending is None and _cpus() > 1 and not _numba.kernels_cached() \
            and _cache_writable():
        try:
            _pending = Ahead()
        except OSError:  # no process to be had: this one compiles everything
            pass


def release():
    """End the second process as the command ends: one that got no settings (no
    processor was built), or one still compiling (the analysis ended before the row
    stages, on an error)."""
    global _pending, _active
    _pending = _active = None
    _stop_all()


def pending():
    """Whether a second process waits for its settings."""
    return _pending is not None


def compile_ahead(processor):
    """Hand ``processor``'s settings to the second process :func:`prepare` started, if
    it waits for them (the first processor built hands them over).

    Returns
    -------
    Ahead or None
        The second process while it compiles the row stages' kernels: every processor
        built meanwhile waits for it before its rows reach them.
    """
    global _pending, _active
    if _pending is not None:
        ahead, _pending = _pending, None
        if ahead.send(processor):
            _active = ahead
    if _active is not None and _active.process.poll() is not None:
        _active.stop()
    return _active


class Ahead:
    """The second process: it imports the analysis, then waits for its settings
    (:meth:`send`)."""

    def __init__(self):
        self.process = subprocess.Popen([sys.executable, "-c", _CHILD],
                                        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        self.process.owner = os.getpid()  # not a process forked from this one (a worker)
        _running.add(self.process)

    def send(self, processor):
        """Hand over ``processor``'s settings; False if the process has died."""
        p = processor
        job = {"settings": p.settings, "sample_rate_hz": p.sample_rate_hz,
               "n_channels": p.n_channels, "keep_spectrogram": p.spectrogram is not None,
               "keep_trace": p.stored is not None, "events": p.events is not None,
               "layout_check": p.layout_verdict, "layout_chosen": p.layout_chosen}
        try:
            self.process.stdin.write(pickle.dumps(job))
            self.process.stdin.close()
        except (OSError, pickle.PicklingError, TypeError, AttributeError):
            self.stop()  # it has died, or the settings do not travel: nothing ahead
            return False
        return True

    def wait(self, timeout=WAIT_S):
        """Wait until the second process has ended (it is stopped after ``timeout``
        seconds); return its exit status."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        return self.stop()

    def stop(self):
        """Stop the second process if it still runs; return its exit status."""
        global _active
        if _active is self:
            _active = None
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()
        _running.discard(self.process)
        return self.process.returncode


@atexit.register
def _stop_all():
    # a process that ends before its analysis reached the row stages (an error, an
    # interrupt) leaves no compilation behind it
    for process in list(_running):
        _running.discard(process)
        if process.owner != os.getpid():
            continue
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdin and not process.stdin.closed:
            process.stdin.close()


def main():
    """The second process: import the analysis, read the settings from stdin (none: the
    first process built no processor), build the processor and warm it up."""
    from .processor import Processor

    data = sys.stdin.buffer.read()
    if not data:
        return
    job = pickle.loads(data)
    on_event = (lambda event: None) if job["events"] else None
    proc = Processor(job["settings"], job["sample_rate_hz"], job["n_channels"],
                     keep_spectrogram=job["keep_spectrogram"], keep_trace=job["keep_trace"],
                     on_event=on_event, layout_check=job["layout_check"],
                     layout_chosen=job["layout_chosen"])
    proc.warm_up()
