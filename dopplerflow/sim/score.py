"""Scoring an analysis result against the truth of a synthetic recording.

Three views of agreement:

**Events.**  A detected reflux event matches a true one when the two intervals
overlap once each is widened by ``tolerance_s`` on both sides.  Pairs are made
one to one, largest overlap first.  Sensitivity is matched true events over all
true events, PPV matched detected events over all detected events; either is
``None`` when its denominator is zero, and sensitivity also when the result's
reflux is not assessable (``null``: it reports no events, and misses none).
Onset and end errors (detected minus true, s) are reported for matched pairs,
and so is the peak velocity error (detected minus true peak, % of the true
peak) where both give a peak.

**Recording.**  Flow yes/no (result ``flow_detected`` against truth ``flow``)
and reflux yes/no (result ``reflux`` against truth ``reflux``).  A result
``reflux`` of ``null`` (e.g. a mono recording) is *not assessable*: it is
neither right nor wrong, and the recording-level verdict is then ``None``
unless flow already disagrees.

**Velocity trace.**  The result trace (``trace: {time_s, velocity_cm_s}``,
signed, + antegrade) is linearly interpolated onto the truth times inside the
result's time span.  The frames scored are the truth frames with flow at or
above the analysis's measurement floor (``velocity_floor_cm_s`` of the result:
slower flow lies inside its wall filter's band, where no Doppler instrument
with that filter measures it) that the analysis measured (a non-finite result
velocity marks a row it did not analyse, such as the wall filter settling at
the start of a stream).  Over them the rms error and the bias (mean of result
minus truth) are given as a percentage of the truth's peak ``|v|``; a result
of 0 there (no flow seen) is an error like any other.  ``trace_coverage`` is
the share of the truth frames at or above the floor that were measured, and
``trace_below_floor_pct`` the share of flowing truth frames below the floor.
Sign agreement is the percentage of scored frames with ``|v_true| >
sign_min_cm_s`` where the result has the same sign (0 counts as a
disagreement).  When the result says ``direction_available: false`` the
magnitudes are compared and sign agreement is ``None``.

**Beats.**  When the truth has beats (a scenario that pulses), the result's beats,
heart rate and indices are scored against them (:func:`dopplerflow.sim.beats.beat_score`):
``beats`` in the score, None otherwise.
"""

import json
import math
import numbers
import os

import numpy as np

from ..core.beat_score import _fmt
from ..errors import AudioFileError, InputError, SettingsError
from .beats import beat_score, format_beat_score

__all__ = ["score", "score_files", "load_result", "check_pair", "format_score", "match_events"]

#: Keys only an analysis result has, and keys only a truth record has.
_RESULT_KEYS = ("dopplerflow_version", "flow_detected")
_TRUTH_KEYS = ("scenario", "flow")
#: Durations of a result and its truth may differ by this much, s, or this share.
_DURATION_SLACK_S = 0.05
_DURATION_SLACK = 0.01


def _shown(value, width=40):
    """``repr(value)`` on one line, at most ``width`` characters."""
    shown = " ".join(repr(value).split())
    return shown if len(shown) <= width else shown[:width - 3] + "..."


def _interval(ev, where):
    try:
        start, end = float(ev["start_s"]), float(ev["end_s"])
    except (KeyError, TypeError, ValueError, OverflowError):
        raise InputError(f"{where} event {_shown(ev)} needs numeric start_s and end_s") from None
    if not (math.isfinite(start) and math.isfinite(end)) or end < start:
        raise InputError(f"{where} event has start_s={start} and end_s={end}; need "
                         f"finite times with start_s <= end_s")
    return start, end


def match_events(detected, true, tolerance_s=0.3):
    """Pair detected with true events, one to one, largest overlap first.

    Parameters
    ----------
    detected, true : list of dict
        Events with ``start_s`` and ``end_s`` (s).
    tolerance_s : float
        Each interval is widened by this much on both sides before testing for
        overlap, s.

    Returns
    -------
    list of (int, int)
        ``(detected index, true index)`` pairs, sorted by true index.

    Raises
    ------
    InputError
        An event lacks numeric, ordered ``start_s``/``end_s``.
    """
    det = [_interval(e, "result") for e in detected]
    tru = [_interval(e, "truth") for e in true]
    candidates = []
    for i, (ds, de) in enumerate(det):
        for j, (ts, te) in enumerate(tru):
            overlap = min(de, te) - max(ds, ts) + 2.0 * tolerance_s
            if overlap > 0.0:
                candidates.append((-overlap, i, j))
    pairs, used_d, used_t = [], set(), set()
    for _, i, j in sorted(candidates):
        if i not in used_d and j not in used_t:
            pairs.append((i, j))
            used_d.add(i)
            used_t.add(j)
    return sorted(pairs, key=lambda p: p[1])


