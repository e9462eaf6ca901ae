"""Live input: sound-card devices, the live session, its plot and status line, and replay."""

from .session import (  # noqa: F401
    DeviceError,
    LiveSession,
    default_block_size,
    format_event,
    format_status,
    list_devices,
)
