"""Reading audio files in blocks, and writing results (JSON, CSV).

Files are read with soundfile (libsndfile): WAV, FLAC, OGG/Vorbis, AIFF and
the other formats it knows, 8- to 32-bit integer and float samples, in
blocks into one reused buffer, so an hours-long recording runs in constant
memory.  The containers libsndfile does not read (MP4/M4A, 3GP, AMR, WebM, a
video's sound) are decoded by FFmpeg where PyAV is installed (:mod:`.media`).

A damaged file (cut short, bytes changed) is read up to the damage.  The file
is decoded in pieces of :data:`PIECE_FRAMES` whatever block size the caller
asks for, and a read that fails is tried again from where it stopped in
smaller pieces, down to single frames: every frame that decodes before the
damage is delivered, the same frames for every block size.  The reader's
:class:`ReadReport` says how many frames came and where and why reading
stopped early.
"""

import contextlib
import csv
import errno
import functools
import json
import numbers
import os
import stat
import struct
import tempfile
from dataclasses import dataclass

import numpy as np

from ..errors import AudioFileError, SettingsError
from .damage import header_frames, mpeg_length_stated, ogg_damage, unfinished_wav
from .media import MediaError, MediaFile, container_name
from .media import available as media_available

__all__ = ["open_audio", "iter_blocks", "write_json", "write_csv", "repair_wav", "AudioInfo",
           "BlockReader",
           "Gap", "ReadReport", "PIECE_FRAMES", "display_name", "recording_at", "over_recording",
           "encoding_warning", "coarse_warning", "COARSE_SUBTYPES", "FIXED_ROUNDING",
           "LOSSY_SUBTYPES"]

#: Frames an MP3's stated length (its Xing, Info or VBRI header's frame count) may exceed
#: what it decodes to: the encoder's delay and padding, under two MPEG frames of 1152
#: samples each; four frames (0.1 s at 44.1 kHz) short is still the whole file.  Without
#: such a header the length is the decoder's estimate from the bit rate, no promise.
MPEG_SLACK_FRAMES = 4 * 1152
#: Codec frames a stated length of a file FFmpeg decodes may exceed what it decodes to.
MEDIA_SLACK_CODEC_FRAMES = 2
#: Frames decoded per read, whatever block size the caller asks for.
PIECE_FRAMES = 65536
#: Smaller reads tried in turn from where a read failed, down to single frames.
_RETRY_FRAMES = (256, 1)
#: Where a frame does not decode even on a fresh decoder (damage inside the file), the
#: reading goes on from the first frame that decodes after it: tried every this many
#: frames (a FLAC frame holds 4096 at most, a few hundred often) ...
RESYNC_STEP = 1024
#: ... over at most this many tries (2 M frames: 45 s at 44.1 kHz; a file whose header
#: states no length, where a seek past its end is no damage, 64: 1.5 s).
RESYNC_TRIES = 2048
RESYNC_TRIES_UNSTATED = 64
#: Frames read back after a seek and compared with those already delivered: a seek
#: must land exactly (Vorbis seeks need not), else the file is decoded from the start.
_CHECK_FRAMES = 64
#: libsndfile subtypes of a WAV, besides PCM_*, whose block align is the frame size.
_UNCOMPRESSED = ("FLOAT", "DOUBLE", "ULAW", "ALAW")
#: Bytes a sample of each uncompressed subtype takes.
_SAMPLE_BYTES = {"PCM_S8": 1, "PCM_U8": 1, "ULAW": 1, "ALAW": 1, "PCM_16": 2, "PCM_24": 3,
                 "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8}
#: Frames a file can hold per byte, at most: no codec packs more (FLAC's densest frame,
#: 65535 samples of a constant, takes over ten bytes).  A header stating more states no
#: length: a FLAC whose writer never finished it (a crash, a stream) leaves its count
#: of samples unset, which libsndfile reports as 2^63 - 1 frames.
MAX_FRAMES_PER_BYTE = 65536


class AudioInfo:
    """What a file holds.

    Attributes
    ----------
    samplerate : int
    channels : int
    frames : int
        Frames the file's header promises.  A damaged or cut file may deliver
        fewer: see :class:`ReadReport`.  Meaningless when ``length_known`` is False.
    format, subtype : str
        libsndfile's names (``'FLAC'``, ``'PCM_16'``, ...); for a file FFmpeg decodes
        (:class:`~.media.MediaFile`), the container's and the codec's (``'MP4'``,
        ``'AAC'``).
    codec : str or None
        The lossy codec the samples were coded with (``'MP3'``, ``'Vorbis'``, ``'AAC'``,
        ...); None for lossless audio.
    damage : str or None
        What the container shows of damage before any decoding (a WAV data
        chunk shorter than its header says, an Ogg stream without its last
        page, an Ogg page failing its checksum); None if nothing.
    damage_frame : int or None
        Frames before that damage, where reading stops; None: where the
        decoder stops.
    slack : int
        Frames ``frames`` may overstate a whole file by: an MP3's stated length counts
        the encoder's delay and padding (:data:`MPEG_SLACK_FRAMES`), and one without a
        header that states it has an estimate (all of it slack); 0 for the others.
    length_known : bool
        False when the header states no length, or more frames than the file can hold
        (:data:`MAX_FRAMES_PER_BYTE`): a FLAC whose writer never finished it.  The
        file is then read to its end, and no length is promised.
    unfinished : UnfinishedWav or None
        For a WAV whose header does not state all its audio (its writer never finished
        it, or a plain WAV over 4 GiB), read to the file's end (``frames``): what the
        header states (:func:`~dopplerflow.core.damage.unfinished_wav`); else None.
    """

    def __init__(self, samplerate, channels, frames, format, subtype, damage=None,
                 damage_frame=None, slack=0, length_known=True, unfinished=None, codec=None):
        self.samplerate = samplerate
        self.channels = channels
        self.frames = frames
        self.format = format
        self.subtype = subtype
        self.codec = codec if codec is not None else LOSSY_SUBTYPES.get(subtype)
        self.damage = damage
        self.damage_frame = damage_frame
        self.slack = slack
        self.length_known = length_known
        self.unfinished = unfinished

    @property
    def duration_s(self):
        return self.frames / self.samplerate


def _soundfile():
    import soundfile

    return soundfile


def _check_path(path):
    """``path`` as a file name (str or bytes) once it names a regular, readable, non-empty
    file; else a one-line AudioFileError that says which of these it is not."""
    try:
        p = os.fspath(path)
    except TypeError:
        shown = " ".join(repr(path).split())  # one line, whatever the object
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise AudioFileError(f"{shown} is not a file name; give the path of an audio file "
                             f"(WAV, FLAC, OGG, AIFF)") from None
    name = _name(p)
    if not len(p):
        raise AudioFileError("the file name is empty; give the path of an audio file (WAV, "
                             "FLAC, OGG, AIFF)")
    try:
        st = os.stat(p)
    except FileNotFoundError:
        if p in ("-", b"-"):
            raise AudioFileError("'-' (standard input) is not supported: dopplerflow reads a "
                                 "recording from a file (it reads it more than once); save the "
                                 "audio to a file and give its path") from None
        if os.path.islink(p):
            raise AudioFileError(f"{name} is a link to {_name(os.readlink(p))}, which does "
                                 f"not exist; check the link") from None
        raise AudioFileError(f"{name}: no such file; check the path") from None
    except ValueError:  # a NUL byte in it
        raise AudioFileError(f"{name} is not a valid file name (it holds a NUL byte); give "
                             f"the path of an audio file") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise AudioFileError(f"{name} is a link that leads back to itself (a loop of "
                                 f"links); point it at the recording") from None
        raise AudioFileError(f"{name} cannot be reached ({e.strerror}); check the path and "
                             f"the permissions of its folders") from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioFileError(f"{name} is a directory; give an audio file (WAV, FLAC, OGG, "
                             f"AIFF)")
    if not stat.S_ISREG(st.st_mode):
        kind = "a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode) else (
            "a socket" if stat.S_ISSOCK(st.st_mode) else "a device")
        raise AudioFileError(f"{name} is {kind}, not a file: dopplerflow reads a recording "
                             f"from a file (it reads it more than once); save the audio to a "
                             f"file first")
    if st.st_size == 0:
        raise AudioFileError(f"{name} is empty (0 bytes); record again or pick another "
                             f"file")
    try:
        with open(p, "rb"):
            pass
    except OSError as e:
        raise AudioFileError(f"{name} cannot be read ({e.strerror}); check its "
                             f"permissions") from None
    return p


