"""``dopplerflow analyze FILE``: analyse a recorded file, print the summary, write the outputs."""

import os

from .common import (
    Progress,
    add_analysis_arguments,
    add_output_arguments,
    add_sidecar_argument,
    check_outputs,
    finish_outputs,
    mark_sidecar,
    recording_settings_from_args,
    spectrogram_wanted,
    trace_wanted,
)

__all__ = ["add_arguments", "main"]


def add_arguments(parser):
    """Flags of ``dopplerflow analyze``."""
    parser.add_argument("file", help="audio file (WAV, FLAC, OGG, AIFF, ...)")
    add_analysis_arguments(parser)
    add_sidecar_argument(parser)
    add_output_arguments(parser)
    parser.add_argument("--block-size", type=int, default=65536, metavar="N",
                        help="frames read per block (default 65536; the result does not "
                             "depend on it)")


def main(args):
    """Run ``dopplerflow analyze``; return the exit code."""
    from .._first_run import compile_behind
    from ..core import analyze

    settings, sidecar = recording_settings_from_args(args, args.file)
    check_outputs(args)
    progress = None if args.quiet else Progress(os.path.basename(args.file))
    keep = {"keep_spectrogram": spectrogram_wanted(args), "keep_trace": trace_wanted(args)}
    compile_behind(args.file, settings, **keep)  # a first run interpreted: for the next runs
    analysis = analyze(args.file, settings=settings, block_size=args.block_size,
                       progress=progress, **keep)
    mark_sidecar(analysis, sidecar)
    finish_outputs(analysis, args)
    return 0
