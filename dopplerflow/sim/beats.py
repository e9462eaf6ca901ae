"""The beats of an analysis against the simulator's truth: one recording, and an evaluation.

**One recording** (:func:`beat_score`, part of :func:`dopplerflow.sim.score.score` when
the truth has beats: a scenario that pulses).  The beat onsets of the result
(``beat_table``, in the JSON with ``--trace-json``) are matched to the truth's beat
times within 150 ms after the constant offset that matches the most
(:func:`dopplerflow.core.beat_score.score_beats`: the truth marks the start of each
cycle, the detector the foot of its upstroke), the beats in the last 0.1 s left out
(a beat cut by the end has no whole upstroke), and those of a last cycle whose
systolic peak is past the end (the truth does not list it): sensitivity, PPV, the
median onset error after the offset.  The heart rate is compared with the truth's, and the
recording's PSV, EDV, RI and PI (medians over the clean beats) with the medians of
the truth's complete cycles: PSV and EDV in % of the truth (EDV in frequency bins of
the analysis where the truth has no end-diastolic flow, under 1 cm/s), RI and PI as
differences (a mono recording measures speeds: its EDV and RI are compared with the
truth's ``|EDV|``, and its PI is not scored).

**An evaluation** (:func:`aggregate_beats`).  The scores of the recordings analysed
with the antegrade direction given are pooled per scenario and SNR: matched beats over
the truth's and over those found, and the median over the recordings of each error's
size.  One overall row per SNR checks the simulator's beat targets
(:data:`BEAT_TARGETS`); the indices are arterial (Pourcelot's RI, Gosling's PI): their
targets are checked on the arteries, and a vein's are reported as they are.
"""

import math

import numpy as np

from ..core.beat_score import _fmt, score_beats

__all__ = ["beat_score", "format_beat_score", "aggregate_beats", "format_beats_report",
           "BEAT_TARGETS", "END_MARGIN_S", "ZERO_EDV_CM_S"]

#: Beats of the truth this close to the end of the recording are not scored, s.
END_MARGIN_S = 0.1
#: A truth whose median end-diastolic velocity is under this has no diastolic flow: its
#: EDV error is given in frequency bins of the analysis, cm/s.
ZERO_EDV_CM_S = 1.0
#: The simulator's beat targets, by lowest SNR (dB) of the band they apply to: the heart
#: rate (the median error of the band's recordings, bpm or %), beat sensitivity and PPV
#: (pooled, %), and on the arteries PSV and EDV (median error, % of the truth; EDV
#: within a bin where the truth has none) and RI and PI (median error).
BEAT_TARGETS = (
    (12.0, {"hr_error_bpm": 1.0, "sensitivity_pct": 99.0, "ppv_pct": 99.0,
            "psv_error_pct": 5.0, "edv_error_pct": 5.0, "edv_error_bins": 1.0,
            "ri_error": 0.05, "pi_error": 0.05}),
    (7.0, {"hr_error_pct": 2.0}),
)
#: Targets a higher figure meets.
_AT_LEAST = ("sensitivity_pct", "ppv_pct")
#: Targets checked on the arteries only.
_ARTERIAL = ("psv_error_pct", "edv_error_pct", "edv_error_bins", "ri_error", "pi_error")


# ------------------------------------------------------------------------------ one recording
def _median(values):
    values = [float(v) for v in values]
    return float(np.median(values)) if values else None


def _onsets(result):
    """The result's beat onsets, s, or None when it holds no per-beat values."""
    table = result.get("beat_table")
    if not isinstance(table, dict) or not isinstance(table.get("onset_s"), list):
        return None
    return [float(t) for t in table["onset_s"] if t is not None]


