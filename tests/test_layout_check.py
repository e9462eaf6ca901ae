"""The layout check: what two channels hold, the warning when the layout does not fit them,
and ``--layout auto``.

Every recording here is a real audio file written with soundfile: the bundled samples,
the simulator's files in every layout, copies and silent channels made from a simulated
mono probe, and the real precordial recordings (a mono probe recorded in stereo, its right
channel a faint low-passed copy), read from the shared folder when it is there.
"""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

import dopplerflow as df
from dopplerflow.cli import main
from dopplerflow.core import layout_check as lc
from dopplerflow.core import verdict
from dopplerflow.core.io import iter_blocks
from dopplerflow.sim.signals import to_layout
from dopplerflow.sim.synth import synthesize, write_scenario

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
REAL = Path(__file__).resolve().parents[2] / "shared" / "real"
FS = 8000


def _check(path, **kw):
    """The verdict of the file at ``path`` (its two channels)."""
    info = sf.info(str(path))
    return lc.measure(iter_blocks(path, 4096), info.samplerate, info.channels, (1, 2), **kw)


# ------------------------------------------------------------------ bundled samples
@pytest.mark.parametrize("name, kind, layout", [
    ("femoral_competent_iq.flac", "quadrature", "iq"),
    ("jugular_valsalva_iq.flac", "quadrature", "iq"),
    ("gsv_reflux_toward_away.flac", "separate", "toward-away"),
])
def test_bundled_samples_are_recognised(name, kind, layout):
    a = df.analyze(SAMPLES / name, layout="auto")
    check = a.to_dict()["layout_check"]
    assert check["verdict"] == kind and a.settings.layout == layout
    assert check["layout_asked"] == "auto" and check["chosen_by"] == "measured"
    assert check["fits"] and not any("use --layout" in w for w in a.warnings)
    # the figures that decide, with the margins of the docs' table
    if kind == "quadrature":
        assert check["half_spectrum_ratio_db"] >= 15.0
    else:
        # independent channels: the coherence of noise over a second's 32 frames, ~1/32
        assert check["half_spectrum_ratio_db"] <= 2.0 and check["coherence"] <= 0.05


def test_bundled_toward_away_sample_read_as_iq_warns():
    a = df.analyze(SAMPLES / "gsv_reflux_toward_away.flac", layout="iq", vessel="gsv")
    check = a.layout_check
    assert check["verdict"] == "separate" and not check["fits"]
    assert a.warnings[0].startswith("the channels are separate toward and away audio")
    assert a.warnings[0].endswith("use --layout toward-away (or away-toward)")


def test_one_channel_is_mono_under_auto():
    a = df.analyze(SAMPLES / "artery_mono.flac", layout="auto", vessel="artery")
    assert a.settings.layout == "mono" and a.layout_check == {"layout_asked": "auto",
                                                              "chosen_by": "one channel"}
    assert verdict.layout_phrase(a).startswith("auto chose mono: one channel")


@pytest.mark.parametrize("name, layout", [("artery_mono.flac", "mono"),
                                          ("gsv_reflux_toward_away.flac", "toward-away"),
                                          ("jugular_valsalva_iq.flac", "iq")])
