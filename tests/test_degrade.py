"""The simulator's real-world degradations, measured on the files it writes.

Every check reads the written audio back with soundfile and measures it with plain
scipy (Welch spectra, filters), never with the degradation code itself.
"""

import json
import math

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from dopplerflow import cli
from dopplerflow.errors import SettingsError
from dopplerflow.sim import evaluate as ev
from dopplerflow.sim import synth
from dopplerflow.sim.degrade import NOISE_CORNER_HZ, Degradations
from dopplerflow.sim.degraded import CASES, format_degraded

FS = 8000


def _write(tmp_path, name="no_flow", *, fs=FS, duration_s=4.0, seed=1, snr_db=0.0,
           subtype="PCM_24", file="rec.wav", layout="iq", **deg):
    path = tmp_path / file
    truth = synth.write_scenario(name, path, layout=layout, sample_rate_hz=fs,
                                 duration_s=duration_s, seed=seed, snr_db=snr_db, subtype=subtype,
                                 degradations=Degradations(**deg) if deg else None)
    data, rate = sf.read(path, dtype="float64", always_2d=True)
    return data, rate, truth


def _welch(x, fs, nperseg):
    """Two-sided Welch PSD (Hann, 50 % overlap) and its segment count."""
    f, p = signal.welch(x, fs=fs, nperseg=nperseg, return_onesided=False, axis=0)
    k = (len(x) - nperseg // 2) // (nperseg // 2)
    return f, p, k


# -------------------------------------------------------------------------- coloured noise
@pytest.mark.parametrize("slope", [0.0, -3.0, -6.0])
def test_noise_spectrum_falls_at_the_slope_asked_for(tmp_path, slope):
    # no_flow: clutter (below 30 Hz) and noise only; at 0 dB in-band the noise sits far
    # above the 24-bit floor across the fitted band
    data, fs, truth = _write(tmp_path, duration_s=8.0, noise_slope_db_oct=slope)
    z = data[:, 0] + 1j * data[:, 1]
    f, p, k = _welch(z, fs, 512)
    sel = (np.abs(f) >= 250.0) & (np.abs(f) <= 3000.0)
    x, y = np.log2(np.abs(f[sel])), 10.0 * np.log10(p[sel])
    fitted = np.polyfit(x, y, 1)[0]
    # each Welch bin averages k exponential estimates (Hann, 50 % overlap: about k / 1.06
    # independent ones), so its dB scatter is 4.34 / sqrt(k / 1.06); neighbouring Hann
    # bins correlate, counted as half as many independent bins
    sigma_db = 10.0 / math.log(10.0) / math.sqrt(k / 1.06)
    sigma_slope = sigma_db / math.sqrt(np.sum((x - x.mean()) ** 2) / 2.0)
    assert fitted == pytest.approx(slope, abs=5.0 * sigma_slope)
    assert 5.0 * sigma_slope < 0.5  # the test can tell -3 from -6 and from white
    if slope:
        assert truth["degradations"] == {"noise_slope_db_oct": slope,
                                         "noise_corner_hz": NOISE_CORNER_HZ}
    else:
        assert "degradations" not in truth  # white: nothing degraded, nothing written


@pytest.mark.parametrize("slope", [-3.0, -6.0])
def test_slope_keeps_the_in_band_snr(slope):
    # the noise power from 0 to the band B on the flow's side is the white noise's
    kw = dict(sample_rate_hz=FS, duration_s=8.0, seed=4, snr_db=12.0)
    white = synth.synthesize("femoral_reflux", **kw)
    col = synth.synthesize("femoral_reflux", degradations=Degradations(noise_slope_db_oct=slope),
                           **kw)
    band = white.truth["snr_band_hz"]
    f = np.fft.fftfreq(len(white.parts["noise"]), 1.0 / FS)
    inside = (f > 0.0) & (f <= band)

    def in_band(x):
        return np.sum(np.abs(np.fft.fft(x)[inside]) ** 2)

    # sampling error of a sum of exponential bins weighted by the shape w: sqrt(sum w^2)/sum w
    w = np.maximum(f[inside], NOISE_CORNER_HZ) ** (slope / (10.0 * math.log10(2.0)))
    rel = math.sqrt(np.sum(w ** 2)) / np.sum(w) + 1.0 / math.sqrt(inside.sum())
    assert in_band(col.parts["noise"]) / in_band(white.parts["noise"]) == pytest.approx(
        1.0, abs=4.0 * rel)
    # the blood, clutter and the white draws behind the noise are the same
    assert np.array_equal(col.parts["blood"], white.parts["blood"])
    assert col.truth["snr_db"] == white.truth["snr_db"] == 12.0


def test_no_degradation_leaves_the_recording_as_it_was():
    kw = dict(sample_rate_hz=FS, duration_s=2.0, seed=3)
    plain = synth.synthesize("jugular_valsalva", **kw)
    default = synth.synthesize("jugular_valsalva", degradations=Degradations(), **kw)
    assert np.array_equal(plain.baseband, default.baseband) and plain.truth == default.truth


# ------------------------------------------------------------------ recorder band, floor
def test_recorder_band_and_floor(tmp_path):
    # noise 20 dB over the blood's band: its spectrum stands 70 dB over the floor, room to
    # measure the low-pass's drop
    lp, floor = 3000.0, -90.0
    data, fs, truth = _write(tmp_path, fs=16000, duration_s=4.0, snr_db=-20.0, lowpass_hz=lp,
                             resample_hz=44100, floor_dbfs=floor)
    assert fs == 44100 and truth["sample_rate_hz"] == 44100.0
    assert len(data) == 4 * 44100 and truth["duration_s"] == 4.0
    f, p, k = _welch(data[:, 0], fs, 4096)
    f, p = f[f > 0], p[f > 0]
    band = np.mean(p[(f > 500.0) & (f < 2000.0)])
    # an 8th-order Butterworth run both ways: |H|^4 = (1 + (f/fc)^16)^-2, the analogue
    # prototype (the bilinear transform only steepens it)
    for ratio in (1.25, 1.5):
        above = np.mean(p[(f > ratio * lp) & (f < ratio * lp + 200.0)])
        expected_db = 20.0 * math.log10(1.0 + ratio ** 16)
        assert 10.0 * math.log10(band / above) >= expected_db - 1.0
    # far above the band: the sound card's floor, white at -90 dBFS rms on the channel
    # (one-sided Welch density of the real channel: rms^2 / (fs / 2) per Hz; two-sided here)
    far = np.mean(p[(f > 8000.0) & (f < 20000.0)])
    expected = 10.0 ** (floor / 10.0) / fs
    assert 10.0 * math.log10(far / expected) == pytest.approx(0.0, abs=0.3)
    assert truth["degradations"] == {"lowpass_hz": lp, "resample_hz": 44100.0,
                                     "floor_dbfs": floor, "lowpass_order": 8,
                                     "resampled_from_hz": 16000.0}


def test_resampled_from_8k_has_nothing_above_4k_and_the_same_truth(tmp_path):
    kw = dict(fs=8000, duration_s=3.0, seed=2, snr_db=12.0)
    data, fs, truth = _write(tmp_path, "jugular_phasic", resample_hz=44100, **kw)
    plain, _, plain_truth = _write(tmp_path, "jugular_phasic", file="plain.wav", **kw)
    assert fs == 44100 and sf.info(str(tmp_path / "rec.wav")).samplerate == 44100
    assert len(data) == 3 * 44100
    f, p, k = _welch(data[:, 0], fs, 8192)
    f, p = f[f > 0], p[f > 0]
    inside = np.median(p[(f > 200.0) & (f < 3000.0)])
    # the resampling filter is 140 dB down from 4 kHz; what is left above (some 90 dB under
    # the band) is Hann leakage and the image at 8 kHz of the wall echoes, whose line near
    # 0 Hz stands some 50 dB over the noise's density
    assert 10.0 * math.log10(inside / p[f >= 4000.0 + 2 * fs / 8192].max()) > 80.0
    # the truth is the 8 kHz recording's: times are seconds from the first sample
    for key in ("trace", "reflux_events", "retrograde_episodes", "beat_times_s", "psv_cm_s"):
        assert truth[key] == plain_truth[key], key
    assert truth["sample_rate_hz"] == 44100.0 and plain_truth["sample_rate_hz"] == 8000.0
    # ... and so is the time base: resampled back, the wideband part lines up at lag 0
    back = signal.resample_poly(data[:, 0], 80, 441)[:len(plain)]
    a, b = np.diff(back), np.diff(plain[:, 0])
    lags = range(-3, 4)
    corr = [np.dot(a[10 + lag:len(a) - 10 + lag], b[10:len(b) - 10]) for lag in lags]
    assert lags[int(np.argmax(corr))] == 0


# ----------------------------------------------------------------------- tones, clicks
def test_tones_at_their_frequencies_and_level(tmp_path):
    tones_hz, level = (700.0, 2100.0), 0.0
    # at 20 dB in-band the noise density is 1 / (100 B) per Hz (B = 520 Hz, the band of
    # 10 cm/s); each side of a tone puts 0.5 in a Hann main lobe of 1.5 bins (11.7 Hz)
    data, fs, truth = _write(tmp_path, duration_s=4.0, snr_db=20.0, tones_hz=tones_hz,
                             tone_db=level)
    z = (data[:, 0] + 1j * data[:, 1]) / truth["full_scale_per_unit"]  # baseband units
    f, p, k = _welch(z, fs, 1024)
    df = fs / 1024
    for tone in tones_hz:
        power = 0.0
        for side in (1.0, -1.0):
            near = np.abs(f - side * tone) <= 2.5 * df  # the Hann main lobe and a bin more
            around = (np.abs(f - side * tone) > 5 * df) & (np.abs(f - side * tone) < 20 * df)
            assert p[near].max() > 100.0 * np.median(p[around])  # a line 20 dB over the rest
            power += (p[near].sum() - near.sum() * np.median(p[around])) * df
        # total power of the tone, both sides: 10**(tone_db / 10) of the blood's (1)
        assert 10.0 * math.log10(power) == pytest.approx(level, abs=0.3)
    assert truth["degradations"] == {"tones_hz": list(tones_hz), "tone_db": level}


def test_clicks_counted_on_the_file(tmp_path):
    data, fs, truth = _write(tmp_path, duration_s=6.0, snr_db=12.0, clicks=7, click_db=30.0)
    # above 1 kHz there is only the noise (no flow, clutter under 30 Hz): the clicks are
    # broadband, 30 dB over the blood, so they stand far out of it
    sos = signal.butter(6, 1000.0, "highpass", fs=fs, output="sos")
    hp = signal.sosfiltfilt(sos, data, axis=0)
    power = np.convolve(np.sum(hp ** 2, axis=1), np.ones(8) / 8, mode="same")  # 1 ms
    loud = power > 30.0 * np.median(power)
    runs = np.flatnonzero(np.diff(np.r_[0, loud.astype(int), 0]) == 1)
    assert len(runs) == 7
    starts = np.asarray(truth["degradations"]["click_start_s"])
    assert np.abs(runs / fs - starts).max() < 0.002  # each where the truth puts it
    assert all(0.005 <= d <= 0.0101 for d in truth["degradations"]["click_duration_s"])
    assert truth["degradations"]["clicks"] == 7 and truth["degradations"]["click_db"] == 30.0


def test_degradations_follow_the_seed():
    kw = dict(sample_rate_hz=FS, duration_s=3.0, degradations=Degradations(
        clicks=4, tones_hz=(900.0,), noise_slope_db_oct=-3.0))
    a, b = synth.synthesize("no_flow", seed=5, **kw), synth.synthesize("no_flow", seed=5, **kw)
    c = synth.synthesize("no_flow", seed=6, **kw)
    assert np.array_equal(a.baseband, b.baseband) and a.truth == b.truth
    assert a.truth["degradations"]["click_start_s"] != c.truth["degradations"]["click_start_s"]


# -------------------------------------------------------------------------------- 8 bits
@pytest.mark.parametrize("file, subtype", [("rec.wav", "PCM_U8"), ("rec.flac", "PCM_S8")])
def test_eight_bits_on_a_256_level_grid(tmp_path, file, subtype):
    data, fs, truth = _write(tmp_path, "jugular_valsalva", duration_s=1.0, snr_db=12.0,
                             subtype=subtype, file=file)
    assert sf.info(str(tmp_path / file)).subtype == subtype
    steps = data * 128.0
    assert np.array_equal(steps, np.round(steps)) and steps.min() >= -128 and steps.max() <= 127
    assert truth["degradations"] == {"bits": 8} and truth["subtype"] == subtype
    # what evaluate analyses is what the file holds, bit for bit
    syn = synth.synthesize("jugular_valsalva", sample_rate_hz=FS, duration_s=1.0, seed=1,
                           snr_db=12.0)
    assert np.array_equal(ev.quantise(synth.to_layout(syn.baseband, "iq", FS), bits=8), data)


def test_eight_bits_need_their_format(tmp_path):
    with pytest.raises(SettingsError, match="PCM_S8"):
        synth.write_scenario("no_flow", tmp_path / "x.flac", sample_rate_hz=FS,
                             duration_s=0.5, subtype="PCM_U8")


def test_evaluate_analyses_what_simulate_writes(tmp_path):
    deg = Degradations(lowpass_hz=3000.0, resample_hz=22050.0, floor_dbfs=-80.0, clicks=2,
                       tones_hz=(1500.0,))
    path = tmp_path / "d.wav"
    synth.write_scenario("perforator_reflux", path, layout="toward-away", sample_rate_hz=FS,
                         duration_s=1.0, seed=5, snr_db=12.0, degradations=deg)
    from_file, fs = sf.read(path, dtype="float64", always_2d=True)
    syn = synth.synthesize("perforator_reflux", sample_rate_hz=FS, duration_s=1.0, seed=5,
                           snr_db=12.0, degradations=deg)
    from dopplerflow.sim.degrade import record

    channels, rate, _ = record(synth.to_layout(syn.baseband, "toward-away", FS), FS, deg, 5)
    assert rate == fs == 22050 and np.array_equal(ev.quantise(channels), from_file)


# ------------------------------------------------------------------------- truth, errors
def test_truth_records_every_option(tmp_path):
    deg = Degradations(noise_slope_db_oct=-6.0, tones_hz=(1000.0, 2500.0), tone_db=-20.0,
                       clicks=3, click_db=25.0, lowpass_hz=3500.0, resample_hz=44100.0,
                       floor_dbfs=-95.0, clutter_db=20.0)
    path = tmp_path / "all.flac"
    truth = synth.write_scenario("gsv_squeeze_reflux", path, sample_rate_hz=FS, duration_s=2.0,
                                 seed=0, subtype="PCM_S8", degradations=deg)
    saved = json.loads((tmp_path / "all.truth.json").read_text())
    assert saved == json.loads(json.dumps(truth))
    d = saved["degradations"]
    assert {k: d[k] for k in deg.settings()} == {
        "noise_slope_db_oct": -6.0, "tones_hz": [1000.0, 2500.0], "tone_db": -20.0,
        "clicks": 3, "click_db": 25.0, "lowpass_hz": 3500.0, "resample_hz": 44100.0,
        "floor_dbfs": -95.0, "clutter_db": 20.0}
    assert saved["clutter_db"] == 20.0  # the recording's wall echoes, as synthesised
    assert d["bits"] == 8 and d["resampled_from_hz"] == FS and d["lowpass_order"] == 8
    assert len(d["click_start_s"]) == len(d["click_duration_s"]) == 3
    assert saved["sample_rate_hz"] == 44100.0 and sf.info(str(path)).samplerate == 44100


@pytest.mark.parametrize("kw, match", [
    (dict(clutter_db=75.0), "wall echo level 75"),
    (dict(lowpass_hz=4000.0), r"low-pass 4000 Hz is not below 4000 Hz"),
    (dict(lowpass_hz=50.0), "low-pass 50"),
    (dict(clicks=-2), "click count -2"),
    (dict(clicks=1000), "click count 1000 must be a whole number from 0 to 20"),
    (dict(clicks=2.5), "click count 2.5"),
    (dict(tones_hz=(5000.0,)), "tone 5000 Hz is not between 0 and 4000 Hz"),
    (dict(tones_hz="loud"), "tone frequencies"),
    (dict(noise_slope_db_oct=-20.0), "noise slope -20"),
    (dict(resample_hz=44100.5), "whole number of Hz"),
    (dict(resample_hz=4000.0), "resampling rate 4000"),
    (dict(floor_dbfs=-20.0), "noise floor -20"),
    (dict(channel_gain_db=40.0), "channel gain 40.0 is outside -30 to 30"),
])
def test_bad_degradations_are_settings_errors(kw, match):
    with pytest.raises(SettingsError, match=match):
        synth.synthesize("no_flow", sample_rate_hz=FS, duration_s=1.0,
                         degradations=Degradations(**kw))


def test_cli_simulate_writes_the_degradations(tmp_path, capsys):
    out = tmp_path / "d.wav"
    assert cli.main(["simulate", "jugular_valsalva", "-o", str(out), "--sample-rate", "8000",
                     "--duration", "2", "--noise-slope", "-3", "--tone-hz", "1000,3150",
                     "--tone-db", "-12", "--clicks", "2", "--click-db", "20",
                     "--lowpass-hz", "3500", "--resample", "44100", "--floor-dbfs", "-90",
                     "--channel-gain-db", "3", "--bits", "8"]) == 0
    printed = capsys.readouterr().out
    assert "44100 Hz" in printed and "degraded: noise_slope_db_oct, tones_hz" in printed
    truth = json.loads((tmp_path / "d.truth.json").read_text())
    assert truth["degradations"]["tones_hz"] == [1000.0, 3150.0]
    assert truth["degradations"]["channel_gain_db"] == 3.0
    assert truth["subtype"] == "PCM_U8" and sf.info(str(out)).subtype == "PCM_U8"


@pytest.mark.parametrize("argv, match", [
    (["--lowpass-hz", "5000"], "low-pass 5000 Hz is not below 4000 Hz"),
    (["--lowpass-hz", "0"], "low-pass 0.0 must be at least 100 Hz; give the recorder's audio "
                            "band in Hz"),
    (["--clicks", "-3"], "click count -3"),
    (["--tone-db", "-5"], "give --tone-hz"),
    (["--click-db", "20"], "give --clicks"),
    (["--tone-hz", "1k"], "--tone-hz '1k' is not a comma-separated list"),
    (["--resample", "1000000"], "resampling rate"),
])
def test_cli_simulate_bad_degradations_are_one_line(tmp_path, argv, match, capsys):
    out = tmp_path / "d.wav"
    code = cli.main(["simulate", "no_flow", "-o", str(out), "--sample-rate", "8000",
                     "--duration", "1", *argv])
    err = capsys.readouterr().err
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("gain_db", [12.0, -6.0])
def test_channel_gain_raises_the_second_channel_against_the_first(tmp_path, gain_db):
    # the same seed written with and without the gain: the second channel's rms over the
    # first's moves by the gain (both scaled alike to full scale as written); 24 bits
    # leave the ratio exact to far under 0.01 dB
    plain, _, _ = _write(tmp_path, "jugular_valsalva", layout="toward-away", file="a.wav")
    apart, _, truth = _write(tmp_path, "jugular_valsalva", layout="toward-away", file="b.wav",
                             channel_gain_db=gain_db)

    def ratio_db(x):
        return 20.0 * np.log10(np.sqrt(np.mean(x[:, 1] ** 2) / np.mean(x[:, 0] ** 2)))

    assert ratio_db(apart) - ratio_db(plain) == pytest.approx(gain_db, abs=0.01)
    assert truth["degradations"] == {"channel_gain_db": gain_db}


def test_channel_gain_of_a_mono_recording_is_a_settings_error(tmp_path):
    with pytest.raises(SettingsError, match="a channel gain applies to a two-channel recording"):
        _write(tmp_path, layout="mono", channel_gain_db=6.0)
    assert not (tmp_path / "rec.wav").exists()


# ------------------------------------------------------------------------ degraded table
@pytest.fixture(scope="module")
def degraded():
    return ev.evaluate(scenarios=("jugular_valsalva", "artery_triphasic"), snrs=(12,),
                       seeds=(0,), layouts=("iq",), workers=1, degraded="only",
                       degradations=("from-8k", "clicks"))


def test_degraded_table_runs_each_case(degraded):
    assert degraded["rows"] == [] and degraded["records"] == []  # the clean table left out
    d = degraded["degraded"]
    assert [b["name"] for b in d["blocks"]] == ["from-8k", "clicks"] and d["snr_db"] == 12.0
    from_8k, clicks = d["blocks"]
    # an 8 kHz recording cannot hold the artery's 4.2 kHz shift: left out, and said so
    assert [o["scenario"] for o in from_8k["left_out"]] == ["artery_triphasic"]
    assert [r["scenario"] for r in from_8k["rows"]] == ["jugular_valsalva"]
    assert [r["scenario"] for r in clicks["rows"]] == ["jugular_valsalva", "artery_triphasic"]
    recs = d["records"]
    assert {r["degradation"] for r in recs} == {"from-8k", "clicks"}
    assert all(r["snr_db"] == 12.0 and "error" not in r for r in recs)
    assert {r["sample_rate_hz"] for r in recs if r["degradation"] == "from-8k"} == {44100.0}
    assert from_8k["settings"] == {"resample_hz": 44100.0} and from_8k["sample_rate_hz"] == 8000
    json.dumps(degraded)


def test_degraded_table_marks_the_cells_that_meet_the_targets(degraded):
    for block in degraded["degraded"]["blocks"]:
        for row in block["rows"] + [block["overall"]]:
            m = row["meets"]
            assert m["trace_rms_pct"] == (row["trace_rms_pct"] <= 8.0)
            assert m["classification_right_pct"] == (row["n_right"] == row["n_recordings"])
        assert block["verdict"] == ("FAIL" if False in block["overall"]["meets"].values()
                                    else "PASS")
    text = format_degraded(degraded["degraded"])
    lines = text.splitlines()
    row = next(ln for ln in lines if ln.startswith("clicks") and "jugular_valsalva" in ln)
    rms = degraded["degraded"]["blocks"][1]["rows"][0]["trace_rms_pct"]
    assert f"{rms:.1f}{'*' if rms <= 8 else ' '}" in row
    assert "left out: artery_triphasic" in text and "* marks a cell" in lines[0]


def test_a_case_for_some_layouts_runs_in_those_of_the_run_and_says_when_there_are_none():
    from dopplerflow.sim.degraded import degraded_tasks, get_case

    case = get_case("gain-12")
    tasks, left_out = degraded_tasks(["no_flow"], (0,), ("iq", "toward-away"), 16000.0, None,
                                     True, [case])
    assert {t["layouts"] for t in tasks} == {("toward-away",)} and left_out == {"gain-12": []}
    tasks, left_out = degraded_tasks(["no_flow"], (0,), ("iq", "qi"), 16000.0, None, True,
                                     [case])
    assert tasks == [] and left_out["gain-12"] == [{
        "scenario": "no_flow",
        "reason": "it applies to the toward-away layout(s), none of the run's"}]


def test_degraded_cases_are_valid():
    # every case fits the clean table's 16 kHz recordings (or its own rate)
    for case in CASES:
        case.degradations.check(case.sample_rate_hz or ev.SAMPLE_RATE_HZ, 8.0)
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("argv, match", [
    (["--degradations", "nope"], "degradation 'nope' is not known"),
    (["--degraded", "no", "--degradations", "tones"], "--degraded no"),
    (["--degraded", "maybe"], "invalid choice"),
])
def test_cli_evaluate_degraded_bad_usage(argv, match, capsys):
    assert cli.main(["evaluate", "--scenarios", "no_flow", *argv]) == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1


def test_wall_echo_level_sets_what_eight_bits_leave_of_the_blood():
    """Eight bits against wall echoes 50 dB over the blood leave it under the quantisation
    noise; a device's audio output (echoes 20 dB over it) keeps it well above."""
    def blood_over_quantisation(deg):
        syn = synth.synthesize("femoral_competent", sample_rate_hz=FS, duration_s=2.0, seed=0,
                               snr_db=60.0, degradations=deg)
        z = syn.baseband
        scale = 1.0 / np.max(np.abs(np.concatenate((z.real, z.imag))))
        q = 2.0 ** -7  # the step of 8-bit samples at full scale
        noise = q ** 2 / 12 * 2  # both channels, over the whole band
        blood = 1.0 * scale ** 2  # the blood echo's power is 1 (degrade.py)
        return 10 * np.log10(blood / noise)

    loud = blood_over_quantisation(None)
    device = blood_over_quantisation(Degradations(clutter_db=20.0))
    # the full scale follows the echoes: 30 dB less of them, about 30 dB more blood
    assert device - loud == pytest.approx(30.0, abs=3.0)
    assert loud < 12.0 < device


def test_eight_bit_rounding_spanned_by_the_echoes_is_noise_not_silence():
    """A device's 8-bit audio output of a jugular vein beside the carotid (echoes 20 dB over
    the blood, 12 dB in-band): its rounding noise, which the echoes span by many steps, is
    its noise floor.  Judged as digital silence (every bin within 20 dB of 8-bit rounding
    noise), the bins' mirrors were not taken and the reflux (2.01 s) ended 0.86 s early,
    the trace 27.5 % rms off; judged as its 16-bit copy, the reflux ends within the
    degraded table's 30 ms and the trace within its 8 %."""
    from dopplerflow.sim.degraded import get_case

    case = get_case("8-bit")
    name = "jugular_with_carotid"
    fs = ev.sample_rate_for(name, ("iq",), 16000)
    (rec,) = ev.run_recording(name, 12.0, 0, layouts=("iq",), sample_rate_hz=fs, auto=False,
                              degradations=case.degradations, bits=case.bits)
    assert rec["recording_correct"]
    assert max(abs(e) for e in rec["end_errors_s"] + rec["onset_errors_s"]) <= 0.03
    assert rec["trace_rms_error_pct"] <= 8.0