def _ratio(num, den):
    return None if den == 0 else num / den


def _median_abs(values):
    return None if not values else float(np.median(np.abs(values)))


def _events_score(result, truth, tolerance_s):
    detected = list(result.get("reflux_events") or [])
    true = list(truth.get("reflux_events") or [])
    pairs = match_events(detected, true, tolerance_s)
    onset = [float(detected[i]["start_s"]) - float(true[j]["start_s"]) for i, j in pairs]
    end = [float(detected[i]["end_s"]) - float(true[j]["end_s"]) for i, j in pairs]
    peak = [_peak_error_pct(detected[i], true[j]) for i, j in pairs]
    # a result whose reflux is not assessable reports no events: none are missed
    assessable = result.get("reflux") is not None
    return {
        "n_true_events": len(true), "n_detected_events": len(detected), "n_matched": len(pairs),
        "sensitivity": _ratio(len(pairs), len(true)) if assessable else None,
        "ppv": _ratio(len(pairs), len(detected)),
        "matches": [{"detected": i, "true": j, "onset_error_s": o, "end_error_s": e,
                     "peak_error_pct": p}
                    for (i, j), o, e, p in zip(pairs, onset, end, peak, strict=True)],
        "median_abs_onset_error_s": _median_abs(onset),
        "median_abs_end_error_s": _median_abs(end),
        "median_peak_error_pct": _median([p for p in peak if p is not None]),
    }


def _median(values):
    return None if not values else float(np.median(values))


def _peak_error_pct(detected, true):
    """Detected minus true peak velocity, % of the true peak (None if either lacks one)."""
    try:
        det, tru = float(detected["peak_velocity_cm_s"]), float(true["peak_velocity_cm_s"])
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    if not (math.isfinite(det) and math.isfinite(tru)) or tru <= 0.0:
        return None
    return 100.0 * (det - tru) / tru


def _recording_score(result, truth):
    flow_ok = bool(result.get("flow_detected")) == bool(truth.get("flow"))
    res_reflux = result.get("reflux")
    reflux_ok = None if res_reflux is None else bool(res_reflux) == bool(truth.get("reflux"))
    if not flow_ok or reflux_ok is False:
        correct = False
    else:
        correct = None if reflux_ok is None else True
    return {"flow_correct": flow_ok, "reflux_correct": reflux_ok,
            "reflux_assessable": res_reflux is not None, "recording_correct": correct}


def _trace_arrays(trace, where):
    try:
        t = np.asarray(trace["time_s"], dtype=float)
        v = np.asarray(trace["velocity_cm_s"], dtype=float)
    except (KeyError, TypeError, ValueError, OverflowError):
        raise InputError(f"{where} trace needs numeric 'time_s' and 'velocity_cm_s' lists "
                         f"(ask the analysis for its trace, e.g. to_dict(trace=True))") from None
    if t.ndim != 1 or t.shape != v.shape:
        raise InputError(f"{where} trace has {t.size} times and {v.size} velocities; "
                         f"they must be 1-D and of equal length")
    if not np.isfinite(t).all() or (t.size > 1 and np.any(np.diff(t) <= 0)):
        raise InputError(f"{where} trace times must be finite and increase strictly")
    if where == "truth" and not np.isfinite(v).all():
        raise InputError("truth trace velocities must be finite (every frame of a "
                         "simulation has one)")
    return t, v


