"""The simulator checked against independent measurements of what it wrote.

The references here are plain numpy/scipy (STFT, FFT, Hilbert transform) and the
analytic Doppler spectrum of a velocity profile, never the simulator's own code.
"""

import json
import math

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from dopplerflow.core.layouts import channel_map
from dopplerflow.core.velocity import doppler_shift_hz
from dopplerflow.errors import SettingsError
from dopplerflow.sim import synth
from dopplerflow.sim.scenarios import REFLUX_THRESHOLD_S, get_scenario, list_scenarios

FS = 8000  # Hz: every venous scenario peaks below 2.1 kHz at 8 MHz / 60 degrees

# Physiology of each scenario, written down independently of its velocity function.
EXPECTED_REFLUX = {
    "jugular_phasic": False, "jugular_valsalva": True, "jugular_valve_closure": False,
    "vertebral_repeated": True, "gsv_squeeze_reflux": True, "femoral_competent": False,
    "femoral_reflux": True, "perforator_reflux": True, "artery_triphasic": False,
    "carotid": False, "no_flow": False, "jugular_with_carotid": True, "low_snr_gsv": True,
}


def _fs_for(name):
    # arteries peak at 3.6-4.2 kHz
    return 16000 if name in ("artery_triphasic", "carotid", "jugular_with_carotid") else FS


@pytest.fixture(scope="module")
def valsalva():
    return synth.synthesize("jugular_valsalva", sample_rate_hz=FS, seed=3)


# ----------------------------------------------------------------------------- library
def test_library_has_the_scenarios_of_the_issue():
    names = [n for n, _ in list_scenarios()]
    assert len(names) >= 10 and len(set(names)) == len(names)
    assert set(names) == set(EXPECTED_REFLUX)
    for name, desc in list_scenarios():
        sc = get_scenario(name)
        assert desc and "\n" not in desc
        assert sc.vessel in REFLUX_THRESHOLD_S and sc.antegrade in ("toward", "away")
        assert 8.0 <= sc.duration_s <= 20.0
        assert len(sc.physiology) > 80  # the physiology is written down


def test_unknown_scenario_names_the_choices():
    with pytest.raises(SettingsError, match="jugular_valsalva"):
        synth.synthesize("jugular_valsava")


# ------------------------------------------------------------------------------- truth
@pytest.mark.parametrize("name", sorted(EXPECTED_REFLUX))
def test_truth_follows_the_vessel_threshold(name):
    syn = synth.synthesize(name, sample_rate_hz=_fs_for(name), seed=0)
    truth = syn.truth
    threshold = REFLUX_THRESHOLD_S[truth["vessel"]]
    assert truth["reflux_threshold_s"] == threshold
    assert truth["reflux"] is EXPECTED_REFLUX[name]
    assert truth["flow"] is (name != "no_flow")
    t = np.asarray(truth["trace"]["time_s"])
    v = np.asarray(truth["trace"]["velocity_cm_s"])
    # 5 ms truth trace spanning the recording
    assert np.allclose(np.diff(t), synth.TRACE_HOP_S) and t[-1] > truth["duration_s"] - 0.01
    for ev in truth["reflux_events"]:
        assert ev["duration_s"] > threshold
    for ep in truth["retrograde_episodes"]:
        assert threshold is None or ep["duration_s"] <= threshold
    for ev in truth["reflux_events"] + truth["retrograde_episodes"]:
        inside = (t > ev["start_s"] + 0.005) & (t < ev["end_s"] - 0.005)
        assert np.all(v[inside] < 0.0)
        assert ev["peak_velocity_cm_s"] == pytest.approx(-v[inside].min(), rel=0.05, abs=0.2)
        # the interval is maximal: flow just outside is not retrograde
        for edge in (ev["start_s"] - 0.006, ev["end_s"] + 0.006):
            if 0.0 <= edge <= t[-1]:
                assert np.interp(edge, t, v) >= 0.0


def test_truth_intervals_on_a_hand_made_trace():
    t = np.arange(0.0, 5.0, 0.001)
    v = np.full_like(t, 10.0)
    v[(t > 1.0) & (t < 1.5)] = -5.0   # 0.5 s: an episode for the IJV
    v[(t > 2.0) & (t < 3.2)] = -8.0   # 1.2 s: reflux
    events, episodes = synth.truth_intervals(t, v, 0.88)
    # a crossing between a sample at +10 and one at -5 lies 2/3 of a 1 ms step on
    assert len(events) == 1 and len(episodes) == 1
    assert events[0]["start_s"] == pytest.approx(2.0 + 0.001 * 10 / 18, abs=1e-4)
    assert events[0]["duration_s"] == pytest.approx(1.2, abs=0.002)
    assert events[0]["peak_velocity_cm_s"] == 8.0
    assert episodes[0]["duration_s"] == pytest.approx(0.5, abs=0.002)
    events, episodes = synth.truth_intervals(t, v, None)  # arteries: no reflux rule
    assert events == [] and len(episodes) == 2


