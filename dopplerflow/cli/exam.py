"""``dopplerflow exam exam.toml -o exam.html [--json exam.json]``: read an examination.

The work is :func:`dopplerflow.study.exam.run_exam`; this module only turns the
command line into its arguments.
"""

import os
import sys

from .common import CountProgress

__all__ = ["add_arguments", "main"]


def add_arguments(parser):
    """Flags of ``dopplerflow exam``."""
    parser.add_argument("manifest", help="the examination manifest (TOML; see docs/exam.md)")
    parser.add_argument("-o", "--output", metavar="OUT.html",
                        help="the page to write (default: the manifest's name with .html, "
                             "here)")
    parser.add_argument("--json", metavar="OUT.json", help="also write the results as JSON")
    parser.add_argument("--title", help="page title (default: the manifest's)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress and no criteria line (the page's path is still "
                             "printed on stdout)")


def main(args):
    """Run ``dopplerflow exam``; return the exit code."""
    from ..study.exam import run_exam

    out = args.output or os.path.splitext(os.path.basename(args.manifest))[0] + ".html"
    progress = None if args.quiet else CountProgress("exam")
    try:
        exam = run_exam(args.manifest, html=out, json_path=args.json, title=args.title,
                        progress=progress)
    finally:
        if progress:
            progress.close()
    if not args.quiet and exam.ccsvi is not None:
        print(f"dopplerflow: CCSVI criteria: {exam.ccsvi.conclusion}", file=sys.stderr)
    print(out)
    return 0
