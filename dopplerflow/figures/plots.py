"""Figures of an analysis: the sonogram and the velocity trace.

Every function draws on a :class:`matplotlib.figure.Figure` of its own (or on
an axes it is given) and returns the figure.  No pyplot state is touched, so
the figures work headless (scripts, servers, the ``--plot`` option) and show
inline in Jupyter without changing the user's backend.  matplotlib is imported
only when a figure is drawn.  The marks over the plots (events, a second vessel)
and the colours are in :mod:`.marks`.

Conventions of every figure: antegrade flow is drawn **up** (positive
velocity), retrograde **down**; reflux events (retrograde flow longer than the
vessel's threshold) are shaded in vermilion and labelled with their duration,
shorter retrograde episodes (normal valve closure, arterial reversal) in
blue (a dashed outline over the sonogram, hatched on the trace).  Durations
are written on the spans where the labels do not overlap.  Shaded spans carry
a ``gid`` (``"reflux-event"``, ``"retrograde-episode"``) so that tools and
tests can find them.  Where the trace runs beyond its axis, small triangles at
the edge mark it.  Legends stand above their axes, as many entries a row as fit
the axes' width (:func:`fit_legends`).
"""

import os
import textwrap
import weakref

import numpy as np

from ..core import verdict
from ..core.envelopes import DYNAMIC_RANGE_DB as _ENVELOPE_RANGE_DB
from ..core.io import display_name
from ..errors import SettingsError
from .image import (
    MAX_COLUMNS,
    RANGE_MARGIN,
    column_starts,
    flow_only,
    pool_extreme,
    pool_mean,
    pooled_time,
    require_spectrogram,
    sonogram_image,
    trace_left_out,
    trace_range,
)
from .marks import (  # the colours are also known by their names here
    ENVELOPE_COLOR,
    EPISODE_COLOR,  # noqa: F401
    MEAN_COLOR,
    MEAN_ON_IMAGE_COLOR,
    NO_FLOW_COLOR,
    RATE_COLOR,
    REFLUX_COLOR,  # noqa: F401
    SECOND_VESSEL_COLOR,  # noqa: F401
    TRACE_COLOR,
    WALL_BAND_COLOR,
    beat_marks_range,
    mark_beats,
    mark_beyond_axis,
    mark_second_vessel,
    rejected_beat_marks,
    shade_events,
    shade_quiet,
)
from .span import span_view
from .units import tidy

__all__ = ["sonogram", "velocity_trace", "heart_rate_panel", "analysis_figure",
           "save_analysis_figure", "sonogram_image", "fit_legends", "FORMATS", "MAX_COLUMNS",
           "RANGE_MARGIN", "RATE_PANEL_FROM_S", "rate_panel_wanted"]

#: File extensions :func:`save_analysis_figure` writes.
FORMATS = (".png", ".svg", ".pdf")
#: Colour scale span of the sonogram, dB: the maximum envelope's dynamic range, so that the
#: envelope stands where the sonogram shows something.
DYNAMIC_RANGE_DB = _ENVELOPE_RANGE_DB
#: Resolution of raster output, dots per inch.
DPI = 150

#: Most legend entries a row; fewer where the row would be wider than its axes.
LEGEND_COLUMNS = 5
#: The legends drawn above axes by :func:`_legend_above`, to fit to the axes' width once
#: the figure is laid out: axes -> (handles, dark, title).
_LEGENDS = weakref.WeakKeyDictionary()

#: Font sizes for a figure shown on a slide (points at the default figure size).
_RC = {"font.size": 13, "axes.titlesize": 14, "axes.labelsize": 13, "legend.fontsize": 11,
       "xtick.labelsize": 12, "ytick.labelsize": 12, "figure.titlesize": 15}


# ------------------------------------------------------------------------------ helpers
def _mpl():
    """Import matplotlib lazily; return the module."""
    import matplotlib

    return matplotlib


