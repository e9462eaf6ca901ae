"""What a file's own bytes say about its length and damage, read before it is decoded.

:func:`header_frames` gives the frames an uncompressed WAV, RF64 or AIFF header promises
(libsndfile reports what it can read instead, so a file cut short would look whole);
:func:`unfinished_wav` finds a WAV whose audio runs on past the length its header states
(libsndfile reads only what it states): one whose writer never finished the header (often
stating nothing), or a plain WAV over 4 GiB;
:func:`ogg_damage` walks an Ogg file's pages and says where the first damaged or missing
page is (after one, libvorbis carries on and every later sample lands at the wrong time);
:func:`mpeg_length_stated` says whether an MP3 states its length at all.
"""

import os
import struct
import zlib
from typing import NamedTuple

__all__ = ["header_frames", "unfinished_wav", "UnfinishedWav", "ogg_damage",
           "mpeg_length_stated"]

#: Bytes at an MP3's start searched for a header that states its length.
_MPEG_HEAD_BYTES = 8192
#: The tags of the headers that state an MP3's length (in its first frame).
_MPEG_LENGTH_TAGS = (b"Xing", b"Info", b"VBRI")
#: The granule position of an Ogg page that ends no packet.
_NO_GRANULE = 2 ** 64 - 1
#: A 32-bit size at its limit: a plain WAV over 4 GiB, or RF64's pointer to its ds64 chunk.
_FULL = 0xFFFFFFFF


def header_frames(fh):
    """Frames a WAV (RIFF, RIFX, RF64) or AIFF header promises; None if it does not say."""
    head = fh.read(12)
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        for _ in range(1000):  # chunks before COMM; a damaged header ends the search
            chunk = fh.read(8)
            if len(chunk) < 8:
                return None
            cid, size = chunk[:4], struct.unpack(">I", chunk[4:])[0]
            body = fh.read(min(size, 40))
            if cid == b"COMM":
                return struct.unpack(">I", body[2:6])[0]
            fh.seek(size + (size & 1) - len(body), os.SEEK_CUR)
        return None
    w = _wav_layout(fh, head)
    if w is None:
        return None
    # RF64 states a data size of 2**32 - 1 and the true one in its ds64 chunk
    data_size = w.wide[1] if w.length == _FULL and w.wide is not None else w.length
    # a size of 0 or 2**32 - 1 is a recorder's placeholder: no promise
    if not w.block_align or not data_size or data_size == _FULL:
        return None
    return data_size // w.block_align


class _WavLayout(NamedTuple):
    """A WAV header's sizes, as its fields state them."""

    #: ``'<'`` (RIFF, RF64) or ``'>'`` (RIFX).
    order: str
    #: The RIFF size field and the data chunk's size field (32 bits each).
    riff: int
    length: int
    #: RF64's ds64 chunk: its 64-bit RIFF and data sizes; None without one.
    wide: tuple | None
    #: Bytes per frame (the fmt chunk's block align); None without a fmt chunk before the
    #: data.
    block_align: int | None
    #: Byte offset of the first sample.
    offset: int


def _wav_layout(fh, head):
    """The :class:`_WavLayout` of a RIFF, RIFX or RF64 WAV whose first 12 bytes, ``head``,
    were just read from ``fh``; None if it is none, or its header is cut or damaged before
    the data chunk."""
    if head[:4] not in (b"RIFF", b"RIFX", b"RF64") or head[8:12] != b"WAVE":
        return None
    order = ">" if head[:4] == b"RIFX" else "<"
    wide = block_align = None
    for _ in range(1000):  # chunks before the data; a damaged header ends the search
        chunk = fh.read(8)
        if len(chunk) < 8:
            return None
        cid, length = chunk[:4], struct.unpack(order + "I", chunk[4:])[0]
        if cid == b"data":
            return _WavLayout(order, struct.unpack(order + "I", head[4:8])[0], length, wide,
                              block_align, fh.tell())
        body = fh.read(min(length, 16)) if cid in (b"fmt ", b"ds64") else b""
        if cid == b"fmt ":
            if len(body) < 14:
                return None
            block_align = struct.unpack(order + "H", body[12:14])[0]
        elif cid == b"ds64":
            if len(body) < 16:
                return None
            wide = struct.unpack("<QQ", body)
        fh.seek(length + (length & 1) - len(body), os.SEEK_CUR)
    return None