def _name(path):
    """A file name for a one-line message: as it is, bytes that are not text escaped
    (``caf\\xe9.wav``, as :func:`display_name` shows them), and quoted with escapes if it
    still holds characters that do not print (a line break)."""
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str):
        return repr(path)
    shown = display_name(path)
    return shown if shown.isprintable() else repr(shown)


def display_name(path):
    """``path`` as text to show (a summary, a figure's title, a report): a name whose bytes
    are not valid text shows them escaped (``caf\\xe9.wav``) instead of failing to print."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _native(path):
    """``path`` as libsndfile takes it: bytes on POSIX, so that a name that is not valid
    text (its bytes kept by Python as surrogates) opens as any other."""
    return os.fsencode(path) if os.name == "posix" else path


def _open(path):
    """The file at ``path`` opened with soundfile; a WAV whose header does not state all
    its audio (:func:`~dopplerflow.core.damage.unfinished_wav`: its writer never finished
    it, or a plain WAV over 4 GiB) is opened as the raw frames from its data chunk's start
    to the file's end, its ``unfinished`` attribute saying so."""
    sf = _soundfile()
    p = _check_path(path)
    try:
        f = sf.SoundFile(_native(p))
    except sf.LibsndfileError as e:
        reason = str(e).split(":")[-1].strip().rstrip(".") or "unreadable"
    except (RuntimeError, TypeError, ValueError, OSError) as e:
        reason = str(e)
    else:
        if f.format not in ("WAV", "WAVEX", "RF64") or not (f.subtype.startswith("PCM")
                                                    or f.subtype in _UNCOMPRESSED):
            return f
        try:
            with open(p, "rb") as fh:
                found = unfinished_wav(fh, os.fstat(fh.fileno()).st_size)
        except (OSError, struct.error):
            found = None  # the header cannot be checked: libsndfile's view stands
        if found is None or found.block_align != f.channels * _SAMPLE_BYTES.get(f.subtype, 0):
            return f  # (a frame the raw reading would not read as the header lays it out)
        f.close()
        try:
            return _unfinished_file()(p, found, f)
        except (sf.LibsndfileError, RuntimeError, ValueError, OSError):
            return sf.SoundFile(_native(p))  # no raw reading here: libsndfile's view stands
    media = _media_file(p)
    if media is not None:
        return media
    reason = " ".join(reason.split())  # one line, even if the message quotes the name
    raise AudioFileError(f"{_name(p)} is not a readable audio file ({reason}); dopplerflow reads "
                         f"WAV, FLAC, OGG, AIFF and the other formats of libsndfile, and with "
                         f"its media extra those of FFmpeg (MP4/M4A, WebM, AMR)")


