"""Marks drawn over a sonogram or a trace: reflux events, shorter retrograde episodes,
a second vessel in the beam, the beats, a trace beyond its axis, and the colours every
figure gives them.

Shaded spans carry a ``gid`` (``"reflux-event"``, ``"retrograde-episode"``), the
second vessel's line ``"second-vessel"``, the beats' marks ``"beat-onsets"``,
``"beat-onsets-rejected"``, ``"beat-psv"`` and ``"beat-edv"``, and the marks of a
trace beyond its axis ``"beyond-axis"``, so that tools and tests can find them.
"""

from ..core import verdict
from .image import second_vessel_side

__all__ = ["shade_events", "mark_second_vessel", "mark_beats", "mark_beyond_axis",
           "beat_marks_range", "rejected_beat_marks", "REFLUX_COLOR", "EPISODE_COLOR",
           "TRACE_COLOR", "MEAN_COLOR", "NO_FLOW_COLOR", "WALL_BAND_COLOR",
           "SECOND_VESSEL_COLOR", "ENVELOPE_COLOR", "MEAN_ON_IMAGE_COLOR", "BEAT_COLOR",
           "REJECTED_BEAT_COLOR", "RATE_COLOR", "PSV_COLOR", "EDV_COLOR", "BEYOND_AXIS_COLOR",
           "LABEL_OFFSET_PT", "BEAT_ROOM_PT", "too_close_to_mark"]

#: Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
REFLUX_COLOR = "#D55E00"
EPISODE_COLOR = "#56B4E9"
TRACE_COLOR = "#0b3d91"
MEAN_COLOR = "#009E73"
NO_FLOW_COLOR = "#b0b0b0"
WALL_BAND_COLOR = "#4a4a4a"
#: Marker of a second vessel in the beam (Okabe-Ito yellow, on the dark image).
SECOND_VESSEL_COLOR = "#F0E442"
#: Envelope colours over the dark end of the colour map.
ENVELOPE_COLOR = "white"
MEAN_ON_IMAGE_COLOR = "#7FFFD4"
#: Beat onsets (clean, and not clean), and each beat's PSV and EDV (Okabe-Ito orange and
#: reddish purple).
BEAT_COLOR = "black"
#: The heart rate of each beat, in its panel under a long span's trace.
RATE_COLOR = "black"
REJECTED_BEAT_COLOR = "#9a9a9a"
PSV_COLOR = "#E69F00"
EDV_COLOR = "#CC79A7"
#: Marks at the edge of a trace's axis where the trace runs beyond it (Okabe-Ito vermilion
#: would read as reflux: black).
BEYOND_AXIS_COLOR = "black"
#: The durations' labels hang this far below the top of their axes, points: their box
#: (a pad of 0.2 em) stays inside however short the axes.
LABEL_OFFSET_PT = 5.0


def shade_events(ax, analysis, *, on_image):
    """Shade reflux events and shorter episodes; write durations; return legend handles.

    The reflux events' durations are placed first; an episode's is left out where it
    would overlap one of them or another episode's.  Each label hangs
    :data:`LABEL_OFFSET_PT` below the top of the axes.
    """
    from matplotlib.patches import Patch

    thr = analysis.settings.threshold_s
    handles = []
    box = dict(boxstyle="round,pad=0.2", fc=REFLUX_COLOR, ec="none", alpha=0.9)
    labels, taken = _fitting_labels(ax, analysis.reflux_events,
                                    [lambda e: f"reflux {e.duration_s:.2f} s"
                                     + (" (gap)" if e.affected_by_gap else ""),
                                     lambda e: f"{e.duration_s:.2f} s"], fontsize=11)
    for ev, label in zip(analysis.reflux_events, labels, strict=True):
        ax.axvspan(ev.start_s, ev.end_s, facecolor=REFLUX_COLOR, alpha=0.22 if on_image else 0.2,
                   edgecolor=REFLUX_COLOR, linewidth=1.5, gid="reflux-event", zorder=1.5)
        if label:
            _duration_label(ax, *label, fontsize=11, color="white", fontweight="bold",
                            bbox=box, gid="reflux-duration")
    if analysis.reflux_events:
        handles.append(Patch(facecolor=REFLUX_COLOR, alpha=0.5, edgecolor=REFLUX_COLOR,
                             label=f"reflux: retrograde > {thr:g} s"))
    ep_labels, _ = _fitting_labels(ax, analysis.episodes, [lambda e: f"{e.duration_s:.2f} s"],
                                   fontsize=10, taken=taken)
    if on_image:  # hatching would hide the spectrum: a dashed outline instead
        style_kw = dict(facecolor=(*_rgb(EPISODE_COLOR), 0.12), edgecolor=EPISODE_COLOR,
                        linestyle="--", linewidth=1.3)
    else:
        style_kw = dict(facecolor=(*_rgb(EPISODE_COLOR), 0.15), edgecolor=EPISODE_COLOR,
                        hatch="//", linewidth=0.8)
    for ev, label in zip(analysis.episodes, ep_labels, strict=True):
        ax.axvspan(ev.start_s, ev.end_s, gid="retrograde-episode", zorder=1.5, **style_kw)
        if label:
            _duration_label(ax, *label, fontsize=10, color="black", gid="episode-duration",
                            bbox=dict(boxstyle="round,pad=0.2", fc=EPISODE_COLOR, ec="none",
                                      alpha=0.9))
    if analysis.episodes:
        what = f"retrograde \u2264 {thr:g} s (not reflux)" if thr else "retrograde episode"
        handles.append(Patch(label=what, **style_kw))
    return handles


