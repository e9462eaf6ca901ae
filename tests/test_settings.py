"""Settings, vessel presets and the Doppler equation."""

import json

import numpy as np
import pytest
from common import FS
from conftest import band_noise

import dopplerflow as df
from dopplerflow.core.velocity import cm_s_per_hz


# ----------------------------------------------------------------- settings
def test_settings_validation_messages():
    with pytest.raises(df.SettingsError, match=r"angle --angle 95 \(Python: angle_deg=95\) is "
                                               r"outside \[0, 90\) degrees"):
        df.Settings(angle_deg=95).validate()
    with pytest.raises(df.SettingsError, match=r"carrier --carrier-mhz 50 \(Python: "
                                               r"carrier_hz=5e\+07\) is outside 1-20 MHz"):
        df.Settings(carrier_hz=50e6).validate()
    with pytest.raises(df.SettingsError, match="layout 'xy' is not known; use one of iq, qi"):
        df.Settings(layout="xy").validate()
    with pytest.raises(df.SettingsError, match="vessel 'aorta' is not known"):
        df.Settings(vessel="aorta").validate()
    with pytest.raises(df.SettingsError, match="needs --offset-hz"):
        df.Settings(layout="offset").validate(8000)
    assert df.Settings(angle_deg=75).validate()[0].startswith("angle 75 degrees is above 70")


@pytest.mark.parametrize("angle, change", [(75.0, "by 49%"), (80.0, "by 99%"),
                                           (84.0, "by 499%"),
                                           (85.0, "without bound"), (89.9, "without bound")])
def test_a_steep_angle_warns_of_the_velocity_error_an_angle_error_makes(angle, change):
    """The velocities of an angle 5 degrees steeper than given: cos(a) / cos(a + 5) - 1
    (75: 0.2588 / 0.1736, +49 %); from 85 degrees on that angle reaches 90, where no shift
    is left, and the error has no bound.  Before, the angle was held under 89.9 degrees, and
    the error shrank towards 90: 0 % at 89.9."""
    (w,) = df.Settings(angle_deg=angle).validate()
    assert w.startswith(f"angle {angle:g} degrees is above 70: a 5 degree angle error changes "
                        f"velocities {change}"), w
    assert df.Settings(vessel="femoral").threshold_s == 1.0
    assert df.Settings(vessel="femoral", reflux_threshold_s=0.7).threshold_s == 0.7
    assert df.Settings(vessel="artery").threshold_s is None


def test_a_hop_under_one_sample_is_refused_through_the_api():
    """The API's hop_s=1e-6 as the command line's --hop-ms 0.001: a one-line SettingsError
    before any work (not a zero hop and a division by it)."""
    with pytest.raises(df.SettingsError, match=r"^hop --hop-ms 0\.001 \(Python: hop_s=1e-06\) "
                                               r"is under one sample at 8000 Hz; "
                                               r"the least hop at this sample rate is 0\.125 ms"):
        df.analyze(np.zeros((FS, 2), np.float32), sample_rate_hz=FS, hop_s=1e-6)


def test_numpy_numbers_are_settings_and_other_types_are_refused():
    """numpy scalars (np.float32(8e6) from a data pipeline) are taken as the numbers they
    are, and come out of the JSON as Python numbers; a string, dict, None or float where a
    whole number or a number belongs is a SettingsError naming the field."""
    z = band_noise(FS, FS, 150.0, 600.0, power=1e-2, noise_rms=1e-3, seed=1)
    a = df.analyze(z, sample_rate_hz=np.float32(FS), carrier_hz=np.float32(8e6),
                   angle_deg=np.float64(60), average_frames=np.int64(3))
    d = json.loads(json.dumps(a.to_dict()))
    assert d["settings"]["carrier_hz"] == 8e6 and d["settings"]["average_frames"] == 3
    assert d["sample_rate_hz"] == FS
    for name, value, takes in [("average_frames", "3", "the whole number 3 or 1"),
                               ("average_frames", {"n": 3}, "the whole number 3 or 1"),
                               ("average_frames", None, "the whole number 3 or 1"),
                               ("average_frames", 3.0, "the whole number 3 or 1"),
                               ("channels", (1.0, 2.0), "channel numbers from 1"),
                               ("hop_s", "0.005", "a number of seconds"),
                               ("carrier_hz", None, "a number of Hz")]:
        with pytest.raises(df.SettingsError, match=rf"^{name}=.* is not valid: {name} takes "
                                                   rf"{takes}"):
            df.analyze(z, sample_rate_hz=FS, **{name: value})


