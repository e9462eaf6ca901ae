"""Exceptions raised by dopplerflow.

Every error a user can cause derives from :class:`DopplerflowError`, so a caller
can catch them all at once, and also from the matching builtin (``ValueError``
or ``OSError``), so code written without dopplerflow in mind still works.  The
message is one line: what was wrong, what is allowed, what to do.  The same errors reach
the command line and Python callers, so a message that names an option names it for both
(:func:`option`).
"""

__all__ = [
    "DopplerflowError",
    "InputError",
    "AudioFileError",
    "LayoutError",
    "SettingsError",
    "UnknownSettingError",
    "option",
    "command_line_message",
]


#: What :func:`option` puts between an option's flag and its Python keyword.
PYTHON_NOTE = " (Python: "


def option(flag, keyword):
    """An option as an error message names it: the command line's flag, then the Python
    keyword, e.g. ``option("--layout mono", "layout='mono'")`` is ``"--layout mono
    (Python: layout='mono')"``; the command line prints the flag alone
    (:func:`command_line_message`)."""
    return f"{flag}{PYTHON_NOTE}{keyword})"


def command_line_message(message):
    """``message`` with the Python keywords :func:`option` added left out: what the
    command line prints."""
    out = []
    i = 0
    while True:
        j = message.find(PYTHON_NOTE, i)
        if j < 0:
            out.append(message[i:])
            return "".join(out)
        out.append(message[i:j])
        # the note ends at the parenthesis that closes it (a keyword may hold some)
        depth, k = 1, j + len(PYTHON_NOTE)
        while k < len(message) and depth:
            depth += {"(": 1, ")": -1}.get(message[k], 0)
            k += 1
        i = k


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


class UnknownSettingError(SettingsError, TypeError):
    """A keyword that names no setting (``vesel='ijv'``): a :class:`SettingsError`, and
    the TypeError Python raises for an unexpected keyword."""
