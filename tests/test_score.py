"""Scoring on hand-made cases whose answers are worked out by hand."""

import json
import os
import re

import numpy as np
import pytest

from dopplerflow.core import beat_score as bs
from dopplerflow.errors import AudioFileError, InputError, SettingsError
from dopplerflow.sim import score as sc


def _ev(start, end, peak=10.0):
    return {"start_s": start, "end_s": end, "duration_s": end - start,
            "peak_velocity_cm_s": peak}


def _truth(events=(), reflux=None, flow=True, v=None):
    t = np.round(np.arange(0.0, 10.0, 0.005), 4)
    v = np.full(t.shape, 10.0) if v is None else v
    return {"scenario": "hand", "snr_db": 12.0, "flow": flow,
            "reflux": bool(events) if reflux is None else reflux,
            "reflux_events": list(events),
            "trace": {"time_s": t.tolist(), "velocity_cm_s": list(map(float, v))}}


_AUTO = object()


def _result(events=(), reflux=_AUTO, flow=True, trace=None, direction=True):
    out = {"flow_detected": flow, "reflux": bool(events) if reflux is _AUTO else reflux,
           "reflux_events": list(events), "direction_available": direction}
    if trace is not None:
        out["trace"] = {"time_s": list(map(float, trace[0])),
                        "velocity_cm_s": list(map(float, trace[1]))}
    return out


def test_perfect_result():
    truth = _truth([_ev(2.0, 3.5)])
    t = np.asarray(truth["trace"]["time_s"])
    s = sc.score(_result([_ev(2.0, 3.5)], trace=(t, np.full(t.shape, 10.0))), truth)
    assert s["recording_correct"] is True and s["sensitivity"] == 1.0 and s["ppv"] == 1.0
    assert s["matches"][0]["onset_error_s"] == 0.0 and s["median_abs_end_error_s"] == 0.0
    assert s["trace_rms_error_pct"] == 0.0 and s["sign_agreement_pct"] == 100.0
    assert s["trace_coverage"] == 1.0


def test_onset_and_end_errors_are_signed():
    s = sc.score(_result([_ev(2.05, 3.4)]), _truth([_ev(2.0, 3.5)]))
    m = s["matches"][0]
    assert m["onset_error_s"] == pytest.approx(0.05) and m["end_error_s"] == pytest.approx(-0.1)
    assert s["median_abs_onset_error_s"] == pytest.approx(0.05)
    assert s["median_abs_end_error_s"] == pytest.approx(0.1)


def test_peak_velocity_error_is_signed_percent_of_the_true_peak():
    truth = _truth([_ev(1.0, 2.0, peak=15.0), _ev(5.0, 6.5, peak=20.0), _ev(8.0, 9.0, 8.0)])
    s = sc.score(_result([_ev(1.0, 2.0, peak=18.0), _ev(5.0, 6.5, peak=19.0),
                          _ev(8.0, 9.0, peak=10.0)]), truth)
    assert [m["peak_error_pct"] for m in s["matches"]] == pytest.approx([20.0, -5.0, 25.0])
    assert s["median_peak_error_pct"] == pytest.approx(20.0)
    # an event without a peak is matched and timed, but has no peak error
    bare = {"start_s": 1.0, "end_s": 2.0}
    s = sc.score(_result([bare]), _truth([_ev(1.0, 2.0, peak=15.0)]))
    assert s["n_matched"] == 1 and s["matches"][0]["peak_error_pct"] is None
    assert s["median_peak_error_pct"] is None


def test_a_result_not_assessable_misses_no_event():
    s = sc.score(_result([], reflux=None), _truth([_ev(1.0, 2.0)]))
    assert s["recording_correct"] is None and s["n_true_events"] == 1
    assert s["sensitivity"] is None and s["ppv"] is None


