"""Stationary tonal lines: found and left out; a short tone, mains hum and slow steady
flow are not taken for lines."""

from pathlib import Path

import numpy as np
import pytest
from conftest import band_noise, iq

import dopplerflow as df
from dopplerflow.core import tones
from dopplerflow.core.velocity import cm_s_per_hz

FS = 8000
SCALE = cm_s_per_hz(8e6, 60.0)
SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _flow_and_tone(tone_hz, tone_s, n_s=8.0, seed=0):
    """Flow toward the probe to 800 Hz (10 dB in-band), with a steady tone 20 dB above the
    noise of its bin for ``tone_s`` from the start."""
    n = int(n_s * FS)
    rng = np.random.default_rng(seed)
    z = band_noise(n, FS, 150.0, 800.0, power=1e-3, seed=seed + 1)
    n0 = 1e-3 / 650.0 / 10.0  # noise power a Hz
    z = z + np.sqrt(n0 * FS / 2) * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    t = np.arange(n) / FS
    amp = np.sqrt(n0 * 100.0 * 10 ** 2.0)  # 20 dB over a 100 Hz bin's noise
    z = z + amp * np.exp(2j * np.pi * tone_hz * t) * (t < tone_s)
    return iq(z).astype(np.float32)


def test_a_steady_line_is_found_and_left_out():
    """An interference line at +2 kHz, far above the flow, for the whole 8 s: once it has
    held its bin for LINE_HOLD_S, no flow is read at it; the result names it."""
    a = df.analyze(_flow_and_tone(2000.0, 8.0), sample_rate_hz=FS, antegrade="toward")
    d = a.to_dict()
    bin_hz = a.summary.bin_hz
    (f,) = d["tonal_lines_hz"]
    assert f == pytest.approx(2000.0, abs=bin_hz / 2)
    (msg,) = [w for w in a.warnings if "stationary tonal line" in w]
    assert "+2000 Hz" in msg
    fmax = a.trace.antegrade_max_cm_s / SCALE
    t = a.trace.time_s
    # a sub-window (0.75 s) and LINE_HOLD_S after the start, the line is out: the maximum
    # envelope is the flow's edge (within two bins: the window's main lobe)
    late = t > tones.LINE_HOLD_S + 1.5
    assert np.nanmax(fmax[late]) < 800.0 + 2 * bin_hz
    # before, the line read as flow: the stage is what takes it out
    assert np.nanmax(fmax[t < 1.0]) > 1900.0


def test_the_peak_speed_is_not_read_on_a_line_known_late():
    """The line of :func:`test_a_steady_line_is_found_and_left_out` read as flow for its
    first 2.5 s, until it was known: the summary's peak speed leaves those rows out, and is
    the flow's, as without the line (before: the line's, 2000 Hz)."""
    bin_hz = FS / 80  # 10 ms window
    line = df.analyze(_flow_and_tone(2000.0, 8.0), sample_rate_hz=FS, antegrade="toward")
    assert line.tonal_lines_hz == [pytest.approx(2000.0, abs=bin_hz / 2)]
    assert np.nanmax(line.trace.antegrade_max_cm_s) > 1900.0 * SCALE  # it stood on the line
    flow = df.analyze(_flow_and_tone(2000.0, 0.0), sample_rate_hz=FS, antegrade="toward")
    assert flow.tonal_lines_hz == []
    peak = line.summary.peak_antegrade_velocity_cm_s
    assert peak < (800.0 + 2 * bin_hz) * SCALE
    assert peak == pytest.approx(flow.summary.peak_antegrade_velocity_cm_s, abs=bin_hz * SCALE)


def _flow_and_real_tone(tone_hz, n_s=6.0, seed=0, tone=True):
    """The flow of :func:`_flow_and_tone` with a tone picked up on the signal lines: real
    and the same on both channels, so at ``+f`` and ``-f`` of the baseband, each side 20
    dB above the noise of its bin (``tone`` False: the same recording without it)."""
    n = int(n_s * FS)
    rng = np.random.default_rng(seed)
    z = band_noise(n, FS, 150.0, 800.0, power=1e-3, seed=seed + 1)
    n0 = 1e-3 / 650.0 / 10.0
    z = z + np.sqrt(n0 * FS / 2) * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    x = iq(z)
    t = np.arange(n) / FS
    amp = 2.0 * np.sqrt(n0 * 100.0 * 10 ** 2.0)
    if tone:
        x = x + (amp * np.cos(2 * np.pi * tone_hz * t + 0.4))[:, None]
    return x.astype(np.float32)


