"""``dopplerflow score RESULT.json TRUTH.json``: score an analysis against its truth."""

import json
import math

from ..core.io import atomic_output
from ..errors import SettingsError
from .paths import check_paths

__all__ = ["add_arguments", "main"]


def add_arguments(parser):
    """Add the flags of ``dopplerflow score`` to an argparse parser."""
    parser.add_argument("result", metavar="RESULT.json", help="analysis JSON (with its trace)")
    parser.add_argument("truth", metavar="TRUTH.json", help="truth sidecar of the recording")
    parser.add_argument("--json", metavar="OUT", default=None, help="also write the scores here")
    parser.add_argument("--tolerance", type=float, default=0.3, metavar="S",
                        help="event matching widens intervals by this many seconds (0.3)")


def main(args):
    """Run ``dopplerflow score``; return the exit code."""
    from ..sim.score import format_score, score_files

    tol = getattr(args, "tolerance", 0.3)
    if not (math.isfinite(tol) and tol >= 0.0):
        raise SettingsError(f"--tolerance {tol:g} must be a non-negative number of seconds")
    check_paths([("the result file", args.result), ("the truth file", args.truth)],
                [("--json", args.json)])
    s = score_files(args.result, args.truth, tolerance_s=tol)
    print(format_score(s))
    if args.json:
        with atomic_output(args.json, encoding="utf-8") as fh:
            json.dump(s, fh, indent=1)
            fh.write("\n")
    return 0
