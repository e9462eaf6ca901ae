"""Zamboni's five venous criteria of CCSVI, read across the recordings of an examination.

Zamboni et al. (2009, J Neurol Neurosurg Psychiatry 80:392-399) proposed five
echo-colour-Doppler criteria of "chronic cerebrospinal venous insufficiency"; two or
more met define it.  The hypothesis is contested: later controlled studies did not
confirm it, and ``docs/exam.md`` says so with references.  This module applies the
operational rules below, each of which says when a criterion is **met**, **not met**
or **not assessed** (what the examination holds cannot decide it):

1. Reflux in an internal jugular (IJV) or vertebral vein (VV): retrograde flow longer
   than 0.88 s in any recording of either vein, in either posture.
2. Reflux in the deep cerebral veins (DCV): retrograde flow longer than 0.5 s.
3. IJV stenosis on B-mode: a supine IJV cross-sectional area (CSA) of 0.3 cm2 or less,
   or an intraluminal defect (septum, web, malformed valve), as entered by hand.
4. Flow not Doppler-detectable in an IJV or VV: no flow in any recording of that vein,
   on that side, supine **and** upright.
5. Reverted postural control of the main cerebral venous outflow: an IJV whose upright
   CSA is larger than its supine CSA (it does not collapse when the head is raised).

Criteria 1, 2 and 4 read recordings at rest or with respiratory manoeuvres
(:data:`COUNTED_MANOEUVRES`); recordings under Valsalva, squeeze or release are shown
but not counted, as the criteria describe flow in ordinary and deep breathing (and a
Valsalva reverses flow through many healthy jugular valves).
"""

from dataclasses import dataclass, field

from ..core import verdict
from ..core.vessels import VESSELS
from .manifest import SIDES

__all__ = ["Criterion", "CcsviResult", "assess", "COUNTED_MANOEUVRES", "CSA_STENOSIS_CM2",
           "longest_retrograde_s", "reflux_readable"]

#: Manoeuvres under which criteria 1, 2 and 4 are read.
COUNTED_MANOEUVRES = ("rest", "deep-inspiration", "breath-hold")
#: Criterion 3: a supine IJV cross-sectional area at or under this is a stenosis, cm2.
CSA_STENOSIS_CM2 = 0.3
MET, NOT_MET, NOT_ASSESSED = "met", "not met", "not assessed"

TITLES = {
    1: "Reflux in the IJVs and/or VVs",
    2: "Reflux in the deep cerebral veins",
    3: "B-mode evidence of proximal IJV stenosis",
    4: "Flow not Doppler-detectable in the IJVs and/or VVs",
    5: "Reverted postural control of the main cerebral venous outflow",
}
RULES = {
    1: "retrograde flow > 0.88 s in any IJV or VV recording, supine or upright",
    2: "retrograde flow > 0.5 s in any DCV recording",
    3: f"supine IJV cross-sectional area <= {CSA_STENOSIS_CM2:g} cm2, or an intraluminal "
       f"defect (entered by hand)",
    4: "no flow detected in every recording of one IJV or VV, supine and upright",
    5: "IJV cross-sectional area larger upright than supine (entered by hand)",
}


@dataclass
class Criterion:
    """One criterion's verdict: ``status`` is ``met``, ``not met`` or ``not assessed``;
    ``reason`` says why in a sentence; ``evidence`` lists what was read, one dict per
    recording or measurement (``recording``: 1-based index, or None for a value
    entered by hand; ``what``; ``value``; ``decides``: True for what made it met)."""

    number: int
    status: str
    reason: str
    evidence: list = field(default_factory=list)

    @property
    def title(self):
        return TITLES[self.number]

    @property
    def rule(self):
        return RULES[self.number]

    def to_dict(self):
        return {"number": self.number, "title": self.title, "rule": self.rule,
                "status": self.status, "reason": self.reason, "evidence": self.evidence}


@dataclass
class CcsviResult:
    """The five criteria and the count: ``ccsvi`` is True (two or more met), False
    (fewer than two could be met) or None (undetermined: the criteria not assessed
    could still bring the count to two)."""

    criteria: list

    @property
    def n_met(self):
        return sum(c.status == MET for c in self.criteria)

    @property
    def n_not_assessed(self):
        return sum(c.status == NOT_ASSESSED for c in self.criteria)

    @property
    def ccsvi(self):
        if self.n_met >= 2:
            return True
        return False if self.n_met + self.n_not_assessed < 2 else None

    @property
    def conclusion(self):
        met, na = self.n_met, self.n_not_assessed
        head = f"{met} of 5 criteria met"
        if na:
            head += f", {na} not assessed"
        return {True: f"{head}: the CCSVI criteria (two or more) are met.",
                False: f"{head}: the CCSVI criteria (two or more) are not met.",
                None: f"{head}: undetermined; the criteria not assessed could bring the "
                      f"count to two."}[self.ccsvi]

    def to_dict(self):
        return {"criteria": [c.to_dict() for c in self.criteria], "n_met": self.n_met,
                "n_not_assessed": self.n_not_assessed, "ccsvi": self.ccsvi,
                "conclusion": self.conclusion}


