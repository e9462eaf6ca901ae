"""The processor: block-size invariance, gaps, rows not analysed, events and status."""

import math

import numpy as np
import pytest
from common import FS
from conftest import band_noise, chirp_tones, iq

import dopplerflow as df


def test_rows_not_analysed_are_nan_and_no_flow():
    """The wall filter's settling at the start is not analysed: the trace says so."""
    z = chirp_tones([(1.0, 500.0)], FS, noise_rms=0.01, seed=2)
    a = df.analyze(z, sample_rate_hz=FS, antegrade="toward")
    tr = a.trace
    lost = np.isnan(tr.velocity_cm_s)
    first = int(np.argmax(~lost))
    assert first > 0 and not lost[first:].any()
    assert np.isnan(tr.antegrade_max_cm_s[:first]).all() and not tr.flow[:first].any()
    # the frames left out are those overlapping the filter's settling
    from dopplerflow.core.wall import settling_samples, wall_filter_sos

    settle = settling_samples(wall_filter_sos(a.settings.wall_hz, FS), FS)
    hop = round(a.settings.hop_s * FS)
    # row r averages frames r - 1 .. r + 1, and frame r - 1 starts at sample (r - 1) * hop
    assert first == -(-settle // hop) + 1


def test_noise_and_clutter_only_is_no_flow(rng):
    n = FS * 6
    t = np.arange(n) / FS
    wall = 0.3 * np.exp(1j * 2 * np.pi * 15 * np.sin(2 * np.pi * 1.2 * t) / (2 * np.pi * 1.2))
    noise = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * 1e-3
    a = df.analyze(wall + noise, sample_rate_hz=FS, vessel="ijv")
    assert a.flow_detected is False and a.reflux is False
    assert any("no flow detected" in w for w in a.warnings)
    assert a.trace.flow.mean() < 0.01


def test_steps_between_silence_and_flow_leave_the_peaks_as_they_are():
    """Flow up to 38 cm/s for 1 s, near-silence (37 dB under it) for 1 s, and so on for
    12 s.  The one frame whose window holds a step at its middle leaks the loud half's
    power beyond the flow's edge (and to the other side): most are broadband and taken out
    as impulses, and the others are taken out as steps (the halves of the window differ
    by more than 15 dB; flow's own halves stay within 12 dB).  A direction's peak comes
    from its runs of flow, so the peaks must be those of the flow: its edge, within the
    envelope's spread of a bin or two, and no retrograde flow."""
    from dopplerflow.core.velocity import cm_s_per_hz

    true_cm_s = 38.0
    n = 12 * FS
    z = band_noise(n, FS, 100.0, true_cm_s / cm_s_per_hz(8e6, 60.0), power=0.01, seed=1)
    on = (np.arange(n) // FS) % 2 == 0
    rng = np.random.default_rng(2)
    z = np.where(on, z, 0) + 1e-3 * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    a = df.analyze(iq(z), sample_rate_hz=FS, antegrade="toward")
    bin_cm_s = a.summary.velocity_resolution_cm_s
    assert abs(a.summary.peak_antegrade_velocity_cm_s - true_cm_s) <= 2 * bin_cm_s
    assert a.summary.peak_retrograde_velocity_cm_s == 0.0


# ----------------------------------------------------------------- streaming
@pytest.mark.parametrize("average_frames", [3, 1])
def test_block_size_invariance(average_frames):
    z = chirp_tones([(1.0, 700.0), (1.2, -500.0), (0.8, 300.0)], FS, noise_rms=0.01)
    x = iq(z).astype(np.float32)
    ref = None
    for block in (1, 7, 4096, 65537):
        a = df.analyze(x, sample_rate_hz=FS, vessel="ijv", block_size=block,
                       keep_spectrogram=True, average_frames=average_frames)
        d = a.to_dict(trace=True)
        if ref is None:
            ref, ref_a = d, a
            continue
        assert d == ref, f"block size {block} changed the result"
        np.testing.assert_array_equal(a.spectrogram, ref_a.spectrogram)
        for c in df.Trace.COLUMNS:
            np.testing.assert_array_equal(getattr(a.trace, c), getattr(ref_a.trace, c))


def test_block_size_invariance_of_a_mono_stream():
    """A mono stream's first rows wait for the noise shape of a later sub-window, and are
    analysed with it, whatever the blocks (a block can end anywhere in the wait)."""
    z = chirp_tones([(0.3, 700.0), (1.0, 300.0), (0.8, 900.0)], FS, noise_rms=0.01)
    x = z.real.astype(np.float32)[:, None]
    ref = None
    for block in (1, 7, 1000, 4096, 65537):
        a = df.analyze(x, sample_rate_hz=FS, layout="mono", block_size=block,
                       keep_spectrogram=True)
        d = a.to_dict(trace=True)
        if ref is None:
            ref = d
            # the first tone, in the rows that waited, is read at its frequency
            first = a.trace.flow & (a.trace.time_s < 0.25)
            assert first.sum() > 20
            fmax = np.median(a.trace.antegrade_max_cm_s[first]) / a.velocity_per_hz_cm_s
            assert abs(fmax - 700.0) <= a.summary.bin_hz
            continue
        assert d == ref, f"block size {block} changed the result"


def test_mark_gap_holds_the_episode_and_marks_it():
    z = chirp_tones([(1.0, 700.0), (2.0, -700.0), (1.0, 700.0)], FS)
    x = iq(z).astype(np.float32)
    p = df.Processor(df.Settings(vessel="ijv", antegrade="toward"), FS, 2)
    p.push(x[:int(1.8 * FS)])
    p.mark_gap(int(0.2 * FS))
    p.push(x[int(2.0 * FS):])
    a = p.finish()
    assert len(a.reflux_events) == 1
    ev = a.reflux_events[0]
    assert ev.affected_by_gap
    assert ev.start_s == pytest.approx(1.0, abs=0.01) and ev.end_s == pytest.approx(3.0, abs=0.01)
    assert a.duration_s == pytest.approx(4.0)
    assert a.to_dict()["gaps"] == [{"start_s": 1.8, "end_s": 2.0}]


@pytest.mark.parametrize("average_frames", [3, 1])
def test_on_event_reports_confirmation_and_end(average_frames):
    z = chirp_tones([(1.0, 700.0), (1.5, -700.0), (1.0, 700.0)], FS)
    events = []
    df.analyze(z, sample_rate_hz=FS, vessel="ijv", antegrade="toward", on_event=events.append,
               block_size=256, average_frames=average_frames)
    assert [e["type"] for e in events] == ["reflux_confirmed", "reflux_ended"]
    confirmed, ended = events
    # confirmed on the first frame whose episode is longer than 0.88 s
    assert confirmed["time_s"] - confirmed["start_s"] == pytest.approx(0.885, abs=0.006)
    assert ended["duration_s"] == pytest.approx(1.5, abs=0.02)


def test_status_snapshot():
    z = chirp_tones([(1.0, 700.0), (0.5, -700.0)], FS)
    p = df.Processor(df.Settings(vessel="ijv", antegrade="toward"), FS, 2)
    p.push(iq(z))
    s = p.status()
    assert s["direction"] == "retrograde" and s["flow"]
    assert s["velocity_cm_s"] < 0
    assert s["reflux_timer_s"] == pytest.approx(0.5, abs=0.03)
    assert s["level_dbfs"] == pytest.approx(20 * math.log10(0.1 / math.sqrt(2)), abs=0.5)
    assert not s["learning"]


def test_status_of_a_mono_stream_learning_its_floor():
    """A mono stream's status says it is learning its noise floor while its first rows
    wait (no frame analysed), and shows the flow once they are released."""
    z = chirp_tones([(6.0, 700.0)], FS, noise_rms=0.01)
    x = z.real.astype(np.float32)[:, None]
    p = df.Processor(df.Settings(layout="mono"), FS, 1)
    p.push(x[:FS])
    s = p.status()
    assert s["learning"] and not s["flow"]
    p.push(x[FS:])
    s = p.status()
    assert not s["learning"] and s["flow"]


@pytest.mark.parametrize("block", [7, 4096])
def test_result_without_trace_is_the_same(block):
    """keep_trace=False keeps memory flat and changes nothing but the trace."""
    z = chirp_tones([(0.7, 700.0), (0.02, 0.0), (1.0, -500.0), (0.3, 300.0)], FS,
                    noise_rms=0.05, seed=4)
    x = iq(z).astype(np.float32)
    full = df.analyze(x, sample_rate_hz=FS, vessel="ijv", block_size=block)
    lean = df.analyze(x, sample_rate_hz=FS, vessel="ijv", block_size=block, keep_trace=False)
    assert lean.to_dict() == full.to_dict()
    assert len(lean.trace) == 0 and len(full.trace) == full.summary.n_frames
    # the running totals agree with the trace they were not kept for
    assert full.summary.flow_fraction == round(float(full.trace.flow.mean()), 4)
    assert full.summary.peak_antegrade_velocity_cm_s == \
        round(float(np.nanmax(full.trace.antegrade_max_cm_s)), 2)


# ------------------------------------------------------------- spans too short to judge
JUGULAR = __import__("pathlib").Path(__file__).resolve().parent.parent / \
    "samples/jugular_valsalva_iq.flac"


def _clip(tmp_path, start_s, length_s):
    """A WAV of ``length_s`` of the bundled jugular sample (flow throughout, reflux from
    4.35 to 6.36 s) from ``start_s``."""
    import soundfile as sf

    x, fs = sf.read(JUGULAR)
    p = tmp_path / f"clip_{start_s}_{length_s}.wav"
    sf.write(p, x[round(start_s * fs):round((start_s + length_s) * fs)], fs)
    return p


def test_a_span_too_short_to_judge_flow_is_no_finding_of_no_flow(tmp_path):
    """0.25 s of a recording with flow in most of its frames: the 0.2 s analysed cannot
    hold the 0.25 s of flow the rule needs, so flow and reflux are not assessable (before:
    "flow not Doppler-detectable" and reflux "no", with flow in 82% of the frames)."""
    a = df.analyze(_clip(tmp_path, 0.0, 0.25), vessel="ijv", antegrade="away")
    assert a.summary.flow_fraction > 0.5
    assert a.flow_detected is None and a.reflux is None
    assert a.reflux_not_assessable == ("the recording is too short to judge flow, with flow "
                                       "in 0.20 s of the 0.20 s analysed and 0.25 s needed")
    assert not any("no flow detected" in w for w in a.warnings)
    assert any(w.startswith("only 0.20 s analysed: too short to judge flow") for w in a.warnings)
    # a span longer than 0.25 s with flow in most of it, still under 0.25 s of flow: only
    # the span's length kept the flow under the rule
    z = chirp_tones([(0.22, 500.0), (0.15, 0.0)], FS)
    b = df.analyze(z, sample_rate_hz=FS, vessel="ijv", antegrade="toward")
    assert b.flow_detected is None and b.reflux is None
    assert b.reflux_not_assessable.startswith("the recording is too short to judge flow")
    # the same flow followed by a second without any: flow not detected, a finding
    z = chirp_tones([(0.22, 500.0), (1.0, 0.0)], FS)
    c = df.analyze(z, sample_rate_hz=FS, vessel="ijv", antegrade="toward")
    assert c.flow_detected is False and c.reflux is False


def test_a_span_shorter_than_the_reflux_threshold_cannot_say_no_reflux(tmp_path):
    """0.5 s of antegrade flow: flow is detected, but no retrograde flow in 0.45 s can
    outlast the jugular's 0.88 s threshold, so reflux is not assessable (before: "no");
    the same span inside the reflux, under a 0.3 s threshold, shows its reflux."""
    a = df.analyze(_clip(tmp_path, 0.0, 0.5), vessel="ijv", antegrade="away")
    assert a.flow_detected is True and a.reflux is None
    assert a.reflux_not_assessable == "0.45 s analysed, shorter than the reflux threshold of " \
                                      "0.88 s"
    assert any(w.startswith("only 0.45 s analysed, shorter than the reflux threshold of "
                            "0.88 s") for w in a.warnings)
    inside = _clip(tmp_path, 4.5, 0.5)
    assert df.analyze(inside, vessel="ijv", antegrade="away").reflux is None
    short_rule = df.analyze(inside, reflux_threshold_s=0.3, antegrade="away")
    assert short_rule.reflux is True and short_rule.reflux_events
    # long enough for the threshold: the verdict stands
    assert df.analyze(_clip(tmp_path, 0.0, 1.5), vessel="ijv", antegrade="away").reflux is False
