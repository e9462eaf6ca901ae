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
