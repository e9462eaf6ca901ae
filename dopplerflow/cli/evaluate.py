"""``dopplerflow evaluate``: score every scenario across SNR, layouts and seeds."""

import json

from ..errors import SettingsError
from ..sim.degraded import CASES
from ..sim.evaluate import (
    FULL_SEEDS,
    LAYOUTS,
    QUICK_LAYOUTS,
    QUICK_SEEDS,
    SAMPLE_RATE_HZ,
    SNRS_DB,
)
from .common import Progress

__all__ = ["add_arguments", "main"]


def _number_list(text, kind):
    try:
        values = tuple(kind(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise SettingsError(f"'{text}' is not a comma-separated list of numbers "
                            f"(e.g. 20,12,7,3)") from None
    if not values:
        raise SettingsError(f"'{text}' holds no value; give e.g. 20,12,7,3")
    return values


def _names(text):
    """``"a, b"`` -> ``("a", "b")``; None stays None (the default)."""
    return None if text is None else tuple(x.strip() for x in text.split(",") if x.strip())


def add_arguments(parser):
    """Add the flags of ``dopplerflow evaluate`` to an argparse parser."""
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke test: seed 0, layouts {', '.join(QUICK_LAYOUTS)} (< 1 min)")
    parser.add_argument("--json", metavar="OUT", help="also write every score as JSON")
    parser.add_argument("--snr", default=",".join(f"{s:g}" for s in SNRS_DB), metavar="DB,...",
                        help="in-band SNR levels in dB (default 20,12,7,3)")
    parser.add_argument("--envelope", choices=("threshold", "geometric"), default=None,
                        help="maximum-frequency estimator (default: the analysis default)")
    parser.add_argument("--workers", type=int, default=2, metavar="N",
                        help="worker processes (default 2)")
    parser.add_argument("--seeds", type=int, default=None, metavar="N",
                        help=f"seeds 0..N-1 (default {len(FULL_SEEDS)}, quick {len(QUICK_SEEDS)})")
    parser.add_argument("--layouts", default=None, metavar="L,...",
                        help=f"layouts (default {','.join(LAYOUTS)})")
    parser.add_argument("--scenarios", default=None, metavar="NAME,...",
                        help="scenarios (default all; dopplerflow simulate --list)")
    parser.add_argument("--sample-rate", type=float, default=SAMPLE_RATE_HZ, metavar="HZ",
                        help=f"least sample rate in Hz (default {SAMPLE_RATE_HZ})")
    parser.add_argument("--degraded", nargs="?", const="yes", choices=("yes", "no", "only"),
                        default=None, metavar="yes|no|only",
                        help="the degraded table: the scenarios at 12 dB under real-world "
                             "degradations (coloured noise, a recorder's band, resampling, "
                             "tones, clicks, 8 bits); 'only' runs it alone (default: yes, "
                             "no with --quick)")
    parser.add_argument("--degradations", default=None, metavar="NAME,...",
                        help=f"degradations of that table (default "
                             f"{','.join(c.name for c in CASES)})")


def main(args):
    """Run ``dopplerflow evaluate``; return 0 (the verdicts are in the output)."""
    from ..sim.evaluate import evaluate, format_report

    if args.seeds is not None and args.seeds < 1:
        raise SettingsError(f"--seeds {args.seeds} must be at least 1")
    from .paths import check_paths

    check_paths([], [("--json", args.json)])
    degraded = {None: None, "yes": True, "no": False, "only": "only"}[args.degraded]
    if args.degradations is not None and degraded is False:
        raise SettingsError("--degradations picks the rows of the degraded table, which "
                            "--degraded no leaves out; drop one of them")
    if args.degradations is not None and degraded is None:
        degraded = True
    progress = Progress("evaluate")
    result = evaluate(
        quick=args.quick, snrs=_number_list(args.snr, float),
        layouts=_names(args.layouts),
        seeds=None if args.seeds is None else tuple(range(args.seeds)),
        envelope=args.envelope, sample_rate_hz=args.sample_rate,
        scenarios=_names(args.scenarios), workers=args.workers, progress=progress,
        degraded=degraded, degradations=_names(args.degradations))
    print(format_report(result))
    if args.json:  # checked before the run (check_paths)
        from ..core.io import _atomic_write

        _atomic_write(args.json, json.dumps(result, indent=1) + "\n")
    return 0
