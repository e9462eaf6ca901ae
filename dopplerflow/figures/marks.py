"""Marks drawn over a sonogram or a trace: reflux events, shorter retrograde episodes,
a second vessel in the beam, the beats, and the colours every figure gives them.

Shaded spans carry a ``gid`` (``"reflux-event"``, ``"retrograde-episode"``), the
second vessel's line ``"second-vessel"`` and the beats' marks ``"beat-onsets"``,
``"beat-onsets-rejected"``, ``"beat-psv"`` and ``"beat-edv"``, so that tools and
tests can find them.
"""

import math

from .image import second_vessel_side

__all__ = ["shade_events", "mark_second_vessel", "mark_beats", "REFLUX_COLOR", "EPISODE_COLOR",
           "TRACE_COLOR", "MEAN_COLOR", "NO_FLOW_COLOR", "WALL_BAND_COLOR",
           "SECOND_VESSEL_COLOR", "ENVELOPE_COLOR", "MEAN_ON_IMAGE_COLOR", "BEAT_COLOR",
           "REJECTED_BEAT_COLOR", "PSV_COLOR", "EDV_COLOR"]

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
REJECTED_BEAT_COLOR = "#9a9a9a"
PSV_COLOR = "#E69F00"
EDV_COLOR = "#CC79A7"


def shade_events(ax, analysis, *, on_image):
    """Shade reflux events and shorter episodes; write durations; return legend handles."""
    from matplotlib.patches import Patch

    thr = analysis.settings.threshold_s
    handles = []
    box = dict(boxstyle="round,pad=0.2", fc=REFLUX_COLOR, ec="none", alpha=0.9)
    labels = _fitting_labels(ax, analysis.reflux_events,
                             [lambda e: f"reflux {e.duration_s:.2f} s"
                              + (" (gap)" if e.affected_by_gap else ""),
                              lambda e: f"{e.duration_s:.2f} s"], fontsize=11)
    for ev, label in zip(analysis.reflux_events, labels, strict=True):
        ax.axvspan(ev.start_s, ev.end_s, facecolor=REFLUX_COLOR, alpha=0.22 if on_image else 0.2,
                   edgecolor=REFLUX_COLOR, linewidth=1.5, gid="reflux-event", zorder=1.5)
        if label:
            ax.text(0.5 * (ev.start_s + ev.end_s), 0.97, label,
                    transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=11,
                    color="white", fontweight="bold", bbox=box, zorder=5,
                    gid="reflux-duration", clip_on=True)
    if analysis.reflux_events:
        handles.append(Patch(facecolor=REFLUX_COLOR, alpha=0.5, edgecolor=REFLUX_COLOR,
                             label=f"reflux: retrograde > {thr:g} s"))
    ep_labels = _fitting_labels(ax, analysis.episodes, [lambda e: f"{e.duration_s:.2f} s"],
                                fontsize=10)
    if on_image:  # hatching would hide the spectrum: a dashed outline instead
        style_kw = dict(facecolor=(*_rgb(EPISODE_COLOR), 0.12), edgecolor=EPISODE_COLOR,
                        linestyle="--", linewidth=1.3)
    else:
        style_kw = dict(facecolor=(*_rgb(EPISODE_COLOR), 0.15), edgecolor=EPISODE_COLOR,
                        hatch="//", linewidth=0.8)
    for ev, label in zip(analysis.episodes, ep_labels, strict=True):
        ax.axvspan(ev.start_s, ev.end_s, gid="retrograde-episode", zorder=1.5, **style_kw)
        if label:
            ax.text(0.5 * (ev.start_s + ev.end_s), 0.97, label,
                    transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=10,
                    color="black", zorder=5, gid="episode-duration", clip_on=True,
                    bbox=dict(boxstyle="round,pad=0.2", fc=EPISODE_COLOR, ec="none",
                              alpha=0.9))
    if analysis.episodes:
        what = f"retrograde \u2264 {thr:g} s (not reflux)" if thr else "retrograde episode"
        handles.append(Patch(label=what, **style_kw))
    return handles


def _fitting_labels(ax, events, formats, fontsize):
    """Labels for ``events`` that do not overlap, or None where one would.

    The first format under which every label fits is used; if none fits for all,
    the last (shortest) format is placed greedily from the left.  Widths are
    estimated from the axes width (before layout) at 0.62 em per character.
    """
    if not events:
        return []
    width_in = ax.bbox.width / ax.get_figure().dpi  # works in sub-figures too
    x0, x1 = ax.get_xlim()
    s_per_pt = (x1 - x0) / max(width_in * 72.0, 1.0)

    def place(fmt):
        out, right = [], -math.inf
        for ev in events:
            text = fmt(ev)
            half = 0.5 * (len(text) * 0.62 * fontsize + 8) * s_per_pt
            centre = 0.5 * (ev.start_s + ev.end_s)
            if centre - half > right:
                out.append(text)
                right = centre + half
            else:
                out.append(None)
        return out

    for fmt in formats:
        labels = place(fmt)
        if all(labels):
            return labels
    return labels


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
    lo, hi = ax.get_ylim()
    zero = min(max((0.0 - lo) / (hi - lo), 0.0), 1.0)
    ymin, ymax = {1: (zero, 1.0), -1: (0.0, zero), 0: (0.0, 1.0)}[side]
    ax.axvline(t0, ymin=ymin, ymax=ymax, color=SECOND_VESSEL_COLOR, linewidth=1.8,
               linestyle=(0, (2, 2)), zorder=4, gid="second-vessel")
    if side:
        where = "toward the probe" if sv["direction"] == "toward" else "away from the probe"
        text = f"second vessel, flowing {where}, from {t0:.2f} s (not the vessel analysed)"
    else:
        text = (f"two vessels flow opposite ways from {t0:.2f} s "
                f"(which one is the vein is not known)")
    x0, x1 = ax.get_xlim()
    right = t0 < 0.5 * (x0 + x1)  # the label reads into the recording from the line
    pad = 0.006 * (x1 - x0)
    ax.text(t0 + pad if right else t0 - pad, 0.86 if side > 0 else 0.03, text,
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
    speeds).
    """
    import numpy as np
    from matplotlib.lines import Line2D

    b = analysis.beats
    if b is None or not len(b):
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
    return [Line2D([], [], color=BEAT_COLOR, alpha=0.6, linewidth=0.9,
                   label="beat onset (grey: not clean)"),
            Line2D([], [], color=PSV_COLOR, marker="^", label="PSV", **kw),
            Line2D([], [], color=EDV_COLOR, marker="v", label="EDV", **kw)]