def style():
    """A context manager with the slide-size font settings of dopplerflow's figures."""
    return _mpl().rc_context(_RC)


def _new_figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _velocity_label(analysis, two_lines=False, compact=False):
    """Label of a velocity axis; the arrows (rotated with the text) point up and down.

    ``compact``: for a short axes (a thumbnail), the second line names the direction
    drawn up alone.
    """
    if not analysis.direction_available:
        return "speed (cm/s)"
    if compact:
        return "velocity (cm/s)\nantegrade \u2192"
    sep = "\n" if two_lines else "   "
    return f"velocity (cm/s){sep}\u2190 retrograde   antegrade \u2192"


def _probe_note(analysis):
    """Which probe direction is drawn up (antegrade)."""
    if not analysis.direction_available:
        return ""
    return "\nup = away from probe" if analysis.antegrade == "away" else "\nup = toward probe"


# ------------------------------------------------------------------------------ figures
def sonogram(analysis, ax=None, *, cax=None, colorbar=True, legend=True, title=None,
             cmap="magma", dynamic_range_db=DYNAMIC_RANGE_DB, max_columns=MAX_COLUMNS,
             velocity_range_cm_s=None, color_limits_db=None, envelopes=True,
             doppler_axis=True, span=None):
    """Draw the sonogram: the Doppler spectrogram on a velocity axis.

    Antegrade flow is up, retrograde down (mono: speed, from 0 up).  The left
    axis is velocity in cm/s, the right axis the Doppler shift in kHz (same
    sign as the velocity).  The maximum-velocity envelopes and the mean
    velocity are drawn over the image, reflux events shaded with their
    durations and shorter retrograde episodes hatched.

    Parameters
    ----------
    analysis : Analysis
        From ``analyze(..., keep_spectrogram=True)``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure (12 x 5.5 in) if None.
    cax : matplotlib.axes.Axes, optional
        Axes for the colour bar (by default it takes room from ``ax``).
    colorbar, legend, envelopes, doppler_axis : bool
        Draw the colour bar, the legend, the envelope lines, the right-hand
        Doppler-shift axis.
    title : str, optional
        Axes title; by default the vessel and its reflux threshold; ``""``
        for none.
    cmap : str
        A perceptually uniform colour map (magma, viridis, cividis, ...).
    dynamic_range_db : float
        Span of the colour scale, dB (positive).
    max_columns : int
        Most image columns (long recordings average groups of hops).
    velocity_range_cm_s : (float, float), optional
        Bottom and top of the velocity axis, cm/s.
    color_limits_db : (float, float), optional
        Fixed colour scale, dB (to compare several sonograms); by default
        from the noise floor up to the brightest 0.1 %.
    span : (float, float), optional
        Draw ``start_s`` to ``end_s`` of the recording alone (:mod:`.span`); by default
        all of it (or the span its spectra were kept for).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    SettingsError
        The analysis kept no spectrogram, or a bad option value (a span the spectra
        kept do not cover among them).
    """
    if not dynamic_range_db > 0:
        raise SettingsError(f"dynamic range {dynamic_range_db!r} dB must be positive (e.g. 45)")
    analysis, limits = span_view(analysis, span)
    img = sonogram_image(analysis, max_columns=max_columns,
                         velocity_range_cm_s=velocity_range_cm_s)
    from matplotlib.patches import Patch

    with style():
        own = ax is None
        if own:
            fig = _new_figure((12, 5.5))
            ax = fig.add_subplot()
        fig = ax.get_figure()
        vmin, vmax = _color_limits(img, dynamic_range_db, color_limits_db)
        cm = _mpl().colormaps[cmap].with_extremes(bad=WALL_BAND_COLOR)
        im = ax.imshow(img["db"], origin="lower", aspect="auto", extent=img["extent"], cmap=cm,
                       vmin=vmin, vmax=vmax, interpolation="nearest", zorder=0)
        ax.set_ylim(*img["ylim"])
        ax.set_xlim(*(limits or img["extent"][:2]))
        handles = _overlay_envelopes(ax, analysis, img["starts"]) if envelopes else []
        ax.axhline(0.0, color="white", linewidth=0.9, alpha=0.8, zorder=2)
        handles += shade_events(ax, analysis, on_image=True)
        mark_second_vessel(ax, analysis)
        handles.append(Patch(facecolor=WALL_BAND_COLOR,
                             label=f"wall-filter band (< {analysis.settings.wall_hz:g} Hz)"))
        ax.set_ylabel(_velocity_label(analysis, two_lines=True))
        ax.set_xlabel("time (s)")
        if doppler_axis:
            _doppler_axis(ax, analysis)
        ax.tick_params(labelsize=_RC["xtick.labelsize"])
        title = f"Sonogram: {verdict.threshold_phrase(analysis)}" if title is None else title
        if legend and handles:
            _legend_above(ax, handles, dark=True, title=title)
        else:
            _set_title(ax, title)
        if colorbar:
            cb = fig.colorbar(im, cax=cax, ax=None if cax is not None else ax, pad=0.02,
                              aspect=25, extend="both")
            cb.set_label(img["label"])
            cb.ax.yaxis.set_major_locator(_mpl().ticker.MaxNLocator(6, integer=True))
            cb.ax.tick_params(labelsize=_RC["ytick.labelsize"] - 1)
        if own:
            fit_legends(fig)
    return fig


