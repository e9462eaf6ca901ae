"""``dopplerflow score RESULT.json TRUTH.json``: score an analysis against its truth, or
``dopplerflow score RESULT.json MARKS``: its beats against beat marks."""

import json
import math
import os

from ..core.io import atomic_output
from ..errors import AudioFileError, SettingsError
from .paths import check_paths

__all__ = ["add_arguments", "main"]


def add_arguments(parser):
    """Add the flags of ``dopplerflow score`` to an argparse parser."""
    parser.add_argument("result", metavar="RESULT.json", help="analysis JSON (with its trace)")
    parser.add_argument("truth", metavar="TRUTH.json|MARKS",
                        help="truth sidecar of the recording, or beat marks: a JSON list of "
                             "times (or an object with beat_times_s), or a text file with a "
                             "time in seconds at the start of each line (CSV, Audacity labels)")
    parser.add_argument("--json", metavar="OUT", default=None, help="also write the scores here")
    parser.add_argument("--tolerance", type=float, default=0.3, metavar="S",
                        help="event matching widens intervals by this many seconds (0.3)")
    parser.add_argument("--beat-tolerance", type=float, default=0.15, metavar="S",
                        help="a beat found within this many seconds of a mark matches it "
                             "(0.15)")


def main(args):
    """Run ``dopplerflow score``; return the exit code."""
    from ..core.beat_score import format_marks_score, read_beat_marks, score_marks
    from ..sim.score import format_score, load_result, score_files

    tol = getattr(args, "tolerance", 0.3)
    if not (math.isfinite(tol) and tol >= 0.0):
        raise SettingsError(f"--tolerance {tol:g} must be a non-negative number of seconds")
    beat_tol = getattr(args, "beat_tolerance", 0.15)
    if not (math.isfinite(beat_tol) and beat_tol > 0.0):
        raise SettingsError(f"--beat-tolerance {beat_tol:g} must be a positive number of "
                            f"seconds")
    check_paths([("the result file", args.result), ("the truth file", args.truth)],
                [("--json", args.json)])
    for what, path in (("the analysis result", args.result),
                       ("the truth or the beat marks", args.truth)):
        _need_file(what, path)
    marks = read_beat_marks(args.truth)
    if marks is None:
        s = score_files(args.result, args.truth, tolerance_s=tol)
        print(format_score(s))
    else:
        s = score_marks(load_result(args.result), marks, tolerance_s=beat_tol)
        print(format_marks_score(s))
    if args.json:
        with atomic_output(args.json, encoding="utf-8") as fh:
            json.dump(s, fh, indent=1)
            fh.write("\n")
    return 0


def _need_file(what, path):
    """One line for an input that is no file: missing, or a folder."""
    if os.path.isdir(path):
        raise AudioFileError(f"{path} is a folder; give {what} as a file")
    if not os.path.exists(path):
        raise AudioFileError(f"{path}: no such file ({what}); check the path")
