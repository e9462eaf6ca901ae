"""Live input: sound-card devices, the live session, its window and status line, and replay.

* :mod:`.devices`: list and resolve PortAudio input devices, the default block size.
* :mod:`.session`: :class:`LiveSession`, analysing (and recording) a sound card's input.
* :mod:`.plot`: :class:`LivePlot`, the scrolling sonogram window.
* :mod:`.status`: the terminal's status line and event lines.
* :mod:`.replay`: a recording streamed block by block through the live path.

None of these imports sounddevice or matplotlib until a device or a window is opened.
"""

from .devices import DeviceError, default_block_size, list_devices
from .plot import LivePlot
from .replay import replay
from .session import LiveSession
from .status import format_event, format_status

__all__ = ["DeviceError", "LivePlot", "LiveSession", "default_block_size", "format_event",
           "format_status", "list_devices", "replay"]