# ------------------------------------------------------------------------------ physics
def test_spectrum_edge_follows_the_velocity(valsalva):
    # Plain scipy STFT of the blood part; the 97% point of the cumulative power on
    # the flow's side sits at u_q = 1 - 0.03**(n/2) times the centre-line shift for
    # the profile v(r) = v_c (1 - (r/R)^n) (area fraction A(u) = (1-u)^(2/n)).
    # One speckle frame gives that point to a bin or two: bin width = fs / nperseg.
    for name, syn in (("jugular_valsalva", valsalva),
                      ("gsv_squeeze_reflux", synth.synthesize("gsv_squeeze_reflux",
                                                              sample_rate_hz=FS, seed=3))):
        sc = get_scenario(name)
        nper = 256
        bin_hz = FS / nper
        f, tt, z = signal.stft(syn.parts["blood"], fs=FS, nperseg=nper, noverlap=nper // 2,
                               return_onesided=False, boundary=None, padded=False)
        power = np.abs(z) ** 2
        sign = 1.0 if sc.antegrade == "toward" else -1.0

        def fc(t, sign=sign, sc=sc):
            return sign * doppler_shift_hz(sc.velocity(t), 8e6, 60.0)

        half = nper / 2 / FS
        steady = np.abs(fc(tt + half) - fc(tt - half)) < bin_hz  # v steady within the frame
        frames = np.flatnonzero(steady & (np.abs(fc(tt)) > doppler_shift_hz(5.0, 8e6, 60.0)))
        u_q = 1.0 - 0.03 ** (sc.profile_exponent / 2.0)
        err = []
        for k in frames:
            side = f * np.sign(fc(tt[k])) > 0
            order = np.argsort(np.abs(f[side]))
            cum = np.cumsum(power[side, k][order])
            edge = np.abs(f[side])[order][np.searchsorted(cum, 0.97 * cum[-1])]
            err.append((edge - u_q * abs(fc(tt[k]))) / bin_hz)
        err = np.asarray(err)
        assert len(frames) > 100
        assert abs(np.median(err)) <= 1.0
        assert np.mean(np.abs(err) <= 2.0) >= 0.9


@pytest.mark.parametrize("name", ["jugular_valsalva", "vertebral_repeated"])
def test_dominant_frequency_sign_follows_probe_direction(name):
    # antegrade away (IJV) or toward (VV): + antegrade maps to +f only for "toward"
    syn = synth.synthesize(name, sample_rate_hz=FS, duration_s=8.0, seed=5)
    sc = get_scenario(name)
    f, tt, z = signal.stft(syn.parts["blood"], fs=FS, nperseg=128, return_onesided=False)
    power = np.abs(z) ** 2
    dominant = np.sign((power * (f[:, None] > 0)).sum(0) - (power * (f[:, None] < 0)).sum(0))
    v = sc.velocity(tt)
    strong = np.abs(v) > 3.0
    expected = np.sign(v) * (1.0 if sc.antegrade == "toward" else -1.0)
    assert np.mean(dominant[strong] == expected[strong]) > 0.98
    assert np.any(v[strong] < 0) and np.any(v[strong] > 0)  # both directions were tested


@pytest.mark.parametrize("snr_db", [12.0, 3.0])
def test_in_band_snr_matches_request(snr_db):
    syn = synth.synthesize("femoral_reflux", sample_rate_hz=FS, snr_db=snr_db, seed=7)
    v = get_scenario("femoral_reflux").velocity(np.arange(len(syn.baseband)) / FS)
    # blood power while it moves: a still column (v = 0) is one constant speckle value
    p_blood = np.mean(np.abs(syn.parts["blood"][v != 0.0]) ** 2)
    n0 = np.mean(np.abs(syn.parts["noise"]) ** 2) / FS  # white: two-sided PSD per Hz
    band = doppler_shift_hz(np.abs(syn.truth["trace"]["velocity_cm_s"]).max(), 8e6, 60.0)
    measured = 10.0 * np.log10(p_blood / (n0 * band))
    # sampling error: the speckle has ~(integral of |f_c| dt) independent cycles
    # (> 5000 here, ~1.5% power), the noise 80000 samples (0.4%): 0.3 dB is > 4 sigma
    assert measured == pytest.approx(snr_db, abs=0.3)
    # the noise is white: its PSD is flat across the band
    fw, pw = signal.welch(syn.parts["noise"], fs=FS, nperseg=256, return_onesided=False)
    assert np.std(pw) / np.mean(pw) < 0.2  # Welch over 600 segments: ~4% scatter per bin