def _media_file(p):
    """The file at ``p``, which libsndfile does not read, opened by FFmpeg
    (:class:`~.media.MediaFile`) if its first bytes show a container FFmpeg reads
    (:func:`~.media.container_name`); else None.  Such a file gets a one-line
    AudioFileError where FFmpeg cannot read it, or where PyAV is not installed.  Other
    files are not handed to FFmpeg, whose probing would take noise for a stream."""
    try:
        with open(p, "rb") as fh:
            kind = container_name(fh.read(16))
    except OSError:
        return None
    if kind is None:
        return None
    if not media_available():
        raise AudioFileError(f"{_name(p)} is {kind}, which libsndfile does not read: install "
                             f"dopplerflow's media extra (pip install 'dopplerflow[media]') to "
                             f"read it through FFmpeg, or convert it to WAV or FLAC")
    try:
        return MediaFile(os.fsdecode(p))
    except MediaError as e:
        raise AudioFileError(f"{_name(p)} is {kind} that FFmpeg cannot read ({e}); if it was "
                             f"cut off while recorded, its index may be missing: record again "
                             f"or pick another file") from None


class _Region:
    """Bytes ``[start, start + length)`` of a file as a file of their own, read-only: what
    libsndfile's virtual I/O reads through soundfile."""

    def __init__(self, path, start, length):
        self._fh = open(path, "rb", buffering=0)
        self._start, self._length = start, length
        self._fh.seek(start)

    def tell(self):
        return self._fh.tell() - self._start

    def seek(self, offset, whence=os.SEEK_SET):
        base = (0, self.tell(), self._length)[whence]
        self._fh.seek(self._start + min(max(base + offset, 0), self._length))
        return self.tell()

    def readinto(self, buf):
        return self._fh.readinto(memoryview(buf).cast("B")[:max(0, self._length - self.tell())])

    def read(self, n=-1):
        left = max(0, self._length - self.tell())
        return self._fh.read(left if n is None or n < 0 else min(n, left))

    def close(self):
        self._fh.close()


@functools.cache
def _unfinished_file():
    """The class of an open WAV whose header does not state all its audio (soundfile is
    imported when the first such file is met)."""
    sf = _soundfile()

    class UnfinishedWavFile(sf.SoundFile):
        """The frames of a WAV whose header does not state all of them (``found``, an
        :class:`~dopplerflow.core.damage.UnfinishedWav`) up to the file's end, read as raw
        audio in the format of its header (``like``, the file as libsndfile opened it).

        ``unfinished`` is ``(container, found)``: ``'WAV'``, ``'WAVEX'`` or ``'RF64'``,
        and where the frames are.
        """

        def __init__(self, path, found, like):
            region = _Region(path, found.offset, found.frames * found.block_align)
            try:
                super().__init__(region, samplerate=like.samplerate, channels=like.channels,
                                 subtype=like.subtype, format="RAW",
                                 endian="BIG" if found.big_endian else "LITTLE")
            except Exception:
                region.close()
                raise
            self._region = region
            self.unfinished = (like.format, found)

        def close(self):
            super().close()
            region = getattr(self, "_region", None)
            if region is not None:
                region.close()

    return UnfinishedWavFile


#: libsndfile subtypes whose samples are coarse: their rounding noise lies some 40-50 dB
#: under full scale (8 bits), under the signal (the companded mu-law and A-law), or an
#: adaptive coder's step under it (ADPCM), in place of 16-bit PCM's 96 dB.
COARSE_SUBTYPES = {
    "PCM_U8": "8-bit", "PCM_S8": "8-bit", "ULAW": "mu-law (8-bit)", "ALAW": "A-law (8-bit)",
    "IMA_ADPCM": "ADPCM (4-bit)", "MS_ADPCM": "ADPCM (4-bit)", "VOX_ADPCM": "ADPCM (4-bit)",
    "G721_32": "ADPCM (4-bit)", "G723_24": "ADPCM (3-bit)", "G723_40": "ADPCM (5-bit)",
}


#: The kinds of :data:`COARSE_SUBTYPES` whose rounding the format fixes (8 bits, or the
#: segment of a companded sample's amplitude) rather than an adaptive coder's step: under
#: the strong stationary echoes of raw probe audio it is the noise floor
#: (its echoes' test, ``assemble._coded_echoes``).
FIXED_ROUNDING = frozenset({"8-bit", "mu-law (8-bit)", "A-law (8-bit)"})