def shade_quiet(ax, analysis):
    """Mark the quiet stretches (``artefacts`` of kind ``"quiet"``: the probe's contact
    lost, the gain turned down), the dropouts (kind ``"dropout"``: digital zeros, samples
    lost) and the saturated stretches (kind ``"saturated"``) with a bar along the bottom of
    the axes; return the legend's handles (none: none drawn)."""
    from matplotlib.patches import Patch

    handles = []
    for kind, label, hatch in (("quiet", "quiet stretch (contact lost?)", "xx"),
                               ("dropout", "dropout (samples lost)", "//"),
                               ("saturated", "saturated (gain too high)", "..")):
        spans = [(a["start_s"], a["end_s"]) for a in analysis.artefacts or ()
                 if a["kind"] == kind]
        style = dict(facecolor="white", edgecolor="black", hatch=hatch, linewidth=0.6)
        for a, b in spans:
            ax.axvspan(a, b, ymin=0.0, ymax=0.04, zorder=4, gid=f"{kind}-stretch", **style)
        if spans:
            handles.append(Patch(label=label, **style))
    return handles


def _duration_label(ax, text, centre, **kw):
    """Write an event's duration centred at ``centre`` (s), :data:`LABEL_OFFSET_PT` below the
    top of the axes."""
    ax.annotate(text, (centre, 1.0), xycoords=ax.get_xaxis_transform(),
                xytext=(0.0, -LABEL_OFFSET_PT), textcoords="offset points", ha="center",
                va="top", zorder=5, clip_on=True, **kw)


def _fitting_labels(ax, events, formats, fontsize, taken=()):
    """Labels for ``events`` that do not overlap, or None where one would.

    The first format under which every label fits is used; if none fits for all,
    the last (shortest) format is placed greedily from the left.  Widths are
    estimated from the axes width (before layout) at 0.62 em per character.
    A label never overlaps a span of ``taken`` (``(left, right)`` in data units:
    labels already placed).

    A label stands over the middle of its event, moved inwards where it would stick out
    of the axes (an event at the edge of the recording, or of the span drawn).

    Returns
    -------
    labels : list of (str, float) or None
        Each label's text and the time of its centre, s.
    spans : list of (float, float)
        ``taken`` and the spans of the labels placed.
    """
    taken = list(taken)
    if not events:
        return [], taken
    width_in = ax.bbox.width / ax.get_figure().dpi  # works in sub-figures too
    x0, x1 = ax.get_xlim()
    s_per_pt = (x1 - x0) / max(width_in * 72.0, 1.0)

    def place(fmt):
        out, spans = [], list(taken)
        for ev in events:
            text = fmt(ev)
            half = 0.5 * (len(text) * 0.62 * fontsize + 8) * s_per_pt
            centre = 0.5 * (ev.start_s + ev.end_s)
            if x1 - x0 > 2 * half:  # inside the axes
                centre = min(max(centre, x0 + half), x1 - half)
            left, right = centre - half, centre + half
            if any(left < r and l < right for l, r in spans):
                out.append(None)
            else:
                out.append((text, centre))
                spans.append((left, right))
        return out, spans

    for fmt in formats:
        labels, spans = place(fmt)
        if all(labels):
            return labels, spans
    return labels, spans


def _rgb(color):
    from matplotlib.colors import to_rgb

    return to_rgb(color)


