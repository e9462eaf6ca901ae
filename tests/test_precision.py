"""Recordings without noise: what the float32 arithmetic leaves of a constant or a tone is
neither flow nor mains hum."""

import numpy as np
import pytest
import soundfile as sf

import dopplerflow as df
from dopplerflow.core.precision import PRECISION_DB, SampleGrid, grid_step, precision_floor
from dopplerflow.core.velocity import cm_s_per_hz


def _write(tmp_path, x, fs, subtype):
    p = tmp_path / f"{subtype.lower()}.wav"
    sf.write(p, x, fs, subtype=subtype)
    return p


@pytest.mark.parametrize("fs, subtype, level", [(8000, "PCM_16", 0.5), (8000, "FLOAT", 1.0),
                                                 (48000, "PCM_16", -0.25),
                                                 (48000, "PCM_16", 0.5)])
def test_a_constant_is_no_flow_and_no_hum(tmp_path, fs, subtype, level):
    """A file holding one value (a sound card's DC with nothing plugged in).  Before: flow
    in 98.5 % of the frames at 75 cm/s both ways (the rounding of the constant's spectrum
    read against a noise floor of -205 dBFS) and "mains hum ... -200 dBFS"; and, at 48 kHz,
    66 "stationary tonal lines" in that rounding (-206 dBFS)."""
    x = np.full((3 * fs, 2), level, np.float32)
    a = df.analyze(_write(tmp_path, x, fs, subtype))
    # past the wall filter, digital silence: no finding of flow or reflux
    assert a.flow_detected is None and a.reflux is None
    assert a.reflux_not_assessable == "the recording is near digital silence"
    assert a.summary.flow_fraction == 0.0 and a.summary.peak_antegrade_velocity_cm_s == 0.0
    assert not any("hum" in w for w in a.warnings), a.warnings
    assert not a.tonal_lines_hz and not any("tonal" in w for w in a.warnings), a.warnings
    assert any(w.startswith(f"mean level of {100 * level:+.1f}% of full scale on channel 1")
               for w in a.warnings)


TONE_HZ = 700.0


@pytest.mark.parametrize("subtype", ["FLOAT", "PCM_16", "PCM_24"])
def test_a_clean_tone_is_one_flow_toward_the_probe(tmp_path, subtype):
    """A complex tone at +700 Hz (13.5 cm/s toward the probe at 8 MHz and 60 degrees), 8 kHz,
    nothing else.  Before: a float file read right but warned of "mains hum ... -180
    dBFS"; a 16-bit file read as two vessels (peaks of 68 and 19 cm/s): the rounding of a
    periodic signal to 16 bits is lines at its harmonics (every 100 Hz here), about 100 dB
    under the tone, which stood over a floor of the quietest bins as flow both ways, and
    as mains hum.  No floor now lies under the samples' quantisation noise."""
    fs = 8000
    t = np.arange(3 * fs) / fs
    z = 0.5 * np.exp(2j * np.pi * TONE_HZ * t)
    a = df.analyze(_write(tmp_path, np.stack((z.real, z.imag), axis=1), fs, subtype),
                   keep_spectrogram=True)
    assert a.second_vessel is None and a.reflux_not_assessable is None
    if any("tone" in w.lower() for w in a.warnings):  # named for what it is
        return
    assert not any("hum" in w for w in a.warnings), a.warnings
    v = TONE_HZ * cm_s_per_hz(8e6, 60.0)
    bin_cm_s = a.summary.velocity_resolution_cm_s
    assert a.flow_detected and a.antegrade == "toward"
    assert a.summary.peak_retrograde_velocity_cm_s == 0.0
    # the maximum envelope of a pure tone holds the window's main lobe (limits.md: up to
    # 2 bins over it); the mean velocity is the tone's own
    assert v <= a.summary.peak_antegrade_velocity_cm_s <= v + 2 * bin_cm_s
    flow = a.trace.flow
    assert np.median(a.trace.mean_velocity_cm_s[flow]) == pytest.approx(v, abs=0.05 * bin_cm_s)


def test_the_floor_is_the_strongest_bin_precision_db_down():
    power = np.array([[1.0, 4.0, 2.0], [0.0, 0.0, 0.0]], np.float32)
    np.testing.assert_allclose(precision_floor(power), [4.0 * 10 ** (-PRECISION_DB / 10), 0.0])
    assert precision_floor(power[:0]).shape == (0,)


def test_the_sample_grid_is_the_coarsest_step_of_every_sample_so_far():
    rng = np.random.default_rng(0)
    pcm16 = (np.round(rng.standard_normal((1000, 2)) * 3000) / 32768).astype(np.float32)
    assert grid_step(pcm16) == 2.0 ** -15
    assert grid_step(pcm16 * np.float32(256)) == 2.0 ** -7
    assert grid_step(np.zeros((5, 2), np.float32)) == np.inf
    assert grid_step(np.array([np.nan, np.inf, 0.5], np.float32)) == 0.5
    g = SampleGrid()
    g.add(np.zeros((10, 2), np.float32))  # no value: no step yet
    for piece in np.array_split(pcm16, 7):  # the blocks do not matter
        g.add(piece)
    g.skip(5)
    g.add(rng.standard_normal((3, 2)).astype(np.float32))  # continuous samples: no grid
    assert g.step == 0.0
    # the step in force after the samples before each position
    np.testing.assert_array_equal(g.steps_at([0, 10, 11, 500, 1015, 2000]),
                                  [np.inf, np.inf, 2.0 ** -15, 2.0 ** -15, 2.0 ** -15, 0.0])
    assert 0.0 <= g.steps_at([1016])[0] < 2.0 ** -15


@pytest.mark.parametrize("bits", [8, 16])
def test_noise_under_the_quantisation_step_is_no_flow(tmp_path, bits):
    """A pure tone plus noise far under one quantisation step, rounded to the grid: what
    the rounding leaves besides the tone is the rounding's own noise, not flow."""
    fs = 8000
    t = np.arange(3 * fs) / fs
    rng = np.random.default_rng(3)
    step = 2.0 ** (1 - bits)
    z = 0.5 * np.exp(2j * np.pi * TONE_HZ * t) + 0.01 * step * (
        rng.standard_normal(len(t)) + 1j * rng.standard_normal(len(t)))
    x = np.round(np.stack((z.real, z.imag), axis=1) / step) * step
    a = df.analyze(x.astype(np.float32), sample_rate_hz=fs)
    assert a.second_vessel is None and a.summary.peak_retrograde_velocity_cm_s == 0.0
    v = TONE_HZ * cm_s_per_hz(8e6, 60.0)
    assert v <= a.summary.peak_antegrade_velocity_cm_s <= v + 2 * a.summary.velocity_resolution_cm_s