def _index_errors(summary, truth, bin_cm_s, directional):
    """Errors of the recording's PSV, EDV, RI and PI against the truth's medians.

    A mono recording measures speeds: its EDV is compared with the truth's ``|EDV|`` and
    its RI with the RI of that; its PI (over the mean speed, which a reversal adds to) is
    not scored, the truth giving the signed TAMV only."""
    out = {"psv_error_pct": None, "edv_error_pct": None, "edv_error_bins": None,
           "ri_error": None, "pi_error": None}
    got = {k: summary.get(k) for k in ("psv_cm_s", "edv_cm_s", "ri", "pi")}
    ref = {k: _median(truth.get(k) or []) for k in got}
    if not directional:
        psv = np.asarray(truth.get("psv_cm_s") or [], float)
        edv = np.abs(np.asarray(truth.get("edv_cm_s") or [], float))
        ref["edv_cm_s"] = _median(edv)
        ref["ri"] = _median((psv - edv) / psv) if len(psv) == len(edv) else None
        got["pi"] = None
    if got["psv_cm_s"] is not None and ref["psv_cm_s"]:
        out["psv_error_pct"] = 100.0 * (got["psv_cm_s"] / ref["psv_cm_s"] - 1.0)
    if got["edv_cm_s"] is not None and ref["edv_cm_s"] is not None:
        diff = got["edv_cm_s"] - ref["edv_cm_s"]
        if abs(ref["edv_cm_s"]) >= ZERO_EDV_CM_S:
            out["edv_error_pct"] = 100.0 * diff / abs(ref["edv_cm_s"])
        elif bin_cm_s:
            out["edv_error_bins"] = diff / bin_cm_s
    for k in ("ri", "pi"):
        if got[k] is not None and ref[k] is not None:
            out[f"{k}_error"] = got[k] - ref[k]
    return out


def _span_end(beat_times_s, duration_s):
    """End of the span beats are scored over, s: :data:`END_MARGIN_S` before the end of
    the recording, and no later than midway to the cycle after the truth's last beat (a
    cycle whose systolic peak is past the end is not in the truth: its beat is neither
    found nor missed)."""
    t = np.asarray(beat_times_s, float)
    half = 0.5 * float(np.median(np.diff(t))) if len(t) > 1 else END_MARGIN_S
    return min(duration_s - END_MARGIN_S, float(t[-1]) + half)


def beat_score(result, truth, *, tolerance_s=0.15):
    """Score the beats of one analysis against the truth of a scenario that pulses.

    Parameters
    ----------
    result : dict
        The JSON of the analysis (``beat_table`` for the beat matching: written
        with the trace).
    truth : dict
        The truth record, with ``beat_times_s`` (else there is nothing to score).
    tolerance_s : float
        A beat found within this of a true one (after the offset) matches it, s.

    Returns
    -------
    dict or None
        None when the truth has no beats.  Else ``arterial`` (the truth's vessel
        is an artery), ``edv_zero`` (the truth has no end-diastolic flow),
        ``n_reference``, ``n_detected``, ``n_matched``,
        ``sensitivity``, ``ppv``, ``offset_ms``, ``onset_error_ms`` (None without
        the result's ``beat_table``: ``note`` says so), ``heart_rate_bpm``,
        ``reference_heart_rate_bpm``, ``hr_error_bpm`` and ``hr_error_pct``
        (detected minus true; None when the result has no heart rate), and the
        signed index errors ``psv_error_pct``, ``edv_error_pct`` or
        ``edv_error_bins``, ``ri_error``, ``pi_error``.
    """
    if not truth.get("beat_times_s"):
        return None
    duration = float(truth.get("duration_s") or max(truth["beat_times_s"]) + 1.0)
    summary = result.get("beats") if isinstance(result.get("beats"), dict) else {}
    edv = _median(truth.get("edv_cm_s") or [])
    out = {"arterial": truth.get("vessel") == "artery",
           "edv_zero": edv is not None and abs(edv) < ZERO_EDV_CM_S, "n_reference": None,
           "n_detected": None, "n_matched": None, "sensitivity": None, "ppv": None,
           "offset_ms": None, "onset_error_ms": None}
    onsets = _onsets(result)
    if onsets is None:
        out["note"] = "no per-beat values in the result"
    else:
        s = score_beats(onsets, truth["beat_times_s"], tolerance_s=tolerance_s,
                        span_s=(0.0, _span_end(truth["beat_times_s"], duration)))
        out.update({k: s[k] for k in ("n_reference", "n_detected", "n_matched",
                                      "sensitivity", "ppv")})
        out["offset_ms"] = 1e3 * s["offset_s"]
        out["onset_error_ms"] = None if s["onset_error_s"] is None else 1e3 * s["onset_error_s"]
    hr, ref = result.get("heart_rate_bpm"), truth.get("heart_rate_bpm")
    out["heart_rate_bpm"], out["reference_heart_rate_bpm"] = hr, ref
    out["hr_error_bpm"] = None if hr is None or ref is None else hr - ref
    out["hr_error_pct"] = None if out["hr_error_bpm"] is None else 100.0 * (hr / ref - 1.0)
    bin_cm_s = (result.get("summary") or {}).get("velocity_resolution_cm_s")
    out.update(_index_errors(summary, truth, bin_cm_s,
                             result.get("direction_available") is not False))
    return out


