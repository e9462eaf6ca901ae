"""``dopplerflow evaluate``: the machinery on a tiny subset, aggregation on hand-made scores."""

import json
import math

import numpy as np
import pytest
import soundfile as sf

from dopplerflow.core.velocity import doppler_shift_hz
from dopplerflow.errors import SettingsError
from dopplerflow.sim import evaluate as ev
from dopplerflow.sim import synth


# ------------------------------------------------------------------------------ one recording
def test_quantise_is_what_the_writer_writes(tmp_path):
    """The in-memory audio equals the file write_scenario writes, read back, bit for bit."""
    path = tmp_path / "p.wav"
    synth.write_scenario("perforator_reflux", path, layout="toward-away", sample_rate_hz=8000,
                         duration_s=1.0, seed=5, snr_db=12.0)
    from_file, fs = sf.read(path, dtype="float64", always_2d=True)
    syn = synth.synthesize("perforator_reflux", sample_rate_hz=8000, duration_s=1.0, seed=5,
                           snr_db=12.0)
    in_memory = ev.quantise(synth.to_layout(syn.baseband, "toward-away", 8000))
    assert fs == 8000 and np.array_equal(in_memory, from_file)
    # 3 dB headroom: the peak sits at 10**(-3/20) of full scale, to within one 16-bit step
    assert np.abs(in_memory).max() == pytest.approx(10 ** (-3 / 20), abs=2 ** -15)


def test_sample_rate_holds_every_scenario_band():
    for name, _ in synth.list_scenarios():
        assert ev.sample_rate_for(name, ev.LAYOUTS) == ev.SAMPLE_RATE_HZ
    # the artery peaks at 80 cm/s: about 4.2 kHz at 8 MHz and 60 degrees
    peak_hz = doppler_shift_hz(80.0, 8e6, 60.0)
    fs = ev.sample_rate_for("artery_triphasic", ("iq", "offset"))
    assert fs / 4 > 1.15 * peak_hz and fs > ev.SAMPLE_RATE_HZ
    assert ev.sample_rate_for("no_flow", ("iq",), base_rate_hz=44100) == 44100


@pytest.fixture(scope="module")
def tiny():
    """One scenario, one SNR, one seed, in iq (given and auto) and mono, in process."""
    return ev.evaluate(scenarios=("jugular_valsalva",), snrs=(20,), seeds=(0,),
                       layouts=("iq", "mono"), workers=1)


def test_tiny_evaluation_records(tiny):
    recs = tiny["records"]
    # iq: given + auto; mono has no direction, so no auto run
    assert [(r["layout"], r["antegrade"]) for r in recs] == [
        ("iq", "given"), ("iq", "auto"), ("mono", "given")]
    for r in recs:
        assert r["scenario"] == "jugular_valsalva" and r["snr_db"] == 20.0 and r["seed"] == 0
        assert r["sample_rate_hz"] == ev.SAMPLE_RATE_HZ and "error" not in r
        assert r["n_true_events"] == 1  # the truth's single Valsalva reflux
        assert len(r["onset_errors_s"]) == len(r["end_errors_s"]) == r["n_matched"]
    iq, auto, mono = recs
    # at 20 dB the reflux is found and the recording classified right, given or auto
    assert iq["recording_correct"] is True and iq["n_matched"] == 1
    assert auto["recording_correct"] is True and auto["antegrade_chosen"] == "away"
    # a mono recording's reflux is not assessable: neither right nor wrong
    assert mono["reflux_correct"] is None and mono["recording_correct"] is None
    assert mono["sign_agreement_pct"] is None and mono["trace_rms_error_pct"] is not None
    json.dumps(tiny)  # the whole result is JSON-ready