def test_slow_flow_presets_halve_the_bin():
    """The slow-flow vein presets analyse with a 20 ms window (50 Hz bins); an explicit
    window wins; the result states the window in force."""
    assert df.Settings().analysis_window_s == df.Settings(vessel="ijv").analysis_window_s == 0.010
    for vessel in ("vv", "dcv", "calf", "perforator"):
        assert df.Settings(vessel=vessel).analysis_window_s == 0.020
    assert df.Settings(vessel="perforator", window_s=0.012).analysis_window_s == 0.012
    z = band_noise(FS * 2, FS, 150.0, 600.0, power=1e-2, noise_rms=1e-3, seed=1)
    slow = df.analyze(z, sample_rate_hz=FS, vessel="perforator", antegrade="toward")
    assert slow.summary.bin_hz == pytest.approx(50.0)
    assert slow.to_dict()["settings"]["window_s"] == 0.020
    given = df.analyze(z, sample_rate_hz=FS, vessel="perforator", antegrade="toward",
                       window_s=0.010)
    assert given.summary.bin_hz == pytest.approx(100.0)
    assert given.to_dict()["settings"]["window_s"] == 0.010


def test_doppler_equation():
    # v = c f / (2 f0 cos a): 1 kHz at 8 MHz and 60 degrees is 19.25 cm/s
    assert cm_s_per_hz(8e6, 60.0) * 1000 == pytest.approx(100 * 1540 * 1000 / (2 * 8e6 * 0.5))
    assert cm_s_per_hz(4e6, 0.0, 1540.0) == pytest.approx(100 * 1540 / 8e6)


# ----------------------------------------------------------------- slips made in Python
def test_a_name_that_is_not_known_is_refused_as_the_settings_are_made():
    """Before, Settings(vessel="xx") was made, and refused only at the analysis."""
    for field, value, message in [("vessel", "xx", "vessel 'xx' is not known; use one of ijv"),
                                  ("layout", "IQ", "layout 'IQ' is not known; use one of iq"),
                                  ("antegrade", "up", "antegrade 'up' is not known"),
                                  ("envelope", "max", "envelope method 'max' is not known")]:
        with pytest.raises(df.SettingsError, match=f"^{message}"):
            df.Settings(**{field: value})
        with pytest.raises(df.SettingsError, match=f"^{message}"):
            df.Settings().replace(**{field: value})


def test_a_processor_needs_settings():
    """Before: AttributeError: 'str' object has no attribute 'validate'."""
    for given in (None, "ijv", {"vessel": "ijv"}):
        with pytest.raises(df.SettingsError, match=r"^settings=.* is not valid: give a Settings "
                                                   r"\(dopplerflow\.Settings\(\.\.\.\)\)$"):
            df.Processor(given, FS, 2)


