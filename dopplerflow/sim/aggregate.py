"""Pooling the scores of :func:`dopplerflow.sim.evaluate.evaluate`, checking the targets,
and the text report of an evaluation.

Per scenario and SNR the records of :func:`~dopplerflow.sim.evaluate.run_recording`
are pooled over layouts and seeds (:func:`aggregate`); one overall row per SNR is
checked against the accuracy the project must reach (:data:`TARGETS`), and
:func:`format_report` prints it all as aligned columns.
"""

import math

import numpy as np

__all__ = ["TARGETS", "aggregate", "targets_for", "format_report"]

#: Accuracy the project must reach, by lowest SNR (dB) of the band it applies to.  Each
#: limit holds for the band's pooled figure, as the targets are worded: the recordings
#: classified right, the median onset and end error of all the matched events, the
#: frame-weighted trace rms error.  Every scenario whose own row is beyond a limit is
#: listed with the check (``over``), so that none is hidden in the pool.
TARGETS = (
    (12.0, {"classification_right_pct": 100.0, "median_onset_error_ms": 30.0,
            "median_end_error_ms": 30.0, "trace_rms_pct": 8.0}),
    (7.0, {"classification_right_pct": 95.0, "trace_rms_pct": 15.0}),
)
#: Keys of the targets, in the order they are checked and printed.
_TARGET_KEYS = ("classification_right_pct", "median_onset_error_ms", "median_end_error_ms",
                "trace_rms_pct")


def _pct(num, den):
    return None if den == 0 else 100.0 * num / den


def _median_ms(values):
    return None if not values else 1e3 * float(np.median(np.abs(values)))


def _classification(records):
    right = sum(r["recording_correct"] is True for r in records)
    wrong = sum(r["recording_correct"] is False for r in records)
    return right, wrong, len(records) - right - wrong


def _trace_stats(records):
    """Frame-weighted rms, bias and sign agreement over records (% of peak)."""
    tr = [r for r in records if r["trace_rms_error_pct"] is not None and r["trace_frames"] > 0]
    frames = sum(r["trace_frames"] for r in tr)
    measurable = sum(r["trace_measurable_frames"] for r in records)
    coverage = _pct(sum(r["trace_frames"] for r in records), measurable)
    if not frames:
        return {"trace_rms_pct": None, "trace_rms_max_pct": None, "trace_bias_pct": None,
                "sign_agreement_pct": None, "trace_coverage_pct": coverage}
    ms = sum(r["trace_frames"] * r["trace_rms_error_pct"] ** 2 for r in tr) / frames
    bias = sum(r["trace_frames"] * r["trace_bias_pct"] for r in tr) / frames
    signed = [r for r in tr if r["sign_agreement_pct"] is not None]
    sframes = sum(r["trace_frames"] for r in signed)
    sign = (sum(r["trace_frames"] * r["sign_agreement_pct"] for r in signed) / sframes
            if sframes else None)
    return {"trace_rms_pct": math.sqrt(ms), "trace_rms_max_pct": max(
        r["trace_rms_error_pct"] for r in tr), "trace_bias_pct": bias, "sign_agreement_pct": sign,
        "trace_coverage_pct": coverage}


def _pool(records):
    """Pooled scores of a group of records (the fields of a table row)."""
    given = [r for r in records if r["antegrade"] == "given"]
    auto = [r for r in records if r["antegrade"] == "auto"]
    right, wrong, na = _classification(given)
    a_right, a_wrong, a_na = _classification(auto)
    # events of recordings whose reflux is not assessable are neither found nor missed
    n_true = sum(r["n_true_events"] for r in given if r["reflux_assessable"])
    n_det = sum(r["n_detected_events"] for r in given)
    n_match = sum(r["n_matched"] for r in given)
    onset = [e for r in given for e in r["onset_errors_s"]]
    end = [e for r in given for e in r["end_errors_s"]]
    peak = [e for r in given for e in r["peak_errors_pct"]]
    row = {
        "n_recordings": len(given), "n_right": right, "n_wrong": wrong,
        "n_not_assessable": na, "classification_right_pct": _pct(right, right + wrong),
        "auto_n_recordings": len(auto), "auto_n_right": a_right, "auto_n_wrong": a_wrong,
        "auto_n_not_assessable": a_na,
        "auto_classification_right_pct": _pct(a_right, a_right + a_wrong),
        "n_true_events": n_true, "n_detected_events": n_det, "n_matched": n_match,
        "sensitivity": None if n_true == 0 else n_match / n_true,
        "ppv": None if n_det == 0 else n_match / n_det,
        "n_event_errors": len(onset),
        "median_onset_error_ms": _median_ms(onset), "median_end_error_ms": _median_ms(end),
        "median_peak_error_pct": None if not peak else float(np.median(peak)),
        "n_errors": sum("error" in r for r in records),
    }
    row.update(_trace_stats(given))
    return row


