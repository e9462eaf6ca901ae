"""Impulses: clicks and probe taps do not become flow peaks; they are counted."""

from pathlib import Path

import numpy as np
import pytest
from conftest import band_noise, iq

import dopplerflow as df
from dopplerflow.core import impulses
from dopplerflow.core.velocity import cm_s_per_hz

FS = 8000
SCALE = cm_s_per_hz(8e6, 60.0)
CLICKS_S = (0.9, 1.7, 2.45, 3.3, 4.2)


def _flow(n_s=5.0, seed=0):
    """Flow toward the probe to 900 Hz at 15 dB in-band SNR."""
    n = int(n_s * FS)
    rng = np.random.default_rng(seed)
    z = band_noise(n, FS, 150.0, 900.0, power=1e-3, seed=seed + 1)
    n0 = 1e-3 / 750.0 / 10 ** 1.5
    z = z + np.sqrt(n0 * FS / 2) * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    return iq(z).astype(np.float32)


def test_clicks_are_counted_and_are_no_flow_peaks():
    """Five taps on the probe (one sample each, 50 times the flow's amplitude, on both
    channels): each is broadband for the two frames that hold it.  They are counted,
    and the flow's peak and envelope are those of the recording without them."""
    x = _flow()
    clicked = x.copy()
    for t in CLICKS_S:
        clicked[int(t * FS)] += 0.8
    ref = df.analyze(x, sample_rate_hz=FS, antegrade="toward")
    a = df.analyze(clicked, sample_rate_hz=FS, antegrade="toward")
    assert a.to_dict()["impulses"] == len(CLICKS_S)
    (msg,) = [w for w in a.warnings if "impulse" in w]
    assert msg.startswith(f"{len(CLICKS_S)} impulse(s)")
    bin_cm_s = a.summary.velocity_resolution_cm_s
    assert a.summary.peak_antegrade_velocity_cm_s == pytest.approx(
        ref.summary.peak_antegrade_velocity_cm_s, abs=bin_cm_s)
    # around each click the maximum envelope stays on the flow's edge (two bins: the
    # window's main lobe)
    t = a.trace.time_s
    near = np.any([np.abs(t - c) < 0.03 for c in CLICKS_S], axis=0)
    assert np.nanmax(a.trace.antegrade_max_cm_s[near]) / SCALE < 900 + 2 * a.summary.bin_hz


def _with_bursts(x, starts, seed):
    """``x`` with bursts of 6 ms (complex white noise 30 dB over the flow's power, 0.5 ms
    raised-cosine edges) from each of ``starts`` (s)."""
    x = x.copy()
    rng = np.random.default_rng(seed + 10)
    m = int(0.006 * FS)
    edge = int(0.0005 * FS)
    env = np.ones(m)
    env[:edge] = env[-edge:][::-1] = 0.5 - 0.5 * np.cos(np.pi * (np.arange(edge) + 0.5) / edge)
    power = 1e-3 * 10 ** 3.0
    for t0 in starts:
        i0 = int(t0 * FS)
        burst = np.sqrt(power / 2) * env[:, None] * rng.standard_normal((m, 2))
        x[i0:i0 + m] += burst.astype(np.float32)
    return x


@pytest.mark.parametrize("seed", [0, 1])
def test_bursts_are_left_out_with_the_frames_their_window_edges_touch(seed):
    """Five taps of 6 ms (complex white noise, 30 dB over the flow's power, 0.5 ms
    raised-cosine edges), each starting at another point of the hop: the frames whose
    window holds only a burst's first or last millisecond under its tapered edge are not
    broadband, but every bin rises.  Around each tap the maximum envelope stays on the
    flow's edge (two bins: the window's main lobe) and reads no more retrograde flow than
    the recording without them."""
    x = _flow(seed=seed)
    ref = df.analyze(x, sample_rate_hz=FS, antegrade="toward")
    starts = [c + 0.001 * k + 0.0003 * seed for k, c in enumerate(CLICKS_S)]
    x = _with_bursts(x, starts, seed)
    a = df.analyze(x, sample_rate_hz=FS, antegrade="toward")
    assert a.to_dict()["impulses"] == len(CLICKS_S)
    t = a.trace.time_s
    near = np.any([np.abs(t - c) < 0.03 for c in starts], axis=0)
    assert np.nanmax(a.trace.antegrade_max_cm_s[near]) / SCALE < 900 + 2 * a.summary.bin_hz
    # no more retrograde flow than noise alone reads anywhere in the recording without them
    assert np.nanmax(np.nan_to_num(a.trace.retrograde_max_cm_s[near])) <= np.nanmax(
        np.nan_to_num(ref.trace.retrograde_max_cm_s))


