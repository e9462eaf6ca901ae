"""``dopplerflow exam``: a manifest of recordings in, Zamboni's criteria, a leg map, a page.

Short simulated recordings with known physiology (reflux or not, flow or none) are
named in manifests written here; each CCSVI criterion is driven to met, not met and
not assessed by what the manifest holds, the leg map is checked against the
Labropoulos thresholds, bad manifests must give one line and an exit status, and the
bundled examination must render, self-contained, with what its recordings show.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from common import CONTACT_LOST_S, FS, contact_lost_over_reflux
from test_report import parse_page

from dopplerflow import cli
from dopplerflow.sim.synth import write_scenario
from dopplerflow.study import ccsvi
from dopplerflow.study.exam import analyze_exam, run_exam
from dopplerflow.study.manifest import ManifestError, load_manifest

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
#: name -> (scenario, layout, duration s, seed, antegrade)
FILES = {
    "phasic": ("jugular_phasic", "iq", 2.0, 1, "away"),       # flow, a-wave reversals 0.06 s
    "reflux": ("vertebral_repeated", "iq", 3.5, 2, "toward"),  # reflux 2.0-3.1 s
    "noflow": ("no_flow", "iq", 2.0, 3, "toward"),             # clutter and noise only
    "mono": ("jugular_phasic", "mono", 2.0, 4, "away"),        # no direction
    "gsv": ("gsv_squeeze_reflux", "iq", 4.5, 5, "toward"),    # reflux from 2.35 s
    "closure": ("femoral_competent", "iq", 4.0, 6, "away"),   # 0.45 s closure reversal
}


@pytest.fixture(scope="module")
def rec_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("exam")
    for name, (scenario, layout, duration, seed, _) in FILES.items():
        write_scenario(scenario, d / f"{name}.flac", layout=layout, sample_rate_hz=8000,
                       duration_s=duration, seed=seed)
    return d


@pytest.fixture(scope="module")
def analysed(rec_dir):
    """Each file analysed once per vessel, shared by the criteria tests."""
    cache = {}

    def get(recordings, b_mode=""):
        key = (repr(recordings), b_mode)
        if key not in cache:
            path = write_manifest(rec_dir, recordings, b_mode, name=f"m{len(cache)}.toml")
            cache[key] = analyze_exam(load_manifest(path), keep_spectrogram=False)
        return cache[key]

    return get


def write_manifest(folder, recordings, b_mode="", name="exam.toml", head=None):
    """A manifest naming ``recordings``: (file, vessel, side, posture[, manoeuvre])."""
    lines = [head if head is not None else '[exam]\nid = "T-1"\n', b_mode]
    for file, vessel, side, posture, *rest in recordings:
        base = file.removesuffix("_cut")  # a file cut short has its whole file's layout
        layout = FILES[base][1] if base in FILES else "iq"
        antegrade = FILES[base][4] if base in FILES else "auto"
        lines += ["[[recording]]", f'file = "{file}.flac"', f'vessel = "{vessel}"',
                  f'posture = "{posture}"', f'layout = "{layout}"', f'antegrade = "{antegrade}"']
        lines += [f'side = "{side}"'] if side else []
        lines += [f'manoeuvre = "{rest[0]}"'] if rest else []
    path = Path(folder) / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _status(exam, number):
    return exam.ccsvi.criteria[number - 1]


# --------------------------------------------------------------------------- the criteria
def test_criterion_1_reflux_in_ijv_or_vv_either_posture(analysed):
    met = _status(analysed([("phasic", "ijv", "left", "supine"),
                            ("reflux", "vv", "right", "sitting")]), 1)
    assert met.status == "met"
    assert [e["recording"] for e in met.evidence if e["decides"]] == [2]
    assert "longest retrograde flow 1.1" in met.evidence[1]["value"]
    no = _status(analysed([("phasic", "ijv", "left", "supine")]), 1)
    assert no.status == "not met" and "not recorded: IJV left upright" in no.reason
    # reflux under a Valsalva is shown and not counted; a mono recording cannot tell
    na = _status(analysed([("reflux", "vv", "left", "supine", "valsalva"),
                           ("mono", "ijv", "left", "supine")]), 1)
    assert na.status == "not assessed" and "not counted" in na.reason
    assert [e["value"] for e in na.evidence] == ["valsalva: not counted",
                                                 "reflux not assessable"]


def test_criterion_2_reflux_in_the_deep_cerebral_veins(analysed):
    assert _status(analysed([("reflux", "dcv", None, "supine")]), 2).status == "met"
    assert _status(analysed([("phasic", "dcv", None, "sitting")]), 2).status == "not met"
    na = _status(analysed([("phasic", "ijv", "left", "supine")]), 2)
    assert na.status == "not assessed" and "DCV" in na.reason


@pytest.mark.parametrize("b_mode, status", [
    ("ijv_csa_cm2.left = { supine = 0.25 }", "met"),
    ("ijv_csa_cm2.left = { supine = 0.3 }", "met"),  # at or under 0.3 cm2
    ("ijv_intraluminal_defect = { right = true }", "met"),
    ("ijv_csa_cm2.left = { supine = 0.31, upright = 0.1 }", "not met"),
    ("ijv_csa_cm2.left = { upright = 0.2 }", "not assessed"),  # upright values do not count
    ("", "not assessed"),
])
def test_criterion_3_stenosis_from_the_entered_b_mode_values(analysed, b_mode, status):
    exam = analysed([("phasic", "ijv", "left", "supine")], f"[b_mode]\n{b_mode}\n")
    assert _status(exam, 3).status == status


def test_criterion_4_no_flow_in_both_postures(analysed):
    met = _status(analysed([("noflow", "ijv", "left", "supine"),
                            ("noflow", "ijv", "left", "sitting"),
                            ("phasic", "ijv", "right", "supine")]), 4)
    assert met.status == "met" and "IJV left" in met.reason
    assert sum(e["decides"] for e in met.evidence) == 2
    # no flow upright alone is the normal collapse of the IJV when sitting
    no = _status(analysed([("phasic", "vv", "left", "supine"),
                           ("noflow", "vv", "left", "sitting")]), 4)
    assert no.status == "not met"
    open_ = _status(analysed([("noflow", "vv", "left", "supine")]), 4)
    assert open_.status == "not assessed" and "upright not recorded" in open_.reason
    valsalva = _status(analysed([("noflow", "ijv", "left", "supine", "valsalva"),
                                 ("noflow", "ijv", "left", "sitting", "valsalva")]), 4)
    assert valsalva.status == "not assessed"


def test_a_recording_cut_short_is_not_counted_against_a_criterion(rec_dir, analysed):
    """No reflux or no flow in the part of a file that could be read says nothing of the
    rest: such a recording does not make a criterion "not met" (nor "met", for no flow);
    reflux in the part read still counts."""
    for name in ("phasic", "noflow", "reflux", "closure"):
        data = (rec_dir / f"{name}.flac").read_bytes()
        # the 2 s phasic recording's first half would be analysed for under the 0.88 s
        # threshold, which alone leaves reflux not assessable: it keeps three quarters
        keep = len(data) * 3 // 4 if name == "phasic" else len(data) // 2
        (rec_dir / f"{name}_cut.flac").write_bytes(data[:keep])
    one = _status(analysed([("phasic_cut", "ijv", "left", "supine")]), 1)
    assert one.status == "not assessed", one
    assert one.evidence[0]["value"].endswith("(the file is cut short): not counted")
    assert not one.evidence[0]["decides"]
    whole = _status(analysed([("phasic", "ijv", "left", "supine")]), 1)
    assert whole.status == "not met"  # the same recording read whole
    # reflux 2.0-3.1 s: the first 1.75 s of the file hold none, so not counted either
    assert _status(analysed([("reflux_cut", "vv", "right", "sitting")]), 1).status \
        == "not assessed"
    four = _status(analysed([("noflow_cut", "ijv", "left", "supine"),
                             ("noflow", "ijv", "left", "sitting")]), 4)
    assert four.status == "not assessed" and "supine cut short" in four.reason, four
    assert _status(analysed([("noflow", "ijv", "left", "supine"),
                             ("noflow", "ijv", "left", "sitting")]), 4).status == "met"
    # the leg map: the closure read whole is competent; cut short, it cannot say
    legs = analysed([("closure", "gsv", "right", "standing", "release"),
                     ("closure_cut", "gsv", "left", "standing", "release")]).legs
    cells = {c.side: c for c in legs if c.vein == "gsv"}
    assert cells["right"].status == "competent"
    assert cells["left"].status == "not assessable" and cells["left"].deciding is None


def test_a_recording_with_a_stretch_not_read_as_long_as_the_threshold_is_not_counted(
        rec_dir, analysed):
    """The probe's contact lost over the whole of a jugular reflux: no reflux in the rest
    of the recording says nothing of the stretch, so, as a file cut short, the recording
    does not make criterion 1 "not met", and a leg map cell read from it alone is not
    assessable (before: "not met" and "competent", from audio that holds no trace of the
    reflux)."""
    x, _ = contact_lost_over_reflux()
    sf.write(rec_dir / "lost.flac", x, FS, subtype="PCM_16")
    one = _status(analysed([("lost", "ijv", "left", "supine")]), 1)
    assert one.status == "not assessed", one
    assert one.reason == ("no recording where reflux could be assessed of the IJV/VV (1 "
                          "recording(s) cut short, or with a stretch as long as 0.88 s not "
                          "read, not counted).")
    (evidence,) = one.evidence
    lost = CONTACT_LOST_S[1] - CONTACT_LOST_S[0]
    assert not evidence["decides"] and evidence["value"].endswith(" s): not counted")
    unseen = float(evidence["value"].split("except ")[1].split(" s unseen (a quiet stretch")[0])
    assert abs(unseen - lost) <= 0.5, evidence  # the stretch, as the noise floor found it
    # the vein read whole in the other posture decides alone
    two = _status(analysed([("lost", "ijv", "left", "supine"),
                            ("phasic", "ijv", "left", "sitting")]), 1)
    assert two.status == "not met" and "in 1 IJV/VV recording(s)" in two.reason, two
    (cell,) = [c for c in analysed([("lost", "gsv", "left", "standing", "release")]).legs
               if c.side == "left"]
    assert cell.status == "not assessable" and cell.deciding is None, cell


def test_a_silent_recording_is_not_counted_as_no_flow(rec_dir, analysed):
    """Digital silence (an unplugged probe, a muted input) is no finding of no flow: it
    does not meet criterion 4, and says why."""
    sf.write(rec_dir / "silent.flac", np.zeros((8000 * 3, 2)), 8000)
    four = _status(analysed([("silent", "ijv", "left", "supine"),
                             ("silent", "ijv", "left", "sitting")]), 4)
    assert four.status == "not assessed", four
    assert four.reason == "IJV left: supine not assessable, upright not assessable.", four
    assert all(e["value"] == "flow not assessable (the recording is near digital silence): "
                             "not counted" and not e["decides"] for e in four.evidence)
    # beside a recording without flow in the other posture, still not met
    mixed = _status(analysed([("silent", "ijv", "left", "supine"),
                              ("noflow", "ijv", "left", "sitting")]), 4)
    assert mixed.status == "not assessed" and "no flow upright" in mixed.reason, mixed


def test_a_recording_too_short_to_judge_flow_is_not_counted_as_no_flow(rec_dir, analysed):
    """The first 0.25 s of a recording with flow in most of its frames: too short for the
    0.25 s of flow the rule needs, so it is no finding of no flow (before: "no flow
    detected", and criterion 4 met on two such clips)."""
    x, fs = sf.read(rec_dir / "phasic.flac")
    sf.write(rec_dir / "phasic_short.flac", x[:fs // 4], fs)
    four = _status(analysed([("phasic_short", "ijv", "left", "supine"),
                             ("phasic_short", "ijv", "left", "sitting")]), 4)
    assert four.status == "not assessed", four
    assert four.reason == "IJV left: supine not assessable, upright not assessable.", four
    assert all(e["value"].startswith("flow not assessable (the recording is too short to "
                                     "judge flow, with flow in ")
               and e["value"].endswith("s analysed and 0.25 s needed): not counted")
               and not e["decides"] for e in four.evidence), four.evidence
    one = _status(analysed([("phasic_short", "ijv", "left", "supine")]), 1)
    assert one.status == "not assessed" and one.evidence[0]["value"] == "reflux not assessable"


@pytest.mark.parametrize("b_mode, status", [
    ("ijv_csa_cm2.right = { supine = 0.5, sitting = 0.7 }", "met"),
    ("ijv_csa_cm2.right = { supine = 0.5, upright = 0.5 }", "not met"),
    ("ijv_csa_cm2.right = { supine = 0.5 }", "not assessed"),
])
def test_criterion_5_reverted_postural_control_from_the_entered_csa(analysed, b_mode, status):
    exam = analysed([("phasic", "ijv", "left", "supine")], f"[b_mode]\n{b_mode}\n")
    assert _status(exam, 5).status == status


def test_the_count_is_met_not_met_or_undetermined():
    def result(*statuses):
        return ccsvi.CcsviResult([ccsvi.Criterion(i, s, "") for i, s in enumerate(statuses, 1)])

    assert result("met", "met", "not met", "not met", "not met").ccsvi is True
    assert result("met", "not met", "not met", "not met", "not assessed").ccsvi is None
    assert result("met", "not met", "not met", "not met", "not met").ccsvi is False
    undetermined = result("not assessed", "not met", "not met", "not assessed", "not met")
    assert undetermined.ccsvi is None and "undetermined" in undetermined.conclusion


def test_leg_map_sets_each_vein_against_its_labropoulos_threshold(analysed):
    exam = analysed([("gsv", "gsv", "left", "standing", "release"),
                     ("closure", "gsv", "right", "standing", "release"),
                     ("closure", "femoral", "left", "supine", "valsalva"),
                     ("mono", "popliteal", "left", "standing", "release")])
    assert exam.ccsvi is None  # no neck vein, no B-mode: no CCSVI table
    cells = {(c.vein, c.side): c for c in exam.legs}
    assert list(cells) == [("gsv", "left"), ("gsv", "right"), ("femoral", "left"),
                           ("femoral", "right"), ("popliteal", "left"),
                           ("popliteal", "right")]
    assert cells["gsv", "left"].status == "reflux" and cells["gsv", "left"].threshold_s == 0.5
    closure = cells["gsv", "right"]
    assert closure.status == "competent" and 0.35 < closure.longest_retrograde_s < 0.5
    assert cells["femoral", "left"].threshold_s == 1.0
    assert cells["femoral", "left"].status == "competent"
    assert cells["femoral", "right"].status == "not recorded"
    assert cells["popliteal", "left"].status == "not assessable"


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("recording, b_mode, head, match", [
    ("missing", "", None, "recording 1 (missing.flac): no such file"),
    (("phasic", "jugular", "left"), "", None, "vessel 'jugular' is not known; use one of ijv"),
    (("phasic", "ijv", "middle"), "", None, "side 'middle' is not known; use one of left"),
    (("phasic", "ijv", None), "", None, "side is missing"),
    (("phasic", "ijv", "left", "supine", "cough"), "", None, "manoeuvre 'cough' is not known"),
    (("phasic", "ijv", "left"), "[b_mode]\nijv_csa_cm2.left = { supine = -1 }\n", None,
     "not a cross-sectional area"),
    (("phasic", "ijv", "left"), "[b_mode]\ncsa = 1\n", None, "unknown key 'csa'"),
    (("phasic", "ijv", "left"), "", "[exam]\ntitle = 'x'\n", "id (the patient or study id)"),
    (("phasic", "ijv", "left"), "", "[exam\n", "is not valid TOML"),
    (None, "", None, "no recordings"),
])
def test_a_bad_manifest_is_one_line_and_exit_status_1(rec_dir, tmp_path, capsys, recording,
                                                      b_mode, head, match):
    if recording == "missing":
        recs = [("missing", "ijv", "left", "supine")]
    elif recording is None:
        recs = []
    else:
        file, vessel, side, *rest = recording
        recs = [(file, vessel, side, "supine", *rest[1:])]
    path = write_manifest(rec_dir, recs, b_mode, name="bad.toml", head=head)
    assert cli.main(["exam", str(path), "-o", str(tmp_path / "x.html"), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err and not (tmp_path / "x.html").exists()
    with pytest.raises(ManifestError):
        load_manifest(path)


def test_a_manifest_that_is_not_text_is_one_line(rec_dir, tmp_path, capsys):
    """A recording given in the manifest's place: one line, exit status 1, nothing written."""
    wav = tmp_path / "carotid.wav"
    sf.write(wav, np.zeros((8000, 2)), 48000)  # 48000 Hz: header bytes that are not UTF-8
    assert cli.main(["exam", str(wav), "-o", str(tmp_path / "x.html"), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{wav} is not TOML: byte " in err
    assert "is not UTF-8 text (a binary file?); give a TOML text file" in err
    assert not (tmp_path / "x.html").exists()


def test_an_unknown_setting_in_a_recording_is_one_line(rec_dir, tmp_path, capsys):
    path = write_manifest(rec_dir, [("phasic", "ijv", "left", "supine")], name="k.toml")
    path.write_text(path.read_text() + "probe = 'pencil'\n")
    assert cli.main(["exam", str(path), "-o", str(tmp_path / "x.html")]) == 1
    assert "unknown key 'probe'" in capsys.readouterr().err


def test_a_recording_that_cannot_be_analysed_is_named_in_one_line(rec_dir, tmp_path, capsys):
    path = write_manifest(rec_dir, [("phasic", "ijv", "left", "supine"),
                                    ("mono", "ijv", "right", "supine")], name="l.toml")
    path.write_text(path.read_text().replace('layout = "mono"', 'layout = "iq"'))
    assert cli.main(["exam", str(path), "-o", str(tmp_path / "x.html"), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "l.toml: recording 2 (mono.flac): " in err
    assert "layout 'iq'" in err and not (tmp_path / "x.html").exists()


def test_outputs_may_not_overwrite_the_manifest_a_recording_or_each_other(rec_dir, tmp_path,
                                                                           capsys):
    path = write_manifest(rec_dir, [("phasic", "ijv", "left", "supine")], name="o.toml")
    to_manifest = tmp_path / "out.json"
    to_manifest.symlink_to(path)
    to_recording = tmp_path / "out.html"
    to_recording.symlink_to(rec_dir / "phasic.flac")
    for argv, named in ((["-o", str(tmp_path / "a.html"), "--json", str(to_manifest)],
                         "o.toml"),
                        (["-o", str(to_recording)], "phasic.flac"),
                        (["-o", str(tmp_path / "a.txt")], "must end in .html")):
        assert cli.main(["exam", str(path), *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and named in err
    assert path.read_text().startswith("[exam]")
    assert sf.info(str(rec_dir / "phasic.flac")).frames == 16000


# --------------------------------------------------------------------------- the bundled exam
@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundled")
    exam = run_exam(SAMPLES / "exam" / "exam.toml", html=out / "exam.html",
                    json_path=out / "exam.json")
    return exam, (out / "exam.html").read_text(encoding="utf-8"), \
        json.loads((out / "exam.json").read_text())


def test_the_bundled_exam_reads_its_criteria_and_leg_map(bundled):
    exam, _, data = bundled
    statuses = [c["status"] for c in data["ccsvi"]["criteria"]]
    assert statuses == ["met", "not met", "met", "not met", "not met"]
    assert data["ccsvi"]["n_met"] == 2 and data["ccsvi"]["ccsvi"] is True
    c1 = data["ccsvi"]["criteria"][0]
    assert [e["recording"] for e in c1["evidence"] if e["decides"]] == [6]  # the VV
    assert any(e["value"] == "valsalva: not counted" for e in c1["evidence"])
    legs = {(c["vein"], c["side"]): c["status"] for c in data["leg_map"]}
    assert legs == {("gsv", "left"): "reflux", ("gsv", "right"): "competent",
                    ("femoral", "left"): "reflux", ("femoral", "right"): "not recorded",
                    ("perforator", "left"): "reflux", ("perforator", "right"): "not recorded"}
    assert [r["file"] for r in data["recordings"]] == \
        [r.file for r in exam.manifest.recordings]
    assert all(r["result"]["file"] == r["file"] for r in data["recordings"])
    assert "not a medical device" in data["disclaimer"] and "contested" in data["ccsvi_status"]


def test_the_bundled_exam_page_is_self_contained_and_complete(bundled):
    exam, page, _ = bundled
    p = parse_page(page)
    assert all(s.startswith(("data:image/png;base64,", "#")) for s in p.srcs)
    images = [s for s in p.srcs if s.startswith("data:")]
    assert len(images) == len(exam.items) + 1  # a sonogram each, and the leg map
    assert p.tables["ccsvi"]["body"] == 5 and p.tables["leg-map"]["body"] == 6
    assert p.tables["recordings"]["body"] == len(exam.items)
    text = " ".join(p.text)
    assert "not a medical device" in text and "contested hypothesis" in text
    assert "2 of 5 criteria met" in text


def test_beats_and_heart_rate_are_shown_when_the_analysis_has_them(analysed):
    """A recording with a pulse (the carotid-like pulsatile flow of an artery preset)
    shows its heart rate, indices and beats on the page and in the JSON."""
    from dopplerflow.figures.exam_report import render_exam

    exam = analysed([("phasic", "ijv", "left", "supine")])
    plain = render_exam(exam)
    assert "Heart rate:" not in plain and "<h4>Beats</h4>" not in plain
    import dopplerflow as df

    exam.items[0].analysis = df.analyze(str(SAMPLES / "artery_mono.flac"), layout="mono",
                                        vessel="artery")
    page = render_exam(exam)
    data = exam.to_dict()["recordings"][0]["result"]
    hr = exam.items[0].analysis.heart_rate_bpm
    assert hr is not None and f"Heart rate: {hr:.0f} beats/min" in page
    assert "<h4>Beats</h4>" in page and "PSV, cm/s" in page
    assert data["heart_rate_bpm"] == hr and data["beats"]["n_beats"] >= 5


def _recording_text(page, index):
    """The text of recording ``index``'s section of an exam page."""
    start = page.index(f'<section class="recording" id="rec-{index}">')
    html = page[start:page.index("</section>", start) + len("</section>")]
    return " ".join(" ".join(parse_page("<!DOCTYPE html>" + html).text).split())


def test_a_recording_that_cannot_tell_retrograde_flow_says_why(tmp_path):
    """Where reflux is not assessable and no retrograde flow is listed (a mono recording,
    one shorter than the threshold, two vessels flowing opposite ways) the recording's
    section says it is not assessable and why, as the report does, not that there is no
    retrograde flow; a recording without flow says there is none."""
    from dopplerflow.core import verdict
    from dopplerflow.figures.exam_report import render_exam

    files = {"mono": ("jugular_phasic", "mono", 2.0, 8000),
             "short": ("jugular_phasic", "iq", 0.6, 8000),
             "twov": ("jugular_with_carotid", "iq", 4.0, 16000),
             "noflow": ("no_flow", "iq", 2.0, 8000)}
    for name, (scenario, layout, duration, fs) in files.items():
        write_scenario(scenario, tmp_path / f"{name}.flac", layout=layout, sample_rate_hz=fs,
                       duration_s=duration, seed=3)
    path = write_manifest(tmp_path, [(name, "ijv", "left", "supine") for name in files])
    exam = analyze_exam(load_manifest(path), keep_spectrogram=False)
    page = render_exam(exam)
    why = {}
    for it in exam.items:
        a, text = it.analysis, _recording_text(page, it.recording.index)
        name = it.recording.file.removesuffix(".flac")
        if name == "noflow":
            assert a.flow_detected is False and "No retrograde flow." in text
            continue
        assert a.reflux is None and not a.reflux_events and not a.episodes, name
        why[name] = verdict.not_assessable_reason(a)
        assert f"Retrograde flow not assessable: {why[name]}." in text
        assert "No retrograde flow" not in text
    assert why["mono"] == "a mono recording has no flow direction"
    assert why["short"].endswith("shorter than the reflux threshold of 0.88 s")
    assert why["twov"] == "two vessels flow opposite ways in the beam"


def test_a_beat_value_not_defined_is_a_dash_as_in_the_json(tmp_path):
    """A jugular Valsalva: beats without systolic flow have no RI (infinite in the
    arrays), and the PI and S/D of others are not defined. Each cell of the page's beats
    table is "\u2014" exactly where the JSON has null, never "inf" or "nan"."""
    import re

    from test_report import _Cells

    from dopplerflow.figures.exam_report import _BEAT_COLUMNS, render_exam

    write_scenario("jugular_valsalva", tmp_path / "valsalva.flac", layout="iq",
                   sample_rate_hz=8000, seed=11)
    path = write_manifest(tmp_path, [("valsalva", "ijv", "left", "supine", "valsalva")])
    exam = analyze_exam(load_manifest(path), keep_spectrogram=False)
    beats = exam.items[0].analysis.beats
    assert np.isinf(beats.ri[:50]).any()
    page = render_exam(exam)
    (html,) = re.findall(r"<h4>Beats</h4>(<table>.*?</table>)", page, flags=re.S)
    cells = _Cells()
    cells.feed(html)
    (table,) = cells.tables.values()
    assert len(table) - 1 == min(len(beats), 50)
    lists = beats.to_lists()
    for i, row in enumerate(table[1:]):
        for (column, _, decimals), cell in zip(_BEAT_COLUMNS, row, strict=True):
            if decimals is None:
                continue
            assert (cell == "\u2014") == (lists[column][i] is None), (i, column, cell)
            assert "inf" not in cell and "nan" not in cell


def test_the_bundled_exam_is_what_make_samples_writes_bit_for_bit(tmp_path):
    spec = importlib.util.spec_from_file_location("make_samples",
                                                  SAMPLES / "make_samples.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    paths = [Path(p) for p in mod.make_exam(tmp_path)]
    named = sorted(r.file for r in load_manifest(SAMPLES / "exam" / "exam.toml").recordings)
    assert sorted(p.name for p in paths) == named
    assert sorted(p.name for p in (SAMPLES / "exam").glob("*.flac")) == named
    for p in paths:
        new, fs_new = sf.read(p, dtype="int16")
        old, fs_old = sf.read(SAMPLES / "exam" / p.name, dtype="int16")
        assert fs_new == fs_old == 8000 and np.array_equal(new, old), p.name
    assert sum(p.stat().st_size for p in (SAMPLES / "exam").iterdir()) < 1.1e6


def test_longest_retrograde_is_null_where_the_recording_cannot_tell(analysed):
    """A mono recording cannot tell retrograde from antegrade flow: its longest
    retrograde flow is null in the JSON and "—" on the page, as in the leg map (before:
    0.0, which reads as no retrograde flow); a recording with direction keeps its
    figure."""
    import re

    from dopplerflow.figures.exam_report import render_exam

    exam = analysed([("mono", "ijv", "left", "supine"), ("phasic", "ijv", "right", "supine")])
    mono, phasic = exam.to_dict()["recordings"]
    assert mono["longest_retrograde_s"] is None
    assert isinstance(phasic["longest_retrograde_s"], float)
    page = render_exam(exam)
    cells = dict(re.findall(r'<td>(\w+)\.flac</td>(?:<td>[^<]*</td>)*<td class="num">([^<]*)</td>',
                            page))
    assert cells == {"mono": "\u2014", "phasic": f"{phasic['longest_retrograde_s']:.2f}"}


def test_an_output_in_a_missing_folder_is_bad_input_as_for_every_command(tmp_path, capsys):
    """exam -o, batch -o and analyze --json into a folder that does not exist: one line
    naming it, exit status 1 alike."""
    from dopplerflow import cli

    rec = SAMPLES / "jugular_valsalva_iq.flac"
    manifest = SAMPLES / "exam" / "exam.toml"
    gone = tmp_path / "gone"
    for argv in (["exam", str(manifest), "-o", str(gone / "e.html")],
                 ["batch", str(rec), "-o", str(gone / "t.csv"), "-q"],
                 ["analyze", str(rec), "--json", str(gone / "a.json"), "-q"]):
        assert cli.main(argv) == 1, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "does not exist" in err[0], err
    assert not gone.exists()
