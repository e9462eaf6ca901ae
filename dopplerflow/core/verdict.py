"""How the verdict of an analysis is worded, in one place.

Pure functions of an :class:`~dopplerflow.core.result.Analysis` (or of its
:class:`~dopplerflow.core.settings.Settings`) that return text.  The command
line's summary, the HTML report and the figures all word the reflux rule and the
verdict through them, so the three say the same thing.
"""

from .vessels import VESSELS

__all__ = ["threshold_phrase", "longest_reflux", "vessel_phrase", "reflux_phrase", "headline",
           "flow_phrase", "flow_unassessed", "not_assessable_reason", "verdict_sentence",
           "layout_phrase", "cut_phrase", "unseen_spans", "unseen_phrase", "length_phrase",
           "no_rate_reason", "no_pulse_reason", "beat_count", "default_mark", "sidecar_phrase",
           "PROBE_WORDS"]

#: A probe direction (``"toward"``, ``"away"``) as the outputs word it.
PROBE_WORDS = {"toward": "toward the probe", "away": "away from the probe"}


def sidecar_phrase(analysis):
    """``"from the sidecar rec.dopplerflow.toml: layout mono, vessel artery"``: the settings
    the recording's sidecar set (the JSON's ``sidecar``, which the command line sets), else
    ``""`` (none read, or every one it sets given as a flag)."""
    sidecar = analysis.extra.get("sidecar") or {}
    fields = sidecar.get("fields") or ()
    if not fields:
        return ""
    s = analysis.settings
    shown = ", ".join(_setting_words(f, getattr(s, f)) for f in fields)
    return f"from the sidecar {sidecar['file']}: {shown}"


#: The settings with a unit, as a person writes them: (name, scale, unit).
_UNITS = {"carrier_hz": ("carrier", 1e-6, "MHz"), "angle_deg": ("angle", 1.0, "deg"),
          "sound_speed_m_s": ("c", 1.0, "m/s"), "window_s": ("window", 1e3, "ms"),
          "hop_s": ("hop", 1e3, "ms"), "wall_hz": ("wall filter", 1.0, "Hz"),
          "reflux_threshold_s": ("reflux threshold", 1.0, "s"), "hum_hz": ("hum", 1.0, "Hz"),
          "offset_hz": ("offset", 1.0, "Hz")}


def _setting_words(field, value):
    """``"vessel artery"``, ``"carrier 5 MHz"``, ``"channels 1,2"``: a setting and its value
    as the summary shows it."""
    if field in _UNITS and value is not None:
        name, scale, unit = _UNITS[field]
        return f"{name} {value * scale:g} {unit}"
    if field == "channels" and value is not None:
        return "channels " + ",".join(map(str, value))
    if field == "invert":
        return "inverted" if value else "not inverted"
    return f"{field.replace('_', ' ')} {value}"


def default_mark(analysis, field):
    """``" (default)"`` where the geometry setting ``field`` (``"carrier_hz"``,
    ``"angle_deg"``) was not given but left at its default (the JSON's
    ``geometry_assumed``, which the command line sets), else ``""``: every velocity scales
    with the carrier and the angle's cosine, so a reader must know they were assumed."""
    return " (default)" if field in (analysis.extra.get("geometry_assumed") or ()) else ""


def no_rate_reason(beats):
    """Why the beats found give no heart rate, as a clause; None where they give one (or
    none were found).

    ``"fewer than 3 clean beats"``, or ``"the clean beats come at 263/min, outside a
    heart's 30-240/min"``: no heart beats so fast or so slow.
    """
    import statistics

    from .beats.constants import MAX_PERIOD_S, MIN_CLEAN, MIN_PERIOD_S

    if beats is None or not len(beats) or beats.summary.get("heart_rate_bpm") is not None:
        return None
    if beats.summary["n_clean"] < MIN_CLEAN:
        return f"fewer than {MIN_CLEAN} clean beats"
    rate = statistics.median(beats.heart_rate_bpm[beats.clean].tolist())
    return (f"the clean beats come at {rate:.0f}/min, outside a heart's "
            f"{60 / MAX_PERIOD_S:g}-{60 / MIN_PERIOD_S:g}/min")