#: libsndfile subtypes of lossy codecs, and the codec's name.
LOSSY_SUBTYPES = {"VORBIS": "Vorbis", "OPUS": "Opus", "MPEG_LAYER_I": "MPEG layer I",
                  "MPEG_LAYER_II": "MPEG layer II", "MPEG_LAYER_III": "MP3"}


def encoding_warning(info):
    """The warning for a file whose samples are coarse (:data:`COARSE_SUBTYPES`) or
    lossy-coded (:data:`LOSSY_SUBTYPES`), or None.

    The rounding noise of coarse samples follows the signal, and a Doppler recording's
    signal is mostly the wall's stationary echoes: where they stand far over the blood
    (a simulator's 50 dB, a probe's audio before its own wall filter), that noise lies over
    the blood's and reads as flow in both directions.  A lossy codec's noise follows the
    echoes too, in clumps: the signal band ends below the clumps it finds
    (:mod:`.band`), but those around strong echoes lie over the slow flow.
    """
    codec = info.codec
    if codec is not None:
        return (f"the file is lossy-coded ({codec}): the codec's noise comes in clumps the "
                f"detection is not set for; the band ends below those it finds, but where "
                f"the wall's echoes stand far over the blood (raw probe audio) its noise "
                f"around them reads as slow flow both ways, and can make a false reflux; "
                f"record lossless audio (WAV, FLAC)")
    kind = COARSE_SUBTYPES.get(info.subtype)
    if kind is None:
        return None
    return coarse_warning("the file's", kind, info.subtype)


def coarse_warning(whose, kind, encoding):
    """The warning of coarse samples, e.g. ``coarse_warning("the array's", "8-bit",
    "uint8")``: a file's (:func:`encoding_warning`) and an 8-bit array's say the same."""
    return (f"{whose} samples are {kind} ({encoding}): their rounding noise stands only some "
            f"40-50 dB under the signal, and where the wall's echoes are far stronger than "
            f"the blood it reads as flow in both directions; record 16-bit PCM")


def recording_at(path):
    """What the file at ``path`` holds if it is a recording, e.g. ``'WAV, 2 channels,
    12.0 s'``; None if there is no file there, or one libsndfile does not open as audio.

    Only the header is read (cheap whatever the file's length).  Nothing is raised: a
    file that cannot be read or is not audio is no recording to protect.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with _open(path) as f:
            channels, frames, rate, fmt = f.channels, f.frames, f.samplerate, f.format
            fmt = getattr(f, "unfinished", (fmt,))[0]
    except Exception:  # noqa: BLE001 - libsndfile raises several types; none is a recording
        return None
    seconds = frames / rate if rate > 0 else 0.0
    length = f"{seconds:.1f} s" if seconds >= 0.1 else f"{1e3 * seconds:.3g} ms"
    if not _length_stated(frames, os.fspath(path)):
        length = "length not stated"
    return f"{fmt}, {channels} channel{'s' if channels != 1 else ''}, {length}"


def over_recording(path):
    """Why an output may not be written to ``path``, or None: the clause ``'x.wav is a
    recording (WAV, 2 channels, 12.0 s); dopplerflow never writes over a recording'`` when
    a recording is there (:func:`recording_at`).  The caller adds what to do."""
    held = recording_at(path)
    if held is None:
        return None
    return (f"{_name(os.fspath(path))} is a recording ({held}); dopplerflow never writes over "
            f"a recording")


def _describe(f, path):
    """The :class:`AudioInfo` of an open file, with the header's promise and any damage seen."""
    unfinished = getattr(f, "unfinished", None)
    if unfinished is not None:
        container, found = unfinished
        return AudioInfo(f.samplerate, f.channels, f.frames, container, f.subtype,
                         unfinished=found)
    if isinstance(f, MediaFile):
        # a stated length may overstate the decoded one by the codec's padding; an
        # estimate from the bit rate is no promise (all of it slack)
        slack = MEDIA_SLACK_CODEC_FRAMES * f.codec_frame if f.length_stated else f.frames
        return AudioInfo(f.samplerate, f.channels, f.frames, f.format, f.subtype,
                         slack=slack, codec=f.lossy)
    info = AudioInfo(f.samplerate, f.channels, f.frames, f.format, f.subtype,
                     slack=f.frames if f.format == "MP3" else 0,
                     length_known=_length_stated(f.frames, path))
    try:
        with open(path, "rb") as fh:
            # a WAV data chunk holds frames of block-align bytes only when not compressed
            if f.format == "AIFF" or (f.format in ("WAV", "WAVEX", "RF64") and (
                    f.subtype.startswith("PCM") or f.subtype in _UNCOMPRESSED)):
                promised = header_frames(fh)
                if promised is not None and promised > f.frames:
                    info.frames = promised
                    info.damage = "its data chunk is shorter than its header says"
                    info.damage_frame = f.frames
            elif f.format == "OGG":
                found = ogg_damage(fh)
                if found is not None:
                    granule, info.damage = found
                    # Vorbis granules count frames from the stream's start (Opus's do not)
                    if f.subtype == "VORBIS" and granule is not None and granule < f.frames:
                        info.damage_frame = granule
            elif f.format == "MP3" and mpeg_length_stated(fh):
                info.slack = MPEG_SLACK_FRAMES
    except (OSError, struct.error):
        pass  # the header cannot be checked: libsndfile's view stands
    return info


