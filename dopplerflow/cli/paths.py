"""Output paths checked before any work: nothing a command writes may destroy a recording.

:func:`check_paths` refuses, in one line and before anything is read or analysed, an
output that would overwrite one of the command's inputs (a recording, a result, a
truth file), an output where a recording already is (any file libsndfile opens as
audio: :func:`~dopplerflow.core.io.over_recording`), two outputs of the same run that
name the same file or both standard output, an empty file name, and an output that
cannot be written (its folder missing or read-only, a directory or a pipe in its
place, a folder where no file can be made).  Whether a file can be made is tried: an
empty file is made in the output's folder and removed at once (an existing file at the
output's path is left untouched).  Paths are compared after resolving links, so a link
to the recording is the recording.
"""

import os
import stat
import tempfile

from ..core.io import _name, over_recording
from ..errors import AudioFileError, SettingsError

__all__ = ["check_paths", "OutputClash"]


class OutputClash(SettingsError):
    """An output would overwrite an input or another output: bad usage (exit 2)."""


def _key(path):
    """What identifies a file: its device and inode when it exists, else its real path."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError:
        return ("path", os.path.normcase(real))
    return ("inode", st.st_dev, st.st_ino)


def check_paths(inputs, outputs, *, stdout=()):
    """Refuse outputs that would overwrite an input, a recording or each other, or cannot
    be written.

    Parameters
    ----------
    inputs : iterable of (str, path)
        What the command reads, each with the words that name it in a message
        (``"the recording"``).
    outputs : iterable of (str, path or None)
        What it writes, each with its option (``"--json"``); None is skipped.
    stdout : iterable of str
        The options whose ``"-"`` means standard output; one of them may take it.  Any
        other option given ``"-"`` is refused.

    Raises
    ------
    OutputClash
        An output names an input, a recording or another output, two take standard
        output, ``"-"`` is given where standard output is not supported, or a name is
        empty.
    AudioFileError
        An output cannot be written there.
    """
    seen_in = {}
    for what, path in inputs:
        if path is not None:
            seen_in.setdefault(_key(path), (what, path))
    seen_out = {}
    to_stdout = None
    for flag, path in outputs:
        if path is None:
            continue
        if path == "-":
            if flag not in stdout:
                raise OutputClash(f"{flag} -: {flag} writes a file, not standard output; "
                                  f"give a file name")
            if to_stdout is not None:
                raise OutputClash(f"{to_stdout} - and {flag} -: only one output can go to "
                                  f"standard output; give the other a file name")
            to_stdout = flag
            continue
        if not str(path).strip():
            raise OutputClash(f"{flag} needs a file name; give one, e.g. {flag} result.json")
        key = _key(path)
        if key in seen_in:
            what, given = seen_in[key]
            raise OutputClash(f"{flag} {_name(str(path))} would overwrite {what} "
                              f"{_name(str(given))}; give the output another file name")
        if key in seen_out:
            raise OutputClash(f"{seen_out[key]} and {flag} both name {_name(str(path))}; "
                              f"give each output its own file")
        seen_out[key] = flag
        _check_writable(flag, path, flag in stdout)
        held = over_recording(path)
        if held is not None:
            raise OutputClash(f"{flag} {_name(str(path))}: {held}: give the output another "
                              f"file name")


def _stream_of(st):
    """``"output"`` or ``"error"`` where ``st`` (an ``os.stat`` result, or None) is the file
    this process's standard output or error writes to; else None."""
    if st is None:
        return None
    for fd, name in ((1, "output"), (2, "error")):
        try:
            other = os.fstat(fd)
        except OSError:
            continue
        if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
            return name
    return None


def _check_writable(flag, path, stdout=False):
    """Raise a one-line AudioFileError (exit 1) if ``path`` cannot be written as a regular
    file (``stdout``: the option may take ``-``, standard output, and the message says so).

    The last test makes a file beside it and removes it: the outputs are written so
    (:func:`~dopplerflow.core.io.atomic_output`), and only trying tells a folder where no
    file can be made (``/proc``, a read-only mount, a full disk's folder as root) from
    one where it can.
    """
    shown = _name(str(path))
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise AudioFileError(f"{flag} {shown} is a folder; give a file name to write")
    other = f", or {flag} - for standard output" if stdout else ""
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise AudioFileError(f"{flag} {shown} is not a regular file (a pipe or a device); "
                            f"give a file name to write{other}")
    stream = _stream_of(st)
    if stream is not None:
        # /dev/stdout with the output redirected to a file: the report would be written
        # into the same file as the output, or the output over the report
        raise AudioFileError(f"{flag} {shown} is this command's standard {stream}; give "
                            f"a file name to write{other}")
    folder = os.path.dirname(os.path.realpath(path))  # a link's file is written
    if not os.path.isdir(folder):
        raise AudioFileError(f"{flag} {shown}: the folder {_name(folder)} does not exist; "
                            f"create it or write elsewhere")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise AudioFileError(f"{flag} {shown}: the folder {_name(folder)} cannot be written; "
                            f"write elsewhere")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                     dir=folder)
    except OSError as e:
        raise AudioFileError(f"{flag} {shown}: no file can be made in the folder "
                            f"{_name(folder)} ({e.strerror or e}); write elsewhere") from None
    os.close(fd)
    os.unlink(probe)