def test_missed_and_extra_events():
    truth = _truth([_ev(1.0, 2.0), _ev(5.0, 6.5)])
    s = sc.score(_result([_ev(1.1, 2.0), _ev(8.0, 9.0), _ev(8.5, 9.5)]), truth)
    assert s["n_matched"] == 1
    assert s["sensitivity"] == pytest.approx(1 / 2) and s["ppv"] == pytest.approx(1 / 3)


def test_matching_is_one_to_one_by_largest_overlap():
    # both detections overlap the true event; the longer overlap (2.5-4.0) wins
    s = sc.score(_result([_ev(1.5, 2.6), _ev(2.5, 4.0)]), _truth([_ev(2.0, 4.0)]),
                 tolerance_s=0.0)
    assert [(m["detected"], m["true"]) for m in s["matches"]] == [(1, 0)]
    assert s["ppv"] == 0.5 and s["sensitivity"] == 1.0


def test_tolerance_widens_intervals():
    truth, result = _truth([_ev(2.0, 3.0)]), _result([_ev(3.2, 4.0)])  # 0.2 s apart
    assert sc.score(result, truth, tolerance_s=0.3)["n_matched"] == 1   # 0.6 s widening
    assert sc.score(result, truth, tolerance_s=0.05)["n_matched"] == 0  # 0.1 s widening


def test_zero_denominators_are_none():
    s = sc.score(_result([]), _truth([]))
    assert s["sensitivity"] is None and s["ppv"] is None and s["recording_correct"] is True
    s = sc.score(_result([_ev(1.0, 2.0)]), _truth([]))
    assert s["sensitivity"] is None and s["ppv"] == 0.0 and s["recording_correct"] is False


def test_recording_level_verdicts():
    truth = _truth([_ev(1.0, 2.0)])
    s = sc.score(_result([], reflux=None), truth)  # mono: reflux null
    assert s["reflux_correct"] is None and s["reflux_assessable"] is False
    assert s["recording_correct"] is None
    s = sc.score(_result([], reflux=None, flow=False), truth)  # flow wrong decides
    assert s["recording_correct"] is False and s["flow_correct"] is False
    s = sc.score(_result([], reflux=False, flow=False), _truth([], flow=False))
    assert s["recording_correct"] is True


def test_trace_rms_bias_and_sign():
    v = np.full(2000, 10.0)
    v[1000:] = -20.0  # peak |v| = 20 cm/s
    truth = _truth(v=v)
    t = np.asarray(truth["trace"]["time_s"])
    est = v + 2.0  # +2 cm/s everywhere: rms and bias 10% of peak
    s = sc.score(_result(trace=(t, est)), truth)
    assert s["trace_rms_error_pct"] == pytest.approx(10.0)
    assert s["trace_bias_pct"] == pytest.approx(10.0)
    assert s["sign_agreement_pct"] == 100.0
    flipped = np.where(t < 2.5, -v, v)  # first quarter has the wrong sign
    assert sc.score(_result(trace=(t, flipped)), truth)["sign_agreement_pct"] == 75.0


def test_trace_is_interpolated_onto_truth_times_and_skips_no_flow():
    t = np.round(np.arange(0.0, 10.0, 0.005), 4)
    v = np.where(t < 5.0, 3.0 * t, 0.0)  # a ramp, then no flow
    truth = _truth(v=v)
    tr = np.arange(0.0025, 10.0, 0.01)  # coarser, shifted result on the same line
    # nonsense from 5.0125 s on, where the truth has no flow (the result point at
    # 5.0025 s stays on the line so the truth frames just before 5 s interpolate on it)
    est = np.where(tr < 5.01, 3.0 * tr, 50.0)
    s = sc.score(_result(trace=(tr, est)), truth)
    assert s["trace_rms_error_pct"] == pytest.approx(0.0, abs=1e-9)
    # truth frames before the result's first time are not extrapolated
    assert s["trace_frames"] == int(((t >= 0.0025) & (v != 0)).sum())


