"""Files libsndfile does not read, decoded by FFmpeg through PyAV (the ``media`` extra):
a phone's M4A (AAC, ALAC), a scanner's MP4 clip with a video stream, a browser's WebM
(Opus), a phone's AMR.  The files are written with PyAV's own encoders."""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from common import read_blocks

import dopplerflow as df
from dopplerflow.core import io, media
from dopplerflow.errors import AudioFileError

av = pytest.importorskip("av")

JUGULAR = Path(__file__).resolve().parent.parent / "samples" / "jugular_valsalva_iq.flac"
BLOCK_SIZES = (65536, 4096, 97, 100003)
#: The jugular sample's event, as the FLAC gives it.
KW = dict(vessel="ijv", antegrade="away")


@pytest.fixture(scope="module")
def jugular():
    x, fs = sf.read(JUGULAR, dtype="float32")
    assert sf.info(JUGULAR).subtype == "PCM_16"
    return x, fs


def write_media(path, x, fs, codec="aac", container=None, bit_rate=None, sample_fmt="fltp",
                options=None, video=False):
    """``x`` ((frames, channels) in [-1, 1)) written to ``path`` through FFmpeg: ``codec``
    fed ``sample_fmt`` frames of 1000 samples, in ``container`` (from the name if None),
    after a small video stream if ``video`` (a scanner's clip)."""
    layout = "mono" if x.shape[1] == 1 else "stereo"
    out = av.open(str(path), "w", format=container, options=options or {})
    if video:
        picture = out.add_stream("mpeg4", rate=10)
        picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
    st = out.add_stream(codec, rate=fs, layout=layout)
    if bit_rate:
        st.bit_rate = bit_rate
    if sample_fmt.startswith("s16"):  # the 16-bit samples themselves
        x = np.clip(np.round(x * 32768), -32768, 32767).astype(np.int16)
    for i in range(0, len(x), 1000):
        blk = x[i:i + 1000]
        blk = blk.T if sample_fmt.endswith("p") else blk.reshape(1, -1)
        fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(blk), format=sample_fmt,
                                        layout=layout)
        fr.sample_rate, fr.pts = fs, i
        out.mux(st.encode(fr))
        if video and i % (fs // 10) == 0:
            img = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            img.pts = i // (fs // 10)
            out.mux(picture.encode(img))
    out.mux(st.encode(None))
    if video:
        out.mux(picture.encode(None))
    out.close()
    return path


def _read_every_way(path):
    x, report = read_blocks(path, BLOCK_SIZES[0])
    for block_size in BLOCK_SIZES[1:]:
        y, other = read_blocks(path, block_size)
        np.testing.assert_array_equal(y, x, err_msg=f"block size {block_size}")
        assert (other.frames_read, other.reason, other.damaged) == (
            report.frames_read, report.reason, report.damaged)
    return x, report


def _events(analysis):
    return [(round(e.start_s, 3), round(e.end_s, 3)) for e in analysis.reflux_events]


# ------------------------------------------------------------------ what FFmpeg reads
@pytest.mark.parametrize("name, codec, sample_fmt, kw", [
    ("alac.m4a", "alac", "s16p", {}),
    ("aac.m4a", "aac", "fltp", dict(bit_rate=192000)),
    ("fast_start.m4a", "aac", "fltp", dict(bit_rate=192000, options={"movflags": "faststart"})),
    ("clip.mp4", "aac", "fltp", dict(bit_rate=192000, video=True)),
])
def test_an_mp4_reads_as_its_source(tmp_path, jugular, name, codec, sample_fmt, kw):
    """The jugular sample (16-bit, 8 kHz I/Q) in an MP4: every frame of it, no more (the
    AAC coder's priming and padding are dropped, as the container states), the same for
    every block size.  Apple Lossless gives its samples exactly, and so the FLAC's
    analysis to the last figure; AAC at 96 kbit/s a channel keeps its coding noise 40 dB
    under the signal (a percent of its RMS), with a warning that names the codec."""
    x, fs = jugular
    path = write_media(tmp_path / name, x, fs, codec=codec, sample_fmt=sample_fmt, **kw)
    info = io.open_audio(path)
    assert (info.format, info.subtype, info.samplerate, info.channels, info.frames) == (
        "MP4", codec.upper(), fs, 2, len(x))
    y, report = _read_every_way(path)
    assert report.complete and report.warning() is None and len(y) == len(x)
    got = df.analyze(path, **KW)
    want = df.analyze(JUGULAR, **KW)
    if codec == "alac":
        np.testing.assert_array_equal(y, x)
        assert info.codec is None
        a, b = got.to_dict(trace=True), want.to_dict(trace=True)
        a.pop("file"), b.pop("file")
        assert a == b
        return
    assert info.codec == "AAC"
    assert np.sqrt(np.mean((y - x) ** 2)) < 0.01 * np.sqrt(np.mean(x ** 2))
    lossy = [w for w in got.warnings if w.startswith("the file is lossy-coded (AAC)")]
    assert len(lossy) == 1 and lossy[0].endswith("record lossless audio (WAV, FLAC)")


def test_a_webm_and_an_amr_read_as_their_source(tmp_path, jugular):
    """A browser's WebM (Opus at 48 kHz; its timestamps count milliseconds, so a seek
    decodes on from the start) and a phone's AMR (narrow-band speech coding, 8 kHz mono):
    as long as the source to within a codec frame, and the same for every block size."""
    x, fs = jugular
    x48 = np.repeat(x, 6, axis=0) * np.float32(0.5)  # 48 kHz, the rate Opus codes
    webm = write_media(tmp_path / "web.webm", x48, 48000, codec="libopus", sample_fmt="flt")
    amr = write_media(tmp_path / "phone.amr", x[:, :1] * np.float32(0.5), fs,
                      codec="libopencore_amrnb", sample_fmt="s16", bit_rate=12200)
    for path, n, fmt, codec in ((webm, len(x48), "WEBM", "Opus"),
                                (amr, len(x), "AMR", "AMR-NB")):
        info = io.open_audio(path)
        assert (info.format, info.codec) == (fmt, codec)
        y, report = _read_every_way(path)
        assert report.complete and report.warning() is None
        assert abs(len(y) - n) <= 2 * 960 if fmt == "WEBM" else abs(len(y) - n) <= 160
        assert df.analyze(path, layout="mono" if fmt == "AMR" else "iq").duration_s > 11.9


def test_replay_and_batch_read_an_m4a_as_analyze_does(tmp_path, jugular):
    """The live path (replay) and a batch read an M4A as ``analyze`` does: one pipeline."""
    from dopplerflow.live.replay import replay
    from dopplerflow.study.batch import run_batch

    x, fs = jugular
    folder = tmp_path / "phone"
    folder.mkdir()
    path = write_media(folder / "memo.m4a", x, fs, codec="alac", sample_fmt="s16p")
    a = df.analyze(path, **KW)
    r = replay(path, df.Settings(**KW))
    assert _events(r) == _events(a) == [(4.353, 6.356)] and r.warnings == a.warnings
    run_batch([folder], tmp_path / "out.csv", settings=df.Settings(**KW), jobs=1)
    with open(tmp_path / "out.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [Path(row["file"]).name for row in rows] == ["memo.m4a"]
    assert (rows[0]["status"], rows[0]["reflux"], rows[0]["duration_s"]) == ("ok", "true",
                                                                             "12.0")


def test_seeks_land_on_the_frame(tmp_path, jugular, monkeypatch):
    """A seek through the container's index (forced here for every seek) lands on the
    frame sequential decoding gives, back and forth: the jump's first codec frames, which
    lack the overlap of the ones before, are decoded and dropped."""
    x, fs = jugular
    path = write_media(tmp_path / "aac.m4a", x, fs, bit_rate=192000)
    monkeypatch.setattr(media, "_SEEK_DECODE_FRAMES", 0)
    with media.MediaFile(str(path)) as f:
        whole = f.read()
        for at in (50000, 5000, 80000, 3000, 95000, 0, 30000):
            assert f.seek(at) == at == f.tell()
            np.testing.assert_array_equal(f.read(2000), whole[at:at + 2000])


def test_the_rate_and_channels_are_those_decoded(tmp_path, jugular):
    """HE-AAC's spectral band replication doubles the rate and its parametric stereo makes
    two channels of one, and a header need not say so (implicit signalling): the first
    decoded frame's rate and channels stand.  Here an AAC M4A is opened and told the
    header said 4000 Hz mono, as such a header would: its rate, channels and length are
    then those decoded, and it reads as before."""
    x, fs = jugular
    path = write_media(tmp_path / "aac.m4a", x, fs, bit_rate=192000)
    with media.MediaFile(str(path)) as f:
        want = f.read()
        f.samplerate, f.channels = 4000, 1
        f._measure()
        assert f.frames == len(x) // 2
        f._hear()
        assert (f.samplerate, f.channels, f.frames, f.tell()) == (fs, 2, len(x), 0)
        np.testing.assert_array_equal(f.read(), want)


# ------------------------------------------------------------------ damage
def test_a_damaged_m4a_is_read_past_its_damage(tmp_path, jugular):
    """400 bytes of an AAC M4A's audio overwritten: the frames before them as the whole
    file gives them, a gap over the codec frames that do not decode (and those decoded to
    get past them), then the rest as the whole file gives it, with a warning that says
    where; every block size alike."""
    x, fs = jugular
    clean = write_media(tmp_path / "clean.m4a", x, fs, bit_rate=192000)
    data = bytearray(clean.read_bytes())
    at = data.index(b"mdat") + 30000
    data[at:at + 400] = np.random.default_rng(0).integers(0, 256, 400, np.uint8).tobytes()
    damaged = tmp_path / "damaged.m4a"
    damaged.write_bytes(bytes(data))
    whole = read_blocks(clean, 65536)[0]
    y, report = _read_every_way(damaged)
    assert len(report.damaged) == 1 and len(y) == len(whole)
    start, end, _ = report.damaged[0]
    assert 0 < start < end < len(x) and end - start <= 1 * fs  # a few codec frames
    np.testing.assert_array_equal(y[:start], whole[:start])
    assert np.isnan(y[start:end]).all()
    np.testing.assert_array_equal(y[end:], whole[end:])
    assert report.gap_warning().startswith(f"the file is damaged at {start / fs:.3f}-")


def test_an_m4a_cut_off_is_read_to_its_cut_or_refused_in_one_line(tmp_path, jugular):
    """An M4A cut in half: with its index (moov) in front ('fast start') its first half is
    read and analysed, with a warning; with its index at the end, as a phone writes it
    last, FFmpeg cannot read it, and the command says so in one line, exit status 1."""
    x, fs = jugular
    for name, options in (("front.m4a", {"movflags": "faststart"}), ("end.m4a", {})):
        data = write_media(tmp_path / name, x, fs, bit_rate=192000,
                           options=options).read_bytes()
        (tmp_path / name).write_bytes(data[:len(data) // 2])
    y, report = _read_every_way(tmp_path / "front.m4a")
    assert 0.3 * len(x) < len(y) < 0.7 * len(x) and not report.complete
    assert report.warning().startswith(f"the file is damaged or cut short at "
                                       f"{len(y) / fs:.3f} s")
    with pytest.raises(AudioFileError, match=r"end\.m4a is an MP4/M4A file that FFmpeg cannot "
                                             r"read \(.*\); if it was cut off while recorded, "
                                             r"its index may be missing"):
        io.open_audio(tmp_path / "end.m4a")
    r = subprocess.run([sys.executable, "-m", "dopplerflow", "analyze", "end.m4a"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_a_file_with_no_sound_is_refused_in_one_line(tmp_path):
    """A clip with a picture and no sound: not audio, as libsndfile's error says."""
    path = tmp_path / "silent_clip.mp4"
    out = av.open(str(path), "w")
    picture = out.add_stream("mpeg4", rate=10)
    picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
    for i in range(5):
        img = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
        img.pts = i
        out.mux(picture.encode(img))
    out.mux(picture.encode(None))
    out.close()
    with pytest.raises(AudioFileError, match=r"silent_clip\.mp4 is an MP4/M4A file that "
                                             r"FFmpeg cannot read \(it holds no audio stream\)"):
        io.open_audio(path)


# ------------------------------------------------------------------ without PyAV
@pytest.mark.parametrize("head, kind", [
    (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "an MP4/M4A file"),
    (b"\x00\x00\x00\x18ftyp3gp4\x00\x00\x00\x00", "a 3GP file"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81", "a WebM/Matroska file"),
    (b"#!AMR\n\x3c\x91\x17\x16\xbe\x66\x78\x00", "an AMR file"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa", "a Windows Media (WMA/ASF) file"),
    (b"RIFF\x10\x00\x00\x00AVI LIST", "an AVI file"),
    (b"\xff\xf1\x50\x80\x02\x1f\xfc\x21", "an AAC (ADTS) file"),
    (b"\x00\x00\x00\x08wide\x00\x10\x00\x00mdat", "a QuickTime (MOV) file"),
    (b"\xff\xfb\x90\x64\x00\x00\x00\x00", None),  # an MP3 frame: libsndfile's to read
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
])
def test_the_containers_libsndfile_does_not_read_are_named(head, kind):
    assert media.container_name(head) == kind


def test_without_pyav_an_m4a_is_named_with_what_to_do(tmp_path, jugular):
    """Where PyAV is not installed, an M4A gets a one-line error that names it and says
    how to read it; a file that is no audio gets libsndfile's error, which names the
    extra too (with PyAV as well: only the containers named above go to FFmpeg)."""
    x, fs = jugular
    write_media(tmp_path / "memo.m4a", x[:fs], fs)
    (tmp_path / "notes.txt").write_text("not audio\n")
    script = ("import sys; sys.modules['av'] = None; from dopplerflow.cli import main; "
              "sys.exit(main(['analyze', sys.argv[1]]))")
    said = {}
    for name in ("memo.m4a", "notes.txt"):
        r = subprocess.run([sys.executable, "-c", script, name], capture_output=True,
                           text=True, cwd=tmp_path)
        assert r.returncode == 1 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
        said[name] = r.stderr
    assert said["memo.m4a"] == (
        "dopplerflow: error: memo.m4a is an MP4/M4A file, which libsndfile does not read: "
        "install dopplerflow's media extra (pip install 'dopplerflow[media]') to read it "
        "through FFmpeg, or convert it to WAV or FLAC\n")
    assert said["notes.txt"].startswith("dopplerflow: error: notes.txt is not a readable audio "
                                        "file (")
    assert said["notes.txt"].endswith("and with its media extra those of FFmpeg (MP4/M4A, "
                                      "WebM, AMR)\n")
    with pytest.raises(AudioFileError, match=r"notes\.txt is not a readable audio file"):
        io.open_audio(tmp_path / "notes.txt")