def _trace_score(result, truth, sign_min_cm_s):
    empty = {"trace_frames": 0, "trace_measurable_frames": 0, "trace_coverage": 0.0,
             "trace_below_floor_pct": None, "trace_floor_cm_s": None,
             "trace_rms_error_pct": None, "trace_bias_pct": None, "sign_agreement_pct": None}
    if not result.get("trace") or not truth.get("trace"):
        return dict(empty, trace_note="no trace in the result" if truth.get("trace")
                    else "no trace in the truth")
    tt, vt = _trace_arrays(truth["trace"], "truth")
    tr, vr = _trace_arrays(result["trace"], "result")
    flowing = vt != 0.0
    peak = float(np.abs(vt).max()) if vt.size else 0.0
    if tr.size == 0 or not flowing.any() or peak == 0.0:
        return dict(empty, trace_note="no flow in the truth" if tr.size else "empty result trace")
    floor = result.get("velocity_floor_cm_s")
    try:
        floor = 0.0 if floor is None else float(floor)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"result velocity_floor_cm_s {_shown(floor)} is not a number") from None
    if not (math.isfinite(floor) and floor >= 0.0):
        raise InputError(f"result velocity_floor_cm_s {floor!r} must be a finite number >= 0")
    measurable = flowing & (np.abs(vt) >= floor)
    inside = (tt >= tr[0]) & (tt <= tr[-1])
    est_all = np.full(tt.shape, np.nan)
    est_all[inside] = np.interp(tt[inside], tr, vr)  # NaN next to rows not analysed
    sel = measurable & np.isfinite(est_all)
    est = est_all[sel]
    ref = vt[sel]
    directional = result.get("direction_available", True) is not False
    if not directional:
        est, ref = np.abs(est), np.abs(ref)
    out = {"trace_frames": int(sel.sum()), "trace_measurable_frames": int(measurable.sum()),
           "trace_coverage": float(sel.sum() / max(int(measurable.sum()), 1)),
           "trace_below_floor_pct": 100.0 * float(1.0 - measurable.sum() / flowing.sum()),
           "trace_floor_cm_s": floor}
    if sel.sum() == 0:
        return dict(empty, **out, trace_note="result trace does not cover the measurable flow")
    err = est - ref
    out["trace_rms_error_pct"] = 100.0 * float(np.sqrt(np.mean(err ** 2))) / peak
    out["trace_bias_pct"] = 100.0 * float(np.mean(err)) / peak
    strong = np.abs(ref) > sign_min_cm_s
    out["sign_agreement_pct"] = (100.0 * float(np.mean(np.sign(est[strong]) == np.sign(
        ref[strong]))) if directional and strong.any() else None)
    return out


_NUMBER = ((numbers.Real,), "a number or null")
_FLAG = ((bool, np.bool_), "true, false or null")
_EVENTS = ((list, tuple), "a list of events ({start_s, end_s, ...}) or null")
_TRACE = ((dict,), "an object {time_s: [...], velocity_cm_s: [...]} or null")
_LIST = ((list, tuple), "a list of numbers or null")
_OBJECT = ((dict,), "an object or null")
#: The type of each field the score reads (missing or null: not given).
_RESULT_TYPES = {"flow_detected": _FLAG, "reflux": _FLAG, "direction_available": _FLAG,
                 "reflux_events": _EVENTS, "trace": _TRACE, "beats": _OBJECT,
                 "beat_table": _OBJECT, "heart_rate_bpm": _NUMBER}
_TRUTH_TYPES = {"flow": _FLAG, "reflux": _FLAG, "reflux_events": _EVENTS, "trace": _TRACE,
                "snr_db": _NUMBER, "scenario": ((str,), "a scenario name or null"),
                "beat_times_s": _LIST, "heart_rate_bpm": _NUMBER, "psv_cm_s": _LIST,
                "edv_cm_s": _LIST, "ri": _LIST, "pi": _LIST}


def _check_types(record, where, types):
    """Raise InputError if a field of ``record`` named in ``types`` has another type."""
    for key, (kinds, what) in types.items():
        value = record.get(key)
        if value is None:
            continue
        flag = isinstance(value, (bool, np.bool_))
        if not isinstance(value, kinds) or (flag and bool not in kinds):
            raise InputError(f"{where} {key} is {_shown(value)}; it must be {what} (give the "
                             f"JSON dopplerflow writes)")


def _kind(record):
    """'result', 'truth', or None when ``record`` looks like neither (or both)."""
    is_result = any(k in record for k in _RESULT_KEYS)
    is_truth = any(k in record for k in _TRUTH_KEYS)
    if is_result != is_truth:
        return "result" if is_result else "truth"
    return None


def _number(record, key, where):
    """``record[key]`` as a float, None if missing or null; InputError if not a number."""
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)) \
            or not math.isfinite(value):
        raise InputError(f"{where} {key} is {_shown(value)}; it must be a finite number")
    return float(value)