def targets_for(snr_db):
    """Accuracy targets at an SNR (dB): a dict of limits, or None (reported as is)."""
    for lowest, limits in TARGETS:
        if snr_db >= lowest:
            return dict(limits)
    return None


def _check(pooled, rows, key, limit):
    """One target: the pooled figure against its limit, and the scenario rows beyond it."""
    def within(v):
        return v >= limit if key == "classification_right_pct" else v <= limit

    value = pooled[key]
    scored = [{"scenario": r["scenario"], "value": r[key]} for r in rows if r[key] is not None]
    return {"name": key, "limit": limit, "value": value,
            "passed": None if value is None else within(value),
            "over": [o for o in scored if not within(o["value"])],
            "worst": min(scored, key=lambda o: -o["value"] if key != "classification_right_pct"
                         else o["value"], default=None)}


def _checks(pooled, rows, limits):
    return [_check(pooled, rows, key, limits[key]) for key in _TARGET_KEYS if key in limits]


def aggregate(records):
    """Pool recording scores per scenario and SNR, and check the targets per SNR.

    Parameters
    ----------
    records : list of dict
        Records of :func:`run_recording` (hand-made ones need ``scenario``,
        ``snr_db``, ``antegrade``, the recording, event and trace fields,
        ``onset_errors_s``, ``end_errors_s`` and ``peak_errors_pct``).

    Returns
    -------
    dict
        ``rows``: one dict per scenario and SNR (scenarios in order of first
        appearance, SNR descending) with ``scenario``, ``snr_db`` and the pooled
        fields: ``n_recordings``, ``n_right``, ``n_wrong``, ``n_not_assessable``,
        ``classification_right_pct`` (of the assessable recordings, %), the same
        with ``auto_`` for ``antegrade='auto'``, ``n_true_events``,
        ``n_detected_events``, ``n_matched``, ``sensitivity``, ``ppv``,
        ``median_onset_error_ms`` and ``median_end_error_ms`` (median absolute
        error of the matched events, ms), ``median_peak_error_pct`` (median of
        their peak velocity's signed error, % of the true peak), ``trace_rms_pct``
        (frame-weighted rms, % of peak), ``trace_rms_max_pct`` (worst recording),
        ``trace_bias_pct``, ``sign_agreement_pct``; only ``antegrade == "given"`` records enter all
        but the ``auto_`` fields.  ``overall``: one dict per SNR, descending,
        with the same fields over every scenario plus ``targets`` (None: no
        target at this SNR), ``checks`` (``name``, ``limit``, ``value``,
        ``passed``, ``over``: the scenario rows beyond the limit, ``worst``: the
        worst scenario row) and ``verdict`` (``"PASS"``,
        ``"FAIL"`` or ``"reported"``).  ``passed``: True when every SNR with
        targets passes, None when no SNR has targets.
    """
    order = {}
    for r in records:
        order.setdefault(r["scenario"], len(order))
    groups = {}
    for r in records:
        groups.setdefault((r["scenario"], float(r["snr_db"])), []).append(r)
    keys = sorted(groups, key=lambda k: (order[k[0]], -k[1]))
    rows = [dict(scenario=s, snr_db=snr, **_pool(groups[(s, snr)])) for s, snr in keys]
    overall = []
    for snr in sorted({k[1] for k in keys}, reverse=True):
        at = [r for r in records if float(r["snr_db"]) == snr]
        pooled = dict(snr_db=snr, **_pool(at))
        rows_at = [r for r in rows if r["snr_db"] == snr]
        limits = targets_for(snr)
        pooled["targets"] = limits
        if limits is None:
            pooled["checks"], pooled["verdict"] = [], "reported"
        else:
            pooled["checks"] = _checks(pooled, rows_at, limits)
            ok = all(c["passed"] is not False for c in pooled["checks"])
            pooled["verdict"] = "PASS" if ok else "FAIL"
        overall.append(pooled)
    verdicts = [o["verdict"] for o in overall if o["verdict"] != "reported"]
    return {"rows": rows, "overall": overall,
            "passed": None if not verdicts else all(v == "PASS" for v in verdicts)}


# ------------------------------------------------------------------------------------ report
def _f(value, spec):
    return "-" if value is None else format(value, spec)


