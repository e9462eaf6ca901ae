"""The teaching figures of ``dopplerflow explain`` on the physics: the Doppler
equation, I/Q direction and the wall filter.

Each builder returns ``(figure, caption)``: a :class:`matplotlib.figure.Figure`
(no pyplot), with the caption written under the plots when ``with_caption`` is
true, and the caption as plain text.  :mod:`.teaching_reflux` holds the figures
on reading a recording; :mod:`dopplerflow.figures.explain` names them all,
styles them and writes them out (the list of figures is in its docstring).
"""

import re
import textwrap

import numpy as np

from ..core.velocity import ANGLE_WARN_DEG, cm_s_per_hz, doppler_shift_hz

__all__ = ["doppler_equation", "iq_direction", "wall_filter", "figure_with_caption", "colors",
           "CAPTION_PT"]

CARRIER_HZ = 8e6
ANGLE_DEG = 60.0
SOUND_SPEED_M_S = 1540.0
#: Sample rate of the simulated signals, Hz: every venous scenario peaks below 2.1 kHz.
SAMPLE_RATE_HZ = 8000
#: Angle error of the error panel, degrees.
ANGLE_ERROR_DEG = 5.0
#: Font size of a caption written in a figure, points.
CAPTION_PT = 12.5


# ----------------------------------------------------------------------------- helpers
def figure_with_caption(width_in, plot_height_in, caption, with_caption=True):
    """A figure of ``width_in`` with a plot area above a wrapped caption.

    Parameters
    ----------
    width_in, plot_height_in : float
        Width of the figure and height of its plot area, inches.
    caption : str
    with_caption : bool
        False: no caption in the figure (it is shown beside it, as in the
        ``index.html`` of ``dopplerflow explain``); the plot area is the figure.

    Returns
    -------
    fig : Figure
    top : Figure or SubFigure
        Where the plots go.
    """
    from matplotlib.figure import Figure

    if not with_caption:
        fig = Figure(figsize=(width_in, plot_height_in), layout="constrained")
        return fig, fig
    # about 11 characters per inch at 12.5 pt (average glyph ~0.5 em); a number keeps its
    # unit on its line (a no-break space, drawn as a space)
    kept = re.sub(r"(\d) (?=(?:Hz|kHz|MHz|dB|s|ms|cm/s|m/s)\b)", "\\1\u00a0", caption)
    lines = textwrap.wrap(kept, width=int(width_in * 11.0))
    cap_in = 0.3 + len(lines) * CAPTION_PT * 1.45 / 72
    fig = Figure(figsize=(width_in, plot_height_in + cap_in), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[plot_height_in, cap_in])
    bottom.text(0.012, 1.0 - 0.12 / cap_in, "\n".join(lines), ha="left", va="top",
                fontsize=CAPTION_PT, linespacing=1.35, color="#222222", gid="caption")
    return fig, top


def _letter(ax, letter):
    ax.text(-0.02, 1.02, letter, transform=ax.transAxes, fontsize=15, fontweight="bold",
            ha="right", va="bottom")


