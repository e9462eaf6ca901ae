"""Real recordings: the maximum envelope shows what a person sees on the sonogram.

The recordings are GPL-licensed test data in the project's sibling folder
``../shared/real`` (its README gives the sources); they are read from there, never
copied into the project.  Without the folder (a user's machine) these tests are skipped.
The measures are those of :mod:`benchmarks.real`.
"""

from pathlib import Path

import pytest

REAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "real"

pytestmark = pytest.mark.skipif(
    not (REAL_DIR / "postdive").is_dir() or not (REAL_DIR / "fetal").is_dir(),
    reason=f"the real recordings are not here ({REAL_DIR}: a sibling folder of the project, "
           f"GPL test data that is not distributed with it)")


def _recordings(kind):
    if not REAL_DIR.is_dir():
        return []
    from benchmarks.real import recordings

    return [r for r in recordings(REAL_DIR) if r["kind"] == kind]


_MEASURED = {}


def _measure(rec):
    from benchmarks.real import measure

    if rec["name"] not in _MEASURED:
        _MEASURED[rec["name"]] = measure(rec)
    return _MEASURED[rec["name"]]


@pytest.mark.parametrize("rec", _recordings("precordial"), ids=lambda r: r["name"])
def test_precordial_envelope_follows_the_heartbeat(rec):
    """The maximum envelope's dominant period (on a log scale: a burst to the band's top
    does not outweigh the beats) is the expert's beat rate within 5 %."""
    row = _measure(rec)
    assert abs(row["error_pct"]) <= 5.0, row


@pytest.mark.parametrize("rec", _recordings("precordial"), ids=lambda r: r["name"])
def test_precordial_envelope_stays_in_the_band_and_on_no_line(rec):
    """Below a lossy codec's cut-off (the band's top) once the band is known, and held by
    no steady line: a line taken for flow would hold the envelope in one bin in most
    frames; the heart's flow spreads it over many (at most 20 % in one)."""
    row = _measure(rec)
    lo, hi = row["signal_band_hz"]
    assert 10000 < hi < 16500  # the codec's cut-off, 13-16 kHz in these files
    assert row["above_band"] == 0.0
    assert row["steady_share"] < 0.2
    assert 4800 in [round(f, -2) for f in row["tonal_lines_hz"]]  # the steady 4.8 kHz tone


@pytest.mark.parametrize("rec", [r for r in _recordings("fetal") if r["visible"]],
                         ids=lambda r: r["name"])
def test_fetal_envelope_shows_the_heartbeat(rec):
    """Where the heartbeat is visible (Good, Poor: about 145-150/min), the envelope's
    dominant period is a fetal heart rate (110-180/min)."""
    row = _measure(rec)
    assert row["fetal_range"], row
    assert row["above_band"] == 0.0 and row["steady_share"] < 0.2


@pytest.fixture(scope="module")
def precordial_analyses():
    import dopplerflow as df

    return {r["name"]: df.analyze(r["path"], **r["settings"])
            for r in _recordings("precordial")}


@pytest.mark.parametrize("rec", _recordings("precordial"), ids=lambda r: r["name"])
def test_precordial_plot_axes_frame_the_flow(rec, precordial_analyses):
    """The valve's and the wall's clicks lift the envelope to 100-400 cm/s for a few rows
    about once a beat, over flow under 60 cm/s: the trace's and the sonogram's speed axes
    leave those rows out (as the summary's peak and the PSV do), so the beats' PSV fills at
    least a quarter of them, and stays in view."""
    from dopplerflow.figures import image

    a = precordial_analyses[rec["name"]]
    psv = a.beats.summary["psv_cm_s"]
    _, top = image.trace_range(a)
    assert image.TRACE_MARGIN * psv <= top <= 4 * psv
    _, top = image._display_range(a, image._velocity_axis(a)[0], None)
    assert image.RANGE_MARGIN * psv <= top <= 4 * image.RANGE_MARGIN * psv
