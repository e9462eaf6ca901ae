"""``dopplerflow simulate NAME -o OUT``: write a simulated recording with its ground truth."""

import os

from ..core.layouts import LAYOUTS
from ..errors import SettingsError
from .common import check_layout_options, tidy

__all__ = ["add_arguments", "main"]


def add_arguments(parser):
    """Add the flags of ``dopplerflow simulate`` to an argparse parser."""
    parser.add_argument("name", nargs="?", metavar="NAME", help="scenario name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("-o", "--output", metavar="OUT", help="output audio, .wav or .flac; "
                        "the truth goes beside it, its extension replaced by .truth.json "
                        "(-o sim.wav writes sim.truth.json)")
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
    parser.add_argument("--bits", type=int, choices=(8, 16, 24), default=16,
                        help="sample depth: 16 or 24, or 8 (unsigned in .wav, signed in .flac)")
    parser.add_argument("--second-db", type=float, default=None, metavar="DB",
                        help="two-vessel scenarios: the second vessel's power against the "
                             "vessel under study, dB (default: the scenario's)")
    parser.add_argument("--hum-dbfs", type=float, default=None, metavar="DB",
                        help="add mains hum and its harmonics at this rms level, dBFS, as a "
                             "ground loop does (analyse it with --hum)")
    parser.add_argument("--mains-hz", type=float, choices=(50.0, 60.0), default=None,
                        metavar="HZ", help="mains frequency of --hum-dbfs: 50 (default) or 60")
    g = parser.add_argument_group("real-world degradations (each written into the truth)")
    g.add_argument("--noise-slope", type=float, default=None, metavar="DB_PER_OCT",
                   help="coloured noise: its spectrum falls this many dB per octave above "
                        "50 Hz (e.g. -3 or -6), at the same in-band SNR")
    g.add_argument("--tone-hz", default=None, metavar="HZ,...",
                   help="add fixed interference tones at these frequencies")
    g.add_argument("--tone-db", type=float, default=None, metavar="DB",
                   help="power of each tone against the blood echo, dB (default -10)")
    g.add_argument("--clicks", type=int, default=None, metavar="N",
                   help="add N probe taps: broadband bursts of 5-10 ms")
    g.add_argument("--click-db", type=float, default=None, metavar="DB",
                   help="power of each click against the blood echo, dB (default 30)")
    g.add_argument("--lowpass-hz", type=float, default=None, metavar="HZ",
                   help="the recorder's audio band: a steep low-pass at HZ (e.g. 4000)")
    g.add_argument("--resample", type=float, default=None, metavar="HZ",
                   help="resample to HZ and write at that rate (e.g. --sample-rate 8000 "
                        "--resample 44100)")
    g.add_argument("--floor-dbfs", type=float, default=None, metavar="DB",
                   help="a sound card's white noise floor at this rms level, dBFS (e.g. -90)")
    g.add_argument("--clutter-db", type=float, default=None, metavar="DB",
                   help="wall echoes at this power over the blood echo, dB (default: the "
                        "scenario's, 45-50; a device's audio output carries less)")
    g.add_argument("--channel-gain-db", type=float, default=None, metavar="DB",
                   help="the second channel's gain against the first, dB (a two-input sound "
                        "card with its gains set apart)")


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
    degradations = _degradations(args)
    from ..core.io import _name, over_recording
    from .paths import OutputClash, check_paths

    held = over_recording(args.output)
    if held is not None:  # a simulation written before is a recording too
        raise OutputClash(f"-o {_name(args.output)}: {held}: remove it or choose another name")
    check_paths([], [("-o", args.output), ("its truth sidecar", truth_path(args.output))])
    truth = write_scenario(args.name, args.output, layout=args.layout, snr_db=args.snr_db,
                           seed=args.seed, sample_rate_hz=args.sample_rate,
                           duration_s=args.duration, carrier_hz=args.carrier_mhz * 1e6,
                           angle_deg=args.angle, offset_hz=args.offset_hz,
                           subtype=_subtype(args.bits, args.output), invert=args.invert,
                           second_db=args.second_db, hum_dbfs=args.hum_dbfs,
                           mains_hz=50.0 if args.mains_hz is None else args.mains_hz,
                           degradations=degradations)
    n_ev = len(truth["reflux_events"])
    print(f"wrote {args.output} ({tidy(truth['duration_s'], 2)} s, "
          f"{tidy(truth['sample_rate_hz'], 1)} Hz, "
          f"layout {truth['layout']}, antegrade {truth['antegrade']}, vessel {truth['vessel']}) "
          f"and {truth_path(args.output)}: reflux {'yes' if truth['reflux'] else 'no'}, "
          f"{n_ev} event{'s' if n_ev != 1 else ''}"
          + (f"; degraded: {', '.join(degradations.settings())}" if degradations else ""))
    return 0


def _subtype(bits, output):
    """The soundfile subtype of ``--bits`` for the output's format."""
    if bits != 8:
        return f"PCM_{bits}"
    from ..sim.synth import EIGHT_BIT_SUBTYPE

    return EIGHT_BIT_SUBTYPE.get(os.path.splitext(output)[1].lower(), "PCM_U8")


def _degradations(args):
    """The Degradations of the flags (checked against the recording by the simulator)."""
    from ..sim.degrade import Degradations

    if args.tone_db is not None and args.tone_hz is None:
        raise SettingsError("--tone-db sets the level of the tones --tone-hz adds; give "
                            "--tone-hz HZ,... too")
    if args.click_db is not None and args.clicks is None:
        raise SettingsError("--click-db sets the level of the clicks --clicks adds; give "
                            "--clicks N too")
    kw = {}
    if args.noise_slope is not None:
        kw["noise_slope_db_oct"] = args.noise_slope
    if args.tone_hz is not None:
        try:
            kw["tones_hz"] = tuple(float(f) for f in args.tone_hz.split(",") if f.strip())
        except ValueError:
            raise SettingsError(f"--tone-hz '{args.tone_hz}' is not a comma-separated list of "
                                f"frequencies in Hz (e.g. 1000,3150)") from None
        if not kw["tones_hz"]:
            raise SettingsError("--tone-hz holds no frequency; give e.g. 1000,3150")
    for flag, key in (("tone_db", "tone_db"), ("clicks", "clicks"), ("click_db", "click_db"),
                      ("lowpass_hz", "lowpass_hz"), ("resample", "resample_hz"),
                      ("floor_dbfs", "floor_dbfs"), ("clutter_db", "clutter_db"),
                      ("channel_gain_db", "channel_gain_db")):
        if getattr(args, flag) is not None:
            kw[key] = getattr(args, flag)
    return Degradations(**kw) if kw else None