# ---------------------------------------------------------------- 1. Doppler equation
def doppler_equation(carrier_hz=CARRIER_HZ, sound_speed_m_s=SOUND_SPEED_M_S, with_caption=True):
    """Doppler shift against angle, and the velocity error of a 5 degree angle error."""
    angles = np.linspace(0.0, 89.0, 400)
    err_angles = np.linspace(0.0, 90.0 - ANGLE_ERROR_DEG - 1.0, 400)

    def error_pct(theta, delta):
        return 100.0 * (np.array([cm_s_per_hz(carrier_hz, a + delta, sound_speed_m_s)
                                  for a in np.atleast_1d(theta)])
                        / np.array([cm_s_per_hz(carrier_hz, a, sound_speed_m_s)
                                    for a in np.atleast_1d(theta)]) - 1.0)

    e = {a: float(error_pct(a, ANGLE_ERROR_DEG)[0]) for a in (45.0, 60.0, 70.0, 80.0)}
    per_khz = 1e3 * cm_s_per_hz(carrier_hz, ANGLE_DEG, sound_speed_m_s)
    f0 = carrier_hz / 1e6
    caption = (
        f"The Doppler equation f_d = 2 f0 v cos(\u03b8) / c ({f0:g} MHz carrier, c = "
        f"{sound_speed_m_s:g} m/s). (a) The shift a blood velocity v produces falls as the "
        f"beam-to-flow angle \u03b8 grows and vanishes at 90\u00b0; at {ANGLE_DEG:g}\u00b0 "
        f"1 kHz of shift means {per_khz:.1f} cm/s. (b) The velocity is computed with the "
        f"angle the operator sets. If that angle is {ANGLE_ERROR_DEG:g}\u00b0 too large the "
        f"velocity is overestimated by cos(\u03b8)/cos(\u03b8 + {ANGLE_ERROR_DEG:g}\u00b0) "
        f"\u2212 1: {e[45.0]:.0f}% at 45\u00b0, {e[60.0]:.0f}% at 60\u00b0, "
        f"{e[70.0]:.0f}% at 70\u00b0 and {e[80.0]:.0f}% at 80\u00b0. Insonate at "
        f"{ANGLE_DEG:g}\u00b0 or less; dopplerflow warns above {ANGLE_WARN_DEG:g}\u00b0. "
        f"Durations (the reflux criterion) do not depend on the angle.")
    fig, top = figure_with_caption(14.0, 5.6, caption, with_caption)
    ax1, ax2 = top.subplots(1, 2)
    for v, c in zip((10, 20, 40, 80), colors(4), strict=True):
        ax1.plot(angles, doppler_shift_hz(v, carrier_hz, 0.0, sound_speed_m_s)
                 * np.cos(np.radians(angles)) / 1e3, color=c, lw=2.2, label=f"{v} cm/s")
    for ax in (ax1, ax2):
        ax.axvspan(ANGLE_WARN_DEG, 90, color="#D55E00", alpha=0.12, lw=0)
        ax.axvline(ANGLE_DEG, color="0.3", ls=":", lw=1.5)
        ax.set_xlim(0, 90)
        ax.set_xticks(range(0, 91, 15))
        ax.set_xlabel("beam-to-flow angle \u03b8 (degrees)")
        ax.grid(alpha=0.3)
    ax1.text(ANGLE_WARN_DEG + 1, 0.55, f"> {ANGLE_WARN_DEG:g}\u00b0:\ntoo steep",
             transform=ax1.get_xaxis_transform(), va="top", fontsize=11.5, color="#a04000")
    ax1.set_ylabel("Doppler shift f_d (kHz)")
    ax1.set_title(r"(a) $f_d = 2\,f_0\,v\,\cos\theta\;/\;c$" + f"   ({f0:g} MHz)", loc="left")
    ax1.legend(title="blood velocity v", loc="upper right")
    ax1.set_ylim(bottom=0)
    ax2.plot(err_angles, error_pct(err_angles, ANGLE_ERROR_DEG), color="#D55E00", lw=2.2,
             label=f"angle set {ANGLE_ERROR_DEG:g}\u00b0 too large: overestimate")
    ax2.plot(err_angles, error_pct(err_angles, -ANGLE_ERROR_DEG), color="#0072B2", lw=2.2,
             label=f"angle set {ANGLE_ERROR_DEG:g}\u00b0 too small: underestimate")
    ax2.axhline(0, color="black", lw=0.8)
    # the 60 degree label to the upper left of its point, the 70 degree one to the lower
    # right: neither crosses the dotted line at 60 degrees
    for a, offset, ha in ((60.0, (-12, 10), "right"), (70.0, (10, -16), "left")):
        ax2.plot(a, e[a], "o", color="#D55E00", ms=7)
        ax2.annotate(f"{e[a]:+.0f}% at {a:g}\u00b0", (a, e[a]), xytext=offset,
                     textcoords="offset points", ha=ha, va="center", fontsize=12)
    ax2.set_ylim(-45, 100)
    ax2.set_ylabel("velocity error (%)")
    ax2.set_title(f"(b) error from a {ANGLE_ERROR_DEG:g}\u00b0 angle error", loc="left")
    ax2.legend(loc="upper left")
    return fig, caption


def colors(n):
    """``n`` viridis colours, dark to light green (not the palest yellow)."""
    from matplotlib import colormaps

    return [colormaps["viridis"](x) for x in np.linspace(0.0, 0.85, n)]


