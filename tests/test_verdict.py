"""The verdict is worded in one place (dopplerflow.core.verdict), for every case, and the
summary, the report and the figures say what it says."""

import io
from pathlib import Path
from types import SimpleNamespace

import pytest

import dopplerflow
from dopplerflow import Settings
from dopplerflow.cli import print_summary
from dopplerflow.core import verdict
from dopplerflow.figures import report

EVENT = SimpleNamespace(duration_s=1.234, cut_by_end=False)
GSV = Path(__file__).resolve().parent.parent / "samples" / "gsv_reflux_toward_away.flac"


def _analysis(settings=None, *, flow=True, reflux=False, events=(), direction=True,
              why=None, cut=None, gaps=None, artefacts=None):
    """What the wording reads of an Analysis."""
    return SimpleNamespace(settings=settings or Settings(vessel="ijv"), flow_detected=flow,
                           reflux=reflux, reflux_events=list(events),
                           direction_available=direction, reflux_not_assessable=why,
                           cut=cut, duration_s=cut["at_s"] if cut else 12.0, gaps=gaps,
                           artefacts=artefacts)


#: A probe's contact lost for 3.84 s, longer than the jugular's 0.88 s (a reflux could lie
#: wholly in it), beside a shorter stretch of broadband noise and a gap of lost samples.
QUIET = [{"start_s": 1.0, "end_s": 1.3, "kind": "broadband"},
         {"start_s": 3.61, "end_s": 7.45, "kind": "quiet"}]
GAP = [{"start_s": 9.0, "end_s": 10.0}]
#: Where reading stopped in a file cut short, and in one damaged within its stated length.
CUT = {"at_s": 4.096, "stated_s": 12.0, "reason": "flac decoder lost sync"}
DAMAGED = {"at_s": 4.096, "stated_s": None, "reason": "Ogg page 12 fails its checksum"}


@pytest.mark.parametrize("settings, direction, text", [
    (Settings(vessel="ijv"), True,
     "reflux threshold 0.88 s (internal jugular vein, Zamboni 2009)"),
    (Settings(), True, "reflux threshold 0.5 s (default; no vessel given)"),
    (Settings(vessel="gsv", reflux_threshold_s=0.7), True,
     "reflux threshold 0.7 s (set by the user)"),
    (Settings(vessel="artery"), True, "artery: no reflux rule"),
    (Settings(vessel="ijv", layout="mono"), False,
     "reflux not assessable (mono: no flow direction)"),
])
def test_threshold_phrase(settings, direction, text):
    assert verdict.threshold_phrase(_analysis(settings, direction=direction)) == text


def test_vessel_phrase():
    assert verdict.vessel_phrase(Settings(vessel="ijv")) == "ijv, reflux threshold 0.88 s"
    assert verdict.vessel_phrase(Settings()) == "reflux threshold 0.5 s"
    assert verdict.vessel_phrase(Settings(vessel="artery")) == "artery, no reflux rule"
    # mono: no direction, so a vessel's rule cannot be applied; an artery has none
    assert verdict.vessel_phrase(Settings(), direction=False) == \
        "no vessel given; reflux not assessable (mono: no flow direction)"
    assert verdict.vessel_phrase(Settings(vessel="gsv"), direction=False) == \
        "gsv; reflux not assessable (mono: no flow direction)"
    assert verdict.vessel_phrase(Settings(vessel="artery"), direction=False) == \
        "artery, no reflux rule"