def format_beat_score(b):
    """The lines of :func:`format_score` on the beats (list of str)."""
    if b.get("note") and b["n_reference"] is None:
        beats = (f"beats         not matched: {b['note']} (write it with analyze --json OUT "
                 f"--trace-json)")
    else:
        beats = (f"beats         {b['n_matched']} matched of {b['n_reference']} true, "
                 f"{b['n_detected']} found; sensitivity {_fmt(b['sensitivity'], '.0%')}, PPV "
                 f"{_fmt(b['ppv'], '.0%')}; onset error {_fmt(b['onset_error_ms'], '.0f', ' ms')}"
                 f" after an offset of {_fmt(b['offset_ms'], '+.0f', ' ms')}")
    hr = (f"heart rate    {_fmt(b['heart_rate_bpm'], '.1f')} beats/min against "
          f"{_fmt(b['reference_heart_rate_bpm'], '.1f')} (error "
          f"{_fmt(b['hr_error_bpm'], '+.2f', ' bpm')}, {_fmt(b['hr_error_pct'], '+.1f', '%')})")
    edv = (_fmt(b["edv_error_pct"], "+.1f", "%") if b["edv_error_bins"] is None
           else _fmt(b["edv_error_bins"], "+.2f", " bins (no diastolic flow)"))
    idx = (f"indices       PSV {_fmt(b['psv_error_pct'], '+.1f', '%')}, EDV {edv}, RI "
           f"{_fmt(b['ri_error'], '+.3f')}, PI {_fmt(b['pi_error'], '+.3f')} against the "
           f"truth's medians")
    return [beats, hr, idx]


# ------------------------------------------------------------------------------ evaluation
def _size(records, key):
    """Median size of ``key`` over ``records`` (a missing value counts as beyond any limit:
    None is returned when it decides the median)."""
    values = [abs(r[key]) if r[key] is not None else math.inf for r in records]
    if not values:
        return None
    m = float(np.median(values))
    return None if math.isinf(m) else m


def _scored(records):
    """The records each error is pooled over: the heart rate over all, the indices over
    the arteries (a vein's over its own recordings: reported), EDV apart where the
    truth has no diastolic flow."""
    idx = [r for r in records if r["arterial"]] or records
    return {"hr_error_bpm": records, "hr_error_pct": records, "psv_error_pct": idx,
            "edv_error_pct": [r for r in idx if not r["edv_zero"]],
            "edv_error_bins": [r for r in idx if r["edv_zero"]], "ri_error": idx,
            "pi_error": idx}


def _pool_beats(records):
    """Pooled beat figures of a group of records' beat scores."""
    matched = [r for r in records if r["n_reference"] is not None]
    n_ref = sum(r["n_reference"] for r in matched)
    n_det = sum(r["n_detected"] for r in matched)
    n_match = sum(r["n_matched"] for r in matched)
    onset = [r["onset_error_ms"] for r in matched if r["onset_error_ms"] is not None]
    hr = [r["hr_error_bpm"] for r in records]
    row = {"n_recordings": len(records), "n_arterial": sum(r["arterial"] for r in records),
           "n_without_rate": sum(r["heart_rate_bpm"] is None for r in records),
           "n_reference": n_ref, "n_detected": n_det, "n_matched": n_match,
           "sensitivity_pct": 100.0 * n_match / n_ref if n_ref else None,
           "ppv_pct": 100.0 * n_match / n_det if n_det else None,
           "onset_error_ms": _median(onset),
           "hr_error_max_bpm": None if None in hr or not hr else max(abs(v) for v in hr)}
    scored = _scored(records)
    row.update({key: _size(recs, key) for key, recs in scored.items()})
    row["n_scored"] = {key: len(recs) for key, recs in scored.items()}
    return row