def test_a_tone_on_both_channels_is_a_line_from_the_first_rows():
    """A tone on the signal lines stands at +2 kHz and -2 kHz at once, the same level:
    no flow does that, so it is a line from the warm-up on, long before LINE_HOLD_S.  From
    the first row to the last, the envelopes are those of the recording without it (the
    flow's own, up to a bin: the tone's bins are left out), and no row reads retrograde
    flow at it."""
    a = df.analyze(_flow_and_real_tone(2000.0), sample_rate_hz=FS, antegrade="toward")
    ref = df.analyze(_flow_and_real_tone(2000.0, tone=False), sample_rate_hz=FS,
                     antegrade="toward")
    bin_hz = a.summary.bin_hz
    lines = a.to_dict()["tonal_lines_hz"]
    assert sorted(lines) == pytest.approx([-2000.0, 2000.0], abs=bin_hz / 2)
    for name in ("antegrade_max_cm_s", "retrograde_max_cm_s"):
        got = np.nan_to_num(getattr(a.trace, name)) / SCALE
        want = np.nan_to_num(getattr(ref.trace, name)) / SCALE
        assert got.max() <= want.max() + bin_hz, name
        assert np.mean(np.abs(got - want) <= bin_hz) > 0.99, name
    assert not any("two vessels" in w for w in a.warnings)


def test_a_mono_streams_line_is_left_out_from_its_first_rows():
    """A mono probe's audio (one channel) with a line at 2 kHz from the start: no mirror
    tells it, so it is held only after LINE_HOLD_S, and the stream's first rows wait for
    the noise shape of the sub-window that holds it.  No row reads flow at the line or
    its leakage (LINE_REACH bins), from the first on; the flow is read in the rows that
    waited as after them.  A line that begins after the wait is read as flow until it is
    held."""
    x = _flow_and_real_tone(2000.0, n_s=8.0)[:, :1]
    a = df.analyze(x, sample_rate_hz=FS, layout="mono")
    bin_hz = a.summary.bin_hz
    assert a.to_dict()["tonal_lines_hz"] == pytest.approx([2000.0], abs=bin_hz / 2)
    fmax = np.nan_to_num(a.trace.antegrade_max_cm_s) / SCALE
    t = a.trace.time_s
    below_line = 2000.0 - tones.LINE_REACH * bin_hz
    assert fmax.max() < below_line
    waited = t < tones.LINE_HOLD_S
    assert np.mean(a.trace.flow[waited]) > 0.5
    assert np.median(fmax[waited & a.trace.flow]) > 500.0  # the flow reaches 800 Hz
    # the same line switched on at 4 s reads as flow before it is held
    late = _flow_and_real_tone(2000.0, n_s=8.0, tone=False)[:, :1]
    on = np.arange(len(x)) / FS >= 4.0
    late[on] = x[on]
    b = df.analyze(late, sample_rate_hz=FS, layout="mono")
    fmax = np.nan_to_num(b.trace.antegrade_max_cm_s) / SCALE
    assert fmax[b.trace.time_s < 3.9].max() < below_line
    assert fmax[b.trace.time_s > 4.1].max() > below_line


@pytest.mark.parametrize(("other_db", "other_peak", "pair"),
                         [(0.0, True, True), (-3.0, True, True), (-3.0, False, False),
                          (-20.0, True, False)])
