"""The teaching figures of ``dopplerflow explain``, each built with its caption.

Each builder returns ``(figure, caption)``: a :class:`matplotlib.figure.Figure`
(no pyplot) with the caption written under the plots, and the caption as plain
text.  :mod:`dopplerflow.figures.explain` names them, styles them and writes them
out; the list of figures is in its docstring.
"""

import textwrap

import numpy as np

from ..core.velocity import ANGLE_WARN_DEG, cm_s_per_hz, doppler_shift_hz
from ..core.vessels import VESSELS

__all__ = ["doppler_equation", "iq_direction", "wall_filter", "reflux_vs_closure",
           "snr_envelope"]

CARRIER_HZ = 8e6
ANGLE_DEG = 60.0
SOUND_SPEED_M_S = 1540.0
#: Sample rate of the simulated signals, Hz: every venous scenario peaks below 2.1 kHz.
SAMPLE_RATE_HZ = 8000
#: Angle error of the error panel, degrees.
ANGLE_ERROR_DEG = 5.0
#: In-band SNRs of the envelope figure, dB.
SNRS_DB = (20.0, 10.0, 3.0, -3.0)
_CAPTION_PT = 12.5


# ----------------------------------------------------------------------------- helpers
def _with_caption(width_in, plot_height_in, caption):
    """A figure of ``width_in`` with a plot area above a wrapped caption.

    Returns
    -------
    fig : Figure
    top : SubFigure
        Where the plots go.
    """
    from matplotlib.figure import Figure

    # about 11 characters per inch at 12.5 pt (average glyph ~0.5 em)
    lines = textwrap.wrap(caption, width=int(width_in * 11.0))
    cap_in = 0.3 + len(lines) * _CAPTION_PT * 1.45 / 72
    fig = Figure(figsize=(width_in, plot_height_in + cap_in), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[plot_height_in, cap_in])
    bottom.text(0.012, 1.0 - 0.12 / cap_in, "\n".join(lines), ha="left", va="top",
                fontsize=_CAPTION_PT, linespacing=1.35, color="#222222", gid="caption")
    return fig, top


def _letter(ax, letter):
    ax.text(-0.02, 1.02, letter, transform=ax.transAxes, fontsize=15, fontweight="bold",
            ha="right", va="bottom")


# ---------------------------------------------------------------- 1. Doppler equation
def doppler_equation(carrier_hz=CARRIER_HZ, sound_speed_m_s=SOUND_SPEED_M_S):
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
    fig, top = _with_caption(14.0, 5.6, caption)
    ax1, ax2 = top.subplots(1, 2)
    colors = _colors(4)
    for v, c in zip((10, 20, 40, 80), colors, strict=True):
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
    for a in (60.0, 70.0):
        ax2.plot(a, e[a], "o", color="#D55E00", ms=7)
        ax2.annotate(f"{e[a]:+.0f}% at {a:g}\u00b0", (a, e[a]), xytext=(-12, 10),
                     textcoords="offset points", ha="right", fontsize=12)
    ax2.set_ylim(-45, 100)
    ax2.set_ylabel("velocity error (%)")
    ax2.set_title(f"(b) error from a {ANGLE_ERROR_DEG:g}\u00b0 angle error", loc="left")
    ax2.legend(loc="upper left")
    return fig, caption


def _colors(n):
    from matplotlib import colormaps

    return [colormaps["viridis"](x) for x in np.linspace(0.0, 0.85, n)]