def no_pulse_reason(analysis):
    """Why the analysis found no beat, as a clause; None where it found beats.

    ``"too short to read a pulse (the search needs 2.5 s of signal)"`` where the pulse
    was never searched for (its periodicity null), ``"no regular pulse in the flow
    (periodicity 0.25; a pulse needs 0.35)"``, ``"no beat found in the flow"``; without
    flow ``"no flow detected"``, or why flow is not assessable (:func:`flow_unassessed`).
    """
    from .beats.constants import MIN_PERIODICITY, WARMUP_S

    b = analysis.beats
    if b is not None and len(b):
        return None
    if analysis.flow_detected is None:
        return flow_unassessed(analysis)
    if not analysis.flow_detected:
        return "no flow detected"
    q = b.summary["periodicity"]
    if q is None:
        return f"too short to read a pulse (the search needs {WARMUP_S:g} s of signal)"
    if q < MIN_PERIODICITY:
        return (f"no regular pulse in the flow (periodicity {q:.2f}; a pulse needs "
                f"{MIN_PERIODICITY})")
    return "no beat found in the flow"


def beat_count(beats):
    """The beats found, e.g. ``"10 beats (8 clean, 1 rejected, 1 cut by the end)"``: a beat
    without a next onset (the last, cut by the end) is neither clean nor rejected."""
    s = beats.summary
    cut = s["n_beats"] - s["n_clean"] - s["n_rejected"]
    cut = f", {cut} cut by the end" if cut else ""
    return f"{s['n_beats']} beats ({s['n_clean']} clean, {s['n_rejected']} rejected{cut})"


def threshold_phrase(analysis):
    """The reflux rule as figure titles and legends show it.

    Returns
    -------
    str
        e.g. ``"reflux threshold 0.88 s (internal jugular vein ...)"``,
        ``"reflux threshold 1 s (set by the user)"``, ``"artery: no reflux rule"`` or
        ``"reflux not assessable (mono: no flow direction)"``.
    """
    s = analysis.settings
    if not analysis.direction_available:
        return "reflux not assessable (mono: no flow direction)"
    thr = s.threshold_s
    if thr is None:
        return f"{s.vessel}: no reflux rule"
    if s.reflux_threshold_s is not None:
        return f"reflux threshold {thr:g} s (set by the user)"
    if s.vessel is None:
        return f"reflux threshold {thr:g} s (default; no vessel given)"
    return f"reflux threshold {thr:g} s ({VESSELS[s.vessel][1]})"


def vessel_phrase(settings, direction=True):
    """The vessel and its rule, e.g. ``"ijv, reflux threshold 0.88 s"`` or ``"no reflux rule"``;
    without a flow direction (``direction`` False: mono) a vessel's rule cannot be applied,
    e.g. ``"gsv; reflux not assessable (mono: no flow direction)"``."""
    thr = settings.threshold_s
    if not direction and thr:
        return (f"{settings.vessel or 'no vessel given'}; reflux not assessable (mono: no "
                f"flow direction)")
    vessel = f"{settings.vessel}, " if settings.vessel else ""
    return vessel + (f"reflux threshold {thr:g} s" if thr else "no reflux rule")


def reflux_phrase(analysis):
    """The reflux verdict of a summary line.

    Returns
    -------
    str
        ``"YES: 2 event(s) longer than 0.88 s"``, ``"no: 0 event(s) longer than 0.5 s"``,
        ``"not assessable (<reason>)"`` or ``"no rule for this vessel"``.
    """
    thr = analysis.settings.threshold_s
    if analysis.reflux is None:
        return f"not assessable ({analysis.reflux_not_assessable})"
    if not thr:
        return "no rule for this vessel"
    cut = cut_phrase(analysis)
    hole = None if analysis.reflux else unseen_phrase(analysis)
    return (f"{'YES' if analysis.reflux else 'no'}: {len(analysis.reflux_events)} event(s) "
            f"longer than {thr:g} s" + (f", {cut}" if cut else "")
            + (f", {hole}" if hole else ""))


