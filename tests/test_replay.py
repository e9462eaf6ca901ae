"""Replay harness: streaming a file block by block gives analyze's result exactly.

With faults injected (dropped blocks) the gaps are counted, reported and marked
on the events around them, and what came before a gap is left untouched.
"""

import json
import time

import numpy as np
import pytest

from dopplerflow import Settings, analyze
from dopplerflow.core.reflux import GAP_S
from dopplerflow.live.replay import replay
from dopplerflow.sim import synth

# perforator_reflux: outward (retrograde) flow of ~0.6 s after releases at 2.7 s and 6.7 s
SCENARIO = "perforator_reflux"
SETTINGS = Settings(vessel="perforator", antegrade="toward")


def _write(folder, name, **kw):
    path = folder / name
    truth = synth.write_scenario(SCENARIO, path, seed=3, **kw)
    return path, truth


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("replay")
    return {
        # 3.5 s at 8 kHz holds the first reflux and keeps 28000 one-frame blocks quick
        "short": _write(d, "short.wav", sample_rate_hz=8000, duration_s=3.5),
        "iq": _write(d, "iq.wav", sample_rate_hz=16000, duration_s=8.0),
        "toward-away": _write(d, "ta.wav", sample_rate_hz=16000, duration_s=8.0,
                              layout="toward-away"),
        "realtime": _write(d, "rt.wav", sample_rate_hz=8000, duration_s=1.5),
    }


def _collect():
    events = []
    return events, events.append


@pytest.mark.parametrize("which, block_size", [
    ("short", 1), ("iq", 256), ("iq", 4097), ("iq", 65536), ("toward-away", 4097)])
def test_replay_equals_analyze(files, which, block_size):
    path, truth = files[which]
    settings = SETTINGS.replace(layout=truth["layout"])
    seen_a, on_a = _collect()
    seen_r, on_r = _collect()
    want = analyze(path, settings=settings, on_event=on_a).to_dict(trace=True)
    got = replay(path, settings, block_size=block_size, on_event=on_r).to_dict(trace=True)
    assert json.dumps(got) == json.dumps(want)
    assert seen_r == seen_a  # the live notifications too, at the same frames
    # not a vacuous equality: the file's reflux is found
    assert want["reflux"] is True and len(want["reflux_events"]) == len(truth["reflux_events"])
    assert {e["type"] for e in seen_a} == {"reflux_confirmed", "reflux_ended"}
    assert "dropped_blocks" not in got and "gaps" not in got


def test_realtime_is_paced_and_equal(files):
    path, truth = files["realtime"]
    jitter_ms = 3.0
    want = analyze(path, settings=SETTINGS).to_dict(trace=True)
    t0 = time.perf_counter()
    got = replay(path, SETTINGS, block_size=512, realtime=True, jitter_ms=jitter_ms, seed=7)
    wall_s = time.perf_counter() - t0
    assert got.to_dict(trace=True) == want
    # the last block is due at the file's end, moved earlier by at most the jitter
    assert wall_s >= truth["duration_s"] - jitter_ms / 1e3


def test_jitter_alone_changes_nothing(files):
    path, _ = files["short"]
    want = analyze(path, settings=SETTINGS).to_dict(trace=True)
    assert replay(path, SETTINGS, block_size=300, jitter_ms=0.5, seed=1).to_dict(
        trace=True) == want


#: An event "touches" a gap when it overlaps it widened by one analysis window and the
#: bridging of brief dropouts (GAP_S): frames that far from lost audio see the gap.
TOUCH_S = SETTINGS.analysis_window_s + GAP_S


def _touches(ev, t0, t1):
    return ev["start_s"] < t1 + TOUCH_S and ev["end_s"] > t0 - TOUCH_S


def test_dropped_blocks_make_counted_gaps(files):
    path, truth = files["iq"]
    fs = truth["sample_rate_hz"]
    block = 8000  # 0.5 s
    # every 6th block of 16 is dropped: blocks 6 and 12, i.e. 2.5-3.0 s and 5.5-6.0 s
    a = replay(path, SETTINGS, block_size=block, drop_every=6)
    d = a.to_dict(trace=True)
    assert d["dropped_blocks"] == 2 and d["dropped_samples"] == 2 * block
    assert d["gaps"] == [{"start_s": 2.5, "end_s": 3.0}, {"start_s": 5.5, "end_s": 6.0}]
    assert any("2 gap(s)" in w for w in d["warnings"])
    ref = analyze(path, settings=SETTINGS).to_dict(trace=True)
    # time runs on through the gaps: same length, same frame times
    assert d["duration_s"] == truth["duration_s"] == 16 * block / fs
    assert d["trace"]["time_s"] == ref["trace"]["time_s"]
    # a row sees a window, the 3-frame average (one hop each side) and the bridging of
    # dropouts (GAP_S); rows that end before the first gap equal the gap-free analysis
    reach_s = SETTINGS.analysis_window_s + 2 * SETTINGS.hop_s + GAP_S
    before = [i for i, t in enumerate(ref["trace"]["time_s"]) if t < 2.5 - reach_s]
    assert len(before) > 400
    for col in ("velocity_cm_s", "antegrade_max_cm_s", "retrograde_max_cm_s", "flow"):
        assert [d["trace"][col][i] for i in before] == [ref["trace"][col][i] for i in before]
    events = d["reflux_events"] + d["retrograde_episodes"]
    hit = [e for e in events if _touches(e, 2.5, 3.0)]
    far = [e for e in events if e["start_s"] > 6.5]  # the second release, 0.5 s after a gap
    assert hit and all(e["affected_by_gap"] for e in hit)
    assert far and not any(e["affected_by_gap"] for e in far)


def test_event_adjacent_to_a_gap_is_marked(files):
    path, truth = files["iq"]
    second = truth["reflux_events"][1]
    assert 6.65 < second["start_s"] < 6.75
    # 0.1 s blocks, every 67th dropped: only block 67, 6.6-6.7 s, just before the reflux
    a = replay(path, SETTINGS, block_size=1600, drop_every=67).to_dict()
    assert a["dropped_blocks"] == 1 and a["gaps"] == [{"start_s": 6.6, "end_s": 6.7}]
    after = [e for e in a["reflux_events"] if e["start_s"] >= 6.6]
    early = [e for e in a["reflux_events"] if e["end_s"] < 4.0]
    assert after and all(e["affected_by_gap"] for e in after)
    assert early and not any(e["affected_by_gap"] for e in early)


def test_velocities_after_a_gap_stay_physical(files):
    path, truth = files["iq"]
    a = replay(path, SETTINGS, block_size=8000, drop_every=6)
    ref = analyze(path, settings=SETTINGS)
    # the truth's peak is 15 cm/s; the envelope may exceed it by the spectral broadening and
    # a few bins (bin = fs / n_fft = 100 Hz, ~1.9 cm/s), never by a factor of two
    limit = 2.0 * truth["peak_velocity_cm_s"]
    assert np.nanmax(abs(ref.trace.velocity_cm_s)) < limit
    assert np.nanmax(abs(a.trace.velocity_cm_s)) < limit
    # the rows the gaps left unanalysed say so: NaN, no flow
    lost = np.isnan(a.trace.velocity_cm_s)
    assert lost.sum() > np.isnan(ref.trace.velocity_cm_s).sum() and not a.trace.flow[lost].any()