# ---------------------------------------------------------------- 2. I/Q and direction
def iq_direction(seed=0):
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
    fig, top = _with_caption(15.0, 6.0, caption)
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
        ax.set_ylim(-1.25, 1.6)
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
    ax_p.text(0.5 * np.cos(phi) - 0.2 * np.sin(phi), 0.5 * np.sin(phi) + 0.2 * np.cos(phi),
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
    ax_s.set_ylim(-45, 12)
    ax_s.set_xlabel("Doppler frequency (kHz)")
    ax_s.set_ylabel("power density (dB re peak)")
    ax_s.legend(loc="lower center", ncols=2, fontsize=10.5)
    ax_s.grid(alpha=0.3)
    ax_s.set_title("two-sided spectrum", loc="left", fontsize=12.5)
    _letter(ax_s, "c")


# ---------------------------------------------------------------- 3. wall filter
def wall_filter(wall_hz=80.0, seed=0):
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
    fig, top = _with_caption(14.0, 5.6, caption)
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
    ax2.axvspan(0, f_wall, color="#D55E00", alpha=0.15, lw=0)
    ax2.text(2, -22, "wall\nmotion", ha="left", va="top", fontsize=11, color="#a04000")
    ax2.axhline(-WALL_STOP_DB, color="0.5", ls="--", lw=1)
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


# ---------------------------------------------------------------- 4. reflux vs closure
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


def reflux_vs_closure():
    """Reflux and normal valve closure on the same axes, with the vessel thresholds."""
    t_c, v_c, closure = _reversal("jugular_valve_closure")
    t_r, v_r, reflux = _reversal("jugular_valsalva")
    groups = _threshold_groups()
    d_c, d_r = closure["duration_s"], reflux["duration_s"]
    above = [f"{thr:g} s threshold for {', '.join(n)} veins" for thr, n, _ in groups
             if d_c > thr]
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
    fig, top = _with_caption(14.0, 7.6, caption)
    ax1, ax2 = top.subplots(2, 1, height_ratios=[1.5, 1], sharex=True)
    c_close, c_reflux = "#0072B2", "#D55E00"
    for t, v, ev, color, label in ((t_c, v_c, closure, c_close, "competent valve: closure"),
                                   (t_r, v_r, reflux, c_reflux, "incompetent valve: reflux")):
        x = t - ev["start_s"]
        keep = (x > -1.5) & (x < 3.2)
        ax1.plot(x[keep], v[keep], color=color, lw=2.4, label=f"{label} ({ev['duration_s']:.2f} s)")
        ax1.fill_between(x[keep], v[keep], 0, where=v[keep] < 0, color=color, alpha=0.2, lw=0)
    thr_styles = _threshold_styles(groups)
    for thr, style in thr_styles.items():
        for ax in (ax1, ax2):
            ax.axvline(thr, **style)
        ax1.text(thr, 1.0, f"{thr:g}", transform=ax1.get_xaxis_transform(), ha="center",
                 va="bottom", fontsize=10.5, color=style["color"], fontweight="bold")
    ax1.axhline(0, color="black", lw=0.9)
    ax1.axvline(0, color="0.3", lw=1.0)
    ax1.set_ylabel("velocity (cm/s)\n\u2190 retrograde   antegrade \u2192")
    ax1.legend(loc="upper center")
    ax1.grid(alpha=0.3)
    ax1.set_title("(a) flow reversal on a Valsalva manoeuvre (internal jugular vein); "
                  "dashed: thresholds (s)", loc="left", pad=20)
    # threshold bars
    labels = []
    for i, (thr, names, source) in enumerate(groups):
        ax2.barh(i, thr, height=0.6, color=thr_styles[thr]["color"], alpha=0.35,
                 edgecolor=thr_styles[thr]["color"])
        ax2.text(thr + 0.03, i, f"{thr:g} s", va="center", fontsize=11.5)
        labels.append(f"{', '.join(names)} ({source.split()[0]})")
    ax2.set_yticks(range(len(groups)), labels)
    ax2.invert_yaxis()
    ax2.axvline(d_c, color=c_close, lw=2.4)
    ax2.axvline(d_r, color=c_reflux, lw=2.4)
    # labels in the gaps between the bars, the closure label in the empty time before 0
    ax2.annotate(f"valve closure {d_c:.2f} s", xy=(d_c, 1.5), xytext=(-1.45, 1.5),
                 color=c_close, fontsize=12, fontweight="bold", va="center",
                 arrowprops=dict(arrowstyle="->", color=c_close, lw=1.5))
    ax2.text(d_r + 0.05, 1.5, f"reflux {d_r:.2f} s", color=c_reflux, fontsize=12,
             fontweight="bold", va="center")
    ax2.set_xlabel("time since flow reversed (s)")
    ax2.set_xlim(-1.5, 3.2)
    ax2.set_title("(b) reflux thresholds: retrograde flow longer than this is reflux",
                  loc="left")
    ax2.grid(alpha=0.3, axis="x")
    return fig, caption


def _threshold_styles(groups):
    thresholds = sorted({g[0] for g in groups})
    colors = _colors(len(thresholds))
    return {thr: dict(color=c, ls="--", lw=1.4) for thr, c in zip(thresholds, colors,
                                                                   strict=True)}


# ---------------------------------------------------------------- 5. SNR and envelope
def snr_envelope(seed=0):
    """Sonograms of one simulated vein at four SNRs, with the true velocity."""
    from ..core.driver import analyze
    from ..sim.synth import synthesize
    from . import plots

    fs = SAMPLE_RATE_HZ
    runs = []
    for snr in SNRS_DB:
        syn = synthesize("gsv_squeeze_reflux", sample_rate_hz=fs, duration_s=5.0,
                         snr_db=snr, seed=seed)
        a = analyze(syn.baseband, sample_rate_hz=fs, vessel="gsv",
                    antegrade=syn.truth["antegrade"], keep_spectrogram=True)
        tt = np.asarray(syn.truth["trace"]["time_s"])
        tv = np.asarray(syn.truth["trace"]["velocity_cm_s"])
        truth_v = np.interp(a.trace.time_s, tt, tv)
        # frames where the true flow is clear of the wall-filter band
        wall_cm_s = a.settings.wall_hz * a.velocity_per_hz_cm_s
        fast = np.abs(truth_v) > 2 * wall_cm_s
        err = np.abs(a.trace.velocity_cm_s - truth_v)[fast & a.trace.flow]
        detected = float(a.trace.flow[fast].mean()) if fast.any() else 0.0
        runs.append((snr, a, tt, tv, float(np.median(err)) if err.size else float("nan"),
                     detected, syn.truth["reflux_events"]))
    true_dur = runs[0][6][0]["duration_s"] if runs[0][6] else 0.0
    parts = [f"{snr:g} dB: flow found in {100 * det:.0f}% of the frames with flow, median "
             f"error {err:.1f} cm/s, reflux {_durations(a)}"
             for snr, a, _, _, err, det, _ in runs]
    caption = (
        "How the signal-to-noise ratio shapes the envelope. The same simulated great "
        "saphenous vein (calf squeeze, then reflux on release; dashed sky-blue line: the true "
        "centre-line velocity) at four in-band SNRs (blood power over the noise in the band "
        "the flow occupies), analysed by dopplerflow and drawn with one colour scale. As the "
        "noise rises, the faint high-velocity edge of the spectrum sinks into it: the "
        "maximum-velocity envelope (white) turns ragged, and more and more frames hold too "
        "little power to be told from noise, slow flow first. dopplerflow then reports no "
        "flow rather than a made-up velocity, so the error of the frames it keeps stays "
        f"small while the coverage falls ({'; '.join(parts)}; true reflux {true_dur:.2f} s). "
        "A reflux measured on a noisy recording is too short, or missed: raise the gain and "
        "improve the coupling before trusting a 'no reflux'. At high SNR the envelope of "
        "very slow flow reads high by about the window's frequency resolution "
        f"({runs[0][1].summary.velocity_resolution_cm_s:.1f} cm/s per bin here).")
    fig, top = _with_caption(15.0, 8.0, caption)
    axes = top.subplots(2, 2, sharex=True, sharey=True)
    for i, (ax, (snr, a, tt, tv, err, det, _)) in enumerate(zip(axes.ravel(), runs,
                                                                 strict=True)):
        plots.sonogram(a, ax=ax, colorbar=False, legend=False, velocity_range_cm_s=(-28, 40),
                       color_limits_db=(0.0, 30.0), doppler_axis=i % 2 == 1,
                       title=f"SNR {snr:g} dB: flow found {100 * det:.0f}%, error "
                             f"{err:.1f} cm/s, reflux {_durations(a)}")
        ax.plot(tt, tv, color=plots.EPISODE_COLOR, lw=1.6, ls=(0, (3, 2)), zorder=4)
        ax.title.set_fontsize(12.5)
    for ax in axes[0]:
        ax.set_xlabel("")
    for ax in axes[:, 1]:
        ax.set_ylabel("")
    im = axes[0, 0].images[0]
    cb = top.colorbar(im, ax=axes, pad=0.01, aspect=35, extend="both")
    cb.set_label("power (dB above the noise floor)")
    return fig, caption


def _durations(analysis):
    return ", ".join(f"{e.duration_s:.2f} s" for e in analysis.reflux_events) or "missed"
