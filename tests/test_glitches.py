"""The glitch stage: samples that cannot be signal are blanked, bridged and reported, and
the analysis around them is as it would be without them; any scale gives the same result."""

import numpy as np
import pytest
import soundfile as sf

import dopplerflow as df
from dopplerflow.cli import main
from dopplerflow.core.glitches import CEILING, GLITCH_S, PIECE, Glitches
from dopplerflow.errors import InputError

SAMPLE = "samples/jugular_valsalva_iq.flac"
KW = dict(vessel="ijv", antegrade="away")


@pytest.fixture(scope="module")
def jugular():
    x, fs = sf.read(SAMPLE, dtype="float32")
    return x, fs, df.analyze(x, sample_rate_hz=fs, **KW)


def _released(stage, x, block):
    """Everything ``stage`` releases for ``x`` pushed in blocks of ``block`` samples."""
    out = []
    for i in range(0, len(x), block):
        out += stage(x[i:i + block])
    out += stage(np.zeros((0, x.shape[1]), np.float32), final=True)
    samples = np.concatenate([v for k, v in out if k == "samples"] or [np.zeros((0, 2))])
    return samples, sum(v for k, v in out if k == "blank"), stage.artefacts


def _glitchy(rng, fs=8000):
    """Noise at -40 dBFS with a 10-sample burst at 1e10, a NaN run, and a 120 dB step up
    to a noise-like signal that lasts (as flow starting after digital near-silence
    would): only the first two are glitches, although the loud signal crosses zero."""
    x = (0.01 * rng.standard_normal((3 * fs, 2))).astype(np.float32)
    x[8000:8010] = 1e10
    x[12000:12003, 1] = np.nan
    x[16000:] *= 1e6  # +120 dB, for the rest of the recording
    return x


@pytest.mark.parametrize("block", [1, 7, 97, 4096, 65536])
def test_blanks_only_the_glitches_whatever_the_blocks(block, rng):
    x = _glitchy(rng)
    samples, blanked, artefacts = _released(Glitches(2, 8000), x, block)
    assert artefacts == [[8000, 8010, "burst"], [12000, 12003, "non-finite"]]
    assert blanked == 13 and len(samples) + blanked == len(x)
    keep = np.ones(len(x), bool)
    keep[8000:8010] = keep[12000:12003] = False
    np.testing.assert_array_equal(samples, x[keep])  # gain 1: the samples as they were


@pytest.mark.parametrize("extra, blanked", [(0, True), (1, False)])
def test_a_burst_is_blanked_up_to_the_limit(rng, extra, blanked):
    """A burst of 10^6 times the level spanning GLITCH_S is blanked; one sample more and
    it is kept (signal)."""
    x = (0.01 * rng.standard_normal((8000, 2))).astype(np.float32)
    n = int(round(GLITCH_S * 8000)) + extra
    x[4000:4000 + n] = 1e4
    samples, n_blank, artefacts = _released(Glitches(2, 8000), x, 512)
    assert (artefacts == [[4000, 4000 + n, "burst"]]) == blanked
    assert n_blank == (n if blanked else 0) and len(samples) + n_blank == len(x)


def _random_bytes(rng, n, channels=2):
    """``n`` frames of random bytes read as float32: what a damaged float file holds (their
    exponents are spread over the whole range: most values far beyond any audio, some NaN
    or infinite, some beyond the ceiling)."""
    return rng.integers(0, 2 ** 32, size=(n, channels), dtype=np.uint32).view(np.float32)


@pytest.mark.parametrize("block", [1, 7, 97, 4096, 65536])
def test_a_damaged_stretch_is_blanked_whole_whatever_the_blocks(block, rng):
    """0.1 s of random bytes in noise at -40 dBFS.  Only its NaN and infinite values were
    blanked, the rest, up to 10^38, analysed: its powers overflowed, the layout check read
    NaN, and the rest of the recording was lost.  A loud run that holds a value no analysis
    can take is damage: blanked whole, one artefact, whatever the blocks."""
    x = (0.01 * rng.standard_normal((3 * 8000, 2))).astype(np.float32)
    x[8000:8800] = _random_bytes(rng, 800)
    samples, blanked, artefacts = _released(Glitches(2, 8000), x, block)
    assert artefacts == [[8000, 8800, "damaged"]]
    keep = np.ones(len(x), bool)
    keep[8000:8800] = False
    assert blanked == 800
    np.testing.assert_array_equal(samples, x[keep])