def test_an_offset_without_the_offset_layout_is_refused_as_the_command_line_refuses_it():
    """Before, offset_hz=1000 with layout 'iq' was ignored without a word in Python.  A
    complex source is I + jQ, read as 'iq' whatever the layout asked ('auto' or none); a
    two-channel one with 'auto' is refused as 'auto'."""
    z = band_noise(FS, FS, 150.0, 600.0, power=1e-2, noise_rms=1e-3, seed=1)
    stereo = np.stack((z.real, z.imag), axis=1)
    for source, kw, named in ((z, {"layout": "iq"}, "iq"), (z, {"layout": "auto"}, "iq"),
                              (z, {}, "iq"), (stereo, {}, "auto")):
        with pytest.raises(df.SettingsError, match=rf"^--offset-hz \(Python: offset_hz\) applies "
                                                   rf"to layout 'offset' only, not to layout "
                                                   rf"'{named}'; give --layout offset \(Python: "
                                                   rf"layout='offset'\) or leave the offset out$"):
            df.analyze(source, sample_rate_hz=FS, offset_hz=1000.0, **kw)


def test_errors_name_the_python_keyword_beside_the_flag():
    """A Python caller is told the keyword to give, not only the command line's flag (before:
    "--carrier-mhz 8" for carrier_hz=8, "use --layout mono", "--channels N")."""
    z = band_noise(FS, FS, 150.0, 600.0, power=1e-2, noise_rms=1e-3, seed=1)
    stereo = np.stack((z.real, z.imag), axis=1)
    with pytest.raises(df.SettingsError, match=r"^carrier --carrier-mhz 8e-06 \(Python: "
                                               r"carrier_hz=8\) is outside 1-20 MHz; "
                                               r"vascular CW probes use 2-10 MHz: a typical "
                                               r"pencil probe is --carrier-mhz 8 \(Python: "
                                               r"carrier_hz=8e6, in Hz\)$"):
        df.analyze(z, sample_rate_hz=FS, carrier_hz=8)
    with pytest.raises(df.LayoutError, match=r"^input has 1 channel; layout 'iq' needs 2: use "
                                             r"--layout mono \(Python: layout='mono'\), which "
                                             r"cannot tell flow direction, or --layout offset "
                                             r"\(Python: layout='offset'\) for a heterodyne"):
        df.analyze(z.real, sample_rate_hz=FS, layout="iq")
    with pytest.raises(df.LayoutError, match=r"^input has 2 channels; layout 'mono' needs 1: "
                                             r"pick one channel with --channels N \(Python: "
                                             r"channels=\(N,\)\), or read the direction two "
                                             r"channels carry with --layout iq \(Python: "
                                             r"layout='iq'\), qi, toward-away or away-toward$"):
        df.analyze(stereo, sample_rate_hz=FS, layout="mono")
    with pytest.raises(df.SettingsError, match=r"^3 channel\(s\) named, --channels 1,2,3 "
                                               r"\(Python: channels=\(1, 2, 3\)\); layout 'iq' "
                                               r"needs 2$"):
        df.analyze(np.zeros((FS, 4)), sample_rate_hz=FS, layout="iq", channels=(1, 2, 3))
    with pytest.raises(df.SettingsError, match=r"^layout 'offset' needs --offset-hz \(Python: "
                                               r"offset_hz\) between 0 and 4000 Hz"):
        df.analyze(z.real, sample_rate_hz=FS, layout="offset")


def test_the_window_and_threshold_in_force_are_on_the_settings():
    """The fields hold what was given (None: the vessel preset's); ``threshold_s`` and
    ``analysis_window_s`` are the values in force, as the JSON gives them, and the
    settings as given can be reused for another vessel."""
    z = band_noise(FS * 2, FS, 150.0, 600.0, power=1e-2, noise_rms=1e-3, seed=1)
    a = df.analyze(z, sample_rate_hz=FS, vessel="dcv", antegrade="toward")
    s, d = a.settings, a.to_dict()["settings"]
    assert s.reflux_threshold_s is None and s.window_s is None
    assert (s.threshold_s, s.analysis_window_s) == (d["reflux_threshold_s"], d["window_s"]) \
        == (0.5, 0.020)
    assert df.Settings(**{**s.__dict__, "vessel": "ijv"}).threshold_s == 0.88