@pytest.mark.parametrize("kw, phrase, headline, kind, sentence", [
    (dict(reflux=True, events=(EVENT, EVENT)), "YES: 2 event(s) longer than 0.88 s",
     "REFLUX: 2 event(s) > 0.88 s", "reflux",
     "Reflux: 2 events of retrograde flow longer than 0.88 s (longest 1.23 s)."),
    (dict(reflux=True, events=(EVENT,)), "YES: 1 event(s) longer than 0.88 s",
     "REFLUX: 1 event(s) > 0.88 s", "reflux",
     "Reflux: 1 event of retrograde flow longer than 0.88 s (longest 1.23 s)."),
    (dict(), "no: 0 event(s) longer than 0.88 s",
     "no reflux (no retrograde flow > 0.88 s)", "none",
     "No reflux: no retrograde flow longer than 0.88 s."),
    (dict(reflux=None, why="two vessels flow opposite ways in the beam"),
     "not assessable (two vessels flow opposite ways in the beam)", "reflux not assessable",
     "na", "Reflux not assessable: two vessels flow opposite ways in the beam."),
    (dict(reflux=None, direction=False), "not assessable (None)", "reflux not assessable",
     "na", "Reflux not assessable: a mono recording has no flow direction."),
    (dict(reflux=None), "not assessable (None)", "reflux not assessable", "na",
     "Reflux not assessable: see the warnings."),
    (dict(settings=Settings(vessel="artery")), "no rule for this vessel", "no reflux rule",
     "na", "No reflux rule for this vessel (artery)."),
    (dict(flow=False), "no: 0 event(s) longer than 0.88 s", "no flow detected", "na",
     "No flow detected: only noise and wall clutter."),
    # a file cut short: a verdict of no reflux covers the part read, reflux stands
    (dict(cut=CUT),
     "no: 0 event(s) longer than 0.88 s, in the first 4.10 s of 12.00 s (the file is cut short)",
     "no reflux (no retrograde flow > 0.88 s) in the first 4.1 s (file cut)", "none",
     "No reflux: no retrograde flow longer than 0.88 s in the first 4.10 s of 12.00 s (the "
     "file is cut short)."),
    (dict(cut=DAMAGED),
     "no: 0 event(s) longer than 0.88 s, in the first 4.10 s (the file is damaged there)",
     "no reflux (no retrograde flow > 0.88 s) in the first 4.1 s (file cut)", "none",
     "No reflux: no retrograde flow longer than 0.88 s in the first 4.10 s (the file is "
     "damaged there)."),
    # a stretch unseen as long as the threshold qualifies "no reflux", not a reflux found
    (dict(artefacts=QUIET),
     "no: 0 event(s) longer than 0.88 s, except 3.84 s unseen (a quiet stretch at "
     "3.61-7.45 s)",
     "no reflux (no retrograde flow > 0.88 s), except 3.84 s unseen (a quiet stretch at "
     "3.61-7.45 s)", "none",
     "No reflux: no retrograde flow longer than 0.88 s, except 3.84 s unseen (a quiet "
     "stretch at 3.61-7.45 s)."),
    (dict(artefacts=QUIET, gaps=GAP),
     "no: 0 event(s) longer than 0.88 s, except 4.84 s unseen (a quiet stretch at "
     "3.61-7.45 s and 1 more)",
     "no reflux (no retrograde flow > 0.88 s), except 4.84 s unseen (a quiet stretch at "
     "3.61-7.45 s and 1 more)", "none",
     "No reflux: no retrograde flow longer than 0.88 s, except 4.84 s unseen (a quiet "
     "stretch at 3.61-7.45 s and 1 more)."),
    (dict(artefacts=[{"start_s": 2.0, "end_s": 3.5, "kind": "quiet"}], cut=CUT),
     "no: 0 event(s) longer than 0.88 s, in the first 4.10 s of 12.00 s (the file is cut "
     "short), except 1.50 s unseen (a quiet stretch at 2.00-3.50 s)",
     "no reflux (no retrograde flow > 0.88 s) in the first 4.1 s (file cut), except 1.50 s "
     "unseen (a quiet stretch at 2.00-3.50 s)", "none",
     "No reflux: no retrograde flow longer than 0.88 s in the first 4.10 s of 12.00 s (the "
     "file is cut short), except 1.50 s unseen (a quiet stretch at 2.00-3.50 s)."),
    (dict(artefacts=QUIET[:1], gaps=GAP),
     "no: 0 event(s) longer than 0.88 s, except 1.00 s unseen (samples lost at 9.00-10.00 s)",
     "no reflux (no retrograde flow > 0.88 s), except 1.00 s unseen (samples lost at "
     "9.00-10.00 s)", "none",
     "No reflux: no retrograde flow longer than 0.88 s, except 1.00 s unseen (samples lost "
     "at 9.00-10.00 s)."),
    (dict(reflux=True, events=(EVENT,), artefacts=QUIET), "YES: 1 event(s) longer than 0.88 s",
     "REFLUX: 1 event(s) > 0.88 s", "reflux",
     "Reflux: 1 event of retrograde flow longer than 0.88 s (longest 1.23 s)."),
    (dict(reflux=True, events=(EVENT,), cut=CUT),
     "YES: 1 event(s) longer than 0.88 s, in the first 4.10 s of 12.00 s (the file is cut "
     "short)", "REFLUX: 1 event(s) > 0.88 s", "reflux",
     "Reflux: 1 event of retrograde flow longer than 0.88 s (longest 1.23 s)."),
])
def test_each_verdict_in_each_wording(kw, phrase, headline, kind, sentence):
    a = _analysis(**kw)
    assert verdict.reflux_phrase(a) == phrase
    assert verdict.headline(a) == headline
    assert verdict.verdict_sentence(a) == (kind, sentence)


def test_length_phrase_says_how_much_of_a_file_cut_short_was_read():
    assert verdict.length_phrase(_analysis()) == "12.00 s"
    assert verdict.length_phrase(_analysis(cut=CUT)) == "4.10 s of 12.00 s (cut short)"
    assert verdict.length_phrase(_analysis(cut=DAMAGED)) == "4.10 s (damaged there)"


@pytest.fixture(scope="module")
def gsv():
    return dopplerflow.analyze(GSV, layout="toward-away", vessel="gsv", keep_spectrogram=True)


def test_summary_report_and_figures_say_the_same(gsv):
    from dopplerflow.figures import plots

    assert gsv.reflux and gsv.reflux_events
    out = io.StringIO()
    print_summary(gsv, file=out)
    lines = out.getvalue().splitlines()
    assert f"  vessel      {verdict.vessel_phrase(gsv.settings)}" in lines
    assert f"  reflux      {verdict.reflux_phrase(gsv)}" in lines
    page = report.render_report(gsv)
    kind, sentence = verdict.verdict_sentence(gsv)
    assert f'<p class="verdict {kind}" id="verdict">{sentence}</p>' in page
    fig = plots.analysis_figure(gsv)
    assert fig.get_suptitle().endswith(verdict.headline(gsv))
    assert fig.axes[0].get_title(loc="left") == f"Sonogram: {verdict.threshold_phrase(gsv)}"