def mark_second_vessel(ax, analysis):
    """Mark where a second vessel's flow was found (``analysis.second_vessel``).

    A dotted line at ``from_s`` and a label that says what it is: over the half of
    the axis where the vessel's flow is drawn when its direction is known (the
    vein's was given), over the whole height when it is not (two vessels flow
    opposite ways, and which is the vein cannot be told).
    """
    sv = analysis.second_vessel
    if not sv or not analysis.direction_available:
        return
    side = second_vessel_side(analysis)
    t0 = float(sv.get("from_s") or 0.0)
    if t0 > ax.get_xlim()[1]:
        return  # after the span drawn
    lo, hi = ax.get_ylim()
    zero = min(max((0.0 - lo) / (hi - lo), 0.0), 1.0)
    ymin, ymax = {1: (zero, 1.0), -1: (0.0, zero), 0: (0.0, 1.0)}[side]
    ax.axvline(t0, ymin=ymin, ymax=ymax, color=SECOND_VESSEL_COLOR, linewidth=1.8,
               linestyle=(0, (2, 2)), zorder=4, gid="second-vessel")
    if side:
        where = verdict.PROBE_WORDS[sv["direction"]]
        text = f"second vessel, flowing {where}, from {t0:.2f} s (not the vessel analysed)"
    else:
        text = (f"two vessels flow opposite ways from {t0:.2f} s "
                f"(which one is the vein is not known)")
    x0, x1 = ax.get_xlim()
    at = max(t0, x0)  # a span drawn from after it: the label at its start
    right = at < 0.5 * (x0 + x1)  # the label reads into the recording from the line
    pad = 0.006 * (x1 - x0)
    ax.text(at + pad if right else at - pad, 0.86 if side > 0 else 0.03, text,
            transform=ax.get_xaxis_transform(), ha="left" if right else "right",
            va="bottom", fontsize=11, color=SECOND_VESSEL_COLOR, zorder=5, clip_on=True,
            gid="second-vessel-label",
            bbox=dict(boxstyle="round,pad=0.25", fc="#1e1e1e", ec="none", alpha=0.85))


def mark_beats(ax, analysis):
    """Mark the beats on a velocity trace; return legend handles (none without beats).

    Each beat's onset is a thin line across the axes, black for a clean beat and
    grey, dashed, for one that is not (an ectopic beat or the pause after it, a beat
    placed where no pulse was seen, a beat over lost samples); each complete
    beat's PSV is an upward triangle at its systolic peak and its EDV a downward
    triangle at its end (the next onset), filled for clean beats and hollow for the
    others.  The values are those of the trace's axis: signed, + antegrade (mono:
    speeds).  Where the beats give no heart rate
    (:func:`~dopplerflow.core.verdict.no_rate_reason`), the onsets' legend entry says so,
    so that the marks do not read as a measured rate.
    """
    import numpy as np
    from matplotlib.lines import Line2D

    b = analysis.beats
    if b is None or not len(b):
        return []
    if too_close_to_mark(ax, b):
        _say_unmarked(ax, len(b))
        return []
    clean = np.asarray(b.clean, bool)
    onset = np.asarray(b.onset_s, float)
    on_x = ax.get_xaxis_transform()
    for sel, color, style, gid in ((clean, BEAT_COLOR, "solid", "beat-onsets"),
                                   (~clean, REJECTED_BEAT_COLOR, (0, (3, 2)),
                                    "beat-onsets-rejected")):
        if sel.any():
            ax.vlines(onset[sel], 0.0, 1.0, transform=on_x, colors=color, alpha=0.6,
                      linewidth=0.9, linestyles=style, zorder=1.2, gid=gid)
    done = np.isfinite(b.rr_s)
    kw = dict(linestyle="none", markersize=7, markeredgewidth=1.0, zorder=4)
    for x, y, marker, color, gid in ((b.peak_s, b.psv_cm_s, "^", PSV_COLOR, "beat-psv"),
                                     (onset + b.rr_s, b.edv_cm_s, "v", EDV_COLOR, "beat-edv")):
        x, y = np.asarray(x, float), np.asarray(y, float)
        ax.plot(x[done & clean], y[done & clean], marker=marker, color=color, gid=gid, **kw)
        ax.plot(x[done & ~clean], y[done & ~clean], marker=marker, color=color,
                markerfacecolor="none", gid=f"{gid}-rejected", **kw)
    why = verdict.no_rate_reason(b)
    onsets = "beat onset (grey: not clean)" + (f"; no heart rate: {why}" if why else "")
    return [Line2D([], [], color=BEAT_COLOR, alpha=0.6, linewidth=0.9, label=onsets),
            Line2D([], [], color=PSV_COLOR, marker="^", label="PSV", **kw),
            Line2D([], [], color=EDV_COLOR, marker="v", label="EDV", **kw)]