@pytest.mark.parametrize("carrier_hz,angle_deg", [(8e6, 60.0), (5e6, 45.0)])
def test_wall_clutter_is_slow_and_strong(carrier_hz, angle_deg):
    syn = synth.synthesize("jugular_phasic", sample_rate_hz=FS, duration_s=6.0, seed=2,
                           carrier_hz=carrier_hz, angle_deg=angle_deg)
    clutter = syn.parts["clutter"]
    spec = np.abs(np.fft.fft(clutter * signal.windows.hann(len(clutter)))) ** 2
    f = np.fft.fftfreq(len(clutter), 1.0 / FS)
    # walls move at <= 0.4 cm/s: <= 20.8 Hz at 8 MHz/60 deg; nothing of note above 30 Hz
    assert spec[np.abs(f) > 30.0].sum() / spec.sum() < 1e-5
    ratio_db = 10 * np.log10(np.mean(np.abs(clutter) ** 2) / np.mean(np.abs(syn.parts["blood"])
                                                                        ** 2))
    assert 40.0 <= ratio_db <= 60.0
    # it moves: not just a constant echo
    assert spec[(np.abs(f) > 3.0) & (np.abs(f) < 30.0)].sum() / spec.sum() > 1e-3


def test_no_flow_has_no_blood_and_reference_noise():
    syn = synth.synthesize("no_flow", sample_rate_hz=FS, duration_s=2.0)
    assert not np.any(syn.parts["blood"]) and syn.truth["flow"] is False
    assert syn.truth["snr_band_hz"] == pytest.approx(doppler_shift_hz(10.0, 8e6, 60.0))


def test_two_vessels_go_opposite_ways():
    fs = 16000
    syn = synth.synthesize("jugular_with_carotid", sample_rate_hz=fs, duration_s=3.0, seed=1)
    for part, sign in (("blood", -1.0), ("other_blood", +1.0)):  # IJV away, carotid toward
        spec = np.abs(np.fft.fft(syn.parts[part])) ** 2
        f = np.fft.fftfreq(len(spec), 1.0 / fs)
        assert spec[f * sign > 0].sum() > 0.95 * spec.sum()
    assert syn.truth["second_vessel"]["vessel"] == "artery"
    # the second vessel's power against the vessel under study, as asked for; nothing else
    # of the recording changes
    p_blood = np.mean(np.abs(syn.parts["blood"]) ** 2)
    for db in (-6.0, 3.0):
        louder = synth.synthesize("jugular_with_carotid", sample_rate_hz=fs, duration_s=3.0,
                                  seed=1, second_db=db)
        assert louder.truth["second_vessel"]["power_db"] == db
        ratio = np.mean(np.abs(louder.parts["other_blood"]) ** 2) / p_blood
        assert 10 * np.log10(ratio) == pytest.approx(db, abs=0.5)  # speckle of 3 s
        assert np.array_equal(louder.parts["blood"], syn.parts["blood"])
        assert np.allclose(louder.parts["other_blood"] * 10 ** ((-3.0 - db) / 20),
                           syn.parts["other_blood"], rtol=1e-12, atol=0.0)
    with pytest.raises(SettingsError, match="one vessel in the beam"):
        synth.synthesize("jugular_valsalva", sample_rate_hz=fs, duration_s=1.0, second_db=0.0)
    with pytest.raises(SettingsError, match=r"power 40.0 is outside -30 to 30"):
        synth.synthesize("jugular_with_carotid", sample_rate_hz=fs, second_db=40.0)


def test_determinism_and_independent_streams():
    a = synth.synthesize("perforator_reflux", sample_rate_hz=FS, duration_s=2.0, seed=11)
    b = synth.synthesize("perforator_reflux", sample_rate_hz=FS, duration_s=2.0, seed=11)
    c = synth.synthesize("perforator_reflux", sample_rate_hz=FS, duration_s=2.0, seed=12)
    d = synth.synthesize("perforator_reflux", sample_rate_hz=FS, duration_s=2.0, seed=11,
                         snr_db=3.0)
    assert np.array_equal(a.baseband, b.baseband) and a.truth == b.truth
    assert not np.allclose(a.baseband, c.baseband)
    assert np.array_equal(a.parts["blood"], d.parts["blood"])  # SNR changes only the noise


