"""The teaching figures of ``dopplerflow explain`` on reading a recording: reflux
against valve closure, and what noise does to the envelope.

Each builder returns ``(figure, caption)`` as those of :mod:`.teaching`; the
signals are simulated with :mod:`dopplerflow.sim.synth` and analysed with
:func:`dopplerflow.analyze`, the code that analyses recordings.
"""

import numpy as np

from ..core.vessels import VESSELS
from .teaching import SAMPLE_RATE_HZ, colors, figure_with_caption

__all__ = ["reflux_vs_closure", "snr_envelope", "SNRS_DB"]

#: In-band SNRs of the envelope figure, dB.
SNRS_DB = (20.0, 10.0, 3.0, -3.0)
#: Colours of valve closure and reflux (Okabe-Ito blue and vermilion).
CLOSURE_COLOR = "#0072B2"
REFLUX_COLOR = "#D55E00"
#: Thresholds closer than this on the time axis get their labels on two levels, s.
_LABEL_GAP_S = 0.25


# ---------------------------------------------------------------- reflux vs closure
def _threshold_groups():
    """Vessel presets grouped by (threshold, source): [(threshold_s, names, source)]."""
    groups = {}
    for name, (thr, desc) in VESSELS.items():
        if thr is None:
            continue
        source = desc.rsplit(", ", 1)[-1]
        groups.setdefault((thr, source), []).append(name)
    return sorted(((thr, names, src) for (thr, src), names in groups.items()),
                  key=lambda g: (g[0], g[2]))


def _reversal(name):
    """Truth centre-line velocity of a scenario and its first retrograde interval."""
    from ..sim.scenarios import get_scenario
    from ..sim.synth import truth_intervals

    sc = get_scenario(name)
    t = np.arange(0.0, sc.duration_s, 0.002)
    v = np.asarray(sc.velocity(t), float)
    events, episodes = truth_intervals(t, v, sc.reflux_threshold_s)
    first = min(events + episodes, key=lambda e: e["start_s"])
    return t, v, first


def _threshold_styles(groups):
    thresholds = sorted({g[0] for g in groups})
    return {thr: dict(color=c, ls="--", lw=1.4)
            for thr, c in zip(thresholds, colors(len(thresholds)), strict=True)}


def _label_levels(values, gap):
    """Level (0 or 1) of each of the ascending ``values``: a label goes one level up when
    the label before it on its level is closer than ``gap``."""
    levels, last = [], [-np.inf, -np.inf]
    for v in values:
        level = 0 if v - last[0] >= gap else 1
        levels.append(level)
        last[level] = v
    return levels


def reflux_vs_closure(with_caption=True):
    """Reflux and normal valve closure on the same axes, with the vessel thresholds."""
    t_c, v_c, closure = _reversal("jugular_valve_closure")
    t_r, v_r, reflux = _reversal("jugular_valsalva")
    groups = _threshold_groups()
    d_c, d_r = closure["duration_s"], reflux["duration_s"]
    exceeded = [(thr, names) for thr, names, _ in groups if d_c > thr]
    above = [f"{thr:g} s threshold for {', '.join(n)} veins" for thr, n in exceeded]
    caption = (
        "Reflux or normal valve closure? When a vein's flow reverses (here on a Valsalva "
        "manoeuvre, simulated internal jugular veins, time 0 = flow reversal) a competent "
        f"valve closes after a brief reversal (blue, {d_c:.2f} s) and flow stops; an "
        f"incompetent valve lets blood fall back for as long as the pressure lasts "
        f"(vermilion, {d_r:.2f} s). (a) Velocity of both on the same axes with the published "
        "thresholds. (b) Reflux is retrograde flow lasting longer than the vessel's threshold: "
        "Zamboni 2009 for the neck and brain (IJV and vertebral veins 0.88 s, deep cerebral "
        "veins 0.5 s) and Labropoulos 2003 for the leg (superficial and deep calf veins 0.5 s, "
        "femoral and popliteal veins 1.0 s, perforators 0.35 s). The same reversal can be "
        f"normal in one vessel and reflux in another: {d_c:.2f} s is already longer than the "
        f"{' and the '.join(above) or 'no threshold'}. Thresholds apply to the duration, "
        "not the speed, of the reversal. Zamboni's criteria (CCSVI) are contested.")
    fig, top = figure_with_caption(14.0, 7.6, caption, with_caption)
    ax1, ax2 = top.subplots(2, 1, height_ratios=[1.5, 1], sharex=True)
    styles = _threshold_styles(groups)
    _reversals_panel(ax1, ((t_c, v_c, closure, CLOSURE_COLOR, "competent valve: closure"),
                           (t_r, v_r, reflux, REFLUX_COLOR, "incompetent valve: reflux")),
                     styles)
    _thresholds_panel(ax2, groups, styles, d_c, d_r, exceeded)
    return fig, caption