def _color_limits(img, dynamic_range_db, color_limits_db):
    """``(vmin, vmax)`` of the colour scale, dB.

    From the noise floor (or ``dynamic_range_db`` below the top) up to the brightest
    0.1 %, unless ``color_limits_db`` fixes them.
    """
    db = img["db"]
    finite = db[np.isfinite(db)]
    vmax = float(np.percentile(finite, 99.9)) if finite.size else 1.0
    noise_ref = "noise" in img["label"]
    vmax = max(vmax, 10.0) if noise_ref else vmax
    vmin = 0.0 if noise_ref and vmax <= dynamic_range_db else vmax - dynamic_range_db
    if color_limits_db is not None:
        vmin, vmax = (float(v) for v in color_limits_db)
    return vmin, vmax


def _doppler_axis(ax, analysis):
    """The right-hand axis: the Doppler shift in kHz, signed as the velocity."""
    scale = analysis.velocity_per_hz_cm_s
    sec = ax.secondary_yaxis("right", functions=(lambda v: v / scale / 1e3,
                                                 lambda k: k * 1e3 * scale))
    sec.set_ylabel("Doppler shift (kHz)" + _probe_note(analysis))
    sec.tick_params(labelsize=_RC["ytick.labelsize"])


def _overlay_envelopes(ax, analysis, starts):
    """Maximum envelopes (up and down) and the mean velocity, pooled into the columns that
    start at frames ``starts``; return legend handles.  The rows the peak speed and the
    PSV leave out (:func:`~.image.trace_left_out`) are drawn faint."""
    tr = analysis.trace
    starts = starts[starts < len(tr)]  # none without the trace (keep_trace=False)
    flow = np.asarray(tr.flow, bool)
    t = pooled_time(tr.time_s, starts)
    a_out, r_out, _ = trace_left_out(analysis)
    sides = [(np.where(tr.antegrade_max_cm_s > 0, tr.antegrade_max_cm_s, np.nan), a_out)]
    if analysis.direction_available:
        sides.append((np.where(tr.retrograde_max_cm_s > 0, -tr.retrograde_max_cm_s, np.nan),
                      r_out))
    lines = [ax.plot(t, pool_extreme(flow_only(env, flow & ~out), starts),
                     color=ENVELOPE_COLOR, linewidth=1.3, zorder=3)[0] for env, out in sides]
    lines[0].set_label("max velocity envelope")  # one entry for both directions
    h = lines[:1] + _left_out_lines(ax, t, starts, flow, sides, ENVELOPE_COLOR)
    mean = pool_mean(flow_only(tr.mean_velocity_cm_s, flow), starts)
    h += ax.plot(t, mean, color=MEAN_ON_IMAGE_COLOR, linewidth=1.1, linestyle=(0, (4, 2)),
                 label="mean velocity" if analysis.direction_available else "mean speed",
                 zorder=3)
    return h


