"""``dopplerflow batch PATH... -o results.csv``: many recordings, one table.

The work is :func:`dopplerflow.study.batch.run_batch`; this module only turns the
command line into its arguments and reports on stderr.
"""

import sys

from ..errors import SettingsError
from . import EXIT_TERMINATED, Terminated, terminated
from .common import CountProgress, add_analysis_arguments, assumed_geometry, settings_from_args

__all__ = ["add_arguments", "main", "Terminated"]


def _jobs(text):
    import argparse

    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of processes")
    return n


def add_arguments(parser):
    """Flags of ``dopplerflow batch`` (the analysis flags are the defaults of every
    recording)."""
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="audio files, folders (searched recursively) or glob patterns "
                             "such as 'data/**/*.flac'")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="the table: .csv, or .parquet (needs pyarrow)")
    parser.add_argument("--json-dir", metavar="DIR",
                        help="also write each recording's full result as JSON there")
    parser.add_argument("--beats-dir", metavar="DIR",
                        help="also write each recording's per-beat values as CSV there (the "
                             "columns of analyze --beats-csv)")
    parser.add_argument("--settings", metavar="TABLE.csv",
                        help="per-recording settings: a CSV with a 'file' column and one "
                             "column per setting (see docs/batch.md)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the rows already in OUT and analyse only the recordings "
                             "missing there (or that failed, or whose settings or file "
                             "changed, or whose JSON or beats file is missing)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace OUT if it exists (without --overwrite or --resume an "
                             "existing OUT is refused: it may hold a study's results)")
    run = parser.add_argument_group("where the work runs")
    run.add_argument("-j", "--jobs", type=_jobs, metavar="N",
                     help="worker processes (default: all cores)")
    run.add_argument("--dask", metavar="ADDRESS",
                     help="send the work to a Dask scheduler (e.g. tcp://10.0.0.5:8786); "
                          "needs dopplerflow[dask]")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress and no closing line (warnings and errors are "
                             "still shown)")
    add_analysis_arguments(parser)


def main(args):
    """Run ``dopplerflow batch``; return the exit code."""
    from ..study.batch import run_batch

    if args.dask and args.jobs:
        raise SettingsError("--jobs sets the local processes; with --dask the cluster's "
                            "workers do the work: give one of the two")
    settings = settings_from_args(args)
    progress = None if args.quiet else CountProgress("batch")

    def warn(message):  # warnings show with -q too: -q silences the progress only
        if progress:
            progress.close()
        print(f"dopplerflow: warning: {message}", file=sys.stderr)

    try:
        # SIGTERM raises Terminated here, as the command line's handler has it do
        summary = run_batch(args.paths, args.output, settings=settings,
                            table_path=args.settings, jobs=args.jobs, dask=args.dask,
                            json_dir=args.json_dir, beats_dir=args.beats_dir,
                            resume=args.resume, overwrite=args.overwrite,
                            assumed_geometry=assumed_geometry(args),
                            progress=progress,
                            on_empty=lambda path: warn(f"{path} holds no recordings"),
                            on_warning=warn)
    except KeyboardInterrupt as e:
        if progress:
            progress.close()
        ended = terminated(e)
        how = "terminated (SIGTERM)" if ended else "interrupted"
        print(f"dopplerflow: {how}; the rows done so far are in {args.output}: run again "
              f"with --resume to go on", file=sys.stderr)
        return EXIT_TERMINATED if ended else 130
    if progress:
        progress.close()
    if summary.found and summary.errors == summary.found:
        # the table is written, but it holds no result: the run failed (one line, no
        # closing line that would count the recordings "analysed")
        print(f"dopplerflow: no recording could be analysed ({summary.first_error}; "
              f"each row of {summary.output} gives its error)", file=sys.stderr)
        return 1
    if not args.quiet:
        kept = (f" ({summary.analysed} analysed now, {summary.skipped} kept from before)"
                if summary.skipped else "")
        print(f"dopplerflow: {summary.output}: {summary.found} recording(s), "
              f"{summary.found - summary.errors} with a result, {summary.errors} with an "
              f"error{kept}", file=sys.stderr)
    return 0
