"""``dopplerflow repair FILE -o COPY.wav``: a copy of a WAV whose header does not state all
its audio, with one that does."""

import os

from ..errors import SettingsError

__all__ = ["add_arguments", "main"]


def add_arguments(parser):
    """Add the flags of ``dopplerflow repair`` to an argparse parser."""
    parser.add_argument("file", metavar="FILE",
                        help="a WAV whose header was never finished (its recorder crashed, "
                             "was killed or lost power) or an RF64 so left")
    parser.add_argument("-o", "--output", metavar="COPY", required=True,
                        help="the copy to write (.wav): the same bytes, with a header that "
                             "states all of them; FILE is never changed")


def main(args):
    """Run ``dopplerflow repair``; return the exit code."""
    from ..core.io import display_name, repair_wav
    from .paths import check_paths

    if os.path.splitext(args.output)[1].lower() != ".wav":
        raise SettingsError(f"-o {args.output}: the copy is a WAV, as the file is; give a "
                            f".wav name (e.g. -o repaired.wav)")
    check_paths([("the recording", args.file)], [("-o", args.output)])
    info = repair_wav(args.file, args.output)
    found, fs = info.unfinished, info.samplerate
    stated = f"{found.stated / fs:.3f} s" if found.stated else "no audio"
    print(f"{display_name(args.output)}: all {found.frames} frames ({found.frames / fs:.3f} s) "
          f"of {display_name(args.file)}, whose header stated {stated}, under a header that "
          f"states them")
    return 0