def test_flow_below_the_floor_and_rows_not_analysed_are_not_scored():
    t = np.round(np.arange(0.0, 10.0, 0.005), 4)
    v = np.where(t < 5.0, 2.0, 12.0)  # 2 cm/s (below a 2.5 cm/s floor), then 12 cm/s
    truth = _truth(v=v)
    est = np.where(t < 5.0, 0.0, 13.2)  # nothing seen below the floor; +1.2 cm/s above it
    est[(t >= 6.0) & (t < 6.5)] = np.nan  # a stretch the analysis did not analyse
    result = _result(trace=(t, est))
    s = sc.score(result, truth)  # no floor given: every flowing frame counts, NaN rows do not
    assert s["trace_below_floor_pct"] == 0.0
    measured = np.isfinite(est)
    assert s["trace_frames"] == measured.sum()
    assert s["trace_coverage"] == pytest.approx(measured.mean())
    err = np.where(t < 5.0, -2.0, 1.2)[measured]
    assert s["trace_rms_error_pct"] == pytest.approx(100 * np.sqrt(np.mean(err ** 2)) / 12.0)
    s = sc.score(dict(result, velocity_floor_cm_s=2.5), truth)
    assert s["trace_below_floor_pct"] == pytest.approx(50.0)
    assert s["trace_rms_error_pct"] == pytest.approx(10.0)  # 1.2 of 12 cm/s
    assert s["trace_bias_pct"] == pytest.approx(10.0)
    assert s["trace_coverage"] == pytest.approx(0.9)  # 0.5 s of the 5 s above the floor
    assert s["trace_frames"] == 900
    with pytest.raises(InputError, match="velocity_floor_cm_s"):
        sc.score(dict(result, velocity_floor_cm_s=-1.0), truth)


def test_mono_compares_magnitudes():
    v = np.full(2000, -10.0)
    truth = _truth(v=v)
    t = np.asarray(truth["trace"]["time_s"])
    s = sc.score(_result(trace=(t, np.full(t.shape, 10.0)), direction=False, reflux=None), truth)
    assert s["trace_rms_error_pct"] == 0.0 and s["sign_agreement_pct"] is None


def test_missing_trace_and_malformed_input():
    s = sc.score(_result([]), _truth([]))
    assert s["trace_rms_error_pct"] is None and "no trace" in s["trace_note"]
    assert sc.format_score(s).splitlines()[-1] == (
        "trace         not scored: no trace in the result "
        "(write it with analyze --json OUT --trace-json)")
    with pytest.raises(InputError, match="start_s"):
        sc.score(_result([{"start_s": 1.0}]), _truth([]))
    with pytest.raises(InputError, match="equal length"):
        sc.score({"trace": {"time_s": [0, 1], "velocity_cm_s": [1.0]}}, _truth())


def test_score_files_and_format(tmp_path):
    truth = _truth([_ev(2.0, 3.5)])
    (tmp_path / "t.json").write_text(json.dumps(truth))
    (tmp_path / "r.json").write_text(json.dumps(_result([_ev(2.02, 3.45)])))
    (tmp_path / "bad.json").write_text("{not json")
    s = sc.score_files(tmp_path / "r.json", tmp_path / "t.json")
    assert s["n_matched"] == 1
    text = sc.format_score(s)
    assert "onset +20 ms" in text and "end -50 ms" in text and "sensitivity 100%" in text
    with pytest.raises(AudioFileError, match="cannot read"):
        sc.score_files(tmp_path / "missing.json", tmp_path / "t.json")
    with pytest.raises(InputError, match="not valid JSON"):
        sc.score_files(tmp_path / "bad.json", tmp_path / "t.json")


