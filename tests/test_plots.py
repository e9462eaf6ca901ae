"""Figures: they render headless, show what the analysis found, and say their units.

The signal is a phase-continuous complex tone (one moving scatterer) whose
Doppler frequency steps between antegrade and retrograde values, plus white
noise: its sonogram must hold the tone at the velocity the Doppler equation
gives, antegrade up.
"""

import math
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import dopplerflow
from dopplerflow.core.velocity import cm_s_per_hz
from dopplerflow.errors import SettingsError
from dopplerflow.figures import explain, plots
from dopplerflow.figures.image import TRACE_MARGIN

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

FS = 8000  # Hz; every shift below is under 1 kHz
ANTE_HZ = -600.0  # antegrade is away from the probe: negative baseband frequency
RETRO_HZ = 500.0
#: (Doppler shift Hz, duration s): antegrade, reflux 1.2 s (> 0.5 s gsv threshold),
#: antegrade, a 0.2 s retrograde episode (< 0.5 s), antegrade.
SEGMENTS = ((ANTE_HZ, 1.0), (RETRO_HZ, 1.2), (ANTE_HZ, 0.6), (400.0, 0.2), (ANTE_HZ, 0.6))


def stepped_tone(segments=SEGMENTS, noise=0.02, seed=0):
    """Complex baseband: a tone stepping through ``segments`` plus complex white noise."""
    f = np.concatenate([np.full(int(round(d * FS)), hz) for hz, d in segments])
    rng = np.random.default_rng(seed)
    tone = 0.1 * np.exp(2j * np.pi * np.cumsum(f) / FS)
    return tone + noise * (rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f)))


@pytest.fixture(scope="module")
def analysis():
    a = dopplerflow.analyze(stepped_tone(), sample_rate_hz=FS, vessel="gsv", antegrade="away",
                            keep_spectrogram=True)
    # the counts below compare figure and analysis; they mean something only if both kinds
    # of span are present
    assert len(a.reflux_events) == 1 and len(a.episodes) == 1
    return a


@pytest.fixture(scope="module")
def mono_analysis():
    z = stepped_tone(((600.0, 1.0),))
    return dopplerflow.analyze(z.real.copy(), sample_rate_hz=FS, layout="mono",
                               vessel="artery", keep_spectrogram=True)


def _spans(ax, gid):
    return [p for p in ax.patches if p.get_gid() == gid]


def _texts(ax, gid):
    return [t.get_text() for t in ax.texts if t.get_gid() == gid]