#: Legend of the faint line drawn over the rows the peak speed and the PSV leave out.
LEFT_OUT_LABEL = "left out of PSV (clicks, bursts, tonal lines)"


def _left_out_lines(ax, t, starts, flow, sides, color):
    """Draw each side's envelope ``(values, left out)`` over all its rows with flow, faint,
    under the line of the rows kept, where some row with flow is left out; return the
    legend handle (one) or none."""
    drawn = []
    for env, out in sides:
        if (out & flow).any():
            drawn += ax.plot(t, pool_extreme(flow_only(env, flow), starts), color=color,
                             linewidth=0.7, alpha=0.45, zorder=2.5, gid="left-out",
                             label=LEFT_OUT_LABEL if not drawn else None)
    return drawn[:1]


def velocity_trace(analysis, ax=None, *, legend=True, title=None, max_points=4 * MAX_COLUMNS,
                   beats=True, span=None):
    """Draw the signed velocity over time, with flow/no-flow regions, the events and the
    beats.

    The axis holds :func:`~.image.trace_range` (a signed axis around 0 without flow)
    and the beats' marks; where the trace runs beyond it (a click's frames), a small
    triangle at the edge marks each point (:func:`~.marks.mark_beyond_axis`).  The
    tick labels carry no offset (a "1e-17" over the axis): they read as the values.

    Parameters
    ----------
    analysis : Analysis
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure (12 x 4 in) if None.
    legend : bool
    title : str, optional
        Axes title; by default the reflux threshold; ``""`` for none.
    max_points : int
        Most points per line (long recordings keep each group's extreme).
    beats : bool
        Mark the beats found: their onsets (grey where not clean) and each beat's
        PSV and EDV (:func:`~.marks.mark_beats`), where the axis has room for them.
    span : (float, float), optional
        Draw ``start_s`` to ``end_s`` of the recording alone (:mod:`.span`).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    SettingsError
        The analysis kept no trace, or a bad span.
    """
    require_trace(analysis)
    analysis, limits = span_view(analysis, span, spectra=False)
    tr = analysis.trace
    with style():
        own = ax is None
        if own:
            fig = _new_figure((12, 4))
            ax = fig.add_subplot()
        fig = ax.get_figure()
        flow = np.asarray(tr.flow, bool)
        starts, _ = column_starts(len(tr), max(1, int(max_points)))
        t = pooled_time(tr.time_s, starts)
        mono = not analysis.direction_available
        out = trace_left_out(analysis)[2]
        peak = pool_extreme(flow_only(tr.velocity_cm_s, flow & ~out), starts)
        mean = pool_mean(flow_only(tr.mean_velocity_cm_s, flow), starts)
        handles = ax.plot(t, peak, color=TRACE_COLOR, linewidth=1.3,
                          label="peak speed" if mono else "max velocity (dominant direction)")
        faint = _left_out_lines(ax, t, starts, flow, [(tr.velocity_cm_s, out)], TRACE_COLOR)
        if faint:
            peak = faint[0].get_ydata()  # every row with flow, for the marks beyond the axis
        handles += faint
        handles += ax.plot(t, mean, color=MEAN_COLOR, linewidth=1.0, linestyle=(0, (4, 2)),
                           label="mean speed" if mono else "mean velocity")
        ax.axhline(0.0, color="black", linewidth=0.8, zorder=1)
        if len(tr):
            # one collection for every no-flow run, drawn behind the lines
            no_flow = ~flow
            coll = ax.fill_between(tr.time_s, 0, 1, where=no_flow, step="mid",
                                   transform=ax.get_xaxis_transform(), color=NO_FLOW_COLOR,
                                   alpha=0.3, linewidth=0, zorder=0, label="no flow detected",
                                   gid="no-flow")
            if no_flow.any():
                handles.append(coll)
        if limits:
            ax.set_xlim(*limits)
        elif len(tr):
            hop = tr.time_s[1] - tr.time_s[0] if len(tr) > 1 else 0.0
            ax.set_xlim(tr.time_s[0] - hop / 2, tr.time_s[-1] + hop / 2)
        handles += shade_events(ax, analysis, on_image=False)
        handles += shade_quiet(ax, analysis)
        if beats:
            marked = mark_beats(ax, analysis)
            beats = bool(marked)  # none found, or too close at this scale to mark
            handles += marked
        ax.set_xlabel("time (s)")
        ax.set_ylabel(_velocity_label(analysis, two_lines=True))
        ax.tick_params(labelsize=_RC["xtick.labelsize"])
        ax.set_ylim(*_trace_limits(analysis, beats))
        _no_offset(ax)
        beyond = mark_beyond_axis(ax, t, [peak, mean])
        if beats:
            t_rej, y_rej = rejected_beat_marks(analysis)
            beyond = mark_beyond_axis(ax, t_rej, [y_rej]) or beyond
        if beyond is not None:
            handles.append(beyond)
        ax.grid(True, alpha=0.25)
        title = f"Velocity trace: {verdict.threshold_phrase(analysis)}" if title is None \
            else title
        if legend and handles:
            _legend_above(ax, handles, title=title)
        else:
            _set_title(ax, title)
        if own:
            fit_legends(fig)
    return fig


