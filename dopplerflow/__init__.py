"""dopplerflow: audio-band Doppler ultrasound to blood-velocity traces and venous reflux.

>>> import dopplerflow
>>> result = dopplerflow.analyze("samples/jugular_valsalva_iq.flac", vessel="ijv")
>>> result.reflux, [e.duration_s for e in result.reflux_events]

A research and teaching tool, not a medical device.
"""

__version__ = "0.1.0"

from .core import Analysis, Processor, Settings, Trace  # noqa: E402
from .core.driver import analyze  # noqa: E402
from .core.events import Event  # noqa: E402
from .core.layouts import LAYOUTS  # noqa: E402
from .core.vessels import VESSELS  # noqa: E402
from .errors import (  # noqa: E402
    AudioFileError,
    DopplerflowError,
    InputError,
    LayoutError,
    SettingsError,
)

__all__ = [
    "analyze", "Analysis", "Processor", "Settings", "Trace", "Event", "LAYOUTS", "VESSELS",
    "DopplerflowError", "InputError", "AudioFileError", "LayoutError", "SettingsError",
    "__version__",
]
