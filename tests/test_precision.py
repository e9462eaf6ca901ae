"""Recordings without noise: what the float32 arithmetic leaves of a constant or a tone is
neither flow nor mains hum."""

import numpy as np
import pytest
import soundfile as sf

import dopplerflow as df
from dopplerflow.core.precision import PRECISION_DB, precision_floor
from dopplerflow.core.velocity import cm_s_per_hz


def _write(tmp_path, x, fs, subtype):
    p = tmp_path / f"{subtype.lower()}.wav"
    sf.write(p, x, fs, subtype=subtype)
    return p


@pytest.mark.parametrize("fs, subtype, level", [(8000, "PCM_16", 0.5), (8000, "FLOAT", 1.0),
                                                 (48000, "PCM_16", -0.25)])
def test_a_constant_is_no_flow_and_no_hum(tmp_path, fs, subtype, level):
    """A file holding one value (a sound card's DC with nothing plugged in).  Before: flow
    in 98.5 % of the frames at 75 cm/s both ways (the rounding of the constant's spectrum
    read against a noise floor of -205 dBFS) and "mains hum ... -200 dBFS"."""
    x = np.full((3 * fs, 2), level, np.float32)
    a = df.analyze(_write(tmp_path, x, fs, subtype))
    assert a.flow_detected is False and a.reflux is False
    assert a.summary.flow_fraction == 0.0 and a.summary.peak_antegrade_velocity_cm_s == 0.0
    assert not any("hum" in w for w in a.warnings), a.warnings
    assert any(w.startswith(f"mean level of {100 * level:+.1f}% of full scale on channel 1")
               for w in a.warnings)


TONE_HZ = 700.0


@pytest.mark.parametrize("subtype", [
    "FLOAT",
    pytest.param("PCM_16", marks=pytest.mark.xfail(
        strict=True, reason="the 16-bit quantisation of a pure tone at a sub-multiple of the "
                            "sample rate is periodic: lines in every bin, 100 dB under the tone, "
                            "too many to tell from a floor, read as flow both ways")),
])
def test_a_clean_tone_is_one_flow_toward_the_probe(tmp_path, subtype):
    """A complex tone at +700 Hz (13.5 cm/s toward the probe at 8 MHz and 60 degrees), 8 kHz,
    nothing else.  Before: a float file read right but warned of "mains hum ... -180
    dBFS"; a 16-bit file read as two vessels (peaks of 68 and 19 cm/s)."""
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
