"""``dopplerflow devices``: list the sound-card input devices."""

import json
import sys

__all__ = ["add_arguments", "main"]


def add_arguments(parser):
    """Flags of ``dopplerflow devices``."""
    parser.add_argument("--json", action="store_true",
                        help="print the device list as JSON instead of a table")


def main(args):
    """``dopplerflow devices``: print the input devices; return the exit code."""
    from ..live.devices import list_devices

    devices = list_devices()
    if getattr(args, "json", False):
        print(json.dumps(devices, indent=2))
        return 0
    if not devices:
        print("no input devices found (is a sound card connected and PortAudio able to see "
              "it?)", file=sys.stderr)
        return 1
    print(f"{'index':>5}  {'channels':>8}  {'rate, Hz':>9}  {'host API':<10}  name")
    for d in devices:
        print(f"{d['index']:>5}  {d['max_input_channels']:>8}  {d['default_samplerate']:>9.0f}"
              f"  {d['hostapi']:<10}  {d['name']}")
    return 0