def length_phrase(analysis):
    """The audio analysed, e.g. ``"12.00 s"``; of a file damaged or cut short ``"4.10 s
    of 12.00 s (cut short)"`` or ``"4.10 s (damaged there)"``."""
    length = f"{analysis.duration_s:.2f} s"
    cut = analysis.cut
    if cut is None:
        return length
    if cut["stated_s"] is not None:
        return f"{length} of {cut['stated_s']:.2f} s (cut short)"
    return f"{length} (damaged there)"


def cut_phrase(analysis):
    """What a verdict covers when the file was damaged or cut short, e.g. ``"in the
    first 4.10 s of 12.00 s (the file is cut short)"``; None for a file read whole."""
    cut = analysis.cut
    if cut is None:
        return None
    if cut["stated_s"] is not None:
        return (f"in the first {cut['at_s']:.2f} s of {cut['stated_s']:.2f} s "
                f"(the file is cut short)")
    return f"in the first {cut['at_s']:.2f} s (the file is damaged there)"


#: What each kind of stretch :func:`unseen_phrase` names is.
_UNSEEN = {"lost": "samples lost", "quiet": "a quiet stretch", "broadband": "broadband noise",
           "burst": "a glitch", "damaged": "damaged samples", "non-finite": "non-finite samples",
           "dropout": "a dropout", "saturated": "a saturated stretch"}


def unseen_spans(analysis, threshold_s=None):
    """The stretches where a reflux could lie unseen: those at least as long as the
    reflux threshold whose samples were lost (``gaps``) or left out, whose broadband
    noise was not read, whose signal fell under the recording's noise (a quiet
    stretch: the probe's contact lost?), or whose samples hold no signal (a dropout, a
    saturated stretch) (``artefacts``).  A reflux wholly inside one
    leaves no trace in the audio: a verdict of no reflux holds only outside them.

    Parameters
    ----------
    analysis : Analysis
    threshold_s : float, optional
        The threshold; by default the one the recording was analysed with (an
        examination's criteria apply their own).

    Returns
    -------
    list of (float, float, str)
        ``(start_s, end_s, kind)`` in time order, ``kind`` ``"lost"`` or the artefact's;
        empty where there is none or no rule (``artery``).
    """
    thr = analysis.settings.threshold_s if threshold_s is None else threshold_s
    if not thr:
        return []
    spans = [(g["start_s"], g["end_s"], "lost") for g in analysis.gaps or ()]
    spans += [(a["start_s"], a["end_s"], a["kind"]) for a in analysis.artefacts or ()]
    return sorted(x for x in spans if x[1] - x[0] >= thr)


def unseen_phrase(analysis, threshold_s=None):
    """Where a reflux could lie unseen (:func:`unseen_spans`, of ``threshold_s``), to
    qualify a verdict of no reflux, e.g. ``"except 3.85 s unseen (a quiet stretch at
    3.60-7.45 s)"``; None where there is none (or no rule)."""
    long = unseen_spans(analysis, threshold_s)
    if not long:
        return None
    total = sum(b - a for a, b, _ in long)
    a, b, kind = long[0]
    more = f" and {len(long) - 1} more" if len(long) > 1 else ""
    return f"except {total:.2f} s unseen ({_UNSEEN[kind]} at {a:.2f}-{b:.2f} s{more})"


def headline(analysis):
    """The verdict of a figure's title, e.g. ``"REFLUX: 1 event(s) > 0.5 s"``."""
    s = analysis.settings
    if analysis.flow_detected is None:
        return flow_unassessed(analysis)
    if not analysis.flow_detected:
        return "no flow detected"
    if analysis.reflux is None:
        return "reflux not assessable"
    if s.threshold_s is None:
        return "no reflux rule"
    if analysis.reflux:
        return f"REFLUX: {len(analysis.reflux_events)} event(s) > {s.threshold_s:g} s"
    cut = analysis.cut
    where = f" in the first {cut['at_s']:.1f} s (file cut)" if cut else ""
    hole = unseen_phrase(analysis)
    return (f"no reflux (no retrograde flow > {s.threshold_s:g} s){where}"
            + (f", {hole}" if hole else ""))


