"""The leg reflux map: per vein and side, the longest retrograde flow against its threshold.

Labropoulos et al. (2003, J Vasc Surg 38:793-798) defined reflux in the leg veins as
retrograde flow lasting longer than 0.5 s in the superficial, deep femoral and calf
veins, 1.0 s in the femoral and popliteal veins and 0.35 s in the perforators (the
presets of :data:`dopplerflow.VESSELS`).  For each leg vein recorded, on each side, the
map takes the longest retrograde flow of all its recordings (any manoeuvre: release,
squeeze, Valsalva, cuff deflation) and sets it against that threshold.
"""

from dataclasses import dataclass, field

from ..core import verdict
from ..core.vessels import VESSELS
from .ccsvi import longest_retrograde_s, reflux_readable
from .manifest import LEG_VEINS, SIDES

__all__ = ["LegCell", "leg_map", "STATUSES"]

#: Statuses of a cell, worst first.
STATUSES = ("reflux", "competent", "no flow", "not assessable", "not recorded")


@dataclass
class LegCell:
    """One vein on one side.

    Attributes
    ----------
    vein, side : str
    status : str
        ``reflux`` (longest retrograde flow over the threshold), ``competent``
        (flow, no reflux), ``no flow`` (no recording found flow), ``not assessable``
        (no recording could tell the direction, or those without reflux were cut
        short or had a stretch as long as the threshold not read) or ``not recorded``.
    longest_retrograde_s : float or None
    threshold_s : float
    recordings : list of int
        1-based indices of its recordings.
    deciding : int or None
        The recording with the longest retrograde flow.
    """

    vein: str
    side: str
    status: str
    longest_retrograde_s: float | None
    threshold_s: float
    recordings: list = field(default_factory=list)
    deciding: int | None = None

    def to_dict(self):
        return {"vein": self.vein, "side": self.side, "status": self.status,
                "longest_retrograde_s": self.longest_retrograde_s,
                "threshold_s": self.threshold_s, "recordings": self.recordings,
                "deciding_recording": self.deciding}


def _cell(vein, side, items):
    threshold = VESSELS[vein][0]
    indices = [it.recording.index for it in items]
    readable = [it for it in items if reflux_readable(it.analysis)]
    if not items:
        return LegCell(vein, side, "not recorded", None, threshold)
    if not readable:
        return LegCell(vein, side, "not assessable", None, threshold, indices)
    best = max(readable, key=lambda it: longest_retrograde_s(it.analysis))
    longest = round(longest_retrograde_s(best.analysis), 4)
    # no reflux in the part of a file cut short says nothing of the rest, nor outside a
    # stretch not read (a quiet stretch, samples lost) as long as the threshold
    whole = [it for it in readable
             if it.analysis.cut is None and not verdict.unseen_spans(it.analysis, threshold)]
    if longest > threshold:
        status = "reflux"
    elif not whole:
        return LegCell(vein, side, "not assessable", longest, threshold, indices)
    elif any(it.analysis.flow_detected for it in whole):
        status = "competent"
    else:
        status = "no flow"
    return LegCell(vein, side, status, longest, threshold, indices, best.recording.index)


def leg_map(items):
    """The reflux map of the leg veins recorded.

    Parameters
    ----------
    items : iterable
        Objects with ``recording`` and ``analysis`` (as :func:`dopplerflow.study.ccsvi.assess`).

    Returns
    -------
    list of LegCell
        For each leg vein recorded on either side, in the order of
        :data:`~dopplerflow.study.manifest.LEG_VEINS`, the left then the right cell
        (``not recorded`` where that side has no recording); empty without leg veins.
    """
    by = {}
    for it in items:
        rec = it.recording
        if rec.vessel in LEG_VEINS:
            by.setdefault((rec.vessel, rec.side), []).append(it)
    veins = [v for v in LEG_VEINS if any((v, s) in by for s in SIDES)]
    return [_cell(v, s, by.get((v, s), [])) for v in veins for s in SIDES]