def test_bursts_give_the_same_result_whatever_the_blocks():
    """An impulse's replacement comes from the clean frames before it, kept across the
    noise tracker's calls: bursts at every point of the hop give the same result for
    any block size."""
    starts = [c + 0.0013 * k for k, c in enumerate(CLICKS_S)]
    d = _same_whatever_the_blocks(_with_bursts(_flow(n_s=4.5), starts, 0))
    assert d["impulses"] == len(CLICKS_S)


def _same_whatever_the_blocks(x):
    """The JSON of ``x``'s analysis (with its trace), the same for blocks of 1, 7, 997 and
    65537 frames."""
    ref = None
    for block in (1, 7, 997, 65537):
        d = df.analyze(x, sample_rate_hz=FS, antegrade="toward",
                       block_size=block).to_dict(trace=True)
        if ref is None:
            ref = d
        assert d == ref, f"block size {block} changed the result"
    return ref


def test_a_long_broadband_burst_is_no_impulse():
    """Half a second of loud broadband noise (a cable rubbed, speech) is longer than an
    impulse: not counted, and not taken out of the spectrum."""
    x = _flow()
    rng = np.random.default_rng(9)
    i0, i1 = int(2.0 * FS), int(2.5 * FS)
    x[i0:i1] += 0.1 * rng.standard_normal((i1 - i0, 2)).astype(np.float32)
    a = df.analyze(x, sample_rate_hz=FS, antegrade="toward", keep_spectrogram=True)
    assert a.to_dict()["impulses"] == 0
    # its frames stay as they were: the burst's power (20 dB over the band's noise) is in
    # the spectrum, not a copy of the frame before it
    t = a.trace.time_s
    power = a.spectrogram.mean(axis=1)
    assert power[(t > 2.1) & (t < 2.4)].min() > 10 * np.median(power[t < 1.9])


