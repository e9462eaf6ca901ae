"""Live input: sound-card devices, the live session, its window and status line, and replay.

* :mod:`.devices`: list and resolve PortAudio input devices, the default block size.
* :mod:`.session`: :class:`LiveSession`, analysing (and recording) a sound card's input.
* :mod:`.plot`: :class:`LivePlot`, the scrolling sonogram window.
* :mod:`.status`: the terminal's status line and event lines.
* :mod:`.replay`: a recording streamed block by block through the live path.

None of these imports sounddevice or matplotlib until a device or a window is opened, and
the names are imported when first used (PEP 562): the command line reads the block size
of :mod:`.devices` without importing the analysis.
"""

from .._lazy import lazy_names

#: The package's names, and the module each is taken from when first used.
_LAZY = {"DeviceError": ".devices", "default_block_size": ".devices",
         "list_devices": ".devices", "LivePlot": ".plot", "replay": ".replay",
         "LiveSession": ".session", "format_event": ".status", "format_status": ".status"}

__all__ = ["DeviceError", "LivePlot", "LiveSession", "default_block_size", "format_event",
           "format_status", "list_devices", "replay"]


__getattr__, __dir__ = lazy_names(globals(), _LAZY)
