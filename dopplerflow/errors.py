"""Exceptions raised by dopplerflow.

Every error a user can cause derives from :class:`DopplerflowError`, so a caller
can catch them all at once, and also from the matching builtin (``ValueError``
or ``OSError``), so code written without dopplerflow in mind still works.  The
message is one line: what was wrong, what is allowed, what to do.
"""

__all__ = [
    "DopplerflowError",
    "InputError",
    "AudioFileError",
    "LayoutError",
    "SettingsError",
]


class DopplerflowError(Exception):
    """Base class of every error dopplerflow raises on purpose."""

    #: Exit status the command line uses for this error (1 = bad input).
    exit_code = 1


class InputError(DopplerflowError, ValueError):
    """The audio itself cannot be analysed (NaN samples, too short, ...)."""


class AudioFileError(DopplerflowError, OSError):
    """A file is missing, unreadable, empty or not audio."""


class LayoutError(InputError):
    """The channels of the input do not fit the chosen layout."""


class SettingsError(DopplerflowError, ValueError):
    """A setting (angle, carrier, layout name, ...) is out of range: bad usage."""

    exit_code = 2