def longest_reflux(analysis):
    """The longest reflux event's duration as text, ``"2.01 s"``, or ``"at least 1.14 s
    (cut by the end)"`` where the recording ended in it (None without events)."""
    if not analysis.reflux_events:
        return None
    ev = max(analysis.reflux_events, key=lambda e: e.duration_s)
    if ev.cut_by_end:
        return f"at least {ev.duration_s:.2f} s (cut by the end)"
    return f"{ev.duration_s:.2f} s"


def flow_phrase(analysis):
    """The flow line of a summary when no flow was measured (None when flow was seen)."""
    if analysis.flow_detected is None:
        return f"not assessable: {flow_unassessed(analysis)}"
    if not analysis.flow_detected:
        return "NOT detected (flow not Doppler-detectable)"
    return None


def flow_unassessed(analysis):
    """Why flow is not assessable (``flow_detected`` None), as a clause: ``"nothing was
    analysed"`` or ``"the recording is near digital silence"``."""
    return analysis.reflux_not_assessable or "nothing was analysed"


def not_assessable_reason(analysis):
    """Why reflux is not assessable, as a clause (the warnings say more)."""
    if not analysis.direction_available:
        return "a mono recording has no flow direction"
    return analysis.reflux_not_assessable or "see the warnings"


def verdict_sentence(analysis):
    """The verdict as a sentence, with its kind.

    Returns
    -------
    kind : str
        ``"reflux"``, ``"none"`` (no reflux) or ``"na"`` (no flow, not assessable,
        no rule).
    sentence : str
        e.g. ``"Reflux: 2 events of retrograde flow longer than 0.5 s (longest 1.20 s)."``
    """
    s = analysis.settings
    if analysis.flow_detected is None:
        why = flow_unassessed(analysis)
        return "na", f"{why[0].upper()}{why[1:]}: flow and reflux are not assessable."
    if not analysis.flow_detected:
        return "na", "No flow detected: only noise and wall clutter."
    if analysis.reflux is None:
        return "na", f"Reflux not assessable: {not_assessable_reason(analysis)}."
    if s.threshold_s is None:
        return "na", f"No reflux rule for this vessel ({s.vessel})."
    n = len(analysis.reflux_events)
    if analysis.reflux:
        return "reflux", (f"Reflux: {n} event{'s' if n > 1 else ''} of retrograde flow longer "
                          f"than {s.threshold_s:g} s (longest {longest_reflux(analysis)}).")
    cut = cut_phrase(analysis)
    hole = unseen_phrase(analysis)
    return "none", (f"No reflux: no retrograde flow longer than {s.threshold_s:g} s"
                    + (f" {cut}" if cut else "") + (f", {hole}." if hole else "."))


def layout_phrase(analysis):
    """How ``layout='auto'`` chose the layout, for a summary line (None: it was given).

    Returns
    -------
    str or None
        e.g. ``"auto chose mono, channel 1: the right channel is a filtered copy of
        the left, ..."`` or ``"auto chose iq, the default: too little flow in the first
        10 s to tell the layout by (flow in 0.2 s of it)"``.
    """
    check = analysis.layout_check
    if not check or not check.get("chosen_by"):
        return None
    s = analysis.settings
    layout = s.layout + (f", channel {s.channels[0]}" if s.layout == "mono" and s.channels
                         else "")
    how = check["chosen_by"]
    if how == "one channel":
        return (f"auto chose {layout}: one channel (a heterodyne recording needs --layout "
                f"offset --offset-hz HZ)")
    if how == "default":
        flow = check["flow_s"]
        seen = f" (flow in {flow:.2g} s of it)" if flow else ""  # 0.032 s: not "0.0 s"
        return (f"auto chose {layout}, the default: too little flow in the first "
                f"{check['span_s']:g} s to tell the layout by{seen}")
    return f"auto chose {layout}: {check['finding']}"
