"""The beats in the simulator's truth, and their scoring by ``score`` and ``evaluate``.

The truth of a pulsing scenario is checked on a velocity with known cycles; the
scoring on hand-made results whose errors are known; the pooling and the target
checks on hand-made records; and the whole path on the bundled artery and a short
evaluation of the carotid.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from dopplerflow.cli import main
from dopplerflow.errors import InputError
from dopplerflow.sim import beats as sb
from dopplerflow.sim import evaluate as ev
from dopplerflow.sim.pulse import cycle_truth, scenario_pulse
from dopplerflow.sim.score import score
from dopplerflow.sim.synth import synthesize

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


# ---------------------------------------------------------------------------------- truth
def _square(t):
    """50 cm/s over the first fifth of each 1 s cycle, 10 cm/s after it."""
    return np.where(np.mod(t, 1.0) < 0.2, 50.0, 10.0)


def test_cycle_truth_of_a_known_waveform():
    t = cycle_truth(np.arange(7.0), 5.0, _square)
    assert t["beat_times_s"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert t["complete_s"] == [0.0, 1.0, 2.0, 3.0, 4.0]  # the last one ends at 5.0
    assert t["heart_rate_bpm"] == 60.0
    np.testing.assert_allclose(t["psv_cm_s"], 50.0)
    np.testing.assert_allclose(t["edv_cm_s"], 10.0)
    # 200 of the 1000 ms steps at 50, 800 at 10 (the grid's rounding moves one step at most)
    np.testing.assert_allclose(t["tamv_cm_s"], 18.0, atol=0.05)
    np.testing.assert_allclose(t["ri"], 0.8)
    np.testing.assert_allclose(t["pi"], 40.0 / np.array(t["tamv_cm_s"]))


def test_a_beat_whose_peak_is_past_the_end_is_not_in_the_truth():
    # the cycle starting at 4.99 peaks at once, but 25 ms from the end is too late
    t = cycle_truth(np.r_[np.arange(5.0), 4.99, 6.0], 5.0, lambda x: np.where(
        np.mod(x, 1.0) < 0.2, 50.0, 10.0))
    assert t["beat_times_s"][-1] == 4.0


def test_pulsing_scenarios_write_their_beats():
    art = synthesize("artery_triphasic", sample_rate_hz=16000, seed=0).truth
    np.testing.assert_allclose(np.diff(art["beat_times_s"]), 1 / 1.15, atol=1e-4)
    assert art["heart_rate_bpm"] == pytest.approx(69.0)
    assert len(art["psv_cm_s"]) == len(art["edv_cm_s"]) == len(art["beat_times_s"]) - 1
    np.testing.assert_allclose(art["psv_cm_s"], 80.0, rtol=1e-3)  # the 80 cm/s peak
    assert max(art["edv_cm_s"]) == 0.0 and set(art["ri"]) == {1.0}  # no diastolic flow
    car = synthesize("carotid", sample_rate_hz=16000, seed=0).truth
    np.testing.assert_allclose(car["edv_cm_s"], 20.0, atol=0.01)
    np.testing.assert_allclose(car["psv_cm_s"], 70.0, atol=0.05)
    vein = synthesize("jugular_phasic", sample_rate_hz=8000, seed=0).truth
    assert vein["heart_rate_bpm"] == pytest.approx(66.0)
    # scenarios without a steady pulse keep their truth as it was
    assert "beat_times_s" not in synthesize("jugular_valsalva", sample_rate_hz=8000).truth
    assert list(scenario_pulse(1.0, 3.0)) == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_the_bundled_artery_truth_holds_its_beats():
    on_disk = json.loads((SAMPLES / "artery_mono.truth.json").read_text())
    made = synthesize("artery_triphasic", sample_rate_hz=11025, seed=4, snr_db=15.0).truth
    for key in ("beat_times_s", "heart_rate_bpm", "psv_cm_s", "edv_cm_s", "tamv_cm_s", "ri",
                "pi"):
        assert on_disk[key] == made[key], key


# -------------------------------------------------------------------------- one recording
TRUTH = {"scenario": "x", "flow": True, "vessel": "artery", "duration_s": 10.0,
         "beat_times_s": [0.5 + k for k in range(9)], "heart_rate_bpm": 60.0,
         "psv_cm_s": [80.0] * 8, "edv_cm_s": [20.0] * 8, "ri": [0.75] * 8,
         "pi": [2.0] * 8}


def _result(onsets, hr=60.0, **summary):
    s = dict(psv_cm_s=80.0, edv_cm_s=20.0, ri=0.75, pi=2.0)
    s.update(summary)
    return {"flow_detected": True, "heart_rate_bpm": hr, "beats": s,
            "beat_table": {"onset_s": list(onsets)},
            "summary": {"velocity_resolution_cm_s": 2.0}}


def test_a_perfect_result_scores_no_error():
    b = sb.beat_score(_result(np.array(TRUTH["beat_times_s"]) + 0.06), TRUTH)
    assert (b["n_reference"], b["n_detected"], b["n_matched"]) == (9, 9, 9)
    assert b["sensitivity"] == b["ppv"] == 1.0
    assert b["offset_ms"] == pytest.approx(60.0) and b["onset_error_ms"] == pytest.approx(0.0)
    for key in ("hr_error_bpm", "hr_error_pct", "psv_error_pct", "edv_error_pct", "ri_error",
                "pi_error"):
        assert b[key] == pytest.approx(0.0), key
    assert b["arterial"] and not b["edv_zero"] and b["edv_error_bins"] is None


def test_errors_are_signed_and_in_the_truths_units():
    onsets = [t for t in TRUTH["beat_times_s"] if t != 4.5] + [4.9]  # one missed, one extra
    b = sb.beat_score(_result(onsets, hr=61.5, psv_cm_s=84.0, edv_cm_s=19.0, ri=0.78,
                              pi=1.9), TRUTH)
    assert b["sensitivity"] == pytest.approx(8 / 9) and b["ppv"] == pytest.approx(8 / 9)
    assert b["hr_error_bpm"] == pytest.approx(1.5) and b["hr_error_pct"] == pytest.approx(2.5)
    assert b["psv_error_pct"] == pytest.approx(5.0) and b["edv_error_pct"] == pytest.approx(-5.0)
    assert b["ri_error"] == pytest.approx(0.03) and b["pi_error"] == pytest.approx(-0.1)


def test_no_end_diastolic_flow_gives_the_edv_error_in_bins():
    truth = dict(TRUTH, edv_cm_s=[0.0] * 8)
    b = sb.beat_score(_result(TRUTH["beat_times_s"], edv_cm_s=1.0), truth)
    assert b["edv_zero"] and b["edv_error_pct"] is None and b["edv_error_bins"] == 0.5


def test_a_mono_result_is_scored_on_speeds():
    truth = dict(TRUTH, edv_cm_s=[-10.0] * 8)  # reversed flow at end-diastole
    r = dict(_result(TRUTH["beat_times_s"], edv_cm_s=10.0, ri=0.875, pi=1.0),
             direction_available=False)
    b = sb.beat_score(r, truth)
    assert b["edv_error_pct"] == 0.0 and b["ri_error"] == pytest.approx(0.0)
    assert b["pi_error"] is None  # the mean speed is not the truth's signed TAMV


def test_beats_of_a_cycle_the_truth_does_not_list_are_not_counted():
    # a vein: the last cycle (11.82 s) peaks after the end, so its onset found at 11.85 s is
    # neither found nor missed
    truth = dict(TRUTH, vessel="ijv", duration_s=12.0,
                 beat_times_s=[k / 1.1 for k in range(13)])
    b = sb.beat_score(_result(truth["beat_times_s"] + [11.85]), truth)
    assert b["n_detected"] == 13 and b["ppv"] == 1.0 and not b["arterial"]


def test_a_result_without_per_beat_values_scores_the_rate_and_the_indices():
    r = _result([])
    del r["beat_table"]
    b = sb.beat_score(r, TRUTH)
    assert b["sensitivity"] is None and b["note"] == "no per-beat values in the result"
    assert b["hr_error_bpm"] == 0.0
    text = "\n".join(sb.format_beat_score(b))
    assert "not matched: no per-beat values in the result" in text and "--trace-json" in text


def test_score_holds_the_beats_only_when_the_truth_has_them():
    assert score(_result(TRUTH["beat_times_s"]), TRUTH)["beats"]["sensitivity"] == 1.0
    no_pulse = {k: v for k, v in TRUTH.items() if k not in ("beat_times_s",)}
    assert score(_result([]), no_pulse)["beats"] is None
    with pytest.raises(InputError, match="truth beat_times_s is '0.5, 1.5'; it must be a list"):
        score(_result([]), dict(TRUTH, beat_times_s="0.5, 1.5"))


def test_cli_score_prints_the_beats(tmp_path, capsys):
    out = tmp_path / "a.json"
    sample = SAMPLES / "artery_mono.flac"
    assert main(["analyze", str(sample), "--layout", "mono", "--vessel", "artery", "--json",
                 str(out), "--trace-json", "-q"]) == 0
    assert main(["score", str(out), str(sample).replace(".flac", ".truth.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    beats = next(ln for ln in lines if ln.startswith("beats "))
    assert "sensitivity 100%, PPV 100%" in beats
    hr = next(ln for ln in lines if ln.startswith("heart rate "))
    assert "against 69.0" in hr
    idx = next(ln for ln in lines if ln.startswith("indices       PSV "))
    assert "EDV +0.00 bins (no diastolic flow)" in idx and "PI n/a" in idx  # mono: speeds


# ---------------------------------------------------------------------------- evaluation
def _beats(scenario="a", snr=20.0, arterial=True, hr=0.0, pi=0.0, matched=10, ref=10, det=10,
           edv_zero=False, antegrade="given"):
    b = {"arterial": arterial, "edv_zero": edv_zero, "n_reference": ref, "n_detected": det,
         "n_matched": matched, "onset_error_ms": 3.0,
         "heart_rate_bpm": None if hr is None else 70.0 + hr, "hr_error_bpm": hr,
         "hr_error_pct": None if hr is None else hr / 0.7, "psv_error_pct": 1.0,
         "edv_error_pct": None if edv_zero else -2.0,
         "edv_error_bins": 0.2 if edv_zero else None, "ri_error": 0.01, "pi_error": pi}
    return {"scenario": scenario, "snr_db": snr, "antegrade": antegrade, "beats": b}


def test_beats_pool_per_scenario_and_snr():
    recs = [_beats("art", hr=0.2, pi=0.01), _beats("art", hr=-0.6, pi=0.2, matched=9),
            _beats("art", antegrade="auto", hr=9.0), _beats("vein", arterial=False, hr=0.1),
            {"scenario": "no_pulse", "snr_db": 20.0, "antegrade": "given", "beats": None}]
    out = sb.aggregate_beats(recs)
    assert [(r["scenario"], r["snr_db"]) for r in out["rows"]] == [("art", 20.0),
                                                                   ("vein", 20.0)]
    art, vein = out["rows"]
    assert art["n_recordings"] == 2 and art["sensitivity_pct"] == 95.0
    assert art["hr_error_bpm"] == pytest.approx(0.4) and art["hr_error_max_bpm"] == 0.6
    assert art["pi_error"] == pytest.approx(0.105)
    (o,) = out["overall"]
    # the indices over the arteries, the rate over all three
    assert o["n_recordings"] == 3 and o["n_arterial"] == 2
    assert o["hr_error_bpm"] == pytest.approx(0.2)
    assert vein["pi_error"] == 0.0  # a vein's indices are reported


def test_beat_targets_are_checked_per_snr_and_name_the_rows_beyond_them():
    recs = [_beats("art", pi=0.3), _beats("art", pi=0.2), _beats("car", pi=0.01),
            _beats("vein", arterial=False, pi=5.0), _beats("art", snr=7.0, hr=2.0)]
    out = sb.aggregate_beats(recs)
    hi, lo = out["overall"]
    checks = {c["name"]: c for c in hi["checks"]}
    assert set(checks) == set(sb.BEAT_TARGETS[0][1])
    pi = checks["pi_error"]
    # the median over the arteries' recordings (0.3, 0.2, 0.01); the vein is not checked
    assert pi["value"] == pytest.approx(0.2) and pi["passed"] is False
    assert [o["scenario"] for o in pi["over"]] == ["art"]
    assert checks["edv_error_bins"]["passed"] is None  # every artery has diastolic flow
    assert checks["hr_error_bpm"]["passed"] is True and hi["verdict"] == "FAIL"
    assert [c["name"] for c in lo["checks"]] == ["hr_error_pct"]
    assert lo["checks"][0]["value"] == pytest.approx(2.0 / 0.7) and lo["verdict"] == "FAIL"
    assert out["passed"] is False
    text = sb.format_beats_report(out)
    assert "Beats at SNR 20 dB: FAIL" in text
    assert "FAIL PI error (arteries) 0.200 (target <= 0.05); scenario rows beyond it: art" in text


def test_a_recording_without_a_heart_rate_fails_the_rate_target():
    recs = [_beats(hr=None), _beats(hr=None), _beats(hr=0.1)]
    (o,) = sb.aggregate_beats(recs)["overall"]
    hr = next(c for c in o["checks"] if c["name"] == "hr_error_bpm")
    assert hr["value"] is None and hr["passed"] is False and o["verdict"] == "FAIL"


def test_only_veins_leave_the_arterial_targets_unchecked():
    (o,) = sb.aggregate_beats([_beats("vein", arterial=False, pi=3.0)])["overall"]
    checks = {c["name"]: c["passed"] for c in o["checks"]}
    assert checks["pi_error"] is None and checks["psv_error_pct"] is None
    assert o["verdict"] == "PASS"


def test_evaluate_scores_the_beats_of_a_pulsing_scenario():
    out = ev.evaluate(scenarios=("carotid",), snrs=(20,), seeds=(0,), layouts=("iq",),
                      workers=1, auto=False)
    (rec,) = out["records"]
    assert rec["beats"]["arterial"] and rec["beats"]["sensitivity"] == 1.0
    (row,) = out["beats"]["rows"]
    assert row["scenario"] == "carotid" and row["hr_error_bpm"] < 1.0
    assert out["beats"]["overall"][0]["verdict"] == "PASS"  # a carotid at 20 dB
    text = ev.format_report(out)
    assert "Beats at SNR 20 dB: PASS" in text and "\ncarotid " in text
    json.dumps(out)