def check_pair(result, truth, result_name="the result", truth_name="the truth"):
    """Check that ``result`` is an analysis result and ``truth`` the truth of its recording.

    A result has ``flow_detected`` (and ``dopplerflow_version``), a truth record
    ``scenario`` and ``flow``.  Where both give them, the sample rates must
    agree, the durations within 50 ms or 1 %, and the result's vessel preset
    (if it has one) must be the truth's vessel.

    Parameters
    ----------
    result, truth : dict
    result_name, truth_name : str
        How the messages call them (the file names).

    Raises
    ------
    InputError
        The two are the wrong way round, either is not of its kind, or they
        are not of the same recording.
    """
    kinds = [_kind(d) if isinstance(d, dict) else None for d in (result, truth)]
    if kinds == ["truth", "result"]:
        raise InputError(f"the files are the wrong way round: {result_name} is a truth file "
                         f"and {truth_name} an analysis result; give the result first "
                         f"(dopplerflow score RESULT.json TRUTH.json)")
    if kinds[0] != "result":
        raise _not_a_result(result_name, kinds[0])
    if kinds[1] != "truth":
        raise InputError(f"{truth_name} is not a truth file ("
                         + ("it is an analysis result" if kinds[1] == "result" else
                            "it has no scenario or flow")
                         + "); give the .truth.json that dopplerflow simulate wrote beside "
                           "the recording")
    differences = []
    rates = _number(result, "sample_rate_hz", "result"), _number(truth, "sample_rate_hz", "truth")
    if None not in rates and not math.isclose(*rates, rel_tol=1e-6):
        differences.append(f"sample rate {rates[0]:g} Hz against {rates[1]:g} Hz")
    durations = _number(result, "duration_s", "result"), _number(truth, "duration_s", "truth")
    if None not in durations and abs(durations[0] - durations[1]) > max(
            _DURATION_SLACK_S, _DURATION_SLACK * durations[1]):
        differences.append(f"{durations[0]:g} s long against {durations[1]:g} s")
    settings = result.get("settings")
    vessel = settings.get("vessel") if isinstance(settings, dict) else None
    if isinstance(vessel, str) and isinstance(truth.get("vessel"), str) \
            and vessel != truth["vessel"]:
        differences.append(f"vessel {vessel} against {truth['vessel']}")
    if differences:
        scenario = truth.get("scenario")
        of = f" (scenario {scenario})" if isinstance(scenario, str) else ""
        raise InputError(f"{result_name} and {truth_name}{of} are not of the same recording: "
                         f"{'; '.join(differences)}; score a result against the truth of its "
                         f"own recording")


def score(result, truth, *, tolerance_s=0.3, sign_min_cm_s=3.0):
    """Score one analysis result against its truth.

    Parameters
    ----------
    result : dict
        The JSON of one analysis (:meth:`dopplerflow.core.Analysis.to_dict`), with ``trace``
        for the trace score.
    truth : dict
        The truth record of :func:`dopplerflow.sim.synth.synthesize`.
    tolerance_s : float
        Widening of the intervals for event matching, s.
    sign_min_cm_s : float
        Frames with ``|v_true|`` at or below this are left out of sign agreement,
        cm/s (below a typical wall filter the sign is not measurable).

    Returns
    -------
    dict
        Event fields (``n_true_events``, ``n_detected_events``, ``n_matched``,
        ``sensitivity``, ``ppv``, ``matches``, ``median_abs_onset_error_s``,
        ``median_abs_end_error_s``, ``median_peak_error_pct``), recording fields (``flow_correct``,
        ``reflux_correct``, ``reflux_assessable``, ``recording_correct``) and trace
        fields (``trace_frames``, ``trace_measurable_frames``, ``trace_coverage``,
        ``trace_below_floor_pct``, ``trace_floor_cm_s``, ``trace_rms_error_pct``,
        ``trace_bias_pct``, ``sign_agreement_pct``), ``beats``
        (:func:`dopplerflow.sim.beats.beat_score`: None when the truth has no beats),
        plus ``scenario`` and ``snr_db`` from the truth.  Undefined quantities are
        ``None``.

    Raises
    ------
    InputError
        A field of the wrong type (``reflux_events`` not a list, ``flow`` not
        true or false, ...), malformed events or traces.
    SettingsError
        ``tolerance_s`` or ``sign_min_cm_s`` not a finite number >= 0.
    """
    if not isinstance(result, dict) or not isinstance(truth, dict):
        raise InputError("result and truth must be JSON objects (dicts)")
    for name, value in (("tolerance_s", tolerance_s), ("sign_min_cm_s", sign_min_cm_s)):
        if (not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_))
                or not (math.isfinite(value) and value >= 0.0)):
            raise SettingsError(f"{name}={_shown(value)} must be a finite number >= 0")
    _check_types(result, "result", _RESULT_TYPES)
    _check_types(truth, "truth", _TRUTH_TYPES)
    out = {"scenario": truth.get("scenario"), "snr_db": truth.get("snr_db"),
           "tolerance_s": tolerance_s}
    out.update(_recording_score(result, truth))
    out.update(_events_score(result, truth, tolerance_s))
    out.update(_trace_score(result, truth, sign_min_cm_s))
    out["beats"] = beat_score(result, truth)
    return out