def test_a_run_beyond_the_ceiling_is_blanked_however_long(rng):
    """Half a second of finite values at 10^30 (2^99) of full scale: a frame's power of them
    is beyond float32.  Sustained, the run is no burst; it was analysed, and its infinite
    powers lost the rest of the recording.  Values at the ceiling or beyond are taken out
    as non-finite ones are; a run of them is blanked whole, and reported as loud."""
    x = (0.01 * rng.standard_normal((3 * 8000, 2))).astype(np.float32)
    x[8000:12000] = 1e30 * np.sign(rng.standard_normal((4000, 2)))
    x[12000:12001] = CEILING  # the ceiling itself is out
    x[20000:20001] = 1e4  # a burst under the ceiling, blanked as before
    samples, blanked, artefacts = _released(Glitches(2, 8000), x, 1000)
    assert artefacts == [[8000, 12001, "burst"], [20000, 20001, "burst"]]
    assert blanked == 4002 and len(samples) == len(x) - 4002


def test_a_damaged_float_file_keeps_its_layout_and_its_refluxes(tmp_path):
    """The simulator's great saphenous recording (two refluxes) as a float WAV, with 0.2 s of
    random bytes at 5 s.  Before: --layout auto chose toward-away ("nan dB apart"), numpy's
    RuntimeWarnings reached the terminal, and the refluxes read were at 0.05-1.36 s and
    1.39-2.27 s; read as I/Q the second reflux was lost.  Now the damage is one glitch of
    200 ms, the layout I/Q, and both refluxes are read as in the undamaged file. Its values
    beyond full scale are the damage's, which the glitch warning names: no warning counts
    them as float audio a conversion to integers would clip (3224 samples, it said)."""
    import warnings

    from dopplerflow.sim.synth import synthesize, to_layout

    fs = 16000
    syn = synthesize("gsv_squeeze_reflux", sample_rate_hz=fs, seed=0)
    x = np.asarray(to_layout(syn.baseband, "iq", fs), np.float64)
    x = (x * (0.5 / np.abs(x).max())).astype(np.float32)
    clean = df.analyze(x, sample_rate_hz=fs, vessel="gsv", antegrade="toward", layout="iq")
    x[5 * fs:int(5.2 * fs)] = _random_bytes(np.random.default_rng(1), int(0.2 * fs))
    path = tmp_path / "damaged.wav"
    sf.write(path, x, fs, subtype="FLOAT")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = df.analyze(str(path), vessel="gsv", antegrade="toward", layout="auto")
    assert got.settings.layout == "iq"
    assert got.artefacts == [{"start_s": 5.0, "end_s": 5.2, "kind": "damaged"}]
    assert any(w.startswith("1 glitch(es), 200.0 ms of samples damaged") for w in got.warnings)
    assert not any("beyond full scale" in w for w in got.warnings)
    hop = clean.summary.hop_s
    assert len(got.reflux_events) == len(clean.reflux_events) == 2
    for ev, ref in zip(got.reflux_events, clean.reflux_events, strict=True):
        assert abs(ev.start_s - ref.start_s) <= hop and abs(ev.end_s - ref.end_s) <= hop


@pytest.mark.parametrize("block", [1, 64, 4096])
def test_the_first_piece_is_judged_against_its_own_level(rng, block):
    """A burst in the stream's first piece, before any level: the piece is gathered and
    judged against its own median magnitude, whatever the blocks.  (It was let through,
    and a 1e30 there rang through the wall filter into every later frame.)"""
    x = (0.01 * rng.standard_normal((4 * PIECE, 2))).astype(np.float32)
    x[10:12] = 1e10
    x[40] = np.inf
    samples, blanked, artefacts = _released(Glitches(2, 8000), x, block)
    assert artefacts == [[10, 12, "burst"], [40, 41, "non-finite"]]
    assert blanked == 3 and len(samples) == len(x) - 3


