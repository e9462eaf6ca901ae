"""The spectral pipeline against naive references, sign conventions, and known truth."""

import math

import naive
import numpy as np
import pytest
from conftest import band_noise, chirp_tones, iq, separate

import dopplerflow as df
from dopplerflow.core import spectrum, wall
from dopplerflow.core.layouts import channel_map
from dopplerflow.core.reflux import RefluxTracker
from dopplerflow.core.velocity import cm_s_per_hz

FS = 8000
SCALE = cm_s_per_hz(8e6, 60.0)  # cm/s per Hz at the default geometry


def _config(fs=FS, layout="iq", **kw):
    cmap = channel_map(layout, 1 if layout in ("mono", "offset") else 2, **kw)
    return cmap, spectrum.spectral_config(fs, cmap, window_s=0.01, hop_s=0.005, wall_hz=80.0)


# ----------------------------------------------------------------- stages vs naive references
def test_wall_filter_matches_scipy_sosfilt(rng):
    n = 5000
    t = np.arange(n) / FS
    x = 0.5 * np.stack((np.cos(2 * np.pi * 7 * t), np.sin(2 * np.pi * 7 * t)), 1) + 0.3
    x += 0.01 * rng.standard_normal((n, 2))
    x = x.astype(np.float32)
    sos = wall.wall_filter_sos(80.0, FS)
    wf = wall.WallFilter(channel_map("iq", 2), sos, FS)
    got = np.concatenate([wf(x[i:i + 333]) for i in range(0, n, 333)])
    ref = naive.wall_filter(x, sos)
    # float64 recursion, float32 output: agreement to float32 rounding of the output
    np.testing.assert_allclose(got, ref, atol=2e-6 * np.abs(ref).max() + 1e-7)


def test_wall_filter_attenuates_clutter_and_passes_flow():
    sos = wall.wall_filter_sos(80.0, FS)
    from scipy import signal

    _, h = signal.sosfreqz(sos, worN=np.array([20.0, 30.0, 200.0, 1000.0]), fs=FS)
    gain_db = 20 * np.log10(np.abs(h))
    assert gain_db[0] < -wall.WALL_STOP_DB + 0.5  # wall echoes (< 30 Hz) down >= 50 dB
    assert gain_db[1] < -wall.WALL_STOP_DB + 0.5
    assert abs(gain_db[2]) < 0.5 and abs(gain_db[3]) < 0.1  # slow venous flow passes


@pytest.mark.parametrize("layout", ["iq", "toward-away"])
def test_power_spectrum_matches_numpy(layout, rng):
    cmap, cfg = _config(layout=layout)
    x = rng.standard_normal((3000, 2)).astype(np.float32)
    framer = spectrum.Framer(cfg)
    got = np.concatenate([framer(x[i:i + 517]) for i in range(0, len(x), 517)])
    ref = naive.power_spectrogram(x[:, 0].astype(float), x[:, 1].astype(float), cfg.n_window,
                                  cfg.hop, cfg.n_fft, separated=cmap.separated)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=2e-4, atol=1e-4 * ref.max())