# ------------------------------------------------------------------ malformed input
@pytest.mark.parametrize("result, truth, message", [
    ({"reflux_events": 5}, {}, r"result reflux_events is 5; it must be a list of events"),
    ({}, {"snr_db": [1]}, r"truth snr_db is \[1\]; it must be a number or null"),
    ({"flow_detected": "no"}, {}, r"result flow_detected is 'no'; it must be true, false or "
                                  r"null"),
    ({}, {"flow": 1}, r"truth flow is 1; it must be true, false or null"),
    ({}, {"scenario": {"a": 1}}, r"truth scenario is \{'a': 1\}; it must be a scenario name"),
    ({"trace": [1, 2]}, {}, r"result trace is \[1, 2\]; it must be an object"),
    ({"reflux_events": [[1, 2]]}, {}, r"result event \[1, 2\] needs numeric start_s and end_s"),
    ({"reflux_events": [{"start_s": 10 ** 400, "end_s": 1}]}, {}, r"needs numeric start_s"),
    ({"trace": {"time_s": [0, float("nan")], "velocity_cm_s": [1, 2]}}, _truth(),
     r"result trace times must be finite and increase strictly"),
    ({"trace": {"time_s": [0, 1], "velocity_cm_s": [1, 2]}},
     dict(_truth(), trace={"time_s": [0, 1], "velocity_cm_s": [1, float("inf")]}),
     r"truth trace velocities must be finite"),
])
def test_malformed_fields_are_input_errors(result, truth, message):
    with pytest.raises(InputError, match=message):
        sc.score(result, truth)


@pytest.mark.parametrize("kwargs", [{"tolerance_s": "0.3"}, {"tolerance_s": -1.0},
                                    {"sign_min_cm_s": float("nan")}, {"tolerance_s": True}])
def test_options_out_of_range_are_settings_errors(kwargs):
    with pytest.raises(SettingsError, match=r"must be a finite number >= 0"):
        sc.score(_result(), _truth(), **kwargs)


@pytest.mark.parametrize("content, message", [
    (b'{"flow": "\xff\xfe"}', r"is not UTF-8 text, so not JSON"),
    (b"[" * 100000 + b"]" * 100000, r"cannot be read as JSON"),
    (b'{"snr_db": 1' + b"0" * 5000 + b"}", r"cannot be read as JSON"),
])
def test_unreadable_json_files_are_input_errors(tmp_path, content, message):
    (tmp_path / "t.json").write_text(json.dumps(_truth()))
    (tmp_path / "r.json").write_bytes(content)
    with pytest.raises(InputError, match=message):
        sc.score_files(tmp_path / "r.json", tmp_path / "t.json")
    with pytest.raises(AudioFileError, match=r"cannot read the result file .*: Is a directory"):
        sc.score_files(tmp_path, tmp_path / "t.json")


# ------------------------------------------------------------------ a result and its truth
SAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "samples")


@pytest.fixture(scope="module")
def jugular(tmp_path_factory):
    """The analysis JSON of the 12 s jugular sample, and the sample's truth file."""
    import dopplerflow as df

    path = tmp_path_factory.mktemp("score") / "jugular.json"
    a = df.analyze(os.path.join(SAMPLES, "jugular_valsalva_iq.flac"), vessel="ijv")
    path.write_text(json.dumps(a.to_dict(trace=True)))
    return str(path), os.path.join(SAMPLES, "jugular_valsalva_iq.truth.json")


def _cli(argv, capsys):
    from dopplerflow.cli import main

    code = main(["score", *argv])
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == (code != 0), err
    return code, err[0] if err else captured.out


def test_a_result_and_its_truth_are_scored(jugular, capsys):
    code, out = _cli(list(jugular), capsys)
    assert code == 0 and "scenario      jugular_valsalva (SNR 12 dB)" in out


