"""``dopplerflow report FILE``: write a self-contained HTML report of a recording."""

import os

from ..errors import SettingsError
from .common import (
    Progress,
    add_analysis_arguments,
    add_sidecar_argument,
    add_span_argument,
    check_span_starts_in,
    mark_assumed_geometry,
    mark_sidecar,
    recording_settings_from_args,
)
from .paths import check_paths

__all__ = ["add_arguments", "main"]


def add_arguments(parser):
    """Add the flags of ``dopplerflow report`` (the analysis flags included)."""
    parser.add_argument("file", help="audio file (WAV, FLAC, OGG, AIFF, ...)")
    parser.add_argument("-o", "--output", metavar="OUT.html",
                        help="report to write (default: FILE's name with .html, here)")
    parser.add_argument("--title", help="page title (default: the file name)")
    add_span_argument(parser)
    add_analysis_arguments(parser)
    add_sidecar_argument(parser)


def main(args):
    """Run ``dopplerflow report``; return the exit code."""
    from .._first_run import compile_behind
    from ..core import analyze
    from ..figures.report import write_report

    out = args.output or os.path.splitext(os.path.basename(args.file))[0] + ".html"
    if os.path.splitext(out)[1].lower() not in (".html", ".htm"):
        raise SettingsError(f"report '{out}' must be an .html file (e.g. -o report.html)")
    check_paths([("the recording", args.file)], [("-o", out)])
    check_span_starts_in(args)
    settings, sidecar = recording_settings_from_args(args, args.file)
    keep = args.plot_span or True
    compile_behind(args.file, settings, keep_spectrogram=keep)  # a first run interpreted
    analysis = analyze(args.file, settings=settings, keep_spectrogram=keep,
                       progress=Progress(os.path.basename(args.file)))
    mark_sidecar(analysis, sidecar)
    mark_assumed_geometry(analysis, args)
    write_report(analysis, out, title=args.title, span=args.plot_span)
    print(out)
    return 0