def test_tiny_evaluation_aggregates(tiny):
    (row,) = tiny["rows"]
    assert (row["scenario"], row["snr_db"]) == ("jugular_valsalva", 20.0)
    assert (row["n_recordings"], row["n_right"], row["n_wrong"], row["n_not_assessable"]) == \
        (2, 1, 0, 1)
    assert row["classification_right_pct"] == 100.0
    assert (row["auto_n_recordings"], row["auto_n_right"]) == (1, 1)
    # the mono recording's reflux is not assessable: its event is neither found nor missed
    assert row["n_true_events"] == 1 and row["sensitivity"] == 1.0
    for key in ("trace_rms_pct", "trace_rms_max_pct", "trace_bias_pct", "sign_agreement_pct",
                "median_onset_error_ms", "median_end_error_ms"):
        assert math.isfinite(row[key]), key
    assert row["trace_rms_max_pct"] >= row["trace_rms_pct"] * 0.999  # max >= pooled rms
    (overall,) = tiny["overall"]
    assert overall["targets"] == ev.targets_for(20.0) and overall["verdict"] in ("PASS", "FAIL")
    assert {c["name"] for c in overall["checks"]} == set(overall["targets"])
    text = ev.format_report(tiny)
    assert "jugular_valsalva" in text and f"SNR 20 dB: {overall['verdict']}" in text


def test_pool_gives_the_same_records_as_one_process():
    kw = dict(scenarios=("perforator_reflux",), snrs=(12,), seeds=(0, 1), layouts=("iq",),
              auto=False)
    one = ev.evaluate(workers=1, **kw)
    two = ev.evaluate(workers=2, **kw)
    assert one["records"] == two["records"] and one["rows"] == two["rows"]
    assert [r["seed"] for r in two["records"]] == [0, 1]


def test_own_snr_scenario_runs_at_its_own_snr():
    tasks = ev._tasks(("low_snr_gsv", "no_flow"), (20.0, 7.0), (0, 1), ("iq",), 16000, None, True)
    assert [(t["scenario"], t["snr_db"]) for t in tasks] == [
        ("low_snr_gsv", 4.0), ("low_snr_gsv", 4.0), ("no_flow", 20.0), ("no_flow", 20.0),
        ("no_flow", 7.0), ("no_flow", 7.0)]


@pytest.mark.parametrize("kw, match", [
    (dict(layouts=("iq", "stereo")), "layouts"),
    (dict(scenarios=("nope",)), "scenario 'nope' is not known"),
    (dict(snrs=()), "SNR levels"),
    (dict(snrs=(20, "loud")), "SNR levels"),
    (dict(snrs=(float("nan"),)), "SNR levels"),
    (dict(seeds=(-1,)), "seeds"),
    (dict(workers=0), "workers"),
    (dict(envelope="median"), "median"),
])
def test_bad_arguments(kw, match):
    with pytest.raises(SettingsError, match=match):
        ev.evaluate(**kw)


# ------------------------------------------------------------------------ hand-made scores
def _rec(scenario, snr, correct=True, antegrade="given", onset=(), end=(), true=0, det=0,
         frames=0, rms=None, bias=None, sign=None, peak=(), measurable=None, assessable=True):
    return {"scenario": scenario, "snr_db": snr, "antegrade": antegrade, "layout": "iq",
            "seed": 0, "recording_correct": correct, "reflux_assessable": assessable,
            "n_true_events": true,
            "n_detected_events": det, "n_matched": len(onset), "onset_errors_s": list(onset),
            "end_errors_s": list(end), "peak_errors_pct": list(peak), "trace_frames": frames,
            "trace_measurable_frames": frames if measurable is None else measurable,
            "trace_rms_error_pct": rms, "trace_bias_pct": bias, "sign_agreement_pct": sign}