def _length_stated(frames, path):
    """Whether ``frames``, the length a file's header states, can be the length of the
    file at ``path`` (:data:`MAX_FRAMES_PER_BYTE`); True when its size cannot be read."""
    try:
        return frames <= MAX_FRAMES_PER_BYTE * os.path.getsize(path)
    except OSError:
        return True


def open_audio(path):
    """Check that ``path`` is a readable audio file and describe it.

    Returns
    -------
    AudioInfo

    Raises
    ------
    AudioFileError
        Missing, a directory, empty, not audio, holding no frames, or at a
        sample rate outside :data:`~dopplerflow.core.settings.RATE_RANGE_HZ`.
    """
    from .settings import RATE_RANGE_HZ

    with _open(path) as f:
        info = _describe(f, os.fspath(path))
    if not RATE_RANGE_HZ[0] <= info.samplerate <= RATE_RANGE_HZ[1]:
        raise AudioFileError(f"{_name(os.fspath(path))} has a sample rate of {info.samplerate} Hz; "
                             f"dopplerflow analyses {RATE_RANGE_HZ[0]:g}-{RATE_RANGE_HZ[1]:g} Hz "
                             f"audio (resample it, e.g. to 48000 Hz)")
    if info.frames == 0 or info.damage_frame == 0:
        why = f" ({info.damage})" if info.damage else ""
        raise AudioFileError(f"{_name(os.fspath(path))} holds no audio frames that can be "
                             f"read{why}; record again or pick another file")
    return info


@dataclass(frozen=True)
class Gap:
    """``n_samples`` samples lost from the stream: time goes on over silence."""

    n_samples: int


class ReadReport:
    """What reading a file delivered, and why it stopped early if it did.

    Attributes
    ----------
    path : str
    frames_promised : int or None
        Frames the header promises (:attr:`AudioInfo.frames`); None until the
        file is opened.
    frames_read : int
        Frames delivered so far; the same for every block size.
    reason : str or None
        Why reading stopped before the end the header promises (the
        decoder's error, a cut data chunk, a damaged Ogg page); None if it
        did not, or has not yet.
    samplerate : int or None
        The file's sample rate, Hz; None until the file is opened.
    slack : int
        Frames the header's length may overstate (:attr:`AudioInfo.slack`).
    length_known : bool
        False when the header states no length (:attr:`AudioInfo.length_known`):
        ``frames_promised`` is then None, and the file is read to its end.
    damaged : list of (int, int, str)
        Damage inside the file that the reading went on past: the first frame that did
        not decode, the first that did after it, and the decoder's error (the frames
        between are a :class:`Gap`).
    unfinished : UnfinishedWav or None
        What the header of a WAV that does not state all its audio states
        (:attr:`AudioInfo.unfinished`); its audio is read to the file's end.
    """

    def __init__(self, path):
        self.path = path
        self.frames_promised = None
        self.frames_read = 0
        self.reason = None
        self.samplerate = None
        self.slack = 0
        self.length_known = True
        self.damaged = []
        self.unfinished = None

    @property
    def complete(self):
        """Whether every promised frame was read and nothing was found damaged."""
        return self.reason is None and (self.frames_promised is None
                                        or self.frames_read + self.slack
                                        >= self.frames_promised)

    def cut(self):
        """Where reading stopped early, for the result's ``cut`` entry; None if it did not.

        Returns
        -------
        dict or None
            ``at_s``: the end of the audio read (and analysed), s; ``stated_s``: the
            length the header states, s (None when it states none, or no more than was
            read: damage found by a check of the file's own structure); ``reason``:
            what stopped the reading.
        """
        if self.complete or not self.samplerate:
            return None
        stated = None
        if self.frames_promised is not None and self.frames_read < self.frames_promised:
            stated = round(self.frames_promised / self.samplerate, 6)
        return {"at_s": round(self.frames_read / self.samplerate, 6), "stated_s": stated,
                "reason": self.reason or "the decoder found no more frames"}

    def gap_warning(self):
        """A one-line warning if the reading went on past damage inside the file; else
        None."""
        if not self.damaged or not self.samplerate:
            return None
        fs = self.samplerate
        a, b, why = self.damaged[0]
        lost = sum(end - start for start, end, _ in self.damaged) / fs
        more = f" and {len(self.damaged) - 1} more place(s)" if len(self.damaged) > 1 else ""
        return (f"the file is damaged at {a / fs:.3f}-{b / fs:.3f} s ({why}){more}: {lost:.3f} "
                f"s could not be decoded and are a gap in the analysis; the audio after the "
                f"damage is analysed")

    def warning(self):
        """A one-line warning if reading stopped early, or the header states no length;
        else None."""
        at = f"{self.frames_read / self.samplerate:.3f} s" if self.samplerate else "the end"
        unstated = ("header states no length (a FLAC whose writer never finished it, as a "
                    "crash leaves it)")
        if self.complete:
            found = self.unfinished
            if found is not None and self.samplerate:
                stated = (f"{found.stated / self.samplerate:.3f} s" if found.stated
                          else "no audio")
                why = ("the file is a WAV over 4 GiB, more than a WAV header can state (RF64 "
                       "can)" if found.oversize else "the file's header was never finished, "
                       "as a recorder leaves it until it closes the file (one that crashed, was "
                       "killed or is still recording)")
                fix = ("" if found.oversize else ": dopplerflow repair writes a copy whose "
                       "header states all of it")
                return (f"{why}: it states {stated}, but the audio runs on to the file's end; "
                        f"all {self.frames_read} frames, to {at}, were read and are analysed; "
                        f"other programs may read only what the header states{fix}")
            if self.length_known:
                return None
            return (f"the file's {unstated}: its {self.frames_read} frames were read to its "
                    f"end, at {at}, and are analysed; other programs may refuse it or give it "
                    f"no length")
        why = self.reason or "the decoder found no more frames"
        if self.frames_promised is not None and self.frames_read < self.frames_promised:
            return (f"the file is damaged or cut short at {at} ({why}): its header promises "
                    f"{self.frames_promised} frames, {self.frames_read} could be read and are "
                    f"analysed")
        if not self.length_known:
            return (f"the file is damaged or cut short at {at} ({why}): its {unstated}; the "
                    f"{self.frames_read} frames before it are analysed")
        return (f"the file is damaged or cut short at {at} ({why}): the {self.frames_read} "
                f"frames before it are analysed")


