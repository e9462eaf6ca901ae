"""Dropouts: runs of digital zeros on every channel inside a recording."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import dopplerflow as df
from dopplerflow.core.dropouts import DROPOUT_S, Dropouts

JUGULAR = Path(__file__).resolve().parent.parent / "samples" / "jugular_valsalva_iq.flac"
KW = dict(vessel="ijv", antegrade="away", layout="iq")


def _reference(x, min_run):
    """Every run of at least ``min_run`` frames zero on every channel after the first frame
    that is not, found frame by frame."""
    nz = np.any(x != 0, axis=1)
    if not nz.any():
        return []
    first = int(np.argmax(nz))
    edges = np.diff(np.concatenate(([0], (~nz[first:]).view(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [[first + a, first + b] for a, b in zip(starts, ends, strict=True)
            if b - a >= min_run]


def test_dropouts_are_the_runs_of_zeros_whatever_the_blocks():
    """Random signals of one and two channels with runs of zeros of 1-120 frames (a
    quarter of them starting with zeros): the dropouts found, in blocks of 0-400 frames,
    are those of a frame-by-frame search, and 300 dropouts in one block are all kept."""
    rng = np.random.default_rng(1)
    for _ in range(200):
        n, c = int(rng.integers(1, 3000)), int(rng.integers(1, 3))
        x = rng.standard_normal((n, c)).astype(np.float32)
        for _ in range(int(rng.integers(0, 30))):
            a = int(rng.integers(0, n))
            x[a:a + int(rng.integers(1, 120))] = 0
        if rng.random() < 0.25:
            x[:int(rng.integers(0, n))] = 0
        d = Dropouts(c, 8000)
        i = 0
        while i < n:
            k = int(rng.integers(0, 400))  # empty blocks too
            d.add(x[i:i + k])
            i += k
        assert d.zero_spans() == _reference(x, d.min_run)
    x = np.ones((100_000, 2), np.float32)
    for k in range(300):
        x[300 * k + 10:300 * k + 60] = 0
    d = Dropouts(2, 8000)
    d.add(x)
    assert d.zero_spans() == _reference(x, d.min_run) and len(d.zero_spans()) == 300


def _saturated_reference(x, min_run):
    """Every run of at least ``min_run`` frames with a channel at full scale."""
    m = np.abs(x)
    hit = np.any((m >= 0.999) & (m <= 1.0), axis=1)
    edges = np.diff(np.concatenate(([0], hit.view(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [[a, b] for a, b in zip(starts, ends, strict=True) if b - a >= min_run]


def test_saturated_stretches_are_the_runs_at_full_scale_whatever_the_blocks():
    """Runs of 1-120 frames with one channel at +-1 (from the very first frame on, a
    quarter of the time), values beyond full scale (float audio: not clipped) and clipped
    peaks of a sample or two: the saturated stretches found in blocks of 0-400 frames are
    those of a frame-by-frame search."""
    rng = np.random.default_rng(2)
    for _ in range(200):
        n, c = int(rng.integers(1, 3000)), int(rng.integers(1, 3))
        x = (0.5 * rng.standard_normal((n, c))).astype(np.float32)
        for _ in range(int(rng.integers(0, 30))):
            a = int(rng.integers(0, n))
            x[a:a + int(rng.integers(1, 120)), int(rng.integers(0, c))] = rng.choice([-1, 1])
        if rng.random() < 0.25:
            x[:int(rng.integers(0, n)), 0] = 1.0
        x[rng.random(n) < 0.05] *= 4.0  # beyond full scale
        d = Dropouts(c, 8000)
        i = 0
        while i < n:
            k = int(rng.integers(0, 400))
            d.add(x[i:i + k])
            i += k
        assert d.saturated_spans() == _saturated_reference(x, d.min_run)


def test_lost_samples_end_a_run_of_zeros():
    """A run of zeros ends where samples are lost (they are reported as lost, not as a
    dropout); the stream's indices count them."""
    fs, n = 8000, round(DROPOUT_S * 8000)
    d = Dropouts(2, fs)
    d.add(np.ones((10, 2), np.float32))
    d.add(np.zeros((n, 2), np.float32))
    d.skip(100)
    d.add(np.zeros((n - 1, 2), np.float32))
    d.add(np.ones((1, 2), np.float32))
    assert d.zero_spans() == [[10, 10 + n]]


