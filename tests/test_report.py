"""The HTML report: well-formed, self-contained, and faithful to the analysis.

The report is parsed with :mod:`html.parser` and its structure checked: every
element closed in order, the event tables holding one row per event, the
figure embedded, nothing fetched from a network.
"""

import base64
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import dopplerflow
from dopplerflow.errors import SettingsError
from dopplerflow.figures import report

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
GSV = SAMPLES / "gsv_reflux_toward_away.flac"  # two reflux events in its truth
VOID = {"meta", "img", "br", "hr", "link", "input", "source", "col", "area", "base", "wbr"}


class _Structure(HTMLParser):
    """Checks nesting and collects tables, images, links and text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.doctype = [], [], None
        self.tables, self._table, self._section = {}, None, None
        self.srcs, self.text = [], []

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if key in a:
                self.srcs.append(a[key])
        if tag in VOID:
            return
        self.stack.append(tag)
        if tag == "table":
            self._table = a.get("id")
            self.tables[self._table] = {"head": 0, "body": 0}
        elif tag in ("thead", "tbody"):
            self._section = "head" if tag == "thead" else "body"
        elif tag == "tr" and self._table is not None:
            self.tables[self._table][self._section] += 1

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag == "table":
            self._table = None

    def handle_data(self, data):
        self.text.append(data)


def parse_page(page):
    """The checked structure of a report page (well-formed, closed in order)."""
    p = _Structure()
    p.feed(page)
    p.close()
    assert p.doctype is not None and p.doctype.lower() == "doctype html"
    assert p.errors == []
    assert p.stack == [], f"unclosed elements: {p.stack}"
    return p


@pytest.fixture(scope="module")
def gsv():
    a = dopplerflow.analyze(GSV, layout="toward-away", vessel="gsv", keep_spectrogram=True)
    assert len(a.reflux_events) >= 1  # the table test needs rows to count
    return a


@pytest.fixture(scope="module")
def gsv_page(gsv, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "gsv.html"
    report.write_report(gsv, path)
    return path.read_text(encoding="utf-8")


def test_report_is_well_formed_and_holds_the_event_table(gsv, gsv_page):
    p = parse_page(gsv_page)
    table = p.tables["reflux-events"]
    assert table == {"head": 1, "body": len(gsv.reflux_events)}
    text = " ".join(p.text)
    for ev in gsv.reflux_events:
        assert f"{ev.duration_s:.3f}" in text and f"{ev.start_s:.3f}" in text
    assert "facts" in p.tables and "settings" in p.tables


def test_report_is_self_contained(gsv_page):
    assert "http://" not in gsv_page and "https://" not in gsv_page
    p = parse_page(gsv_page)
    assert p.srcs, "the figure is missing"
    for src in p.srcs:
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_states_disclaimer_verdict_and_warnings(gsv, gsv_page):
    text = " ".join(parse_page(gsv_page).text)
    assert "research and teaching tool, not a medical device" in text
    assert "CCSVI is contested" in text
    assert f"Reflux: {len(gsv.reflux_events)} event" in text
    for w in gsv.warnings:
        assert w in text


def test_report_without_events_or_spectrogram(tmp_path):
    fs = 8000
    rng = np.random.default_rng(1)
    n = fs * 2
    # antegrade flow only: a tone at +500 Hz (toward the probe) in white noise
    z = 0.1 * np.exp(2j * np.pi * 500 * np.arange(n) / fs) + 0.02 * (
        rng.standard_normal(n) + 1j * rng.standard_normal(n))
    a = dopplerflow.analyze(z, sample_rate_hz=fs, vessel="ijv")
    assert a.flow_detected and not a.reflux_events
    path = tmp_path / "plain.html"
    report.write_report(a, path)
    p = parse_page(path.read_text(encoding="utf-8"))
    assert "reflux-events" not in p.tables
    assert "No reflux" in " ".join(p.text)
    assert len(p.srcs) == 1  # the velocity trace stands in for the sonogram


def test_report_says_why_reflux_is_not_assessable(tmp_path):
    """A mono recording, and two vessels with the vein's direction not given."""
    from dopplerflow.sim.evaluate import quantise
    from dopplerflow.sim.synth import synthesize, to_layout

    syn = synthesize("jugular_with_carotid", sample_rate_hz=16000, snr_db=12, seed=0)
    for layout, why in (("mono", "a mono recording has no flow direction"),
                        ("iq", "two vessels flow opposite ways in the beam")):
        a = dopplerflow.analyze(quantise(to_layout(syn.baseband, layout, 16000)),
                                sample_rate_hz=16000, layout=layout, vessel="ijv")
        assert a.reflux is None
        path = tmp_path / f"{layout}.html"
        report.write_report(a, path)
        text = " ".join(parse_page(path.read_text(encoding="utf-8")).text)
        assert f"Reflux not assessable: {why}." in text
        assert f"Not assessable: {why}." in text
        # the antegrade direction as the analysis has it: none in mono, chosen in iq
        probe = {"toward": "toward the probe", "away": "away from the probe"}
        want = ("none (a mono recording has no flow direction)" if layout == "mono" else
                f"{probe[a.antegrade]} (chosen from the recording: auto)")
        assert _pairs(path.read_text(encoding="utf-8"), "settings")["antegrade direction"] \
            == want