def test_the_trace_of_an_analysis_made_without_it_is_refused():
    """Before, to_dict(trace=True) gave an empty trace without a word."""
    z = band_noise(FS * 2, FS, 150.0, 600.0, power=1e-2, noise_rms=1e-3, seed=1)
    kept = df.analyze(z, sample_rate_hz=FS)
    assert kept.trace_kept and len(kept.to_dict(trace=True)["trace"]["time_s"]) > 0
    lean = df.analyze(z, sample_rate_hz=FS, keep_trace=False)
    assert not lean.trace_kept and lean.to_dict() == kept.to_dict()
    with pytest.raises(df.SettingsError, match=r"^this analysis was made with keep_trace=False, "
                                               r"so it has no trace to give; analyse with "
                                               r"keep_trace=True for to_dict\(trace=True\)$"):
        lean.to_dict(trace=True)


def test_a_sidecar_naming_an_unknown_vessel_says_where():
    """Names are refused as the settings are made; a sidecar's message still names it."""
    from dopplerflow.study.recsettings import apply_settings

    with pytest.raises(df.SettingsError, match=r"^rec\.dopplerflow\.toml: vessel 'xx' is not "
                                               r"known"):
        apply_settings(df.Settings(), {"vessel": "xx"}, "rec.dopplerflow.toml")


def test_an_unknown_keyword_names_the_known_settings():
    """Settings(window_ms=10), a sidecar's spelling, is told what the settings are called,
    as analyze(window_ms=10) is; Python's own message named only the first stray keyword.
    The error is dopplerflow's (``except DopplerflowError`` catches it) and a TypeError."""
    for make in (lambda: df.Settings(window_ms=10),
                 lambda: df.analyze(np.zeros((800, 2)), sample_rate_hz=8000, window_ms=10)):
        with pytest.raises(TypeError, match=r"^unknown setting\(s\) window_ms \(did you mean "
                                            r"window_s\?\); known: layout, invert, .*window_s, "
                                            r"hop_s") as caught:
            make()
        assert isinstance(caught.value, df.DopplerflowError)
        assert isinstance(caught.value, df.SettingsError)
    assert df.Settings(window_s=0.02).window_s == 0.02
    # each stray name with the setting nearest it, where one is near
    with pytest.raises(TypeError, match=r"^unknown setting\(s\) angle \(did you mean "
                                        r"angle_deg\?\), zzz; known"):
        df.Settings(zzz=1, angle=60)


@pytest.mark.parametrize("kwargs, named", [
    (dict(window_s=0.5), "--window-ms 500 (Python: window_s=0.5)"),
    (dict(hop_s=0.02), "--hop-ms 20 (Python: hop_s=0.02)"),
    (dict(wall_hz=2.0), "--wall-hz 2 (Python: wall_hz=2)"),
    (dict(wall_hz=2000.0), "--wall-hz 2000 (Python: wall_hz=2000)"),
    (dict(hum_hz=55), "--hum 55 (Python: hum_hz=55)"),
    (dict(average_frames=2), "--average-frames 2 (Python: average_frames=2)"),
    (dict(sound_speed_m_s=500.0), "--sound-speed 500 (Python: sound_speed_m_s=500)"),
    (dict(channels=(0, 1)), "--channels 0,1 (Python: channels=(0, 1))"),
    (dict(angle_deg=float("inf")), "--angle (Python: angle_deg) must be a finite number"),
])
def test_every_range_error_names_the_flag_and_the_python_keyword(kwargs, named):
    """A value out of range is named as the command line gives it and as Python does, so
    that either user can find what to change; the command line prints the flag alone."""
    from dopplerflow.errors import command_line_message

    with pytest.raises(df.SettingsError) as err:
        df.Settings(**kwargs).validate(8000)
    message = str(err.value)
    assert named in message
    assert named.split(" (Python: ")[0] in command_line_message(message)
    assert "Python" not in command_line_message(message)