def test_mirrored_peaks_of_one_level_are_a_pair(other_db, other_peak, pair):
    """A peak and a narrow local maximum at its mirror bin (twice over the bins two away),
    within LINE_STEADY_DB of its level, are a pair (the other side need not stand out
    from the bins 3 to 6 away: flow may lie around it there); a peak's image 20 dB down
    (the channels' imbalance) is none, nor a mirror bin on a slope (flow's edge)."""
    n = 64
    mirror = np.full(n, -1, np.int64)
    mirror[1:] = n - np.arange(1, n)  # bin k holds +f, bin n - k holds -f
    mean = np.ones(n, np.float32)
    hit = np.zeros(n, np.int8)
    hit[20] = 1
    mean[20] = 100.0
    mean[44] = 100.0 * 10 ** (other_db / 10)
    if not other_peak:  # a slope through the mirror bin (flow's edge): no local maximum
        mean[40:50] = mean[44] * np.linspace(0.6, 1.5, 10)
    hit[30] = 1  # a peak without a mirrored one
    tones._mirror_hits(mean, mirror, 0, n, 10 ** (tones.LINE_STEADY_DB / 10), hit)
    assert (hit[20], hit[44]) == ((2, 2) if pair else (1, 0))
    assert hit[30] == 1


def test_a_tone_shorter_than_the_hold_is_no_line():
    """Two seconds of a steady tone is not held long enough to be a line."""
    a = df.analyze(_flow_and_tone(2000.0, 2.0), sample_rate_hz=FS, antegrade="toward")
    assert a.to_dict()["tonal_lines_hz"] == []
    assert not any("tonal line" in w for w in a.warnings)


def test_mains_hum_is_left_to_the_hum_removal():
    """The harmonics of 50 Hz mains fill every bin of a 100 Hz grid: no bin stands above
    its neighbours, so hum is no tonal line (``--hum`` removes it; the hum search says
    so)."""
    n = FS * 6
    t = np.arange(n) / FS
    rng = np.random.default_rng(3)
    hum = sum(0.003 / k * np.cos(2 * np.pi * 50.0 * k * t + k) for k in range(1, 60))
    x = hum[:, None] + 0.001 * rng.standard_normal((n, 2))
    a = df.analyze(x.astype(np.float32), sample_rate_hz=FS)
    assert a.to_dict()["tonal_lines_hz"] == []
    assert any("mains hum at 50 Hz" in w for w in a.warnings)


def test_slow_steady_flow_at_the_wall_band_is_no_line():
    """The great saphenous vein's resting flow (~3 cm/s) fills the first bins above the
    wall band, steady for seconds: flow, not a line (a line stands above bins on both
    sides)."""
    a = df.analyze(SAMPLES / "gsv_reflux_toward_away.flac", vessel="gsv",
                   layout="toward-away")
    assert a.to_dict()["tonal_lines_hz"] == []
    assert a.summary.flow_fraction > 0.9


def test_a_line_once_found_stays_out_while_flow_hides_it():
    """The steady line at +2 kHz of :func:`_flow_and_tone`, 12 s long; from 5 to 7 s flow
    to 3 kHz, 20 dB over the line's bin, hides it (the line no longer stands over its
    neighbours).  The line is the recorder's and goes on: when the strong flow ends, no
    flow is read at the line (before, it had lost its hold and read as flow at 2 kHz
    until it had held its bin again, some 2 s)."""
    n_s = 12.0
    x = _flow_and_tone(2000.0, n_s)
    n = len(x)
    t = np.arange(n) / FS
    wide = band_noise(n, FS, 150.0, 3000.0, power=1e-3 * 10 ** 2.0 * 2850 / 650, seed=7)
    x = x + iq(wide * ((t >= 5.0) & (t < 7.0))).astype(np.float32)
    a = df.analyze(x, sample_rate_hz=FS, antegrade="toward")
    bin_hz = a.summary.bin_hz
    assert [round(f, -2) for f in a.to_dict()["tonal_lines_hz"]] == [2000.0]
    fmax = a.trace.antegrade_max_cm_s / SCALE
    tt = a.trace.time_s
    assert np.nanmax(fmax[(tt > 5.2) & (tt < 6.8)]) > 2500.0  # the wide flow is read
    after = (tt > 7.2) & (tt < 9.5)
    assert np.nanmax(fmax[after]) < 800.0 + 2 * bin_hz