def test_a_dropout_inside_a_reflux_leaves_it_not_assessable(tmp_path):
    """The bundled jugular's 2 s reflux (4.35-6.36 s) with 0.5 s of zeros in it (5.2-5.7 s:
    a recorder's lost samples) read as two retrograde episodes of 0.85 and 0.64 s, under
    the 0.88 s threshold, and "no reflux".  The zeros are a dropout: named in the JSON and
    a warning, the episodes marked affected_by_gap, and reflux is not assessable; replayed
    block by block, the same.  Zeros the recording starts with are no dropout.  The same
    0.5 s 26 dB too loud (a channel pinned to full scale by the echoes) read "no reflux"
    too, and is a saturated stretch; all of the recording so, it has neither flow nor reflux
    verdict."""
    from dopplerflow.live.replay import replay

    x, fs = sf.read(JUGULAR, dtype="float32")
    y = x.copy()
    y[int(5.2 * fs):int(5.7 * fs)] = 0
    path = tmp_path / "dropout.wav"
    sf.write(path, y, fs)
    a = df.analyze(path, **KW)
    assert a.reflux is None and not a.reflux_events
    assert a.to_dict()["reflux_not_assessable"] == (
        "retrograde flow running into a dropout at 5.20-5.70 s, 0.85 s of it recorded")
    assert [art for art in a.artefacts if art["kind"] == "dropout"] == [
        {"start_s": 5.2, "end_s": 5.7, "kind": "dropout"}]
    assert [ep.affected_by_gap for ep in a.episodes] == [True, True]
    said = [w for w in a.warnings if "dropout(s) of digital silence" in w]
    assert said == ["1 dropout(s) of digital silence (500 ms in all, first at 5.200 s): every "
                    "channel exactly zero after the recording had begun (samples lost by the "
                    "recorder or the sound card, or its output muted); the flow in them is not "
                    "known, and events near them are marked affected_by_gap"]
    r = replay(path, df.Settings(**KW), block_size=333)
    assert r.artefacts == a.artefacts and r.reflux is None
    lead = tmp_path / "lead.wav"
    sf.write(lead, np.concatenate((np.zeros((5 * fs, 2), np.float32), x)), fs)
    b = df.analyze(lead, **KW)
    assert b.reflux is True and not any(art["kind"] == "dropout"
                                        for art in b.artefacts or ())
    # the same stretch 26 dB too loud: the echoes pin a channel to full scale, and the
    # flow riding on them is cut off (it read "no reflux")
    loud = x.copy()
    loud[int(5.2 * fs):int(5.7 * fs)] = np.clip(20 * loud[int(5.2 * fs):int(5.7 * fs)], -1, 1)
    sf.write(tmp_path / "loud.wav", loud, fs)
    c = df.analyze(tmp_path / "loud.wav", **KW)
    assert c.reflux is None and c.to_dict()["reflux_not_assessable"].startswith(
        "retrograde flow running into a saturated stretch at 5.20-")
    assert [art for art in c.artefacts if art["kind"] == "saturated"][0]["start_s"] == 5.2
    assert any(" saturated stretch(es) (" in w and w.endswith(
        "lower the input gain, and events near them are marked affected_by_gap")
        for w in c.warnings)
    # all of it 26 dB too loud: a channel at full scale nearly all through, no flow is read
    sf.write(tmp_path / "all_loud.wav", np.clip(20 * x, -1, 1), fs)
    e = df.analyze(tmp_path / "all_loud.wav", **KW)
    assert e.reflux is None and e.flow_detected is None
    why = e.to_dict()["reflux_not_assessable"]
    assert why.startswith("the recording is saturated: a channel at full scale in ")
    assert int(why.split(" in ")[1].split("%")[0]) >= 90
    from dopplerflow.figures import plots

    ax = plots.velocity_trace(a).axes[0]
    bars = [p for p in ax.patches if p.get_gid() == "dropout-stretch"]
    assert len(bars) == 1 and bars[0].get_x() == pytest.approx(5.2)
    assert "dropout (samples lost)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_noise_of_one_step_has_no_dropout():
    """16-bit noise of one quantisation step rms on two channels (a probe barely touching,
    the gain low) is zero on both channels one sample in six: 10 s of it at 48 kHz holds no
    dropout, nor does a stereo file whose one channel is all zero; a run of zeros shorter
    than a dropout is none either."""
    fs = 48000
    rng = np.random.default_rng(3)
    x = (np.round(rng.standard_normal((10 * fs, 2))) / 32768).astype(np.float32)
    assert 0.1 < np.mean(np.all(x == 0, axis=1)) < 0.2
    d = Dropouts(2, fs)
    d.add(x)
    assert d.zero_spans() == []
    x[:, 1] = 0
    d = Dropouts(2, fs)
    d.add(x)
    assert d.zero_spans() == []
    y = np.ones((fs, 2), np.float32)
    y[1000:1000 + round(DROPOUT_S * fs) - 1] = 0
    d = Dropouts(2, fs)
    d.add(y)
    assert d.zero_spans() == []
