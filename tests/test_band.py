"""The recording's signal band: a recorder's low-pass, resampling from a lower rate, and
the band rule on quiet floors of known shape."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

import dopplerflow as df
from dopplerflow.core import band, spectrum
from dopplerflow.core.layouts import channel_map

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
STEP = spectrum.QUANT_STEP


def _events(a):
    return [(e.start_s, e.end_s, e.peak_velocity_cm_s) for e in a.reflux_events]


def test_a_pocket_dopplers_low_pass_is_the_band():
    """The jugular Valsalva through an 8th-order 5 kHz low-pass (a pocket Doppler's audio
    stage) and sound-card noise at -90 dBFS, at 48 kHz: above 5 kHz the recording is near
    digital silence.  One floor from the quietest bins read flow in every frame there
    (peak antegrade 158 cm/s, a second vessel); the band ends at the low-pass, and the
    analysis is the clean one's."""
    from dopplerflow.sim.evaluate import quantise
    from dopplerflow.sim.signals import to_layout
    from dopplerflow.sim.synth import synthesize

    fs = 48000
    syn = synthesize("jugular_valsalva", sample_rate_hz=fs, snr_db=20, seed=0)
    clean = quantise(to_layout(syn.baseband, "iq", fs))
    x = signal.sosfilt(signal.butter(8, 5000.0, fs=fs, output="sos"), clean, axis=0)
    x = x + np.random.default_rng(0).standard_normal(x.shape) * 10 ** (-90 / 20)
    x = (np.round(x / STEP) * STEP).astype(np.float32)
    kw = {"sample_rate_hz": fs, "vessel": "ijv", "antegrade": syn.truth["antegrade"]}
    ref, a = df.analyze(clean, **kw), df.analyze(x, **kw)
    lo, hi = a.signal_band_hz
    # the band ends between the low-pass's corner and where it is FAR_DB down (bins that
    # far below the band's noise are out of it, at any level)
    assert 5000 <= hi <= 5000 * (10 ** (band.FAR_DB / 10) - 1) ** (1 / 16)
    assert lo == pytest.approx(ref.signal_band_hz[0])
    assert any(w.startswith("the recording's signal band ends at") for w in a.warnings)
    assert "second_vessel" not in a.to_dict()
    # the same flow, reflux and peak as the clean recording: to a bin and two hops
    bin_cm_s = ref.summary.velocity_resolution_cm_s
    assert a.summary.flow_fraction == pytest.approx(ref.summary.flow_fraction, abs=0.01)
    assert a.summary.peak_antegrade_velocity_cm_s == pytest.approx(
        ref.summary.peak_antegrade_velocity_cm_s, abs=bin_cm_s)
    for got, want in zip(_events(a), _events(ref), strict=True):
        assert got[:2] == pytest.approx(want[:2], abs=2 * a.summary.hop_s)
        assert got[2] == pytest.approx(want[2], abs=bin_cm_s)
    # the maximum envelope never runs above the band's top
    scale = a.velocity_per_hz_cm_s
    top = np.nanmax(np.concatenate((a.trace.antegrade_max_cm_s, a.trace.retrograde_max_cm_s)))
    assert top / scale <= hi


def test_an_8_khz_recording_resampled_to_44_1_khz_keeps_its_analysis():
    """The 8 kHz jugular sample, resampled to 44.1 kHz: nothing above 4 kHz but the
    resampler's residue.  It read 387 cm/s and a 2.85 s reflux for a 2.00 s one; its band
    ends at 4 kHz and the analysis is that of the 8 kHz file."""
    x8, fs8 = sf.read(SAMPLES / "jugular_valsalva_iq.flac", dtype="float32")
    x44 = signal.resample_poly(x8, 441, 80, axis=0).astype(np.float32)
    kw = {"vessel": "ijv", "antegrade": "away"}
    ref = df.analyze(x8, sample_rate_hz=fs8, **kw)
    a = df.analyze(x44, sample_rate_hz=44100, **kw)
    # the band ends at the old Nyquist frequency, to the resampler's transition (resample_
    # poly's Kaiser filter falls 20 dB within some 4 %) and the window's main lobe (2 bins)
    assert 4000 <= a.signal_band_hz[1] <= 4000 * 1.04 + 2 * a.summary.bin_hz
    bin_cm_s = ref.summary.velocity_resolution_cm_s
    assert a.summary.peak_antegrade_velocity_cm_s == pytest.approx(
        ref.summary.peak_antegrade_velocity_cm_s, abs=bin_cm_s)
    (got,), (want,) = _events(a), _events(ref)
    assert got[:2] == pytest.approx(want[:2], abs=2 * a.summary.hop_s)
    # images of the wall echo the resampler leaves above the band are not reported
    assert a.to_dict()["tonal_lines_hz"] == []


