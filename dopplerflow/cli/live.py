"""``dopplerflow live``: analyse a sound card's input as it arrives, and record it."""

import signal
import sys

from ..errors import DopplerflowError, SettingsError
from ..live.devices import BLOCK_S
from .common import (
    add_analysis_arguments,
    mark_assumed_geometry,
    positive_float,
    positive_int,
    settings_from_args,
    table_jobs,
    tidy,
    whole_hz,
    write_each,
)

__all__ = ["add_arguments", "main"]


def add_arguments(parser):
    """Flags of ``dopplerflow live``, with the shared analysis flags (``--layout`` ...)."""
    add_analysis_arguments(parser, layout="iq")
    # not given: iq, or mono on one channel (_default_layout), as --layout auto reads it
    parser.set_defaults(layout=None)
    parser.add_argument("--device", default=None,
                        help="input device: index or (part of) its name; default: the system "
                             "default input ('dopplerflow devices' lists them)")
    parser.add_argument("--sample-rate", type=whole_hz, default=None, metavar="HZ",
                        help="sample rate, whole Hz (default: the device's default rate)")
    parser.add_argument("--input-channels", type=positive_int, default=None, metavar="N",
                        help="channels to open (default: 2, or 1 for mono/offset layouts)")
    parser.add_argument("--duration", type=positive_float, default=None, metavar="S",
                        help="stop after S seconds of audio (default: until Ctrl-C)")
    parser.add_argument("--record", default=None, metavar="FILE",
                        help="record the input to FILE.flac (24-bit) or FILE.wav (32-bit "
                             "float); a new file: an existing one is refused, never "
                             "overwritten")
    parser.add_argument("--json", default=None, metavar="OUT",
                        help="write the analysis (events, settings, input_overflows) as JSON "
                             "to a file (not '-': the status line uses the terminal)")
    parser.add_argument("--csv", default=None, metavar="OUT", help="write the trace as CSV")
    parser.add_argument("--beats-csv", default=None, metavar="OUT",
                        help="write the beats as CSV, one line per beat")
    parser.add_argument("--plot", action="store_true",
                        help="show a live window (needs a display; refused before the stream "
                             "opens if there is none)")
    parser.add_argument("--block-size", type=int, default=None, metavar="N",
                        help=f"frames per sound-card block, at most 1 s of audio (default: the "
                             f"power of two nearest {1e3 * BLOCK_S:g} ms, 128 at 48 kHz); a "
                             f"stop loses the part of a block not yet delivered")
    parser.add_argument("-q", "--quiet", action="store_true", help="no status line")


def main(args):
    """``dopplerflow live``: stream, print events, write the outputs; return the exit code.

    Ends with exit code 0 after ``--duration`` or Ctrl-C.  A device,
    recording or analysis failure raises :class:`~dopplerflow.live.DeviceError`
    (exit 1) after the recording is closed and the JSON/CSV are written.  An output
    that cannot be written keeps none of the others from being written, and ends
    with exit code 1 after the closing line.
    """
    from ..live.devices import DeviceError
    from ..live.plot import LivePlot, check_gui
    from ..live.session import LiveSession
    from ..live.status import StatusLine

    given = args.layout is not None
    if not given:
        args.layout = _default_layout(args)
    if args.layout == "auto":
        raise SettingsError("--layout auto chooses the layout from a recording before its "
                            "analysis starts; live input is analysed as it arrives, so give "
                            "its layout (its first seconds are checked, and a warning says "
                            "if the layout does not fit)")
    settings = settings_from_args(args)
    _check_outputs(args)
    if args.plot:
        check_gui()
    chosen = None  # why the layout is mono where none was asked for
    if not given and _mono_device(args):
        args.layout = "mono"
        chosen = "the device has one input channel: no flow direction"
        settings = settings_from_args(args)
    # the event lines go through the status line, so that they never share its line
    status = StatusLine(enabled=not args.quiet)
    session = LiveSession(settings, device=args.device, sample_rate_hz=args.sample_rate,
                          channels=args.input_channels, block_size=args.block_size,
                          record_path=args.record, duration_s=args.duration,
                          on_event=status.event, keep_trace=bool(args.csv))
    status.session = session
    plot = None
    if args.plot:
        plot = LivePlot(session)
        session.on_block = plot.feed
    analysis = _run_session(session, plot, status, chosen)
    if analysis is not None:
        mark_assumed_geometry(analysis, args)
    unwritten = None
    try:
        write_each(_output_jobs(analysis, args))
    except DopplerflowError as exc:
        unwritten = exc
    summary = _summary(session, analysis)
    if session.end_reason in ("duration", "stopped"):
        how = "duration reached" if session.end_reason == "duration" else "stopped"
        print(f"dopplerflow live: {how}: {summary}", file=sys.stderr, flush=True)
        if unwritten is not None:
            raise unwritten
        return 0
    saved = ("recording and results up to then were saved" if unwritten is None else
             f"the recording was kept, but {unwritten}")
    raise DeviceError(f"{session.error}; {summary}, {saved}")


