"""``dopplerflow replay FILE``: stream a file through the live path, block by block."""

from .common import (
    add_analysis_arguments,
    add_output_arguments,
    add_sidecar_argument,
    check_outputs,
    finish_outputs,
    mark_sidecar,
    output_to_stdout,
    recording_settings_from_args,
    spectrogram_wanted,
    trace_wanted,
)

__all__ = ["add_arguments", "main"]


def add_arguments(parser):
    """Flags of ``dopplerflow replay``."""
    parser.add_argument("file", help="recording to replay")
    add_analysis_arguments(parser)
    add_sidecar_argument(parser)
    add_output_arguments(parser)
    g = parser.add_argument_group("replay")
    g.add_argument("--block-size", type=int, default=4096, metavar="N",
                   help="frames per block (default 4096)")
    g.add_argument("--realtime", action="store_true", help="pace blocks in real time")
    g.add_argument("--jitter-ms", type=float, default=0.0, metavar="J",
                   help="random timing jitter per block, 0 to 1000 ms")
    g.add_argument("--drop-every", type=int, default=0, metavar="K",
                   help="drop every K-th block, a gap in the stream (default 0: none; 1 drops "
                        "every block)")
    g.add_argument("--seed", type=int, default=0, help="seed of the jitter (default 0)")


def main(args):
    """Run ``dopplerflow replay``; return the exit code."""
    from ..live.replay import replay
    from ..live.status import format_event

    settings, sidecar = recording_settings_from_args(args, args.file)
    check_outputs(args)

    def show(ev):
        # the event lines of a live session, every kind of event
        if not args.quiet and not output_to_stdout(args):
            print(format_event(ev), flush=True)

    analysis = replay(args.file, settings, block_size=args.block_size, realtime=args.realtime,
                      jitter_ms=args.jitter_ms, drop_every=args.drop_every, seed=args.seed,
                      on_event=show, keep_spectrogram=spectrogram_wanted(args),
                      keep_trace=trace_wanted(args))
    mark_sidecar(analysis, sidecar)
    finish_outputs(analysis, args)
    return 0