def test_white_noise_fills_the_band():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16000 * 3, 2)).astype(np.float32) * 0.01
    a = df.analyze(x, sample_rate_hz=16000)
    cfg = spectrum.spectral_config(16000, channel_map("iq", 2), window_s=0.01, hop_s=0.005,
                                   wall_hz=80.0)
    top = max(cfg.dir_f0[d] + (cfg.dir_count[d] - 0.5) * cfg.bin_hz for d in range(2))
    assert a.signal_band_hz == [round(cfg.floor_hz, 1), round(top, 1)]
    assert not any("signal band" in w for w in a.warnings)


@pytest.mark.parametrize("lead_s", [1, 3, 6])
def test_flow_after_a_silent_start_is_read_from_its_first_second(lead_s):
    """A recording that starts in digital silence (the input muted, the probe not yet
    switched on) has no band to find until the signal comes: the band is the whole
    spectrum meanwhile, and the flow, the reflux and the heart rate after it are those of
    the signal alone."""
    x, fs = sf.read(SAMPLES / "jugular_valsalva_iq.flac")
    ref = df.analyze(x, sample_rate_hz=fs, vessel="ijv")
    a = df.analyze(np.concatenate([np.zeros((lead_s * fs, 2)), x]), sample_rate_hz=fs,
                   vessel="ijv")
    t, flow = np.asarray(a.trace.time_s), np.asarray(a.trace.flow) != 0
    first = (t >= lead_s) & (t < lead_s + 1)
    assert flow[first].mean() >= 0.9 and not flow[t < lead_s].any()
    [ev], [want] = a.reflux_events, ref.reflux_events
    hop = a.summary.hop_s
    assert ev.start_s - lead_s == pytest.approx(want.start_s, abs=hop)
    assert ev.end_s - lead_s == pytest.approx(want.end_s, abs=hop)
    # the same beats, the first one or two of them not yet clean while the drive settles:
    # the median rate moves well within their spread (an interquartile range of 8 % here)
    assert a.heart_rate_bpm == pytest.approx(ref.heart_rate_bpm, rel=0.03)


# ----------------------------------------------------------------- the band rule itself
def _rule(profile_db, quant_db=-100.0, line=None):
    """Run the band kernel on one direction's quiet floor given in dB."""
    n = len(profile_db)
    prof = (10 ** (np.asarray(profile_db) / 10)).astype(np.float32)
    ref = float(np.median(prof[prof > 10 ** ((quant_db + band.SILENT_DB) / 10)]))
    b = band.SignalBand(spectrum.spectral_config(8000, channel_map("mono", 1), window_s=0.01,
                                                 hop_s=0.005, wall_hz=80.0))
    code = np.zeros(n, np.int8)
    tops = np.full(2, -1, np.int64)
    band._band_update(prof, 1.0, np.zeros(n, np.int8) if line is None else line, 0, 1, n, ref,
                      10 ** (quant_db / 10), b.ratios, np.zeros(n, np.float32),
                      np.zeros(n, np.int32), code, tops, np.zeros(4, np.int64), 0)
    return int(tops[0]), code


def test_a_silent_stretch_above_the_band_is_cut():
    """The band ends at the cut, to the two bins over which the window spreads it (the
    rule reads each bin with its neighbours: one line or speckle low does not cut)."""
    prof = np.r_[np.full(60, -40.0), np.full(40, -95.0)]
    top, code = _rule(prof)
    assert 57 <= top <= 59 and code[:57].max() == 0 and code[60:].min() == 1


def test_a_codec_cut_off_with_artefacts_above_it_is_cut():
    """A drop of 18 dB within a bin onto a floor 25 dB under the band's noise, with
    artefacts standing on a third of the bins above it."""
    prof = np.r_[np.full(60, -40.0), np.full(40, -65.0)]
    prof[70:100:3] = -45.0
    line = np.zeros(100, np.int8)
    for k in range(70, 100, 3):  # the artefacts are peaks: marked as lines are
        line[k - 1:k + 2] = 2
    top, _ = _rule(prof, line=line)
    assert 57 <= top <= 59
    assert _rule(prof)[0] == 99  # without the artefacts marked, -65 dB is no limit