def test_swapped_or_wrong_kind_of_files_exit_1_with_one_line(jugular, tmp_path, capsys):
    result, truth = jugular
    code, err = _cli([truth, result], capsys)
    assert code == 1 and err == (
        f"dopplerflow: error: the files are the wrong way round: {truth} is a truth file and "
        f"{result} an analysis result; give the result first (dopplerflow score RESULT.json "
        f"TRUTH.json)")
    code, err = _cli([result, result], capsys)
    assert code == 1 and f"{result} is not a truth file (it is an analysis result)" in err
    code, err = _cli([truth, truth], capsys)
    assert code == 1 and f"{truth} is not an analysis result (it is a truth file)" in err
    (tmp_path / "other.json").write_text('{"time_s": [0, 1]}')
    code, err = _cli([str(tmp_path / "other.json"), truth], capsys)
    assert code == 1 and "has no flow_detected or dopplerflow_version" in err


@pytest.mark.parametrize("change, difference", [
    ({}, "12 s long against 10 s; vessel ijv against femoral"),  # another recording's truth
    ({"sample_rate_hz": 16000.0, "vessel": "ijv"}, "sample rate 8000 Hz against 16000 Hz"),
])
def test_a_truth_of_another_recording_exits_1(jugular, tmp_path, capsys, change, difference):
    truth = json.load(open(os.path.join(SAMPLES, "femoral_competent_iq.truth.json")))
    if change:  # the jugular's own truth, with one field changed
        truth = dict(json.load(open(jugular[1])), **change)
    path = tmp_path / "truth.json"
    path.write_text(json.dumps(truth))
    code, err = _cli([jugular[0], str(path)], capsys)
    scenario = truth["scenario"]
    assert code == 1 and err == (
        f"dopplerflow: error: {jugular[0]} and {path} (scenario {scenario}) are not of the "
        f"same recording: {difference}; score a result against the truth of its own recording")


def test_check_pair_tolerates_a_result_a_frame_short():
    result = {"flow_detected": True, "sample_rate_hz": 8000.0, "duration_s": 11.96}
    sc.check_pair(result, {"flow": True, "sample_rate_hz": 8000, "duration_s": 12.0})
    with pytest.raises(InputError, match="result duration_s is 'x'; it must be a finite number"):
        sc.check_pair(dict(result, duration_s="x"), {"flow": True})


# ------------------------------------------------------------------------------ beat marks
@pytest.fixture(scope="module")
def artery(tmp_path_factory):
    """The analysis JSON (with its beat table) of the mono artery sample, and the sample's
    true beat times (the start of each cycle)."""
    import dopplerflow as df

    path = tmp_path_factory.mktemp("marks") / "artery.json"
    a = df.analyze(os.path.join(SAMPLES, "artery_mono.flac"), layout="mono", vessel="artery")
    path.write_text(json.dumps(a.to_dict(trace=True)))
    truth = json.load(open(os.path.join(SAMPLES, "artery_mono.truth.json")))
    return str(path), np.array(truth["beat_times_s"]), a


@pytest.mark.parametrize("form", ["audacity", "csv", "json list", "json object"])
def test_beat_marks_are_read_as_text_csv_audacity_labels_or_json(tmp_path, form):
    times = [0.52, 1.31, 2.07]
    text = {"audacity": "".join(f"{t:.6f}\t{t:.6f}\tS1\n" for t in times),
            "csv": "time_s,marked_by\n" + "".join(f"{t},me\n" for t in times),
            "json list": json.dumps(times),
            "json object": json.dumps({"beat_times_s": times[::-1], "by": "me"})}[form]
    path = tmp_path / "marks.txt"
    path.write_text(text)
    np.testing.assert_array_equal(bs.read_beat_marks(str(path)), times)


def test_a_truth_or_result_file_is_no_marks(jugular):
    assert bs.read_beat_marks(jugular[1]) is None and bs.read_beat_marks(jugular[0]) is None