def _default_layout(args):
    """The layout of a session given none: ``mono`` where ``--channels`` names one channel
    or ``--input-channels 1`` opens one, as a recording's ``--layout auto`` reads one
    channel; else ``iq`` (:func:`_mono_device` looks at the device once the command line
    is checked)."""
    if args.channels is not None:
        return "mono" if len(args.channels) == 1 else "iq"
    if args.input_channels is not None:
        return "mono" if args.input_channels == 1 else "iq"
    return "iq"


def _mono_device(args):
    """Whether a session given no layout nor channels opens a device with one input
    channel (a mono sound card), read as mono as a recording of one channel is."""
    if args.channels is not None or args.input_channels is not None:
        return False
    from ..live.devices import resolve_device

    return resolve_device(args.device)["max_input_channels"] == 1


def _output_jobs(analysis, args):
    """The writers of the JSON, the trace CSV and the beats CSV (:func:`write_each`)."""
    from ..core import io

    jobs = [("--json", lambda: io.write_json(analysis, args.json))] if args.json else []
    return jobs + table_jobs(analysis, args)


def _summary(session, analysis):
    """The closing line's account: the audio analysed (as the JSON has it), the reflux
    events, the heart rate and the input overflows."""
    seconds = session.frames_recorded / session.sample_rate_hz
    if analysis.reflux_not_assessable == "nothing was analysed":
        what = f"{seconds:.2f} s of audio, none of it analysed, "
    else:
        what = f"{seconds:.2f} s analysed, "
    n = len(analysis.reflux_events)
    hr = analysis.heart_rate_bpm
    return (what + f"{n} reflux event(s), "
            + (f"heart rate {tidy(hr, 1)} beats/min, " if hr is not None else "")
            + f"{session.input_overflows} input overflow(s)")


def _run_session(session, plot, status, chosen=None):
    """Start the session, draw the status line and plot until it ends, close it; the Analysis.
    ``chosen``: why the layout is mono though none was asked for (a mono sound card:
    :func:`_mono_device`), told on the opening line.

    Ctrl-C (and SIGTERM) end the session in order instead of interrupting it.
    """

    told = []  # the layout check's warning, once it is told

    def tick():
        status()
        if plot is not None:
            plot.update()
        if not told:
            _tell_layout(session, status, told)

    def _stop(signum, frame):
        session.stop()

    old = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        session.start()
        # "listening" only once audio flows: sources such as PulseAudio start capturing a
        # few tens of ms after the stream starts
        while session.blocks_received == 0 and not session.wait(timeout_s=0.02):
            pass
        print(f"dopplerflow live: '{session.device_name}' at {session.sample_rate_hz:g} Hz, "
              f"{session.channels} channel(s)"
              + (f", layout {session.settings.layout} ({chosen})" if chosen else "")
              + (f", recording to {session.record_path}" if session.record_path else "")
              + "; Ctrl-C to stop", file=sys.stderr, flush=True)
        session.wait(tick=tick)
    finally:
        try:
            analysis = session.close()
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            status.clear()
            if plot is not None:
                plot.close()
    if not told:  # a session shorter than the check, or one that outran the ticks
        _tell_layout(session, status, told)
    return analysis


def _tell_layout(session, status, told):
    """Once the first seconds are checked: a line on stderr if the layout does not fit the
    channels, and one if toward and away inputs were set to different gains (the JSON's
    ``layout_check`` and warnings say it again at the end).  ``told`` receives the verdict
    once it is known, so that it is told once."""
    verdict = session.processor.layout_result()
    if verdict is None:
        return
    told.append(verdict)
    s = session.settings
    for warning in (verdict.warning(s.layout, s.channels), verdict.gain_warning(s.layout)):
        if warning:
            status.print_line(f"dopplerflow live: warning: {warning}", file=sys.stderr)


def _check_outputs(args):
    """Refuse outputs that clash with each other, and a recording over an existing file: a
    recording is never overwritten."""
    import os

    from .paths import OutputClash, check_paths

    if args.record and os.path.lexists(args.record):
        raise OutputClash(f"--record {args.record} exists; a recording is never overwritten: "
                          f"give a new file name")
    check_paths([], [("--record", args.record), ("--json", args.json), ("--csv", args.csv),
                     ("--beats-csv", args.beats_csv)])
