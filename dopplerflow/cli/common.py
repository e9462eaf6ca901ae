"""What the commands share: argument groups, settings from flags, outputs, the summary.

Every command of :mod:`dopplerflow.cli` builds on these: :func:`add_analysis_arguments`
and :func:`settings_from_args` turn the shared flags into a
:class:`~dopplerflow.core.Settings`; :func:`check_outputs` refuses an output that cannot
be written before any analysis; :func:`write_outputs` (every output that can be
written, whatever fails) and :func:`print_summary` show the result.
"""

import argparse
import json
import math
import os
import sys
import time

from .. import __version__
from ..core import verdict
from ..core.io import display_name
from ..core.layouts import LAYOUT_CHOICES
from ..core.vessels import VESSELS
from ..errors import AudioFileError, DopplerflowError, SettingsError
from ..figures.units import tidy

__all__ = ["ArgumentParser", "add_analysis_arguments", "settings_from_args",
           "check_layout_options",
           "add_output_arguments", "trace_wanted", "output_to_stdout", "STDOUT_OUTPUTS",
           "check_outputs", "write_outputs", "write_each", "table_jobs",
           "finish_outputs", "mark_assumed_geometry",
           "check_writable", "print_summary", "beat_lines", "tidy", "Progress", "CountProgress",
           "positive_float"]


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _channels(text):
    try:
        chans = tuple(int(c) for c in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a list of channel numbers (e.g. 1,2)") from None
    if not chans or any(c < 1 for c in chans):
        raise argparse.ArgumentTypeError(f"'{text}': channels are numbered from 1")
    return chans


def positive_int(text):
    """argparse type: a whole number above 0."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return v


def whole_hz(text):
    """argparse type: a sample rate, a whole number of Hz above 0 (a recording's header
    holds whole Hz)."""
    v = positive_float(text)
    if not v.is_integer():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of Hz")
    return v


def positive_float(text):
    """argparse type: a finite number above 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not v > 0 or not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return v


def _mains(text):
    """argparse type of --hum: a mains frequency, 50 or 60 Hz."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value not in (50.0, 60.0):
        raise argparse.ArgumentTypeError(f"mains frequency {text!r} is not 50 or 60 (Hz)")
    return value


def _finite(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
    return v


def clock_seconds(text):
    """Seconds of ``"90"``, ``"1:30"``, ``"1:00:30"`` or ``"90.5"`` ([h:]m:s, the seconds
    possibly fractional); ValueError for anything else."""
    parts = text.strip().split(":")
    if len(parts) > 3 or any(not p.strip() for p in parts):
        raise ValueError(text)
    *whole, sec = parts
    value = float(sec)
    if whole and not 0 <= value < 60:
        raise ValueError(text)
    for i, p in enumerate(reversed(whole)):
        n = int(p)
        if n < 0 or (i == 0 and len(whole) == 2 and n >= 60):
            raise ValueError(text)
        value += n * 60 ** (i + 1)
    return value


def _span(text):
    """``--plot-span START,END``: two times, seconds or [h:]m:s, ``0 <= START < END``
    (:func:`~dopplerflow.core.sonogram.check_span`)."""
    from ..core.sonogram import check_span

    try:
        start, end = (clock_seconds(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not START,END in seconds or [h:]m:s "
                                         f"(e.g. 60,90 or 1:00:00,1:01:00)") from None
    try:
        return check_span((start, end))
    except SettingsError:
        raise argparse.ArgumentTypeError(f"'{text}' must be START,END with 0 <= START < END "
                                         f"(e.g. 60,90 or 1:00:00,1:01:00)") from None


def add_span_argument(group):
    """``--plot-span``, for the commands that draw the analysis figure."""
    group.add_argument("--plot-span", type=_span, metavar="START,END",
                       help="draw START to END of the recording alone (seconds, or "
                            "[h:]m:s), every frame of a span up to 41 s (the analysis and its "
                            "verdicts cover the whole file)")


def add_analysis_arguments(parser, layout="auto"):
    """Add the flags every analysing command shares: input layout, geometry, reflux rule
    and spectral analysis (the fields of :class:`~dopplerflow.core.Settings`).

    ``layout`` is the default of ``--layout``: ``auto`` for the commands that read a
    recording, ``iq`` for live input (which is analysed as it arrives).
    """
    g = parser.add_argument_group("input layout")
    if layout == "auto":
        shown = LAYOUT_CHOICES
        text = ("channel layout: iq, qi, toward-away, away-toward, mono, offset, or auto, "
                "chosen from what the channels hold (default auto)")
    else:  # a stream analysed as it arrives has no auto (refused, saying why)
        shown = tuple(c for c in LAYOUT_CHOICES if c != "auto")
        text = (f"channel layout: iq, qi, toward-away, away-toward, mono or offset (default "
                f"{layout}: left I, right Q; mono when --channels names one channel or the "
                f"device has one)")
    # (defaults None: a flag not given leaves the setting as a recording's sidecar or the
    # defaults set it, settings_from_args)
    g.add_argument("--layout", choices=LAYOUT_CHOICES, default=None, help=text,
                   metavar="{" + ",".join(shown) + "}")
    g.add_argument("--invert", action="store_true",
                   help="swap toward/away (opposite quadrature convention)")
    g.add_argument("--offset-hz", type=_finite, metavar="HZ",
                   help="zero-velocity frequency of the 'offset' layout")
    g.add_argument("--channels", type=_channels, metavar="N[,M]",
                   help="channel numbers to use from an input with more channels (a file's "
                        "or a device's; from 1)")
    g = parser.add_argument_group("geometry")
    g.add_argument("--carrier-mhz", type=_finite, default=None, metavar="MHZ",
                   help="probe transmit frequency (default 8, marked as such in the outputs)")
    g.add_argument("--angle", type=_finite, default=None, metavar="DEG",
                   help="beam-to-flow angle in degrees, [0, 90) (default 60, marked as such "
                        "in the outputs)")
    g.add_argument("--sound-speed", type=_finite, default=None, metavar="M_S",
                   help="speed of sound in m/s (default 1540)")
    g = parser.add_argument_group("reflux")
    g.add_argument("--vessel", choices=tuple(VESSELS),
                   help="vessel preset that sets the reflux threshold")
    g.add_argument("--reflux-threshold", type=_finite, metavar="S",
                   help="reflux threshold in seconds (overrides --vessel)")
    g.add_argument("--antegrade", choices=("toward", "away", "auto"), default=None,
                   help="normal flow direction relative to the probe (default auto)")
    g = parser.add_argument_group("spectral analysis")
    g.add_argument("--window-ms", type=_finite, default=None, metavar="MS",
                   help="STFT window (default 10; 20 for the slow-flow veins "
                        "vv, dcv, calf and perforator)")
    g.add_argument("--hop-ms", type=_finite, default=None, metavar="MS",
                   help="STFT hop (default 5)")
    g.add_argument("--wall-hz", type=_finite, default=None, metavar="HZ",
                   help="wall filter cut-off (default 80)")
    g.add_argument("--envelope", choices=("threshold", "geometric"), default=None,
                   help="maximum-frequency estimator (default threshold, the more accurate "
                        "on the simulator's scenarios)")
    g.add_argument("--average-frames", type=int, choices=(3, 1), default=None,
                   help="frames averaged in the spectrum: 3 (default, better at low SNR) or 1 "
                        "(one hop less latency)")
    g.add_argument("--hum", type=_mains, default=None, metavar="HZ",
                   help="remove mains hum of 50 or 60 Hz and its harmonics (a ground loop "
                        "between the probe, sound card and computer)")


def check_layout_options(layout, *, offset_hz=None, invert=False, antegrade="auto",
                         offset_needed=True):
    """Refuse layout options that the layout does not have, or lacks, in one line.

    ``--layout offset`` needs ``--offset-hz`` (unless ``offset_needed`` is False: the
    simulator has a default); ``--offset-hz`` means something only with ``--layout
    offset``; a mono recording has no direction to ``--invert`` or to call antegrade.

    Raises
    ------
    SettingsError
        Usage error (exit status 2); the message says what to give or leave out.
    """
    if layout == "offset" and offset_hz is None and offset_needed:
        raise SettingsError("layout 'offset' needs --offset-hz HZ, the audio frequency of "
                            "zero velocity (the heterodyne offset, e.g. --offset-hz 2000)")
    if layout != "offset" and offset_hz is not None:
        raise SettingsError(f"--offset-hz applies to --layout offset only, not to layout "
                            f"'{layout}'; add --layout offset or leave --offset-hz out")
    if layout == "mono" and invert:
        raise SettingsError("--invert swaps toward and away, and a mono recording has no "
                            "direction; leave --invert out")
    if layout == "mono" and antegrade not in (None, "auto"):
        raise SettingsError(f"--antegrade {antegrade}: a mono recording has no flow "
                            f"direction; leave --antegrade out (or record I/Q or "
                            f"toward/away channels)")


def flags_given(args):
    """The :class:`~dopplerflow.Settings` fields the shared analysis flags give, in the
    settings' units (a flag not given is None, ``--invert`` False: it leaves its field)."""
    given = dict(layout=args.layout, offset_hz=args.offset_hz, channels=args.channels,
                 window_s=None if args.window_ms is None else args.window_ms / 1e3,
                 hop_s=None if args.hop_ms is None else args.hop_ms / 1e3,
                 wall_hz=args.wall_hz,
                 carrier_hz=None if args.carrier_mhz is None else args.carrier_mhz * 1e6,
                 angle_deg=args.angle, sound_speed_m_s=args.sound_speed, vessel=args.vessel,
                 reflux_threshold_s=args.reflux_threshold, antegrade=args.antegrade,
                 envelope=args.envelope, average_frames=args.average_frames, hum_hz=args.hum,
                 invert=True if args.invert else None)
    return {k: v for k, v in given.items() if v is not None}


def settings_from_args(args, base=None):
    """Build :class:`dopplerflow.Settings` from the shared analysis flags: ``base`` (default
    :func:`~dopplerflow.core.settings.recording_settings`, the layout ``auto``) with the
    fields the flags give (:func:`flags_given`).

    Raises
    ------
    SettingsError
        A flag is out of range, or lacks the flag it depends on
        (:func:`check_layout_options`).
    """
    from ..core.settings import recording_settings

    settings = (recording_settings() if base is None else base).replace(**flags_given(args))
    check_layout_options(settings.layout, offset_hz=settings.offset_hz,
                         invert=settings.invert, antegrade=settings.antegrade)
    settings.validate()
    return settings


def add_sidecar_argument(parser):
    """``--no-sidecar``, for the commands that analyse one recording
    (:func:`recording_settings_from_args`)."""
    parser.add_argument("--no-sidecar", action="store_true",
                        help="do not read the recording's sidecar (REC.dopplerflow.toml or "
                             ".json beside it: settings, as in batch)")


def recording_settings_from_args(args, path):
    """The settings of one recording (``analyze``, ``report``, ``replay``): its sidecar's
    (``rec.dopplerflow.toml`` or ``.json`` beside it, as :mod:`~dopplerflow.study.batch`
    reads it; none with ``--no-sidecar``) over the defaults, and the flags given over both.

    Returns
    -------
    settings : Settings
    sidecar : dict or None
        ``file`` (the sidecar's name) and ``fields`` (the settings it sets that no flag
        gives, in :class:`Settings`' order), for :func:`mark_sidecar`; None without one.

    Raises
    ------
    SettingsError
        A flag or the sidecar's value out of range, a sidecar that cannot be read, two
        sidecars.
    """
    from ..core.settings import SETTINGS_FIELDS, recording_settings
    from ..study import recsettings

    base, sidecar = recording_settings(), None
    where = None if args.no_sidecar else recsettings.sidecar_path(path)
    if where is not None:
        base, fields, _ = recsettings.apply_sidecar(base, where)
        given = flags_given(args)
        sidecar = {"file": os.path.basename(where),
                   "fields": [f for f in SETTINGS_FIELDS if f in fields and f not in given]}
    return settings_from_args(args, base), sidecar


def mark_sidecar(analysis, sidecar):
    """Record in ``analysis`` (the JSON's ``sidecar``) the sidecar read and the settings it
    set (:func:`recording_settings_from_args`)."""
    if sidecar is not None:
        analysis.extra["sidecar"] = sidecar


def add_output_arguments(parser):
    """Flags for writing an analysis (shared by analyze and replay)."""
    g = parser.add_argument_group("output")
    g.add_argument("--json", metavar="OUT", help="write the result as JSON ('-' for stdout)")
    g.add_argument("--trace-json", action="store_true",
                   help="include the per-frame trace in the JSON")
    g.add_argument("--csv", metavar="OUT",
                   help="write the per-frame trace as CSV ('-' for stdout)")
    g.add_argument("--beats-csv", metavar="OUT",
                   help="write the beats as CSV: one line per beat (onset, interval, PSV, "
                        "EDV, RI, PI, ...) ('-' for stdout)")
    g.add_argument("--plot", metavar="FILE", help="write sonogram + trace (.png, .svg, .pdf)")
    add_span_argument(g)
    g.add_argument("-q", "--quiet", action="store_true", help="no summary on the terminal")


#: The outputs of an analysing command that may go to standard output (``-``), one at a time.
STDOUT_OUTPUTS = ("--json", "--csv", "--beats-csv")


def output_to_stdout(args):
    """Whether one of the outputs goes to standard output (``-``): the terminal summary and
    the event lines are then left out, so that stdout holds that output alone."""
    return "-" in (args.json, args.csv, getattr(args, "beats_csv", None))


def spectrogram_wanted(args):
    """What an analysing command keeps of the spectra for its figure: False without
    ``--plot``, the ``--plot-span`` span, or True (all)."""
    if not getattr(args, "plot", None):
        return False
    return getattr(args, "plot_span", None) or True


def trace_wanted(args):
    """Whether the outputs asked for need the per-frame trace (else memory stays flat)."""
    return bool(args.csv or args.trace_json or getattr(args, "plot", None))


def check_outputs(args):
    """Fail before any analysis if an output would overwrite the recording or another
    output, or cannot be written (:func:`~dopplerflow.cli.paths.check_paths`), or if an
    output flag lacks the flag it adds to (``--trace-json`` without ``--json``)."""
    from .paths import check_paths

    if args.trace_json and not args.json:
        raise SettingsError("--trace-json adds the per-frame trace to the JSON; give "
                            "--json OUT too (or --csv OUT for the trace alone)")
    if getattr(args, "plot_span", None) and not getattr(args, "plot", None):
        raise SettingsError("--plot-span chooses the span the figure draws; give --plot FILE "
                            "too")
    plot = getattr(args, "plot", None)
    check_paths([("the recording", args.file)],
                [("--json", args.json), ("--csv", args.csv),
                 ("--beats-csv", getattr(args, "beats_csv", None)), ("--plot", plot)],
                stdout=STDOUT_OUTPUTS)
    if getattr(args, "plot", None):
        from ..figures import plots

        plots.check_format(args.plot)
    check_span_starts_in(args)


def check_span_starts_in(args):
    """Refuse a ``--plot-span`` that starts after the end of the recording its header
    states, before the analysis (a file that delivers less, damaged or cut, is refused by
    the figure after it; an unfinished WAV's length is read to the file's end)."""
    span = getattr(args, "plot_span", None)
    if not span:
        return
    from ..core.io import open_audio

    info = open_audio(args.file)
    if info.length_known and span[0] >= info.duration_s:
        raise SettingsError(f"--plot-span {span[0]:g},{span[1]:g} starts after the "
                            f"recording's end ({info.duration_s:.2f} s); give a span "
                            f"within it")


def write_outputs(analysis, args):
    """Write the JSON, the CSV of the trace and of the beats, and the plot an analysing
    command was asked for: each that can be written (:func:`write_each`).

    The paths were checked by :func:`check_outputs` before the analysis.

    Raises
    ------
    AudioFileError
        One output or more could not be written (the others were).
    """
    from ..core import io

    jobs = []
    if args.json == "-":
        jobs.append(("--json", lambda: _json_to_stdout(analysis, args.trace_json)))
    elif args.json:
        jobs.append(("--json", lambda: io.write_json(analysis, args.json,
                                                      trace=args.trace_json)))
    jobs += table_jobs(analysis, args)
    if getattr(args, "plot", None):
        from ..figures import plots

        jobs.append(("--plot", lambda: plots.save_analysis_figure(analysis, args.plot,
                                                                  span=args.plot_span)))
    write_each(jobs)


def _json_to_stdout(analysis, trace):
    json.dump(analysis.to_dict(trace=trace), sys.stdout, indent=2)
    sys.stdout.write("\n")


def table_jobs(analysis, args):
    """The jobs of :func:`write_each` that write the CSV of the trace and of the beats."""
    from ..core import io

    jobs = []
    if args.csv:
        jobs.append(("--csv", lambda: io.write_csv(
            analysis, sys.stdout if args.csv == "-" else args.csv)))
    if getattr(args, "beats_csv", None):
        from ..core.beats import write_beats_csv

        jobs.append(("--beats-csv", lambda: write_beats_csv(
            analysis, sys.stdout if args.beats_csv == "-" else args.beats_csv)))
    return jobs


def write_each(jobs):
    """Run every writer of ``jobs``, whatever fails: an output that cannot be written
    keeps no other from being written.

    Parameters
    ----------
    jobs : list of (str, callable)
        Each output's option (``"--json"``) and the function that writes it.

    Raises
    ------
    AudioFileError
        One line naming every output that failed, and why, and the outputs that
        were written.  A broken pipe (standard output closed) is raised as it is.
    """
    failed, written = [], []
    for flag, write in jobs:
        try:
            write()
        except BrokenPipeError:
            raise
        except DopplerflowError as exc:  # it names the file
            failed.append(str(exc))
        except OSError as exc:
            failed.append(f"cannot write {exc.filename or flag}: {exc.strerror or exc}")
        else:
            written.append(flag)
    if failed:
        rest = f"; the other outputs ({', '.join(written)}) were written" if written else ""
        raise AudioFileError("; ".join(failed) + rest)


def assumed_geometry(args):
    """The geometry settings the command line was not given (the carrier and the angle
    left at their defaults), as the settings' fields."""
    return [field for field, dest in (("carrier_hz", "carrier_mhz"), ("angle_deg", "angle"))
            if getattr(args, dest, None) is None]


def mark_assumed_geometry(analysis, args):
    """Record in ``analysis`` (the JSON's ``geometry_assumed``) the geometry settings
    neither the command line (:func:`assumed_geometry`) nor the recording's sidecar (the
    JSON's ``sidecar``: :func:`mark_sidecar` first) gave."""
    by_sidecar = (analysis.extra.get("sidecar") or {}).get("fields", ())
    assumed = [f for f in assumed_geometry(args) if f not in by_sidecar]
    if assumed:
        analysis.extra["geometry_assumed"] = assumed


def finish_outputs(analysis, args):
    """Write the outputs of an analysing command (:func:`write_outputs`), then print its
    summary, unless ``--quiet`` or an output goes to standard output, even if an output
    could not be written; then raise that failure."""
    mark_assumed_geometry(analysis, args)
    failure = None
    try:
        write_outputs(analysis, args)
    except DopplerflowError as exc:
        failure = exc
    if not args.quiet and not output_to_stdout(args):
        print_summary(analysis)
    if failure is not None:
        raise failure


def check_writable(path, flag="the output"):
    """Raise a one-line error if ``path`` cannot be written as a file."""
    from .paths import check_paths

    check_paths([], [(flag, path)])


def print_summary(analysis, file=None):
    """Print a readable summary table of an analysis."""
    out = file or sys.stdout
    a = analysis
    s = a.settings
    p = lambda *x: print(*x, file=out)  # noqa: E731
    p(f"dopplerflow {__version__}: {display_name(a.file) if a.file else 'audio'}")
    p(f"  audio       {verdict.length_phrase(a)}, {tidy(a.sample_rate_hz, 1)} Hz, "
      f"{a.n_channels} channel(s), layout {s.layout}{' (inverted)' if s.invert else ''}")
    chosen = verdict.layout_phrase(a)
    if chosen:
        p(f"  layout      {chosen}")
    sidecar = verdict.sidecar_phrase(a)
    if sidecar:
        p(f"  settings    {sidecar}")
    p(f"  geometry    {tidy(s.carrier_hz / 1e6, 3)} MHz{verdict.default_mark(a, 'carrier_hz')}, "
      f"{tidy(s.angle_deg, 1)} deg{verdict.default_mark(a, 'angle_deg')}, c = "
      f"{tidy(s.sound_speed_m_s, 0)} m/s; 1 kHz shift = {1000 * a.velocity_per_hz_cm_s:.1f} cm/s")
    sm = a.summary
    if sm.window_s:
        floor = (f"; slowest flow seen {a.velocity_floor_cm_s:.1f} cm/s"
                 if a.velocity_floor_cm_s is not None else "")
        p(f"  spectrum    {tidy(1e3 * sm.window_s, 1)} ms window, {tidy(1e3 * sm.hop_s, 1)} ms "
          f"hop: bins of {sm.bin_hz:.4g} Hz = {sm.velocity_resolution_cm_s:.2f} cm/s{floor}")
    hum = a.hum
    if hum:
        levels = ", ".join("-" if v is None else f"{v:.0f}" for v in hum["level_dbfs"])
        p(f"  hum         removed: {tidy(hum['mains_hz'], 0)} Hz mains, followed at "
          f"{hum['frequency_hz']:.3f} Hz; {levels} dBFS at the end")
    p(f"  vessel      {verdict.vessel_phrase(s, a.direction_available)}")
    if a.direction_available and a.antegrade is None:
        why = "no flow to tell it by" if a.flow_detected is False else verdict.flow_unassessed(a)
        p(f"  antegrade   not known: {why}")
    elif a.direction_available:
        how = {"auto": "chosen: more time-integrated flow", "given": "given"}[a.antegrade_source]
        where = verdict.PROBE_WORDS[a.antegrade]
        p(f"  antegrade   {where} ({how})")
    if a.flow_detected:
        retro = sm.peak_retrograde_velocity_cm_s
        extra = f", peak retrograde {retro:.1f} cm/s" if retro is not None else ""
        p(f"  flow        detected in {100 * sm.flow_fraction:.0f}% of frames; peak "
          f"{'antegrade' if a.direction_available else 'speed'} "
          f"{sm.peak_antegrade_velocity_cm_s:.1f} cm/s{extra}")
    else:
        p(f"  flow        {verdict.flow_phrase(a)}")
    p(f"  reflux      {verdict.reflux_phrase(a)}")
    for name, text in beat_lines(a):
        p(f"  {name:<11} {text}")
    _event_table(p, "reflux events", a.reflux_events)
    _event_table(p, "shorter retrograde episodes", a.episodes)
    for w in a.warnings:
        p(f"  warning     {w}")


#: The recording's indices as the summary names them: (key of the beats summary, label,
#: unit, decimals).
_INDICES = (("psv_cm_s", "PSV", " cm/s", 1), ("edv_cm_s", "EDV", " cm/s", 1),
            ("tamv_cm_s", "TAMV", " cm/s", 1), ("ri", "RI", "", 2), ("pi", "PI", "", 2),
            ("sd_ratio", "S/D", "", 1), ("acceleration_time_s", "acceleration", " s", 3))


def beat_lines(analysis):
    """The summary's lines on the beats: ``[(name, text), ...]``, empty when there is no
    flow to read them on.

    ``heart rate``: the median rate and its interquartile range over the clean beats
    (or why there is none: too few clean beats, or no regular pulse in the flow), the
    beats found (clean, rejected, and cut by the end), and the signal they were read
    on.  ``indices``: the medians over the clean beats (mono: of the speed), the
    commonest waveform and the reverse-flow share.  ``breathing``: for veins, the
    respiratory phasicity (with or without a pulse).
    """
    b = analysis.beats
    if b is None:
        return []
    s = b.summary
    out = []
    if len(b):
        out += _rate_lines(b)
    elif analysis.flow_detected:
        out.append(("heart rate", f"not measured: {verdict.no_pulse_reason(analysis)}"))
    resp = s.get("respiratory_phasicity")
    if resp:
        out.append(("breathing", f"respiratory phasicity {resp['call']} (peak-to-peak modulation "
                                 f"{tidy(100 * resp['modulation'], 0)}% of the mean)"))
    return out


def _rate_lines(b):
    """:func:`beat_lines`' ``heart rate`` and ``indices`` lines of beats ``b`` (found)."""
    from ..core.beats.constants import GOOD_PERIODICITY

    s = b.summary
    on = {"max_envelope": "the maximum velocity", "band_power": "the band power"}[b.signal]
    # a pulse less regular than a clear one's is said to be weak, with its periodicity
    q = s["periodicity"]
    weak = f" (a weak pulse: periodicity {q:.2f})" if q < GOOD_PERIODICITY else ""
    count = f"{verdict.beat_count(b)}, read on {on}{weak}"
    if s["heart_rate_bpm"] is None:
        return [("heart rate", f"not measured: {verdict.no_rate_reason(b)}; {count}")]
    out = [("heart rate", f"{tidy(s['heart_rate_bpm'], 1)} beats/min (IQR "
                          f"{tidy(s['heart_rate_iqr_bpm'], 1)}); {count}")]
    parts = [f"{label} {tidy(s[key], d)}{unit}" for key, label, unit, d in _INDICES
             if s.get(key) is not None]
    if s.get("phasicity"):
        parts.append(s["phasicity"])
    if s.get("reverse_flow_share") is not None:
        parts.append(f"reverse flow {tidy(100 * s['reverse_flow_share'], 0)}%")
    out.append(("indices", ", ".join(parts) + " (medians over the clean beats)"))
    return out


#: Most rows of an event table in the summary; a long recording's others are counted.
MAX_EVENT_ROWS = 20


def _event_table(p, title, events):
    """The summary's table of ``events``: the first :data:`MAX_EVENT_ROWS` (a long
    recording's hundreds would push the warnings off the screen), and a line that counts
    the rest and says where they all are."""
    if not events:
        return
    p(f"  {title}:")
    p("      #   start s     end s  duration s  peak cm/s  mean cm/s")
    for i, e in enumerate(events[:MAX_EVENT_ROWS], 1):
        marks = ("  (gap)" if e.affected_by_gap else "") + (
            "  (cut by the end: at least)" if e.cut_by_end else "")
        p(f"    {i:3d}  {e.start_s:8.3f}  {e.end_s:8.3f}  {e.duration_s:10.3f}  "
          f"{e.peak_velocity_cm_s:9.1f}  {e.mean_velocity_cm_s:9.1f}{marks}")
    rest = events[MAX_EVENT_ROWS:]
    if rest:
        longest = max(rest, key=lambda e: e.duration_s)
        p(f"    ... and {len(rest)} more, to {rest[-1].end_s:.3f} s (the longest of them "
          f"{longest.duration_s:.3f} s, from {longest.start_s:.3f} s); every one is in "
          f"the JSON (--json) and the report")


#: Least interval between two progress lines in a log (stderr not a terminal), s.
LOG_INTERVAL_S = 5.0
#: A run shorter than this draws no progress bar on a terminal, s.
BAR_DELAY_S = 0.5


def _clock_time(seconds):
    """``"42 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """How far a long run has got, on stderr: one implementation for every command.

    Called with the fraction done (0 to 1).  On a terminal it draws a bar
    rewritten in place (``\\r``) and erased at the end.  Anywhere else (a log
    file, a pipe, CI) it writes a line at most every :data:`LOG_INTERVAL_S`
    seconds, ``"evaluate: 37% done, 1 min 10 s elapsed, about 2 min 00 s left"``,
    and a last one at 100% if it wrote any.  A run that ends sooner than the
    first bar or line (:data:`BAR_DELAY_S`, :data:`LOG_INTERVAL_S`) shows nothing.

    Parameters
    ----------
    label : str
        What is running (a command, a file name).
    stream : file, optional
        Default: ``sys.stderr`` at the time of the call.
    interval_s : float
        Least interval between two log lines, s.
    clock : callable
        Seconds from an arbitrary origin (tests pass their own).
    """

    def __init__(self, label, stream=None, *, interval_s=LOG_INTERVAL_S, clock=time.monotonic):
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = float(interval_s)
        self.clock = clock
        self.start = clock()
        self.last = -1
        self._drawn = False
        self._next_line = self.start + self.interval_s

    def __call__(self, fraction):
        pct = int(100 * min(max(fraction, 0.0), 1.0))
        if pct == self.last:
            return
        self.last = pct
        now = self.clock()
        if self.tty:
            self._bar(pct, now)
        elif now >= self._next_line or (pct >= 100 and self._drawn):
            self._line(pct, now)

    def _bar(self, pct, now):
        if not self._drawn and now - self.start < BAR_DELAY_S:
            return
        width = len(self.label) + 35
        if pct >= 100:
            if self._drawn:
                self.stream.write("\r" + " " * width + "\r")
        else:
            self.stream.write(f"\r{self.label} [{'#' * (pct // 4):<25}] {pct:3d}%")
            self._drawn = True
        self.stream.flush()

    def _line(self, pct, now):
        elapsed = now - self.start
        text = f"{self.label}: {pct}% done, {_clock_time(elapsed)} elapsed"
        if 0 < pct < 100:
            text += f", about {_clock_time(elapsed * (100 - pct) / pct)} left"
        self.stream.write(text + "\n")
        self.stream.flush()
        self._drawn = True
        self._next_line = now + self.interval_s


def _duration(seconds):
    """``"42 s"``, ``"3 min 05 s"`` or ``"2 h 07 min"``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s // 60 % 60:02d} min"


class CountProgress:
    """Progress of a run over many items, on stderr, with the time left.

    On a terminal, a bar redrawn in place; otherwise (a log file, a batch system) one
    line every ``every_s`` seconds and one at the end.  Call it as
    ``progress(done, total, errors)``; :meth:`close` ends the bar's line.

    The time left is the time taken so far per item done, times the items left.
    """

    def __init__(self, label, *, stream=None, every_s=5.0, tty=None, clock=time.monotonic):
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every_s = every_s
        self.clock = clock
        self.start = clock()
        self.last = None
        self.drawn = False

    def text(self, done, total, errors):
        """The progress as one line (no bar)."""
        elapsed = self.clock() - self.start
        left = (f", about {_duration(elapsed / done * (total - done))} left"
                if 0 < done < total else "")
        err = f", {errors} error{'s' if errors != 1 else ''}" if errors else ""
        return f"{done}/{total} done{err}, {_duration(elapsed)} elapsed{left}"

    def __call__(self, done, total, errors=0):
        now = self.clock()
        if self.tty:
            if done < total and self.last is not None and now - self.last < 0.1:
                return  # at most ten redraws a second
            self.last = now
            frac = done / total if total else 1.0
            bar = "#" * int(25 * frac)
            self.stream.write(f"\r{self.label} [{bar:<25}] {self.text(done, total, errors)}"
                              "\033[K")
            self.drawn = True
        elif done >= total or self.last is None or now - self.last >= self.every_s:
            self.stream.write(f"{self.label}: {self.text(done, total, errors)}\n")
            self.last = now
        self.stream.flush()

    def close(self):
        """End the bar's line (on a terminal)."""
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
