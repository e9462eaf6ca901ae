"""The degraded table of ``dopplerflow evaluate``: the scenarios under real-world degradations.

Every scenario (but those defined by their own SNR, :data:`~dopplerflow.sim.evaluate.
OWN_SNR_SCENARIOS`) is synthesised at :data:`DEGRADED_SNR_DB` in-band with each
degradation of :data:`CASES` in turn (:mod:`dopplerflow.sim.degrade`), in the run's
layouts with the first :data:`DEGRADED_SEEDS` of its seeds, analysed and scored as the
clean recordings are (:func:`~dopplerflow.sim.evaluate.run_recording`).  Per degradation
(a block of rows) and scenario the scores are pooled as in the clean table
(:func:`~dopplerflow.sim.aggregate.aggregate`), and each cell is checked against the
targets of its SNR (:func:`~dopplerflow.sim.aggregate.targets_for`: every recording
classified right, median onset and end error at most 30 ms, trace rms at most 8 % of
peak).  A degradation that cannot hold a scenario (an 8 kHz recording of an artery whose
Doppler shift reaches 4.2 kHz) leaves it out, and says so.
"""

from dataclasses import dataclass

from ..errors import SettingsError
from .aggregate import _HEADER, _align, _cells, aggregate, targets_for
from .degrade import Degradations

__all__ = ["Case", "CASES", "DEGRADED_SNR_DB", "DEGRADED_SEEDS", "get_case", "degraded_tasks",
           "aggregate_degraded", "format_degraded"]

#: In-band SNR of the degraded table, dB.
DEGRADED_SNR_DB = 12.0
#: How many of the run's seeds the degraded table uses (the first ones).
DEGRADED_SEEDS = 5


@dataclass(frozen=True)
class Case:
    """One degradation of the table.

    Attributes
    ----------
    name : str
        Short name (a row block's label, ``--degradations``).
    description : str
        The real condition it imitates, one line.
    degradations : Degradations
        What is done to the recording.
    bits : int
        Sample depth of the audio analysed.
    sample_rate_hz : float or None
        Synthesis rate, Hz (before any resampling); None: the clean table's rate of
        the scenario (:func:`~dopplerflow.sim.evaluate.sample_rate_for`).
    layouts : tuple of str or None
        The layouts it applies to, of the run's (None: all of them).
    """

    name: str
    description: str
    degradations: Degradations
    bits: int = 16
    sample_rate_hz: float | None = None
    layouts: tuple | None = None


#: The degradations of the table, in the order of its row blocks.
CASES = (
    Case("slope-3", "noise falling 3 dB per octave above 50 Hz (pink), same in-band SNR",
         Degradations(noise_slope_db_oct=-3.0)),
    Case("slope-6", "noise falling 6 dB per octave above 50 Hz, same in-band SNR",
         Degradations(noise_slope_db_oct=-6.0)),
    Case("band-5k", "a 5 kHz audio band recorded at 44.1 kHz over a -90 dBFS sound-card floor",
         Degradations(lowpass_hz=5000.0, resample_hz=44100.0, floor_dbfs=-90.0)),
    Case("from-8k", "recorded at 8 kHz, resampled to 44.1 kHz",
         Degradations(resample_hz=44100.0), sample_rate_hz=8000.0),
    Case("tones", "interference tones at 1 and 3.15 kHz, each 10 dB under the blood echo",
         Degradations(tones_hz=(1000.0, 3150.0), tone_db=-10.0)),
    Case("clicks", "5 probe taps of 5-10 ms, 30 dB over the blood echo, across the band",
         Degradations(clicks=5, click_db=30.0)),
    Case("8-bit", "8-bit samples of a device's audio output (its wall filter leaves the "
                  "echoes 20 dB over the blood)",
         Degradations(clutter_db=20.0), bits=8),
    Case("gain-12", "a toward/away pair on a two-input sound card, the away channel's gain "
                    "12 dB over the toward channel's",
         Degradations(channel_gain_db=12.0), layouts=("toward-away",)),
)
_BY_NAME = {c.name: c for c in CASES}