def test_import_does_not_load_matplotlib():
    code = ("import sys, dopplerflow, dopplerflow.figures.plots, dopplerflow.figures.explain, "
            "dopplerflow.figures.report; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib loaded'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sonogram_spans_match_events(analysis):
    fig = plots.sonogram(analysis)
    ax = fig.axes[0]
    assert len(_spans(ax, "reflux-event")) == len(analysis.reflux_events)
    assert len(_spans(ax, "retrograde-episode")) == len(analysis.episodes)
    # each reflux span covers its event and carries its duration
    span = _spans(ax, "reflux-event")[0]
    x0, x1 = span.get_x(), span.get_x() + span.get_width()
    ev = analysis.reflux_events[0]
    assert (x0, x1) == pytest.approx((ev.start_s, ev.end_s))
    assert _texts(ax, "reflux-duration") == [f"reflux {ev.duration_s:.2f} s"]
    assert _texts(ax, "episode-duration") == [f"{analysis.episodes[0].duration_s:.2f} s"]
    fig.canvas.draw()  # renders headless (no pyplot, no display)


def test_sonogram_units_threshold_and_colorbar(analysis):
    fig = plots.sonogram(analysis)
    ax = fig.axes[0]
    assert "cm/s" in ax.get_ylabel()
    assert ax.get_xlabel() == "time (s)"
    secondary = [c for c in ax.child_axes if "kHz" in c.get_ylabel()]
    assert len(secondary) == 1
    cbar = [a for a in fig.axes if "dB" in a.get_ylabel()]
    assert len(cbar) == 1
    assert "0.5 s" in ax.get_title(loc="left")  # the gsv threshold
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("> 0.5 s" in t for t in legend)


def test_sonogram_antegrade_is_up_at_the_doppler_velocity(analysis):
    """The brightest row of each column sits at the tone's velocity, with antegrade > 0."""
    fig = plots.sonogram(analysis)
    im = fig.axes[0].images[0]
    db = np.ma.filled(im.get_array(), -np.inf)
    t0, t1, v0, v1 = im.get_extent()
    n_rows, n_cols = db.shape
    v_rows = v0 + (np.arange(n_rows) + 0.5) * (v1 - v0) / n_rows
    t_cols = t0 + (np.arange(n_cols) + 0.5) * (t1 - t0) / n_cols
    scale = cm_s_per_hz(8e6, 60.0)
    # the peak of a Hann-windowed tone lies within half a bin of it; allow one bin
    bin_cm_s = analysis.summary.bin_hz * scale
    for (lo, hi), hz, sign in (((0.2, 0.8), ANTE_HZ, 1), ((1.3, 1.9), RETRO_HZ, -1)):
        cols = (t_cols > lo) & (t_cols < hi)
        peak_v = v_rows[np.argmax(db[:, cols], axis=0)]
        np.testing.assert_allclose(peak_v, sign * abs(hz) * scale, atol=bin_cm_s)


def test_sonogram_range_holds_the_flow(analysis):
    fig = plots.sonogram(analysis)
    lo, hi = fig.axes[0].get_ylim()
    scale = cm_s_per_hz(8e6, 60.0)
    sm = analysis.summary
    assert abs(ANTE_HZ) * scale < hi <= plots.RANGE_MARGIN * sm.peak_antegrade_velocity_cm_s
    assert -plots.RANGE_MARGIN * sm.peak_retrograde_velocity_cm_s <= lo < -RETRO_HZ * scale


def test_sonogram_range_ignores_a_click(analysis):
    z = stepped_tone()
    z[4000:4004] += 1.0  # a knock on the probe: one broadband frame or two
    clicked = dopplerflow.analyze(z, sample_rate_hz=FS, vessel="gsv", antegrade="away",
                                  keep_spectrogram=True)
    peak = analysis.summary.peak_antegrade_velocity_cm_s
    # the click is an impulse, left out of the spectrum: it does not reach beyond the flow
    assert clicked.impulses == 1
    assert clicked.summary.peak_antegrade_velocity_cm_s == pytest.approx(
        peak, abs=analysis.summary.velocity_resolution_cm_s)
    # and the axis still frames the flow (a few frames more or less: one bin of play)
    _, hi = plots.sonogram(clicked).axes[0].get_ylim()
    bin_cm_s = analysis.summary.velocity_resolution_cm_s
    assert hi <= plots.RANGE_MARGIN * (peak + bin_cm_s)


@pytest.fixture(scope="module")
def carotid_audio():
    """The jugular vein with the carotid beside it, flowing the other way (16 kHz I/Q)."""
    from dopplerflow.sim.synth import synthesize

    return synthesize("jugular_with_carotid", sample_rate_hz=16000, seed=0).baseband


@pytest.fixture(scope="module")
def with_carotid(carotid_audio):
    """The vein's direction given, so the carotid is separated from it (a second vessel)."""
    a = dopplerflow.analyze(carotid_audio, sample_rate_hz=16000, vessel="ijv",
                            antegrade="away", keep_spectrogram=True)
    assert a.second_vessel["direction"] == "toward"  # the carotid, drawn retrograde
    return a


def test_sonogram_range_holds_a_second_vessel(with_carotid):
    """The carotid (systolic 70 cm/s on its centre line, drawn down) is left out of the
    vein's envelopes, but not of the picture: the axis reaches past its peak."""
    a = with_carotid
    lo, hi = plots.sonogram(a).axes[0].get_ylim()
    assert a.summary.peak_retrograde_velocity_cm_s < 25  # the vein's own reflux
    assert lo < -70.0
    assert lo > -plots.RANGE_MARGIN * 70.0 * 1.15  # and not much further


def test_second_vessel_is_marked_where_it_was_found(with_carotid, analysis):
    ax = plots.sonogram(with_carotid).axes[0]
    (line,) = [ln for ln in ax.lines if ln.get_gid() == "second-vessel"]
    from_s = with_carotid.second_vessel["from_s"]
    assert line.get_xdata()[0] == pytest.approx(from_s)
    lo, hi = ax.get_ylim()
    assert max(line.get_ydata()) == pytest.approx((0.0 - lo) / (hi - lo))  # the lower half
    (label,) = _texts(ax, "second-vessel-label")
    assert f"toward the probe, from {from_s:.2f} s" in label
    assert not _texts(plots.sonogram(analysis).axes[0], "second-vessel-label")


def test_two_vessels_of_unknown_direction_are_marked_over_the_whole_height(carotid_audio):
    """The vein's direction not given: both flows are in the envelopes, and the line
    marks from where the two flow opposite ways (reflux not assessable from there)."""
    a = dopplerflow.analyze(carotid_audio, sample_rate_hz=16000, vessel="ijv",
                            keep_spectrogram=True)
    assert a.second_vessel["direction"] is None and a.reflux is None
    ax = plots.sonogram(a).axes[0]
    (line,) = [ln for ln in ax.lines if ln.get_gid() == "second-vessel"]
    assert tuple(line.get_ydata()) == (0.0, 1.0)
    (label,) = _texts(ax, "second-vessel-label")
    assert label.startswith(f"two vessels flow opposite ways from "
                            f"{a.second_vessel['from_s']:.2f} s")


def test_trace_axis_fits_the_trace():
    """No events: the top of the trace's axis is the peak with TRACE_MARGIN, no room for
    duration labels (an artery peaking near 80 cm/s is drawn up to about 90)."""
    a = dopplerflow.analyze(str(SAMPLES / "artery_mono.flac"), layout="mono", vessel="artery")
    lo, hi = plots.velocity_trace(a).axes[0].get_ylim()
    peak = a.summary.peak_antegrade_velocity_cm_s
    assert peak < hi <= TRACE_MARGIN * peak
    assert -0.1 * peak < lo < 0


def test_long_recordings_are_pooled_to_max_columns(analysis):
    n = len(analysis.trace)
    img = plots.sonogram_image(analysis, max_columns=n // 3)
    assert img["db"].shape[1] == math.ceil(n / img["step"]) <= n // 3
    # pooled columns still span the whole recording (to within one hop)
    hop = analysis.summary.hop_s
    assert img["extent"][0] == pytest.approx(analysis.trace.time_s[0] - hop / 2)
    assert img["extent"][1] == pytest.approx(analysis.trace.time_s[-1] + hop / 2, abs=hop)


def test_velocity_trace_spans_units_and_no_flow(analysis):
    fig = plots.velocity_trace(analysis)
    ax = fig.axes[0]
    assert len(_spans(ax, "reflux-event")) == len(analysis.reflux_events)
    assert len(_spans(ax, "retrograde-episode")) == len(analysis.episodes)
    assert "cm/s" in ax.get_ylabel() and "(s)" in ax.get_xlabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("0.5 s" in t for t in legend)
    # the signed trace is drawn: antegrade positive, reflux negative
    line = ax.get_lines()[0]
    t, v = line.get_data()
    assert np.nanmedian(v[(t > 0.2) & (t < 0.8)]) > 0
    assert np.nanmedian(v[(t > 1.3) & (t < 1.9)]) < 0


def test_analysis_figure_shares_time_axis(analysis):
    fig = plots.analysis_figure(analysis)
    ax_s, ax_t = fig.axes[0], fig.axes[1]
    assert ax_s.get_shared_x_axes().joined(ax_s, ax_t)
    for ax in (ax_s, ax_t):
        assert len(_spans(ax, "reflux-event")) == len(analysis.reflux_events)
    assert "REFLUX" in fig.get_suptitle()
    fig.canvas.draw()


def test_a_long_title_stays_on_the_figure(tmp_path):
    """A recording whose verdict's reason is long (a lossy copy of raw probe audio: "not
    assessable (a lossy codec (Vorbis) codes the noise around stationary echoes ...)")
    and whose name is long: its title ran off both sides of the figure on one line; it is
    wrapped, every word kept, and drawn within the figure."""
    import soundfile as sf

    from dopplerflow.sim.synth import write_scenario

    wav = tmp_path / "a_long_recording_name_from_a_study_protocol_left_gsv_standing.wav"
    write_scenario("no_flow", wav, sample_rate_hz=22050, duration_s=3.0)
    x, fs = sf.read(wav, dtype="float32")
    coded = wav.with_suffix(".ogg")
    sf.write(coded, x, fs, format="OGG", subtype="VORBIS")
    a = dopplerflow.analyze(coded, vessel="gsv", keep_spectrogram=True)
    assert a.to_dict()["reflux_not_assessable"].startswith("a lossy codec (Vorbis)")
    fig = plots.analysis_figure(a)
    title = fig.get_suptitle()
    assert title.count("\n") >= 1 and title.replace("\n", " ") == plots._figure_title(a)
    fig.canvas.draw()
    box = fig._suptitle.get_window_extent()
    assert 0 <= box.x0 and box.x1 <= fig.bbox.x1


def test_mono_shows_speed_from_zero(mono_analysis):
    fig = plots.sonogram(mono_analysis)
    ax = fig.axes[0]
    assert ax.get_ylim()[0] == 0.0
    assert ax.get_ylabel() == "speed (cm/s)"
    assert not _spans(ax, "reflux-event")
    assert "not assessable" in ax.get_title(loc="left")
    plots.velocity_trace(mono_analysis).canvas.draw()


def test_no_spectrogram_is_a_settings_error():
    a = dopplerflow.analyze(stepped_tone(((ANTE_HZ, 0.5),)), sample_rate_hz=FS)
    with pytest.raises(SettingsError, match="keep_spectrogram=True"):
        plots.sonogram(a)
    plots.velocity_trace(a)  # the trace needs no spectrogram


def test_no_trace_is_a_settings_error():
    """An analysis made without its trace (keep_trace=False) draws no empty trace."""
    a = dopplerflow.analyze(stepped_tone(((ANTE_HZ, 0.5),)), sample_rate_hz=FS,
                            keep_trace=False, keep_spectrogram=True)
    for draw in (plots.velocity_trace, plots.analysis_figure):
        with pytest.raises(SettingsError, match="keep_trace=True"):
            draw(a)
    plots.sonogram(a)  # the sonogram needs no trace


@pytest.mark.parametrize("ext, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"),
                                        (".pdf", b"%PDF")])