def test_a_stream_shorter_than_a_piece_is_released_whole(rng):
    x = (0.01 * rng.standard_normal((PIECE // 2, 2))).astype(np.float32)
    stage = Glitches(2, 8000)
    assert stage(x[:50]) == [] and stage.held == 50
    samples, blanked, _ = _released(stage, x[50:], 1000)
    assert blanked == 0 and np.array_equal(samples, x)  # the 50 gathered come first


@pytest.mark.parametrize("value, at_s", [(1e10, 1.0), (1e30, 1.0), (np.nan, 1.0),
                                         (1e10, 5.0), (np.inf, 5.0)])
def test_a_glitch_leaves_the_reflux_as_it_was(jugular, value, at_s):
    """Ten samples (1.25 ms) of a huge or non-finite value, before the reflux or inside
    it: the reflux stays YES with its timing (within a hop) and peak, and an event that
    spans the glitch is marked affected_by_gap."""
    x, fs, clean = jugular
    y = x.copy()
    i = int(at_s * fs)
    y[i:i + 10] = value
    got = df.analyze(y, sample_rate_hz=fs, **KW)
    assert got.reflux is True and len(got.reflux_events) == 1
    ev, ref = got.reflux_events[0], clean.reflux_events[0]
    hop = clean.summary.hop_s
    assert abs(ev.start_s - ref.start_s) <= hop and abs(ev.end_s - ref.end_s) <= hop
    assert ev.peak_velocity_cm_s == pytest.approx(ref.peak_velocity_cm_s, abs=0.5)
    assert ev.affected_by_gap == (ref.start_s < at_s < ref.end_s)
    (art,) = got.artefacts
    assert art["start_s"] == round(at_s, 4) and art["end_s"] == round(at_s + 10 / fs, 4)
    assert any(w.startswith("1 glitch(es), 1.2 ms of samples") for w in got.warnings)


@pytest.mark.parametrize("scale", [1e30, 1e-30, 3.7e12, 1e11, 1e3, 2.0 ** -60])
def test_any_scale_gives_the_same_result(jugular, scale):
    x, fs, clean = jugular
    got = df.analyze(x * np.float32(scale), sample_rate_hz=fs, **KW)
    assert got.reflux == clean.reflux and got.flow_detected == clean.flow_detected
    hop = clean.summary.hop_s
    for ev, ref in zip(got.reflux_events, clean.reflux_events, strict=True):
        assert abs(ev.start_s - ref.start_s) <= hop and abs(ev.end_s - ref.end_s) <= hop
    bin_cm_s = clean.summary.velocity_resolution_cm_s
    assert abs(got.summary.peak_antegrade_velocity_cm_s
               - clean.summary.peak_antegrade_velocity_cm_s) <= bin_cm_s
    # the noise floor is still stated in dB of full scale: the scale's own dB apart
    assert got.summary.noise_floor_dbfs == pytest.approx(
        clean.summary.noise_floor_dbfs + 20 * np.log10(scale), abs=0.2)
    assert not any("mean level" in w or "clipping" in w for w in got.warnings)


def test_usual_recordings_keep_a_gain_of_one(jugular):
    x, fs, _ = jugular
    proc = df.Processor(df.Settings(**KW), fs, 2)
    proc.push(x[:1000])
    assert proc.glitches.gain == 1.0


@pytest.mark.parametrize("first", [1e-13, 1e-20, 1.4e-45])
def test_a_tiny_first_value_keeps_a_gain_of_one(jugular, first):
    """A float recording whose first value is tiny (a fade-in from digital zero; the last
    is a float32 subnormal) and the rest as usual: the gain is 1 and the result the same.
    The first value alone set a gain of 2^39 to 2^144, and the analysis overflowed:
    1.4e-45's gain was infinite (every sample NaN, "near digital silence")."""
    x, fs, clean = jugular
    y = x.copy()
    y[:10] = 0.0
    y[10, 0] = first
    proc = df.Processor(df.Settings(**KW), fs, 2)
    proc.push(y)
    got = proc.finish()
    assert proc.glitches.gain == 1.0
    assert got.reflux == clean.reflux and got.warnings == clean.warnings
    for ev, ref in zip(got.reflux_events, clean.reflux_events, strict=True):
        # (a value of 1e-13 moves the sums it enters by their rounding alone)
        assert (ev.start_s, ev.end_s) == pytest.approx((ref.start_s, ref.end_s), abs=1e-9)


def test_a_burst_in_the_first_block_does_not_set_the_gain(jugular):
    """A burst of 1e30 in the first block pushed is a glitch, not the recording's scale."""
    x, fs, _ = jugular
    y = x.copy()
    y[fs // 2:fs // 2 + 5] = 1e30
    proc = df.Processor(df.Settings(**KW), fs, 2)
    proc.push(y[:fs])
    assert proc.glitches.gain == 1.0
    assert proc.glitches.artefacts == [[fs // 2, fs // 2 + 5, "burst"]]


def test_a_nan_file_is_analysed_with_a_warning(tmp_path, capsys, jugular):
    x, fs, _ = jugular
    y = x.copy()
    y[12000, 1] = np.nan
    p = tmp_path / "nan.wav"
    sf.write(p, y, fs, subtype="FLOAT")
    assert main(["analyze", str(p), "--vessel", "ijv", "--antegrade", "away"]) == 0
    out = capsys.readouterr().out
    assert "reflux      YES: 1 event(s)" in out
    assert "1 glitch(es), 0.1 ms of samples not finite (NaN or infinite) (first at 1.500 s)" in out


@pytest.mark.parametrize("how", ["short", "all dropped"])
def test_nothing_analysed_is_not_assessable(jugular, how):
    x, fs, _ = jugular
    if how == "short":
        got = df.analyze(x[:240], sample_rate_hz=fs, **KW)  # 30 ms: inside the settling
    else:
        proc = df.Processor(df.Settings(**KW), fs, 2)
        proc.push(x[:80])
        for _ in range(100):
            proc.mark_gap(800)
        got = proc.finish()
    assert got.flow_detected is None and got.reflux is None
    assert got.reflux_not_assessable == "nothing was analysed"
    assert any(w.startswith("nothing was analysed") for w in got.warnings)
    assert not any("no flow detected" in w for w in got.warnings)


@pytest.mark.parametrize("n, message", [
    (float("nan"), r"a gap of nan samples: give a whole number of samples, 0 or more"),
    (-1, r"a gap of -1 samples"),
    (2.5, r"a gap of 2\.5 samples"),
    ("ten", r"a gap of 'ten' samples: give a whole number of samples"),
    (1e12, r"a gap of 125000000 s is longer than 3600 s; finish this stream"),
])
def test_mark_gap_checks_its_argument(n, message):
    proc = df.Processor(df.Settings(), 8000, 2)
    with pytest.raises(InputError, match=message):
        proc.mark_gap(n)


def test_nothing_is_pushed_after_finish():
    proc = df.Processor(df.Settings(), 8000, 2)
    proc.push(np.zeros((800, 2), np.float32))
    proc.finish()
    with pytest.raises(RuntimeError, match="after finish"):
        proc.push(np.zeros((8, 2), np.float32))
    with pytest.raises(RuntimeError, match="after finish"):
        proc.mark_gap(8)


@pytest.mark.parametrize("every", [None, 50])
def test_infinite_samples_in_a_float_file_give_no_numpy_warning(tmp_path, jugular, every):
    """The glitches are reported in the result's warnings; nothing else is printed: no
    RuntimeWarning from a spectrum of the raw samples (a few, or one sample in 50)."""
    import warnings

    x, fs, _ = jugular
    x = x.copy()
    if every is None:
        x[1000:1010, 0] = np.inf
    else:
        x[::every, 0] = np.inf
    path = tmp_path / "inf.wav"
    sf.write(path, x, fs, subtype="FLOAT")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = df.analyze(str(path), **KW)
    assert any("not finite (NaN or infinite)" in w for w in got.warnings)
