"""The ``dopplerflow`` command: ``dopplerflow COMMAND ...``.

One small module per command (:mod:`.analyze`, :mod:`.batch`, :mod:`.exam`,
:mod:`.live`, :mod:`.devices`, :mod:`.replay`, :mod:`.simulate`, :mod:`.score`,
:mod:`.evaluate`, :mod:`.report`, :mod:`.repair`, :mod:`.explain`, :mod:`.bench`), each
with ``add_arguments(parser)`` and ``main(args) -> int``; what they share is in
:mod:`.common`.  The command modules import the library modules they drive only when
they run, so ``--help`` stays quick and ``import dopplerflow`` never loads matplotlib
or sounddevice.

Exit status: 0 analysed, 1 bad input (one-line message, no traceback),
2 bad usage, 130 interrupted.  Importing this package loads nothing heavy: numpy, numba
and the command modules are imported inside :func:`main`, so that an interrupt at any
point of start-up (Ctrl-C while numba loads) is one line and exit status 130.
"""

import _thread
import contextlib
import functools
import gc
import importlib
import signal
import sys
import threading
import time

from .. import __version__
from ..errors import DopplerflowError, command_line_message

__all__ = ["main", "build_parser", "COMMANDS", "add_analysis_arguments", "settings_from_args",
           "print_summary"]

#: The commands, in the order ``--help`` lists them: name -> (help, description).  The
#: command ``NAME`` is the module ``dopplerflow.cli.NAME``.
COMMANDS = {
    "analyze": ("analyse a recorded file", "Analyse a recorded Doppler audio file."),
    "batch": ("analyse many recordings into one table (CSV or Parquet)", None),
    "exam": ("read an examination: Zamboni's criteria, a leg reflux map, one HTML page",
             None),
    "simulate": ("write a simulated recording with its ground truth", None),
    "replay": ("stream a file through the live path (block by block)", None),
    "score": ("score an analysis JSON against a truth JSON, or its beats against beat marks",
              None),
    "evaluate": ("score every scenario across SNR, layouts and seeds", None),
    "devices": ("list sound-card input devices", None),
    "live": ("analyse a sound-card input as it arrives, and record it", None),
    "report": ("write a self-contained HTML report of a recording", None),
    "repair": ("copy a WAV whose recorder never finished its header, with one that states "
               "all its audio", None),
    "explain": ("write teaching figures with captions", None),
    "bench": ("run the benchmark suite", None),
}

#: Commands that open the sound card (PortAudio).
_SOUND_CARD = frozenset({"live", "devices"})
#: Commands that run the numba kernels of the analysis.
_ANALYSING = frozenset({"analyze", "batch", "exam", "replay", "live", "report", "explain",
                        "evaluate", "bench"})
#: Those that analyse in this process, whose first run compiles on two cores
#: (:mod:`~dopplerflow.core._ahead`).
_COMPILE_AHEAD = _ANALYSING - {"evaluate", "bench"}
#: Those that analyse one recording, which a first run on a short one analyses with the
#: kernels interpreted while they compile behind it (:mod:`dopplerflow._first_run`).
_FIRST_RUN_INTERPRETED = frozenset({"analyze", "report"})


#: Names re-exported from :mod:`.common`, imported on first use (PEP 562).
_FROM_COMMON = ("add_analysis_arguments", "settings_from_args", "print_summary")


