"""The ``dopplerflow`` command: ``dopplerflow COMMAND ...``.

One small module per command (:mod:`.analyze`, :mod:`.batch`, :mod:`.exam`,
:mod:`.live`, :mod:`.devices`, :mod:`.replay`, :mod:`.simulate`, :mod:`.score`,
:mod:`.evaluate`, :mod:`.report`, :mod:`.explain`, :mod:`.bench`), each with
``add_arguments(parser)`` and ``main(args) -> int``; what they share is in
:mod:`.common`.  The command modules import the library modules they drive only when
they run, so ``--help`` stays quick and ``import dopplerflow`` never loads matplotlib
or sounddevice.

Exit status: 0 analysed, 1 bad input (one-line message, no traceback),
2 bad usage, 130 interrupted.
"""

import importlib
import sys

from .. import __version__
from ..errors import DopplerflowError
from .common import ArgumentParser, add_analysis_arguments, print_summary, settings_from_args

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
    "score": ("score an analysis JSON against a truth JSON", None),
    "evaluate": ("score every scenario across SNR, layouts and seeds", None),
    "devices": ("list sound-card input devices", None),
    "live": ("analyse a sound-card input as it arrives, and record it", None),
    "report": ("write a self-contained HTML report of a recording", None),
    "explain": ("write teaching figures with captions", None),
    "bench": ("run the benchmark suite", None),
}

#: Commands that run the numba kernels of the analysis.
_ANALYSING = frozenset({"analyze", "batch", "exam", "replay", "live", "report", "explain",
                        "evaluate", "bench"})


def build_parser():
    """The argument parser of ``dopplerflow``."""
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
          "(about 20 s, once)", file=sys.stderr, flush=True)


def main(argv=None):
    """Run the command line; return the exit status."""
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
    if notice:
        from ..core._numba import notify_first_compile

        notify_first_compile(_compiling)
    try:
        return _run(args)
    finally:
        if notice:
            notify_first_compile(None)


def _run(args):
    """The command's function; user errors become one line on stderr and an exit code."""
    try:
        return int(args.func(args) or 0)
    except DopplerflowError as e:
        print(f"dopplerflow: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("\ndopplerflow: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:
        # files the user named that cannot be written (permissions, full disk)
        print(f"dopplerflow: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "),
              file=sys.stderr)
        return 1
