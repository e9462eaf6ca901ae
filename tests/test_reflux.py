"""The reflux stage: episodes, confirmation, edges and the reflux verdict."""

from pathlib import Path

import naive
import numpy as np
import pytest
from common import FS, SCALE
from conftest import band_noise, chirp_tones, iq

import dopplerflow as df
from dopplerflow.core import wall
from dopplerflow.core.reflux import RefluxTracker


def test_episodes_match_naive(rng):
    hop, t0 = 0.005, 0.005
    retro = rng.random(3000) < 0.5
    retro = np.repeat(retro[::10], 10)[:3000]  # runs of 10 frames
    env = np.zeros((len(retro), 2, 4))
    env[retro, 1, 0] = 1.0  # away flow detected
    env[retro, 1, 1] = 500.0
    env[retro, 1, 3] = 1.0
    tracker = RefluxTracker(hop, t0, SCALE, threshold_s=0.5)
    for i in range(0, len(env), 77):
        tracker.update(env[i:i + 77], np.ones(len(env[i:i + 77]), bool))
    tracker.close()
    got = np.array([(e.start_s, e.end_s) for e in tracker.episodes[1]])
    ref = np.array(naive.retrograde_episodes(retro, hop, t0, tracker.gap_rows,
                                             tracker.min_rows))
    assert len(got) > 10 and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)


def _two_way(pr, pa):
    """Envelope rows with flow both ways: away power ``pr``, toward power ``pa``."""
    env = np.zeros((len(pr), 2, 4))
    env[:, :, 0] = 1.0
    env[:, :, 1] = 500.0
    env[:, 1, 3] = pr
    env[:, 0, 3] = pa
    return env


def test_episode_starts_where_the_retrograde_majority_began():
    # away power 1.5x toward for 6 frames (a majority, short of the 2x that opens an
    # episode), then 3x: the episode opens on the 3x frames but starts with the majority
    hop, t0 = 0.005, 0.005
    pr = np.r_[np.full(20, 0.2), np.full(6, 1.5), np.full(40, 3.0), np.full(30, 0.2)]
    tracker = RefluxTracker(hop, t0, SCALE, threshold_s=0.1)
    tracker.update(_two_way(pr, np.ones(len(pr))), np.ones(len(pr), bool))
    tracker.close()
    (ev,) = tracker.episodes[1]
    assert ev.start_s == pytest.approx(t0 + (20 - 0.5) * hop)
    assert ev.end_s == pytest.approx(t0 + (65 + 0.5) * hop)
    # a majority that never reaches 2x opens nothing
    tracker = RefluxTracker(hop, t0, SCALE, threshold_s=0.1)
    pr = np.r_[np.full(20, 0.2), np.full(50, 1.5), np.full(30, 0.2)]
    tracker.update(_two_way(pr, np.ones(len(pr))), np.ones(len(pr), bool))
    tracker.close()
    assert tracker.episodes[1] == []


@pytest.mark.parametrize("ahead_retro, at_row", [(True, 100), (False, 101)])
def test_confirmation_from_the_provisional_next_row(ahead_retro, at_row):
    # 100 retrograde frames from row 1: 0.5 s at row 100, so row 101 passes a 0.5 s threshold
    hop, t0 = 0.005, 0.005
    pr = np.r_[0.0, np.full(120, 3.0)]
    env = _two_way(pr, np.ones(len(pr)))
    ahead = np.zeros_like(env)
    ahead[:-1] = env[1:] if ahead_retro else 0.0
    tracker = RefluxTracker(hop, t0, SCALE, threshold_s=0.5)
    out = []
    for i in range(len(env)):  # one row at a time, as a stream
        out += tracker.update(env[i:i + 1], np.ones(1, bool), ahead[i:i + 1], np.ones(1, bool))
        if out:
            break
    (kind, h, ev), = out
    assert kind == "reflux_confirmed" and h == 1
    assert i == at_row  # decided while processing this row: one row early with the look-ahead
    assert ev.start_s == pytest.approx(t0 + 0.5 * hop)
    assert ev.end_s == pytest.approx(t0 + 101.5 * hop)  # the frame that passes 0.5 s
    assert ev.duration_s == pytest.approx(0.505)