#: A figure of a span this long or longer (s) draws the heart rate beat by beat in a panel
#: of its own, under the trace: at that scale the beats' marks crowd the trace (a long
#: recording's are not drawn at all) and the rate's changes are what can be read.
RATE_PANEL_FROM_S = 60.0


def rate_panel_wanted(analysis, limits=None):
    """Whether :func:`analysis_figure` draws the heart-rate panel: a span (``limits``, or
    the whole recording) of :data:`RATE_PANEL_FROM_S` or more, with a heart rate."""
    b = analysis.beats
    if b is None or not len(b) or b.summary.get("heart_rate_bpm") is None:
        return False
    start, end = limits if limits is not None else (0.0, analysis.duration_s)
    return end - start >= RATE_PANEL_FROM_S


#: Clean beats in the running median of the heart-rate panel.
RATE_MEDIAN_BEATS = 15


def heart_rate_panel(analysis, ax, *, span=None):
    """Draw the heart rate beat by beat: each clean beat's (60 s over its interval) as a
    faint dot at its onset, their running median over :data:`RATE_MEDIAN_BEATS` clean
    beats as a line (a rate's changes, through its beat-to-beat spread), and the
    recording's median dashed; return the figure.

    Parameters
    ----------
    analysis : Analysis
        With beats and a heart rate.
    ax : matplotlib.axes.Axes
    span : (float, float), optional
        Draw ``start_s`` to ``end_s`` alone (:mod:`.span`).
    """
    from scipy.ndimage import median_filter

    view, limits = span_view(analysis, span, spectra=False)
    b = view.beats
    clean = np.asarray(b.clean, bool) & np.isfinite(np.asarray(b.rr_s, float))
    t = np.asarray(b.onset_s, float)[clean]
    rate = np.asarray(b.heart_rate_bpm, float)[clean]
    median = analysis.beats.summary["heart_rate_bpm"]
    if rate.size:
        ax.plot(t, rate, linestyle="none", marker="o", markersize=2.0, color=RATE_COLOR,
                alpha=0.35, gid="heart-rate", label="each clean beat")
    else:  # a stretch without flow, or without a clear pulse
        ax.text(0.005, 0.5, "no clean beat in this span", transform=ax.transAxes, ha="left",
                va="center", fontsize=_RC["legend.fontsize"], gid="heart-rate-none")
    if rate.size >= RATE_MEDIAN_BEATS:
        ax.plot(t, median_filter(rate, size=RATE_MEDIAN_BEATS, mode="nearest"),
                color=RATE_COLOR, linewidth=1.3, gid="heart-rate-running",
                label=f"median of {RATE_MEDIAN_BEATS} beats")
    ax.axhline(median, color=MEAN_COLOR, linewidth=1.0, linestyle=(0, (4, 2)),
               gid="heart-rate-median", label=f"recording's median, {tidy(median, 1)}/min")
    lo, hi = np.percentile(rate, [1, 99]) if rate.size else (median, median)
    pad = max(0.15 * (hi - lo), 0.03 * median, 2.0)
    ax.set_ylim(min(lo, median) - pad, max(hi, median) + 2 * pad)  # room for the legend
    ax.set_ylabel("heart rate\n(/min)")
    if limits:
        ax.set_xlim(*limits)
    ax.grid(True, alpha=0.25)
    ax.legend(loc="upper right", ncols=3, fontsize=_RC["legend.fontsize"] - 1,
              framealpha=0.85, borderaxespad=0.3, handlelength=1.5)
    _no_offset(ax)
    return ax.get_figure()