def test_iq_imbalance_image_matches_theory():
    # Q' = g (Q cos(phi) + I sin(phi)) makes z' = a z + b conj(z) with
    # a = (1 + g e^{j phi}) / 2, b = (1 - g e^{-j phi}) / 2: an image of every
    # component at the mirrored frequency, |b/a|^2 below it (about -23.5 dB here).
    g_db, phi_deg = 1.0, 5.0
    syn = synth.synthesize("gsv_squeeze_reflux", sample_rate_hz=FS, duration_s=2.3, seed=4,
                           snr_db=60.0, iq_imbalance=(g_db, phi_deg))
    z = syn.baseband[int(1.6 * FS):int(2.3 * FS)]  # squeeze: only antegrade (toward) flow
    spec = np.abs(np.fft.fft(z * signal.windows.hann(len(z)))) ** 2
    f = np.fft.fftfreq(len(z), 1.0 / FS)
    g, phi = 10 ** (g_db / 20), math.radians(phi_deg)
    irr = abs(1 - g * np.exp(-1j * phi)) ** 2 / abs(1 + g * np.exp(1j * phi)) ** 2
    measured = spec[f < -100.0].sum() / spec[f > 100.0].sum()  # clear of the wall clutter
    assert 10 * np.log10(measured) == pytest.approx(10 * np.log10(irr), abs=0.5)


def test_sample_rate_too_low_for_the_artery():
    with pytest.raises(SettingsError, match="sample rate above"):
        synth.synthesize("artery_triphasic", sample_rate_hz=8000)


@pytest.mark.parametrize("kw,match", [(dict(sample_rate_hz=4000), "sample rate"),
                                      (dict(angle_deg=95.0), "angle"),
                                      (dict(duration_s=-1.0), "duration"),
                                      (dict(seed=-1), "seed")])
def test_bad_values_are_settings_errors(kw, match):
    with pytest.raises(SettingsError, match=match):
        synth.synthesize("jugular_phasic", **kw)


# ------------------------------------------------------------------------------ layouts
def _tones(n=8000):
    t = np.arange(n) / FS  # integer cycles: every tone sits on an FFT bin
    return np.exp(2j * np.pi * 500 * t) + 0.5 * np.exp(-2j * np.pi * 1200 * t)


def _peak_hz(x):
    spec = np.abs(np.fft.rfft(x))
    return np.fft.rfftfreq(len(x), 1.0 / FS)[spec.argmax()]


@pytest.mark.parametrize("invert", [False, True])
@pytest.mark.parametrize("layout", ["iq", "qi"])
def test_iq_layouts_invert_through_the_reader_map(layout, invert):
    rng = np.random.default_rng(0)
    z = rng.standard_normal(500) + 1j * rng.standard_normal(500)
    x = synth.to_layout(z, layout, FS, invert=invert)
    cm = channel_map(layout, 2, invert=invert)
    assert np.array_equal(x[:, cm.i0] + 1j * cm.sign1 * x[:, cm.i1], z)
    assert np.array_equal(x[:, 0 if layout == "iq" else 1], z.real)