@pytest.mark.parametrize("kind", ["notch", "slope"])
def test_a_notch_or_a_slope_is_no_band_limit(kind):
    """A notch of silence inside the band, or coloured noise falling 50 dB over the band
    (a smooth slope never drops 12 dB within two bins, and its end stays within FAR_DB
    of the median): the band is whole."""
    if kind == "notch":
        prof = np.full(100, -40.0)
        prof[30:34] = -95.0
    else:
        prof = np.linspace(-10.0, -60.0, 100)
    top, code = _rule(prof)
    assert top == 99
    if kind == "notch":  # the notch's bins (read with their neighbours) are out
        assert code[30:34].min() == 1 and code[:28].max() == 0 and code[36:].max() == 0


def test_the_band_rule_reads_a_direction_outward_whatever_its_step():
    """A direction whose bins descend (step -1, the negative frequencies) gets the band of
    the same quiet floor laid out ascending (step 1), bin for bin."""
    rng = np.random.default_rng(4)
    n = 120
    prof = (10 ** (np.r_[np.full(70, -40.0), np.full(50, -95.0)] / 10)
            * rng.exponential(1.0, n)).astype(np.float32)
    line = np.zeros(n, np.int8)
    line[[20, 21, 45]] = 1
    b = band.SignalBand(spectrum.spectral_config(8000, channel_map("mono", 1), window_s=0.01,
                                                 hop_s=0.005, wall_hz=80.0))
    ref = float(np.median(prof))
    got = []
    for p, ln, st, sp in ((prof, line, 0, 1), (prof[::-1].copy(), line[::-1].copy(), n - 1, -1)):
        code = np.zeros(n, np.int8)
        tops = np.full(2, -1, np.int64)
        band._band_update(p, 1.0, ln, st, sp, n, ref, 1e-12, b.ratios,
                          np.zeros(n, np.float32), np.zeros(n, np.int32), code, tops,
                          np.zeros(4, np.int64), 0)
        got.append((int(tops[0]), code if sp > 0 else code[::-1]))
    assert 60 <= got[0][0] < 75
    assert got[0][0] == got[1][0]
    np.testing.assert_array_equal(got[0][1], got[1][1])


# ------------------------------------------------------------------- a lossy codec's coding
def _coded(path, fmt, subtype):
    """The recording at ``path`` through a lossy codec and back, as a file of that format."""
    x, fs = sf.read(path, dtype="float32")
    out = path.with_suffix(".mp3" if fmt == "MP3" else ".ogg")
    sf.write(out, x, fs, format=fmt, subtype=subtype)
    return out


@pytest.mark.parametrize("fmt,subtype", [("MP3", "MPEG_LAYER_III"), ("OGG", "VORBIS")])
def test_a_lossy_codecs_clumps_read_as_no_flow(tmp_path, fmt, subtype):
    """The competent femoral vein (a 0.45 s valve-closure reversal, no reflux) with wall
    echoes 20 dB over the blood, as a device's audio output carries them, at 48 kHz, coded
    as MP3 and as Vorbis.  The codec codes each channel's noise in clumps of bins and
    frames, alike at +f and -f; over some 12 kHz the clumps passed the detection, which is
    set for Gaussian noise, both ways: the MP3 read a 4.4 s reflux (the flow taken for the
    wrong way) and both read 328-386 cm/s peaks.  The band now ends below the clumps, and
    the coded recordings read as the 16-bit one: no reflux, its direction, its peaks."""
    from dopplerflow.sim.degrade import Degradations
    from dopplerflow.sim.synth import write_scenario

    wav = tmp_path / "femoral.wav"
    write_scenario("femoral_competent", wav, degradations=Degradations(clutter_db=20.0))
    kw = {"vessel": "femoral"}
    ref = df.analyze(wav, **kw)
    a = df.analyze(_coded(wav, fmt, subtype), **kw)
    assert ref.reflux is False and a.reflux is False
    assert a.antegrade == ref.antegrade
    # the peaks to two bins (the codec's own noise moves an edge by a bin or so)
    two_bins = 2 * ref.summary.velocity_resolution_cm_s
    for k in ("peak_antegrade_velocity_cm_s", "peak_retrograde_velocity_cm_s"):
        assert getattr(a.summary, k) == pytest.approx(getattr(ref.summary, k), abs=two_bins)
    assert a.summary.flow_fraction == pytest.approx(ref.summary.flow_fraction, abs=0.02)
    lo, hi = a.signal_band_hz
    assert hi < band.LIMITED_FRACTION * ref.signal_band_hz[1]
    assert any(w.startswith("the recording's signal band ends at") for w in a.warnings)