def test_provisional_confirmation_is_withdrawn_if_the_episode_falls_short():
    pr = np.r_[0.0, np.full(100, 3.0), np.full(40, 0.1)]  # 0.5 s of retrograde flow exactly
    env = _two_way(pr, np.ones(len(pr)))
    ahead = np.zeros_like(env)
    ahead[100] = env[99]  # the provisional row 101 looks retrograde; the complete one is not
    events = []
    proc = df.Processor(df.Settings(reflux_threshold_s=0.5, antegrade="toward"), FS, 2,
                        on_event=events.append)
    actions = proc.tracker.update(env, np.ones(len(env), bool), ahead, np.ones(len(env), bool))
    proc.events.dispatch(actions, 1)  # antegrade toward: retrograde away
    assert [e["type"] for e in events] == ["reflux_confirmed", "reflux_withdrawn"]
    assert events[1]["duration_s"] == pytest.approx(0.5)
    assert proc.tracker.episodes[1][0].duration_s == pytest.approx(0.5)  # not a reflux


def test_confirmation_needs_no_audio_past_the_frame_that_passes_the_threshold():
    z = chirp_tones([(1.0, 700.0), (1.5, -700.0), (1.0, 700.0)], FS)
    x = iq(z)
    fired_at = []
    proc = df.Processor(df.Settings(vessel="ijv", antegrade="toward"), FS, 2,
                        on_event=lambda ev: fired_at.append((proc.time_s, ev)))
    for i in range(len(x)):
        proc.push(x[i:i + 1])
        if fired_at:
            break
    t_audio, ev = fired_at[0]
    assert ev["type"] == "reflux_confirmed"
    # the frame ending at ev['time_s'] (its centre half a hop earlier) has all its samples:
    # half a window past its centre, not one hop more for the last frame of its average
    centre = ev["time_s"] - 0.0025
    assert t_audio == pytest.approx(centre + 0.005, abs=1.5 / FS)


# ----------------------------------------------------------------- known truth
def test_reflux_interval_from_tones():
    """+700 Hz (antegrade) 2 s, -700 Hz 1.5 s (reflux), +700 Hz 2 s."""
    z = chirp_tones([(2.0, 700.0), (1.5, -700.0), (2.0, 700.0)], FS)
    a = df.analyze(z, sample_rate_hz=FS, vessel="ijv", antegrade="toward")
    assert a.reflux is True and len(a.reflux_events) == 1
    ev = a.reflux_events[0]
    # frames are centred on hop multiples and span +-5 ms: the reversal is placed
    # within one hop plus half a window
    tol = 0.005 + 0.005
    assert ev.start_s == pytest.approx(2.0, abs=tol)
    assert ev.end_s == pytest.approx(3.5, abs=tol)
    assert ev.mean_velocity_cm_s > 0


def test_short_reversal_is_an_episode_not_reflux():
    z = chirp_tones([(2.0, 700.0), (0.4, -700.0), (2.0, 700.0)], FS)
    a = df.analyze(z, sample_rate_hz=FS, vessel="ijv", antegrade="toward")
    assert a.reflux is False and a.reflux_events == []
    assert len(a.episodes) == 1
    assert a.episodes[0].duration_s == pytest.approx(0.4, abs=0.02)


def test_antegrade_given_flips_the_roles():
    z = chirp_tones([(2.0, 700.0), (1.5, -700.0), (2.0, 700.0)], FS)
    a = df.analyze(z, sample_rate_hz=FS, vessel="ijv", antegrade="away")
    # toward is now retrograde: 4 s of it, less the wall filter's settling at the start
    # (frames reaching into it are not analysed), in two reflux events
    assert a.antegrade == "away" and a.antegrade_source == "given"
    settle_s = wall.settling_samples(wall.wall_filter_sos(80.0, FS), FS) / FS
    first_frame_s = settle_s + 0.005 + 0.005  # one hop of averaging, half a window
    assert sum(e.duration_s for e in a.reflux_events) == pytest.approx(4.0 - first_frame_s,
                                                                      abs=0.01)
    assert a.reflux_events[0].start_s == pytest.approx(first_frame_s, abs=0.005)