@pytest.mark.parametrize("invert", [False, True])
@pytest.mark.parametrize("layout", ["toward-away", "away-toward"])
def test_separated_layouts_hold_one_direction_each(layout, invert):
    z = _tones()
    x = synth.to_layout(z, layout, FS, invert=invert)
    cm = channel_map(layout, 2, invert=invert)
    toward, away = x[:, cm.i0], x[:, cm.i1]
    assert _peak_hz(toward) == 500.0 and _peak_hz(away) == 1200.0
    # the phasing filter works on a mirrored, faded extension (no wrap-around ringing), so
    # the split is exact only away from the ends: judge the middle half, Hann-windowed
    mid = slice(len(z) // 4, 3 * len(z) // 4)
    w = np.hanning(len(z) // 2)
    for ch, other in ((toward, 1200), (away, 500)):
        spec = np.abs(np.fft.rfft(w * ch[mid])) ** 2
        f = np.fft.rfftfreq(len(z) // 2, 1.0 / FS)
        assert spec[f == other][0] < 1e-6 * spec.max()  # the other direction 60 dB down
    # the reader's recombination recovers z in the middle
    rec = signal.hilbert(toward) + np.conj(signal.hilbert(away))
    assert np.max(np.abs(rec[mid] - z[mid])) < 1e-2


def test_separated_layout_recovers_blood_speckle(valsalva):
    # two real channels cannot carry the imaginary parts of the DC and Nyquist bins:
    # clear those two bins; away from the ends the recombination is then close to exact
    spec = np.fft.fft(valsalva.parts["blood"][:4000])
    spec[0] = spec[2000] = 0.0
    z = np.fft.ifft(spec)
    x = synth.to_layout(z, "toward-away", FS)
    rec = signal.hilbert(x[:, 0]) + np.conj(signal.hilbert(x[:, 1]))
    mid = slice(1000, 3000)
    err = np.sqrt(np.mean(np.abs(rec[mid] - z[mid]) ** 2) / np.mean(np.abs(z) ** 2))
    assert err < 0.03  # -30 dB: far below any SNR the scenarios use


@pytest.mark.parametrize("invert", [False, True])
def test_offset_and_mono_layouts(invert):
    z = _tones()
    x = synth.to_layout(z, "offset", FS, invert=invert)
    assert x.shape == (len(z), 1)
    spec = np.abs(np.fft.rfft(x[:, 0]))
    f = np.fft.rfftfreq(len(z), 1.0 / FS)
    # zero velocity at fs/4 = 2000 Hz; toward +500 Hz lands above it unless inverted
    toward_at, away_at = (2500.0, 800.0) if not invert else (1500.0, 3200.0)
    assert spec[f == toward_at][0] == pytest.approx(2 * spec[f == away_at][0], rel=1e-9)
    mono = synth.to_layout(z, "mono", FS)
    assert np.allclose(mono[:, 0], math.sqrt(2) * z.real)
    with pytest.raises(SettingsError, match="half the sample rate"):
        synth.to_layout(z, "offset", FS, offset_hz=5000.0)


def test_unknown_layout():
    with pytest.raises(SettingsError, match="toward-away"):
        synth.to_layout(np.zeros(4, complex), "stereo", FS)


# -------------------------------------------------------------------------------- files
@pytest.mark.parametrize("subtype,bits", [("PCM_16", 16), ("PCM_24", 24)])
def test_write_scenario_round_trip(tmp_path, subtype, bits):
    path = tmp_path / "rec.wav"
    truth = synth.write_scenario("femoral_competent", path, layout="qi", sample_rate_hz=FS,
                                 duration_s=1.0, seed=9, subtype=subtype)
    data, fs = sf.read(path, dtype="float64")
    assert fs == FS and data.shape == (FS, 2)
    syn = synth.synthesize("femoral_competent", sample_rate_hz=FS, duration_s=1.0, seed=9)
    expected = synth.to_layout(syn.baseband, "qi", FS) * truth["full_scale_per_unit"]
    lsb = 2.0 ** (1 - bits)
    assert np.abs(data - expected).max() <= 0.5 * lsb * 1.001  # rounding: half a step
    assert np.abs(data).max() < 1.0  # headroom, no clipping
    with open(tmp_path / "rec.truth.json") as fh:
        assert json.load(fh) == json.loads(json.dumps(truth))
    assert truth["layout"] == "qi" and truth["subtype"] == subtype


def test_write_scenario_rejects_bad_outputs(tmp_path):
    with pytest.raises(SettingsError, match=r"\.wav or \.flac"):
        synth.write_scenario("no_flow", tmp_path / "x.mp3", sample_rate_hz=FS, duration_s=0.5)
    with pytest.raises(SettingsError, match="offset"):
        synth.write_scenario("jugular_valsalva", tmp_path / "x.wav", layout="offset",
                             sample_rate_hz=FS, duration_s=0.5, offset_hz=300.0)


def test_simulate_help_names_the_truth_file_it_writes(tmp_path, capsys):
    """``-o sim.wav`` writes ``sim.truth.json`` (the extension replaced), as the help now
    says; before, it said ``OUT.truth.json`` (``sim.wav.truth.json``)."""
    from dopplerflow.cli import main

    assert main(["simulate", "--help"]) == 0
    assert "(-o sim.wav writes sim.truth.json)" in " ".join(capsys.readouterr().out.split())
    out = tmp_path / "sim.wav"
    assert main(["simulate", "no_flow", "-o", str(out), "--duration", "0.5",
                 "--sample-rate", "8000"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim.truth.json", "sim.wav"]
