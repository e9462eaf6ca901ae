"""Where the beats are shown: the beats CSV, the JSON's per-beat values, the terminal
summary, the figure's marks, the report's beats section and the live status line.

Each output is checked against the :class:`~dopplerflow.core.beats.Beats` of the same
analysis: the bundled mono artery (a pulse at 69/min, 8 s) and a simulated carotid
(directional, forward flow in diastole).
"""

import csv
import io
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import dopplerflow
from dopplerflow.cli import main
from dopplerflow.cli.common import beat_lines, print_summary
from dopplerflow.core.beats import Beats, beats_csv
from dopplerflow.core.beats.summary import DIGITS
from dopplerflow.live.status import format_status

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
ARTERY = SAMPLES / "artery_mono.flac"
ARTERY_ARGS = ["--layout", "mono", "--vessel", "artery"]


@pytest.fixture(scope="module")
def artery():
    a = dopplerflow.analyze(ARTERY, layout="mono", vessel="artery", keep_spectrogram=True)
    # the checks below compare outputs with beats: both kinds of beat must be there
    assert len(a.beats) >= 8 and a.beats.clean.any() and not a.beats.clean.all()
    return a


@pytest.fixture(scope="module")
def carotid():
    from dopplerflow.sim.synth import synthesize, to_layout

    syn = synthesize("carotid", sample_rate_hz=16000, seed=0, duration_s=8.0)
    return dopplerflow.analyze(to_layout(syn.baseband, "iq", 16000), sample_rate_hz=16000,
                               vessel="artery", antegrade="toward", keep_spectrogram=True)


# ------------------------------------------------------------------------------------ CSV
def _read_csv(text):
    return list(csv.reader(io.StringIO(text)))


def _check_csv(rows, beats):
    """Every cell of a beats CSV against the arrays of ``beats`` (to its printed digits)."""
    assert rows[0] == list(Beats.COLUMNS)
    assert len(rows) == len(beats) + 1
    for j, name in enumerate(Beats.COLUMNS):
        col = np.asarray(getattr(beats, name))
        cells = [r[j] for r in rows[1:]]
        if name in ("phases", "clean"):
            assert [int(c) for c in cells] == [int(v) for v in col], name
            continue
        empty = np.array([c == "" for c in cells])
        np.testing.assert_array_equal(empty, ~np.isfinite(col), err_msg=name)
        got = np.array([float(c) for c in cells if c])
        np.testing.assert_allclose(got, col[~empty], rtol=0,
                                   atol=0.5 * 10.0 ** -DIGITS.get(name, 3) + 1e-12,
                                   err_msg=name)


@pytest.mark.parametrize("command", ["analyze", "replay"])
def test_beats_csv_holds_every_beat_of_the_analysis(artery, tmp_path, command, capsys):
    out = tmp_path / "beats.csv"
    assert main([command, str(ARTERY), *ARTERY_ARGS, "--beats-csv", str(out), "-q"]) == 0
    assert capsys.readouterr().out == ""
    _check_csv(_read_csv(out.read_text()), artery.beats)


def test_beats_csv_of_a_directional_recording(carotid):
    rows = _read_csv(beats_csv(carotid))
    _check_csv(rows, carotid.beats)
    share = Beats.COLUMNS.index("reverse_flow_share")
    # a carotid flows forward all through the cycle: no reverse flow, one phase
    assert all(r[share] == "0.0000" for r in rows[1:-1])
    assert {r[Beats.COLUMNS.index("phases")] for r in rows[1:-1]} == {"1"}


def test_beats_csv_without_beats_has_its_header_only(tmp_path):
    rec = tmp_path / "silence.wav"
    sf.write(rec, np.zeros((8000 * 4, 2), np.float32), 8000)
    out = tmp_path / "b.csv"
    assert main(["analyze", str(rec), "--beats-csv", str(out), "-q"]) == 0
    assert out.read_text() == ",".join(Beats.COLUMNS) + "\n"


