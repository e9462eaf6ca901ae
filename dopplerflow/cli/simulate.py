"""``dopplerflow simulate NAME -o OUT``: write a simulated recording with its ground truth."""

from ..core.layouts import LAYOUTS
from ..errors import SettingsError
from .common import check_layout_options, tidy

__all__ = ["add_arguments", "main"]


def add_arguments(parser):
    """Add the flags of ``dopplerflow simulate`` to an argparse parser."""
    parser.add_argument("name", nargs="?", metavar="NAME", help="scenario name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("-o", "--output", metavar="OUT", help="output audio, .wav or .flac; "
                        "the truth goes to OUT.truth.json beside it")
    parser.add_argument("--layout", default="iq", choices=LAYOUTS, help="channel layout")
    parser.add_argument("--snr-db", type=float, default=None,
                        help="in-band SNR in dB (default: the scenario's)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--sample-rate", type=float, default=48000.0, metavar="HZ",
                        help="sample rate in Hz (default 48000)")
    parser.add_argument("--duration", type=float, default=None, metavar="S",
                        help="length in seconds (default: the scenario's)")
    parser.add_argument("--carrier-mhz", type=float, default=8.0, help="carrier in MHz (8)")
    parser.add_argument("--angle", type=float, default=60.0, metavar="DEG",
                        help="beam-to-flow angle in degrees (60)")
    parser.add_argument("--offset-hz", type=float, default=None,
                        help="zero-velocity frequency of --layout offset (default fs/4)")
    parser.add_argument("--invert", action="store_true",
                        help="write with the opposite quadrature convention")
    parser.add_argument("--bits", type=int, choices=(16, 24), default=16,
                        help="sample depth (16 or 24)")
    parser.add_argument("--second-db", type=float, default=None, metavar="DB",
                        help="two-vessel scenarios: the second vessel's power against the "
                             "vessel under study, dB (default: the scenario's)")
    parser.add_argument("--hum-dbfs", type=float, default=None, metavar="DB",
                        help="add mains hum and its harmonics at this rms level, dBFS, as a "
                             "ground loop does (analyse it with --hum)")
    parser.add_argument("--mains-hz", type=float, choices=(50.0, 60.0), default=None,
                        metavar="HZ", help="mains frequency of --hum-dbfs: 50 (default) or 60")


def main(args):
    """Run ``dopplerflow simulate``; return the exit code."""
    from ..sim.synth import list_scenarios, truth_path, write_scenario

    if args.list:
        width = max(len(n) for n, _ in list_scenarios())
        for n, desc in list_scenarios():
            print(f"{n:<{width}}  {desc}")
        return 0
    if not args.name:
        raise SettingsError("give a scenario NAME (dopplerflow simulate --list shows them)")
    if not args.output:
        raise SettingsError("give the output file with -o OUT.wav (or .flac)")
    check_layout_options(args.layout, offset_hz=args.offset_hz, invert=args.invert,
                         offset_needed=False)
    if args.mains_hz is not None and args.hum_dbfs is None:
        raise SettingsError("--mains-hz sets the frequency of the hum --hum-dbfs adds; give "
                            "--hum-dbfs DB too (e.g. --hum-dbfs -30)")
    from .paths import check_paths

    check_paths([], [("-o", args.output), ("its truth sidecar", truth_path(args.output))])
    truth = write_scenario(args.name, args.output, layout=args.layout, snr_db=args.snr_db,
                           seed=args.seed, sample_rate_hz=args.sample_rate,
                           duration_s=args.duration, carrier_hz=args.carrier_mhz * 1e6,
                           angle_deg=args.angle, offset_hz=args.offset_hz,
                           subtype=f"PCM_{args.bits}", invert=args.invert,
                           second_db=args.second_db, hum_dbfs=args.hum_dbfs,
                           mains_hz=50.0 if args.mains_hz is None else args.mains_hz)
    n_ev = len(truth["reflux_events"])
    print(f"wrote {args.output} ({tidy(truth['duration_s'], 2)} s, "
          f"{tidy(truth['sample_rate_hz'], 1)} Hz, "
          f"layout {truth['layout']}, antegrade {truth['antegrade']}, vessel {truth['vessel']}) "
          f"and {truth_path(args.output)}: reflux {'yes' if truth['reflux'] else 'no'}, "
          f"{n_ev} event{'s' if n_ev != 1 else ''}")
    return 0