def test_save_analysis_figure_formats(analysis, tmp_path, ext, magic):
    path = tmp_path / f"out{ext}"
    plots.save_analysis_figure(analysis, path)
    assert path.read_bytes()[:len(magic)] == magic


def test_save_unknown_extension_names_allowed_ones(analysis, tmp_path):
    path = tmp_path / "out.bmp"
    with pytest.raises(SettingsError, match=r"\.png, \.svg, \.pdf"):
        plots.save_analysis_figure(analysis, path)
    assert not path.exists()


@pytest.fixture(scope="module")
def no_flow():
    """White noise alone: no flow detected."""
    rng = np.random.default_rng(3)
    z = 0.02 * (rng.standard_normal(3 * FS) + 1j * rng.standard_normal(3 * FS))
    a = dopplerflow.analyze(z, sample_rate_hz=FS, vessel="gsv", antegrade="away",
                            keep_spectrogram=True)
    assert a.flow_detected is False
    return a


@pytest.fixture(scope="module")
def artery():
    """The bundled mono artery: beats, a heart rate, no direction."""
    a = dopplerflow.analyze(str(SAMPLES / "artery_mono.flac"), layout="mono", vessel="artery")
    assert a.heart_rate_bpm is not None and a.beats.clean.sum() >= 5
    return a


