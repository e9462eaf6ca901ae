"""Files: every format and sample format, bad input with pinned messages, awkward input."""

import contextlib
import glob
import io as bytes_io
import json
import os
import pickle
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from common import read_blocks
from conftest import chirp_tones, iq

import dopplerflow as df
from dopplerflow.cli import main
from dopplerflow.core import io

FS = 8000
SEGMENTS = [(1.5, 700.0), (1.2, -700.0), (1.0, 700.0)]  # reflux 1.5-2.7 s with ijv


@pytest.fixture(scope="module")
def stereo():
    return (0.5 * iq(chirp_tones(SEGMENTS, FS, amp=0.5, noise_rms=0.01))).astype(np.float32)


def _check_reflux(a):
    assert a.reflux is True and len(a.reflux_events) == 1
    ev = a.reflux_events[0]
    assert ev.start_s == pytest.approx(1.5, abs=0.01) and ev.end_s == pytest.approx(2.7, abs=0.01)


@pytest.mark.parametrize("ext, subtype", [
    ("wav", "PCM_16"), ("wav", "PCM_24"), ("wav", "PCM_32"), ("wav", "FLOAT"), ("wav", "DOUBLE"),
    ("flac", "PCM_16"), ("flac", "PCM_24"), ("aiff", "PCM_16"), ("ogg", "VORBIS"),
])
def test_formats_and_sample_formats(tmp_path, stereo, ext, subtype):
    path = tmp_path / f"rec.{ext}"
    sf.write(path, stereo, FS, subtype=subtype)
    a = df.analyze(path, layout="iq", vessel="ijv", antegrade="toward", block_size=1000)
    _check_reflux(a)
    assert a.sample_rate_hz == FS and a.file == str(path)


@pytest.mark.parametrize("fs", [8000, 11025, 22050, 44100, 48000, 96000, 192000])
def test_sample_rates(tmp_path, fs):
    x = (0.5 * iq(chirp_tones(SEGMENTS, fs, amp=0.5, noise_rms=0.01))).astype(np.float32)
    path = tmp_path / "rec.wav"
    sf.write(path, x, fs, subtype="PCM_16")
    _check_reflux(df.analyze(path, vessel="ijv", antegrade="toward"))


def test_channel_choice_in_a_four_channel_file(tmp_path, stereo):
    x = np.zeros((len(stereo), 4), np.float32)
    x[:, 2:] = stereo
    path = tmp_path / "multi.wav"
    sf.write(path, x, FS)
    with pytest.raises(df.LayoutError, match=r"input has 4 channels; choose the 2 to analyse "
                                             r"with --channels, e\.g\. --channels 1,2 "
                                             r"\(Python: channels=\(1, 2\)\)$"):
        df.analyze(path, layout="iq")
    with pytest.raises(df.LayoutError, match=r"input has 4 channels; --layout auto \(Python: "
                                             r"layout='auto'\) checks two of them: name them"):
        df.analyze(path)
    _check_reflux(df.analyze(path, channels=(3, 4), vessel="ijv", antegrade="toward"))