class BlockReader:
    """The ``(frames, channels)`` float32 blocks of an audio file, and a report on them.

    Iterate over it for the blocks: ``block_size`` frames each, the last one
    shorter.  The same buffer is reused for every block: copy a block to keep
    it.  The samples delivered do not depend on ``block_size``.  Reading
    stops at the first damage, after every frame before it that decodes;
    :attr:`report` then says where and why.

    Parameters
    ----------
    path : str or os.PathLike
    block_size : int
        Frames per block, at least 1.

    Attributes
    ----------
    report : ReadReport
        Filled in while iterating.

    Raises
    ------
    SettingsError
        ``block_size`` is not a positive whole number.
    AudioFileError
        (When iterated) the file is missing, empty or not audio.
    """

    def __init__(self, path, block_size=65536):
        if (not isinstance(block_size, numbers.Integral) or isinstance(block_size, bool)
                or block_size < 1):
            shown = " ".join(repr(block_size).split())[:60]
            raise SettingsError(f"block size {shown} must be a positive whole number of "
                                f"frames (e.g. 4096)")
        self.path = path
        self.block_size = int(block_size)
        self.report = ReadReport(os.fspath(path) if isinstance(path, (str, os.PathLike))
                                 else path)

    def __iter__(self):
        size = self.block_size
        out, fill = None, 0
        for piece in self._pieces():
            if isinstance(piece, Gap):  # damage gone past: what was read, then the gap
                if fill:
                    yield out[:fill]
                    fill = 0
                yield piece
                continue
            i = 0
            while i < len(piece):
                if fill == 0 and len(piece) - i >= size:  # a whole block inside the piece
                    yield piece[i:i + size]
                    i += size
                    continue
                take = min(size - fill, len(piece) - i)
                if out is None or fill + take > len(out):  # grows with what is read, to size
                    grown = np.empty((min(size, max(2 * fill, fill + take, 4096)),
                                      piece.shape[1]), np.float32)
                    if fill:
                        grown[:fill] = out[:fill]
                    out = grown
                out[fill:fill + take] = piece[i:i + take]
                fill += take
                i += take
                if fill == size:
                    yield out
                    fill = 0
        if fill:
            yield out[:fill]

    def _pieces(self):
        """Yield the decoded stream in pieces, retrying smaller reads where one fails."""
        report = self.report = ReadReport(self.report.path)  # afresh for each iteration
        steps = (PIECE_FRAMES,) + _RETRY_FRAMES
        f = _open(self.path)
        try:
            info = _describe(f, os.fspath(self.path))
            report.frames_promised = info.frames if info.length_known else None
            report.samplerate, report.slack = info.samplerate, info.slack
            report.length_known = info.length_known
            report.unfinished = info.unfinished
            limit = info.damage_frame
            buf = np.empty((PIECE_FRAMES, info.channels), np.float32)
            read, tail = _reader(f), buf[:0].copy()
            pos = level = run = 0
            while limit is None or pos < limit:
                want = steps[level] if limit is None else min(steps[level], limit - pos)
                n, error = read(buf, want)
                if n:
                    pos += n
                    run += n
                    report.frames_read = pos
                    tail = np.concatenate((tail, buf[max(0, n - _CHECK_FRAMES):n]))
                    tail = tail[-_CHECK_FRAMES:]
                    yield buf[:n]
                if error is None:
                    if n == 0:  # the end
                        break
                    if level and run >= steps[level - 1]:  # past the trouble: larger reads
                        level, run = level - 1, 0
                    continue
                f.close()
                f = None
                if level < len(steps) - 1 or n:
                    f = self._reopen_at(pos, tail, buf)
                if f is None:  # a single frame does not decode here, on a fresh decoder
                    after, f = self._resync(pos, report, buf)
                    if f is None:
                        report.reason = error
                        break
                    report.damaged.append((pos, after, error))
                    yield Gap(after - pos)
                    pos = report.frames_read = after
                    read, level, run, tail = _reader(f), 0, 0, buf[:0].copy()
                    continue
                read, level, run = _reader(f), min(level + 1, len(steps) - 1), 0
            if report.reason is None:
                report.reason = info.damage
        finally:
            if f is not None:
                f.close()

    def _resync(self, pos, report, buf):
        """``(frame, file)``: the file opened afresh at the first frame after ``pos``, on
        the :data:`RESYNC_STEP` grid, that decodes (damage inside the file: the reading
        goes on there); ``(None, None)`` where none does before the end the header states
        (or within :data:`RESYNC_TRIES`)."""
        sf = _soundfile()
        failures = (sf.LibsndfileError, RuntimeError, ValueError, AudioFileError)
        end = report.frames_promised
        tries = RESYNC_TRIES if end is not None else RESYNC_TRIES_UNSTATED
        for k in range(1, tries + 1):
            at = pos + k * RESYNC_STEP
            if end is not None and at >= end:
                break
            try:
                f = _open(self.path)
            except AudioFileError:
                return None, None
            try:
                f.seek(at)
                n, error = _reader(f)(buf, RESYNC_STEP)
                if error is None and n > 0:
                    f.seek(at)
                    return at, f
            except failures:
                pass
            f.close()
        return None, None

    def _reopen_at(self, pos, tail, buf):
        """The file opened afresh and positioned at frame ``pos``; None if it cannot be.

        A seek is trusted when the ``tail`` frames before ``pos`` (the last ones
        delivered) read back the same; otherwise the file is decoded from the start.
        """
        sf = _soundfile()
        failures = (sf.LibsndfileError, RuntimeError, ValueError, AudioFileError)
        try:
            f = _open(self.path)
        except AudioFileError:
            return None
        try:
            f.seek(pos - len(tail))
            n, error = _reader(f)(buf, len(tail))
            if error is None and np.array_equal(buf[:n], tail, equal_nan=True):
                return f
        except failures:
            pass
        f.close()
        try:
            f = _open(self.path)
            read, done = _reader(f), 0
            while done < pos:
                n, error = read(buf, min(PIECE_FRAMES, pos - done))
                if error is not None or n == 0:
                    break
                done += n
        except failures:
            return None
        if done == pos:
            return f
        f.close()
        return None