def test_time_average_matches_naive_for_any_chunking(rng):
    p = rng.random((41, 16)).astype(np.float32)
    ref = naive.time_average(p.astype(np.float64))
    for chunk in (1, 2, 3, 5, 41):
        avg = spectrum.TimeAverager()
        parts = [avg(p[i:i + chunk]) for i in range(0, len(p), chunk)]
        parts.append(avg(p[:0], final=True))
        got = np.concatenate(parts)
        np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_threshold_envelope_matches_naive(rng):
    cmap, cfg = _config(fs=48000)
    rows = rng.exponential(1.0, (30, cfg.n_fft)).astype(np.float32)
    z0 = cfg.n_fft // 2
    for i, width in enumerate(range(0, 60, 2)):  # flow bands of growing width, both sides
        rows[i, z0 + 2:z0 + 2 + width] += 40.0
        rows[i, z0 - 2 - width // 2:z0 - 2] += 15.0
    noise = np.ones(len(rows))
    env = df.core.envelopes.envelopes(rows, noise, cfg, "threshold")
    for i in range(len(rows)):
        for d in range(2):
            det, fmax = naive.threshold_envelope(
                rows[i].astype(np.float64), 1.0, cfg.dir_start[d], cfg.dir_step[d],
                cfg.dir_count[d], cfg.dir_f0[d], cfg.bin_hz, cfg.t_high, cfg.t_low)
            assert bool(env[i, d, 0]) == det
            # the kernel sums float32 bins: the sub-bin fraction agrees to float32 precision
            assert env[i, d, 1] == pytest.approx(fmax, abs=1e-4 * cfg.bin_hz)


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


# ----------------------------------------------------------------- sign conventions
def _direction(analysis):
    """'toward'/'away' of the flow in a one-direction recording."""
    return analysis.antegrade


@pytest.mark.parametrize("layout, invert, expected", [
    ("iq", False, "toward"), ("qi", False, "away"), ("iq", True, "away"), ("qi", True, "toward"),
    ("toward-away", False, "toward"), ("away-toward", False, "away"),
    ("toward-away", True, "away"),
])
def test_tone_at_plus_700_hz_direction_per_layout(layout, invert, expected):
    z = chirp_tones([(1.0, 700.0)], FS)
    x = iq(z) if layout in ("iq", "qi") else separate(z)
    if layout in ("qi", "away-toward"):
        pass  # the same channels read with the swapped layout
    a = df.analyze(x, sample_rate_hz=FS, layout=layout, invert=invert)
    assert a.direction_available and a.flow_detected
    assert a.antegrade == expected  # auto: the direction holding the flow
    mean = np.median(a.trace.mean_velocity_cm_s[a.trace.flow])
    # the tone's mean frequency is exact; the mean over its main lobe is within a tenth of a bin
    assert mean == pytest.approx(700 * SCALE, abs=0.1 * FS / 80 * SCALE)


@pytest.mark.parametrize("tone_hz, expected", [(2000 + 700, "toward"), (2000 - 700, "away")])
def test_offset_layout_direction(tone_hz, expected):
    t = np.arange(FS) / FS
    x = 0.2 * np.cos(2 * np.pi * tone_hz * t)
    a = df.analyze(x, sample_rate_hz=FS, layout="offset", offset_hz=2000.0)
    assert a.antegrade == expected
    mean = np.median(a.trace.mean_velocity_cm_s[a.trace.flow])
    assert mean == pytest.approx(700 * SCALE, abs=0.1 * FS / 80 * SCALE)


def test_mono_has_speed_but_no_direction():
    z = chirp_tones([(1.0, 700.0), (1.5, -700.0), (1.0, 700.0)], FS)
    a = df.analyze(z.real[:, None], sample_rate_hz=FS, layout="mono", vessel="ijv")
    d = a.to_dict()
    assert d["direction_available"] is False and d["reflux"] is None
    assert a.reflux_events == []
    speed = np.median(a.trace.mean_velocity_cm_s[a.trace.flow])
    assert speed == pytest.approx(700 * SCALE, abs=0.1 * FS / 80 * SCALE)
    assert np.isnan(a.trace.retrograde_max_cm_s).all()


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


def _vessel(spans, f_lo, f_hi, power, seed, t_end):
    """Speckle band (signed Hz) switched on over ``spans`` [(t0, t1), ...] s, sharp edges."""
    n = int(round(t_end * FS))
    on = np.zeros(n)
    for t0, t1 in spans:
        on[int(round(t0 * FS)):int(round(t1 * FS))] = 1.0
    return band_noise(n, FS, f_lo, f_hi, power=power, seed=seed) * on


def _vein_and_artery(block_size=65536, antegrade="toward", artery_db=-3.0, vessel="ijv",
                     beats=False, **kw):
    """A vein (antegrade toward) flowing 0-3 s, still 3-4 s, retrograde 4-5.5 s, still,
    antegrade from 6.5 s; an artery (``artery_db`` against the vein) flowing away the
    whole 8 s, or with ``beats`` only 0.25 s of every 0.8 s (a systole a beat)."""
    vein = (_vessel([(0.0, 3.0), (6.5, 8.0)], 100.0, 500.0, 1e-3, 1, 8.0)
            + _vessel([(4.0, 5.5)], -400.0, -100.0, 1e-3, 2, 8.0))
    spans = [(t0, t0 + 0.25) for t0 in np.arange(0.0, 8.0, 0.8)] if beats else [(0.0, 8.0)]
    artery = _vessel(spans, -900.0, -100.0, 1e-3 * 10 ** (artery_db / 10), 3, 8.0)
    rng = np.random.default_rng(4)
    noise = (rng.standard_normal(len(vein)) + 1j * rng.standard_normal(len(vein))) * 2e-4
    x = iq(vein + artery + noise).astype(np.float32)
    return df.analyze(x, sample_rate_hz=FS, vessel=vessel, antegrade=antegrade,
                      block_size=block_size, **kw)


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
        bin_hz = a.summary["bin_hz"]
        assert abs(ev.peak_velocity_cm_s / SCALE - 400.0) < bin_hz, seed
        # the mean over the band's frames is its edge too, read a little low
        assert abs(ev.mean_velocity_cm_s / SCALE - 400.0) < bin_hz, seed


def test_persistent_second_vessel_is_taken_off_the_retrograde_direction():
    """The artery flows the vein's retrograde way throughout: the reflux is the vein's
    4-5.5 s, and the still vein shows no flow although the artery goes on."""
    a = _vein_and_artery()
    assert a.reflux is True and len(a.reflux_events) == 1
    ev = a.reflux_events[0]
    assert ev.start_s == pytest.approx(4.0, abs=0.03)
    assert ev.end_s == pytest.approx(5.5, abs=0.03)
    t = a.trace.time_s
    still = ((t > 3.1) & (t < 3.9)) | ((t > 5.6) & (t < 6.4))
    assert np.all(a.trace.retrograde_max_cm_s[still] == 0)
    # the reflux's maximum velocity is the edge of the vein's band (400 Hz), above the
    # artery's ceiling, not the artery's edge (900 Hz); a few speckle-faded rows of this
    # three-bin band are lost in the artery
    retro = a.trace.retrograde_max_cm_s[(t > 4.2) & (t < 5.3)] / SCALE
    assert abs(np.median(retro) - 400.0) < a.summary["bin_hz"]
    assert np.percentile(retro, 80) < 400.0 + a.summary["bin_hz"]
    # the artery wins the direction vote only on a rare speckle peak of its excess power,
    # also before it was established (those rows are re-read with its power of then)
    v = a.trace.velocity_cm_s[(t < 2.9) & np.isfinite(a.trace.velocity_cm_s)]
    assert np.mean(v > 0) > 0.99


def test_the_result_says_a_second_vessel_was_separated():
    a = _vein_and_artery()
    (msg,) = [w for w in a.warnings if "second vessel" in w]
    assert msg.startswith("a second vessel flows away from the probe beside the ijv")
    second = a.to_dict()["second_vessel"]
    assert second["direction"] == "away" and 0 < second["from_s"] < 1.5
    # a lone jugular vein at 50 dB in-band SNR: its leakage across zero through the
    # window's main lobe is no second vessel
    from dopplerflow.evaluate import quantise
    from dopplerflow.synth import synthesize, to_layout

    syn = synthesize("jugular_valsalva", sample_rate_hz=16000, snr_db=50, seed=0)
    lone = df.analyze(quantise(to_layout(syn.baseband, "iq", 16000)), sample_rate_hz=16000,
                      vessel="ijv", antegrade=syn.truth["antegrade"])
    assert "second_vessel" not in lone.to_dict()
    assert not any("second vessel" in w for w in lone.warnings)


def test_two_vessels_leave_reflux_not_assessable_when_the_direction_is_not_given():
    """The artery carries more time-integrated flow than the vein: the automatic choice
    would take it as antegrade and the vein's antegrade flow as 5.5 s of reflux.  Flow
    both ways at once says two vessels are in the beam, and nothing in the recording
    says which is the vein."""
    a = _vein_and_artery(antegrade="auto")
    assert a.antegrade == "away"  # the artery's way: the wrong choice for the vein
    assert a.reflux is None and a.reflux_events == [] and a.episodes == []
    d = a.to_dict()
    assert d["reflux"] is None
    assert d["reflux_not_assessable"] == "two vessels flow opposite ways in the beam"
    assert d["second_vessel"]["direction"] is None and 0 < d["second_vessel"]["from_s"] < 1.5
    (msg,) = [w for w in a.warnings if "two vessels" in w]
    assert "--antegrade toward|away" in msg
    # whatever the blocks pushed; live, one notice says so as soon as it is seen, and no
    # reflux event (of the artery's way, the provisional choice) follows it
    events = []
    assert _vein_and_artery(7, antegrade="auto", on_event=events.append).to_dict(
        trace=True) == a.to_dict(trace=True)
    (notice,) = [e for e in events if e["type"] == "reflux_not_assessable"]
    assert notice == {"type": "reflux_not_assessable", "time_s": d["second_vessel"]["from_s"],
                      "reason": "two vessels flow opposite ways in the beam"}
    assert events[-1] is notice
    again = []
    _vein_and_artery(65537, antegrade="auto", on_event=again.append)
    assert again == events
    # under the artery preset there is no reflux rule: two vessels are only a warning
    art = _vein_and_artery(antegrade="auto", vessel="artery")
    assert art.reflux is False and art.reflux_not_assessable is None
    assert art.to_dict()["second_vessel"]["direction"] is None
    assert any(w.endswith("flow runs both ways at once: two vessels in the beam")
               for w in art.warnings)
    # the same recording with the vein's direction given is assessable
    assert _vein_and_artery(antegrade="toward").to_dict().get("reflux_not_assessable") is None


def test_one_vessel_is_assessable_with_the_direction_chosen():
    """A lone vessel's reversals, its mirror image (I/Q imbalance) and its leakage across
    zero at a high SNR are not a second vessel to the automatic choice either."""
    from dopplerflow.evaluate import quantise
    from dopplerflow.synth import synthesize, to_layout

    for name, snr, imbalance in (("jugular_valsalva", 50, None),
                                 ("femoral_reflux", 30, (3.0, 15.0))):
        syn = synthesize(name, sample_rate_hz=16000, snr_db=snr, seed=0,
                         iq_imbalance=imbalance)
        a = df.analyze(quantise(to_layout(syn.baseband, "iq", 16000), bits=24),
                       sample_rate_hz=16000, vessel=syn.truth["vessel"])
        assert a.antegrade == syn.truth["antegrade"]
        assert a.reflux is True and "second_vessel" not in a.to_dict()


@pytest.mark.parametrize("artery_db", [0.0, 6.0])
def test_an_artery_as_loud_as_the_vein_leaves_reflux_not_assessable(artery_db):
    """The vein's reflux is its 3 dB step over the artery: an artery as loud as the vein,
    or louder, hides it (at +6 dB the artery dominates every frame; it used to read as
    8 s of reflux).  The artery is still found, and the result says why there is no
    verdict."""
    a = _vein_and_artery(artery_db=artery_db)
    assert a.reflux is None and a.reflux_events == [] and a.episodes == []
    d = a.to_dict()
    assert d["reflux_not_assessable"] == \
        "a second vessel as loud as the vein flows the retrograde way"
    assert d["second_vessel"]["direction"] == "away"
    (msg,) = [w for w in a.warnings if "second vessel" in w]
    # the power of the artery against the vein's, where both flow, above the wall band:
    # the band 100-200 Hz hidden in it is a quarter of the vein's and an eighth of the
    # artery's (+0.7 dB)
    rel_db = float(msg.split(" dB against it")[0].rsplit(" ", 1)[1])
    assert rel_db == pytest.approx(artery_db + 10 * math.log10(0.875 / 0.75), abs=0.3)
    # 3 dB quieter than the vein, it is separated (the tests above)
    assert _vein_and_artery(artery_db=-3.0).reflux is True


def test_an_artery_silent_between_beats_needs_a_louder_vein():
    """Between its beats the artery shows nothing in the retrograde direction, and the
    vein's reflux must make the whole 3 dB step over the artery's power alone: 3 dB is
    not enough with the margin, 9 dB is (a continuous artery 3 dB quieter is separated,
    see above)."""
    a = _vein_and_artery(artery_db=-3.0, beats=True)
    assert a.reflux is None and a.to_dict()["second_vessel"]["direction"] == "away"
    (msg,) = [w for w in a.warnings if "second vessel" in w]
    assert "and silent between its beats" in msg and "it needs 4.5 dB over it" in msg
    b = _vein_and_artery(artery_db=-9.0, beats=True)
    assert b.reflux is True and "second_vessel" in b.to_dict()
    (ev,) = b.reflux_events
    assert ev.start_s == pytest.approx(4.0, abs=0.03) and ev.end_s == pytest.approx(5.5, abs=0.03)


def test_the_first_beats_of_the_artery_are_re_read_in_the_summary_and_the_episodes():
    """Before the carotid is established (0.4 s into the stream) its systole reads as
    retrograde flow: the rows of that evidence are re-read with its power, for the
    summary's peak and the retrograde episodes as for the trace, whether or not the
    trace is kept."""
    from dopplerflow.evaluate import quantise
    from dopplerflow.synth import synthesize, to_layout

    syn = synthesize("jugular_with_carotid", sample_rate_hz=16000, snr_db=12, seed=0)
    x = quantise(to_layout(syn.baseband, "iq", 16000))
    kw = {"sample_rate_hz": 16000, "vessel": "ijv", "antegrade": syn.truth["antegrade"]}
    a = df.analyze(x, **kw)
    carotid_peak = max(syn.truth["second_vessel"]["velocity_cm_s"])  # 70 cm/s
    (true,) = syn.truth["reflux_events"]  # 16.5 cm/s; the vein has no other reversal
    assert a.summary["peak_retrograde_velocity_cm_s"] < carotid_peak / 2
    assert a.episodes == [] and len(a.reflux_events) == 1
    assert a.reflux_events[0].peak_velocity_cm_s < carotid_peak / 2
    lean = df.analyze(x, keep_trace=False, **kw)
    assert lean.summary == a.summary
    assert [e.to_dict() for e in lean.episodes + lean.reflux_events] == \
        [e.to_dict() for e in a.episodes + a.reflux_events]
    t = a.trace.time_s
    assert np.nanmax(a.trace.retrograde_max_cm_s[t < 1.0]) < carotid_peak / 2


def test_a_jump_of_the_wall_echo_does_not_hide_the_next_reflux_behind_the_artery():
    """Two takes of the jugular with the carotid beside it, spliced: the jump of the
    50 dB wall echo at the splice is a transient far above the carotid, not the
    carotid, so the second take's reflux still stands above it."""
    from dopplerflow.synth import synthesize, to_layout

    fs = 48000
    syn = synthesize("jugular_with_carotid", sample_rate_hz=fs, seed=1)
    take = to_layout(syn.baseband, "iq", fs).astype(np.float32)
    a = df.analyze(np.concatenate((take, take)), sample_rate_hz=fs, vessel="ijv",
                   antegrade=syn.truth["antegrade"])
    (true,) = syn.truth["reflux_events"]
    for ev, t0 in zip(a.reflux_events, (0.0, syn.truth["duration_s"]), strict=True):
        # within the 40 ms over which the vein reverses
        assert ev.start_s - t0 == pytest.approx(true["start_s"], abs=0.04)
        assert ev.end_s - t0 == pytest.approx(true["end_s"], abs=0.04)


def test_persistent_second_vessel_does_not_depend_on_the_blocks():
    """Also with the live events, whose confirmation reads the provisional next row."""
    ref_events = []
    ref = _vein_and_artery(4096, on_event=ref_events.append).to_dict(trace=True)
    assert [e["type"] for e in ref_events] == ["reflux_confirmed", "reflux_ended"]
    for block in (7, 65537):
        events = []
        assert _vein_and_artery(block, on_event=events.append).to_dict(trace=True) == ref
        assert events == ref_events


def test_long_reflux_of_a_single_vessel_with_its_mirror_image_is_kept_whole():
    """8 s of reflux after antegrade flow, with a -15 dB mirror image (I/Q imbalance):
    the vein is one vessel, its reflux is not taken for a persistent second one."""
    z = (_vessel([(0.0, 3.0), (11.0, 12.0)], 100.0, 500.0, 1e-3, 1, 12.0)
         + _vessel([(3.0, 11.0)], -400.0, -100.0, 1e-3, 2, 12.0))
    rng = np.random.default_rng(5)
    z = z + 10 ** (-15 / 20) * np.conj(z)
    z = z + (rng.standard_normal(len(z)) + 1j * rng.standard_normal(len(z))) * 2e-4
    a = df.analyze(iq(z).astype(np.float32), sample_rate_hz=FS, vessel="ijv",
                   antegrade="toward")
    assert a.reflux is True and len(a.reflux_events) == 1
    ev = a.reflux_events[0]
    assert ev.start_s == pytest.approx(3.0, abs=0.03)
    assert ev.end_s == pytest.approx(11.0, abs=0.03)


def test_mirror_image_of_a_single_vessel_is_not_a_second_vessel():
    """Femoral reflux with slow ramps and a -14 dB mirror image (3 dB, 15 degrees of I/Q
    imbalance) at 30 dB: the image of the antegrade flow shares its spectrum, so it does
    not establish a persistent vessel that would move the reflux's end (130 ms if it did)."""
    from dopplerflow.score import score
    from dopplerflow.synth import synthesize, to_layout

    syn = synthesize("femoral_reflux", snr_db=30, seed=0, iq_imbalance=(3.0, 15.0))
    fs = syn.sample_rate_hz
    a = df.analyze(to_layout(syn.baseband, "iq", fs), sample_rate_hz=fs, vessel="femoral",
                   antegrade=syn.truth["antegrade"])
    s = score(a.to_dict(trace=True), syn.truth)
    assert a.reflux is True
    assert s["median_abs_end_error_s"] < 0.03


@pytest.mark.parametrize("fs", [8000, 44100, 96000, 192000])
def test_max_frequency_of_band_limited_flow(fs):
    """Speckle with a sharp spectral edge at 1.2 kHz: the max envelope finds it."""
    n = int(fs * 1.0)
    z = band_noise(n, fs, 150.0, 1200.0, power=1e-2, noise_rms=1e-2 * 10 ** (-20 / 20) * 8,
                   seed=3)
    a = df.analyze(z, sample_rate_hz=fs, antegrade="toward")
    fmax_hz = np.median(a.trace.antegrade_max_cm_s[a.trace.flow]) / SCALE
    bin_hz = a.summary["bin_hz"]
    # the edge is placed to a fraction of a bin; one bin is the resolution of the spectrum
    assert abs(fmax_hz - 1200.0) <= bin_hz
    assert a.trace.flow.mean() > 0.95


@pytest.mark.parametrize("snr_db", [12.0, 7.0])
def test_max_frequency_of_a_flat_band_at_low_snr(snr_db):
    """A flat band at a low in-band SNR: speckle fades the outer bins of many frames
    below the detection threshold, yet they stand well above the noise; the edge
    is still found to within a bin, not at the fade."""
    band_hz, power = 1050.0, 1e-2
    noise_rms = np.sqrt(power * FS / (band_hz * 10 ** (snr_db / 10)))  # SNR per bin
    z = band_noise(FS * 4, FS, 150.0, 150.0 + band_hz, power=power, noise_rms=noise_rms,
                   seed=3)
    a = df.analyze(z, sample_rate_hz=FS, antegrade="toward")
    fmax_hz = np.median(a.trace.antegrade_max_cm_s[a.trace.flow]) / SCALE
    assert abs(fmax_hz - 1200.0) <= a.summary["bin_hz"]


@pytest.mark.parametrize("edge_hz", [430.0, 612.0, 875.0])
def test_max_frequency_of_a_pile_up_at_the_edge(edge_hz):
    """All the power piled up in the last quarter bin below the edge (a plug profile):
    the edge is the pile-up's peak, not where the window's kernel has spread it to half
    its level, a bin further out (Hann power kernel with the triangular sum)."""
    z = band_noise(FS * 2, FS, edge_hz - 25.0, edge_hz, power=1e-2,
                   noise_rms=1e-2 * 10 ** (-20 / 20) * 8, seed=3)
    a = df.analyze(z, sample_rate_hz=FS, antegrade="toward")
    fmax_hz = np.median(a.trace.antegrade_max_cm_s[a.trace.flow]) / SCALE
    # the peak is placed from three bin sums: to within half a bin
    assert abs(fmax_hz - edge_hz) <= 0.5 * a.summary["bin_hz"]


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


def test_noisy_frames_do_not_spike_the_envelope(rng):
    """At 3 dB in-band SNR no frame's envelope jumps far above the flow band."""
    n = FS * 4
    z = band_noise(n, FS, 150.0, 1000.0, power=1e-3, seed=5)
    band_fraction = (1000 - 150) / FS
    noise_power = 1e-3 / band_fraction / 10 ** (3 / 10)  # in-band SNR 3 dB
    z += (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * math.sqrt(noise_power / 2)
    a = df.analyze(z, sample_rate_hz=FS, antegrade="toward")
    analysed = np.isfinite(a.trace.velocity_cm_s)
    top = a.trace.antegrade_max_cm_s[analysed] / SCALE
    assert np.all(top <= 1000 + 4 * a.summary["bin_hz"])
    assert np.all(a.trace.retrograde_max_cm_s[analysed] == 0)


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


# ----------------------------------------------------------------- settings
def test_settings_validation_messages():
    with pytest.raises(df.SettingsError, match=r"angle 95 degrees is outside \[0, 90\)"):
        df.Settings(angle_deg=95).validate()
    with pytest.raises(df.SettingsError, match=r"carrier 50 MHz is outside 1-20 MHz"):
        df.Settings(carrier_hz=50e6).validate()
    with pytest.raises(df.SettingsError, match="layout 'xy' is not known; use one of iq, qi"):
        df.Settings(layout="xy").validate()
    with pytest.raises(df.SettingsError, match="vessel 'aorta' is not known"):
        df.Settings(vessel="aorta").validate()
    with pytest.raises(df.SettingsError, match="needs --offset-hz"):
        df.Settings(layout="offset").validate(8000)
    assert df.Settings(angle_deg=75).validate()[0].startswith("angle 75 degrees is above 70")
    assert df.Settings(vessel="femoral").threshold_s == 1.0
    assert df.Settings(vessel="femoral", reflux_threshold_s=0.7).threshold_s == 0.7
    assert df.Settings(vessel="artery").threshold_s is None


def test_slow_flow_presets_halve_the_bin():
    """The slow-flow vein presets analyse with a 20 ms window (50 Hz bins); an explicit
    window wins; the result states the window in force."""
    assert df.Settings().analysis_window_s == df.Settings(vessel="ijv").analysis_window_s == 0.010
    for vessel in ("vv", "dcv", "calf", "perforator"):
        assert df.Settings(vessel=vessel).analysis_window_s == 0.020
    assert df.Settings(vessel="perforator", window_s=0.012).analysis_window_s == 0.012
    z = band_noise(FS * 2, FS, 150.0, 600.0, power=1e-2, noise_rms=1e-3, seed=1)
    slow = df.analyze(z, sample_rate_hz=FS, vessel="perforator", antegrade="toward")
    assert slow.summary["bin_hz"] == pytest.approx(50.0)
    assert slow.to_dict()["settings"]["window_s"] == 0.020
    given = df.analyze(z, sample_rate_hz=FS, vessel="perforator", antegrade="toward",
                       window_s=0.010)
    assert given.summary["bin_hz"] == pytest.approx(100.0)
    assert given.to_dict()["settings"]["window_s"] == 0.010


def test_doppler_equation():
    # v = c f / (2 f0 cos a): 1 kHz at 8 MHz and 60 degrees is 19.25 cm/s
    assert cm_s_per_hz(8e6, 60.0) * 1000 == pytest.approx(100 * 1540 * 1000 / (2 * 8e6 * 0.5))
    assert cm_s_per_hz(4e6, 0.0, 1540.0) == pytest.approx(100 * 1540 / 8e6)


@pytest.mark.parametrize("block", [7, 4096])
def test_result_without_trace_is_the_same(block):
    """keep_trace=False keeps memory flat and changes nothing but the trace."""
    z = chirp_tones([(0.7, 700.0), (0.02, 0.0), (1.0, -500.0), (0.3, 300.0)], FS,
                    noise_rms=0.05, seed=4)
    x = iq(z).astype(np.float32)
    full = df.analyze(x, sample_rate_hz=FS, vessel="ijv", block_size=block)
    lean = df.analyze(x, sample_rate_hz=FS, vessel="ijv", block_size=block, keep_trace=False)
    assert lean.to_dict() == full.to_dict()
    assert len(lean.trace) == 0 and len(full.trace) == full.summary["n_frames"]
    # the running totals agree with the trace they were not kept for
    assert full.summary["flow_fraction"] == round(float(full.trace.flow.mean()), 4)
    assert full.summary["peak_antegrade_velocity_cm_s"] == \
        round(float(np.nanmax(full.trace.antegrade_max_cm_s)), 2)


def test_flow_runs_total_matches_a_plain_count(rng):
    from dopplerflow.core.rows import Totals

    flow = np.repeat(rng.random(400) < 0.5, rng.integers(1, 12, 400))
    rows = np.zeros((len(flow), 6), np.float32)
    rows[flow, 0] = 300.0
    tot = Totals(min_run=6)
    for i in range(0, len(rows), 37):
        tot.update(rows[i:i + 37])
    f = np.concatenate(([0], flow.astype(int), [0]))
    edges = np.flatnonzero(np.diff(f))
    runs = edges[1::2] - edges[0::2]
    assert tot.flow_s(1.0) == runs[runs >= 6].sum()
    assert tot.flow == flow.sum() and tot.n == len(flow)


def test_bridged_median_rows_do_not_depend_on_the_blocks(rng):
    # a dropout that is bridged only once the row after it arrives: the running median of
    # the rows handed out before must already count the bridged values, as in one pass
    from dopplerflow.core.rows import SMOOTH_HALF, Bridger

    max_gap = 12
    rows = np.zeros((400, 6), np.float32)
    rows[:, 0] = 100.0 + 10.0 * rng.random(400).astype(np.float32)
    rows[:, 1:3] = 1.0
    for g0, n in ((50, 3), (137, max_gap - 1), (230, max_gap), (311, max_gap + 1)):
        rows[g0:g0 + n, 0:3] = 0.0  # bridged but the last
    whole = Bridger(max_gap)(rows.copy(), final=True)
    for block in (1, 2, SMOOTH_HALF + 1, max_gap, max_gap + 1, 97):
        b = Bridger(max_gap)
        parts = [b(rows[i:i + block].copy()) for i in range(0, len(rows), block)]
        parts.append(b(np.zeros((0, 6), np.float32), final=True))
        np.testing.assert_array_equal(np.concatenate(parts), whole)


def _edge_tracker(threshold_s=0.5):
    """A tracker with the edge extrapolation of the default analysis at 16 kHz."""
    proc = df.Processor(df.Settings(), 16000, 2)
    t = proc.tracker
    return RefluxTracker(t.hop_s, t.t0_s, SCALE, threshold_s, edge_rows=t._fit.shape[2],
                         floor_hz=t._floor_hz, shown_hz=t._shown_hz), t._floor_hz


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