def _trace_limits(analysis, beats):
    """(bottom, top) of the trace's axis, cm/s: :func:`~.image.trace_range`, widened to
    hold the clean beats' PSV and EDV marks (``beats``: they are drawn), with room above for
    the durations' labels where events are drawn."""
    lo, hi = trace_range(analysis)
    marks = beat_marks_range(analysis) if beats else None
    if marks is not None:
        pad = 0.05 * (hi - lo)  # a marker's half-height, about
        lo, hi = min(lo, marks[0] - pad), max(hi, marks[1] + pad)
    if analysis.reflux_events or analysis.episodes:
        hi += 0.15 * (hi - lo)  # room for the duration labels
    return lo, hi


def _no_offset(ax):
    """Tick labels without an offset or a multiplier: the numbers read as the values."""
    for axis in (ax.xaxis, ax.yaxis):
        fmt = axis.get_major_formatter()
        if hasattr(fmt, "set_useOffset"):
            fmt.set_useOffset(False)


def _legend_above(ax, handles, *, dark=False, title="", ncols=None):
    """Legend rows just above the axes, where they hide no data, and ``title`` above them;
    return the legend.

    ``ncols`` entries a row (default: all in one row, at most :data:`LEGEND_COLUMNS`);
    :func:`fit_legends` gives fewer where the row is wider than the axes.
    """
    ncols = ncols or min(len(handles), LEGEND_COLUMNS)
    kw = dict(facecolor="#1e1e1e", edgecolor="none", labelcolor="white", framealpha=1.0) \
        if dark else dict(frameon=False)
    leg = ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.005), ncols=ncols,
                    fontsize=_RC["legend.fontsize"], borderaxespad=0.0, handlelength=1.8,
                    columnspacing=1.4, **kw)
    _LEGENDS[ax] = (handles, dark, title)
    if title:  # above the legend: its height in points, and a little room
        height_pt = leg.get_window_extent().height * 72.0 / ax.get_figure().dpi
        ax.set_title(title, loc="left", pad=8 + height_pt)
    return leg