# ---------------------------------------------------------------- 2. I/Q and direction
def iq_direction(seed=0, with_caption=True):
    """I/Q signals, the rotating phasor and the two-sided spectrum (toward = +f)."""
    v_toward, v_away = 20.0, 10.0
    f_toward = doppler_shift_hz(v_toward, CARRIER_HZ, ANGLE_DEG)
    f_away = doppler_shift_hz(v_away, CARRIER_HZ, ANGLE_DEG)
    caption = (
        "Quadrature (I/Q) audio tells the direction of flow. The probe mixes the echo down "
        "with two copies of the carrier a quarter cycle apart, giving I (in-phase) and Q "
        "(quadrature); together they are one complex signal z = I + jQ. (a) For flow toward "
        "the probe Q lags I by 90\u00b0; away from the probe Q leads I. (b) z is a phasor that "
        "turns counter-clockwise (positive frequency) for flow toward the probe and clockwise "
        "(negative frequency) for flow away. (c) The two-sided spectrum of a simulated "
        f"recording of two vessels, centre-line velocity {v_toward:g} cm/s toward the probe "
        f"(shifts up to {f_toward:.0f} Hz) and {v_away:g} cm/s away (up to {f_away:.0f} Hz): "
        "each flow has its own side. One channel "
        "alone (grey, a 'mono' recording) has a mirror-symmetric spectrum: speed, but no "
        "direction. Swapping I and Q, or a device with the opposite convention, mirrors the "
        "spectrum (--layout qi, --invert).")
    fig, top = figure_with_caption(15.0, 6.0, caption, with_caption)
    gs = top.add_gridspec(2, 3, width_ratios=[1.15, 0.9, 1.5])
    ax_t = top.add_subplot(gs[0, 0])
    ax_a = top.add_subplot(gs[1, 0], sharex=ax_t)
    ax_p = top.add_subplot(gs[:, 1])
    ax_s = top.add_subplot(gs[:, 2])
    _iq_waves(ax_t, ax_a)
    _phasor(ax_p)
    _two_sided_spectrum(ax_s, f_toward, f_away, seed)
    return fig, caption


def _iq_waves(ax_t, ax_a):
    """Panel (a): I and Q of flow toward the probe (Q lags) and away (Q leads)."""
    cycles = np.linspace(0, 2, 400)
    for ax, sign, name in ((ax_t, 1, "toward the probe: Q lags I"),
                           (ax_a, -1, "away from the probe: Q leads I")):
        ax.plot(cycles, np.cos(2 * np.pi * cycles), color="#0072B2", lw=2, label="I")
        ax.plot(cycles, sign * np.sin(2 * np.pi * cycles), color="#D55E00", lw=2, ls="--",
                label="Q")
        ax.set_title(name, loc="left", fontsize=12.5)
        ax.set_yticks([-1, 0, 1])
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", ncols=2, fontsize=10, framealpha=0.9)
        ax.set_ylim(-1.25, 1.8)  # the legend above the waves
    ax_a.set_xlabel("time (Doppler cycles)")
    ax_t.tick_params(labelbottom=False)
    _letter(ax_t, "a")


def _phasor(ax_p):
    """Panel (b): z = I + jQ turning counter-clockwise (toward) or clockwise (away)."""
    from matplotlib.patches import Circle, FancyArrowPatch

    ax_p.add_patch(Circle((0, 0), 1, fill=False, color="0.55", lw=1.2))
    phi = np.radians(40)
    ax_p.annotate("", xy=(np.cos(phi), np.sin(phi)), xytext=(0, 0),
                  arrowprops=dict(arrowstyle="-|>", lw=2.2, color="black", mutation_scale=18))
    # label beside the arrow, offset perpendicular to it
    ax_p.text(0.62 * np.cos(phi) - 0.15 * np.sin(phi), 0.62 * np.sin(phi) + 0.15 * np.cos(phi),
              "z = I + jQ", fontsize=12, rotation=40, ha="center", va="center")
    for start, end, color, text, ypos in ((15, 75, "#009E73", "toward:\ncounter-clockwise\n+f",
                                           1.45),
                                          (-15, -75, "#CC79A7", "away:\nclockwise\n\u2212f",
                                           -1.45)):
        a0, a1 = np.radians(start), np.radians(end)
        ax_p.add_patch(FancyArrowPatch((1.2 * np.cos(a0), 1.2 * np.sin(a0)),
                                       (1.2 * np.cos(a1), 1.2 * np.sin(a1)),
                                       connectionstyle=f"arc3,rad={0.35 * np.sign(end)}",
                                       arrowstyle="-|>", mutation_scale=20, lw=2.2,
                                       color=color))
        ax_p.text(-0.95, ypos * 0.8, text, color=color, fontsize=12, ha="center",
                  va="center", fontweight="bold")
    ax_p.axhline(0, color="0.7", lw=0.8)
    ax_p.axvline(0, color="0.7", lw=0.8)
    ax_p.set_xlim(-1.6, 1.6)
    ax_p.set_ylim(-1.6, 1.6)
    ax_p.set_aspect("equal")
    ax_p.set_xlabel("I (in-phase)")
    ax_p.set_ylabel("Q (quadrature)")
    ax_p.set_xticks([-1, 0, 1])
    ax_p.set_yticks([-1, 0, 1])
    ax_p.set_title("rotating phasor", loc="left", fontsize=12.5)
    _letter(ax_p, "b")