def test_aggregate_pools_rows_with_known_answers():
    recs = [
        _rec("A", 20, True, onset=(0.01, -0.03), end=(0.005, 0.05), true=2, det=2,
             frames=100, rms=3.0, bias=1.0, sign=100.0, peak=(12.0, -4.0)),
        _rec("A", 20, True, onset=(0.02,), end=(-0.01,), true=1, det=1,
             frames=300, rms=5.0, bias=-1.0, sign=90.0, peak=(6.0,)),
        _rec("A", 20, False, true=1, det=0),
        _rec("A", 20, True, antegrade="auto"),
        _rec("A", 20, False, antegrade="auto"),
        _rec("B", 20, None, frames=50, rms=9.0, bias=2.0, true=1,
             assessable=False),  # mono: not assessable, no sign, its event not missed
        _rec("A", 7, True, frames=10, rms=4.0, bias=0.0, sign=100.0),
    ]
    out = ev.aggregate(recs)
    assert [(r["scenario"], r["snr_db"]) for r in out["rows"]] == [
        ("A", 20.0), ("A", 7.0), ("B", 20.0)]
    a = out["rows"][0]
    assert (a["n_recordings"], a["n_right"], a["n_wrong"], a["n_not_assessable"]) == (3, 2, 1, 0)
    assert a["classification_right_pct"] == pytest.approx(200 / 3)
    assert (a["auto_n_recordings"], a["auto_n_right"], a["auto_n_wrong"]) == (2, 1, 1)
    assert a["auto_classification_right_pct"] == 50.0
    assert (a["n_true_events"], a["n_detected_events"], a["n_matched"]) == (4, 3, 3)
    assert a["sensitivity"] == 0.75 and a["ppv"] == 1.0
    assert a["median_onset_error_ms"] == pytest.approx(20.0)  # |10|, |-30|, |20| ms
    assert a["median_end_error_ms"] == pytest.approx(10.0)  # |5|, |50|, |-10| ms
    assert a["median_peak_error_pct"] == pytest.approx(6.0)  # signed: 12, -4, 6 %
    # frame-weighted: sqrt((100 * 3^2 + 300 * 5^2) / 400), (100 - 300) / 400, 92.5
    assert a["trace_rms_pct"] == pytest.approx(math.sqrt(21.0))
    assert a["trace_rms_max_pct"] == 5.0
    assert a["trace_bias_pct"] == pytest.approx(-0.5)
    assert a["sign_agreement_pct"] == pytest.approx(92.5)
    b = out["rows"][2]
    assert b["n_not_assessable"] == 1 and b["classification_right_pct"] is None
    assert b["sign_agreement_pct"] is None and b["trace_rms_pct"] == 9.0
    assert b["n_true_events"] == 0 and b["sensitivity"] is None and b["ppv"] is None
    assert b["median_onset_error_ms"] is None
    assert b["median_peak_error_pct"] is None


def test_aggregate_checks_the_targets():
    recs = [
        _rec("A", 20, True, onset=(0.01,), end=(0.04,), true=1, det=1, frames=10, rms=4.0,
             bias=0.0, sign=100.0),
        _rec("B", 20, False, frames=10, rms=9.0, bias=0.0, sign=100.0),
        _rec("C", 20, None, assessable=False),  # not assessable: in no classification
    ]
    recs += [_rec("A", 7, i != 0, frames=10, rms=14.0, bias=0.0) for i in range(20)]
    recs += [_rec("A", 3, False, frames=10, rms=60.0, bias=0.0)]
    out = ev.aggregate(recs)
    o20, o7, o3 = out["overall"]
    assert [o["snr_db"] for o in out["overall"]] == [20.0, 7.0, 3.0]
    checks = {c["name"]: c for c in o20["checks"]}
    assert list(checks) == ["classification_right_pct", "median_onset_error_ms",
                            "median_end_error_ms", "trace_rms_pct"]
    assert checks["classification_right_pct"]["value"] == 50.0
    assert checks["classification_right_pct"]["over"] == [{"scenario": "B", "value": 0.0}]
    assert checks["median_onset_error_ms"]["passed"] is True  # 10 ms <= 30
    assert checks["median_end_error_ms"]["passed"] is False  # 40 ms > 30
    assert checks["median_end_error_ms"]["over"] == [{"scenario": "A", "value": 40.0}]
    # pooled frame-weighted: sqrt((10 * 4^2 + 10 * 9^2) / 20) = 6.96 % <= 8 %, but B's own
    # row (9 %) is listed
    assert checks["trace_rms_pct"]["value"] == pytest.approx(math.sqrt(48.5))
    assert checks["trace_rms_pct"]["passed"] is True
    assert checks["trace_rms_pct"]["over"] == [{"scenario": "B", "value": 9.0}]
    assert o20["verdict"] == "FAIL"
    # 19 of 20 right is exactly 95%, and 14% <= 15%
    assert o7["classification_right_pct"] == 95.0 and o7["verdict"] == "PASS"
    assert {c["name"] for c in o7["checks"]} == {"classification_right_pct", "trace_rms_pct"}
    assert all(c["over"] == [] for c in o7["checks"])
    assert o7["checks"][1]["worst"] == {"scenario": "A", "value": 14.0}
    assert o3["targets"] is None and o3["checks"] == [] and o3["verdict"] == "reported"
    assert out["passed"] is False