class UnfinishedWav(NamedTuple):
    """Where the audio of a WAV whose header does not state all of it lies."""

    #: Byte offset of the first sample (the data chunk's start).
    offset: int
    #: Whole frames from there to the file's end.
    frames: int
    #: Frames the header states (0 when it was never written).
    stated: int
    #: Bytes per frame.
    block_align: int
    #: Whether the samples are big-endian (RIFX).
    big_endian: bool
    #: Whether the header is a plain RIFF one at its limit: sizes of 2^32 - 1 bytes, all a
    #: WAV header can state (a file over 4 GiB), not a recorder's unfinished header.
    oversize: bool = False


def unfinished_wav(fh, size):
    """A WAV (RIFF, RIFX or RF64) of ``size`` bytes whose audio runs on past the data chunk
    its header states: an :class:`UnfinishedWav`; None when the header accounts for the
    file.

    A recorder writes the header first, with a data size of 0 (or of its first write), and
    sets the sizes when it closes the file; one that crashes, loses power or is killed
    leaves them as they were.  A plain WAV over 4 GiB states 4 GiB at most (libsndfile
    writes such a file, and reads its first 4 GiB).  The header is taken at its word when
    its RIFF size covers the file and its data chunk is not empty, when the bytes after the
    stated data are the next chunk (a name of four printable characters and a size that
    fits in the file) or an ID3 tag, or when less than a whole frame follows; otherwise the
    audio runs to the file's end.  RF64's sizes are read from its ds64 chunk.
    """
    head = fh.read(12)
    w = _wav_layout(fh, head)
    if w is None:
        return None
    order, riff, length, block_align, offset = w.order, w.riff, w.length, w.block_align, w.offset
    oversize = head[:4] != b"RF64" and _FULL in (riff, length)
    if head[:4] == b"RF64":
        if w.wide is None:
            return None
        riff, length = (big if v == _FULL else v for v, big in zip((riff, length), w.wide,
                                                                    strict=True))
    if ((8 + riff >= size and length) or not block_align
            or size - (offset + length) < block_align):
        return None
    fh.seek(offset + length + (length & 1))
    after = fh.read(8)
    if after[:3] == b"ID3":
        return None
    if len(after) == 8 and all(32 <= c < 127 for c in after[:4]):
        next_end = offset + length + (length & 1) + 8 + struct.unpack(order + "I", after[4:])[0]
        if next_end <= size:
            return None
    return UnfinishedWav(offset, (size - offset) // block_align, length // block_align,
                         block_align, order == ">", oversize)


_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _ogg_crc(page):
    """Ogg's CRC-32 (polynomial 0x04C11DB7, not reflected, initial value 0), via zlib's
    reflected CRC-32 of the bit-reversed bytes."""
    crc = zlib.crc32(page.translate(_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{crc:032b}"[::-1], 2)


def ogg_damage(fh):
    """Check every page of an Ogg stream.

    Returns
    -------
    (int or None, str) or None
        The granule position (frames decoded so far) at the end of the last
        whole page before the first damaged page, or before the end of a
        stream cut short, and what is wrong; None if every page is whole and
        the last one ends the stream (or the file multiplexes several streams,
        which is not checked).
    """
    granule, serial = None, None
    while True:
        head = fh.read(27)
        if not head:
            return granule, "the Ogg stream ends without its last page"
        segments = fh.read(head[26]) if len(head) == 27 else b""
        body = fh.read(sum(segments))
        if len(head) < 27 or len(segments) < head[26] or len(body) < sum(segments):
            return granule, "the Ogg stream's last page is cut off"
        stored = struct.unpack("<I", head[22:26])[0]
        if head[:5] != b"OggS\x00" or _ogg_crc(head[:22] + bytes(4) + head[26:] + segments
                                                 + body) != stored:
            return granule, "an Ogg page is damaged (its checksum does not match)"
        if serial is not None and head[14:18] != serial:
            return None
        serial = head[14:18]
        if struct.unpack("<Q", head[6:14])[0] != _NO_GRANULE:
            granule = struct.unpack("<Q", head[6:14])[0]
        if head[5] & 4:  # the end-of-stream page
            return None


def mpeg_length_stated(fh):
    """Whether an MP3 states its length: a Xing, Info or VBRI header in its first frame
    (without one, the length libsndfile gives is its estimate from the bit rate)."""
    head = fh.read(_MPEG_HEAD_BYTES)
    return any(tag in head for tag in _MPEG_LENGTH_TAGS)