def test_report_extension_is_checked(gsv, tmp_path):
    with pytest.raises(SettingsError, match=r"\.html"):
        report.write_report(gsv, tmp_path / "report.txt")


class _Cells(HTMLParser):
    """The text of every cell, per table id: {id: [[cell, ...], ...]}."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables, self._table, self._cell = {}, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("id"), [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _pairs(page, table_id):
    p = _Cells()
    p.feed(page)
    return dict(p.tables[table_id])


def test_settings_read_as_a_person_writes_them(gsv, gsv_page):
    settings = _pairs(gsv_page, "settings")
    assert settings["carrier"] == "8 MHz"
    assert settings["beam-to-flow angle"] == "60\u00b0"
    assert settings["speed of sound"] == "1540 m/s"
    assert settings["channels inverted"] == "no"
    assert settings["vessel"] == "gsv (great saphenous vein)"
    assert settings["reflux threshold"] == "0.5 s (great saphenous vein, Labropoulos 2003)"
    assert settings["spectrum"] == "10 ms window, 5 ms hop, 3 frame(s) averaged"
    assert settings["wall filter"] == "80 Hz high-pass (1.5 cm/s)"
    assert settings["mains hum removal"] == "off"
    # no field name of the JSON (carrier_hz, angle_deg ...), no Python value
    text = " ".join(f"{k} {v}" for k, v in settings.items())
    assert "_" not in text
    assert not any(word in text for word in ("None", "True", "False", "e+0"))


def test_results_have_their_own_section(gsv, gsv_page):
    recording, results = _pairs(gsv_page, "facts"), _pairs(gsv_page, "results")
    assert set(recording) == {"file", "duration", "sample rate", "channels", "layout",
                              "flow direction"}
    assert recording["layout"].startswith("toward-away: separate channels")
    sm = gsv.summary
    assert results["peak antegrade velocity"] == f"{sm.peak_antegrade_velocity_cm_s:.1f} cm/s"
    assert results["reflux events"] == str(len(gsv.reflux_events))
    longest = max(e.duration_s for e in gsv.reflux_events)
    assert results["longest reflux"] == f"{longest:.2f} s"  # as the verdict says it
    assert f"(longest {longest:.2f} s)" in gsv_page


class _GridItems(HTMLParser):
    """The children of ``<main class="grid">``: [(id of the child or its heading, wide)]."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.items, self.depth, self.in_main = [], 0, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "main" and a.get("class") == "grid":
            self.in_main, self.depth = True, 0
            return
        if not self.in_main or tag in VOID:
            return
        self.depth += 1
        if self.depth == 1:
            self.items.append([a.get("id"), "wide" in a.get("class", "").split()])
        elif tag == "h2" and self.items[-1][0] is None:
            self.items[-1][0] = a.get("id")

    def handle_endtag(self, tag):
        if tag == "main":
            self.in_main = False
        elif self.in_main and tag not in VOID:
            self.depth -= 1