def fit_legends(fig):
    """Give each legend of :func:`_legend_above` in ``fig`` as many entries a row as fit
    the width of its axes.

    A legend is part of the constrained layout: a row wider than its axes would
    push the axes narrower (and stick out of the figure).  The figure is laid out
    once with the legends left out, which gives each axes its width; each legend
    then takes the most columns (up to :data:`LEGEND_COLUMNS`) under that width,
    in as many rows as it needs.
    """
    placed = [ax for ax in fig.axes if ax in _LEGENDS and ax.get_legend() is not None]
    engine = fig.get_layout_engine()
    if not placed or engine is None:
        return
    for ax in placed:
        ax.get_legend().set_in_layout(False)
    with style():
        engine.execute(fig)
        for ax in placed:
            handles, dark, title = _LEGENDS[ax]
            width = ax.bbox.width
            for ncols in range(min(len(handles), LEGEND_COLUMNS), 0, -1):
                leg = _legend_above(ax, handles, dark=dark, title=title, ncols=ncols)
                if leg.get_window_extent().width <= width:
                    break


def _set_title(ax, title):
    """Title of axes without a legend above them."""
    if title:
        ax.set_title(title, loc="left", pad=6)


#: Characters a line of :func:`warnings_note` holds, and its lines at most.
NOTE_WIDTH, NOTE_LINES = 130, 3
#: Characters a line of the analysis figure's title holds (its font is larger).
TITLE_WIDTH = 110


def warnings_note(analysis):
    """The analysis's warnings as a figure shows them under its time axis: each by its first
    clause (up to a colon, a semicolon or a parenthesis), on at most :data:`NOTE_LINES`
    lines; None without warnings.  A figure is often read alone: what the warnings say of
    the recording (clipping, a codec, a layout, assumed settings) must reach its reader,
    who finds them whole in the summary, the report and the JSON."""
    import re

    heads = []
    for w in analysis.warnings:
        head = re.split(r": | \(|; ", w, maxsplit=1)[0].strip()
        heads.append(textwrap.shorten(head, 70, placeholder=" ..."))
    if not heads:
        return None
    text = (f"{len(heads)} warning(s) (whole in the summary, the report and the JSON): "
            + " \u00b7 ".join(heads))
    lines = textwrap.wrap(text, NOTE_WIDTH)
    if len(lines) > NOTE_LINES:
        lines = textwrap.wrap(text, NOTE_WIDTH, max_lines=NOTE_LINES, placeholder=" ...")
    return "\n".join(lines)


def _figure_title(analysis, limits=None):
    s = analysis.settings
    name = display_name(os.path.basename(analysis.file)) if analysis.file else "audio"
    vessel = f"{s.vessel}, " if s.vessel else ""
    hr = analysis.heart_rate_bpm
    rate = "" if hr is None else f"; heart rate {hr:.0f}/min"
    return (f"{name}: {vessel}{s.carrier_hz / 1e6:g} MHz"
            f"{verdict.default_mark(analysis, 'carrier_hz')}, {s.angle_deg:g}\u00b0"
            f"{verdict.default_mark(analysis, 'angle_deg')}, "
            f"layout {s.layout} \u2014 {verdict.headline(analysis)}{rate}"
            + ("" if limits is None else f"; {_span_words(analysis, limits)}"))


def _span_words(analysis, limits):
    """What a figure of a span shows, for its title: "600-660 s of 7200 s shown" (its
    spaces no-break: the title's lines are not broken inside it)."""
    return (f"{tidy(limits[0], 2)}-{tidy(limits[1], 2)} s of "
            f"{tidy(analysis.duration_s, 2)} s shown").replace(" ", "\u00a0")


def require_trace(analysis):
    """Raise SettingsError unless ``analysis`` kept its per-frame trace."""
    if not getattr(analysis, "trace_kept", True):
        raise SettingsError("this analysis kept no trace; analyse with keep_trace=True (the "
                            "default) to draw the velocity trace")


