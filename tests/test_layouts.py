"""Sign conventions: the direction of a known tone in every layout."""


import numpy as np
import pytest
from common import FS, SCALE
from conftest import chirp_tones, iq, separate

import dopplerflow as df


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