def test_layout_uses_the_page(gsv_page):
    """Two columns on a wide screen (recording beside results, events beside episodes,
    warnings beside settings), the figure and the beats across both; one column on a
    narrow screen."""
    assert (".grid{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);"
            in gsv_page)
    assert ".grid>.wide{grid-column:1/-1}" in gsv_page
    assert "@media (max-width:900px){.grid{grid-template-columns:minmax(0,1fr)}}" in gsv_page
    p = _GridItems()
    p.feed(gsv_page)
    assert [tuple(item) for item in p.items] == [
        ("facts-title", False), ("results-title", False),
        ("figure-title", True), ("beats-title", True), ("events-title", False),
        ("episodes-title", False), ("warnings-title", False), ("settings-title", False)]


def test_report_marks_a_second_vessel(tmp_path):
    from dopplerflow.sim.synth import synthesize

    syn = synthesize("jugular_with_carotid", sample_rate_hz=16000, seed=0, duration_s=4.0)
    a = dopplerflow.analyze(syn.baseband, sample_rate_hz=16000, vessel="ijv",
                            antegrade="away")
    results = _pairs(report.render_report(a), "results")
    assert results["second vessel in the beam"] == (
        f"flowing toward the probe, from {a.second_vessel['from_s']:.2f} s")


def test_report_notes_a_reflux_cut_by_the_end(tmp_path):
    """The jugular sample cut 0.5 s into its reflux: the event's row says the recording
    ended in it (its duration is a lower bound); an event that ended does not."""
    import soundfile as sf

    x, fs = sf.read(SAMPLES / "jugular_valsalva_iq.flac")
    whole = dopplerflow.analyze(x, sample_rate_hz=fs, vessel="ijv")
    [ev] = whole.reflux_events
    cut = dopplerflow.analyze(x[:int((ev.start_s + 1.0) * fs)], sample_rate_hz=fs,
                              vessel="ijv")
    pages = {}
    for name, a in (("whole", whole), ("cut", cut)):
        path = tmp_path / f"{name}.html"
        report.write_report(a, path)
        pages[name] = " ".join(parse_page(path.read_text(encoding="utf-8")).text)
    [short] = cut.reflux_events
    assert short.cut_by_end and not ev.cut_by_end
    assert "cut by the end: lasted at least this long" in pages["cut"]
    assert "cut by the end" not in pages["whole"]
    # the longest reflux, quoted in the verdict and the results, is a lower bound too
    assert f"longest at least {short.duration_s:.2f} s (cut by the end)" in pages["cut"]
    path = tmp_path / "cut.html"
    assert _pairs(path.read_text(encoding="utf-8"), "results")["longest reflux"] == \
        f"at least {short.duration_s:.2f} s (cut by the end)"
    assert f"longest {ev.duration_s:.2f} s)" in pages["whole"]


