"""Reading audio files in blocks, and writing results (JSON, CSV).

Files are read with soundfile (libsndfile): WAV, FLAC, OGG/Vorbis, AIFF and
the other formats it knows, 8- to 32-bit integer and float samples, in
blocks into one reused buffer, so an hours-long recording runs in constant
memory.
"""

import csv
import json
import os

import numpy as np

from ..errors import AudioFileError

__all__ = ["open_audio", "iter_blocks", "write_json", "write_csv", "AudioInfo"]


class AudioInfo:
    """What a file holds: ``samplerate``, ``channels``, ``frames``, ``format``, ``subtype``."""

    def __init__(self, samplerate, channels, frames, format, subtype):
        self.samplerate = samplerate
        self.channels = channels
        self.frames = frames
        self.format = format
        self.subtype = subtype

    @property
    def duration_s(self):
        return self.frames / self.samplerate


def _soundfile():
    import soundfile

    return soundfile


def _check_path(path):
    p = os.fspath(path)
    if not os.path.exists(p):
        raise AudioFileError(f"{p}: no such file; check the path")
    if os.path.isdir(p):
        raise AudioFileError(f"{p} is a directory; give an audio file (WAV, FLAC, OGG, AIFF)")
    if os.path.getsize(p) == 0:
        raise AudioFileError(f"{p} is empty (0 bytes); record again or pick another file")
    return p


def _open(path):
    sf = _soundfile()
    p = _check_path(path)
    try:
        return sf.SoundFile(p)
    except sf.LibsndfileError as e:
        reason = str(e).split(":")[-1].strip().rstrip(".") or "unreadable"
        raise AudioFileError(f"{p} is not a readable audio file ({reason}); dopplerflow reads "
                             f"WAV, FLAC, OGG, AIFF and the other formats of libsndfile") from None
    except (RuntimeError, TypeError, ValueError) as e:
        raise AudioFileError(f"{p} is not a readable audio file ({e}); dopplerflow reads "
                             f"WAV, FLAC, OGG, AIFF and the other formats of libsndfile") from None


def open_audio(path):
    """Check that ``path`` is a readable audio file and describe it.

    Returns
    -------
    AudioInfo

    Raises
    ------
    AudioFileError
        Missing, a directory, empty, not audio, or holding no frames.
    """
    with _open(path) as f:
        info = AudioInfo(f.samplerate, f.channels, f.frames, f.format, f.subtype)
    if info.frames == 0:
        raise AudioFileError(f"{os.fspath(path)} holds no audio frames; record again or pick "
                             f"another file")
    return info


def iter_blocks(path, block_size=65536):
    """Yield ``(frames, channels)`` float32 blocks of a file.

    The same buffer is reused for every block: copy a block to keep it.  A
    decoding error part-way (a damaged file) ends the stream at the last good
    block; the caller sees fewer frames than the header promised.
    """
    sf = _soundfile()
    with _open(path) as f:
        buf = np.empty((block_size, f.channels), np.float32)
        while True:
            try:
                n = len(f.read(block_size, dtype="float32", always_2d=True, out=buf))
            except (sf.LibsndfileError, RuntimeError):
                return
            if n == 0:
                return
            yield buf[:n]
            if n < block_size:
                return


def write_json(analysis, path, *, trace=False):
    """Write ``analysis.to_dict(trace=trace)`` as JSON (atomic rename)."""
    _atomic_write(path, json.dumps(analysis.to_dict(trace=trace), indent=2) + "\n")


def write_csv(analysis, path):
    """Write the per-frame trace as CSV (DESIGN.md columns plus ``velocity_cm_s``).

    Columns: ``time_s, antegrade_max_cm_s, retrograde_max_cm_s,
    mean_velocity_cm_s, flow, velocity_cm_s``; empty cells where a value is
    not defined (retrograde in mono recordings) or the row was not analysed
    (the wall filter settling at the start and after lost samples).
    """
    t = analysis.trace
    cols = [np.asarray(getattr(t, c)) for c in t.COLUMNS]
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(t.COLUMNS)
        fmt = ["%.4f", "%.3f", "%.3f", "%.3f", "%d", "%.3f"]
        for row in zip(*cols, strict=True):
            w.writerow(["" if v != v else f % v
                        for f, v in zip(fmt, row, strict=True)])
    os.replace(tmp, path)


def _atomic_write(path, text):
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