def test_a_scenario_over_a_limit_is_listed_but_the_pooled_median_decides():
    recs = [_rec("slow", 12, True, onset=(0.06,), end=(0.05,), true=1, det=1, frames=10,
                 rms=3.0, bias=0.0, sign=100.0)]
    recs += [_rec("brisk", 12, True, onset=(0.004,), end=(0.008,), true=1, det=1, frames=10,
                  rms=3.0, bias=0.0, sign=100.0) for _ in range(2)]
    (o,) = ev.aggregate(recs)["overall"]
    checks = {c["name"]: c for c in o["checks"]}
    assert checks["median_onset_error_ms"]["value"] == pytest.approx(4.0)
    assert checks["median_onset_error_ms"]["over"] == [{"scenario": "slow", "value": 60.0}]
    assert checks["median_end_error_ms"]["over"] == [{"scenario": "slow", "value": 50.0}]
    assert o["verdict"] == "PASS"
    text = ev.format_report(ev.aggregate(recs))
    assert ("ok   median onset error 4.0 ms (target <= 30 ms); scenario rows over it: "
            "slow 60.0 ms") in text


def test_check_without_data_does_not_fail():
    out = ev.aggregate([_rec("no_flow", 12, True), _rec("no_flow", 12, True)])
    (o,) = out["overall"]
    checks = {c["name"]: c["passed"] for c in o["checks"]}
    assert checks == {"classification_right_pct": True, "median_onset_error_ms": None,
                      "median_end_error_ms": None, "trace_rms_pct": None}
    assert o["verdict"] == "PASS" and out["passed"] is True
    assert ev.aggregate([_rec("x", 3, True)])["passed"] is None


def test_targets_follow_the_issue():
    strict = {"classification_right_pct": 100.0, "median_onset_error_ms": 30.0,
              "median_end_error_ms": 30.0, "trace_rms_pct": 8.0}
    assert ev.targets_for(20) == strict and ev.targets_for(12) == strict
    assert ev.targets_for(11.9) == ev.targets_for(7) == {"classification_right_pct": 95.0,
                                                         "trace_rms_pct": 15.0}
    assert ev.targets_for(6.9) is None and ev.targets_for(3) is None


def test_report_table_is_aligned():
    recs = [_rec("jugular_phasic", 20, True, frames=10, rms=4.0, bias=1.0, sign=99.0),
            _rec("no_flow", 20, True), _rec("no_flow", 3, False)]
    text = ev.format_report(ev.aggregate(recs))
    lines = text.splitlines()
    table = lines[:lines.index("")]
    header, rows = table[0], [ln for ln in table[1:] if not ln.startswith("-")]
    assert header.split()[:3] == ["scenario", "SNR", "dB"] and len(rows) == 5
    assert table[1] == table[5] == "-" * len(header)  # rules under the header and the rows
    assert len({len(ln) for ln in [header] + rows}) == 1  # every column right-aligned
    assert rows[-2].startswith("ALL (PASS)") and rows[-1].startswith("ALL (reported)")
    assert "SNR 3 dB: reported as is" in text