def _two_sided_spectrum(ax_s, f_toward, f_away, seed):
    """Panel (c): simulated blood toward (+f) and away (-f), and one channel alone."""
    from scipy import signal

    from ..sim.synth import blood_signal

    fs = SAMPLE_RATE_HZ
    # two-sided spectrum of simulated blood: toward at +f, away at -f
    rng = np.random.default_rng(seed)
    n = 4 * fs
    z = (blood_signal(np.full(n, f_toward), fs, rng)
         + 0.7 * blood_signal(np.full(n, -f_away), fs, rng)
         + 0.02 * (rng.standard_normal(n) + 1j * rng.standard_normal(n)))
    f, p = signal.welch(z, fs, nperseg=256, return_onesided=False, scaling="density")
    order = np.argsort(f)
    f, p = f[order], p[order]
    fr, pr = signal.welch(z.real, fs, nperseg=256, return_onesided=False, scaling="density")
    pr = pr[np.argsort(fr)]
    ref = p.max()
    ax_s.plot(f / 1e3, 10 * np.log10(pr / ref), color="0.6", lw=1.5, label="I alone (mono)")
    ax_s.plot(f / 1e3, 10 * np.log10(p / ref), color="black", lw=2, label="z = I + jQ")
    ax_s.axvline(0, color="0.4", lw=0.8)
    ax_s.axvspan(0, fs / 2e3, color="#009E73", alpha=0.08, lw=0)
    ax_s.axvspan(-fs / 2e3, 0, color="#CC79A7", alpha=0.08, lw=0)
    ax_s.text(0.75, 0.95, "toward the probe\n(+f)", transform=ax_s.transAxes, ha="center",
              va="top", color="#006B4F", fontsize=12, fontweight="bold")
    ax_s.text(0.25, 0.95, "away from the probe\n(\u2212f)", transform=ax_s.transAxes,
              ha="center", va="top", color="#8E4A72", fontsize=12, fontweight="bold")
    ax_s.set_xlim(-2, 2)
    ax_s.set_ylim(-62, 12)  # room under the noise floor for the legend
    ax_s.set_xlabel("Doppler frequency (kHz)")
    ax_s.set_ylabel("power density (dB re peak)")
    ax_s.legend(loc="lower left", fontsize=10.5)
    ax_s.grid(alpha=0.3)
    ax_s.set_title("two-sided spectrum", loc="left", fontsize=12.5)
    _letter(ax_s, "c")