def beat_targets_for(snr_db):
    """The beat targets at an SNR (dB): a dict of limits, or None (reported as is)."""
    for lowest, limits in BEAT_TARGETS:
        if snr_db >= lowest:
            return dict(limits)
    return None


def _check(pooled, rows, key, limit):
    """One beat target: the band's figure against its limit, and the rows beyond it.

    An arterial target with no artery in the band is not checked (None); a figure
    missing where recordings should give it (a recording without a heart rate decides
    the median) fails."""
    def within(v):
        return v is not None and (v >= limit if key in _AT_LEAST else v <= limit)

    arterial = key in _ARTERIAL
    value = pooled[key]
    applies = (not arterial or pooled["n_arterial"]) and pooled["n_scored"].get(
        key, pooled["n_recordings"])
    rows = [r for r in rows if (not arterial or r["n_arterial"])
            and r["n_scored"].get(key, r["n_recordings"])]
    return {"name": key, "limit": limit, "value": value if applies else None,
            "passed": within(value) if applies else None,
            "over": [{"scenario": r["scenario"], "value": r[key]} for r in rows
                     if not within(r[key])]}


def aggregate_beats(records):
    """Pool the beat scores of an evaluation per scenario and SNR, and check the targets.

    Parameters
    ----------
    records : list of dict
        Records of :func:`~dopplerflow.sim.evaluate.run_recording`; those analysed
        with the antegrade direction given and whose ``beats`` is not None (the
        scenarios that pulse) enter.

    Returns
    -------
    dict
        ``rows``: per scenario and SNR, ``scenario``, ``snr_db`` and the pooled
        figures: ``n_recordings``, ``n_arterial``, ``n_without_rate`` (no heart
        rate given), ``n_reference``, ``n_detected``, ``n_matched``,
        ``sensitivity_pct``, ``ppv_pct``, ``onset_error_ms`` (median of the
        recordings' median onset errors), and the median error sizes
        ``hr_error_bpm``, ``hr_error_pct``, ``psv_error_pct``, ``edv_error_pct``,
        ``edv_error_bins``, ``ri_error``, ``pi_error`` (None where a recording
        without a heart rate decides the median), ``hr_error_max_bpm``.
        ``overall``: per SNR the same over every scenario that pulses (the indices
        over the arteries), with ``targets``, ``checks`` (``name``, ``limit``,
        ``value``, ``passed``, ``over``: the scenario rows beyond it) and
        ``verdict`` (``"PASS"``, ``"FAIL"`` or ``"reported"``).  ``passed``: True
        when every SNR with targets passes, None when none has targets or no
        scenario pulses.
    """
    given = [r for r in records if r["antegrade"] == "given" and r.get("beats")]
    order, groups = {}, {}
    for r in given:
        order.setdefault(r["scenario"], len(order))
        groups.setdefault((r["scenario"], float(r["snr_db"])), []).append(r["beats"])
    keys = sorted(groups, key=lambda k: (order[k[0]], -k[1]))
    rows = [dict(scenario=s, snr_db=snr, **_pool_beats(groups[(s, snr)])) for s, snr in keys]
    overall = []
    for snr in sorted({k[1] for k in keys}, reverse=True):
        pooled = dict(snr_db=snr, **_pool_beats([b for (s, x), g in groups.items() if x == snr
                                                 for b in g]))
        limits = beat_targets_for(snr)
        pooled["targets"] = limits
        pooled["checks"] = [] if limits is None else [
            _check(pooled, [r for r in rows if r["snr_db"] == snr], k, v)
            for k, v in limits.items()]
        pooled["verdict"] = "reported" if limits is None else (
            "PASS" if all(c["passed"] is not False for c in pooled["checks"]) else "FAIL")
        overall.append(pooled)
    verdicts = [o["verdict"] for o in overall if o["verdict"] != "reported"]
    return {"rows": rows, "overall": overall,
            "passed": None if not verdicts else all(v == "PASS" for v in verdicts)}