def _reversals_panel(ax, curves, styles):
    """Panel (a): the two reversals from time 0, the thresholds dashed and labelled above
    the axes on two levels where they stand close, the legend in the empty lower right."""
    for t, v, ev, color, label in curves:
        x = t - ev["start_s"]
        keep = (x > -1.5) & (x < 3.2)
        ax.plot(x[keep], v[keep], color=color, lw=2.4, label=f"{label} ({ev['duration_s']:.2f} s)")
        ax.fill_between(x[keep], v[keep], 0, where=v[keep] < 0, color=color, alpha=0.2, lw=0)
    thresholds = sorted(styles)
    for thr, level in zip(thresholds, _label_levels(thresholds, _LABEL_GAP_S), strict=True):
        ax.axvline(thr, **styles[thr])
        ax.annotate(f"{thr:g} s", (thr, 1.0), xycoords=ax.get_xaxis_transform(),
                    xytext=(0, 2 + 15 * level), textcoords="offset points", ha="center",
                    va="bottom", fontsize=10.5, color=styles[thr]["color"], fontweight="bold",
                    gid="threshold-label")
    ax.axhline(0, color="black", lw=0.9)
    ax.axvline(0, color="0.3", lw=1.0)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo - 0.45 * (hi - lo), hi)  # room under the curves for the legend
    ax.set_ylabel("velocity (cm/s)\n\u2190 retrograde   antegrade \u2192")
    ax.legend(loc="lower right", framealpha=0.95)
    ax.grid(alpha=0.3)
    ax.set_title("(a) flow reversal on a Valsalva manoeuvre (internal jugular vein); "
                 "dashed: the thresholds of (b)", loc="left", pad=36)


def _thresholds_panel(ax, groups, styles, d_c, d_r, exceeded):
    """Panel (b): one bar per threshold, its value in the row's name; the closure and the
    reflux durations as lines, labelled in the empty time before 0 and after the reflux on
    the row of the shortest threshold, the one the closure already passes."""
    labels = []
    for i, (thr, names, source) in enumerate(groups):
        ax.barh(i, thr, height=0.6, color=styles[thr]["color"], alpha=0.35,
                edgecolor=styles[thr]["color"])
        labels.append(f"{', '.join(names)}: {thr:g} s ({source.split()[0]})")
    ax.set_yticks(range(len(groups)), labels)
    ax.invert_yaxis()
    ax.axvline(d_c, color=CLOSURE_COLOR, lw=2.4)
    ax.axvline(d_r, color=REFLUX_COLOR, lw=2.4)
    row = next((i for i, g in enumerate(groups) if exceeded and g[0] == exceeded[0][0]), 0)
    ax.annotate(f"valve closure {d_c:.2f} s", xy=(d_c, row), xytext=(-1.45, row),
                color=CLOSURE_COLOR, fontsize=12, fontweight="bold", va="center",
                arrowprops=dict(arrowstyle="->", color=CLOSURE_COLOR, lw=1.5),
                gid="closure-label")
    ax.text(d_r + 0.05, row, f"reflux {d_r:.2f} s", color=REFLUX_COLOR, fontsize=12,
            fontweight="bold", va="center", gid="reflux-label")
    ax.set_xlabel("time since flow reversed (s)")
    ax.set_xlim(-1.5, 3.2)
    ax.set_title("(b) reflux thresholds: retrograde flow longer than this is reflux",
                 loc="left")
    ax.grid(alpha=0.3, axis="x")