def reflux_readable(analysis):
    """Whether an analysis can say if there was reflux (direction known, not ruled out by
    a second vessel)."""
    return analysis.direction_available and analysis.reflux is not None


def longest_retrograde_s(analysis):
    """The longest retrograde flow of an analysis, s: reflux events and shorter
    episodes alike, 0 when there was none."""
    return max((e.duration_s for e in list(analysis.reflux_events) + list(analysis.episodes)),
               default=0.0)


def _where(rec):
    return f"{rec.vessel.upper()}{' ' + rec.side if rec.side else ''}, {rec.posture}"


def _reflux_criterion(number, items, veins):
    """Criteria 1 and 2: retrograde flow longer than the veins' threshold (Zamboni 2009)."""
    limit = VESSELS[veins[0]][0]
    chosen = [it for it in items if it.recording.vessel in veins]
    counted = [it for it in chosen if it.recording.manoeuvre in COUNTED_MANOEUVRES]
    evidence, readable, met, partial = [], 0, 0, 0
    for it in chosen:
        rec, a = it.recording, it.analysis
        if rec.manoeuvre not in COUNTED_MANOEUVRES:
            value, decides = f"{rec.manoeuvre}: not counted", False
        elif not reflux_readable(a):
            value, decides = "reflux not assessable", False
        else:
            longest = longest_retrograde_s(a)
            decides = longest > limit
            value = (f"longest retrograde flow {longest:.2f} s" if a.flow_detected
                     else "no flow detected (no reflux)")
            hole = None if decides else verdict.unseen_phrase(a, limit)
            if a.cut is not None and not decides:  # the rest of the recording is unread
                value += f" {verdict.cut_phrase(a)}: not counted"
                partial += 1
            elif hole:  # a reflux could lie wholly in a stretch not read
                value += f", {hole}: not counted"
                partial += 1
            else:
                readable += 1
                met += decides
        evidence.append({"recording": rec.index, "what": _where(rec), "value": value,
                         "decides": decides})
    names = "/".join(v.upper() for v in veins)
    skipped = len(chosen) - len(counted)
    note = f" ({skipped} recording(s) under other manoeuvres not counted)" if skipped else ""
    if partial:  # (their no reflux holds for part of the recording only)
        note += (f" ({partial} recording(s) cut short, or with a stretch as long as "
                 f"{limit:g} s not read, not counted)")
    if met:
        return Criterion(number, MET, f"{met} {names} recording(s) with retrograde flow "
                                      f"longer than {limit:g} s{note}.", evidence)
    if readable:
        return Criterion(number, NOT_MET, f"no retrograde flow longer than {limit:g} s in "
                                          f"{readable} {names} recording(s){note}"
                                          f"{_missing(counted, veins)}.", evidence)
    why = "no recording at rest or with deep inspiration" if not counted else \
        "no recording where reflux could be assessed"
    return Criterion(number, NOT_ASSESSED, f"{why} of the {names}{note}.", evidence)


def _missing(items, veins):
    """``"; not recorded: VV left upright, ..."`` for the vein-side-postures missing."""
    if veins == ("dcv",):
        return ""
    have = {(it.recording.vessel, it.recording.side, it.recording.upright) for it in items}
    gaps = [f"{v.upper()} {s} {'upright' if up else 'supine'}" for v in veins for s in SIDES
            for up in (False, True) if (v, s, up) not in have]
    return f"; not recorded: {', '.join(gaps)}" if gaps else ""


def _no_flow_criterion(items):
    """Criterion 4: flow not Doppler-detectable in an IJV or VV, in both postures."""
    groups = {}
    for it in items:
        rec = it.recording
        if rec.vessel in ("ijv", "vv") and rec.manoeuvre in COUNTED_MANOEUVRES:
            groups.setdefault((rec.vessel, rec.side), {}).setdefault(rec.upright, []).append(it)
    evidence, met, open_, seen = [], [], [], 0
    for (vessel, side), by_posture in sorted(groups.items()):
        flows = {up: any(it.analysis.flow_detected for it in its)
                 for up, its in by_posture.items()
                 if not all(_no_flow_unread(it.analysis) for it in its)}
        name = f"{vessel.upper()} {side}"
        both = len(flows) == 2
        decides = both and not any(flows.values())
        for its in by_posture.values():
            for it in its:
                a = it.analysis
                if a.flow_detected is None:
                    value = f"flow not assessable ({verdict.flow_unassessed(a)}): not counted"
                else:
                    value = "flow detected" if a.flow_detected else "no flow detected"
                    if _no_flow_unread(a):
                        value += f" {verdict.cut_phrase(a)}: not counted"
                evidence.append({"recording": it.recording.index, "what": _where(it.recording),
                                 "value": value, "decides": decides})
        if decides:
            met.append(name)
        elif not any(flows.values()):
            posture = {False: "supine", True: "upright"}
            said = [f"no flow {posture[up]}" for up in flows]
            said += [f"{p} cut short" if any(it.analysis.cut is not None for it in its)
                     else f"{p} not assessable"
                     for p, its in ((posture[up], its) for up, its in by_posture.items()
                                    if up not in flows)]
            said += [f"{posture[up]} not recorded" for up in posture if up not in by_posture]
            open_.append(f"{name}: {', '.join(said)}")
        else:
            seen += 1
    if met:
        return Criterion(4, MET, f"no flow detected, supine and upright, in the "
                                 f"{', '.join(met)}.", evidence)
    if open_:
        return Criterion(4, NOT_ASSESSED, "; ".join(open_) + ".", evidence)
    if seen:
        return Criterion(4, NOT_MET, f"flow detected, in at least one posture, in each of "
                                     f"the {seen} IJV/VV vein(s) recorded.", evidence)
    return Criterion(4, NOT_ASSESSED, "no IJV or VV recording at rest or with deep "
                                      "inspiration.", evidence)