def _reader(f):
    """A function ``read(buf, n) -> (frames read, error text or None)`` of an open file.

    It reads up to ``n`` frames into the float32 array ``buf`` and says how
    many came even when the decoder fails part-way.  soundfile's
    ``SoundFile.read`` cannot: it raises and drops the frames of a read that
    fails, and it seeks after every read, which fails when the read ends just
    before a damaged FLAC frame.  So libsndfile's ``sf_readf_float`` is called
    through soundfile's own binding; without it (another soundfile) the
    public ``read`` is used, and the frames of a failing read are counted
    with ``tell()`` when libsndfile still knows its position.
    """
    sf = _soundfile()
    try:
        snd, ffi, handle = sf._snd, sf._ffi, f._file
        readf, error_code, error_text = snd.sf_readf_float, snd.sf_error, snd.sf_error_number
    except AttributeError:
        return _public_reader(f)

    def read(buf, n):
        got = int(readf(handle, ffi.cast("float *", buf.ctypes.data), n))
        code = error_code(handle)
        if code == 0:
            return got, None
        return max(got, 0), _error_text(ffi.string(error_text(code)).decode(errors="replace"))

    return read


def _public_reader(f):
    """:func:`_reader` with soundfile's public API only."""
    sf = _soundfile()

    def read(buf, n):
        start = f.tell()
        try:
            return len(f.read(n, dtype="float32", always_2d=True, out=buf[:n])), None
        except (sf.LibsndfileError, RuntimeError) as e:
            try:
                got = f.tell() - start
            except (sf.LibsndfileError, RuntimeError):
                got = -1
            return (got if 0 <= got <= n else 0), _error_text(str(e))

    return read


def _error_text(text):
    """libsndfile's error message without its ``Error :`` and final stop."""
    text = text.strip().rstrip(".").strip()
    if text.lower().startswith("error"):
        text = text[5:].lstrip(" :")
    return text or "the decoder failed"


def iter_blocks(path, block_size=65536):
    """The ``(frames, channels)`` float32 blocks of a file: a :class:`BlockReader`.

    Iterate over it; the same buffer is reused for every block (copy a block
    to keep it).  The samples do not depend on ``block_size``.  A damaged
    file is read up to the damage; the reader's ``report`` says where reading
    stopped and why.
    """
    return BlockReader(path, block_size)