@pytest.mark.parametrize("snr_db", [20.0, 10.0])
def test_event_peak_velocity_is_not_a_speckle_spike(snr_db):
    """2 s of retrograde speckle with a sharp edge at 400 Hz, 10 and 20 dB in-band SNR:
    the event's peak is the band's edge read to within one bin, not the highest single
    frame (which speckle and noise carry up to 1.2 kHz at 10 dB)."""
    n = 4 * FS
    for seed in range(6):
        rng = np.random.default_rng(seed + 10)
        z = band_noise(n, FS, -400.0, -100.0, power=1e-3, seed=seed)
        z[:FS] = 0.0
        z[3 * FS:] = 0.0
        # in-band SNR: the band's power over the noise in its 300 Hz
        n0 = 1e-3 / 300.0 / 10 ** (snr_db / 10)
        z += np.sqrt(n0 * FS / 2) * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
        a = df.analyze(iq(z).astype(np.float32), sample_rate_hz=FS, vessel="ijv",
                       antegrade="toward")
        (ev,) = a.reflux_events
        bin_hz = a.summary.bin_hz
        assert abs(ev.peak_velocity_cm_s / SCALE - 400.0) < bin_hz, seed
        # the mean over the band's frames is its edge too, read a little low
        assert abs(ev.mean_velocity_cm_s / SCALE - 400.0) < bin_hz, seed


def _edge_tracker(threshold_s=0.5):
    """A tracker with the edge extrapolation of the default analysis at 16 kHz."""
    proc = df.Processor(df.Settings(), 16000, 2)
    t = proc.tracker
    return RefluxTracker(t.hop_s, t.t0_s, SCALE, threshold_s, edge_rows=t.edge_rows,
                         floor_hz=t.floor_hz, shown_hz=t.shown_hz), t.floor_hz


@pytest.mark.parametrize("block", [1, 7, 4096])
def test_slow_ramp_edges_are_extrapolated_to_the_zero_crossings(block):
    # away (retrograde) flow whose maximum frequency ramps linearly through zero at
    # row 100.3 and back to zero at row 400.6, detected only above the lowest
    # frequency searched: the detected rows start and end some 6 rows inside the
    # crossings, the extrapolated edges lie within half a hop of them
    tracker, floor_hz = _edge_tracker()
    hop, t0 = tracker.hop_s, tracker.t0_s
    rows = np.arange(520, dtype=float)
    f = np.minimum(20.0 * (rows - 100.3), 20.0 * (400.6 - rows)).clip(0.0, 1500.0)
    env = np.zeros((len(rows), 2, 4))
    on = f >= floor_hz
    env[on, 1, 0] = 1.0
    env[on, 1, 1] = f[on]
    env[on, 1, 3] = 1.0
    out = []
    for i in range(0, len(env), block):
        out += tracker.update(env[i:i + block], np.ones(len(env[i:i + block]), bool))
    (kind, _, confirmed), (_, _, ev) = [a for a in out if a[1] == 1]
    assert kind == "reflux_confirmed" and confirmed.start_s == ev.start_s
    first, last = np.flatnonzero(on)[[0, -1]]
    assert first - 100.3 > 6 and 400.6 - last > 6
    assert ev.start_s == pytest.approx(t0 + 100.3 * hop, abs=0.5 * hop)
    assert ev.end_s == pytest.approx(t0 + 400.6 * hop, abs=0.5 * hop)
    # the threshold is tested on the detected frames
    assert ev.detected_s == pytest.approx((last - first + 1) * hop)