@pytest.mark.parametrize("argv", [
    ["analyze", "{rec}", "--beats-csv", "{rec}"],
    ["replay", "{rec}", "--beats-csv", "{rec}"],
    ["analyze", "{rec}", "--csv", "{out}", "--beats-csv", "{out}"],
    ["live", "--device", "none", "--csv", "{out}", "--beats-csv", "{out}"],
])
def test_beats_csv_never_overwrites_the_recording_or_another_output(tmp_path, capsys, argv):
    rec = tmp_path / "a.flac"
    shutil.copy(ARTERY, rec)
    before = rec.read_bytes()
    code = main([a.format(rec=rec, out=tmp_path / "o.csv") for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--beats-csv" in err
    assert rec.read_bytes() == before and not (tmp_path / "o.csv").exists()


def test_json_with_the_trace_holds_the_per_beat_values(artery):
    d = artery.to_dict(trace=True)
    table = d["beat_table"]
    assert list(table) == list(Beats.COLUMNS)
    assert table["clean"] == artery.beats.clean.tolist()
    assert table["phases"] == [0] * len(artery.beats)  # mono: no direction, no phases
    np.testing.assert_allclose(table["onset_s"], artery.beats.onset_s, atol=5e-5)
    assert table["rr_s"][-1] is None and table["sd_ratio"] == [None] * len(artery.beats)
    assert "beat_table" not in artery.to_dict()


# -------------------------------------------------------------------------------- summary
def test_summary_states_the_heart_rate_and_the_indices(artery):
    out = io.StringIO()
    print_summary(artery, file=out)
    lines = out.getvalue().splitlines()
    s = artery.beats.summary
    hr = next(ln for ln in lines if ln.startswith("  heart rate  "))
    assert f"{s['heart_rate_bpm']:.1f} beats/min" in hr
    cut = s["n_beats"] - s["n_clean"] - s["n_rejected"]
    assert cut == int(np.isnan(artery.beats.rr_s).sum()) == 1  # the last beat has no next
    assert (f"{s['n_beats']} beats ({s['n_clean']} clean, {s['n_rejected']} rejected, "
            f"{cut} cut by the end)") in hr
    assert hr.endswith("read on the maximum velocity")  # a clear pulse
    idx = next(ln for ln in lines if ln.startswith("  indices     "))
    assert f"PSV {s['psv_cm_s']:.1f} cm/s" in idx and "EDV 0 cm/s" in idx
    assert f"PI {s['pi']:.2f}".rstrip("0").rstrip(".") in idx
    assert "S/D" not in idx and "reverse flow" not in idx  # undefined without diastolic flow
    # the beats come after the verdict, before the warnings
    assert lines.index(hr) == 1 + next(i for i, ln in enumerate(lines)
                                       if ln.startswith("  reflux      "))


def test_summary_of_a_directional_artery_and_of_a_vein(carotid):
    (_, hr), (_, idx) = beat_lines(carotid)
    assert "S/D" in idx and "monophasic" in idx and "reverse flow 0%" in idx
    from dopplerflow.sim.synth import synthesize, to_layout

    syn = synthesize("jugular_phasic", sample_rate_hz=8000, seed=0)
    vein = dopplerflow.analyze(to_layout(syn.baseband, "iq", 8000), sample_rate_hz=8000,
                               vessel="ijv", antegrade="away")
    lines = dict(beat_lines(vein))
    assert lines["breathing"].startswith("respiratory phasicity present (peak-to-peak "
                                         "modulation ")


def test_summary_calls_a_pulse_weak_under_a_clear_ones_periodicity():
    from dopplerflow.core.beats.constants import GOOD_PERIODICITY

    vein = dopplerflow.analyze(Path(__file__).resolve().parent.parent / "samples"
                               / "jugular_valsalva_iq.flac", vessel="ijv")
    q = vein.beats.summary["periodicity"]
    assert q < GOOD_PERIODICITY  # a vein's pulse, read beside its breathing
    hr = dict(beat_lines(vein))["heart rate"]
    assert hr.endswith(f"read on the maximum velocity (a weak pulse: periodicity {q:.2f})")


def test_summary_has_no_beat_lines_without_flow(tmp_path):
    rec = tmp_path / "silence.wav"
    sf.write(rec, np.zeros((8000 * 3, 2), np.float32), 8000)
    a = dopplerflow.analyze(rec)
    assert beat_lines(a) == []


def test_summary_of_a_vein_without_a_pulse_says_so_and_states_its_breathing():
    """Femoral flow phasic with breathing and without a cardiac pulse (20 s: the breathing
    is measured from 4 s on, over 6 s at least)."""
    from dopplerflow.core.beats.constants import MIN_PERIODICITY
    from dopplerflow.sim.synth import synthesize, to_layout

    syn = synthesize("femoral_competent", sample_rate_hz=8000, seed=0, duration_s=20.0)
    a = dopplerflow.analyze(to_layout(syn.baseband, "iq", 8000), sample_rate_hz=8000,
                            vessel="femoral", antegrade="away")
    s = a.beats.summary
    assert len(a.beats) == 0 and s["periodicity"] < MIN_PERIODICITY
    lines = dict(beat_lines(a))
    assert lines["heart rate"] == (f"not measured: no regular pulse in the flow (periodicity "
                                   f"{s['periodicity']:.2f}; a pulse needs {MIN_PERIODICITY})")
    assert lines["breathing"].startswith("respiratory phasicity present (peak-to-peak ")


def test_summary_says_why_there_is_no_heart_rate(artery):
    import copy

    few = copy.copy(artery.beats)
    few.summary = dict(artery.beats.summary, heart_rate_bpm=None, n_clean=2)
    a = copy.copy(artery)
    a.beats = few
    ((name, text),) = beat_lines(a)
    assert name == "heart rate" and text.startswith("not measured: fewer than 3 clean beats")


@pytest.mark.parametrize("seconds, measured", [(2.2, False), (3.0, True)])
def test_a_recording_too_short_for_the_pulse_search_says_so(tmp_path, seconds, measured):
    """Under the search's warm-up of signal the periodicity was never measured: it is
    null (not 0, which would read as no pulse at all), the batch cell is empty and the
    summary says the recording is too short, not that the flow has no regular pulse."""
    from dopplerflow.core.beats.constants import WARMUP_S
    from dopplerflow.study.table import row_from_result

    x, sr = sf.read(ARTERY)
    short = tmp_path / "short.wav"
    sf.write(short, x[:int(seconds * sr)], sr)
    a = dopplerflow.analyze(short, layout="mono", vessel="artery")
    s = a.beats.summary
    assert a.flow_detected and (s["periodicity"] is not None) == measured
    row = row_from_result("short.wav", a.to_dict(), a.settings, "defaults")
    assert row["beat_periodicity"] == s["periodicity"]
    if not measured:
        ((name, text),) = beat_lines(a)
        assert text == (f"not measured: too short to read a pulse (the search needs "
                        f"{WARMUP_S:g} s of signal)")


# -------------------------------------------------------------------------------- figures
def _beat_artists(fig):
    ax = fig.axes[1]  # the trace under the sonogram
    lines = {ln.get_gid(): ln for ln in ax.lines if ln.get_gid()}
    ticks = {c.get_gid(): c for c in ax.collections if c.get_gid()}
    return lines, ticks


def test_figure_marks_every_onset_and_each_beats_psv_and_edv(artery):
    from dopplerflow.figures import plots

    fig = plots.analysis_figure(artery)
    lines, ticks = _beat_artists(fig)
    b = artery.beats
    clean, done = b.clean, np.isfinite(b.rr_s)
    onsets = [seg[0][0] for seg in ticks["beat-onsets"].get_segments()]
    np.testing.assert_allclose(sorted(onsets), b.onset_s[clean])
    rejected = [seg[0][0] for seg in ticks["beat-onsets-rejected"].get_segments()]
    np.testing.assert_allclose(sorted(rejected), b.onset_s[~clean])
    np.testing.assert_allclose(lines["beat-psv"].get_xdata(), b.peak_s[done & clean])
    np.testing.assert_allclose(lines["beat-psv"].get_ydata(), b.psv_cm_s[done & clean])
    np.testing.assert_allclose(lines["beat-edv"].get_xdata(),
                               (b.onset_s + b.rr_s)[done & clean])
    np.testing.assert_allclose(lines["beat-edv-rejected"].get_ydata(),
                               b.edv_cm_s[done & ~clean])
    assert lines["beat-psv-rejected"].get_markerfacecolor() == "none"
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert {"PSV", "EDV", "beat onset (grey: not clean)"} <= set(labels)
    assert f"heart rate {artery.heart_rate_bpm:.0f}/min" in fig.get_suptitle()


def test_figure_without_beats_has_no_beat_marks(tmp_path):
    from dopplerflow.figures import plots

    z = np.exp(2j * np.pi * 500 * np.arange(8000 * 3) / 8000) * 0.1
    a = dopplerflow.analyze(z, sample_rate_hz=8000, keep_spectrogram=True)
    assert a.heart_rate_bpm is None
    fig = plots.analysis_figure(a)
    lines, ticks = _beat_artists(fig)
    assert not any(g.startswith("beat") for g in list(lines) + list(ticks))
    assert "heart rate" not in fig.get_suptitle()


def test_report_has_a_beats_section_with_the_recordings_figures(artery, carotid):
    from html.parser import HTMLParser

    from dopplerflow.figures import report

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.table, self.cells, self.inside = None, [], None

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.table = dict(attrs).get("id")
            if tag in ("th", "td") and self.table == "beats":
                self.inside = tag
                self.cells.append([tag, ""])

        def handle_endtag(self, tag):
            if tag in ("th", "td"):
                self.inside = None

        def handle_data(self, data):
            if self.inside:
                self.cells[-1][1] += data

    for a in (artery, carotid):
        page = report.render_report(a)
        assert '<h2 id="beats-title">Beats</h2>' in page
        assert f"<b>{a.beats.summary['heart_rate_bpm']:g} beats/min</b>" in page
        p = Cells()
        p.feed(page)
        head = [t for k, t in p.cells if k == "th"]
        body = [t for k, t in p.cells if k == "td"]
        assert len(head) == len(body) and head[0] == "PSV (cm/s)"
        s = a.beats.summary
        assert float(body[0]) == pytest.approx(s["psv_cm_s"], abs=0.05)
        assert float(body[head.index("PI")]) == pytest.approx(s["pi"], abs=0.005)
        assert ("waveform" in head) == a.direction_available
        assert "beat onsets" in page  # the caption tells the marks


# ---------------------------------------------------------------------------- live status
def test_status_line_shows_the_processors_heart_rate():
    audio, fs = sf.read(ARTERY, dtype="float32", always_2d=True)
    p = dopplerflow.Processor(dopplerflow.Settings(layout="mono"), fs, 1)
    p.push(audio[: fs // 2], rows=False)
    assert p.status()["heart_rate_bpm"] is None
    assert "HR  --/min" in format_status(p.status())
    p.push(audio[fs // 2:], rows=False)
    hr = p.status()["heart_rate_bpm"]
    assert 60.0 < hr < 80.0  # the sample beats at 69/min
    line = format_status(p.status())
    assert f"HR {hr:3.0f}/min" in line and "flow" in line
    # the field keeps its width whatever the rate
    assert len(format_status({"heart_rate_bpm": 7.0})) == len(format_status({}))
    assert math.isfinite(hr)


def test_beats_at_a_rate_no_heart_has_give_no_heart_rate():
    """The exam's perforator: a vein's noise locked near the search's shortest period gives
    clean beats at 263/min. A median rate outside the search's 30-240/min is no heart's:
    no heart rate and no indices, and the summary says why."""
    from dopplerflow.core.beats.summary import in_heart_range

    a = dopplerflow.analyze(SAMPLES / "exam" / "perforator_left_release.flac", layout="iq",
                            vessel="perforator", antegrade="toward")
    s = a.beats.summary
    rate = float(np.median(a.beats.heart_rate_bpm[a.beats.clean]))
    assert s["n_clean"] >= 3 and not in_heart_range(rate)
    assert s["heart_rate_bpm"] is None and s["psv_cm_s"] is None and s["pi"] is None
    ((name, text),) = beat_lines(a)
    assert text.startswith(f"not measured: the clean beats come at {rate:.0f}/min, outside a "
                           f"heart's 30-240/min")
    assert in_heart_range(30.0) and in_heart_range(240.0) and not in_heart_range(29.9)


def test_a_beat_over_a_reflux_is_not_clean():
    """The jugular Valsalva sample: the beat whose diastole runs into the reflux read the
    reflux's velocity as its EDV (-15.6 cm/s, PI 28). No clean beat overlaps a reflux
    event (to the next beat's peak, which places its end)."""
    a = dopplerflow.analyze(SAMPLES / "jugular_valsalva_iq.flac", vessel="ijv",
                            antegrade="away")
    (ev,) = a.reflux_events
    b = a.beats
    ends = np.append(b.peak_s[1:], np.inf)
    over = (b.onset_s < ev.end_s) & (ends > ev.start_s)
    assert over.any() and not (b.clean & over).any()
    assert np.all(b.edv_cm_s[b.clean] >= 0)
