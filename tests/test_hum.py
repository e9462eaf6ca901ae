"""Mains hum: found, followed as the mains frequency wanders, and removed.

Hum is made as a ground loop makes it (``synth.mains_hum``: harmonics with 1/k
amplitudes up to 45 % of the sample rate, the frequency wandering), written
into real audio files by ``dopplerflow simulate --hum-dbfs`` and analysed
through the command line, as a user would.
"""

import json

import numpy as np
import pytest
from scipy.signal import welch

from dopplerflow import Settings, analyze, cli
from dopplerflow.core.hum import TAU_S, HumCanceller, detect_hum
from dopplerflow.errors import SettingsError
from dopplerflow.live.replay import replay
from dopplerflow.sim import synth


def _tone_hum(n, fs, f0, rms, seed=0):
    """One channel of hum at a steady fundamental ``f0`` (off the nominal mains)."""
    return synth.mains_hum(n, fs, 1, rms, mains_hz=f0, drift_hz=0.0, seed=seed)[:, 0]


def _line_prominence_db(x, fs, freqs):
    """Each frequency's strongest 1 Hz bin over the median of the bins within 10 Hz."""
    f, p = welch(x, fs=fs, nperseg=int(fs))
    out = []
    for fk in freqs:
        near = np.abs(f - fk) <= 10
        peak = np.abs(f - fk) <= 1.5
        out.append(10 * np.log10(p[peak].max() / np.median(p[near & ~peak])))
    return np.array(out)


def test_canceller_follows_an_offset_mains_and_removes_its_lines():
    fs = 8000
    n = 8 * fs
    rng = np.random.default_rng(1)
    noise = 10 ** (-50 / 20) * rng.standard_normal(n)
    # the grid 0.12 Hz off: 2.4 Hz at the 20th harmonic, wider than each notch (3.2 Hz)
    # would forgive without following the frequency
    x = (_tone_hum(n, fs, 50.12, 10 ** (-30 / 20)) + noise).astype(np.float32)[:, None]
    hc = HumCanceller(50.0, fs, 1)
    y = hc(x.copy())
    # the frequency-locked loop settles on the offset, within the 1 % its pull back to
    # 50 Hz costs (0.0012 Hz) and the jitter of a 10 ms check
    assert hc.frequency_hz == pytest.approx(50.12, abs=0.005)
    late = slice(2 * fs, None)
    lines = [50.12 * k for k in (1, 2, 5, 10, 20)]
    before = _line_prominence_db(x[late, 0], fs, lines)
    after = _line_prominence_db(y[late, 0], fs, lines)
    assert before.min() > 15  # the lines stood out
    # gone into the noise: a 1 Hz bin of noise over its neighbours' median scatters by a
    # few dB at 6 segments
    assert after.max() < 4
    # all the canceller gets wrong (hum left, noise taken out in its 72 notches of
    # 1 / (pi tau) Hz and added by their amplitudes' scatter: each about a tenth of the
    # noise) is far under the hum
    error = y[late, 0] - noise[late]
    assert 10 * np.log10(np.mean(error ** 2) / np.mean(x[late, 0] ** 2)) < -25


def test_canceller_output_does_not_depend_on_how_the_stream_is_cut():
    fs = 8000
    n = 2 * fs
    x = (_tone_hum(n, fs, 49.97, 0.01) + 0.003 * np.random.default_rng(2).standard_normal(n))
    x = np.c_[x, 0.5 * x[::-1]].astype(np.float32)
    whole = HumCanceller(50.0, fs, 2)(x.copy())
    for block in (1, 97, 4096):
        hc = HumCanceller(50.0, fs, 2)
        parts = [hc(x[i:i + block].copy()) for i in range(0, n, block)]
        assert np.array_equal(np.concatenate(parts), whole)