def _cells(row):
    cls = f"{row['n_right']}/{row['n_right'] + row['n_wrong']}"
    if row["n_not_assessable"]:
        cls += f" +{row['n_not_assessable']}n/a"
    auto = (f"{row['auto_n_right']}/{row['auto_n_right'] + row['auto_n_wrong']}"
            if row["auto_n_recordings"] else "-")
    if row["auto_n_not_assessable"]:
        auto += f" +{row['auto_n_not_assessable']}n/a"
    sens = _f(None if row["sensitivity"] is None else 100 * row["sensitivity"], ".0f")
    ppv = _f(None if row["ppv"] is None else 100 * row["ppv"], ".0f")
    return [f"{row['snr_db']:g}", str(row["n_recordings"]), cls, auto, sens, ppv,
            _f(row["median_onset_error_ms"], ".0f"), _f(row["median_end_error_ms"], ".0f"),
            _f(row["median_peak_error_pct"], "+.0f"),
            _f(row["trace_rms_pct"], ".1f"), _f(row["trace_rms_max_pct"], ".1f"),
            _f(row["trace_bias_pct"], "+.1f"), _f(row["sign_agreement_pct"], ".1f"),
            _f(row["trace_coverage_pct"], ".1f")]


_HEADER = ["scenario", "SNR dB", "n", "class", "auto", "sens%", "PPV%", "onset ms", "end ms",
           "peak%", "rms%", "max rms%", "bias%", "sign%", "cov%"]


def _align(table):
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                      for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
            for r in table]


def _describe(check):
    name, limit = check["name"], check["limit"]
    label, unit, side = {"classification_right_pct": ("classified right", "%", ">="),
                         "median_onset_error_ms": ("median onset error", " ms", "<="),
                         "median_end_error_ms": ("median end error", " ms", "<="),
                         "trace_rms_pct": ("trace rms", "% of peak", "<=")}[name]
    mark = {True: "ok  ", False: "FAIL", None: "n/a "}[check["passed"]]
    line = f"    {mark} {label} {_f(check['value'], '.1f')}{unit} (target {side} {limit:g}{unit})"
    if check["over"]:
        line += "; scenario rows over it: " + ", ".join(
            f"{o['scenario']} {o['value']:.1f}{unit}" for o in check["over"])
    elif check["worst"] is not None and name != "classification_right_pct":
        worst = check["worst"]
        line += f"; worst scenario row: {worst['scenario']} {worst['value']:.1f}{unit}"
    return line


def format_report(result):
    """The evaluation as text: a table per scenario and SNR, then the verdicts.

    Parameters
    ----------
    result : dict
        The output of :func:`evaluate` (or ``rows`` and ``overall`` of
        :func:`aggregate`).

    Returns
    -------
    str
        Aligned columns: ``class`` is recordings classified right over those
        assessable (antegrade given), ``auto`` the same with
        ``antegrade='auto'``, ``sens%``/``PPV%`` of reflux events, ``onset
        ms``/``end ms`` median absolute errors of matched events, ``rms%``
        frame-weighted trace rms error (% of peak), ``max rms%`` the worst
        recording, ``bias%`` and ``sign%`` agreement.  With the beats of an
        evaluation (``result["beats"]``), their table and checks follow
        (:func:`~dopplerflow.sim.beats.format_beats_report`), and with its degraded
        table (``result["degraded"]``), that table
        (:func:`~dopplerflow.sim.degraded.format_degraded`).  A result without clean
        rows (the degraded table alone) prints that table only.
    """
    text = _format_clean(result) if result["rows"] else ""
    if result.get("degraded"):
        from .degraded import format_degraded

        text += ("\n\n" if text else "") + format_degraded(result["degraded"],
                                                            result.get("elapsed_s"))
    return text


def _format_clean(result):
    """The clean table, its verdicts and the beats table (:func:`format_report`)."""
    table = [_HEADER] + [[r["scenario"]] + _cells(r) for r in result["rows"]]
    table += [["ALL (" + o["verdict"] + ")"] + _cells(o) for o in result["overall"]]
    lines = _align(table)
    rule = "-" * len(lines[0])
    n_rows = len(result["rows"])
    lines = [lines[0], rule] + lines[1:1 + n_rows] + [rule] + lines[1 + n_rows:] + [""]
    for o in result["overall"]:
        if o["targets"] is None:
            lines.append(f"SNR {o['snr_db']:g} dB: reported as is (no target below 7 dB)")
            continue
        lines.append(f"SNR {o['snr_db']:g} dB: {o['verdict']}")
        lines += [_describe(c) for c in o["checks"]]
    cfg = result.get("config")
    if cfg:
        n = sum(o["n_recordings"] for o in result["overall"])
        lines.append(f"{n} recordings ({len(cfg['seeds'])} seed(s); layouts "
                     f"{', '.join(cfg['layouts'])}; envelope {cfg['envelope'] or 'default'})"
                     + (f" in {result['elapsed_s']:.0f} s" if "elapsed_s" in result
                        and not result.get("degraded") else ""))
    errors = sum(r["n_errors"] for r in result["rows"])
    if errors:
        lines.append(f"{errors} analysis error(s) counted as classified wrong (see the JSON)")
    if result.get("beats") and result["beats"]["rows"]:
        from .beats import format_beats_report

        lines += ["", format_beats_report(result["beats"])]
    return "\n".join(lines)