def _load_json(path, what):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as exc:
        raise AudioFileError(f"cannot read the {what} file {path!r}: "
                             f"{exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"the {what} file {path!r} is not valid JSON ({exc.msg} at line "
                         f"{exc.lineno}); give the JSON written by dopplerflow") from None
    except UnicodeDecodeError:
        raise InputError(f"the {what} file {path!r} is not UTF-8 text, so not JSON; give the "
                         f"JSON written by dopplerflow") from None
    except (ValueError, RecursionError) as exc:  # numbers of over 4300 digits, deep nesting
        raise InputError(f"the {what} file {path!r} cannot be read as JSON ({exc}); give the "
                         f"JSON written by dopplerflow") from None


def load_result(path):
    """An analysis result JSON file (dict); InputError when it is not one."""
    result = _load_json(path, "result")
    kind = _kind(result) if isinstance(result, dict) else None
    if kind != "result":
        raise _not_a_result(_path_name(path), kind)
    return result


def _path_name(path):
    """A file's path as a message names it (repr when it is not printable text)."""
    name = os.fspath(path)
    return name if isinstance(name, str) and name.isprintable() else repr(name)


def _not_a_result(name, kind):
    """The error for a file ``name`` of ``kind`` (:func:`_kind`) given as the result."""
    return InputError(f"{name} is not an analysis result ("
                      + ("it is a truth file" if kind == "truth" else
                         "it has no flow_detected or dopplerflow_version")
                      + "); give the JSON of dopplerflow analyze --json OUT --trace-json")


def score_files(result_path, truth_path, **kwargs):
    """Score a result JSON file against a truth JSON file (see :func:`score`).

    The two are checked first (:func:`check_pair`): a result and a truth, in
    that order, of the same recording.
    """
    result, truth = _load_json(result_path, "result"), _load_json(truth_path, "truth")
    check_pair(result, truth, _path_name(result_path), _path_name(truth_path))
    return score(result, truth, **kwargs)


def format_score(s):
    """A readable block of a :func:`score` result (str, several lines)."""
    verdict = {True: "right", False: "WRONG", None: "not assessable"}
    lines = [
        f"scenario      {s.get('scenario') or '?'} (SNR {_fmt(s.get('snr_db'), 'g', ' dB')})",
        f"recording     {verdict[s['recording_correct']]} (flow "
        f"{verdict[s['flow_correct']]}, reflux {verdict[s['reflux_correct']]})",
        f"events        {s['n_matched']} matched of {s['n_true_events']} true, "
        f"{s['n_detected_events']} detected; sensitivity {_fmt(s['sensitivity'], '.0%')}, "
        f"PPV {_fmt(s['ppv'], '.0%')}",
    ]
    for m in s["matches"]:
        lines.append(f"  true #{m['true'] + 1}: onset {m['onset_error_s'] * 1e3:+.0f} ms, "
                     f"end {m['end_error_s'] * 1e3:+.0f} ms, peak velocity "
                     f"{_fmt(m['peak_error_pct'], '+.0f', '%')}")
    onset, end = s["median_abs_onset_error_s"], s["median_abs_end_error_s"]
    onset_ms = None if onset is None else onset * 1e3
    end_ms = None if end is None else end * 1e3
    lines.append(f"median |error| onset {_fmt(onset_ms, '.0f', ' ms')}, "
                 f"end {_fmt(end_ms, '.0f', ' ms')}; median peak velocity error "
                 f"{_fmt(s['median_peak_error_pct'], '+.0f', '%')}")
    if s["trace_rms_error_pct"] is None and s.get("trace_note"):
        hint = (" (write it with analyze --json OUT --trace-json)"
                if s["trace_note"] == "no trace in the result" else "")
        lines.append(f"trace         not scored: {s['trace_note']}{hint}")
    else:
        lines.append(_trace_line(s))
    if s.get("beats"):
        lines += format_beat_score(s["beats"])
    return "\n".join(lines)


def _trace_line(s):
    """The trace's line of :func:`format_score`."""
    return (f"trace         rms {_fmt(s['trace_rms_error_pct'], '.1f', '%')} of peak, "
            f"bias {_fmt(s['trace_bias_pct'], '+.1f', '%')}, sign agreement "
            f"{_fmt(s['sign_agreement_pct'], '.1f', '%')} over {s['trace_frames']} frames"
            f" (coverage {_fmt(s['trace_coverage'], '.1%')}; "
            f"{_fmt(s['trace_below_floor_pct'], '.1f', '%')} of the flow below the "
            f"{_fmt(s['trace_floor_cm_s'], '.2f', ' cm/s')} floor)"
            + (f" ({s['trace_note']})" if s.get("trace_note") else ""))
