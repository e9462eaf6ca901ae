"""Audio in the containers libsndfile does not read, decoded by FFmpeg through PyAV.

A phone's recorder writes MP4/M4A (AAC), 3GP or AMR; a scanner exports a clip of an exam as
an MP4 with its Doppler sound; a browser records WebM.  With PyAV installed (dopplerflow's
``media`` extra, ``pip install 'dopplerflow[media]'``), :class:`MediaFile` opens the first
audio stream of such a file and serves the part of :class:`soundfile.SoundFile` that the
reader (:mod:`.io`) uses: ``samplerate``, ``channels``, ``frames``, ``format``,
``subtype``, ``read``, ``seek``, ``tell`` and ``close``.  Decoding streams packet by packet,
so an hours-long file is read in constant memory.

:func:`container_name` tells from a file's first bytes whether it is such a container:
only those are handed to FFmpeg, and without PyAV the error names them and says how to
read them.
"""

import functools

import numpy as np

__all__ = ["MediaFile", "MediaError", "container_name", "available"]

#: A seek within this many frames ahead decodes on to its frame; a farther one, or one
#: back, jumps through the container's index.
_SEEK_DECODE_FRAMES = 1 << 18
#: Codec frames decoded and dropped before a jump's target: a transform codec's first
#: frame after a jump lacks the overlap of the one before it.
_PREROLL_CODEC_FRAMES = 4
#: FFmpeg's demuxers, by the first of their names, as dopplerflow names the container.
_CONTAINERS = {"mov": "MP4", "matroska": "WEBM", "amr": "AMR", "asf": "ASF", "avi": "AVI",
               "aac": "AAC", "flac": "FLAC", "ogg": "OGG", "wav": "WAV", "mp3": "MP3"}
#: FFmpeg's demuxers whose containers state their streams' length in samples (an MP4's
#: sample table); the others' is FFmpeg's estimate (from the bit rate, or in milliseconds).
_STATE_LENGTH = ("mov",)
#: The full scale of FFmpeg's integer sample formats.
_FULL_SCALE = {"s16": 32768.0, "s32": 2.0 ** 31, "s64": 2.0 ** 63}


class MediaError(RuntimeError):
    """FFmpeg could not demux or decode a part of the file."""


@functools.cache
def _av():
    import av

    return av


def available():
    """Whether PyAV (the ``media`` extra) can be imported."""
    try:
        _av()
    except ImportError:
        return False
    return True


def container_name(head):
    """What a file whose first bytes are ``head`` (16 or more) is, if it is a container
    libsndfile does not read: ``'an MP4/M4A file'``, ...; else None."""
    if head[4:8] == b"ftyp":
        return "a 3GP file" if head[8:11] == b"3gp" else "an MP4/M4A file"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):  # an older QuickTime movie
        return "a QuickTime (MOV) file"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "a WebM/Matroska file"
    if head[:5] == b"#!AMR":
        return "an AMR file"
    if head[:8] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11":
        return "a Windows Media (WMA/ASF) file"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "an AVI file"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "an AAC (ADTS) file"
    return None


def _as_frames(frame, channels):
    """A decoded :class:`av.AudioFrame` as ``(samples, channels)`` float32 in [-1, 1)."""
    fmt = frame.format
    a = frame.to_ndarray()
    a = a.T if fmt.is_planar else a.reshape(-1, channels)
    kind = fmt.name.rstrip("p")
    if kind == "u8":
        return (a.astype(np.float32) - 128.0) / 128.0
    if kind in _FULL_SCALE:
        return (a / _FULL_SCALE[kind]).astype(np.float32)
    return a.astype(np.float32, copy=False)