def _drawn(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return fig


def test_a_trace_without_flow_has_a_signed_axis_around_zero(no_flow):
    """No flow: the axis is the sonogram's least span (6 velocity bins each way, with the
    trace's margin) around 0, not matplotlib's autoscale of nothing (-1.45..-1.35 with a
    "1e-17" offset)."""
    trace = _drawn(plots.velocity_trace(no_flow)).axes[0]
    panel = _drawn(plots.analysis_figure(no_flow)).axes[1]  # under the sonogram
    for ax in (trace, panel):
        lo, hi = ax.get_ylim()
        least = TRACE_MARGIN * 6 * no_flow.summary.velocity_resolution_cm_s
        assert (lo, hi) == pytest.approx((-least, least))
        assert ax.yaxis.get_offset_text().get_text() == ""


@pytest.mark.parametrize("name", ["analysis", "mono_analysis", "no_flow", "artery"])
def test_no_trace_panel_shows_an_offset(request, name):
    """The tick labels of a trace read as the values: no offset or multiplier text."""
    a = request.getfixturevalue(name)
    ax = _drawn(plots.velocity_trace(a)).axes[0]
    assert ax.yaxis.get_offset_text().get_text() == ""
    assert ax.xaxis.get_offset_text().get_text() == ""


def _without_heart_rate(a, fast=False):
    """``a`` with its beats giving no heart rate: two clean beats left, or (``fast``) every
    beat at 300/min, outside a heart's 30-240/min."""
    import copy
    import dataclasses

    b = a.beats
    summary = dict(b.summary, heart_rate_bpm=None, heart_rate_iqr_bpm=None)
    if fast:
        b = dataclasses.replace(b, heart_rate_bpm=np.full(len(b), 300.0), summary=summary)
    else:
        clean = b.clean & (np.cumsum(b.clean) <= 2)
        b = dataclasses.replace(b, clean=clean, summary=dict(summary, n_clean=2))
    out = copy.copy(a)
    out.beats = b
    return out


@pytest.mark.parametrize("fast, why", [
    (False, "fewer than 3 clean beats"),
    (True, "the clean beats come at 300/min, outside a heart's 30-240/min")])
def test_beats_without_a_heart_rate_say_so(artery, fast, why):
    """Beats are drawn where no heart rate is given: the legend says there is none and
    why, so that the marks do not read as a measured rate; with a rate it says nothing."""
    a = _without_heart_rate(artery, fast)
    legend = [t.get_text() for t in plots.velocity_trace(a).axes[0].get_legend().get_texts()]
    assert f"beat onset (grey: not clean); no heart rate: {why}" in legend
    legend = [t.get_text() for t in plots.velocity_trace(artery).axes[0].get_legend().get_texts()]
    assert "beat onset (grey: not clean)" in legend
    assert not any("no heart rate" in t for t in legend)


def test_a_wide_legend_wraps_and_leaves_the_panels_their_width(analysis):
    """Five entries with long names (reflux, and retrograde not reflux): the legends wrap
    into rows no wider than their panels, which keep the width of a figure with short
    legends (before, the row pushed both panels to about 60 % and was cut at the right)."""
    fig = _drawn(plots.analysis_figure(analysis))
    ax_s, ax_t = fig.axes[0], fig.axes[1]
    for ax in (ax_s, ax_t):
        box = ax.get_legend().get_window_extent()
        assert ax.bbox.x0 - 1 <= box.x0 and box.x1 <= ax.bbox.x1 + 1
        assert fig.bbox.contains(box.x1, box.y1)
    # a figure without events has two or three entries a legend: the same panel width
    plain = dopplerflow.analyze(stepped_tone(((ANTE_HZ, 3.0),)), sample_rate_hz=FS,
                                vessel="gsv", antegrade="away", keep_spectrogram=True)
    ax_plain = _drawn(plots.analysis_figure(plain)).axes[1]
    assert ax_t.bbox.width == pytest.approx(ax_plain.bbox.width, rel=0.03)
    # the trace's own figure as well
    fig = _drawn(plots.velocity_trace(analysis))
    box = fig.axes[0].get_legend().get_window_extent()
    assert box.x1 <= fig.axes[0].bbox.x1 + 1


def test_the_trace_axis_holds_the_beats_and_marks_what_runs_beyond(artery):
    """A PSV above the peak envelope's margin stays on the axis; frames beyond it (a
    click's three frames, left out of the axis as the sonogram leaves them out) are marked
    at the edge, one triangle a frame, with a legend entry."""
    import copy
    import dataclasses

    a = copy.copy(artery)
    lo, hi = plots.velocity_trace(artery).axes[0].get_ylim()
    b = a.beats
    k = int(np.flatnonzero(b.clean & np.isfinite(b.rr_s))[0])
    psv = b.psv_cm_s.copy()
    psv[k] = 1.5 * hi
    a.beats = dataclasses.replace(b, psv_cm_s=psv)
    tr = a.trace
    click = np.flatnonzero(np.asarray(tr.flow, bool))[100:103]
    v = tr.velocity_cm_s.copy()
    v[click] = 3 * hi
    ante = tr.antegrade_max_cm_s.copy()
    ante[click] = 3 * hi
    a.trace = dataclasses.replace(tr, velocity_cm_s=v, antegrade_max_cm_s=ante)
    ax = plots.velocity_trace(a).axes[0]
    lo2, hi2 = ax.get_ylim()
    assert 1.5 * hi < hi2 < 3 * hi
    (marks,) = [ln for ln in ax.lines if ln.get_gid() == "beyond-axis"]
    np.testing.assert_allclose(marks.get_xdata(), tr.time_s[click])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "trace beyond the axis" in legend
    assert not [ln for ln in plots.velocity_trace(artery).axes[0].lines
                if ln.get_gid() == "beyond-axis"]


def _with_click(a, rows, top_cm_s, mean_cm_s=None):
    """A copy of ``a`` whose trace holds ``top_cm_s`` on both maximum envelopes and its
    signed velocity at ``rows`` (its mean there ``mean_cm_s``, or as it was)."""
    import copy
    import dataclasses

    tr = a.trace
    v, ante, retro = (np.array(x, np.float64) for x in
                      (tr.velocity_cm_s, tr.antegrade_max_cm_s, tr.retrograde_max_cm_s))
    mean = np.array(tr.mean_velocity_cm_s, np.float64)
    down = v[rows] < 0
    v[rows] = np.where(down, -top_cm_s, top_cm_s)
    ante[rows] = np.where(down, ante[rows], top_cm_s)
    retro[rows] = np.where(down, top_cm_s, retro[rows])
    if mean_cm_s is not None:
        mean[rows] = np.sign(v[rows]) * mean_cm_s
    b = copy.copy(a)
    b.trace = dataclasses.replace(tr, velocity_cm_s=v, antegrade_max_cm_s=ante,
                                  retrograde_max_cm_s=retro, mean_velocity_cm_s=mean)
    return b


def test_the_rows_left_out_of_the_psv_are_drawn_faint(artery):
    """A faint click's top over slower flow (a maximum more than 4 times over the row's
    mean, which the summary's peak and the PSV leave out) is drawn as a faint line under
    the trace's, which breaks there; a transient that carries the mean with it is flow."""
    flow = np.flatnonzero(np.asarray(artery.trace.flow, bool))
    rows = flow[200:206]
    mean = np.abs(np.asarray(artery.trace.mean_velocity_cm_s)[rows])
    top = float(4.5 * mean.max())
    ax = plots.velocity_trace(_with_click(artery, rows, top)).axes[0]
    main = ax.get_lines()[0]
    assert np.isnan(main.get_ydata()[rows]).all()  # one row a point in a short recording
    assert np.isfinite(main.get_ydata()[flow[190:200]]).all()
    (faint,) = [ln for ln in ax.lines if ln.get_gid() == "left-out"]
    np.testing.assert_allclose(faint.get_ydata()[rows], top)
    assert faint.get_alpha() < 1 and faint.get_linewidth() < main.get_linewidth()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert plots.LEFT_OUT_LABEL in legend
    # the same top with its mean at a quarter of it or more: flow, on the main line
    ax = plots.velocity_trace(_with_click(artery, rows, top, top / 4)).axes[0]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata()[rows], top)
    assert not [ln for ln in ax.lines if ln.get_gid() == "left-out"]
    # the bundled sample has no such row: no faint line, no legend entry
    ax = plots.velocity_trace(artery).axes[0]
    assert not [ln for ln in ax.lines if ln.get_gid() == "left-out"]
    assert plots.LEFT_OUT_LABEL not in [t.get_text() for t in ax.get_legend().get_texts()]