def _no_flow_unread(analysis):
    """Whether an analysis found no flow in a file cut short, or could not tell (nothing
    analysed, a recording near digital silence): that says nothing of the vein, and does
    not count towards criterion 4."""
    return analysis.flow_detected is None or (analysis.cut is not None
                                              and not analysis.flow_detected)


def _stenosis_criterion(csa, defects):
    """Criterion 3: supine IJV CSA <= 0.3 cm2 or an intraluminal defect (entered)."""
    evidence, met, read = [], [], []
    for side in SIDES:
        supine = csa.get(side, {}).get("supine")
        if supine is not None:
            hit = supine <= CSA_STENOSIS_CM2
            evidence.append({"recording": None, "what": f"IJV {side}, supine CSA",
                             "value": f"{supine:g} cm2", "decides": hit})
            read.append(side)
            met += [f"IJV {side} (CSA {supine:g} cm2)"] if hit else []
        if side in defects:
            evidence.append({"recording": None, "what": f"IJV {side}, intraluminal defect",
                             "value": "yes" if defects[side] else "no",
                             "decides": defects[side]})
            read.append(side)
            met += [f"IJV {side} (intraluminal defect)"] if defects[side] else []
    if met:
        return Criterion(3, MET, f"stenosis on B-mode: {', '.join(met)}.", evidence)
    if read:
        gaps = [s for s in SIDES if s not in read]
        note = f"; nothing entered for the {gaps[0]} IJV" if gaps else ""
        return Criterion(3, NOT_MET, f"no supine CSA at or under {CSA_STENOSIS_CM2:g} cm2 "
                                     f"and no intraluminal defect{note}.", evidence)
    return Criterion(3, NOT_ASSESSED, "no B-mode values entered (b_mode.ijv_csa_cm2 "
                                      "supine, b_mode.ijv_intraluminal_defect).", evidence)


def _posture_criterion(csa):
    """Criterion 5: the IJV's CSA larger upright than supine (entered)."""
    evidence, met, read = [], [], []
    for side in SIDES:
        values = csa.get(side, {})
        if "supine" in values and "upright" in values:
            s, u = values["supine"], values["upright"]
            hit = u > s
            evidence.append({"recording": None, "what": f"IJV {side}, CSA supine -> upright",
                             "value": f"{s:g} -> {u:g} cm2 (change {u - s:+.2f})",
                             "decides": hit})
            read.append(side)
            met += [f"IJV {side}"] if hit else []
    if met:
        return Criterion(5, MET, f"CSA larger upright than supine: {', '.join(met)}.",
                         evidence)
    if read:
        return Criterion(5, NOT_MET, f"the IJV CSA shrinks or stays when upright "
                                     f"({', '.join(read)}).", evidence)
    return Criterion(5, NOT_ASSESSED, "no IJV with both a supine and an upright CSA "
                                      "entered (b_mode.ijv_csa_cm2).", evidence)


def assess(items, ijv_csa_cm2=None, ijv_intraluminal_defect=None):
    """Read the five criteria.

    Parameters
    ----------
    items : iterable
        Objects with ``recording`` (:class:`~dopplerflow.study.manifest.ExamRecording`)
        and ``analysis`` (:class:`~dopplerflow.core.Analysis`).
    ijv_csa_cm2 : dict, optional
        side -> {"supine": cm2, "upright": cm2}, either or both.
    ijv_intraluminal_defect : dict, optional
        side -> bool.

    Returns
    -------
    CcsviResult
    """
    items = list(items)
    csa, defects = ijv_csa_cm2 or {}, ijv_intraluminal_defect or {}
    return CcsviResult([
        _reflux_criterion(1, items, ("ijv", "vv")),
        _reflux_criterion(2, items, ("dcv",)),
        _stenosis_criterion(csa, defects),
        _no_flow_criterion(items),
        _posture_criterion(csa),
    ])