def _clumped_noise(fs, seconds, rng, clump_hz=None, gain_steps=False):
    """Complex noise ``I + jQ``: white, or each channel's noise above ``clump_hz`` switched
    on and off in clumps (blocks of 1152 samples, bands of 1 kHz), as a lossy codec codes
    it; with ``gain_steps``, the whole noise 10 dB louder every other half second."""
    n = int(fs * seconds)
    chans = []
    for _ in range(2):
        x = rng.standard_normal(n)
        if clump_hz is not None:
            f, _, z = signal.stft(x, fs, window="boxcar", nperseg=1152, noverlap=0)
            keep = rng.random((int(fs / 2 / 1000) + 1, z.shape[1])) < 0.3
            gain = np.where(keep[(f // 1000).astype(int)], 1.0 / np.sqrt(0.3), 0.0)
            z = np.where(f[:, None] >= clump_hz, z * gain, z)
            x = signal.istft(z, fs, window="boxcar", nperseg=1152, noverlap=0)[1][:n]
        chans.append(x)
    z = (chans[0] + 1j * chans[1]) * 0.01
    if gain_steps:
        z *= np.where((np.arange(n) // (fs // 2)) % 2 == 1, 10 ** 0.5, 1.0)
    return z


def test_noise_clumped_alike_at_plus_and_minus_f_ends_the_band():
    """Each channel's noise above 10 kHz switched on and off in clumps: the bins there rise
    and fall with their mirrors, and the band ends near 10 kHz; in white noise, and in
    white noise whose gain steps by 10 dB every half second (a contact lost and found:
    every bin moves alike, the band's lower half too), the band stays whole."""
    fs = 48000
    rng = np.random.default_rng(5)
    clumped = df.analyze(_clumped_noise(fs, 6, rng, clump_hz=10000), sample_rate_hz=fs)
    assert 9000 <= clumped.signal_band_hz[1] <= 11000
    for kw in ({}, {"gain_steps": True}):
        whole = df.analyze(_clumped_noise(fs, 6, rng, **kw), sample_rate_hz=fs)
        assert whole.signal_band_hz[1] > 0.95 * fs / 2, kw
        assert not any("signal band" in w for w in whole.warnings)


@pytest.mark.parametrize("fs, carrier_hz", [(11025, 8e6), (8000, 7e6)])
def test_an_i_q_imbalance_does_not_end_the_band_under_the_flow(fs, carrier_hz):
    """The carotid where its systole fills most of the band, its Q channel 1.5 times the I
    and 15 degrees off (an image some 12 dB under the flow, rising and falling with it):
    the image follows the flow but its variance is far smaller, so the bins under the flow
    are no codec's clumps; the band stays whole and the PSV and RI are those without the
    imbalance.  (With the plain correlation the band ended at 1.8 kHz, PSV 37.6 cm/s for
    68.5.)"""
    from dopplerflow.sim.evaluate import quantise
    from dopplerflow.sim.signals import to_layout
    from dopplerflow.sim.synth import synthesize

    syn = synthesize("carotid", sample_rate_hz=fs, carrier_hz=carrier_hz, seed=0)
    kw = {"sample_rate_hz": fs, "carrier_hz": carrier_hz, "vessel": "artery",
          "antegrade": "toward"}
    ref = df.analyze(quantise(to_layout(syn.baseband, "iq", fs)), **kw)
    x = to_layout(syn.baseband, "iq", fs)
    g, ph = 1.5, np.radians(15.0)
    x = np.stack([x[:, 0], g * (x[:, 1] * np.cos(ph) + x[:, 0] * np.sin(ph))], axis=1)
    a = df.analyze(quantise(x / max(1.0, np.abs(x).max() / 0.99)), **kw)
    assert a.signal_band_hz == ref.signal_band_hz
    assert not any("signal band" in w for w in a.warnings)
    two_bins = 2 * ref.summary.velocity_resolution_cm_s
    got, want = a.to_dict()["beats"], ref.to_dict()["beats"]
    assert got["psv_cm_s"] == pytest.approx(want["psv_cm_s"], abs=two_bins)
    assert got["ri"] == pytest.approx(want["ri"], abs=0.03)


@pytest.mark.parametrize("clutter_db, verdict", [(20.0, False), (None, None)])
def test_a_lossy_copy_of_raw_probe_audio_has_no_reflux_verdict(tmp_path, clutter_db,
                                                                verdict):
    """The competent femoral vein as Vorbis: with a device's echoes (20 dB over the blood)
    the verdict is the WAV's; with raw probe audio's (the simulator's own, 45-50 dB over
    the blood, some 47 dB over the noise floor) the codec's noise around the echoes lies
    over the slow flow, so neither reflux nor the absence of flow is read from it."""
    from dopplerflow.core.assemble import CODED_ECHO_DB
    from dopplerflow.sim.degrade import Degradations
    from dopplerflow.sim.synth import write_scenario

    wav = tmp_path / "femoral.wav"
    deg = None if clutter_db is None else Degradations(clutter_db=clutter_db)
    write_scenario("femoral_competent", wav, degradations=deg)
    ref = df.analyze(wav, vessel="femoral")
    a = df.analyze(_coded(wav, "OGG", "VORBIS"), vessel="femoral")
    assert ref.reflux is False and a.reflux is verdict
    said = [w for w in a.warnings if w.startswith("a lossy-coded file (Vorbis) whose "
                                                  "stationary echoes stand")]
    assert a.flow_detected is (None if verdict is None else True)
    if verdict is None:
        over = float(said[0].split(" stand ")[1].split(" dB")[0])
        assert over >= CODED_ECHO_DB and a.to_dict()["reflux_not_assessable"].startswith(
            "a lossy codec (Vorbis) codes the noise around stationary echoes")
    else:
        assert said == []
    # the WAV itself is read whatever its echoes: the codec makes the difference
    assert not any("lossy" in w for w in ref.warnings)


@pytest.mark.parametrize("fmt, subtype, fs, level", [("MP3", "MPEG_LAYER_III", 22050, 0.3),
                                                     ("OGG", "VORBIS", 44100, 0.7)])
def test_a_lossy_copy_of_raw_probe_audio_without_flow_reads_no_flow_verdict(tmp_path, fmt,
                                                                           subtype, fs, level):
    """The simulator's no_flow with its own echoes (raw probe audio), coded: the codec's
    noise around the echoes read as flow ("flow detected", retrograde peaks of 7 and 14
    cm/s) where there is none. Neither flow nor its absence is read from such a file: a
    false "flow detected" would hide a vein whose flow is not Doppler-detectable."""
    from dopplerflow.sim.synth import write_scenario

    wav = tmp_path / "no_flow.wav"
    write_scenario("no_flow", wav, sample_rate_hz=fs)
    x, _ = sf.read(wav, dtype="float32")
    coded = tmp_path / f"no_flow.{'mp3' if fmt == 'MP3' else 'ogg'}"
    sf.write(coded, x, fs, format=fmt, subtype=subtype, compression_level=level)
    assert df.analyze(wav, vessel="gsv").flow_detected is False
    a = df.analyze(coded, vessel="gsv")
    assert a.flow_detected is None and a.reflux is None
    assert a.to_dict()["reflux_not_assessable"].startswith("a lossy codec (")


@pytest.mark.parametrize("layout", ["mono", "toward-away"])
def test_a_low_bitrate_codecs_noise_read_up_to_its_cut_off_has_no_verdict(tmp_path, layout):
    """no_flow at 44.1 kHz, mono and toward-away (no mirror to tell a codec's clumps),
    as MP3 at a low bitrate: the codec's noise at the top of its band passed the detection
    frame after frame, and read as flow at its cut-off (288 cm/s) in 99 and 92 % of the
    frames: "flow detected", where there is none. The maximum envelope standing at the
    band's top in 3 % or more of the rows of a coded file says so: flow, speeds, beats and
    reflux are not assessable. The same recording at a higher bitrate (its trace the
    WAV's) keeps its verdict: no flow."""
    from dopplerflow.core.assemble import CODED_TOP_SHARE
    from dopplerflow.sim.degrade import Degradations
    from dopplerflow.sim.synth import write_scenario

    wav = tmp_path / "no_flow.wav"
    write_scenario("no_flow", wav, layout=layout, sample_rate_hz=44100,
                   degradations=Degradations(clutter_db=10.0))
    x, fs = sf.read(wav, dtype="float32")
    got = {}
    for level in (0.3, 0.7):
        out = tmp_path / f"no_flow_{level}.mp3"
        sf.write(out, x, fs, format="MP3", subtype="MPEG_LAYER_III", compression_level=level)
        got[level] = df.analyze(out, layout=layout, vessel="gsv")
    assert df.analyze(wav, layout=layout, vessel="gsv").flow_detected is False
    assert got[0.3].flow_detected is False
    coarse = got[0.7]
    assert coarse.flow_detected is None and coarse.reflux is None and coarse.beats is None
    assert coarse.antegrade is None  # no direction chosen by the codec's noise
    assert coarse.summary.peak_antegrade_velocity_cm_s is None
    (said,) = [w for w in coarse.warnings if " stands at the band's top (the lossy codec's "
               "cut-off, " in w]
    assert float(said.split("% of the frames")[0].rsplit(" ", 1)[1]) >= 100 * CODED_TOP_SHARE
    assert coarse.to_dict()["reflux_not_assessable"] == ("the lossy codec's noise reads as "
                                                         "flow up to the band's top")