def test_two_vessels_flowing_both_ways_are_not_drawn_faint_by_the_mixed_mean():
    """A jugular vein beside the carotid, the vein's direction not given: both directions
    flow in every row, and the trace's one mean velocity (both directions' power weigh it)
    lies near 0.  Tested against it, 634 of the 790 rows with flow stood more than 4 times
    over it and were drawn faint, where the summary weighs each direction against its own
    mean; a row is now tested only where the other direction has no flow."""
    from dopplerflow.figures import image
    from dopplerflow.sim.evaluate import quantise
    from dopplerflow.sim.synth import synthesize, to_layout

    fs = 16000
    syn = synthesize("jugular_with_carotid", sample_rate_hz=fs, snr_db=12, seed=0,
                     duration_s=4.0)
    a = dopplerflow.analyze(quantise(to_layout(syn.baseband, "iq", fs)), sample_rate_hz=fs,
                            layout="iq", vessel="ijv")
    tr = a.trace
    flow = np.asarray(tr.flow, bool)
    both = flow & (tr.antegrade_max_cm_s > 0) & (tr.retrograde_max_cm_s > 0)
    assert both.sum() > 0.9 * flow.sum()
    # the test against the mixed mean alone would leave most rows out
    mixed = image.left_out_rows(tr.antegrade_max_cm_s, tr.mean_velocity_cm_s)
    assert (mixed & flow).sum() > 0.5 * flow.sum()
    for out in image.trace_left_out(a):
        assert not (out & both).any()
    ax = plots.velocity_trace(a).axes[0]
    assert not [ln for ln in ax.lines if ln.get_gid() == "left-out"]