# ------------------------------------------------------------------------------------ report
_HEADER = ["beats", "SNR dB", "n", "sens%", "PPV%", "onset ms", "HR bpm", "max bpm", "HR%",
           "PSV%", "EDV%", "EDV bins", "RI", "PI"]
#: How each check is worded: label, unit, decimals.
_WORDS = {"hr_error_bpm": ("heart-rate error", " bpm", 2),
          "hr_error_pct": ("heart-rate error", "%", 2),
          "sensitivity_pct": ("beat sensitivity", "%", 1), "ppv_pct": ("beat PPV", "%", 1),
          "psv_error_pct": ("PSV error (arteries)", "%", 1),
          "edv_error_pct": ("EDV error (arteries with diastolic flow)", "%", 1),
          "edv_error_bins": ("EDV error (arteries without diastolic flow)", " bins", 2),
          "ri_error": ("RI error (arteries)", "", 3), "pi_error": ("PI error (arteries)", "", 3)}


def _f(value, spec):
    return "-" if value is None else format(value, spec)


def _cells(row):
    return [f"{row['snr_db']:g}", str(row["n_recordings"]), _f(row["sensitivity_pct"], ".1f"),
            _f(row["ppv_pct"], ".1f"), _f(row["onset_error_ms"], ".0f"),
            _f(row["hr_error_bpm"], ".2f"), _f(row["hr_error_max_bpm"], ".2f"),
            _f(row["hr_error_pct"], ".2f"), _f(row["psv_error_pct"], ".1f"),
            _f(row["edv_error_pct"], ".1f"), _f(row["edv_error_bins"], ".2f"),
            _f(row["ri_error"], ".3f"), _f(row["pi_error"], ".3f")]


def _describe(check):
    label, unit, d = _WORDS[check["name"]]
    side = ">=" if check["name"] in _AT_LEAST else "<="
    mark = {True: "ok  ", False: "FAIL", None: "n/a "}[check["passed"]]
    line = (f"    {mark} {label} {_f(check['value'], f'.{d}f')}{unit} (target {side} "
            f"{check['limit']:g}{unit})")
    if check["over"]:
        line += "; scenario rows beyond it: " + ", ".join(
            f"{o['scenario']} {_f(o['value'], f'.{d}f')}{unit}" for o in check["over"])
    return line


def format_beats_report(beats):
    """The beats table of an evaluation and its target checks, as text.

    ``beats`` is :func:`aggregate_beats`.  Columns: recordings, beat sensitivity
    and PPV (pooled), the median onset error after each recording's offset, the
    median and largest heart-rate error (bpm) and the median in %, and the
    median size of the PSV, EDV (% or bins), RI and PI errors; ``-`` where a
    figure is not defined (no recording without diastolic flow, say).
    """
    from .aggregate import _align

    if not beats["rows"]:
        return "Beats: no scenario that pulses was run."
    table = [_HEADER] + [[r["scenario"]] + _cells(r) for r in beats["rows"]]
    table += [["ALL (" + o["verdict"] + ")"] + _cells(o) for o in beats["overall"]]
    lines = _align(table)
    rule = "-" * len(lines[0])
    n = len(beats["rows"])
    lines = [lines[0], rule] + lines[1:1 + n] + [rule] + lines[1 + n:] + [""]
    for o in beats["overall"]:
        if o["targets"] is None:
            lines.append(f"Beats at SNR {o['snr_db']:g} dB: reported as is (no target below "
                         f"7 dB)")
            continue
        lines.append(f"Beats at SNR {o['snr_db']:g} dB: {o['verdict']}")
        lines += [_describe(c) for c in o["checks"]]
    return "\n".join(lines)