class MediaFile:
    """The first audio stream of a file that FFmpeg reads, as frames.

    Parameters
    ----------
    path : str
        The file.

    Attributes
    ----------
    samplerate, channels : int
    frames : int
        The length the container states (an MP4's stream duration), or FFmpeg's estimate
        where it states none (``length_stated`` False: WebM, AMR, ADTS, ...).
    length_stated : bool
    format : str
        The container: ``'MP4'`` (MP4, M4A, MOV, 3GP), ``'WEBM'`` (WebM, Matroska),
        ``'AMR'``, ``'ASF'``, ...
    subtype : str
        FFmpeg's name of the codec, upper case: ``'AAC'``, ``'ALAC'``, ``'AMR_NB'``, ...
    lossy : str or None
        The codec's name if it is lossy (``'AAC'``), else None.
    codec_frame : int
        Frames the codec codes at a time (1024 for AAC).

    Raises
    ------
    MediaError
        FFmpeg cannot open the file, or it holds no audio stream.
    """

    def __init__(self, path):
        self._path = path
        self._container = _open_container(path)
        try:
            self._describe()
            self._start()
            self._hear()
        except BaseException:
            self._container.close()
            raise

    def _describe(self):
        audio = self._container.streams.audio
        if not audio:
            raise MediaError("it holds no audio stream")
        self._stream = s = audio[0]
        ctx = s.codec_context
        self.samplerate = int(ctx.sample_rate or s.rate or 0)
        self.channels = int(ctx.channels or s.layout.nb_channels)
        if self.samplerate <= 0 or self.channels <= 0:
            raise MediaError("its audio stream states no sample rate or channels")
        demuxer = self._container.format.name.split(",")[0]
        self.format = _CONTAINERS.get(demuxer, demuxer.upper())
        self.subtype = ctx.name.upper()
        codec = ctx.codec
        self.lossy = None if codec.lossless or not codec.lossy else (
            ctx.codec.long_name.split(" (")[0])
        self.codec_frame = ctx.frame_size or 1024
        self.length_stated = bool(s.duration) and demuxer in _STATE_LENGTH
        self._origin = None  # the first frame's timestamp, once decoded from the start
        self._measure()

    def _measure(self):
        """``frames`` and the end of the reading, at ``samplerate``."""
        s = self._stream
        if self.length_stated:
            self.frames = round(s.duration * s.time_base * self.samplerate)
        else:
            duration = self._container.duration  # microseconds, estimated
            self.frames = round(duration * self.samplerate / 1e6) if duration else 0
        self._end = self.frames if self.length_stated else None

    def _hear(self):
        """The rate and channels of the first decoded frame, where they differ from what
        the header states: HE-AAC's spectral band replication doubles the rate and its
        parametric stereo makes two channels of one, and a header need not say so.  The
        frames decoded are kept as the first to read.  Where none decodes, the header's
        view stands, and reading from the start again reports the damage."""
        if self._pos or self._ended or len(self._pending):
            self._restart()
        try:
            decoded = self._next_decoded()
            if decoded is None:
                return
            first = decoded[0]
            if (first.sample_rate, first.layout.nb_channels) != (self.samplerate,
                                                                 self.channels):
                self.samplerate, self.channels = first.sample_rate, first.layout.nb_channels
                self._measure()
            self._pending = self._samples(decoded)[0]
        except MediaError:
            self._restart()

    def _start(self):
        """Decode from the stream's first frame (of the container as just opened)."""
        self._packets = self._container.demux(self._stream)
        self._pending = np.empty((0, self.channels), np.float32)
        self._pos = 0
        self._ended = False

    def _restart(self):
        """Back to the stream's first frame: the file opened afresh, so that the decoder
        drops the codec's priming at its start as it did the first time."""
        self._container.close()
        self._container = _open_container(self._path)
        self._stream = self._container.streams.audio[0]
        self._start()

    def _decode(self):
        """The next decoded frames, ``(samples, timestamp or None)``, or None at the end."""
        decoded = self._next_decoded()
        return None if decoded is None else self._samples(decoded)

    def _next_decoded(self):
        """The :class:`av.AudioFrame` list of the next packet that decodes to any, or None
        at the end."""
        av = _av()
        while True:
            try:
                packet = next(self._packets)
            except StopIteration:
                return None
            except av.error.FFmpegError as e:
                raise MediaError(_reason(e)) from None
            try:
                decoded = packet.decode()
            except av.error.FFmpegError as e:
                raise MediaError(_reason(e)) from None
            if decoded:
                return decoded

    def _samples(self, decoded):
        """Decoded frames as ``(samples, timestamp or None)`` (:meth:`_decode`); the first
        frames decoded from the start give the timestamp origin."""
        for fr in decoded:
            if fr.sample_rate != self.samplerate or fr.layout.nb_channels != self.channels:
                raise MediaError(f"the audio stream changes from {self.samplerate} Hz, "
                                 f"{self.channels} channel(s) to {fr.sample_rate} Hz, "
                                 f"{fr.layout.nb_channels} channel(s)")
        try:
            out = [_as_frames(fr, self.channels) for fr in decoded]
        except (ValueError, TypeError) as e:  # a sample format numpy does not take
            raise MediaError(f"its samples cannot be converted ({e})") from None
        if self._origin is None and self._pos == 0 and decoded[0].pts is not None:
            self._origin = decoded[0].pts
        return (out[0] if len(out) == 1 else np.concatenate(out)), decoded[0].pts

    def _fill(self, want):
        """Decode until ``want`` frames are pending or the stream ends."""
        parts = [self._pending]
        have = len(self._pending)
        while have < want and not self._ended:
            got = self._decode()
            if got is None:
                self._ended = True
                break
            parts.append(got[0])
            have += len(got[0])
        self._pending = parts[0] if len(parts) == 1 else np.concatenate(parts)

    def read(self, frames=-1, dtype="float32", always_2d=True, out=None):
        """Up to ``frames`` frames from the position, as ``(frames, channels)`` float32 (in
        ``out`` when given); fewer at the end.  A part that does not decode raises
        :class:`MediaError` after the frames before it are in ``out`` and counted by
        :meth:`tell`."""
        if out is None:
            if frames is None or frames < 0:  # to the end
                parts = []
                while len(part := self.read(1 << 16)):
                    parts.append(part)
                return np.concatenate(parts) if parts else np.empty((0, self.channels),
                                                                       np.float32)
            out = np.empty((frames, self.channels), np.float32)
        frames = len(out) if frames is None or frames < 0 else min(frames, len(out))
        if self._end is not None:
            frames = max(0, min(frames, self._end - self._pos))
        done = 0
        while done < frames:
            if not len(self._pending):
                self._fill(1)
                if not len(self._pending):
                    break
            take = min(frames - done, len(self._pending))
            out[done:done + take] = self._pending[:take]
            self._pending = self._pending[take:]
            done += take
            self._pos += take
        return out[:done]

    def seek(self, frame, whence=0):
        """Go to frame ``frame`` (from the start: ``whence`` 0 only); returns it."""
        if whence != 0 or frame < 0:
            raise ValueError("a media file seeks to a frame counted from its start")
        if frame == self._pos:
            return frame
        if (frame < self._pos or frame - self._pos > _SEEK_DECODE_FRAMES) and not (
                self._jump(frame)):
            self._restart()
        try:
            self._skip(frame)
        except MediaError:  # a part on the way does not decode: past it through the index
            if not self._jump(frame):
                raise
            self._skip(frame)
        return frame

    def _skip(self, frame):
        """Decode on to frame ``frame``, dropping the frames before it."""
        while self._pos < frame:
            self._fill(1)
            if not len(self._pending):
                raise MediaError(f"frame {frame} lies past the stream's end")
            take = min(frame - self._pos, len(self._pending))
            self._pending = self._pending[take:]
            self._pos += take

    def _jump(self, frame):
        """Go to a frame at or before ``frame`` through the container's index, whose
        position the first decoded frame's timestamp gives; False where it cannot: too
        close to the start, or timestamps that do not count single frames (WebM's count
        milliseconds), with the position unchanged; or a jump that lands nowhere usable,
        after which the decoder stands elsewhere than the position (:meth:`seek` then
        starts again from the first frame, or raises, and the reader reopens the file)."""
        s = self._stream
        back = frame - _PREROLL_CODEC_FRAMES * self.codec_frame
        if (self._origin is None or back <= 0 or not s.time_base
                or s.time_base * self.samplerate > 1):
            return False
        rate, tb = self.samplerate, s.time_base
        av = _av()
        try:
            self._container.seek(int(self._origin + back / (rate * tb)), stream=s,
                                 backward=True)
            s.codec_context.flush_buffers()
            self._packets = self._container.demux(s)
            self._pending = np.empty((0, self.channels), np.float32)
            self._ended = False
            while True:
                got = self._decode()
                if got is None or got[1] is None:
                    return False
                at = round((got[1] - self._origin) * tb * rate)
                if at + len(got[0]) > back:
                    break
        except (av.error.FFmpegError, MediaError):
            return False
        if not 0 < at <= frame:
            return False
        self._pending, self._pos = got[0], at
        return True

    def tell(self):
        """The position: frames read or sought to."""
        return self._pos

    def close(self):
        self._container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _open_container(path):
    """``path`` opened by FFmpeg for reading; MediaError if it cannot be."""
    av = _av()
    try:
        return av.open(path, metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, UnicodeError) as e:
        raise MediaError(_reason(e)) from None


def _reason(error):
    """FFmpeg's error as a clause: its message without the errno and the file's name."""
    text = getattr(error, "strerror", None) or str(error)
    return " ".join(str(text).split()).rstrip(".") or "FFmpeg cannot decode it"