def test_the_sonogram_draws_the_envelope_rows_left_out_faint(analysis):
    """On the sonogram the maximum envelope breaks at a faint click's top too, drawn faint
    under it, on the antegrade (up) and the retrograde (down) side alike."""
    flow = np.flatnonzero(np.asarray(analysis.trace.flow, bool))
    v = np.asarray(analysis.trace.velocity_cm_s)
    up, down = flow[v[flow] > 0][40:43], flow[v[flow] < 0][40:43]
    rows = np.concatenate((up, down))
    top = float(5 * np.abs(np.asarray(analysis.trace.mean_velocity_cm_s)[rows]).max())
    ax = plots.sonogram(_with_click(analysis, rows, top), max_columns=10 ** 6).axes[0]
    env = [ln for ln in ax.lines if ln.get_label() == "max velocity envelope"]
    faint = [ln for ln in ax.lines if ln.get_gid() == "left-out"]
    assert len(env) == 1 and len(faint) == 2
    t = np.asarray(analysis.trace.time_s)
    x = env[0].get_xdata()
    at_up = np.searchsorted(x, t[up])
    assert np.isnan(env[0].get_ydata()[at_up]).all()
    np.testing.assert_allclose(faint[0].get_ydata()[at_up], top)
    at_down = np.searchsorted(faint[1].get_xdata(), t[down])
    np.testing.assert_allclose(faint[1].get_ydata()[at_down], -top)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend.count(plots.LEFT_OUT_LABEL) == 1