@pytest.mark.parametrize("antegrade_around", [True, False])
def test_brisk_step_edges_stay_at_the_detected_rows(antegrade_around):
    # retrograde flow at a steady 600 Hz from row 100 to row 299, with or without
    # antegrade flow right before and after: no ramp to extrapolate
    tracker, _ = _edge_tracker()
    hop, t0 = tracker.hop_s, tracker.t0_s
    env = np.zeros((400, 2, 4))
    env[100:300, 1, :] = (1.0, 600.0, 300.0, 1.0)
    if antegrade_around:
        env[:100, 0, :] = (1.0, 600.0, 300.0, 1.0)
        env[300:, 0, :] = (1.0, 600.0, 300.0, 1.0)
    tracker.update(env, np.ones(len(env), bool))
    tracker.close()
    (ev,) = tracker.episodes[1]
    # an envelope appearing far above the lowest value it can show left the baseline
    # within a fraction of a row; antegrade flow next to it bounds the edge exactly
    tol = 0.0 if antegrade_around else 0.5 * hop
    assert ev.start_s == pytest.approx(t0 + 99.5 * hop, abs=tol + 1e-12)
    assert ev.start_s <= t0 + 99.5 * hop + 1e-12
    assert ev.end_s == pytest.approx(t0 + 299.5 * hop, abs=tol + 1e-12)
    assert ev.end_s >= t0 + 299.5 * hop - 1e-12


@pytest.mark.parametrize("start_s, end_s, reflux, where", [
    (0.0, 5.2, None, "still running at the end"),
    (5.6, 12.0, None, "already running at the start"),
    (0.0, 7.0, True, None),  # the reflux of 4.35-6.36 s whole
    (0.0, 12.0, True, None),
    (7.0, 12.0, False, None),  # none of it
])
def test_retrograde_flow_cut_by_the_recording_is_not_called_no_reflux(start_s, end_s,
                                                                       reflux, where):
    """Retrograde flow under the threshold that runs into the recording's start or end may
    have lasted longer: reflux is then not assessable, not "no"."""
    import soundfile as sf

    x, fs = sf.read(Path(__file__).resolve().parent.parent / "samples"
                    / "jugular_valsalva_iq.flac")
    a = df.analyze(x[int(start_s * fs):int(end_s * fs)], sample_rate_hz=fs, vessel="ijv",
                   antegrade="away")
    assert a.reflux is reflux
    if where:
        assert a.reflux_not_assessable.startswith(f"retrograde flow {where} of the recording, ")
        assert any(w.startswith(f"retrograde flow {where} of the recording (") and
                   "under the 0.88 s threshold" in w for w in a.warnings)
        [ep] = a.episodes
        assert ep.duration_s < 0.88
    else:
        assert not any(w.startswith("retrograde flow") for w in a.warnings)


def _tone(segments, fs=8000):
    """I/Q tones, (duration s, Hz) per segment, phase-continuous, with weak seeded noise."""
    freq = np.concatenate([np.full(int(round(d * fs)), f) for d, f in segments])
    z = 0.5 * np.exp(2j * np.pi * np.cumsum(freq) / fs)
    noise = np.random.default_rng(0).standard_normal((2, len(z)))
    z += 0.005 * (noise[0] + 1j * noise[1])
    return iq(z), fs


def test_a_reflux_running_at_the_end_is_marked_cut_by_end():
    """A reflux still running when the recording ends lasted at least what was recorded:
    the event says so (``cut_by_end``, in the JSON only then), with a warning; one that
    ended before the end is not marked."""
    x, fs = _tone(((2.0, 700.0), (1.5, -700.0)))
    a = df.analyze(x, sample_rate_hz=fs, vessel="ijv", antegrade="toward")
    assert a.reflux is True and len(a.reflux_events) == 1
    ev = a.reflux_events[0]
    assert ev.cut_by_end and ev.to_dict()["cut_by_end"] is True
    assert ev.duration_s == pytest.approx(1.5, abs=0.02)  # 1.5 s recorded of it
    assert (f"reflux still running at the end of the recording: it lasted at least "
            f"{ev.duration_s:.2f} s (from {ev.start_s:.2f} s); record on past it to time it"
            in a.warnings)
    y, _ = _tone(((2.0, 700.0), (1.5, -700.0), (0.5, 700.0)))
    b = df.analyze(y, sample_rate_hz=fs, vessel="ijv", antegrade="toward")
    assert len(b.reflux_events) == 1 and not b.reflux_events[0].cut_by_end
    assert "cut_by_end" not in b.to_dict()["reflux_events"][0]
    assert not any(w.startswith("reflux still running") for w in b.warnings)
