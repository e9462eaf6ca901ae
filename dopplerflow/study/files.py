"""Files of a study: finding recordings, guarding outputs, atomic writes, TOML.

* :func:`find_recordings` turns files, folders (searched recursively) and glob patterns
  into a sorted list of recordings, each named once however often it was matched.
* :func:`refuse_overwrites` stops a run, before any work, when one of its outputs would
  overwrite one of its inputs, another of its outputs (paths compared after resolving
  ``..`` and symbolic links) or a recording already there.
* :func:`atomic_write` writes a file through a temporary file in the same folder and a
  rename, so a reader (or a run that resumes after a crash) sees the old file or the
  new one, never half of one.
* :func:`load_toml` reads TOML with :mod:`tomllib` (Python 3.11+) or ``tomli``.
"""

import glob
import os

from ..errors import InputError, SettingsError

__all__ = ["AUDIO_EXTENSIONS", "Recording", "find_recordings", "real", "refuse_overwrites",
           "atomic_write", "load_toml"]

#: File name extensions taken as recordings when a folder or a glob pattern is searched
#: (compared lower-case): the formats libsndfile reads, then the sound files FFmpeg reads
#: with the media extra (a phone's M4A, 3GP and AMR, AAC, a browser's WebM, Windows
#: Media, a scanner's MP4 clip).  A file named on its own is taken whatever its extension.
AUDIO_EXTENSIONS = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff",
                    ".aifc", ".au", ".snd", ".caf", ".w64", ".rf64", ".mp3",
                    ".m4a", ".mp4", ".3gp", ".amr", ".aac", ".webm", ".weba", ".wma")
_GLOB_CHARS = frozenset("*?[")


class Recording:
    """One recording of a run.

    Attributes
    ----------
    name : str
        The path as found, normalised (``os.path.normpath``): the key of the batch
        table's ``file`` column and the name the outputs show.
    path : str
        The absolute path, for a worker whose current folder may differ.
    """

    __slots__ = ("name", "path")

    def __init__(self, name, path):
        self.name = name
        self.path = path

    def __repr__(self):
        return f"Recording({self.name!r})"


def real(path):
    """``path`` absolute, with ``..`` and every symbolic link resolved."""
    return os.path.realpath(os.path.abspath(os.fspath(path)))


def _is_audio(path):
    return os.path.splitext(path)[1].lower() in AUDIO_EXTENSIONS


def _walk(folder):
    """Audio files under ``folder``, recursively (hidden folders and files skipped)."""
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for f in files:
            if not f.startswith(".") and _is_audio(f):
                yield os.path.join(root, f)


def find_recordings(paths, *, on_empty=None):
    """The recordings named by files, folders and glob patterns.

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        A file is taken whatever its extension (a missing or unreadable one becomes a
        row with its error); a folder is searched recursively for files with an
        extension of :data:`AUDIO_EXTENSIONS`; a pattern with ``*``, ``?`` or ``[``
        is expanded by :func:`glob.glob` (``**`` spans folders), the folders it
        matches searched as above.
    on_empty : callable, optional
        Called with a folder or pattern that gave no recording (e.g. to warn).

    Returns
    -------
    list of Recording
        Sorted by name; a file reached twice (also through a symbolic link) is kept
        once, under the name of the file itself rather than a link to it
        (:func:`_preferred`).

    Raises
    ------
    InputError
        No recording at all.
    """
    found = {}
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            hits = list(_walk(p))
        elif _GLOB_CHARS & set(p) and not os.path.exists(p):
            hits = []
            for m in sorted(glob.glob(p, recursive=True)):
                hits.extend(_walk(m) if os.path.isdir(m) else [m] if _is_audio(m) else [])
        else:
            hits = [p]  # a file, or a missing path: its row will say so
        if not hits and on_empty is not None:
            on_empty(p)
        for h in hits:
            key = real(h)
            rec = Recording(os.path.normpath(h), os.path.abspath(h))
            if key not in found or _preferred(rec, key) < _preferred(found[key], key):
                found[key] = rec
    if not found:
        raise InputError(f"no recordings found in {' '.join(map(os.fspath, paths))}; give "
                         f"audio files, folders holding them or patterns such as "
                         f"'data/**/*.flac'")
    return sorted(found.values(), key=lambda r: r.name)


def _preferred(recording, key):
    """Sort key of the names of one file, the best first: a name that is not itself a
    symbolic link, then one with no link in its folders (it is the real path), then the
    name that sorts first.  So a study's row keeps the file's own name whatever links
    point at it, and stays the same when a link is added or removed."""
    return (os.path.islink(recording.path), recording.path != key, recording.name)


def refuse_overwrites(inputs, outputs):
    """Refuse outputs that would overwrite an input, each other or a recording.

    Parameters
    ----------
    inputs : iterable of str or os.PathLike
        Every file the run reads.
    outputs : iterable of str or os.PathLike
        Every file the run writes.

    Raises
    ------
    SettingsError
        One line naming the paths (exit status 2); nothing has been written.
    """
    from ..core.io import over_recording

    seen = {real(p): os.fspath(p) for p in inputs}
    written = {}
    for out in outputs:
        key = real(out)
        if key in seen:
            raise SettingsError(f"output {os.fspath(out)} would overwrite the input "
                                f"{seen[key]}; choose another output name")
        if key in written:
            raise SettingsError(f"outputs {written[key]} and {os.fspath(out)} are the same "
                                f"file; give each output its own name")
        written[key] = os.fspath(out)
        held = over_recording(out)
        if held is not None:
            raise SettingsError(f"output {held}: give the output another file name")


def atomic_write(path, data):
    """Write ``data`` (str or bytes, or a callable that writes to a binary file object)
    to ``path`` all at once (:func:`dopplerflow.core.io.atomic_output`: a uniquely named
    temporary file beside it, removed if the writing fails)."""
    from ..core.io import atomic_output

    with atomic_output(path, "wb") as fh:
        if callable(data):
            data(fh)
        else:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)


def load_toml(path):
    """Read a TOML file into a dict.

    Raises
    ------
    InputError
        The file cannot be read, is not text, or is not valid TOML (the message gives
        the line).
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the tomli package (a dependency there)
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as e:
        raise InputError(f"{os.fspath(path)}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{os.fspath(path)} is not valid TOML: {e}") from None
    except UnicodeDecodeError as e:  # a binary file (a recording given in its place)
        raise InputError(f"{os.fspath(path)} is not TOML: byte {e.start + 1} is not UTF-8 "
                         f"text (a binary file?); give a TOML text file") from None