#: Least room a beat's marks need on the time axis, points (a PSV or EDV triangle is 7).
BEAT_ROOM_PT = 6.0


def too_close_to_mark(ax, beats):
    """Whether ``beats`` come too close together on ``ax``'s time axis (its limits set) to
    be marked: fewer than :data:`BEAT_ROOM_PT` points a beat, at the median interval of
    the beats in view (a long recording drawn whole: thousands of beats, their triangles
    a solid band)."""
    import numpy as np

    x0, x1 = ax.get_xlim()
    onset = np.asarray(beats.onset_s, float)
    onset = onset[(onset >= x0) & (onset <= x1)]
    if onset.size < 2:
        return False
    width_pt = ax.bbox.width / ax.get_figure().dpi * 72.0
    return float(np.median(np.diff(onset))) / (x1 - x0) * width_pt < BEAT_ROOM_PT


def _say_unmarked(ax, n):
    """Say on the axes that its ``n`` beats are not marked, and how to see them (at the
    foot of the axes: the events' durations hang from its top)."""
    ax.text(0.005, 0.03, f"{n:,} beats, too close at this scale to mark: draw a shorter span "
            f"(--plot-span START,END)", transform=ax.transAxes, ha="left", va="bottom",
            fontsize=10, color=BEAT_COLOR, zorder=5, gid="beats-unmarked",
            bbox=dict(boxstyle="round,pad=0.25", fc="white", ec="none", alpha=0.8))


def beat_marks_range(analysis):
    """(lowest, highest) of the clean beats' PSV and EDV marks, cm/s; None without them.
    A beat not clean may be a click's or a line's (its PSV at the band's top): the axis
    is not widened for its marks, which :func:`rejected_beat_marks` gives to
    :func:`mark_beyond_axis`."""
    import numpy as np

    y = _beat_marks(analysis, clean=True)[1]
    y = y[np.isfinite(y)]
    return (float(y.min()), float(y.max())) if y.size else None


def rejected_beat_marks(analysis):
    """Times (s) and values (cm/s) of the PSV and EDV marks of the beats not clean (empty
    arrays without them)."""
    return _beat_marks(analysis, clean=False)


def _beat_marks(analysis, clean):
    """Times (s) and values (cm/s) of the PSV and EDV marks of the beats with a next onset
    that are ``clean`` (or not)."""
    import numpy as np

    b = analysis.beats
    if b is None or not len(b):
        return np.zeros(0), np.zeros(0)
    sel = np.isfinite(np.asarray(b.rr_s, float)) & (np.asarray(b.clean, bool) == clean)
    onset = np.asarray(b.onset_s, float)
    t = np.concatenate([np.asarray(b.peak_s, float)[sel], (onset + b.rr_s)[sel]])
    y = np.concatenate([np.asarray(b.psv_cm_s, float)[sel], np.asarray(b.edv_cm_s, float)[sel]])
    return t, y


def mark_beyond_axis(ax, t, ys):
    """Mark where lines run beyond the axis: a small triangle at the top (or bottom) edge
    over each point of ``ys`` above (or below) the axis' limits; return a legend handle
    (None when every point is inside).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        With its y limits set.
    t : ndarray, shape (n,)
        Time of each point, s.
    ys : list of ndarray, shape (n,)
        The lines' values, in the axis' units (NaN: no point).
    """
    import numpy as np
    from matplotlib.lines import Line2D

    lo, hi = ax.get_ylim()
    t = np.asarray(t, float)
    above = np.zeros(len(t), bool)
    below = np.zeros(len(t), bool)
    for y in ys:
        y = np.asarray(y, float)
        with np.errstate(invalid="ignore"):
            above |= y > hi
            below |= y < lo
    if not (above.any() or below.any()):
        return None
    kw = dict(linestyle="none", markersize=5, color=BEYOND_AXIS_COLOR, zorder=4.5,
              transform=ax.get_xaxis_transform(), gid="beyond-axis", clip_on=True)
    for sel, y, marker in ((above, 0.985, "^"), (below, 0.015, "v")):
        if sel.any():
            ax.plot(t[sel], np.full(int(sel.sum()), y), marker=marker, **kw)
    kw.pop("transform")
    return Line2D([], [], marker="^", label="trace beyond the axis", **kw)