def test_broadband_fraction_of_noise_and_of_a_click(rng):
    n = 256
    inv = np.ones(n, np.float32)
    inb = np.ones(n, np.float32)
    n_in = impulses._upper_count(inb, 0, 1, n, n - 1)
    assert n_in == n - n // 2  # the upper half-band
    noise = rng.exponential(1.0, n).astype(np.float32)
    f = impulses._broadband_fraction(noise, inv, n_in, 1.0, 0, 1, n, n - 1, impulses.IMPULSE_X)
    # exp(-3) = 5 % of noise bins pass, 32 of them counted: within 3 sigma
    assert f < np.exp(-impulses.IMPULSE_X) + 3 * np.sqrt(0.05 * 0.95 / 32)
    click = (noise + 10.0).astype(np.float32)  # 10 dB over the floor in every bin
    assert impulses._broadband_fraction(click, inv, n_in, 1.0, 0, 1, n, n - 1,
                                        impulses.IMPULSE_X) == 1.0
    # no bin in the band: none counted
    out = np.zeros(n, np.float32)
    assert impulses._upper_count(out, 0, 1, n, n - 1) == 0
    assert impulses._broadband_fraction(click, out, 0, 1.0, 0, 1, n, n - 1, 3.0) == -1.0
    # half the upper half-band out of the band, on a descending direction (step -1): the
    # click stands in the other half, the bins out of it (0 whitened) never count
    half = np.ones(n, np.float32)
    half[:n // 4] = 0.0
    n_half = impulses._upper_count(half, n - 1, -1, n, n - 1)
    assert n_half == n // 4
    assert impulses._broadband_fraction(click, inv * half, n_half, 1.0, n - 1, -1, n, n - 1,
                                        impulses.IMPULSE_X) == 1.0


def test_a_mono_click_is_counted_and_a_systolic_peak_is_not(tmp_path):
    """One direction: the bundled artery (80 cm/s systolic peaks, 4.2 kHz of a 5.5 kHz
    band: past the middle of the upper half-band, short of its top quarter) holds no
    click; the same recording with five taps added holds five."""
    import soundfile as sf

    path = Path(__file__).resolve().parent.parent / "samples" / "artery_mono.flac"
    x, fs = sf.read(path, dtype="float32")
    a = df.analyze(x, sample_rate_hz=fs, layout="mono")
    assert a.impulses == 0 and not [w for w in a.warnings if "impulse" in w]
    clicked = x.copy()
    for t in CLICKS_S:  # in diastole, in systole alike
        clicked[int(t * fs)] += 0.8
    assert df.analyze(clicked, sample_rate_hz=fs, layout="mono").impulses == len(CLICKS_S)


def test_top_fraction_of_noise_flow_and_a_click(rng):
    n = 64
    inv = np.ones(n, np.float32)
    inb = np.ones(n, np.float32)
    noise = rng.exponential(1.0, n).astype(np.float32)
    flow = noise.copy()
    flow[:52] += 30.0  # flow up to 52 of 64 bins: past the upper half's middle (48)
    click = (noise + 10.0).astype(np.float32)
    args = (0, 1, n, n - 1, impulses.IMPULSE_X)
    assert impulses._broadband_fraction(flow, inv, 32, 1.0, *args) > impulses.IMPULSE_FRACTION
    assert impulses._top_fraction(flow, inv, inb, 1.0, *args) < impulses.IMPULSE_FRACTION
    assert impulses._top_fraction(click, inv, inb, 1.0, *args) == 1.0
    assert impulses._top_fraction(click, inv, np.zeros(n, np.float32), 1.0, *args) == -1.0


def test_steps_are_the_frames_whose_window_holds_a_step():
    """Flow that stops at once against noise 30 dB under it (8 kHz: windows of 80 samples,
    hop 40): the frame whose window holds the step at its middle has halves some 30 dB
    apart and holds a step; the frames of the flow itself (band noise, its halves of 40
    samples within a few dB of each other) and of the noise do not."""
    x = _flow(2.0).astype(np.float64)
    n = len(x)
    rng = np.random.default_rng(5)
    x[n // 2:] = np.sqrt(1e-3 * 1e-3 / 2) * rng.standard_normal((n - n // 2, 2))
    w, hop = 80, 40
    frames = np.arange((n - w) // hop + 1) * hop
    p = (x ** 2).sum(axis=1)
    halves = np.array([[p[s:s + w // 2].sum(), p[s + w // 2:s + w].sum()] for s in frames],
                      np.float32)
    got = np.nonzero(impulses.steps(halves))[0]
    np.testing.assert_array_equal(got, [(n // 2 - w // 2) // hop])


def test_steps_are_numpys_test_of_the_halves_in_float32():
    """The one-pass test of the halves is numpy's ``maximum > STEP_X * minimum`` in float32,
    at the ratio's edge, for silence and for non-finite powers too."""
    rng = np.random.default_rng(2)
    a = rng.exponential(1.0, 4000).astype(np.float32)
    b = (a * np.float32(impulses.STEP_X) * rng.uniform(0.99, 1.01, 4000)).astype(np.float32)
    halves = np.stack((a, b), axis=1)
    halves[::2] = halves[::2, ::-1]
    edge = np.array([[0, 0], [0, 1e-30], [1, 1], [np.inf, np.inf], [np.inf, 1], [np.nan, 1],
                     [1, np.nan], [1, np.float32(impulses.STEP_X)]], np.float32)
    halves = np.concatenate((halves, edge))
    x, y = halves[:, 0], halves[:, 1]
    want = np.maximum(x, y) > impulses.STEP_X * np.minimum(x, y)
    got = impulses.steps(halves)
    assert 1000 < got.sum() < 3000  # both sides of the ratio
    np.testing.assert_array_equal(got, want)


def _gsv(fs=16000):
    """The simulator's great saphenous vein with two refluxes (2.36-4.27 s and
    8.36-10.25 s), I/Q at ``fs``, its peak at half full scale."""
    from dopplerflow.sim.synth import synthesize, to_layout

    syn = synthesize("gsv_squeeze_reflux", sample_rate_hz=fs, seed=0)
    x = np.asarray(to_layout(syn.baseband, "iq", fs), np.float64)
    return (x * (0.5 / np.abs(x).max())).astype(np.float32)


def _gsv_result(x, fs=16000, **kwargs):
    return df.analyze(x, sample_rate_hz=fs, vessel="gsv", layout="iq", antegrade="toward",
                      **kwargs)


@pytest.mark.parametrize("start_s, dur_s, rms", [(3.0, 0.1, 0.01), (3.0, 0.3, 0.1),
                                                  (5.0, 0.1, 0.003), (5.0, 0.3, 0.03)])
def test_broadband_noise_is_not_read(start_s, dur_s, rms):
    """The probe rubbed for 0.1 or 0.3 s (complex white noise over the whole band, from
    33 dB under the power of the wall echoes to as much), inside the first reflux or
    between the two.  Read, its noise stood at the band's top both ways (the summary's
    peaks 151 and 153 cm/s, the band's top), it left tonal lines that are not there in the
    noise floor, and, read into the level, the noise after it read as flow: inside the
    reflux it split the 1.91 s reflux in two (the first 0.74 or 0.87 s long), each short of
    a femoral vein's 1 s.  Now its rows are not read (NaN) and the level is left as it was:
    the reflux is one, within a hop of the recording's without the noise, and marked
    affected_by_gap; the peaks, the summary's and the events', are the recording's, within
    a bin (the noise's first 30 ms, replaced by a copy of the last clean frame, read 87 cm/s
    over the 20 cm/s reflux: a row of three copies holds one frame's noise; replaced by the
    mean of the last two, they read the reflux)."""
    fs = 16000
    x0 = _gsv(fs)
    clean = _gsv_result(x0)
    x = x0.copy()
    i0, n = int(start_s * fs), int(dur_s * fs)
    x[i0:i0 + n] += rms * np.random.default_rng(1).standard_normal((n, 2)).astype(np.float32)
    a = _gsv_result(x)
    hop = a.summary.hop_s
    assert len(a.reflux_events) == len(clean.reflux_events) == 2
    for got, ref in zip(a.reflux_events, clean.reflux_events, strict=True):
        assert abs(got.start_s - ref.start_s) <= hop and abs(got.end_s - ref.end_s) <= hop
        assert got.affected_by_gap == (got.start_s < start_s < got.end_s)
    res = a.summary.velocity_resolution_cm_s
    for key in ("peak_antegrade_velocity_cm_s", "peak_retrograde_velocity_cm_s"):
        assert abs(getattr(a.summary, key) - getattr(clean.summary, key)) <= res
    for got, ref in zip(a.reflux_events, clean.reflux_events, strict=True):
        assert abs(got.peak_velocity_cm_s - ref.peak_velocity_cm_s) <= res
    # the noise's rows are not read, from its first frames past an impulse's length
    t = a.trace.time_s
    inside = (t > start_s + impulses.IMPULSE_MAX_S + hop) & (t < start_s + dur_s - hop)
    assert np.isnan(a.trace.antegrade_max_cm_s[inside]).all()
    assert not a.trace.flow[inside].any()
    spans = [(s["start_s"], s["end_s"]) for s in a.artefacts if s["kind"] == "broadband"]
    assert len(spans) == 1
    assert spans[0][0] <= start_s + impulses.IMPULSE_MAX_S + 2 * hop
    assert abs(spans[0][1] - (start_s + dur_s)) <= 3 * hop
    assert any("broadband noise" in w for w in a.warnings)


def test_broadband_noise_not_read_whatever_the_blocks():
    """The frames not read, and the level left as it was over them, do not depend on the
    blocks the samples come in."""
    x = _flow(n_s=3.0)
    rng = np.random.default_rng(3)
    i0, i1 = int(1.0 * FS), int(1.25 * FS)
    x[i0:i1] += 0.1 * rng.standard_normal((i1 - i0, 2)).astype(np.float32)
    d = _same_whatever_the_blocks(x)
    assert [a["kind"] for a in d["artefacts"]] == ["broadband"]


def test_broadband_noise_in_a_mono_recording_is_read():
    """With one direction there is no second side to tell noise from flow by (the
    precordial recordings' heart sounds are broadband too): its rows are read."""
    x = _flow(n_s=3.0)[:, :1].copy()
    rng = np.random.default_rng(3)
    i0, i1 = int(1.0 * FS), int(1.25 * FS)
    x[i0:i1] += 0.1 * rng.standard_normal((i1 - i0, 1)).astype(np.float32)
    a = df.analyze(x, sample_rate_hz=FS, layout="mono")
    assert a.artefacts is None
    t = a.trace.time_s
    assert np.isfinite(a.trace.antegrade_max_cm_s[(t > 1.05) & (t < 1.2)]).all()