def test_duration_labels_neither_overlap_nor_leave_a_short_panel():
    """A 0.2 s episode 0.1 s after a 0.6 s reflux, in 12 s: the reflux's label is written
    and the episode's, which would cover it, left out; drawn on an axes 2 inches high (as
    the exam's small sonograms), every label's box stays inside the axes."""
    segments = ((ANTE_HZ, 5.0), (RETRO_HZ, 0.6), (ANTE_HZ, 0.1), (400.0, 0.2), (ANTE_HZ, 6.0))
    a = dopplerflow.analyze(stepped_tone(segments), sample_rate_hz=FS, vessel="gsv",
                            antegrade="away", keep_spectrogram=True)
    assert len(a.reflux_events) == 1 and len(a.episodes) == 1
    for draw in (plots.sonogram, plots.velocity_trace):
        with plots.style():
            fig = plots._new_figure((8, 2.6))
            ax = fig.add_subplot()
            draw(a, ax=ax, legend=False, title="")
        _drawn(fig)
        labels = [t for t in ax.texts if t.get_gid() in ("reflux-duration", "episode-duration")]
        assert [t.get_gid() for t in labels] == ["reflux-duration"]
        for t in labels:
            box = t.get_bbox_patch().get_window_extent()
            assert ax.bbox.y0 <= box.y0 and box.y1 <= ax.bbox.y1, t.get_text()


def test_a_label_of_an_event_cut_by_the_span_stays_inside_the_axes():
    """A span that begins inside a reflux: its label stood over the visible sliver's middle,
    half of it outside the axes; it is moved inwards, the event's whole duration on it."""
    segments = ((ANTE_HZ, 3.0), (RETRO_HZ, 1.0), (ANTE_HZ, 4.0))
    a = dopplerflow.analyze(stepped_tone(segments), sample_rate_hz=FS, vessel="gsv",
                            antegrade="away", keep_spectrogram=True)
    (ev,) = a.reflux_events
    span = (ev.end_s - 0.1, ev.end_s + 3.0)
    fig = _drawn(plots.analysis_figure(a, span=span))
    for ax in fig.axes[:2]:
        (label,) = [t for t in ax.texts if t.get_gid() == "reflux-duration"]
        assert label.get_text() == f"reflux {ev.duration_s:.2f} s"
        box = label.get_bbox_patch().get_window_extent()
        assert ax.bbox.x0 <= box.x0 and box.x1 <= ax.bbox.x1
        # at the edge, within the placement's estimate (0.62 em a character, the axes'
        # width before the figure is laid out): a quarter of the label's own width
        assert box.x0 - ax.bbox.x0 < 0.25 * box.width