@pytest.mark.parametrize("text, message", [
    ("time_s\n", "holds 0 beat mark(s)"),
    ("1.0\n", "holds 1 beat mark(s)"),
    ("[1.0, true]", "must be a list of times in seconds"),
    ('{"beat_times_s": [1, 2], "scenario": "x"}', None),  # a truth file
    ("-1.0\n2.0\n", "finite, not negative"),
])
def test_marks_that_are_not_times_are_input_errors(tmp_path, text, message):
    path = tmp_path / "marks.txt"
    path.write_text(text)
    if message is None:
        assert bs.read_beat_marks(str(path)) is None
        return
    with pytest.raises(InputError, match=re.escape(message)):
        bs.read_beat_marks(str(path))


def test_beats_are_scored_against_marks_on_another_point_of_the_cycle(artery):
    """Marks 0.1 s after each cycle's start (a person marking the systolic peak, say): the
    offset is found and taken off; a mark left out makes the beat found there unmatched,
    a mark added between two beats is missed."""
    path, starts, a = artery
    result = json.load(open(path))
    marks = starts[starts < a.duration_s - 0.3] + 0.1
    s = bs.score_marks(result, marks)
    lead = float(np.median(a.beats.onset_s[:len(marks)] - starts[:len(marks)]))
    assert s["n_marks"] == s["n_reference"] == len(marks)
    assert s["sensitivity"] == 1.0 and s["ppv"] == 1.0
    # the detector's onset leads or lags the cycle's start by a few ms: within a hop of it
    assert s["offset_s"] == pytest.approx(lead - 0.1, abs=0.005)
    assert s["reference_heart_rate_bpm"] == pytest.approx(60 / np.median(np.diff(marks)))
    fewer = np.delete(marks, 4)
    s = bs.score_marks(result, fewer)
    assert (s["n_reference"], s["n_matched"]) == (len(marks) - 1, len(marks) - 1)
    assert s["ppv"] == pytest.approx((len(marks) - 1) / len(marks))
    # the beat found there is named, as found (before the offset)
    (extra,) = s["extra_s"]
    assert extra == pytest.approx(marks[4] + s["offset_s"], abs=0.03) and s["missed_s"] == []
    more = np.sort(np.r_[marks, 0.5 * (marks[4] + marks[5])])
    s = bs.score_marks(result, more)
    assert s["sensitivity"] == pytest.approx(len(marks) / (len(marks) + 1)) and s["ppv"] == 1.0
    assert s["missed_s"] == [0.5 * (marks[4] + marks[5])] and s["extra_s"] == []
    assert f"missed        1 marks unmatched, at {s['missed_s'][0]:.2f} s" in \
        bs.format_marks_score(s)


def test_score_reads_marks_on_the_command_line(artery, tmp_path, capsys):
    path, starts, a = artery
    marks = tmp_path / "marks.csv"
    marks.write_text("t\n" + "".join(f"{t:.3f}\n" for t in starts[starts < a.duration_s - 0.3]))
    out_json = tmp_path / "s.json"
    code, out = _cli([path, str(marks), "--json", str(out_json)], capsys)
    assert code == 0 and "sensitivity 100%, PPV 100%" in out and out.startswith("marks ")
    assert json.load(open(out_json))["n_matched"] == json.load(open(out_json))["n_marks"]
    # marks past the recording's end, and a result without its beat table
    marks.write_text("1.0\n2.0\n40.0\n")
    code, err = _cli([path, str(marks)], capsys)
    assert code == 1 and "past the end of the recording (8.00 s)" in err
    short = tmp_path / "short.json"
    short.write_text(json.dumps(a.to_dict()))
    code, err = _cli([str(short), str(marks)], capsys)
    assert code == 1 and "write it with dopplerflow analyze --json OUT --trace-json" in err
    marks.write_text("1.0\n2.0\n2.0\n")
    code, err = _cli([path, str(marks)], capsys)
    assert code == 1 and "one beat marked twice" in err
    code, err = _cli([path, str(marks), "--beat-tolerance", "0"], capsys)
    assert code == 2 and "--beat-tolerance 0 must be a positive number" in err