def analysis_figure(analysis, *, span=None, **sonogram_kw):
    """Sonogram above the velocity trace, on a shared time axis.

    Parameters
    ----------
    analysis : Analysis
        From ``analyze(..., keep_spectrogram=True)``.
    span : (float, float), optional
        Draw ``start_s`` to ``end_s`` of the recording alone (:mod:`.span`): a long
        recording's beats, say.  Its spectra are those the analysis kept: for every
        frame of a span of a recording over 41 s, analyse with
        ``keep_spectrogram=(start_s, end_s)``.  The title's verdict stays the whole
        recording's.
    **sonogram_kw
        Passed to :func:`sonogram` (``cmap``, ``dynamic_range_db``, ...).

    Returns
    -------
    matplotlib.figure.Figure
        13 x 8.5 in; 13 x 11 in with the heart rate beat by beat in a panel of its own
        under the trace, for a span of :data:`RATE_PANEL_FROM_S` or more with a heart
        rate (:func:`heart_rate_panel`).

    Raises
    ------
    SettingsError
        The analysis kept no spectrogram, or no trace, or a bad span.
    """
    require_spectrogram(analysis)
    require_trace(analysis)
    limits = span_view(analysis, span)[1]  # checked once, before anything is drawn
    rate = rate_panel_wanted(analysis, limits)
    # the trace's two-line velocity label needs its panel's height: taller with the rate's
    heights = [2.2, 1.2, 0.6] if rate else [2.2, 1]
    with style():
        fig = _new_figure((13, 11 if rate else 8.5))
        gs = fig.add_gridspec(len(heights), 2, height_ratios=heights, width_ratios=[70, 1.4])
        ax_s = fig.add_subplot(gs[0, 0])
        ax_t = fig.add_subplot(gs[1, 0], sharex=ax_s)
        cax = fig.add_subplot(gs[0, 1])
        sonogram(analysis, ax=ax_s, cax=cax, span=limits, **sonogram_kw)
        velocity_trace(analysis, ax=ax_t, title="", span=limits)
        bottom = ax_t
        if rate:
            bottom = fig.add_subplot(gs[2, 0], sharex=ax_s)
            heart_rate_panel(analysis, bottom, span=limits)
        for ax in {ax_s, ax_t} - {bottom}:
            ax.set_xlabel("")
            ax.tick_params(labelbottom=False)
        bottom.set_xlabel("time (s)")
        note = warnings_note(analysis)
        if note:
            bottom.set_xlabel(f"time (s)\n{note}")
        # a long title (a long name, a reason why reflux is not assessable) is wrapped:
        # on one line it ran off both sides of the figure
        fig.suptitle(textwrap.fill(_figure_title(analysis, limits), TITLE_WIDTH,
                                   break_long_words=False))
        fit_legends(fig)
    return fig


def check_format(path):
    """Return the lower-case extension of ``path`` if it is a figure format we write.

    Raises
    ------
    SettingsError
        Any other extension; the message lists the allowed ones.
    """
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in FORMATS:
        raise SettingsError(f"cannot write a figure as '{ext or os.fspath(path)}'; give a file "
                            f"name ending in {', '.join(FORMATS)}")
    return ext


def save_figure(fig, path, *, dpi=DPI):
    """Write ``fig`` to ``path`` (.png, .svg or .pdf by extension).

    Raises
    ------
    SettingsError
        Unknown extension.
    """
    from ..core.io import atomic_output

    fmt = check_format(path)[1:]
    with atomic_output(path, "wb") as fh:
        fig.savefig(fh, dpi=dpi, format=fmt)


def save_analysis_figure(analysis, path, *, dpi=DPI, span=None, **sonogram_kw):
    """Write the sonogram + trace figure of :func:`analysis_figure` to a file.

    Parameters
    ----------
    analysis : Analysis
        From ``analyze(..., keep_spectrogram=True)``.
    path : str or os.PathLike
        Ending in .png, .svg or .pdf.
    dpi : float
        Resolution of raster output (the image inside SVG/PDF too).
    span : (float, float), optional
        Draw that span of the recording alone (:func:`analysis_figure`).

    Raises
    ------
    SettingsError
        Unknown extension (checked before anything is drawn), no spectrogram, or a bad
        span.
    """
    check_format(path)
    save_figure(analysis_figure(analysis, span=span, **sonogram_kw), path, dpi=dpi)