# ------------------------------------------------------------------ bad input on the CLI
def _run(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


def _bad(tmp_path, kind, stereo):
    p = tmp_path / f"{kind}.wav"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("time,velocity\n0,1\n")
    elif kind == "truncated-header":
        sf.write(p, stereo, FS)
        p.write_bytes(p.read_bytes()[:20])
    elif kind == "short":
        sf.write(p, stereo[:40], FS)
    elif kind == "mono-file":
        sf.write(p, stereo[:, 0], FS)
    elif kind == "nan":
        x = stereo.copy()
        x[12000, 1] = np.nan
        sf.write(p, x, FS, subtype="FLOAT")
    elif kind == "inf":
        x = stereo.copy()
        x[100, 0] = np.inf
        sf.write(p, x, FS, subtype="FLOAT")
    return str(p)


@pytest.mark.parametrize("kind, message", [
    ("empty", r"empty\.wav is empty \(0 bytes\); record again or pick another file"),
    ("text", r"text\.wav is not a readable audio file \(.*\); dopplerflow reads WAV, FLAC, OGG"),
    ("truncated-header", r"truncated-header\.wav is not a readable audio file"),
    ("short", r"short\.wav is 5\.0 ms long; at least one 10 ms analysis window \(80 samples\) "
              r"is needed"),
    ("mono-file", r"input has 1 channel; layout 'iq' needs 2: use --layout mono, which "
                  r"cannot tell flow direction"),
])
def test_bad_files_exit_1_with_one_line(tmp_path, capsys, stereo, kind, message):
    # a one-channel file fits the layout 'auto' of the command line (mono): iq is asked for
    layout = ["--layout", "iq"] if kind == "mono-file" else []
    code, err = _run(["analyze", _bad(tmp_path, kind, stereo)] + layout, capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dopplerflow: error: ")
    import re

    assert re.search(message, lines[0]), lines[0]


def test_missing_file_and_directory(tmp_path, capsys):
    code, err = _run(["analyze", str(tmp_path / "nope.wav")], capsys)
    assert code == 1 and "nope.wav: no such file; check the path" in err
    code, err = _run(["analyze", str(tmp_path)], capsys)
    assert code == 1 and "is a directory; give an audio file" in err


@contextlib.contextmanager
def _as_nobody():
    """Run the block as the user 'nobody' when this is root, whom no file mode stops."""
    if os.geteuid() != 0:
        yield
        return
    try:
        os.seteuid(65534)
    except OSError as e:  # a user namespace without 'nobody' mapped
        pytest.skip(f"root here cannot act as another user ({e.strerror})")
    try:
        yield
    finally:
        os.seteuid(0)


@pytest.fixture
def open_folder():
    """A fresh folder that every user may look into (tmp_path's parents are the user's
    own), removed afterwards."""
    folder = Path(tempfile.mkdtemp())
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder)


def _not_a_plain_file(kind, folder, stereo):
    p = folder / f"{kind}.wav"
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "loop":
        p.symlink_to(folder / "back.wav")
        (folder / "back.wav").symlink_to(p)
    elif kind == "dangling":
        p.symlink_to(folder / "gone.wav")
    elif kind == "unreadable":
        sf.write(p, stereo, FS)
        os.chmod(p, 0)
    return p


@pytest.mark.parametrize("kind, message", [
    ("fifo", r"fifo\.wav is a named pipe \(FIFO\), not a file: dopplerflow reads a recording "
             r"from a file \(it reads it more than once\); save the audio to a file first"),
    ("loop", r"loop\.wav is a link that leads back to itself \(a loop of links\); point it at "
             r"the recording"),
    ("dangling", r"dangling\.wav is a link to .*gone\.wav, which does not exist; check the link"),
    ("unreadable", r"unreadable\.wav cannot be read \(Permission denied\); check its "
                   r"permissions"),
], ids=["fifo", "loop", "dangling", "unreadable"])
def test_a_path_that_is_no_readable_file_says_what_it_is(open_folder, stereo, capsys, kind,
                                                         message):
    """Before, a FIFO was "empty (0 bytes)" (and opening it would have waited for a writer),
    a loop of links "no such file", an unreadable file "not a readable audio file (System
    error)"."""
    import re

    p = _not_a_plain_file(kind, open_folder, stereo)
    _run(["analyze", str(open_folder / "missing.wav")], capsys)  # every module loaded
    with _as_nobody():
        code, err = _run(["analyze", str(p)], capsys)
        with pytest.raises(df.AudioFileError, match=message):
            io.open_audio(p)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and re.search(message, lines[0]), err


def test_a_bytes_path_is_a_path_and_an_open_file_is_refused(tmp_path, stereo):
    """Before, a path given as bytes and an open file were taken for arrays of samples and
    answered "sample_rate_hz is needed when the source is an array"."""
    p = tmp_path / "rec.wav"
    sf.write(p, stereo, FS)
    a = df.analyze(os.fsencode(p), vessel="ijv", antegrade="toward")
    _check_reflux(a)
    assert a.file == str(p)
    with open(p, "rb") as fh, pytest.raises(df.AudioFileError, match=r"^<_io\.BufferedReader "
                                                                       r".* is an open file; "
                                                                       r"give its path instead"):
        df.analyze(fh)
    with pytest.raises(df.AudioFileError, match=r"is an open file; give its path instead"):
        df.analyze(bytes_io.BytesIO(p.read_bytes()), sample_rate_hz=FS)
    with pytest.raises(df.InputError, match=r"^source None is neither the path of an audio "
                                            r"file nor an array of samples"):
        df.analyze(None, sample_rate_hz=FS)
    with pytest.raises(df.AudioFileError, match=r"^the file name is empty; give the path"):
        df.analyze("")


def test_a_file_name_that_is_not_text_is_analysed(tmp_path, stereo):
    """A valid recording whose name holds bytes that are not UTF-8 (Latin-1 'café'), from
    the command line: before, refused as "not a readable audio file ('utf-8' codec can't
    encode character '\\udce9')"; its name is now shown with the byte escaped."""
    folder = os.fsencode(tmp_path)
    p = os.path.join(folder, b"caf\xe9.wav")
    sf.write(p, stereo, FS)
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    r = subprocess.run([sys.executable, "-m", "dopplerflow", "analyze", p, "--vessel", "ijv",
                        "--json", str(out), "--plot", str(png)], capture_output=True)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert r.stdout.splitlines()[0].endswith(b"caf\\xe9.wav")
    d = json.loads(out.read_text())
    assert os.fsencode(d["file"]) == p and d["reflux"] is True
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, message", [
    (["--layout", "xy"], "argument --layout: invalid choice: 'xy'"),
    (["--angle", "95"], "angle --angle 95 is outside [0, 90) degrees"),
    (["--angle", "-5"], "angle --angle -5 is outside [0, 90) degrees"),
    (["--carrier-mhz", "50"], "carrier --carrier-mhz 50 is outside 1-20 MHz"),
    (["--carrier-mhz", "nan"], "'nan' is not a finite number"),
    (["--reflux-threshold", "0"], "reflux threshold 0.0 s must be a positive number"),
    (["--layout", "offset"], "layout 'offset' needs --offset-hz"),
    (["--vessel", "aorta"], "argument --vessel: invalid choice: 'aorta'"),
    (["--hop-ms", "0.001"], "hop --hop-ms 0.001 is under one sample at 8000 Hz; the least hop "
                            "at this sample rate is 0.125 ms (one sample)"),
    (["--channels", "1,1"], "channels --channels 1,1 names a channel twice; give different "
                            "channels (e.g. --channels 1,2)"),
    (["--window-ms", "500"], "window --window-ms 500 is outside 2-100 ms"),
    (["--wall-hz", "2"], "wall filter cut-off --wall-hz 2 must be at least 5 Hz"),
    (["--sound-speed", "3000"], "sound speed --sound-speed 3000 is outside 1000-2000 m/s"),
])
def test_bad_usage_exits_2(tmp_path, capsys, stereo, argv, message):
    p = tmp_path / "ok.wav"
    sf.write(p, stereo, FS)
    code, err = _run(["analyze", str(p), *argv], capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_first_run_says_it_compiles_once_the_input_is_checked(tmp_path, capsys, stereo,
                                                               monkeypatch):
    """With numba's cache empty (a machine's first run) the analysis starts with ~20 s of
    compiling: one line on stderr says so, after the input has been checked, once."""
    from dopplerflow.core import _numba as pipeline

    monkeypatch.setattr(pipeline, "kernels_cached", lambda: False)
    notice = "first run on this machine: compiling the analysis kernels"
    code, err = _run(["analyze", str(tmp_path / "missing.wav")], capsys)
    assert code == 1 and notice not in err and len(err.strip().splitlines()) == 1
    p = tmp_path / "ok.wav"
    sf.write(p, stereo, FS)
    code, err = _run(["analyze", str(p), "--vessel", "ijv"], capsys)
    assert code == 0 and err.count(notice) == 1
    code, err = _run(["analyze", str(p), "--vessel", "ijv", "--quiet"], capsys)
    assert code == 0 and notice not in err
    # the library itself prints nothing
    df.analyze(p)
    assert notice not in capsys.readouterr().err
    # with the kernels in the cache (as after any analysis here), nothing is said
    monkeypatch.undo()
    assert pipeline.kernels_cached()
    code, err = _run(["analyze", str(p), "--vessel", "ijv"], capsys)
    assert code == 0 and notice not in err


def test_no_traceback_from_a_real_process(tmp_path):
    p = tmp_path / "junk.wav"
    p.write_bytes(b"RIFF\x00\x00")
    r = subprocess.run([sys.executable, "-m", "dopplerflow", "analyze", str(p)],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1


# ------------------------------------------------------------------ awkward but valid input
def test_silence_is_analysed_with_warnings_and_no_finding(tmp_path):
    # no flow in digital silence says nothing of a vessel: flow and reflux are not
    # assessable, and there is no noise floor to state
    p = tmp_path / "silence.wav"
    sf.write(p, np.zeros((FS * 2, 2)), FS)
    a = df.analyze(p)
    assert a.flow_detected is None and a.reflux is None
    assert a.reflux_not_assessable == "the recording is near digital silence"
    assert a.antegrade is None and a.summary.noise_floor_dbfs is None
    assert "the recording is silent: every sample is zero" in a.warnings
    assert not any(w.startswith("no flow detected") for w in a.warnings)


def test_clipping_dc_and_low_level_warnings(tmp_path, stereo):
    clipped = np.clip(stereo * 4, -1, 1)
    frac = np.mean(np.abs(clipped) >= 0.999)
    a = df.analyze(clipped, sample_rate_hz=FS, vessel="ijv", antegrade="toward")
    assert f"clipping: {100 * frac:.2f}% of samples at full scale; lower the input gain" \
        in a.warnings
    _check_reflux(a)  # still analysed

    a = df.analyze(stereo + np.float32(0.05), sample_rate_hz=FS, vessel="ijv",
                   antegrade="toward")
    mean = 100 * np.mean(stereo[:, 0] + np.float32(0.05))
    assert any(w.startswith(f"mean level of {mean:+.1f}% of full scale on channel 1: a DC offset")
               for w in a.warnings), a.warnings
    _check_reflux(a)

    # 50 dB down the tones stand some 30 dB above 16-bit quantisation noise (70 dB down,
    # two or three quantisation steps: near digital silence, which holds no flow)
    quiet = stereo * np.float32(10 ** (-50 / 20))
    a = df.analyze(quiet, sample_rate_hz=FS, vessel="ijv", antegrade="toward")
    level = 20 * np.log10(np.sqrt(np.mean(quiet.astype(float) ** 2, axis=0)).max())
    assert f"very low level: {level:.0f} dBFS RMS; raise the input gain or check the cable" \
        in a.warnings
    _check_reflux(a)  # level does not matter: the noise floor is relative


def test_truncated_data_warns_and_keeps_what_is_there(tmp_path, stereo):
    p = tmp_path / "cut.flac"
    sf.write(p, stereo, FS, subtype="PCM_16")
    data = p.read_bytes()
    p.write_bytes(data[:int(len(data) * 0.9)])  # the end of the stream is lost
    a = df.analyze(p, vessel="ijv", antegrade="toward", block_size=4096)
    assert any(w.startswith("the file is damaged or cut short at ") and
               "its header promises 29600 frames" in w for w in a.warnings)
    assert a.duration_s < len(stereo) / FS
    # what could be read is analysed: the reflux onset is there
    assert a.reflux_events[0].start_s == pytest.approx(1.5, abs=0.01)
    # and the result says, in fields of its own, that it covers part of the recording
    d = a.to_dict()
    assert d["audio_complete"] is False and not a.audio_complete
    assert d["cut"]["at_s"] == pytest.approx(a.duration_s, abs=1 / FS)
    assert d["cut"]["stated_s"] == pytest.approx(len(stereo) / FS)
    assert d["cut"]["reason"]
    whole = df.analyze(stereo, sample_rate_hz=FS, vessel="ijv", antegrade="toward")
    assert whole.to_dict()["audio_complete"] is True and "cut" not in whole.to_dict()


# ------------------------------------------------------------------ damaged files
#: Block sizes the reader is asked for: the samples must not depend on them.
BLOCK_SIZES = (65536, 4096, 1024, 97, 100003)
#: Frames per FLAC frame as libsndfile writes them.
FLAC_BLOCK = 4096


@pytest.fixture(scope="module")
def noise():
    """3.7 s of seeded stereo noise, 16-bit exact: every sample of a prefix is checkable."""
    x = np.random.default_rng(7).uniform(-0.5, 0.5, (29600, 2))
    return (np.round(x * 32767) / 32768).astype(np.float32)


def _encode(x, fmt, subtype):
    buf = bytes_io.BytesIO()
    sf.write(buf, x, FS, format=fmt, subtype=subtype)
    return buf.getvalue()


def _read_every_way(path):
    """The samples of ``path``, asserted equal for every block size, and the report."""
    x, report = read_blocks(path, BLOCK_SIZES[0])
    for block_size in BLOCK_SIZES[1:]:
        y, other = read_blocks(path, block_size)
        np.testing.assert_array_equal(y, x, err_msg=f"block size {block_size}")
        assert (other.frames_read, other.reason) == (report.frames_read, report.reason)
    assert report.frames_read == len(x)
    return x, report


def _flac_frame_starts(x):
    """Byte offset of every FLAC frame of ``x``'s FLAC file: a FLAC frame depends only on
    its samples, so the file of the first ``k`` frames is the full file's first ``k``
    frames behind the same-sized header."""
    return [len(_encode(x[:k], "FLAC", "PCM_16"))
            for k in range(FLAC_BLOCK, len(x), FLAC_BLOCK)]


def _damaged(tmp_path, data, name):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_a_cut_flac_is_read_to_its_last_whole_frame(tmp_path, noise):
    """Cut anywhere, a FLAC file gives every frame encoded whole before the cut, the same
    samples as the whole file, for every block size, and says it stopped early."""
    data = _encode(noise, "FLAC", "PCM_16")
    clean = sf.read(bytes_io.BytesIO(data), dtype="float32")[0]
    starts = _flac_frame_starts(noise)
    cuts = [(start + delta, k + 1 if delta >= 0 else k)
            for k, start in enumerate(starts) for delta in (-1, 0, 1, 700)]
    cuts.append((len(data) - 1, len(starts)))  # one byte off the end: the last frame lost
    for cut, whole in cuts:
        p = _damaged(tmp_path, data[:cut], "cut.flac")
        x, report = _read_every_way(p)
        assert len(x) == whole * FLAC_BLOCK, cut
        np.testing.assert_array_equal(x, clean[:len(x)])
        assert report.frames_promised == len(noise) and not report.complete
        assert f"its header promises {len(noise)} frames, {len(x)} could be read" \
            in report.warning()
    reader = io.iter_blocks(p, 4096)  # read twice: the same blocks, a report afresh
    assert [len(b) for b in reader] == [len(b) for b in reader]
    assert reader.report.frames_read == len(x) and reader.report.reason == report.reason


def test_flipped_bytes_in_a_flac_are_a_gap_and_the_rest_isread_blocks(tmp_path, noise):
    """Damage inside a FLAC file: the frames that do not decode are a gap, and the reading
    goes on from the first frame after them that does, every frame of it as the clean
    file's, for every block size.  Damage in the last frame ends the reading there."""
    data = _encode(noise, "FLAC", "PCM_16")
    clean = sf.read(bytes_io.BytesIO(data), dtype="float32")[0]
    starts = _flac_frame_starts(noise) + [len(data)]
    for k in range(len(starts) - 1):
        damaged = bytearray(data)
        middle = (starts[k] + starts[k + 1]) // 2
        damaged[middle:middle + 4] = bytes(b ^ 0xFF for b in damaged[middle:middle + 4])
        x, report = _read_every_way(_damaged(tmp_path, bytes(damaged), "flipped.flac"))
        read = ~np.isnan(x[:, 0])
        np.testing.assert_array_equal(x[read], clean[:len(x)][read])
        if k < len(starts) - 3:  # a whole frame after the damage: read on past it
            assert len(x) == len(noise) and report.complete and report.reason is None
            ((a, b, why),) = report.damaged
            assert why and not read[a:b].any() and read[:a].all() and read[b:].all()
            assert (k + 1) * FLAC_BLOCK <= a and b - a <= 2 * FLAC_BLOCK
            assert report.gap_warning().startswith(f"the file is damaged at {a / FS:.3f}-")
        elif not report.damaged:  # damage in the last frames: the reading ends there
            assert len(x) >= k * FLAC_BLOCK and report.reason and not report.complete


def test_damage_where_a_read_of_the_reader_ends_loses_nothing(tmp_path, monkeypatch):
    """The reader decodes 65536 frames at a time: a cut just after the FLAC frame that ends
    there still gives all 65536 (soundfile's read would drop the last one, its seek
    after the read failing on the damaged frame: the fallback reader loses that one)."""
    x = np.random.default_rng(3).uniform(-0.5, 0.5, (100000, 2)).astype(np.float32)
    data = _encode(x, "FLAC", "PCM_16")
    head = len(_encode(x[:io.PIECE_FRAMES], "FLAC", "PCM_16"))
    p = _damaged(tmp_path, data[:head + 10], "cut.flac")
    clean = sf.read(bytes_io.BytesIO(data), dtype="float32")[0]
    y, report = _read_every_way(p)
    assert len(y) == io.PIECE_FRAMES
    np.testing.assert_array_equal(y, clean[:len(y)])
    monkeypatch.setattr(io, "_reader", io._public_reader)
    y, report = _read_every_way(p)
    assert io.PIECE_FRAMES - 1 <= len(y) <= io.PIECE_FRAMES and report.reason
    np.testing.assert_array_equal(y, clean[:len(y)])


@pytest.mark.parametrize("fmt", ["WAV", "RF64", "AIFF"])
def test_a_cut_wav_or_aiff_says_what_its_header_promised(tmp_path, noise, fmt):
    data = _encode(noise, fmt, "PCM_16")
    header = len(data) - 4 * len(noise)
    for cut in (len(data) // 2, len(data) - 3, header + 4 * 8000 + 1):
        p = _damaged(tmp_path, data[:cut], "cut.wav")
        assert io.open_audio(p).frames == len(noise)  # what the header promises
        x, report = _read_every_way(p)
        if fmt != "AIFF":  # the WAV data chunk is last: every whole frame before the cut
            assert len(x) == (cut - header) // 4
        np.testing.assert_array_equal(x, noise[:len(x)])
        assert "data chunk is shorter than its header says" in report.warning()


def test_a_wav_header_claiming_more_data_is_reported(tmp_path, noise):
    data = bytearray(_encode(noise, "WAV", "PCM_16"))
    at = data.index(b"data") + 4
    data[at:at + 4] = (8 * len(noise)).to_bytes(4, "little")  # twice the data there is
    p = _damaged(tmp_path, bytes(data), "claims.wav")
    x, report = _read_every_way(p)
    np.testing.assert_array_equal(x, noise)
    assert report.warning().endswith(
        f"its header promises {2 * len(noise)} frames, {len(noise)} could be read and are "
        f"analysed")


def _ogg_pages(data):
    """(end offset, granule position) of every page of an Ogg file (a naive parser)."""
    pages, at = [], 0
    while at < len(data):
        n_segments = data[at + 26]
        end = at + 27 + n_segments + sum(data[at + 27:at + 27 + n_segments])
        pages.append((end, int.from_bytes(data[at + 6:at + 14], "little")))
        at = end
    return pages


def test_a_cut_or_damaged_ogg_is_read_to_its_last_whole_page(tmp_path, noise):
    data = _encode(noise, "OGG", "VORBIS")
    clean = sf.read(bytes_io.BytesIO(data), dtype="float32")[0]
    pages = _ogg_pages(data)
    assert len(pages) > 4
    for (end, granule), (next_end, _) in zip(pages[2:-1], pages[3:], strict=True):
        # cut inside the next page, or damage in it: the frames up to this page's end
        for damaged in (data[:(end + next_end) // 2],
                        data[:end + 30] + bytes([data[end + 30] ^ 0x55]) + data[end + 31:]):
            x, report = _read_every_way(_damaged(tmp_path, damaged, "cut.ogg"))
            assert len(x) == granule
            np.testing.assert_array_equal(x, clean[:granule])
            assert "Ogg" in report.reason and not report.complete
    with pytest.raises(df.AudioFileError, match=r"holds no audio frames that can be read \("
                                                r"the Ogg stream's last page is cut off\)"):
        io.open_audio(_damaged(tmp_path, data[:pages[1][0] + 100], "cut.ogg"))


def _damaged_bytes(kind, stereo):
    """The encoded ``stereo`` damaged as the issue lists: (bytes, suffix, frames promised)."""
    fmt, how = kind.split("-")
    data = _encode(stereo, fmt.upper(), "VORBIS" if fmt == "ogg" else "PCM_16")
    if how == "cut1":  # one byte off the end
        return data[:-1], fmt, len(stereo)
    if how == "cut60":
        return data[:int(0.6 * len(data))], fmt, len(stereo)
    if how == "half":
        return data[:len(data) // 2], fmt, len(stereo)
    if how == "flipped":  # four bytes in the middle
        b = bytearray(data)
        b[len(b) // 2:len(b) // 2 + 4] = bytes(x ^ 0xFF for x in b[len(b) // 2:len(b) // 2 + 4])
        return bytes(b), fmt, len(stereo)
    assert how == "claims"  # a WAV header promising twice the data there is
    b = bytearray(data)
    at = b.index(b"data") + 4
    b[at:at + 4] = (8 * len(stereo)).to_bytes(4, "little")
    return bytes(b), fmt, 2 * len(stereo)


@pytest.mark.parametrize("kind", ["flac-cut1", "flac-cut60", "flac-flipped", "wav-half",
                                  "wav-claims", "ogg-cut60"])
def test_the_analysis_of_a_damaged_file_does_not_depend_on_the_block_size(tmp_path, stereo,
                                                                           kind):
    """Every kind of damage the issue lists: the same result for every block size, and a
    warning that says where reading stopped and what the header promised."""
    data, suffix, promised = _damaged_bytes(kind, stereo)
    p = _damaged(tmp_path, data, f"{kind}.{suffix}")
    a, b_ = (df.analyze(p, vessel="ijv", antegrade="toward", block_size=n)
             for n in (65536, 997))
    assert a.duration_s == b_.duration_s > 1.0 and a.summary == b_.summary
    assert a.reflux_events == b_.reflux_events and a.warnings == b_.warnings
    assert not a.audio_complete
    if kind == "flac-flipped":  # damage inside the file: a gap, and the rest read on
        assert a.cut is None and a.duration_s == pytest.approx(len(stereo) / FS)
        assert any(w.startswith("the file is damaged at ") for w in a.warnings)
        assert len(a.gaps) == 1
        return
    assert any(w.startswith("the file is damaged or cut short at ") for w in a.warnings)
    assert a.cut == b_.cut and a.cut["at_s"] == pytest.approx(a.duration_s, abs=1 / FS)
    if suffix != "ogg":  # Ogg headers promise no length
        assert any(f"its header promises {promised} frames" in w for w in a.warnings)
        assert a.cut["stated_s"] == pytest.approx(promised / FS)
    if kind in ("flac-cut1", "wav-claims"):  # the reflux (1.5-2.7 s) is all there
        _check_reflux(a)


def test_a_wav_cut_in_half_warns(tmp_path, stereo):
    data = _encode(stereo, "WAV", "PCM_16")
    a = df.analyze(_damaged(tmp_path, data[:len(data) // 2], "half.wav"), vessel="ijv",
                   antegrade="toward")
    assert any(f"its header promises {len(stereo)} frames, {(len(data) // 2 - 44) // 4} could "
               f"be read and are analysed" in w for w in a.warnings)


@pytest.mark.parametrize("block_size", [0, -5, 1.5, "4096", None, True])
def test_block_size_must_be_a_positive_whole_number(tmp_path, stereo, block_size):
    p = tmp_path / "ok.wav"
    sf.write(p, stereo, FS)
    with pytest.raises(df.SettingsError, match="block size .* must be a positive whole number"):
        io.iter_blocks(p, block_size)


# ------------------------------------------------------------------ outputs
def test_json_and_csv_outputs(tmp_path, stereo, capsys):
    p = tmp_path / "rec.flac"
    sf.write(p, stereo, FS)
    out_json, out_csv = tmp_path / "r.json", tmp_path / "t.csv"
    code = main(["analyze", str(p), "--vessel", "ijv", "--antegrade", "toward", "--json",
                 str(out_json), "--csv", str(out_csv)])
    assert code == 0
    text = capsys.readouterr().out
    assert "reflux      YES: 1 event(s) longer than 0.88 s" in text
    d = json.loads(out_json.read_text())
    for key in ("file", "sample_rate_hz", "duration_s", "layout", "settings",
                "direction_available", "flow_detected", "reflux", "reflux_events", "warnings"):
        assert key in d
    for key in ("carrier_hz", "angle_deg", "vessel", "reflux_threshold_s", "antegrade"):
        assert key in d["settings"]
    assert set(d["reflux_events"][0]) >= {"start_s", "end_s", "duration_s",
                                          "peak_velocity_cm_s", "mean_velocity_cm_s"}
    rows = out_csv.read_text().splitlines()
    assert rows[0] == ("time_s,antegrade_max_cm_s,retrograde_max_cm_s,mean_velocity_cm_s,flow,"
                       "velocity_cm_s")
    assert len(rows) - 1 == d["summary"]["n_frames"]
    table = np.array([[float(c) if c else np.nan for c in r.split(",")] for r in rows[1:]])
    # rows not analysed (the wall filter settling at the start) have empty velocity cells
    analysed = np.isfinite(table[:, 5])
    first = int(np.argmax(analysed))
    assert 0 < first and analysed[first:].all() and not table[~analysed, 4].any()
    assert np.isnan(table[~analysed][:, [1, 2, 3]]).all()
    table = table[analysed]
    assert (table[:, 1] >= 0).all() and (table[:, 2] >= 0).all()
    assert set(np.unique(table[:, 4])) <= {0.0, 1.0}
    retro = (table[:, 0] > 1.6) & (table[:, 0] < 2.6)
    assert (table[retro, 5] < 0).all() and (table[retro, 3] < 0).all()


@pytest.mark.parametrize("argv, window_s, line", [
    ([], 0.020, "20 ms window, 5 ms hop: bins of 50 Hz = 0.96 cm/s"),
    (["--window-ms", "15"], 0.015, "15 ms window, 5 ms hop: bins of 66.67 Hz = 1.28 cm/s")])
def test_window_of_a_slow_flow_preset_and_the_flag(tmp_path, capsys, stereo, argv, window_s,
                                                   line):
    p = tmp_path / "rec.flac"
    sf.write(p, stereo, FS)
    out_json = tmp_path / "r.json"
    assert main(["analyze", str(p), "--vessel", "perforator", "--json", str(out_json)]
                + argv) == 0
    d = json.loads(out_json.read_text())
    assert d["settings"]["window_s"] == d["summary"]["window_s"] == window_s
    assert f"  spectrum    {line}; slowest flow seen" in capsys.readouterr().out


def test_json_to_stdout_and_python_m(tmp_path, stereo):
    p = tmp_path / "rec.wav"
    sf.write(p, stereo, FS)
    r = subprocess.run([sys.executable, "-m", "dopplerflow", "analyze", str(p), "--vessel",
                        "ijv", "--json", "-"], capture_output=True, text=True, check=True)
    d = json.loads(r.stdout)
    assert d["reflux"] is True and d["antegrade"] == "toward" and d["antegrade_source"] == "auto"


def test_unwritable_output_fails_before_the_analysis(tmp_path, capsys):
    # the input is not even audio: the output path is checked first, before any reading
    p = tmp_path / "notes.wav"
    p.write_text("not audio")
    code, err = _run(["analyze", str(p), "--csv", str(tmp_path / "no" / "t.csv")], capsys)
    assert code == 1
    assert f"--csv {tmp_path / 'no' / 't.csv'}: the folder {tmp_path / 'no'} does not exist" \
        in err


# ------------------------------------------------------------------ numba's cache
NO_CACHE_NOTICE = "they are compiled again on every run"


def _read_only_copy(tmp_path):
    """The package copied to ``tmp_path/pkg`` with a ``core/__pycache__`` numba cannot use:
    write permission removed (ignored by root), and a file where the folder would be."""
    root = tmp_path / "pkg"
    here = os.path.dirname(os.path.dirname(os.path.abspath(df.__file__)))
    for package in ("dopplerflow", "benchmarks"):
        shutil.copytree(os.path.join(here, package), root / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    (root / "dopplerflow" / "core" / "__pycache__").write_text("not a folder")
    for folder, _, files in os.walk(root):
        for name in files + [""]:
            path = os.path.join(folder, name)
            os.chmod(path, os.stat(path).st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return root


def _writable_again(root):
    for folder, _, files in os.walk(root):
        for name in files + [""]:
            os.chmod(os.path.join(folder, name), 0o755)


def _env(**changes):
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(changes)
    return env


@pytest.mark.parametrize("first_run", ["compile", "auto"])
def test_a_read_only_install_without_a_writable_home_runs_uncached(tmp_path, stereo, first_run):
    """Before, every command died on import: "RuntimeError: cannot cache function
    '_prepared': no locator available".  Now the analysis runs, and one line on stderr
    says that the kernels cannot be kept: compiled in the process, or, this recording
    being short, not compiled at all (dopplerflow/_first_run.py)."""
    root = _read_only_copy(tmp_path)
    (tmp_path / "a_file").write_text("")
    wav = tmp_path / "tiny.wav"
    sf.write(wav, stereo[:FS // 2], FS)
    env = _env(PYTHONPATH=str(root), HOME=str(tmp_path / "a_file" / "home"))
    env["DOPPLERFLOW_FIRST_RUN"] = first_run
    try:
        r = subprocess.run([sys.executable, "-m", "dopplerflow", "analyze", str(wav), "--json",
                            str(tmp_path / "out.json")], env=env,
                           capture_output=True, text=True, cwd=tmp_path)
    finally:
        _writable_again(root)
    assert r.returncode == 0, r.stderr
    # the progress lines a long run writes to a log (compiling takes seconds) aside
    lines = [ln for ln in r.stderr.strip().splitlines() if "% done" not in ln]
    notice = NO_CACHE_NOTICE if first_run == "compile" else "analysed without compiling them"
    assert len(lines) == 1 and notice in lines[0], r.stderr
    assert "numba cannot keep the compiled analysis kernels" in lines[0]
    assert json.loads((tmp_path / "out.json").read_text())["duration_s"] == 0.5


@pytest.mark.parametrize("user_dir", [False, True])
def test_a_read_only_install_caches_in_the_user_folder(tmp_path, user_dir):
    """With the package read-only, the kernels are cached under $XDG_CACHE_HOME (or ~/.cache)
    /dopplerflow/numba, unless NUMBA_CACHE_DIR says where."""
    root = _read_only_copy(tmp_path)
    script = ("import os, dopplerflow.core.wall as K; print(K.__file__); "
              "print(K._wall_filter._cache.cache_path); print(os.environ['NUMBA_CACHE_DIR'])")
    mine = tmp_path / "mine"
    env = _env(PYTHONPATH=str(root), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    if user_dir:
        env["NUMBA_CACHE_DIR"] = str(mine)
    try:
        r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, cwd=tmp_path)
    finally:
        _writable_again(root)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    source, cache, setting = r.stdout.splitlines()
    assert source.startswith(str(root))
    folder = str(mine) if user_dir else str(tmp_path / "xdg" / "dopplerflow" / "numba")
    assert setting == folder and cache.startswith(folder + os.sep)


def test_a_damaged_cache_file_is_compiled_again(tmp_path, stereo):
    """Before, a damaged index (.nbi) or data file (.nbc) failed every later run with an
    UnpicklingError.  Now the kernel is compiled again and its cache rewritten."""
    from numba.core.caching import _CacheLocator

    from dopplerflow.core import wall as K

    wav = tmp_path / "tiny.wav"
    sf.write(wav, stereo[:FS // 2], FS)
    df.analyze(wav)  # every kernel of an analysis in this process's cache
    cache = tmp_path / "cache"
    folder = cache / _CacheLocator.get_suitable_cache_subpath(K.__file__)
    shutil.copytree(K._wall_filter._cache.cache_path, folder,
                    ignore=lambda _, names: [n for n in names if not n.endswith((".nbi", ".nbc"))])
    from dopplerflow.core import levels, reflux

    # this version's entries (a cache folder may hold those of earlier line numbers too)
    line = {k: k.py_func.__code__.co_firstlineno for k in (reflux._reflux, levels._block_stats)}
    index = glob.glob(str(folder / f"reflux._reflux-{line[reflux._reflux]}.*nbi"))
    data = glob.glob(str(folder / f"levels._block_stats-{line[levels._block_stats]}.*.1.nbc"))
    assert len(index) == len(data) == 1, "kernels renamed: damage two that analyze uses"
    with open(index[0], "r+b") as fh:
        fh.truncate(30)
    with open(data[0], "wb") as fh:
        fh.write(b"\x80\x05 not a pickle")
    # compiled in the command (a damaged marker's index is no cache: a short file would be
    # analysed interpreted and the kernels compiled behind it, dopplerflow/_first_run.py)
    r = subprocess.run([sys.executable, "-m", "dopplerflow", "analyze", str(wav), "-q"],
                       env=_env(NUMBA_CACHE_DIR=str(cache), DOPPLERFLOW_FIRST_RUN="compile"),
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    with open(index[0], "rb") as fh:  # written anew, whole
        pickle.load(fh)
        pickle.loads(fh.read())
    with open(data[0], "rb") as fh:
        pickle.loads(fh.read())


_CALLER = """from numba import njit

from .b import callee


@njit(cache=True)
def caller():
    return callee() + 1
"""
_CALLEE = """from numba import njit


@njit(cache=True)
def callee():
    return {}
"""


def test_a_kernel_changed_in_another_file_is_compiled_again(tmp_path):
    """numba stamps a cache entry with its function's own file, and the machine code of
    ``caller`` (in a.py) holds ``callee`` (in b.py): before, after b.py changed, the next
    process loaded ``caller`` as it was and ran the old ``callee``.  A package with
    dopplerflow's cache set-up and these two kernels: b.py's change shows."""
    package = tmp_path / "dopplerflow"
    core = package / "core"
    core.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    shutil.copy(Path(df.__file__).parent / "_cache.py", package / "_cache.py")
    (core / "__init__.py").write_text("from .._cache import configure_numba_cache\n"
                                      "configure_numba_cache()\n")
    (core / "a.py").write_text(_CALLER)
    run = [sys.executable, "-c", "from dopplerflow.core.a import caller; print(caller())"]
    env = _env(PYTHONPATH=str(tmp_path))
    printed = []
    for value in (1, 2):
        (core / "b.py").write_text(_CALLEE.format(value))
        r = subprocess.run(run, env=env, capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        printed.append(r.stdout.strip())
    assert glob.glob(str(core / "__pycache__" / "a.caller-*.nbi"))  # cached, and in use
    assert printed == ["2", "3"]


@pytest.mark.skipif("MP3" not in sf.available_formats(), reason="this libsndfile reads no MP3")
@pytest.mark.parametrize("level", [0.5, 0.9])
def test_an_mp3_is_whole_though_its_stated_length_is_an_estimate(tmp_path, level):
    """60 s of 44.1 kHz stereo as an MP3.  At 56 kbit/s (0.9) it has no header that states
    its length: the decoder's estimate from the bit rate exceeds what it decodes by some
    0.5 % (12,000 frames here), and a warning of damage would be false.  At 0.5 a Xing
    header states it: the whole file is read as whole, and its first half is cut short."""
    fs = 44100
    x = (0.1 * np.random.default_rng(3).standard_normal((60 * fs, 2))).astype(np.float32)
    path = tmp_path / "whole.mp3"
    sf.write(path, x, fs, format="MP3", subtype="MPEG_LAYER_III", compression_level=level,
             bitrate_mode="CONSTANT")
    data = path.read_bytes()
    stated = any(tag in data[:8192] for tag in (b"Xing", b"Info", b"VBRI"))
    assert stated == (level == 0.5)
    y, report = read_blocks(path, 65536)
    assert report.complete and report.reason is None and report.warning() is None
    if not stated:
        assert report.frames_promised > len(y) + io.MPEG_SLACK_FRAMES  # the estimate's excess
    a = df.analyze(path, layout="iq")
    assert not [w for w in a.warnings if "damaged" in w]
    cut = _damaged(tmp_path, data[:len(data) // 2], "cut.mp3")
    y, report = read_blocks(cut, 65536)
    assert report.complete == (not stated)
    if stated:
        assert "damaged or cut short" in report.warning()


# ------------------------------------------------------------------ what the warnings call things
def test_a_recording_of_nan_is_not_called_silent():
    """Every sample NaN: not 'every sample is zero' (no sample is a number at all)."""
    a = df.analyze(np.full((FS, 2), np.nan, np.float32), sample_rate_hz=FS)
    assert ("no sample of the recording is a number: every one is NaN or infinite; check the "
            "file, or the program that wrote it") in a.warnings
    assert not any("silent" in w for w in a.warnings)


def test_float_samples_beyond_full_scale_are_not_clipping_nor_a_dc_offset(stereo):
    """A float file may hold values over 1.0: they are named as such, with their number,
    not as clipping; and one huge sample is no DC offset of a huge percentage."""
    x = stereo * np.float32(0.5)
    x[100:120, 0] = 1.5  # 20 of 2 * len(x) values beyond full scale, none at it
    a = df.analyze(x, sample_rate_hz=FS, vessel="ijv", antegrade="toward")
    share = 100 * 20 / x.size
    assert (f"20 samples ({share:.2g}%) beyond full scale: float values over 1.0 in "
            f"magnitude, which a conversion to integer audio would clip") in a.warnings
    assert not any(w.startswith(("clipping", "mean level")) for w in a.warnings), a.warnings
    x = stereo * np.float32(0.5)
    x[5000, 0] = 1e25
    a = df.analyze(x, sample_rate_hz=FS, vessel="ijv", antegrade="toward")
    assert any(w.startswith("1 sample (") and "beyond full scale: a float value over 1.0" in w
               for w in a.warnings), a.warnings
    assert not any(w.startswith(("clipping", "mean level")) for w in a.warnings), a.warnings


def test_a_file_of_one_sample_gives_its_length_in_samples(tmp_path):
    p = tmp_path / "one.wav"
    sf.write(p, np.full((1, 2), 0.1), 48000)
    with pytest.raises(df.InputError, match=r"one\.wav is 1 sample \(0\.021 ms\) long; at least "
                                            r"one 10 ms analysis window \(480 samples\)"):
        df.analyze(p)


@pytest.mark.parametrize("channels, message", [
    ("1", None),
    ("2", None),
    ("3", "channel 3 does not exist; the input has 2 channel(s), numbered 1 to 2"),
    ("3,4", "channel 3 does not exist; the input has 2 channel(s), numbered 1 to 2"),
])
def test_one_channel_named_of_a_stereo_file_is_read_as_mono(tmp_path, capsys, stereo, channels,
                                                            message):
    """With the layout auto, one channel named is read as mono, as in a file of more
    channels; a channel that is not there is said to be missing, one or two named."""
    p = tmp_path / "iq.wav"
    sf.write(p, stereo, FS)
    code = main(["analyze", str(p), "--channels", channels, "--json", "-"])
    out, err = capsys.readouterr()
    if message is None:
        d = json.loads(out)
        assert code == 0 and err == ""
        assert d["layout"] == "mono" and d["settings"]["channels"] == [int(channels)]
        return
    assert code == 1 and err.strip() == f"dopplerflow: error: {message}"


def test_a_channel_that_is_not_there_is_named_whatever_the_layout(tmp_path, capsys, stereo):
    p = tmp_path / "iq.wav"
    sf.write(p, stereo, FS)
    code, err = _run(["analyze", str(p), "--layout", "iq", "--channels", "3"], capsys)
    assert code == 1 and "channel 3 does not exist; the input has 2 channel(s)" in err


@pytest.mark.parametrize("subtype, coarse", [("ULAW", True), ("PCM_U8", True),
                                             ("PCM_16", False), ("FLOAT", False)])
def test_coarse_samples_are_warned_of_by_analyze_and_replay(tmp_path, stereo, subtype, coarse):
    """8-bit and companded samples round the wall's echoes some 40-50 dB under the signal:
    a warning says so, the same in a replay of the file."""
    from dopplerflow.live.replay import replay

    p = tmp_path / f"{subtype}.wav"
    sf.write(p, stereo * np.float32(0.5), FS, subtype=subtype)
    a = df.analyze(p)
    said = [w for w in a.warnings if w.startswith("the file's samples are ")]
    assert len(said) == int(coarse)
    if coarse:
        assert f"({subtype})" in said[0] and said[0].endswith("record 16-bit PCM")
    assert replay(p, df.Settings(layout="auto")).warnings == a.warnings


@pytest.mark.parametrize("fmt, subtype, codec", [("MP3", "MPEG_LAYER_III", "MP3"),
                                                  ("OGG", "VORBIS", "Vorbis"),
                                                  ("OGG", "OPUS", "Opus"),
                                                  ("FLAC", "PCM_16", None)])
def test_lossy_files_are_warned_of_by_analyze_and_replay(tmp_path, stereo, fmt, subtype,
                                                          codec):
    """A lossy codec's noise follows the wall's echoes in clumps: a warning names the codec
    whatever the band the analysis finds, the same in a replay of the file."""
    from dopplerflow.live.replay import replay

    fs = 48000 if subtype == "OPUS" else FS
    p = tmp_path / f"{subtype}.{'mp3' if fmt == 'MP3' else fmt.lower()}"
    sf.write(p, np.resize(stereo, (fs, 2)) * np.float32(0.5), fs, format=fmt, subtype=subtype)
    a = df.analyze(p)
    said = [w for w in a.warnings if w.startswith("the file is lossy-coded")]
    assert said == ([] if codec is None else [said[0]])
    if codec:
        assert f"({codec})" in said[0] and said[0].endswith("record lossless audio (WAV, FLAC)")
    assert replay(p, df.Settings(layout="auto")).warnings == a.warnings


def test_coarse_copies_of_raw_probe_audio_have_no_flow_or_reflux_verdict(tmp_path):
    """The simulated jugular reflux at 8 kHz with raw probe audio's echoes (45-50 dB over
    the blood): as 8-bit, mu-law or A-law samples the rounding of the echoes is the noise
    floor, the blood lies under it and the rounding reads as flow, and each copy read "no
    reflux" where the 16-bit one reads the reflux.  Now neither flow nor reflux is read
    from them, and a warning says why; the ADPCM copy (whose step follows the signal) and
    an 8-bit copy of a device's audio (echoes 20 dB over the blood) read the reflux."""
    from dopplerflow.core.assemble import CODED_ECHO_DB
    from dopplerflow.sim.degrade import Degradations
    from dopplerflow.sim.synth import write_scenario

    kw = dict(vessel="ijv", antegrade="away", layout="iq")
    raw = tmp_path / "raw.wav"
    write_scenario("jugular_valsalva", raw, sample_rate_hz=8000, seed=0)
    assert df.analyze(raw, **kw).reflux is True
    x, fs = sf.read(raw)
    for subtype, kind in (("PCM_U8", "8-bit"), ("ULAW", "mu-law (8-bit)"),
                          ("ALAW", "A-law (8-bit)"), ("IMA_ADPCM", None)):
        p = tmp_path / f"{subtype}.wav"
        sf.write(p, x, fs, subtype=subtype)
        a = df.analyze(p, **kw)
        said = [w for w in a.warnings if " samples under stationary echoes " in w]
        if kind is None:
            assert a.reflux is True and said == [], subtype
            continue
        assert a.reflux is None and a.flow_detected is None, subtype
        assert len(said) == 1 and said[0].startswith(f"{kind} samples under stationary")
        assert said[0].endswith("so flow and reflux are not assessable; record 16-bit PCM")
        over = float(said[0].split(" echoes ")[1].split(" dB")[0])
        assert over >= CODED_ECHO_DB
        assert a.to_dict()["reflux_not_assessable"] == (
            f"the {kind} samples' rounding of stationary echoes {over:.0f} dB over the noise "
            f"hides the blood")
    device = tmp_path / "device.wav"
    write_scenario("jugular_valsalva", device, sample_rate_hz=8000, seed=0, subtype="PCM_U8",
                   degradations=Degradations(clutter_db=20.0))
    a = df.analyze(device, **kw)
    assert a.reflux is True
    assert not any(" samples under stationary echoes " in w for w in a.warnings)


# ------------------------------------------------------------------ 8-bit arrays
JUGULAR = Path(__file__).resolve().parent.parent / "samples" / "jugular_valsalva_iq.flac"


def test_8_bit_arrays_read_as_the_8_bit_file_and_are_warned_of(tmp_path):
    """The jugular sample as 8-bit samples: a uint8 array (offset 128, as an 8-bit WAV
    stores it) and an int8 array give the analysis of the 8-bit WAV holding them, bit for
    bit, and the same coarse-samples warning.  Before, the uint8 array was scaled without
    its offset (a "+52.9%" mean level, half the amplitude) and no 8-bit array was warned
    of."""
    import wave

    x, fs = sf.read(JUGULAR)
    u8 = np.clip(np.round(x * 128) + 128, 0, 255).astype(np.uint8)
    path = tmp_path / "u8.wav"
    with wave.open(str(path), "wb") as w:  # the bytes as they are: libsndfile's PCM_U8
        w.setnchannels(2)
        w.setsampwidth(1)
        w.setframerate(fs)
        w.writeframes(u8.tobytes())
    assert sf.info(path).subtype == "PCM_U8"
    kw = dict(vessel="ijv", antegrade="away")
    want = df.analyze(path, **kw).to_dict(trace=True)
    assert want["warnings"][0].startswith("the file's samples are 8-bit (PCM_U8): their "
                                          "rounding noise stands only some 40-50 dB")
    want_warnings = want.pop("warnings")
    want.pop("file")
    for arr in (u8, (u8.astype(np.int16) - 128).astype(np.int8)):
        got = df.analyze(arr, sample_rate_hz=fs, **kw).to_dict(trace=True)
        coarse = (f"the array's samples are 8-bit ({arr.dtype}): their rounding noise stands "
                  f"only some 40-50 dB under the signal")
        assert got["warnings"][0].startswith(coarse), got["warnings"]
        assert got.pop("warnings")[1:] == want_warnings[1:]
        got.pop("file")
        assert got == want
    # 16-bit arrays are not coarse
    i16 = np.round(x * 32767).astype(np.int16)
    assert not any("8-bit" in w for w in df.analyze(i16, sample_rate_hz=fs, **kw).warnings)


def test_unsigned_integers_are_centred():
    """Every unsigned width: its middle value is 0, its least -1."""
    from dopplerflow.core.processor import as_float_block

    for dtype in (np.uint8, np.uint16, np.uint32):
        top = np.iinfo(dtype).max
        got = as_float_block(np.array([[0], [top // 2 + 1], [top]], dtype), 1).ravel()
        assert got[0] == -1.0 and got[1] == 0.0 and 1.0 - 2.0 ** -7 <= got[2] <= 1.0


# ------------------------------------------------------------------ arrays the wrong way round
def test_an_array_of_channels_by_frames_says_to_transpose_it():
    """A (2, n) array (the channels-first convention of librosa and scipy): before, "input
    has 96000 channels; choose ... with --channels"."""
    x, fs = sf.read(JUGULAR)
    with pytest.raises(df.InputError, match=r"^source array of shape \(2, 96000\) looks like "
                                            r"\(channels, frames\); pass its transpose \(x\.T\)"):
        df.analyze(x.T, sample_rate_hz=fs)
    with pytest.raises(df.InputError, match=r"^source array of shape \(1, 96000\) looks like"):
        df.analyze(x[:, :1].T, sample_rate_hz=fs, layout="mono")
    proc = df.Processor(df.Settings(), fs, 2)
    with pytest.raises(df.InputError, match=r"^block has shape \(2, 4096\); expected \(frames, "
                                            r"2\) .*looks like \(channels, frames\): pass its "
                                            r"transpose, block\.T"):
        proc.push(x[:4096].T)


# ------------------------------------------------------------------ a FLAC without its length
def _unset_flac(tmp_path, keep=1.0):
    """The jugular sample as a FLAC whose STREAMINFO states no length (total samples 0, as
    a writer that never finished leaves it), its first ``keep`` of the bytes."""
    x, fs = sf.read(JUGULAR)
    path = tmp_path / "unset.flac"
    sf.write(path, x, fs, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    # "fLaC", the STREAMINFO block header (4 bytes), then 10 bytes of block and frame
    # sizes: the next 64 bits end with the 36-bit count of samples
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0
    at = 8 + 10
    field = int.from_bytes(data[at:at + 8], "big")
    assert field & (2 ** 36 - 1) == len(x)
    data[at:at + 8] = (field & ~(2 ** 36 - 1)).to_bytes(8, "big")
    path.write_bytes(bytes(data[:int(len(data) * keep)]))
    assert sf.info(path).frames == 2 ** 63 - 1  # what libsndfile makes of it
    return path


def _summary(path, capsys):
    assert main(["analyze", str(path), "--layout", "iq", "--vessel", "ijv", "--antegrade",
                 "away"]) == 0
    return capsys.readouterr().out


def test_a_flac_without_its_length_is_read_to_its_end_and_says_so(tmp_path, capsys):
    """Before: "audio 12.00 s of 1152921504606847.00 s (cut short)" and "its header
    promises 9223372036854775807 frames"."""
    path = _unset_flac(tmp_path)
    out = _summary(path, capsys)
    assert "  audio       12.00 s, 8000 Hz, 2 channel(s), layout iq\n" in out
    assert "9223372036854775807" not in out and "1152921504606847" not in out
    a = df.analyze(path, vessel="ijv", antegrade="away")
    assert a.audio_complete and a.cut is None and a.reflux is True
    assert any(w.startswith("the file's header states no length (a FLAC whose writer never "
                            "finished it, as a crash leaves it): its 96000 frames were read "
                            "to its end, at 12.000 s, and are analysed") for w in a.warnings)
    assert io.recording_at(path) == "FLAC, 2 channels, length not stated"


def test_a_flac_without_its_length_and_cut_short_gives_no_length(tmp_path, capsys):
    path = _unset_flac(tmp_path, keep=0.6)
    out = _summary(path, capsys)
    assert "9223372036854775807" not in out and "1152921504606847" not in out
    a = df.analyze(path, vessel="ijv", antegrade="away")
    assert not a.audio_complete and a.cut["stated_s"] is None
    read = a.cut["at_s"]
    assert 5.0 < read < 8.0  # 60% of the bytes of 12 s
    assert f"  audio       {read:.2f} s (damaged there), 8000 Hz" in out
    (w,) = [w for w in a.warnings if w.startswith("the file is damaged or cut short")]
    assert "its header states no length" in w and w.endswith(
        f"the {round(read * 8000)} frames before it are analysed")


def _killed_after_writing(writer, path):
    """Run the Python code ``writer`` (given ``path`` and the jugular sample) in another
    process, and kill it (SIGKILL) once it prints ``written``."""
    import signal

    p = subprocess.Popen([sys.executable, "-c", writer, str(path), str(JUGULAR)],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "written"
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stdout.close()


def test_a_flac_killed_while_written_keeps_its_audio_and_states_no_length(tmp_path, capsys):
    """A FLAC written by soundfile in another process, killed (SIGKILL) once it has written
    the sample: the header's length is never written."""
    path = tmp_path / "killed.flac"
    writer = ("import sys, time, soundfile as sf\n"
              "x, fs = sf.read(sys.argv[2])\n"
              "f = sf.SoundFile(sys.argv[1], 'w', fs, 2, 'PCM_16', format='FLAC')\n"
              "for i in range(0, len(x), 4096):\n"
              "    f.write(x[i:i + 4096])\n"
              "    f.flush()\n"
              "print('written', flush=True)\n"
              "time.sleep(60)\n")
    _killed_after_writing(writer, path)
    assert sf.info(path).frames == 2 ** 63 - 1
    out = _summary(path, capsys)
    assert "9223372036854775807" not in out and " of " not in out.split("\n")[1]
    a = df.analyze(path, vessel="ijv", antegrade="away")
    # the encoder's last block, never flushed, is lost: at most one 4096-frame FLAC block
    assert 12.0 - 4096 / 8000 <= a.duration_s <= 12.0
    assert a.reflux is True
    assert any(w.startswith("the file's header states no length") for w in a.warnings)


# ------------------------------------------------------------------ a WAV never finished
def _unfinished(data, data_frames, riff_size):
    """A WAV file's bytes with its data chunk's size set to ``data_frames`` frames and its
    RIFF size to ``riff_size`` (None: as it was), as a writer that never finished leaves
    them."""
    data = bytearray(data)
    order = "little" if data[:4] == b"RIFF" else "big"
    at = data.index(b"data")
    align = int.from_bytes(data[data.index(b"fmt ") + 20:data.index(b"fmt ") + 22], order)
    data[at + 4:at + 8] = (data_frames * align).to_bytes(4, order)
    if riff_size is not None:
        data[4:8] = riff_size.to_bytes(4, order)
    return bytes(data)


@pytest.mark.parametrize("subtype, endian, data_frames, riff_size", [
    ("PCM_16", "FILE", 0, 0),  # sizes of 0: the placeholders most writers start with
    ("PCM_16", "FILE", 0, None),  # the RIFF size set, the data's not
    ("PCM_16", "FILE", 0, 8),  # libsndfile's own header of a file it never closed
    ("PCM_16", "FILE", 800, 36 + 3200),  # the size of the first write (Python's wave)
    ("PCM_24", "FILE", 0, 0), ("FLOAT", "FILE", 0, 0), ("PCM_U8", "FILE", 0, 0),
    ("PCM_16", "BIG", 4000, 0),  # RIFX
])
def test_a_wav_whose_header_was_never_finished_is_read_to_its_end(tmp_path, noise, subtype,
                                                                   endian, data_frames,
                                                                   riff_size):
    """Before: the frames its header states (none at all, "holds no audio frames that can
    be read"; or the first write's) and no word of the rest."""
    buf = bytes_io.BytesIO()
    sf.write(buf, noise, FS, format="WAV", subtype=subtype, endian=endian)
    whole = sf.read(bytes_io.BytesIO(buf.getvalue()), dtype="float32")[0]
    p = _damaged(tmp_path, _unfinished(buf.getvalue(), data_frames, riff_size), "u.wav")
    assert sf.info(p).frames in (data_frames, len(noise))  # libsndfile: mostly the header's
    x, report = _read_every_way(p)
    np.testing.assert_array_equal(x, whole)
    assert report.complete and report.cut() is None
    stated = f"{data_frames / FS:.3f} s" if data_frames else "no audio"
    assert report.warning() == (
        f"the file's header was never finished, as a recorder leaves it until it closes the "
        f"file (one that crashed, was killed or is still recording): it states {stated}, but "
        f"the audio runs on to the file's end; all "
        f"{len(noise)} frames, to {len(noise) / FS:.3f} s, were read and are analysed; other "
        f"programs may read only what the header states: dopplerflow repair writes a copy "
        f"whose header states all of it")
    info = io.open_audio(p)
    assert (info.format, info.subtype, info.frames) == ("WAV", subtype, len(noise))
    assert io.recording_at(p) == f"WAV, 2 channels, {len(noise) / FS:.1f} s"


def test_a_plain_wav_over_4_gib_is_read_to_its_end(tmp_path, noise):
    """A plain WAV's header states 4 GiB at most: libsndfile writes a longer one with its
    sizes at 2^32 - 1, and reads its first 4 GiB.  (A sparse file: only the header and the
    frames at either end are on the disk.)"""
    buf = bytes_io.BytesIO()
    sf.write(buf, noise[:1000], FS, format="WAV", subtype="FLOAT")
    data = bytearray(buf.getvalue())
    offset = data.index(b"data") + 8
    data[4:8] = data[offset - 4:offset] = b"\xff\xff\xff\xff"
    tail_at = 2 ** 32 // 8 + 5000  # frame of the last 1000, past 4 GiB
    p = tmp_path / "long.wav"
    with open(p, "wb") as fh:
        fh.write(bytes(data))  # the header and the first 1000 frames
        fh.seek(offset + 8 * tail_at)
        fh.write(noise[1000:2000].astype("<f4").tobytes())
    frames = tail_at + 1000
    assert sf.info(p).frames == (2 ** 32 - 1) // 8  # what libsndfile reads of it
    info = io.open_audio(p)
    assert info.frames == frames and info.unfinished.oversize
    assert info.unfinished.stated == (2 ** 32 - 1) // 8
    with io._open(p) as f:
        np.testing.assert_array_equal(f.read(1000, dtype="float32"), noise[:1000])
        f.seek(tail_at)
        np.testing.assert_array_equal(f.read(dtype="float32"), noise[1000:2000])
    report = io.ReadReport(p)
    report.samplerate, report.frames_read, report.unfinished = FS, frames, info.unfinished
    assert report.warning() == (
        f"the file is a WAV over 4 GiB, more than a WAV header can state (RF64 can): it "
        f"states {(2 ** 32 - 1) // 8 / FS:.3f} s, but the audio runs on to the file's end; "
        f"all {frames} frames, to {frames / FS:.3f} s, were read and are analysed; other "
        f"programs may read only what the header states")


def test_an_rf64_whose_header_was_never_finished_is_read_to_its_end(tmp_path, noise):
    """RF64 (a WAV over 4 GiB) states its sizes in its ds64 chunk: a recorder stopped
    after it last wrote them leaves the audio after them unstated."""
    buf = bytes_io.BytesIO()
    sf.write(buf, noise, FS, format="RF64", subtype="PCM_16")
    data = bytearray(buf.getvalue())
    assert data[:4] == b"RF64"
    ds64 = data.index(b"ds64") + 8
    data[ds64:ds64 + 8] = (len(data) - 8 - 4 * 1000).to_bytes(8, "little")  # RIFF size
    data[ds64 + 8:ds64 + 16] = (4 * (len(noise) - 1000)).to_bytes(8, "little")  # data size
    p = _damaged(tmp_path, bytes(data), "rf64.wav")
    assert sf.info(p).frames == len(noise) - 1000  # libsndfile: the header's
    x, report = _read_every_way(p)
    np.testing.assert_array_equal(x, noise)
    assert report.unfinished.stated == len(noise) - 1000 and not report.unfinished.oversize
    assert report.warning().startswith("the file's header was never finished")


def test_a_finished_wav_is_read_as_its_header_states(tmp_path, noise):
    """Chunks after the data (metadata), an ID3 tag appended, or less than a frame after
    the data: the header is finished, and its length is the file's."""
    buf = bytes_io.BytesIO()
    with sf.SoundFile(buf, "w", FS, 2, "PCM_16", format="WAV") as f:
        f.write(noise)
        f.title = "left arm, 30 s"  # set once the audio is written: a LIST chunk after it
    tagged = buf.getvalue()
    assert tagged.index(b"LIST") > tagged.index(b"data")
    plain = _encode(noise, "WAV", "PCM_16")
    # the RIFF size of a file that does not cover what follows: only the chunk says it ends
    listed = _unfinished(tagged, len(noise), 4 + len(plain) - 8)
    for name, data in (("listed.wav", listed), ("id3.wav", plain + b"ID3\x03\x00" + bytes(40)),
                       ("odd.wav", plain + b"\x01\x02\x03")):
        p = _damaged(tmp_path, data, name)
        x, report = _read_every_way(p)
        np.testing.assert_array_equal(x, noise, err_msg=name)
        assert report.warning() is None, name


def test_a_wav_killed_while_written_keeps_its_audio_and_its_verdict(tmp_path, capsys):
    """A WAV written with Python's ``wave`` in another process, killed (SIGKILL): its
    header states the first write's 0.5 s of the 12 s written."""
    path = tmp_path / "killed.wav"
    writer = ("import sys, time, wave, soundfile as sf\n"
              "x, fs = sf.read(sys.argv[2], dtype='int16')\n"
              "w = wave.open(sys.argv[1], 'wb')\n"
              "w.setnchannels(2); w.setsampwidth(2); w.setframerate(fs)\n"
              "for i in range(0, len(x), 4000):\n"
              "    w.writeframesraw(x[i:i + 4000].tobytes())\n"
              "w._file.flush()\n"
              "print('written', flush=True)\n"
              "time.sleep(60)\n")
    _killed_after_writing(writer, path)
    assert sf.info(path).frames == 4000  # what libsndfile, and so soundfile, read of it
    out = _summary(path, capsys)
    assert "  audio       12.00 s, 8000 Hz, 2 channel(s), layout iq\n" in out
    a = df.analyze(path, vessel="ijv", antegrade="away")
    whole = df.analyze(JUGULAR, vessel="ijv", antegrade="away")
    assert a.audio_complete and a.cut is None and a.duration_s == 12.0
    assert a.reflux is True and a.reflux_events == whole.reflux_events
    assert any(w.startswith("the file's header was never finished") and "states 0.500 s" in w
               for w in a.warnings)


@pytest.mark.parametrize("fmt, subtype, endian, mono", [
    ("WAV", "PCM_16", "FILE", False), ("WAV", "FLOAT", "FILE", False),  # (a fact chunk)
    ("WAV", "PCM_24", "FILE", True),  # an odd number of data bytes: a pad byte
    ("WAV", "PCM_16", "BIG", False), ("RF64", "PCM_16", "FILE", False),
])
def test_repair_writes_a_copy_whose_header_states_all_its_audio(tmp_path, capsys, noise, fmt,
                                                                 subtype, endian, mono):
    """The file's bytes up to its last whole frame, its sizes set: libsndfile and Python's
    ``wave`` read all of it, and the copy reads as finished; the file is not changed."""
    import wave

    x = noise[:len(noise) - 1, :1] if mono else noise  # (an odd count of 3-byte frames)
    buf = bytes_io.BytesIO()
    sf.write(buf, x, FS, format=fmt, subtype=subtype, endian=endian)
    whole = sf.read(bytes_io.BytesIO(buf.getvalue()), dtype="float32", always_2d=True)[0]
    data = bytearray(buf.getvalue())
    if fmt == "RF64":  # the ds64 sizes of the first 1000 frames, as a last flush left them
        at = data.index(b"ds64") + 8
        data[at:at + 16] = b"".join(v.to_bytes(8, "little")
                                    for v in (len(data) - 8 - 4 * (len(x) - 1000),
                                              4 * 1000))
    else:
        data = bytearray(_unfinished(bytes(data), 0, 0))
    p = _damaged(tmp_path, bytes(data) + b"\x01", "u.wav")  # and a partial frame
    out = tmp_path / "fixed.wav"
    assert main(["repair", str(p), "-o", str(out)]) == 0
    stated = "0.125 s" if fmt == "RF64" else "no audio"
    assert capsys.readouterr().out == (
        f"{out}: all {len(x)} frames ({len(x) / FS:.3f} s) of {p}, whose header stated "
        f"{stated}, under a header that states them\n")
    assert p.read_bytes() == bytes(data) + b"\x01"
    got = out.read_bytes()
    assert len(got) % 2 == 0 and sf.info(out).frames == len(x)
    np.testing.assert_array_equal(sf.read(out, dtype="float32", always_2d=True)[0], whole)
    y, report = _read_every_way(out)
    np.testing.assert_array_equal(y, whole)
    assert report.warning() is None and io.open_audio(out).unfinished is None
    if subtype == "PCM_16" and endian == "FILE" and fmt == "WAV":  # wave: PCM RIFF only
        with wave.open(str(out)) as w:
            assert w.getnframes() == len(x)
    # a copy of the copy: nothing to repair
    assert main(["repair", str(out), "-o", str(tmp_path / "again.wav")]) == 1
    assert capsys.readouterr().err == (
        f"dopplerflow: error: {out}: its header states all its audio ({len(x)} frames, "
        f"{len(x) / FS:.3f} s); nothing to repair, no copy written\n")
    assert not (tmp_path / "again.wav").exists()


def test_repair_refuses_what_it_cannot_repair(tmp_path, capsys, noise):
    flac = tmp_path / "r.flac"
    sf.write(flac, noise, FS)
    wav = _damaged(tmp_path, _unfinished(_encode(noise, "WAV", "PCM_16"), 0, 0), "u.wav")
    for argv, code, err in (
            (["repair", str(flac), "-o", str(tmp_path / "c.wav")], 1,
             f"{flac} is FLAC, not a WAV: repair rewrites the sizes of a WAV's header; "
             f"dopplerflow reads the other formats' unfinished files whole as they are"),
            (["repair", str(wav), "-o", str(tmp_path / "c.flac")], 2,
             f"-o {tmp_path / 'c.flac'}: the copy is a WAV, as the file is; give a .wav name "
             f"(e.g. -o repaired.wav)"),
            (["repair", str(wav), "-o", str(wav)], 2,
             f"-o {wav} would overwrite the recording {wav}; give the output another file "
             f"name")):
        assert main(argv) == code
        assert capsys.readouterr().err == f"dopplerflow: error: {err}\n"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["r.flac", "u.wav"]


def test_whole_numbers_beyond_full_scale_hint_at_unscaled_16_bit_samples(tmp_path):
    """The jugular sample's 16-bit values handed over as floats (an array, and a float WAV
    holding them): the share is a plain percentage, not "(1e+02%)", and the warning says
    what they look like and what to do; scaled floats beyond full scale get no such hint."""
    x16, fs = sf.read(JUGULAR, dtype="int16")
    path = tmp_path / "unscaled.wav"
    sf.write(path, x16.astype(np.float32), fs, subtype="FLOAT")
    beyond = int(np.count_nonzero(np.abs(x16) > 1))
    assert 0.99 < beyond / x16.size < 1  # nearly all, not all: never rounded up to 100%
    peak = int(np.abs(x16.astype(int)).max())
    want = (f"{beyond} samples (99%) beyond full scale: float values over 1.0 in magnitude, "
            f"which a conversion to integer audio would clip; every value is a whole number, "
            f"up to {peak}: integer samples given as floats? divide them by 32768")
    for source, kw in ((x16.astype(float), {"sample_rate_hz": fs}), (path, {})):
        assert want in df.analyze(source, vessel="ijv", antegrade="away", **kw).warnings
    loud = x16.astype(np.float32) * np.float32(1.5 / 32768)
    (w,) = [w for w in df.analyze(loud, sample_rate_hz=fs, vessel="ijv").warnings
            if "beyond full scale" in w]
    assert w.endswith("which a conversion to integer audio would clip"), w
    assert "%) beyond" in w and "e+" not in w and "e-" not in w


def test_a_file_name_that_is_not_text_is_escaped_in_an_error(tmp_path, capsys):
    """A file that is not audio, named with bytes that are not UTF-8: the one-line error
    shows the byte escaped (caf\\xe9), as the summary does, not Python's surrogate."""
    p = os.path.join(os.fsencode(tmp_path), b"caf\xe9.wav")
    with open(p, "wb") as f:
        f.write(b"not audio at all" * 8)
    code, err = _run(["analyze", os.fsdecode(p)], capsys)
    assert code == 1 and "caf\\xe9.wav is not a readable audio file" in err, err
    assert "\\udc" not in err