# ------------------------------------------------------------------------------ explain
class _Index(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.captions, self._in_cap = [], [], False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs.append(dict(attrs)["src"])
        self._in_cap = tag == "figcaption"

    def handle_data(self, data):
        if self._in_cap:
            self.captions.append(data)
            self._in_cap = False


def _caption_texts(fig):
    return [t.get_text() for sub in fig.subfigs for t in sub.texts if t.get_gid() == "caption"]


def test_explain_writes_every_figure_with_one_caption(tmp_path):
    out = tmp_path / "teach"
    written = explain.write_figures(out)
    assert written == [str(out / f"{name}.png") for name in explain.FIGURES] + [
        str(out / "captions.md"), str(out / "index.html")]
    for name in explain.FIGURES:
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    md = (out / "captions.md").read_text(encoding="utf-8")
    assert md.count("![") == len(explain.FIGURES)
    page = (out / "index.html").read_text(encoding="utf-8")
    parser = _Index()
    parser.feed(page)
    assert parser.imgs == [f"{name}.png" for name in explain.FIGURES]
    assert len(parser.captions) == len(explain.FIGURES)
    assert all(len(c) > 100 for c in parser.captions)
    # the page shows each caption once: as text under its figure, not also in the image
    fig, caption = explain.teaching_figure("doppler_equation", with_caption=False)
    assert not _caption_texts(fig) and caption in parser.captions
    assert md.count(caption) == 1


def test_doppler_caption_states_the_angle_error():
    fig, caption = explain.teaching_figure("doppler_equation")
    # a 5 degree overestimate of a 60 degree angle: cos 60 / cos 65 - 1
    err = 100 * (math.cos(math.radians(60)) / math.cos(math.radians(65)) - 1)
    assert f"{err:.0f}% at 60\u00b0" in caption
    written = _caption_texts(fig)
    # wrapped, each number kept on the line of its unit (a no-break space)
    assert written and written[0].replace("\n", " ").replace("\u00a0", " ") == caption
    assert "\u00a0" in written[0] and "\u00a0" not in caption


def _labels(fig, renderer):
    """(name, axes, bounding box) of every text, title and legend of ``fig``."""
    out, seen = [], set()

    def add(name, ax, artist):
        if id(artist) not in seen and artist.get_visible():
            seen.add(id(artist))
            out.append((name, ax, artist.get_window_extent(renderer)))

    def walk(f):
        for ax in f.axes:
            for t in ax.texts:
                if t.get_text().strip():
                    add(f"text {t.get_text()!r}", ax, t)
            for t in (ax.title, ax._left_title, ax._right_title):
                if t.get_text():
                    add(f"title {t.get_text()!r}", ax, t)
            if ax.get_legend():
                add(f"legend of {ax.get_title(loc='left')!r}", ax, ax.get_legend())
        for leg in f.legends:
            add("figure legend", None, leg)
        for sub in f.subfigs:
            walk(sub)

    walk(fig)
    return out


def collisions(fig):
    """Texts and legends of ``fig`` that overlap one another, cross a line of their axes
    (data, thresholds, the zero line) or stick out of the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    items = _labels(fig, renderer)
    found = []
    for i, (name, ax, box) in enumerate(items):
        if not (fig.bbox.contains(box.x0, box.y0) and fig.bbox.contains(box.x1, box.y1)):
            found.append((name, "outside the figure"))
        found += [(name, other) for other, _, b in items[i + 1:] if box.overlaps(b)]
        if ax is None or name.startswith("title"):
            continue
        for line in ax.lines:
            path = line.get_transform().transform_path(line.get_path())
            if line.get_visible() and path.intersects_bbox(box, filled=False):
                found.append((name, f"a line at x={line.get_xdata()[0]:g}"))
    return found


@pytest.mark.parametrize("name", list(explain.FIGURES))
def test_teaching_figures_have_no_collisions(name):
    """No label on another, on a line or out of the figure (the reflux thresholds' labels
    stand close on the time axis; the wall-motion band is narrower than its name)."""
    fig, _ = explain.teaching_figure(name)
    assert collisions(fig) == []


def test_explain_rejects_unknown_figure(tmp_path):
    with pytest.raises(SettingsError, match="doppler_equation"):
        explain.write_figures(tmp_path, names=["nonsense"])


def test_explain_says_in_one_line_when_its_folder_cannot_be_made(tmp_path):
    """A folder under a file (or anywhere nothing can be made) gets dopplerflow's line,
    naming the folder and the cause, where the command line printed the bare OSError."""
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    out = blocker / "figures"
    with pytest.raises(dopplerflow.DopplerflowError,
                       match=f"the folder {out} cannot be made .Not a directory.; give a "
                             f"folder that can be written"):
        explain.write_figures(out, names=["doppler_equation"])


def test_the_figure_names_the_warnings_under_its_time_axis(analysis):
    """A figure is read alone: each warning of the analysis is named under the trace's time
    axis by its first clause, and a figure without warnings has the time label alone."""
    import copy

    warned = copy.copy(analysis)
    warned.warnings = ["clipping: 0.04% of samples at full scale; lower the input gain",
                       "the file is lossy-coded (MP3): the codec's noise comes in clumps",
                       "53 impulse(s) (clicks, probe taps: broadband for up to 30 ms) left out"]
    fig = plots.analysis_figure(warned)
    label = fig.axes[1].get_xlabel()
    assert label.startswith("time (s)\n3 warning(s) (whole in the summary, the report and the "
                            "JSON): ")
    assert "clipping \u00b7 the file is lossy-coded \u00b7 53 impulse(s)" in label
    calm = copy.copy(analysis)
    calm.warnings = []
    assert plots.analysis_figure(calm).axes[1].get_xlabel() == "time (s)"
    many = copy.copy(analysis)
    many.warnings = [f"warning number {i} of a long list: what it says" for i in range(40)]
    note = plots.warnings_note(many)
    assert len(note.splitlines()) == plots.NOTE_LINES and note.endswith(" ...")


def test_quiet_stretches_are_marked_on_the_trace(analysis):
    """The bundled mono artery 40 dB down for a second (16-bit): the JSON names a quiet
    stretch; the trace marks it with a bar along its bottom, in the legend as such. A
    recording without one has neither."""
    import soundfile as sf

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "samples", "artery_mono.flac")
    x, fs = sf.read(path, dtype="float32", always_2d=True)
    x[3 * fs:4 * fs] *= 0.01
    x = (np.round(x * 32767) / 32767).astype(np.float32)
    a = dopplerflow.analyze(x, sample_rate_hz=fs, layout="mono")
    (quiet,) = [art for art in a.artefacts if art["kind"] == "quiet"]
    ax = plots.velocity_trace(a).axes[0]
    (bar,) = _spans(ax, "quiet-stretch")
    x0, x1 = bar.get_x(), bar.get_x() + bar.get_width()
    assert (x0, x1) == pytest.approx((quiet["start_s"], quiet["end_s"]))
    assert "quiet stretch (contact lost?)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert not _spans(plots.velocity_trace(analysis).axes[0], "quiet-stretch")