def test_report_says_flow_is_not_assessable_where_it_cannot_be_judged(tmp_path):
    """A quarter of a second of the jugular sample: too short to judge flow, so no "no"."""
    import soundfile as sf

    x, fs = sf.read(SAMPLES / "jugular_valsalva_iq.flac")
    a = dopplerflow.analyze(x[fs:fs + fs // 4], sample_rate_hz=fs, vessel="ijv")
    assert a.flow_detected is None
    path = tmp_path / "short.html"
    report.write_report(a, path)
    row = _pairs(path.read_text(encoding="utf-8"), "results")["flow detected"]
    assert row.startswith("not assessable: the recording is too short to judge flow")


# ----------------------------------------------------------------- not assessable, caption
@pytest.fixture(scope="module")
def artery():
    """The bundled mono artery: beats and a heart rate, no direction, no spectrogram."""
    a = dopplerflow.analyze(SAMPLES / "artery_mono.flac", layout="mono", vessel="artery")
    assert a.reflux is None and a.heart_rate_bpm is not None
    return a


def _caption(page):
    import re

    (text,) = re.findall(r"<figcaption>(.*?)</figcaption>", page, flags=re.S)
    return " ".join(parse_page(f"<!DOCTYPE html><p>{text}</p>").text)


def _section(page, title_id):
    """The text of the section whose heading has id ``title_id``."""
    start = page.index(f'id="{title_id}"')
    text = parse_page("<!DOCTYPE html><section><h2 " + page[start:page.index("</section>", start)]
                      + "</section>").text
    return " ".join(" ".join(text).split())


@pytest.mark.parametrize("layout, why", [("mono", "a mono recording has no flow direction"),
                                         ("iq", "two vessels flow opposite ways in the beam")])
def test_episodes_are_not_assessable_where_reflux_is_not(layout, why):
    """A mono recording, and two vessels with the vein's direction not given: no
    retrograde episode was looked for, so the report says "not assessable", as the reflux
    rows do (before: "shorter retrograde episodes 0" and "None.", a false "none"); the
    peak retrograde velocity of a mono recording, null in the JSON, likewise."""
    from dopplerflow.sim.evaluate import quantise
    from dopplerflow.sim.synth import synthesize, to_layout

    syn = synthesize("jugular_with_carotid", sample_rate_hz=16000, snr_db=12, seed=0,
                     duration_s=4.0)
    a = dopplerflow.analyze(quantise(to_layout(syn.baseband, layout, 16000)),
                            sample_rate_hz=16000, layout=layout, vessel="ijv")
    assert a.reflux is None and not a.episodes
    page = report.render_report(a)
    results = _pairs(page, "results")
    assert results["reflux events"] == results["longest reflux"] == "not assessable"
    assert results["shorter retrograde episodes"] == "not assessable"
    assert (results["peak retrograde velocity"] == "not assessable") == (layout == "mono")
    assert _section(page, "episodes-title") == (f"Shorter retrograde episodes "
                                                f"Not assessable: {why}.")


def test_an_artery_has_no_reflux_count():
    """An artery has no reflux rule: its report counts no reflux events (before: "0")."""
    fs = 8000
    n = 2 * fs
    z = 0.1 * np.exp(2j * np.pi * 500 * np.arange(n) / fs)
    a = dopplerflow.analyze(z, sample_rate_hz=fs, vessel="artery", antegrade="toward")
    results = _pairs(report.render_report(a), "results")
    assert results["reflux events"] == "none: no reflux rule for this vessel"
    assert results["shorter retrograde episodes"] == str(len(a.episodes))


def test_the_caption_names_what_the_figure_draws(gsv, gsv_page, artery):
    """The caption is built from the figure's marks: the reflux colour where reflux is
    drawn, the episodes' where episodes are, the wall filter's band with a sonogram; a
    mono figure says it draws speed without a direction (before: one fixed text, false
    for mono and artery recordings)."""
    caption = _caption(gsv_page)
    assert caption.startswith("Antegrade flow is drawn up, retrograde down.")
    assert "Vermilion: reflux events, retrograde flow longer than 0.5 s" in caption
    assert ("Blue: shorter retrograde episodes" in caption) == bool(gsv.episodes)
    assert "Dark grey band (sonogram): the wall filter's band" in caption
    mono = _caption(report.render_report(artery))
    assert mono.startswith("Speed is drawn up from 0, without a direction")
    for absent in ("retrograde down", "Vermilion", "Blue", "Dark grey band", "No heart rate"):
        assert absent not in mono
    assert "Thin lines (trace): beat onsets" in mono
    assert "Faint line" not in mono  # the bundled samples have no row left out


def test_the_caption_names_the_rows_left_out_of_the_psv(artery):
    """A faint click's top drawn faint in the figure is named in the caption."""
    from test_plots import _with_click

    flow = np.flatnonzero(np.asarray(artery.trace.flow, bool))
    rows = flow[200:206]
    top = float(4.5 * np.abs(np.asarray(artery.trace.mean_velocity_cm_s)[rows]).max())
    caption = _caption(report.render_report(_with_click(artery, rows, top)))
    assert ("Faint line: the rows left out of the PSV and the peak speed (the top of a click "
            "or of a faint transient over slower flow, a tonal line); the envelope's line "
            "breaks there.") in caption


@pytest.mark.parametrize("fast, why", [
    (False, "fewer than 3 clean beats"),
    (True, "the clean beats come at 300/min, outside a heart's 30-240/min")])
def test_beats_without_a_heart_rate_say_why(artery, fast, why):
    """Beats drawn but no heart rate given: the beats section and the caption say there is
    none and why (before: "fewer than 3 clean beats" whatever the reason, and nothing in
    the caption)."""
    from test_plots import _without_heart_rate

    page = report.render_report(_without_heart_rate(artery, fast))
    assert f"Heart rate not measured: {why}." in _section(page, "beats-title")
    assert (f"No heart rate is given ({why}): the marks are the beats found, not a "
            f"measured rate.") in _caption(page)


def _summary_rate(a):
    """What ``analyze``'s summary says on its ``heart rate`` line."""
    from dopplerflow.cli.common import beat_lines

    return dict(beat_lines(a))["heart rate"]


def test_a_recording_too_short_for_the_pulse_search_says_so(tmp_path):
    """Half a second of flow: the pulse was never searched for (its periodicity null), so
    the beats section gives that reason, as the summary does, not that no pulse was
    found."""
    from dopplerflow.sim.synth import write_scenario

    path = tmp_path / "short.flac"
    write_scenario("jugular_phasic", path, layout="iq", sample_rate_hz=16000, duration_s=0.5,
                   seed=8)
    a = dopplerflow.analyze(path, vessel="ijv")
    assert a.flow_detected and not len(a.beats) and a.beats.summary["periodicity"] is None
    why = "too short to read a pulse (the search needs 2.5 s of signal)"
    assert _summary_rate(a) == f"not measured: {why}"
    assert _section(report.render_report(a), "beats-title") == \
        f"Beats Heart rate not measured: {why}."


def test_the_beat_count_names_the_beat_cut_by_the_end(tmp_path):
    """A mono artery whose last beat is cut by the end of the recording: the beats found
    are counted as the summary counts them, clean, rejected and cut by the end."""
    import re

    from dopplerflow.sim.synth import write_scenario

    path = tmp_path / "artery.flac"
    write_scenario("artery_triphasic", path, layout="mono", sample_rate_hz=16000,
                   duration_s=8.0, seed=3)
    a = dopplerflow.analyze(path, layout="mono", vessel="artery")
    s = a.beats.summary
    cut = s["n_beats"] - s["n_clean"] - s["n_rejected"]
    assert cut >= 1 and a.heart_rate_bpm is not None
    (count,) = re.findall(r"\d+ beats \([^)]*\)", _summary_rate(a))
    assert count == (f"{s['n_beats']} beats ({s['n_clean']} clean, {s['n_rejected']} "
                     f"rejected, {cut} cut by the end)")
    assert f"; {count}, read on the maximum velocity" in \
        _section(report.render_report(a), "beats-title")


# ------------------------------------------------------------------------------ exam page
@pytest.fixture(scope="module")
def exam_page(tmp_path_factory):
    from dopplerflow.study.exam import run_exam

    path = tmp_path_factory.mktemp("exam") / "exam.html"
    exam = run_exam(SAMPLES / "exam" / "exam.toml", html=path)
    return exam, path.read_text(encoding="utf-8")


def test_the_exam_page_reads_as_people_write(exam_page):
    """The beats' columns named with their units, clean as yes or no (not True/False),
    the indices rounded as the report rounds them, the signal named in words; a
    recording without a side has no stray space, and one without flow no longest
    retrograde flow of 0.00."""
    import re

    exam, page = exam_page
    beats = re.findall(r"<h4>Beats</h4>(<table>.*?</table>)", page, flags=re.S)
    assert beats, "no beats table"
    for html in beats:
        cells = _Cells()
        cells.feed(html)
        (table,) = cells.tables.values()
        assert table[0] == ["onset (s)", "interval (s)", "PSV (cm/s)", "EDV (cm/s)", "RI",
                            "PI", "clean"]
        assert {row[-1] for row in table[1:]} <= {"yes", "no"}
    text = " ".join(parse_page(page).text)
    for raw in ("onset_s", "psv_cm_s", "True", "False", "max_envelope"):
        assert raw not in text
    psv = re.findall(r"<th>PSV, cm/s</th><td class=\"num\">([^<]*)</td>", page)
    ri = re.findall(r"<th>RI</th><td class=\"num\">([^<]*)</td>", page)
    assert psv and all(re.fullmatch(r"\d+(\.\d)?", v) for v in psv)
    assert ri and all(re.fullmatch(r"\d(\.\d{1,2})?", v) for v in ri)
    assert "read on the maximum velocity" in text
    dcv = next(it.recording for it in exam.items if it.recording.vessel == "dcv")
    assert f"#{dcv.index} dcv, {dcv.posture}, {dcv.manoeuvre}:" in text
    cells = _Cells()
    cells.feed(page)
    rows = {row[1]: row for row in cells.tables["recordings"][1:]}
    without_flow = [it for it in exam.items if it.analysis.flow_detected is False]
    assert without_flow  # the bundled exam's collapsed IJV
    for it in without_flow:
        assert rows[it.recording.file][6] == "\u2014"


def test_the_exam_figures_keep_their_labels_and_pixels(exam_page):
    """The small sonograms are shown at their pixel size (not stretched across the page),
    their velocity axis' label fits their height, and the leg map keys its colours."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from dopplerflow.figures import exam_report

    exam, page = exam_page
    assert "main img{width:auto;max-width:100%}" in page
    for it in exam.items:
        fig, _ = exam_report._sonogram_figure(it.analysis)
        FigureCanvasAgg(fig).draw()
        ax = fig.axes[0]
        box = ax.yaxis.label.get_window_extent()
        assert fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1, it.recording.file
        for t in ax.texts:
            if t.get_gid() in ("reflux-duration", "episode-duration"):
                b = t.get_bbox_patch().get_window_extent()
                assert ax.bbox.y0 <= b.y0 and b.y1 <= ax.bbox.y1, it.recording.file
    ax = exam_report._leg_plot(exam.legs).axes[0]
    statuses = list(dict.fromkeys(c.status for c in exam.legs
                                  if c.longest_retrograde_s is not None))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == statuses + ["threshold"]


@pytest.fixture(scope="module")
def long_gsv():
    """The bundled reflux sample seven times over: 70 s, fourteen reflux events."""
    import soundfile as sf

    x, fs = sf.read(GSV, dtype="float32")
    a = dopplerflow.analyze(np.tile(x, (7, 1)), sample_rate_hz=fs, layout="toward-away",
                            vessel="gsv", keep_spectrogram=True)
    assert a.duration_s >= report.CLOSEUP_FROM_S
    assert len(a.reflux_events) > report.CLOSEUP_EVENTS
    return a


def test_a_long_recording_s_longest_events_are_drawn_close_up(long_gsv):
    import re

    page = report.render_report(long_gsv)
    parse_page(page)
    section = page[page.index('id="closeups-title"'):]
    section = section[:section.index("</section>")]
    numbers = [int(n) for n in re.findall(r'alt="Velocity trace around reflux event (\d+)"',
                                          section)]
    events = long_gsv.reflux_events
    longest = sorted(range(len(events)), key=lambda i: -events[i].duration_s)
    assert numbers == sorted(i + 1 for i in longest[:report.CLOSEUP_EVENTS])
    text = _section(page, "closeups-title")
    assert f"The {report.CLOSEUP_EVENTS} longest reflux events of {len(events)}" in text
    assert "Vermilion: reflux events" in text and "sonogram" not in text
    # each drawn from a second before its start to a second after its end
    spans = dict(report._closeup_spans(long_gsv))
    ev = events[numbers[0] - 1]
    pad = max(1.0, 0.5 * ev.duration_s)
    assert spans[numbers[0]] == pytest.approx((ev.start_s - pad, ev.end_s + pad))


def test_a_short_recording_has_no_close_ups(gsv, gsv_page):
    assert gsv.duration_s < report.CLOSEUP_FROM_S and gsv.reflux_events
    assert "closeups-title" not in gsv_page