# ---------------------------------------------------------------- 3. wall filter
def wall_filter(wall_hz=80.0, seed=0, with_caption=True):
    """A simulated spectrum before and after the wall filter, and the filter's response."""
    from scipy import signal

    from ..core.wall import WALL_STOP_DB, WALL_STOP_RATIO, wall_filter_sos
    from ..sim.synth import WALL_VELOCITY_CM_S, synthesize

    fs = SAMPLE_RATE_HZ
    syn = synthesize("femoral_competent", sample_rate_hz=fs, duration_s=3.0, seed=seed)
    sos = wall_filter_sos(wall_hz, fs)
    before = syn.baseband
    after = signal.sosfilt(sos, before)
    nper = 800  # 10 Hz resolution: resolves the clutter peak from the blood
    skip = fs // 2  # the filter's start-up transient is not part of the picture
    kw = dict(fs=fs, nperseg=nper, return_onesided=False, scaling="density")
    f, p0 = signal.welch(before[skip:], **kw)
    _, p1 = signal.welch(after[skip:], **kw)
    _, pb = signal.welch(syn.parts["blood"][skip:], **kw)
    order = np.argsort(f)
    f, p0, p1, pb = f[order], p0[order], p1[order], pb[order]
    ref = pb.max()
    d0, d1, db_ = (10 * np.log10(x / ref) for x in (p0, p1, pb))
    clutter_drop = float(d0[np.argmin(np.abs(f))] - d1[np.argmin(np.abs(f))])
    fr = np.linspace(0.5, 400, 800)
    _, h = signal.freqz_sos(sos, worN=fr, fs=fs)
    h_db = 20 * np.log10(np.maximum(np.abs(h), 1e-12))
    scale = cm_s_per_hz(CARRIER_HZ, ANGLE_DEG)
    f_wall = doppler_shift_hz(WALL_VELOCITY_CM_S, CARRIER_HZ, ANGLE_DEG)
    caption = (
        "What the wall filter removes. Echoes of tissue and vessel walls are 40-60 dB "
        "stronger than blood but move slowly (here walls up to "
        f"{WALL_VELOCITY_CM_S:g} cm/s: below {f_wall:.0f} Hz). (a) Two-sided spectrum of 3 s of "
        "a simulated femoral-vein recording (8 MHz, 60\u00b0) before and after dopplerflow's "
        f"{wall_hz:g} Hz wall filter: the clutter peak at 0 Hz falls by {clutter_drop:.0f} dB, "
        "while above the cut-off the spectrum keeps the blood's shape (dashed: the blood "
        "alone). (b) The filter, a 4th-order inverse-Chebyshev high-pass: "
        f"{20 * np.log10(abs(_at(sos, wall_hz, fs))):.0f} dB at {wall_hz:g} Hz "
        f"({wall_hz * scale:.1f} cm/s), at least {WALL_STOP_DB:g} dB of attenuation below "
        f"{WALL_STOP_RATIO * wall_hz:.0f} Hz. The price: flow slower than the cut-off is "
        "removed with the clutter, so dopplerflow does not search the band below it "
        "(--wall-hz sets it; lower it for very slow veins, raise it for strong wall motion).")
    fig, top = figure_with_caption(14.0, 5.6, caption, with_caption)
    ax1, ax2 = top.subplots(1, 2, width_ratios=[1.5, 1])
    ax1.plot(f, d0, color="0.55", lw=1.6, label="before the wall filter")
    ax1.plot(f, d1, color="#0072B2", lw=1.8, label=f"after ({wall_hz:g} Hz)")
    ax1.plot(f, db_, color="#D55E00", lw=1.2, ls="--", label="blood alone")
    ax1.axvspan(-wall_hz, wall_hz, color="0.5", alpha=0.15, lw=0,
                label=f"not searched for flow (< {wall_hz:g} Hz)")
    ax1.set_xlim(-1200, 1200)
    ax1.set_ylim(-45, 75)
    ax1.set_xlabel("Doppler frequency (Hz)")
    ax1.set_ylabel("power density (dB re blood peak)")
    ax1.legend(loc="upper right")
    ax1.grid(alpha=0.3)
    ax1.set_title("(a) spectrum before and after", loc="left")
    top_ax = ax1.secondary_xaxis("top", functions=(lambda x: x * scale, lambda v: v / scale))
    top_ax.set_xlabel("velocity (cm/s, + toward the probe)")
    ax2.plot(fr, h_db, color="black", lw=2)
    ax2.axvline(wall_hz, color="#0072B2", ls=":", lw=1.5)
    ax2.text(wall_hz + 6, -8, f"cut-off\n{wall_hz:g} Hz", color="#0072B2", fontsize=11.5,
             va="top")
    # the labels of the narrow wall-motion band and of the stop-band floor in a legend, in
    # the empty lower right, where no label can spill out of what it names
    ax2.axvspan(0, f_wall, color="#D55E00", alpha=0.15, lw=0,
                label=f"wall motion (< {f_wall:.0f} Hz)")
    ax2.axhline(-WALL_STOP_DB, color="0.5", ls="--", lw=1,
                label=f"\u2212{WALL_STOP_DB:g} dB: least attenuation below "
                      f"{WALL_STOP_RATIO * wall_hz:.0f} Hz")
    ax2.legend(loc="lower right", fontsize=11)
    ax2.set_xlim(0, 400)
    ax2.set_ylim(-90, 5)
    ax2.set_xlabel("frequency (Hz)")
    ax2.set_ylabel("filter gain (dB)")
    ax2.grid(alpha=0.3)
    ax2.set_title("(b) wall filter response", loc="left")
    top2 = ax2.secondary_xaxis("top", functions=(lambda x: x * scale, lambda v: v / scale))
    top2.set_xlabel("velocity (cm/s)")
    return fig, caption


def _at(sos, f_hz, fs):
    from scipy import signal

    return signal.freqz_sos(sos, worN=[f_hz], fs=fs)[1][0]
