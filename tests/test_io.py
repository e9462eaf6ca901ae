"""Files: every format and sample format, bad input with pinned messages, awkward input."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from conftest import chirp_tones, iq

import dopplerflow as df
from dopplerflow.cli import main

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
                                             r"with --channels \(e.g. --channels 1,2\)"):
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
    ("mono-file", r"input has 1 channel; layout 'iq' needs 2 \(use --layout mono, which cannot "
                  r"tell flow direction"),
    ("nan", r"the audio holds NaN or infinite samples \(first at 1\.500 s\); repair or "
            r"re-export the recording"),
    ("inf", r"NaN or infinite samples \(first at 0\.013 s\)"),
])
def test_bad_files_exit_1_with_one_line(tmp_path, capsys, stereo, kind, message):
    code, err = _run(["analyze", _bad(tmp_path, kind, stereo)], capsys)
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


@pytest.mark.parametrize("argv, message", [
    (["--layout", "xy"], "argument --layout: invalid choice: 'xy'"),
    (["--angle", "95"], "angle 95 degrees is outside [0, 90)"),
    (["--angle", "-5"], "angle -5 degrees is outside [0, 90)"),
    (["--carrier-mhz", "50"], "carrier 50 MHz is outside 1-20 MHz"),
    (["--carrier-mhz", "nan"], "'nan' is not a finite number"),
    (["--reflux-threshold", "0"], "reflux threshold 0.0 s must be a positive number"),
    (["--layout", "offset"], "layout 'offset' needs --offset-hz"),
    (["--vessel", "aorta"], "argument --vessel: invalid choice: 'aorta'"),
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
    from dopplerflow.core import processor as pipeline

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
def test_silence_is_analysed_with_warnings(tmp_path):
    p = tmp_path / "silence.wav"
    sf.write(p, np.zeros((FS * 2, 2)), FS)
    a = df.analyze(p)
    assert a.flow_detected is False and a.reflux is False
    assert "the recording is silent: every sample is zero" in a.warnings
    assert any(w.startswith("no flow detected") for w in a.warnings)


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
    assert any(w.startswith("the file is truncated: its header promises 29600 frames")
               for w in a.warnings)
    assert a.duration_s < len(stereo) / FS
    # what could be read is analysed: the reflux onset is there
    assert a.reflux_events[0].start_s == pytest.approx(1.5, abs=0.01)


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
    assert f"cannot write {tmp_path / 'no' / 't.csv'}: folder {tmp_path / 'no'} does not exist" \
        in err