def get_case(name):
    """The case ``name`` of :data:`CASES`; SettingsError naming the choices if unknown."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise SettingsError(f"degradation {name!r} is not known; use one or more of "
                            f"{', '.join(_BY_NAME)}") from None


def degraded_tasks(names, seeds, layouts, base_rate_hz, envelope, auto, cases):
    """The tasks of the degraded table, and the scenarios each case leaves out.

    Parameters
    ----------
    names : sequence of str
        Scenarios of the run (those of ``OWN_SNR_SCENARIOS`` are skipped).
    seeds : sequence of int
        The run's seeds (the first :data:`DEGRADED_SEEDS` are used).
    layouts, base_rate_hz, envelope, auto
        As :func:`~dopplerflow.sim.evaluate.evaluate`.
    cases : sequence of Case

    Returns
    -------
    tasks : list of dict
        Task dicts of :func:`~dopplerflow.sim.evaluate.run_recording`, each with
        ``degradation`` (the case name).
    left_out : dict of str to list of dict
        Per case, ``{"scenario", "reason"}`` of the scenarios it cannot hold.
    """
    from .evaluate import OWN_SNR_SCENARIOS, sample_rate_for

    tasks, left_out = [], {}
    for case in cases:
        left_out[case.name] = []
        own = tuple(lay for lay in layouts if case.layouts is None or lay in case.layouts)
        for name in names:
            if name in OWN_SNR_SCENARIOS:
                continue
            if not own:
                left_out[case.name].append({"scenario": name, "reason": (
                    f"it applies to the {', '.join(case.layouts)} layout(s), none of the "
                    f"run's")})
                continue
            fs = sample_rate_for(name, own, case.sample_rate_hz or base_rate_hz)
            if case.sample_rate_hz is not None and fs != case.sample_rate_hz:
                left_out[case.name].append({"scenario": name, "reason": (
                    f"Doppler shifts beyond what {case.sample_rate_hz:g} Hz holds")})
                continue
            for seed in tuple(seeds)[:DEGRADED_SEEDS]:
                tasks.append({"scenario": name, "snr_db": DEGRADED_SNR_DB, "seed": int(seed),
                              "layouts": own, "sample_rate_hz": fs,
                              "envelope": envelope, "auto": auto, "degradation": case.name})
    return tasks, left_out


def _meets(row, limits):
    """Per target key: does the row's figure meet it (None: no figure).

    Classification is held to every recording: one whose reflux the analysis left
    not assessable is not classified right (the table's layouts carry direction; a
    mono recording, which never can assess reflux, never meets it).
    """
    out = {}
    for key, limit in limits.items():
        value = row[key]
        if key == "classification_right_pct":
            out[key] = None if row["n_recordings"] == 0 else (
                row["n_not_assessable"] == 0 and value is not None and value >= limit)
        else:
            out[key] = None if value is None else value <= limit
    return out


def aggregate_degraded(records, cases, left_out, seeds, layouts):
    """Pool the degraded records per case and scenario, and mark the cells.

    Parameters
    ----------
    records : list of dict
        Records of :func:`~dopplerflow.sim.evaluate.run_recording`, each with
        ``degradation``.
    cases : sequence of Case
    left_out : dict
        As :func:`degraded_tasks` returns it.
    seeds, layouts : sequence
        Those of the table (for the record).

    Returns
    -------
    dict
        ``snr_db``, ``seeds``, ``layouts``, ``targets`` (the limits checked),
        ``blocks``: one per case with ``name``, ``description``, ``settings``
        (:meth:`~dopplerflow.sim.degrade.Degradations.settings`), ``bits``,
        ``sample_rate_hz`` (synthesis rate, None: the clean table's), ``left_out``,
        ``rows`` (:func:`~dopplerflow.sim.aggregate.aggregate`'s rows, each with
        ``meets``: per target key True, False or None, :func:`_meets`), ``overall``
        (the pooled row with its ``checks`` and ``meets``, and ``verdict``: PASS when
        each of its figures meets its target; None without records), ``verdict``,
        ``cells_met`` and ``cells_checked`` (the scenario rows' marks); ``passed``
        (every block passes), ``records``.
    """
    limits = targets_for(DEGRADED_SNR_DB)
    blocks = []
    for case in cases:
        recs = [r for r in records if r.get("degradation") == case.name]
        agg = aggregate(recs) if recs else {"rows": [], "overall": []}
        rows = [dict(r, meets=_meets(r, limits)) for r in agg["rows"]]
        overall = None
        if agg["overall"]:
            overall = dict(agg["overall"][0])
            overall["meets"] = _meets(overall, limits)
            met = overall["meets"].values()
            overall["verdict"] = "FAIL" if False in met else "PASS"
        marks = [m for r in rows for m in r["meets"].values() if m is not None]
        blocks.append({
            "name": case.name, "description": case.description,
            "settings": case.degradations.settings(), "bits": case.bits,
            "sample_rate_hz": case.sample_rate_hz, "left_out": left_out.get(case.name, []),
            "rows": rows, "overall": overall,
            "verdict": "reported" if overall is None else overall["verdict"],
            "cells_met": sum(marks), "cells_checked": len(marks)})
    verdicts = [b["verdict"] for b in blocks if b["verdict"] != "reported"]
    return {"snr_db": DEGRADED_SNR_DB, "seeds": list(seeds)[:DEGRADED_SEEDS],
            "layouts": list(layouts), "targets": limits, "blocks": blocks,
            "passed": None if not verdicts else all(v == "PASS" for v in verdicts),
            "records": list(records)}


#: Columns of the clean table that carry a target, by target key.
_MARKED = {"classification_right_pct": "class", "median_onset_error_ms": "onset ms",
           "median_end_error_ms": "end ms", "trace_rms_pct": "rms%"}


def _marked_cells(row):
    """The clean table's cells of a row (SNR left out), each target cell marked."""
    cells = _cells(row)
    for key, column in _MARKED.items():
        i = _HEADER.index(column) - 1  # _cells starts at the SNR column
        met = row["meets"][key]
        cells[i] += "*" if met else " "
    return cells[1:]


def format_degraded(degraded, elapsed_s=None):
    """The degraded table as text: a block of rows per degradation, then one line each.

    Columns are those of the clean table (:func:`~dopplerflow.sim.aggregate.format_report`)
    without the SNR; a ``*`` after ``class``, ``onset ms``, ``end ms`` or ``rms%`` marks
    a cell that meets its target.  ``elapsed_s``, the time of the whole evaluation,
    closes it when given.
    """
    limits = degraded["targets"]
    head = (f"Degraded recordings at {degraded['snr_db']:g} dB in-band "
            f"({len(degraded['seeds'])} seed(s); layouts {', '.join(degraded['layouts'])}); "
            f"* marks a cell that meets its target (every recording right, median onset and "
            f"end error <= {limits['median_onset_error_ms']:g} ms, trace rms <= "
            f"{limits['trace_rms_pct']:g} % of peak)")
    table = [["degradation"] + [_HEADER[0]] + _HEADER[2:]]
    starts = []
    for block in degraded["blocks"]:
        starts.append(len(table))
        table += [[block["name"], r["scenario"]] + _marked_cells(r) for r in block["rows"]]
        if block["overall"] is not None:
            table.append([block["name"], f"ALL ({block['verdict']})"]
                         + _marked_cells(block["overall"]))
    lines = _align(table)
    rule = "-" * len(lines[0])
    out = [head, "", lines[0]]
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(lines)
        out += [rule] + lines[start:end]
    out += [rule, ""]
    for block in degraded["blocks"]:
        line = f"{block['name']}: {block['description']}: {block['verdict']}"
        if block["cells_checked"]:
            line += f", {block['cells_met']} of {block['cells_checked']} cells meet the targets"
        reasons = {}
        for o in block["left_out"]:
            reasons.setdefault(o["reason"], []).append(o["scenario"])
        for reason, names in reasons.items():
            line += f"; left out: {', '.join(names)} ({reason})"
        errors = sum(r["n_errors"] for r in block["rows"])
        if errors:
            line += f"; {errors} analysis error(s) counted as classified wrong"
        out.append(line)
    n = sum(b["overall"]["n_recordings"] for b in degraded["blocks"] if b["overall"])
    out.append(f"{n} degraded recordings"
               + (f"; the whole run took {elapsed_s:.0f} s" if elapsed_s is not None else ""))
    return "\n".join(out)