def __getattr__(name):
    if name in _FROM_COMMON:
        return getattr(importlib.import_module(f"{__name__}.common"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_parser():
    """The argument parser of ``dopplerflow``."""
    from .common import ArgumentParser

    parser = ArgumentParser(prog="dopplerflow", description=(
        "Doppler ultrasound audio -> blood-velocity traces and venous reflux events. "
        "A research and teaching tool, not a medical device."))
    parser.add_argument("--version", action="version", version=f"dopplerflow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name, (help_text, description) in COMMANDS.items():
        command = importlib.import_module(f"{__name__}.{name}")
        p = sub.add_parser(name, help=help_text,
                           description=description or help_text[:1].upper() + help_text[1:])
        command.add_arguments(p)
        p.set_defaults(func=command.main)
    return parser


def _compiling():
    print("dopplerflow: first run on this machine: compiling the analysis kernels "
          "(20-35 s, once)", file=sys.stderr, flush=True)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C while a command runs, raised by the handler :func:`main` installs.

    A subclass of KeyboardInterrupt (every ``except KeyboardInterrupt`` still takes
    it) and not KeyboardInterrupt itself: CPython ends the process killed by SIGINT
    (status -2, not 130) once a plain KeyboardInterrupt has passed through ``exec`` of
    a string (dataclasses and numba make classes so while they load), even when it is
    caught later on.
    """


class Terminated(Interrupted):
    """SIGTERM (a batch system's time limit, ``kill``, ``timeout``) while a command runs:
    handled as Ctrl-C is, with its own line and exit status (143)."""


#: Exit status after SIGTERM: 128 + 15, as a shell reports a process it ended.
EXIT_TERMINATED = 143


def _raise_interrupted(signum, frame):
    if _numba_busy():
        _when_numba_is_done(signum)
        return
    if _in_hook(frame):
        # raised in the hook that passes a swallowed interrupt on, it would be swallowed
        # for good: it is delivered again once the hook has returned
        threading.Thread(target=_deliver_later, daemon=True).start()
        return
    raise _raised(Interrupted())


def _in_hook(frame):
    """Whether ``frame`` (a signal handler's) runs inside :func:`_interrupt_again`."""
    while frame is not None:
        if frame.f_code is _interrupt_again.__code__:
            return True
        frame = frame.f_back
    return False


#: The last interrupt the handlers raised while the command ran (None: none).  A C
#: extension whose import it cuts short may report its own error in its place, with the
#: interrupt gone from the error's context (numpy: "PyCapsule_Import could not import
#: module 'datetime'"); the command then still ends as interrupted.
_last_interrupt = {"exc": None}


def _raised(exc):
    _last_interrupt["exc"] = exc
    return exc


#: Seconds a deferred interrupt waits for numba at most (:func:`_when_numba_is_done`).
_DEFER_LIMIT_S = 60.0
#: Whether an interrupt waits for numba.
_deferred = {"pending": False}


def _numba_busy():
    """Whether this thread holds numba's compiler lock: a kernel is being compiled or
    loaded from the cache, in LLVM.  An exception raised there can leave LLVM's objects
    half made: the process crashed (SIGSEGV), or a finaliser failed as it ended."""
    lock = sys.modules.get("numba.core.compiler_lock")
    try:
        return lock is not None and lock.global_compiler_lock.is_locked()
    except Exception:  # noqa: BLE001 - another numba: interrupts are raised at once
        return False


def _when_numba_is_done(signum):
    """Deliver the signal ``signum`` again once numba lets go of its compiler lock (a
    kernel loads in milliseconds; one compiles in seconds): it then ends the command as
    any interrupt does."""
    if _deferred["pending"]:
        return
    _deferred["pending"] = True
    lock = sys.modules["numba.core.compiler_lock"].global_compiler_lock._lock

    def deliver():
        if lock.acquire(timeout=_DEFER_LIMIT_S):
            lock.release()
        _deferred["pending"] = False
        _thread.interrupt_main(signum)

    threading.Thread(target=deliver, daemon=True).start()


#: Whether SIGTERM came while the command ran: where Python cannot raise
#: :class:`Terminated` (a finaliser), the interrupt is passed on as a plain Ctrl-C.
_sigterm = {"got": False}


def _raise_terminated(signum, frame):
    _sigterm["got"] = True
    if _numba_busy():
        _when_numba_is_done(signum)
        return
    if _in_hook(frame):  # (passed on as a Ctrl-C: _sigterm says which it was)
        threading.Thread(target=_deliver_later, daemon=True).start()
        return
    raise _raised(Terminated())


def terminated(exc):
    """Whether the interrupt ``exc`` (a KeyboardInterrupt) ends the command on SIGTERM."""
    return isinstance(exc, Terminated) or _sigterm["got"]


def _interrupt_again(unraisable, fallback):
    """An ``sys.unraisablehook``: an interrupt raised where Python cannot pass it on (a
    weak reference's callback, a finaliser, as modules load) is delivered again to the
    main thread, from another thread so that it arrives once this hook has returned, and
    ends the command there; anything else goes to ``fallback``."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        threading.Thread(target=_deliver_later, daemon=True).start()
        return
    fallback(unraisable)


def _unprinted_interrupt(exc_type, exc, tb, fallback):
    """The ``sys.excepthook`` while a command runs: an interrupt a C extension prints and
    replaces with its own error is not printed (numpy's ``import_array()``, in every
    extension built on numpy, prints the error it meets with ``PyErr_Print``, through this
    hook, then raises "numpy._core.multiarray failed to import"); the command ends as
    interrupted on that error (:data:`_last_interrupt`).  Anything else goes to
    ``fallback``."""
    if isinstance(exc, KeyboardInterrupt):
        return
    fallback(exc_type, exc, tb)


def _after_interrupt(unraisable):
    """The ``sys.unraisablehook`` while the objects an interrupt left half-made are freed
    (a numba or llvmlite object whose making it cut short can fail in its finaliser): that
    is no error of the run, and the command's last line stays ``dopplerflow: interrupted``."""


def _deliver_later():
    time.sleep(0.001)  # the hook has returned: the interrupt ends the command (if it falls
    _thread.interrupt_main(signal.SIGINT)  # where it cannot again, it is sent again: the
    # hook's, if it falls in a callback; _raise_interrupted's, in the hook itself)


def main(argv=None):
    """Run the command line; return the exit status.

    An interrupt (Ctrl-C, SIGINT) anywhere, start-up included, ends it with one line
    and exit status 130; SIGTERM with one line and exit status 143 (a command that
    handles them itself, ``batch`` and ``live``, ends in order first).
    """
    previous = previous_term = None
    interrupted = False
    _sigterm["got"] = False
    _last_interrupt["exc"] = None
    with contextlib.suppress(ValueError):  # not the main thread: signals stay as they are
        previous = signal.signal(signal.SIGINT, _raise_interrupted)
        previous_term = signal.signal(signal.SIGTERM, _raise_terminated)
    hook, excepthook = sys.unraisablehook, sys.excepthook
    if previous is not None:
        sys.unraisablehook = functools.partial(_interrupt_again, fallback=hook)
        sys.excepthook = functools.partial(_unprinted_interrupt, fallback=excepthook)
    try:
        return _main(argv)
    except Exception:
        # an interrupt the handler raised inside a C extension's import comes out as that
        # import's error (numba's _dispatcher: "ImportError: numba._devicearray failed to
        # import", the interrupt its context; numpy's, without it)
        if _last_interrupt["exc"] is None:
            raise
        interrupted = True
        return _say_interrupted(_last_interrupt["exc"])
    except KeyboardInterrupt as e:
        interrupted = True
        return _say_interrupted(e)
    finally:
        if interrupted:
            # the objects the interrupt left half-made are freed now, quietly: left to the
            # process's end, a failing finaliser printed "Exception ignored ... Traceback"
            # after the last line
            sys.unraisablehook = _after_interrupt
            gc.collect()
        sys.unraisablehook, sys.excepthook = hook, excepthook
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)


def _say_interrupted(exc):
    """The interrupt ``exc`` ends the command: one line, and its exit status."""
    with contextlib.suppress(ValueError):  # a second Ctrl-C while saying so: no trace
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if terminated(exc):
        print("\ndopplerflow: terminated (SIGTERM)", file=sys.stderr, flush=True)
        return EXIT_TERMINATED
    print("\ndopplerflow: interrupted", file=sys.stderr, flush=True)
    return 130


def _main(argv):
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and not getattr(args, "any_arguments", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as e:  # --help, --version and usage errors
        return e.code if isinstance(e.code, int) else 2
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    notice = args.command in _ANALYSING and not getattr(args, "quiet", False)
    ahead = args.command in _COMPILE_AHEAD
    if args.command in _ANALYSING:  # before the analysis is imported
        from .. import _first_run

        if args.command in _FIRST_RUN_INTERPRETED:
            _first_run.choose(args.file, quiet=not notice, hum=args.hum is not None)
        else:  # no compiling while a compilation behind an earlier command fills the cache
            _first_run.wait_behind(quiet=not notice)
    if notice:
        from ..core._numba import notify_first_compile

        notify_first_compile(_compiling)
    if ahead:
        from ..core import _ahead

        _ahead.prepare()  # a first run compiles on two cores
    try:
        return _run(args)
    finally:
        if notice:
            notify_first_compile(None)
        if ahead:
            _ahead.release()


def _run(args):
    """The command's function; user errors become one line on stderr and an exit code.

    While a command that opens the sound card runs, the sound-card libraries' own lines
    are kept off stderr (:class:`~.library_output.LibraryOutputFilter`)."""
    try:
        if args.command in _SOUND_CARD:
            from .library_output import LibraryOutputFilter

            quiet = LibraryOutputFilter()
        else:
            quiet = contextlib.nullcontext()
        with quiet:
            return int(args.func(args) or 0)
    except DopplerflowError as e:
        print(f"dopplerflow: error: {command_line_message(str(e))}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:
        return 0
    except OSError as e:
        # files the user named that cannot be written (permissions, full disk)
        print(f"dopplerflow: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "),
              file=sys.stderr)
        return 1
