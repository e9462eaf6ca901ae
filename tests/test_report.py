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


def test_report_extension_is_checked(gsv, tmp_path):
    with pytest.raises(SettingsError, match=r"\.html"):
        report.write_report(gsv, tmp_path / "report.txt")