# ---------------------------------------------------------------- SNR and envelope
def _snr_run(snr, seed):
    """Analyse the simulated vein at one SNR; the analysis, the truth and the scores.

    Scored over the frames whose true flow is clear of the wall-filter band:
    ``found`` the share where flow was detected, ``kept_cm_s`` the mean error of
    those, ``all_cm_s`` the mean error of all of them with a missed frame
    counting as its true speed (the trace shows nothing there).
    """
    from ..core.driver import analyze
    from ..sim.synth import synthesize

    fs = SAMPLE_RATE_HZ
    syn = synthesize("gsv_squeeze_reflux", sample_rate_hz=fs, duration_s=5.0, snr_db=snr,
                     seed=seed)
    a = analyze(syn.baseband, sample_rate_hz=fs, vessel="gsv",
                antegrade=syn.truth["antegrade"], keep_spectrogram=True)
    tt = np.asarray(syn.truth["trace"]["time_s"])
    tv = np.asarray(syn.truth["trace"]["velocity_cm_s"])
    truth_v = np.interp(a.trace.time_s, tt, tv)
    fast = np.abs(truth_v) > 2 * a.settings.wall_hz * a.velocity_per_hz_cm_s
    flow = np.asarray(a.trace.flow, bool)[fast]
    err = np.abs(a.trace.velocity_cm_s[fast] - truth_v[fast])
    return {"snr": snr, "analysis": a, "truth": (tt, tv), "found": float(flow.mean()),
            "kept_cm_s": float(err[flow].mean()) if flow.any() else float("nan"),
            "all_cm_s": float(np.where(flow, err, np.abs(truth_v[fast])).mean()),
            "true_events": syn.truth["reflux_events"]}


def snr_envelope(seed=0, with_caption=True):
    """Sonograms of one simulated vein at four SNRs with the true velocity, and the scores
    that show why the error of the frames kept does not grow with the noise."""
    runs = [_snr_run(snr, seed) for snr in SNRS_DB]
    true_dur = runs[0]["true_events"][0]["duration_s"] if runs[0]["true_events"] else 0.0
    found = ", ".join(f"{_durations(r['analysis'])} at {r['snr']:g} dB" for r in runs)
    caption = (
        "How the signal-to-noise ratio shapes the envelope. (a-d) The same simulated great "
        "saphenous vein (calf squeeze, then reflux on release) at four in-band SNRs (blood "
        "power over the noise in the band the flow occupies), analysed by dopplerflow and "
        "drawn with one colour scale. As the noise rises, the faint high-velocity edge of the "
        "spectrum sinks into it: the maximum-velocity envelope turns ragged, and more and "
        "more frames hold too little power to be told from noise, slow flow first. "
        "dopplerflow then reports no flow rather than a made-up velocity. (e) So the error of "
        "the frames it keeps stays small while the share of frames found falls; counting a "
        "missed frame as an error of its whole speed (the trace shows nothing there), the "
        "error grows with the noise. The reflux is timed to a few hops while its flow stands "
        "clear of the noise; as the noise rises it is measured too short, then missed "
        f"({found}; true {true_dur:.2f} s): on a noisy recording raise the gain and improve "
        "the coupling before trusting a 'no reflux'. At high SNR the envelope of very slow "
        "flow reads high by about the window's frequency resolution "
        f"({runs[0]['analysis'].summary.velocity_resolution_cm_s:.1f} cm/s per bin here).")
    fig, top = figure_with_caption(16.0, 8.4, caption, with_caption)
    left, right = top.subfigures(1, 2, width_ratios=[3.2, 1])
    _snr_sonograms(left, runs)
    _snr_scores(right, runs)
    return fig, caption