def test_after_lost_samples_the_hum_is_still_cancelled():
    fs = 8000
    n = 4 * fs
    h = _tone_hum(n, fs, 50.0, 0.01).astype(np.float32)[:, None]
    hc = HumCanceller(50.0, fs, 1)
    hc(h[: 2 * fs].copy())
    gap = fs // 3
    hc.skip(gap)  # the mains went on while the samples were lost
    after = hc(h[2 * fs + gap:].copy())
    # no new learning needed: right after the gap the hum is 30 dB down already
    assert np.sqrt(np.mean(after[: fs // 10, 0] ** 2)) < 0.01 * 10 ** (-30 / 20)


def test_detect_hum_finds_lines_and_not_blood():
    fs = 16000
    syn = synth.synthesize("gsv_squeeze_reflux", sample_rate_hz=fs, snr_db=12, seed=4,
                           duration_s=4.0)
    audio = synth.to_layout(syn.baseband, "iq", fs)
    audio = audio / np.abs(audio).max() * 0.7
    assert detect_hum(audio, fs) is None
    for mains in (50.0, 60.0):
        hum = synth.mains_hum(len(audio), fs, 2, 10 ** (-55 / 20), mains_hz=mains, seed=1)
        found = detect_hum(audio + hum, fs)
        assert found is not None and found["mains_hz"] == mains
        # the level read from the lines found (not all harmonics) is near the hum's
        assert -62 < found["level_dbfs"] < -54


@pytest.fixture(scope="module")
def jugular(tmp_path_factory):
    """The jugular Valsalva scenario at 16 kHz, clean and with -20 dBFS of 50 Hz hum."""
    d = tmp_path_factory.mktemp("hum")
    paths = {}
    for name, extra in (("clean", []), ("hum", ["--hum-dbfs", "-20"])):
        path = d / f"{name}.flac"
        assert cli.main(["simulate", "jugular_valsalva", "-o", str(path), "--seed", "2",
                         "--sample-rate", "16000", *extra]) == 0
        paths[name] = path
    return paths


def _analyze_cli(path, tmp_path, *flags):
    out = tmp_path / "out.json"
    code = cli.main(["analyze", str(path), "--vessel", "ijv", "--antegrade", "away",
                     "--json", str(out), *flags])
    assert code == 0
    return json.loads(out.read_text())


def test_detect_hum_leaves_out_samples_that_are_not_numbers():
    """A damaged float file's NaN and infinite samples hold no hum: the search leaves them
    out (as the glitch stage does), finds the hum around them, and warns of nothing."""
    import warnings

    fs = 8000
    audio = np.random.default_rng(3).standard_normal((3 * fs, 2)) * 10 ** (-40 / 20)
    audio += synth.mains_hum(len(audio), fs, 2, 10 ** (-30 / 20), mains_hz=50.0, seed=1)
    audio[1000:1010, 0] = np.inf
    audio[::97, 1] = np.nan  # in every segment of the search
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        found = detect_hum(audio, fs)
    assert found is not None and found["mains_hz"] == 50.0


def test_hum_breaks_the_analysis_and_the_warning_says_what_to_do(jugular, tmp_path, capsys):
    truth = json.loads(jugular["hum"].with_suffix(".truth.json").read_text())
    assert truth["hum"]["mains_hz"] == 50.0 and truth["hum"]["level_dbfs"] < -19
    got = _analyze_cli(jugular["hum"], tmp_path)
    # the lines read as flow both ways: the reflux is lost in them
    assert got["reflux"] is not True
    assert any("mains hum at 50 Hz" in w and "--hum 50" in w for w in got["warnings"])
    assert "--hum 50" in capsys.readouterr().out


def test_hum_removal_restores_the_reflux(jugular, tmp_path, capsys):
    clean = _analyze_cli(jugular["clean"], tmp_path)
    got = _analyze_cli(jugular["hum"], tmp_path, "--hum", "50")
    assert clean["reflux"] is True and got["reflux"] is True
    assert len(got["reflux_events"]) == len(clean["reflux_events"]) == 1
    (a,), (b,) = clean["reflux_events"], got["reflux_events"]
    # the edges land where the clean recording puts them, within the rows a step spreads
    # over (the 10 ms window and the 3-frame average: 4 hops of 5 ms)
    assert abs(a["start_s"] - b["start_s"]) <= 0.02
    assert abs(a["end_s"] - b["end_s"]) <= 0.02
    assert not any("mains hum" in w for w in got["warnings"])
    assert got["hum"]["mains_hz"] == 50.0
    # the truth's mains wanders by +-0.03 Hz about 50 Hz
    assert abs(got["hum"]["frequency_hz"] - 50.0) < 0.035
    assert got["settings"]["hum_hz"] == 50.0
    assert "hum         removed: 50 Hz mains" in capsys.readouterr().out


def test_hum_removal_leaves_a_clean_recording_alone():
    path = "samples/jugular_valsalva_iq.flac"
    a = analyze(path, vessel="ijv", antegrade="away")
    b = analyze(path, vessel="ijv", antegrade="away", hum_hz=50.0)
    assert [(round(e.start_s, 2)) for e in a.reflux_events] == \
        [(round(e.start_s, 2)) for e in b.reflux_events]
    assert abs(a.reflux_events[0].end_s - b.reflux_events[0].end_s) <= 0.02
    va, vb = a.trace.velocity_cm_s, b.trace.velocity_cm_s
    ok = np.isfinite(va) & np.isfinite(vb)
    # the notches take 6 % of each 100 Hz bin's power: the trace moves by well under a bin
    bin_cm_s = a.summary.velocity_resolution_cm_s
    assert np.sqrt(np.mean((va[ok] - vb[ok]) ** 2)) < 0.5 * bin_cm_s
    # the first three time constants are not analysed while the amplitudes are learnt
    assert np.isnan(vb[b.trace.time_s < 3 * TAU_S]).all()


def test_sixty_hz_mains(tmp_path):
    path, clean_path = tmp_path / "h60.wav", tmp_path / "clean.wav"
    synth.write_scenario("perforator_reflux", path, seed=5, sample_rate_hz=16000,
                         hum_dbfs=-30, mains_hz=60.0)
    synth.write_scenario("perforator_reflux", clean_path, seed=5, sample_rate_hz=16000)
    kw = dict(vessel="perforator", antegrade="toward")
    clean = analyze(clean_path, **kw)
    bad = analyze(path, **kw)
    assert [e.start_s for e in bad.reflux_events] != [e.start_s for e in clean.reflux_events]
    got = analyze(path, hum_hz=60.0, **kw)
    assert len(got.reflux_events) == len(clean.reflux_events) == 2
    for a, b in zip(clean.reflux_events, got.reflux_events, strict=True):
        assert abs(a.start_s - b.start_s) <= 0.02 and abs(a.end_s - b.end_s) <= 0.02
    assert got.hum["mains_hz"] == 60.0


def test_hum_removal_is_refused_on_the_offset_layout(tmp_path):
    path = tmp_path / "off.wav"
    synth.write_scenario("jugular_valsalva", path, layout="offset", seed=5,
                         sample_rate_hz=16000, duration_s=1.0)
    with pytest.raises(SettingsError, match="every layout but offset"):
        analyze(path, layout="offset", offset_hz=4000.0, hum_hz=50.0)


def test_replay_with_hum_removal_equals_analyze(jugular):
    settings = Settings(vessel="ijv", antegrade="away", hum_hz=50.0)
    want = analyze(jugular["hum"], settings=settings).to_dict(trace=True)
    got = replay(jugular["hum"], settings, block_size=1001).to_dict(trace=True)
    assert json.dumps(got) == json.dumps(want)
    assert want["reflux"] is True


def test_bad_hum_settings(tmp_path, capsys):
    with pytest.raises(SettingsError, match="not 50 or 60"):
        Settings(hum_hz=55.0).validate()
    assert cli.main(["analyze", "samples/jugular_valsalva_iq.flac", "--hum", "55"]) == 2
    assert "mains frequency '55' is not 50 or 60" in capsys.readouterr().err
    code = cli.main(["simulate", "jugular_valsalva", "-o", str(tmp_path / "x.wav"),
                     "--hum-dbfs", "0"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "hum level" in err
