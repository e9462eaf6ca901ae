"""``dopplerflow explain --out-dir DIR``: write the teaching figures with their captions."""

import math
import os

from ..errors import SettingsError

__all__ = ["add_arguments", "main"]


def add_arguments(parser):
    """Add the flags of ``dopplerflow explain``."""
    from ..figures.explain import FIGURES

    parser.add_argument("--out-dir", required=True, metavar="DIR",
                        help="folder to write the figures, captions.md and index.html into")
    parser.add_argument("--format", choices=("png", "svg", "pdf"), default="png",
                        help="figure format (default png)")
    parser.add_argument("--only", nargs="+", choices=tuple(FIGURES), metavar="NAME",
                        help=f"write only these figures ({', '.join(FIGURES)})")
    parser.add_argument("--dpi", type=float, default=150.0, help="raster resolution (150)")


def main(args):
    """Run ``dopplerflow explain``; return the exit code."""
    from ..figures.explain import FIGURES, write_figures

    if not (math.isfinite(args.dpi) and 20 <= args.dpi <= 1200):
        raise SettingsError(f"--dpi {args.dpi:g} is outside 20-1200")
    if os.path.isdir(args.out_dir):  # a new folder holds nothing to write over
        from .paths import check_paths

        names = [f"{n}.{args.format}" for n in dict.fromkeys(args.only or FIGURES)]
        check_paths([], [("--out-dir", os.path.join(args.out_dir, n))
                         for n in (*names, "captions.md", "index.html")])
    from .common import Progress

    for path in write_figures(args.out_dir, names=args.only, fmt=args.format, dpi=args.dpi,
                              progress=Progress("explain")):
        print(path)
    return 0