def _snr_sonograms(sub, runs):
    """Panels (a)-(d): the sonograms on one colour scale, the true velocity dashed, one
    legend above them all and one colour bar."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from . import marks, plots

    axes = sub.subplots(2, 2, sharex=True, sharey=True)
    for i, (ax, r) in enumerate(zip(axes.ravel(), runs, strict=True)):
        a = r["analysis"]
        plots.sonogram(a, ax=ax, colorbar=False, legend=False, velocity_range_cm_s=(-28, 40),
                       color_limits_db=(0.0, 30.0), doppler_axis=i % 2 == 1,
                       title=f"({'abcd'[i]}) SNR {r['snr']:g} dB: flow found "
                             f"{100 * r['found']:.0f}%, error {r['all_cm_s']:.1f} cm/s")
        ax.plot(*r["truth"], color=marks.EPISODE_COLOR, lw=1.6, ls=(0, (3, 2)), zorder=4)
        ax.title.set_fontsize(12.5)
    for ax in axes[0]:
        ax.set_xlabel("")
        ax.tick_params(labelbottom=False)
    for ax in axes[:, 1]:
        ax.set_ylabel("")
    handles = [Line2D([], [], color=marks.ENVELOPE_COLOR, lw=1.6, label="max velocity envelope"),
               Line2D([], [], color=marks.MEAN_ON_IMAGE_COLOR, lw=1.3, ls=(0, (4, 2)),
                      label="mean velocity"),
               Line2D([], [], color=marks.EPISODE_COLOR, lw=1.6, ls=(0, (3, 2)),
                      label="true centre-line velocity"),
               Patch(facecolor=marks.REFLUX_COLOR, alpha=0.5, label="reflux found (> 0.5 s)"),
               Patch(facecolor=marks.WALL_BAND_COLOR, label="wall-filter band")]
    sub.legend(handles=handles, loc="outside upper left", ncols=5, facecolor="#1e1e1e",
               edgecolor="none", labelcolor="white", framealpha=1.0, fontsize=11)
    cb = sub.colorbar(axes[0, 0].images[0], ax=axes, pad=0.01, aspect=35, extend="both")
    cb.set_label("power (dB above the noise floor)")


def _snr_scores(sub, runs):
    """Panel (e): against the SNR, the share of frames found and the two errors."""
    ax_found, ax_err = sub.subplots(2, 1, sharex=True)
    snr = [r["snr"] for r in runs]
    ax_found.plot(snr, [100 * r["found"] for r in runs], "o-", color="black", lw=2)
    ax_found.set_ylabel("flow found (% of frames)")
    ax_found.set_ylim(-5, 105)
    ax_found.set_title("(e) as the noise rises", loc="left", fontsize=12.5)
    ax_err.plot(snr, [r["kept_cm_s"] for r in runs], "s--", color=CLOSURE_COLOR, lw=2,
                label="frames kept")
    ax_err.plot(snr, [r["all_cm_s"] for r in runs], "o-", color=REFLUX_COLOR, lw=2,
                label="all frames with flow\n(a missed one: its\nwhole speed)")
    ax_err.set_ylabel("mean error (cm/s)")
    ax_err.set_xlabel("in-band SNR (dB)")
    ax_err.set_ylim(bottom=0)
    ax_err.legend(loc="upper left", fontsize=10.5)
    for ax in (ax_found, ax_err):
        ax.set_xlim(max(snr) + 2, min(snr) - 2)  # noise rising to the right
        ax.set_xticks(snr)
        ax.grid(alpha=0.3)


def _durations(analysis):
    return ", ".join(f"{e.duration_s:.2f} s" for e in analysis.reflux_events) or "missed"
