"""dopplerflow: audio-band Doppler ultrasound to blood-velocity traces and venous reflux.

>>> import dopplerflow
>>> result = dopplerflow.analyze("samples/jugular_valsalva_iq.flac", vessel="ijv")
>>> result.reflux, [e.duration_s for e in result.reflux_events]

A research and teaching tool, not a medical device.

``import dopplerflow`` is light: the analysis core (numpy, numba and the compiled
kernels) is imported when one of its names is first used (``dopplerflow.analyze``,
``from dopplerflow import Processor``), so the command line can answer an interrupt
or a usage error before the heavy imports begin.
"""

from ._lazy import lazy_names

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    AudioFileError,
    DopplerflowError,
    InputError,
    LayoutError,
    SettingsError,
    UnknownSettingError,
)

#: The public names of the analysis core, and the module each is taken from when first used.
_LAZY = {
    "analyze": ".core.driver",
    "Analysis": ".core.result",
    "Processor": ".core.processor",
    "Settings": ".core.settings",
    "Trace": ".core.result",
    "Event": ".core.events",
    "LAYOUTS": ".core.layouts",
    "VESSELS": ".core.vessels",
}
#: Subpackages reachable as attributes (``dopplerflow.core.io``) without importing them first.
_SUBPACKAGES = ("cli", "core", "figures", "live", "sim")

__all__ = [
    "analyze", "Analysis", "Processor", "Settings", "Trace", "Event", "LAYOUTS", "VESSELS",
    "DopplerflowError", "InputError", "AudioFileError", "LayoutError", "SettingsError",
    "UnknownSettingError",
    "__version__",
]


__getattr__, __dir__ = lazy_names(globals(), _LAZY, _SUBPACKAGES)
