"""Sound-card input devices: listing, resolving a ``--device`` and the block size.

PortAudio (through python-sounddevice) is imported only when a device is needed, so
``import dopplerflow.live`` works on a machine without it.
"""

import math

from ..errors import DopplerflowError

__all__ = ["DeviceError", "BLOCK_S", "FIND_DEVICES", "sounddevice_module", "list_devices",
           "resolve_device", "default_block_size"]

#: Sound-card block length aimed at, s: about half a 5 ms hop, so a reflux
#: confirmation is not held back by the buffering of a long block.
BLOCK_S = 0.0025
#: The hint every device error ends with.
FIND_DEVICES = "run 'dopplerflow devices' to list the input devices"


class DeviceError(DopplerflowError, OSError):
    """The sound card (or PortAudio) cannot be opened, or failed while streaming."""

    exit_code = 1


def sounddevice_module():
    """Import sounddevice lazily, turning a missing PortAudio into a one-line error."""
    try:
        import sounddevice
    except OSError as exc:
        raise DeviceError(f"the PortAudio library cannot be loaded ({exc}); install it "
                          f"(Debian: apt install libportaudio2) to use sound cards") from None
    except ImportError:
        raise DeviceError("the sounddevice package is missing; install it with 'pip install "
                          "sounddevice' (or 'pip install dopplerflow[live]')") from None
    return sounddevice


def list_devices():
    """The input devices PortAudio offers.

    Returns
    -------
    list of dict
        One per device with at least one input channel: ``index`` (int, what
        ``--device`` accepts), ``name`` (str), ``hostapi`` (str),
        ``max_input_channels`` (int) and ``default_samplerate`` (float, Hz).

    Raises
    ------
    DeviceError
        PortAudio is not installed.
    """
    sd = sounddevice_module()
    apis = sd.query_hostapis()
    out = []
    for dev in sd.query_devices():
        if dev["max_input_channels"] > 0:
            out.append({"index": int(dev["index"]), "name": dev["name"],
                        "hostapi": apis[dev["hostapi"]]["name"],
                        "max_input_channels": int(dev["max_input_channels"]),
                        "default_samplerate": float(dev["default_samplerate"])})
    return out


def resolve_device(device):
    """Return PortAudio's info dict of the input device ``device`` (index, name or None)."""
    sd = sounddevice_module()
    if isinstance(device, str) and device.strip().isdigit():
        device = int(device)
    try:
        info = sd.query_devices(device, "input")
    except (ValueError, sd.PortAudioError) as exc:
        if device is None:
            raise DeviceError(f"no default input device (PortAudio names none: is a sound "
                              f"card connected?); give one with --device; {FIND_DEVICES}"
                              ) from None
        raise DeviceError(f"no input device {device!r} ({str(exc).splitlines()[0]}); "
                          f"{FIND_DEVICES}") from None
    if info["max_input_channels"] < 1:
        raise DeviceError(f"device {device!r} ({info['name']}) has no input channels; "
                          f"{FIND_DEVICES}")
    return info


def default_block_size(sample_rate_hz):
    """Frames per sound-card block: the power of two nearest ``BLOCK_S`` (at least 16)."""
    return max(16, 2 ** int(round(math.log2(BLOCK_S * float(sample_rate_hz)))))