def repair_wav(path, out):
    """Copy a WAV whose header does not state all its audio to ``out`` with one that does.

    The copy holds the same bytes up to the last whole frame: only the sizes change (the
    RIFF and data chunks', a ``fact`` chunk's frame count, RF64's ds64 sizes), so any
    program reads all of it.  ``out`` is written all at once (:func:`atomic_output`).

    Returns
    -------
    AudioInfo
        The file's, its ``unfinished`` saying where the audio is and what the header
        stated.

    Raises
    ------
    AudioFileError
        ``path`` is no WAV, its header already states all its audio, or it is a plain WAV
        over 4 GiB (whose sizes no WAV header can state).
    """
    info = open_audio(path)
    found, name = info.unfinished, _name(os.fspath(path))
    if found is None:
        if info.format not in ("WAV", "WAVEX", "RF64"):
            raise AudioFileError(f"{name} is {info.format}, not a WAV: repair rewrites the "
                                 f"sizes of a WAV's header; dopplerflow reads the other "
                                 f"formats' unfinished files whole as they are")
        raise AudioFileError(f"{name}: its header states all its audio ({info.frames} frames, "
                             f"{info.duration_s:.3f} s); nothing to repair, no copy written")
    data = found.frames * found.block_align
    pad = data & 1
    total = found.offset + data + pad
    with open(path, "rb") as fh:
        head = bytearray(fh.read(found.offset))
    rf64 = head[:4] == b"RF64"
    if not rf64 and total - 8 > 0xFFFFFFFF:
        raise AudioFileError(f"{name} holds {data} bytes of audio, more than a WAV header can "
                             f"state (4 GiB); dopplerflow reads it whole as it is, and FFmpeg "
                             f"or sox can convert it to RF64 or FLAC")
    order = "big" if head[:4] == b"RIFX" else "little"
    if not rf64:
        head[4:8] = (total - 8).to_bytes(4, order)
        head[found.offset - 4:found.offset] = data.to_bytes(4, order)
    at = 12
    while at + 8 <= found.offset - 8:  # the chunks before the data's
        cid, size = bytes(head[at:at + 4]), int.from_bytes(head[at + 4:at + 8], order)
        if cid == b"ds64" and rf64 and size >= 24:
            head[at + 8:at + 32] = b"".join(v.to_bytes(8, "little")
                                            for v in (total - 8, data, found.frames))
        elif cid == b"fact" and size >= 4 and found.frames <= 0xFFFFFFFF:
            head[at + 8:at + 12] = found.frames.to_bytes(4, order)
        at += 8 + size + (size & 1)
    with atomic_output(out, "wb") as dst, open(path, "rb") as src:
        dst.write(head)
        src.seek(found.offset)
        left = data
        while left:
            chunk = src.read(min(left, 1 << 20))
            if not chunk:
                raise AudioFileError(f"{name} became shorter while it was copied; copy it "
                                     f"again once nothing writes to it")
            dst.write(chunk)
            left -= len(chunk)
        dst.write(b"\0" * pad)
    return info


def write_json(analysis, path, *, trace=False):
    """Write ``analysis.to_dict(trace=trace)`` as JSON (:func:`atomic_output`)."""
    _atomic_write(path, json.dumps(analysis.to_dict(trace=trace), indent=2) + "\n")


def write_csv(analysis, path):
    """Write the per-frame trace as CSV to ``path`` (:func:`atomic_output`), or to an open
    text file (``sys.stdout``).

    Columns: ``time_s, antegrade_max_cm_s, retrograde_max_cm_s,
    mean_velocity_cm_s, flow, velocity_cm_s``; empty cells where a value is
    not defined (retrograde in mono recordings) or the row was not analysed
    (the wall filter settling at the start and after lost samples).
    """
    if hasattr(path, "write"):
        _trace_csv(analysis.trace, path)
        return
    with atomic_output(path, newline="") as fh:
        _trace_csv(analysis.trace, fh)


def _trace_csv(t, fh):
    """Write the trace ``t`` as CSV rows to the open text file ``fh``."""
    cols = [np.asarray(getattr(t, c)) for c in t.COLUMNS]
    w = csv.writer(fh)
    w.writerow(t.COLUMNS)
    fmt = ["%.4f", "%.3f", "%.3f", "%.3f", "%d", "%.3f"]
    for row in zip(*cols, strict=True):
        w.writerow(["" if v != v else f % v for f, v in zip(fmt, row, strict=True)])


@contextlib.contextmanager
def atomic_output(path, mode="w", **open_kw):
    """Write ``path`` all at once: a file opened beside it replaces it when the block ends.

    On any failure (a full disk, an exception while writing, Ctrl-C) the
    temporary file is removed and ``path`` is left as it was; the error names
    ``path``.  The new file gets the permissions a plain ``open`` would give it, and
    where ``path`` is a symbolic link it replaces the file the link names, as a plain
    ``open`` writes it: the link is kept (``/dev/stdout``, a link to the process's
    standard output, is never replaced by a file).

    Raises
    ------
    AudioFileError
        ``path`` cannot be written (its folder is missing or read-only, the
        disk is full).
    """
    path = os.fspath(path)
    target = os.path.realpath(path)
    folder = os.path.dirname(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp",
                                   dir=folder)
    except OSError as e:
        raise AudioFileError(f"cannot write {_name(path)}: {e.strerror or e}") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, mode, **open_kw) as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError) and not isinstance(e, AudioFileError):
            raise AudioFileError(f"cannot write {_name(path)}: {e.strerror or e}") from None
        raise


def _atomic_write(path, text):
    with atomic_output(path) as fh:
        fh.write(text)