def test_the_python_api_reads_a_recording_as_the_command_line_does(tmp_path, name, layout):
    """Without a layout, analyze() of a file or an array, run_batch() and an examination's
    manifest choose it from the channels, as the command line does: read as iq, the mono
    file was an error (a batch's error row), and toward and away audio showed each channel's
    flow both ways."""
    from dopplerflow.study.batch import run_batch
    from dopplerflow.study.manifest import load_manifest

    assert df.analyze(SAMPLES / name).settings.layout == layout
    x, fs = sf.read(SAMPLES / name, dtype="float32")
    assert df.analyze(x, sample_rate_hz=fs).settings.layout == layout
    out = tmp_path / "cli.json"
    assert main(["analyze", str(SAMPLES / name), "-q", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["settings"]["layout"] == layout
    # a copy without the sample's sidecar
    folder = tmp_path / "rec"
    folder.mkdir()
    (folder / name).write_bytes((SAMPLES / name).read_bytes())
    run_batch([folder], tmp_path / "t.csv", jobs=1)
    with open(tmp_path / "t.csv", newline="") as f:
        (row,) = csv.DictReader(f)
    assert (row["status"], row["layout_used"]) == ("ok", layout)
    manifest = folder / "exam.toml"
    manifest.write_text(f'[exam]\nid = "x"\n[[recording]]\nfile = "{name}"\nvessel = "artery"\n'
                        f'posture = "supine"\n')
    assert load_manifest(manifest).recordings[0].settings.layout == "auto"


# ------------------------------------------------------------------ simulator, every layout
@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """The simulator's jugular Valsalva, written by ``dopplerflow simulate`` in each layout."""
    out = tmp_path_factory.mktemp("sim")
    paths = {}
    for layout in ("iq", "qi", "toward-away", "away-toward", "mono"):
        path = out / f"{layout}.wav"
        assert main(["simulate", "jugular_valsalva", "-o", str(path), "--layout", layout,
                     "--sample-rate", str(FS)]) == 0
        paths[layout] = path
    return paths


@pytest.mark.parametrize("written, kind, chosen", [
    ("iq", "quadrature", "iq"), ("qi", "quadrature", "iq"),
    ("toward-away", "separate", "toward-away"), ("away-toward", "separate", "toward-away"),
])
def test_simulated_layouts_are_recognised(simulated, written, kind, chosen):
    a = df.analyze(simulated[written], layout="auto", vessel="ijv")
    assert a.layout_check["verdict"] == kind and a.settings.layout == chosen
    # the check tells the family, not which channel is I or toward: the layout written fits
    assert a.layout_check["fits"] and _check(simulated[written]).fits(written)


def test_simulated_mono_file_is_analysed_as_mono(simulated, capsys):
    assert main(["analyze", str(simulated["mono"]), "--vessel", "ijv"]) == 0
    out = capsys.readouterr().out
    assert "layout mono" in out and "auto chose mono: one channel" in out


# ------------------------------------------------------------------ copies and silent channels
@pytest.fixture(scope="module")
def mono_probe():
    """A mono probe's audio: the simulated jugular Valsalva, one real channel."""
    z = synthesize("jugular_valsalva", sample_rate_hz=FS, seed=3).baseband
    m = to_layout(z, "mono", FS)[:, 0]
    return 0.5 * m / np.max(np.abs(m))


def _write(tmp_path, name, left, right):
    """A stereo WAV, as floats: a hiss under 16-bit resolution stays what it is."""
    path = tmp_path / f"{name}.wav"
    sf.write(path, np.stack((left, right), axis=1), FS, subtype="FLOAT")
    return path


def _hiss(m, rms):
    return rms * np.random.default_rng(0).standard_normal(len(m))


def _lowpassed(m, level_db):
    sos = signal.butter(2, 1000.0, fs=FS, output="sos")
    return 10 ** (level_db / 20) * signal.sosfilt(sos, m)


@pytest.mark.parametrize("name, make, kind, channel, words", [
    ("duplicate", lambda m: (m, m), "copy", 1,
     "the right channel is a filtered copy of the left (coherence 1.00"),
    ("lowpassed", lambda m: (m, _lowpassed(m, -25.0)), "copy", 1,
     "the right channel is a filtered copy of the left, 2"),
    ("copy-on-the-right", lambda m: (_lowpassed(m, -25.0), m), "copy", 2,
     "the left channel is a filtered copy of the right, 2"),
    ("silent-right", lambda m: (m, np.zeros_like(m)), "silent", 1,
     "the right channel is silent (all zeros)"),
    ("hiss-right", lambda m: (m, _hiss(m, 1e-6)), "silent", 1,
     "the right channel is silent (64 dB under the left)"),
    # flow in one channel only, the other unrelated: a mono probe beside a live input, or
    # toward/away audio with flow one way only; mono is the reading that cannot be wrong
    ("unrelated-right", lambda m: (m, _hiss(m, 1e-3)), "single", 1,
     "only the left carries flow, and the right channel is no copy of it"),
])
def test_copies_and_silent_channels_are_mono(tmp_path, mono_probe, name, make, kind, channel,
                                             words):
    path = _write(tmp_path, name, *make(mono_probe))
    a = df.analyze(path, layout="iq", vessel="ijv", antegrade="away")
    check = a.layout_check
    assert check["verdict"] == kind and check["signal_channel"] == channel
    assert check["suggested_layout"] == "mono" and check["suggested_channels"] == [channel]
    assert a.warnings[0].startswith(words), a.warnings[0]
    assert f"use --layout mono --channels {channel}" in a.warnings[0]
    auto = df.analyze(path, vessel="ijv", antegrade="away")  # no layout given: auto
    assert auto.settings.layout == "mono" and auto.settings.channels == (channel,)
    assert auto.settings.antegrade == "auto" and auto.reflux is None  # never a false "no"
    if kind == "copy":
        assert check["half_spectrum_ratio_db"] < 1.0 and check["coherence"] >= 0.5
    # the right mono channel fits; the other one is named
    assert df.analyze(path, layout="mono", channels=(channel,)).layout_check["fits"]
    wrong = df.analyze(path, layout="mono", channels=(3 - channel,))
    assert f"use --layout mono --channels {channel}" in wrong.warnings[0]
    if kind == "single":  # toward and away audio flowing one way fits too
        assert df.analyze(path, layout="toward-away").layout_check["fits"]
        assert a.warnings[0].endswith("(or --layout toward-away if they are toward and away "
                                      "audio)")


def test_mono_layout_on_an_iq_pair_says_what_it_leaves_out(simulated):
    a = df.analyze(simulated["iq"], layout="mono", channels=(1,))
    assert not a.layout_check["fits"]
    assert ("they carry the flow direction, which layout 'mono' leaves out: use --layout iq"
            in a.warnings[0])


# ------------------------------------------------------------------ weak evidence
def test_no_flow_falls_back_to_the_default_and_says_so(tmp_path, capsys):
    path = tmp_path / "no_flow.wav"
    write_scenario("no_flow", path, sample_rate_hz=FS, duration_s=4.0)
    a = df.analyze(path, layout="auto")
    assert a.layout_check["verdict"] == "unknown" and a.layout_check["chosen_by"] == "default"
    assert a.settings.layout == lc.DEFAULT_LAYOUT and a.layout_check["fits"]
    assert main(["analyze", str(path)]) == 0
    assert "auto chose iq, the default: too little flow in the first 4 s to tell the layout" \
        in capsys.readouterr().out


@pytest.mark.parametrize("flow_s, words", [(0.032, " (flow in 0.032 s of it)"),
                                           (0.25, " (flow in 0.25 s of it)"),
                                           (1.234, " (flow in 1.2 s of it)"), (0.0, "")])
def test_the_flow_seen_by_the_default_s_choice_is_written_to_its_size(flow_s, words):
    """A perforator clip's 32 ms of flow read "(0.0 s)"."""
    import dataclasses

    from dopplerflow.core import verdict

    a = df.analyze(np.zeros((FS, 2), np.float32), sample_rate_hz=FS, layout="auto")
    check = {**a.layout_check, "chosen_by": "default", "span_s": 1.5, "flow_s": flow_s}
    assert verdict.layout_phrase(dataclasses.replace(a, layout_check=check)) == (
        f"auto chose {a.settings.layout}, the default: too little flow in the first 1.5 s "
        f"to tell the layout by{words}")


def test_coloured_noise_without_flow_is_no_evidence(tmp_path):
    """Independent low-passed noise on I and Q looks like toward/away audio in a power
    spectrum; as it never changes it holds no flow, and the check does not call it."""
    rng = np.random.default_rng(5)
    sos = signal.butter(1, 300.0, fs=FS, output="sos")
    noise = signal.sosfilt(sos, rng.standard_normal((10 * FS, 2)), axis=0)
    path = _write(tmp_path, "coloured", *(0.3 * noise / np.max(np.abs(noise))).T)
    v = _check(path)
    assert v.kind == "unknown" and v.flow_s < lc.MIN_FLOW_S


def test_hum_removed_as_the_analysis_removes_it(tmp_path):
    path = tmp_path / "hum.wav"
    write_scenario("jugular_valsalva", path, sample_rate_hz=FS, hum_dbfs=-30.0)
    assert _check(path).kind == "unknown"  # the hum's lines hide the flow
    assert _check(path, hum_hz=50.0).kind == "quadrature"
    assert df.analyze(path, layout="auto", hum_hz=50.0).settings.layout == "iq"


@pytest.mark.parametrize("hum_hz", [None, 50.0])
def test_the_analysis_hands_the_check_the_samples_it_filtered(tmp_path, hum_hz):
    """An I/Q analysis with the check's wall filter hands the check the samples it has
    filtered (and cleared of hum): the figures are those of the check filtering them
    itself, bit for bit, whatever the blocks."""
    path = tmp_path / "hum.wav"
    write_scenario("jugular_valsalva", path, sample_rate_hz=FS, hum_dbfs=-30.0)
    x, fs = sf.read(path, dtype="float32")
    own = _check(path, hum_hz=hum_hz)
    p = df.Processor(df.Settings(hum_hz=hum_hz), fs, 2)
    assert p._check_shares
    for i in range(0, len(x), 997):
        p.push(x[i:i + 997], rows=False)
    p.finish()
    assert p.layout_result() == own
    # another wall filter, or the channels swapped: the check filters the samples itself
    assert not df.Processor(df.Settings(wall_hz=120.0), fs, 2)._check_shares
    assert not df.Processor(df.Settings(layout="qi"), fs, 2)._check_shares


# ------------------------------------------------------------------ the real precordial files
def _precordial():
    files = sorted((REAL / "postdive").glob("precordial_*.wav"))
    if not files:
        pytest.skip(f"the shared real recordings are not at {REAL} (they are not part of the "
                    f"project: GPL)")
    return files


@pytest.mark.parametrize("k", range(1, 9))
def test_precordial_files_are_mono_on_channel_1(k):
    path = next((p for p in _precordial() if p.name == f"precordial_0{k}.wav"), None)
    if path is None:
        pytest.skip(f"precordial_0{k}.wav is not in {REAL / 'postdive'}")
    v = _check(path)
    # README: the right channel is a faint (about -25 dB), low-passed copy of the left
    assert v.kind == "copy" and v.signal_channel == 1 and v.suggestion() == ("mono", (1,))
    assert v.ratio_db < 1.0 and v.coherence >= 3 * lc.COPY_COHERENCE
    assert -30.0 < v.level_db < -15.0


def test_precordial_analysed_as_iq_warns_and_auto_reads_channel_1(capsys):
    path = _precordial()[0]
    assert main(["analyze", str(path), "--layout", "iq", "-q", "--json", "-"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["layout_check"]["verdict"] == "copy" and not d["layout_check"]["fits"]
    assert d["warnings"][0].startswith("the right channel is a filtered copy of the left, 2")
    assert d["warnings"][0].endswith("a mono probe recorded in stereo; use --layout mono "
                                     "--channels 1")
    assert main(["analyze", str(path)]) == 0
    out = capsys.readouterr().out
    assert "layout mono" in out and "auto chose mono, channel 1: the right channel is a " \
                                    "filtered copy of the left" in out


# ------------------------------------------------------------------ streaming, errors
def test_the_verdict_does_not_depend_on_the_blocks(simulated):
    """Frames sit at fixed samples: any blocks, gaps at the same samples, the same verdict."""
    x, fs = sf.read(simulated["toward-away"], dtype="float32")
    x = x[:2 * fs]
    ref = None
    for size in (1, 7, 997, len(x)):
        check = lc.LayoutCheck(fs, 2, (1, 2), span_s=1.5)
        for i in range(0, len(x), size):
            block = x[i:i + size]
            if i <= 4000 < i + size:  # a gap of 300 samples at sample 4000
                check.add(block[:4000 - i])
                check.skip(300)
                block = block[4000 - i:]
            check.add(block)
        assert check.done
        ref = ref or check.result()
        assert check.result() == ref, f"block size {size} changed the verdict"
    assert ref.span_s == 1.5 and ref.flow_s > 0.5


def test_replay_chooses_as_analyze_does(simulated):
    from dopplerflow.live.replay import replay

    settings = df.Settings(layout="auto", vessel="ijv")
    a = df.analyze(simulated["toward-away"], settings=settings)
    b = replay(simulated["toward-away"], settings, block_size=1000)
    assert b.to_dict() == a.to_dict()


def test_auto_on_more_than_two_channels_needs_them_named(tmp_path, mono_probe, capsys):
    path = tmp_path / "four.wav"
    sf.write(path, np.stack([mono_probe] * 4, axis=1), FS)
    assert main(["analyze", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["dopplerflow: error: input has 4 channels; --layout auto checks two of "
                   "them: name them (e.g. --channels 1,2), or one channel for mono"]
    with pytest.raises(df.LayoutError, match=r"layout='auto'\) checks two of them: name "
                                             r"them \(e\.g\. --channels 1,2 \(Python: "
                                             r"channels=\(1, 2\)\)\)"):
        df.analyze(path, layout="auto")
    a = df.analyze(path, layout="auto", channels=(3, 4))
    assert a.settings.layout == "mono" and a.settings.channels == (3,)


def test_auto_is_refused_live_and_by_a_processor(capsys):
    assert main(["live", "--layout", "auto", "--device", "none"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dopplerflow: error: --layout auto chooses the "
                                               "layout from a recording before its analysis")
    with pytest.raises(df.SettingsError, match="layout 'auto' is chosen from a recording"):
        df.Processor(df.Settings(layout="auto"), FS, 2)


# ------------------------------------------------------------------ gains apart
@pytest.mark.parametrize("gain_db", [12.0, -12.0, 0.0])
def test_toward_away_channels_recorded_at_different_gains_are_named(tmp_path, gain_db):
    """The bundled toward/away recording with its right channel 12 dB up or down: the
    check measures the channels' noise over the flow that far apart, and the analysis
    warns of it (each direction is read against its own noise); as recorded, neither.
    A band floor over the span's 300 frames is within some 0.3 dB, and the median over
    the upper quarter's seven bands closer still: 1 dB is room."""
    x, fs = sf.read(SAMPLES / "gsv_reflux_toward_away.flac")
    x[:, 1] *= 10.0 ** (gain_db / 20.0)
    path = tmp_path / "gsv.wav"
    sf.write(path, 0.5 * x / np.abs(x).max(), fs, subtype="PCM_16")
    v = _check(path)
    assert v.kind == "separate" and v.noise_level_db == pytest.approx(gain_db, abs=1.0)
    a = df.analyze(path, layout="toward-away", vessel="gsv", antegrade="toward")
    warned = [w for w in a.warnings if "recorded at different gains" in w]
    assert len(warned) == (1 if gain_db else 0)
    if gain_db:
        louder, quieter = ("right", "left") if gain_db > 0 else ("left", "right")
        assert warned[0].startswith(f"the {louder} channel's noise stands 12.")
        assert f"over the {quieter} channel's" in warned[0]
    assert [round(e.start_s, 1) for e in a.reflux_events] == [2.4, 8.4]
    # an I/Q pair's gains move no side's noise: no such warning, whatever the channels
    b = df.analyze(path, layout="iq")
    assert not any("recorded at different gains" in w for w in b.warnings)
