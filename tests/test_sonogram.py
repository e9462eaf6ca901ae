"""The spectrogram kept for the figures: every row of a short recording, means of
power-of-two groups of rows in a long one, never more than MAX_ROWS rows, the same
whatever the blocks; the figures of a long recording drawn from it."""

import dataclasses
import math
import re
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

import dopplerflow as df
from dopplerflow.cli import main
from dopplerflow.core.sonogram import MAX_ROWS, PooledSpectrogram
from dopplerflow.figures import plots
from dopplerflow.figures.span import span_view

FS = 8000
#: Long enough that the rows are pooled in groups of 16 (72,000 rows of 5 ms).
LONG_S = 360.0


def _pulsing(seconds, seed=3):
    """I/Q of a tone swinging between 400 and 1000 Hz once a second in noise (-30 dB)."""
    n = int(seconds * FS)
    t = np.arange(n) / FS
    phase = 2 * np.pi * (700.0 * t - 300.0 / (2 * np.pi) * np.cos(2 * np.pi * t))
    rng = np.random.default_rng(seed)
    x = np.stack((np.cos(phase), np.sin(phase)), axis=1) * 0.3
    x += rng.normal(0.0, 0.01, x.shape)
    return x.astype(np.float32)


@pytest.mark.parametrize("blocks", [[1000], [1] * 1000, [7] * 143, [3, 500, 97, 400]])
def test_pooled_rows_are_group_means_whatever_the_blocks(blocks):
    rows = np.random.default_rng(0).random((1000, 5)).astype(np.float32)
    kept = PooledSpectrogram(5, max_rows=16)
    start = 0
    for n in blocks:
        kept.append(rows[start:start + n])
        start += n
    # 1000 rows in at most 16: groups of 64 (15 whole, and the 40 rows of the last)
    assert kept.step == 64 and kept.n_rows == 1000 and len(kept) == 16
    got = kept.array()
    expected = [rows[i:i + 64].mean(axis=0, dtype=np.float64) for i in range(0, 1000, 64)]
    # six levels of pairwise float32 means: each rounds by at most half an ulp
    np.testing.assert_allclose(got, expected, rtol=6 * 2.0 ** -24)
    reference = PooledSpectrogram(5, max_rows=16)
    reference.append(rows)
    np.testing.assert_array_equal(got, reference.array())  # bit for bit
    np.testing.assert_array_equal(kept.times_s(0.5, 1.0),
                                  0.5 + np.r_[np.arange(15) * 64 + 31.5, 979.5])


@pytest.fixture(scope="module")
def long_analysis():
    x = _pulsing(LONG_S)
    return x, df.analyze(x, sample_rate_hz=FS, keep_spectrogram=True)


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory):
    wav = tmp_path_factory.mktemp("long") / "long.wav"
    sf.write(wav, _pulsing(LONG_S), FS, subtype="PCM_16")
    return wav


def test_a_long_recording_keeps_a_bounded_spectrogram(long_analysis):
    """Before, every 5 ms row was kept (a 2 h recording at 48 kHz: 2.6 GiB).  Now at most
    MAX_ROWS rows, each the mean of `spectrogram_step` frames, timed at their centre."""
    x, a = long_analysis
    n = len(a.trace)
    step = a.spectrogram_step
    assert step == 16 and len(a.spectrogram) == math.ceil(n / step) <= MAX_ROWS
    hop = a.summary.hop_s
    times = a.spectrogram_time_s  # the last group is cut short by the end: its own centre
    np.testing.assert_allclose(np.diff(times[:-1]), step * hop, rtol=1e-9)
    assert times[-1] == pytest.approx((a.trace.time_s[(len(times) - 1) * step]
                                       + a.trace.time_s[-1]) / 2)
    assert a.spectrogram_time_s[0] == pytest.approx(a.trace.time_s[(step - 1) // 2]
                                                    + hop / 2)
    # the rows pooled are the frames of the recording: those of its first 40 s analysed
    # alone, where every frame is kept (the last two, at that end, left out)
    short = df.analyze(x[:40 * FS], sample_rate_hz=FS, keep_spectrogram=True)
    assert short.spectrogram_step == 1 and len(short.spectrogram) == len(short.trace)
    whole = (len(short.spectrogram) - 2) // step
    frames = short.spectrogram[:whole * step].reshape(whole, step, -1)
    np.testing.assert_allclose(a.spectrogram[:whole], frames.mean(axis=1, dtype=np.float64),
                               rtol=math.log2(step) * 2.0 ** -24)


def test_the_sonogram_of_a_long_recording_spans_it(long_analysis):
    _, a = long_analysis
    img = plots.sonogram_image(a)
    hop = a.summary.hop_s
    assert img["db"].shape[1] <= plots.MAX_COLUMNS and img["step"] % a.spectrogram_step == 0
    assert img["extent"][0] == pytest.approx(a.trace.time_s[0] - hop / 2)
    # the last column holds the last frames (its group may reach past the end)
    assert 0 <= img["extent"][1] - (a.trace.time_s[-1] + hop / 2) < a.spectrogram_step * hop
    # the trace over the image is pooled into the same columns: frame indices
    assert img["starts"][-1] < len(a.trace) <= img["starts"][-1] + img["step"]


def _peak_bytes(wav, **kw):
    """Most bytes numpy and Python held at once while analysing ``wav``."""
    tracemalloc.start()
    try:
        df.analyze(wav, **kw)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_keeping_the_spectrogram_takes_bounded_memory(long_wav):
    """The memory the spectrogram adds is that of MAX_ROWS rows, kept and copied into the
    result (and the rows of a push on their way), not that of every frame (23 MB here)."""
    n_fft = 80  # 10 ms at 8 kHz
    extra = _peak_bytes(long_wav, keep_spectrogram=True) - _peak_bytes(long_wav)
    assert extra < 3 * MAX_ROWS * n_fft * 4


def test_plot_draws_a_long_recording(long_wav, tmp_path):
    png = tmp_path / "long.png"
    assert main(["analyze", str(long_wav), "--plot", str(png), "-q"]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------------ a span of a recording
@pytest.mark.parametrize("blocks", [[1000], [1] * 1000, [7] * 143, [3, 500, 97, 400]])
def test_a_span_keeps_its_own_rows_on_a_grid_from_its_start(blocks):
    rows = np.random.default_rng(1).random((1000, 5)).astype(np.float32)
    kept = PooledSpectrogram(5, max_rows=16, rows=(100, 600))
    start = 0
    for n in blocks:
        kept.append(rows[start:start + n])
        start += n
    # rows 100-599 alone: 500 rows in groups of 32 from row 100 (15 whole, and 20 rows)
    assert kept.seen == 1000 and kept.n_rows == 500 and kept.step == 32 and len(kept) == 16
    expected = [rows[i:min(i + 32, 600)].mean(axis=0, dtype=np.float64)
                for i in range(100, 600, 32)]
    np.testing.assert_allclose(kept.array(), expected, rtol=5 * 2.0 ** -24)
    np.testing.assert_array_equal(kept.times_s(0.0, 1.0),
                                  np.r_[100 + np.arange(15) * 32 + 15.5, 589.5])


def test_a_span_kept_at_analysis_holds_every_frame_of_it():
    """Thirty seconds of a long recording kept alone: every frame of them (the whole
    recording's spectrogram pools 16 frames a row), on the trace's own times."""
    x = _pulsing(LONG_S)
    a = df.analyze(x, sample_rate_hz=FS, keep_spectrogram=(100.0, 130.0))
    hop = a.summary.hop_s
    assert a.spectrogram_step == 1
    t = a.spectrogram_time_s
    assert t[0] <= 100.0 + hop and t[-1] >= 130.0 - hop
    assert t[-1] - t[0] < 30.0 + 3 * hop  # a row either side, at most
    i = int(np.searchsorted(a.trace.time_s, t[0] - hop / 2))
    np.testing.assert_allclose(t, a.trace.time_s[i:i + len(t)], atol=1e-9)
    # drawn whole, it is the span kept that is drawn
    fig = plots.analysis_figure(a)
    assert fig.axes[1].get_xlim() == pytest.approx((t[0] - hop / 2, t[-1] + hop / 2))
    assert "100-130 s of 360 s shown" in " ".join(fig.texts[0].get_text().split())
    # another span is not in it: one line that says how to keep it
    with pytest.raises(df.SettingsError, match=r"cover 100-130 s, not the span 50-80 s; "
                                               r"analyse with keep_spectrogram=\(50, 80\)"):
        plots.analysis_figure(a, span=(50, 80))
    # the trace alone needs no spectra: any span of it, and all of it by default
    ax = plots.velocity_trace(a, span=(50, 80)).axes[0]
    assert ax.get_xlim() == (50.0, 80.0)
    ax = plots.velocity_trace(a).axes[0]
    assert ax.get_xlim()[1] - ax.get_xlim()[0] > LONG_S - 1


def test_a_span_of_a_pooled_spectrogram_draws_its_rows_and_the_trace_on_them(long_analysis):
    _, a = long_analysis
    view, limits = span_view(a, (100.0, 130.0))
    assert limits == (100.0, 130.0)
    hop, step = a.summary.hop_s, a.spectrogram_step
    # whole pooled rows over the span, and the trace's rows they hold: one grid for both
    img = plots.sonogram_image(view)
    assert img["extent"][0] == pytest.approx(view.trace.time_s[0] - hop / 2)
    assert img["extent"][0] <= 100.0 < img["extent"][0] + step * hop
    assert img["extent"][1] - step * hop < 130.0 <= img["extent"][1]
    assert len(view.trace) == len(view.spectrogram) * step
    np.testing.assert_array_equal(view.trace.velocity_cm_s,
                                  a.trace.velocity_cm_s[np.searchsorted(a.trace.time_s,
                                                                        view.trace.time_s[0])
                                                        :][:len(view.trace)])
    fig = plots.analysis_figure(a, span=(100.0, 130.0))
    for ax in fig.axes[:2]:
        assert ax.get_xlim() == (100.0, 130.0)


def _gids(ax):
    return {c.get_gid() for c in ax.get_children() if c.get_gid()}


def test_beats_too_close_to_mark_are_said_so_and_a_span_marks_them(long_analysis):
    """360 beats across one axis: their triangles were a solid band.  Now the axis says
    how many and how to see them; thirty seconds of them are marked."""
    _, a = long_analysis
    assert len(a.beats) > 300
    trace = plots.analysis_figure(a).axes[1]
    assert "beat-psv" not in _gids(trace) and "beat-onsets" not in _gids(trace)
    note = [t.get_text() for t in trace.texts if t.get_gid() == "beats-unmarked"]
    assert note and note[0].startswith(f"{len(a.beats)} beats, too close at this scale")
    trace = plots.analysis_figure(a, span=(100.0, 130.0)).axes[1]
    assert {"beat-psv", "beat-edv", "beat-onsets"} <= _gids(trace)
    assert "beats-unmarked" not in _gids(trace)
    # the beats of the span alone, and those that reach into it
    onsets = [x for c in trace.collections if c.get_gid() in ("beat-onsets",
                                                             "beat-onsets-rejected")
              for x in (p.vertices[0, 0] for p in c.get_paths())]
    assert 28 <= len(onsets) <= 32 and min(onsets) > 98.0 and max(onsets) < 130.0


def test_span_view_cuts_events_to_the_span_and_keeps_their_durations(long_analysis):
    from dopplerflow.core.events import Event

    _, a = long_analysis
    events = [Event(95.0, 101.0, 6.0, 20.0, 10.0), Event(110.0, 112.0, 2.0, 20.0, 10.0),
              Event(140.0, 142.0, 2.0, 20.0, 10.0)]
    view, _ = span_view(dataclasses.replace(a, reflux_events=events, episodes=events[1:]),
                        (100.0, 130.0))
    assert [(e.start_s, e.end_s, e.duration_s) for e in view.reflux_events] == [
        (100.0, 101.0, 6.0), (110.0, 112.0, 2.0)]
    assert [e.start_s for e in view.episodes] == [110.0]
    assert span_view(a, None) == (a, None)  # the whole: the analysis itself


@pytest.mark.parametrize("span, message", [
    ((400.0, 500.0), "starts after the recording's end (360.00 s)"),
    ((30.0, 20.0), "0 <= start_s < end_s"),
    (("a", 3), "two numbers of seconds"),
])
def test_a_bad_span_is_one_clear_error(long_analysis, span, message):
    with pytest.raises(df.SettingsError, match=re.escape(message)):
        plots.analysis_figure(long_analysis[1], span=span)


def test_plot_span_on_the_command_line(long_wav, tmp_path, capsys):
    png, out = tmp_path / "span.png", tmp_path / "out.json"
    assert main(["analyze", str(long_wav), "--plot", str(png), "--plot-span", "1:40,2:10",
                 "--json", str(out), "-q"]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG" and out.exists()
    # a span past the end the header states: refused before the analysis, in one line
    out.unlink()
    late, page = ["--plot-span", "400,500"], tmp_path / "r.html"
    for argv in (["analyze", str(long_wav), "--plot", str(png), *late, "--json", str(out)],
                 ["replay", str(long_wav), "--plot", str(png), *late, "--json", str(out)],
                 ["report", str(long_wav), "-o", str(page), *late]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err == ("dopplerflow: error: --plot-span 400,500 starts after the recording's "
                       "end (360.00 s); give a span within it")
        assert not out.exists() and not page.exists()


@pytest.mark.parametrize("argv, message", [
    (["--plot-span", "130,100"], "must be START,END with 0 <= START < END"),
    (["--plot-span", "1:70,2:00"], "is not START,END in seconds or [h:]m:s"),
    (["--plot-span", "100"], "is not START,END in seconds"),
    (["--plot-span", "10,20"], "--plot-span chooses the span the figure draws; give --plot"),
])
def test_a_bad_plot_span_is_refused_before_the_analysis(long_wav, argv, message, capsys):
    code = main(["analyze", str(long_wav), *argv])
    assert code != 0
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("text, seconds", [("90", 90.0), ("90.5", 90.5), ("1:30", 90.0),
                                           ("75:00", 4500.0), ("1:00:30", 3630.0),
                                           ("0:05.25", 5.25)])
def test_clock_times_read_as_seconds(text, seconds):
    from dopplerflow.cli.common import clock_seconds

    assert clock_seconds(text) == seconds


@pytest.mark.parametrize("text", ["1:60", "1:75:00", "1::2", "-1:00", "1:2:3:4", "a", ""])
def test_a_clock_time_that_is_none_is_refused(text):
    from dopplerflow.cli.common import clock_seconds

    with pytest.raises(ValueError):
        clock_seconds(text)


def test_a_report_of_a_span_says_what_it_shows(long_wav, tmp_path):
    page = tmp_path / "r.html"
    assert main(["report", str(long_wav), "-o", str(page), "--plot-span", "100,130"]) == 0
    text = page.read_text()
    assert "The figure shows 100-130 s of the 360 s recording" in text
    assert "The beats are not marked" not in text
    page = tmp_path / "whole.html"
    assert main(["report", str(long_wav), "-o", str(page)]) == 0
    assert "The beats are not marked" in page.read_text()
    assert "Bottom panel: the heart rate of each clean beat" in page.read_text()


def test_a_span_outside_the_recording_keeps_nothing_and_says_so(tmp_path):
    x = _pulsing(20.0)
    a = df.analyze(x, sample_rate_hz=FS, keep_spectrogram=(30.0, 40.0))
    assert a.spectrogram.shape[0] == 0 and len(a.trace)
    with pytest.raises(df.SettingsError, match=r"the spectra kept hold no frame of the "
                                               r"recording \(0-20 s\)"):
        plots.analysis_figure(a)


def test_replay_keeps_the_same_span_as_analyze(tmp_path):
    """Files and the live path share the pipeline: a span kept block by block is the
    span analyze keeps, bit for bit."""
    from dopplerflow.live.replay import replay

    wav = tmp_path / "p.wav"
    sf.write(wav, _pulsing(30.0), FS, subtype="PCM_16")
    a = df.analyze(wav, keep_spectrogram=(12.0, 18.0))
    r = replay(wav, a.settings, block_size=300, keep_spectrogram=(12.0, 18.0))
    assert len(a.spectrogram) > 1000
    np.testing.assert_array_equal(r.spectrogram, a.spectrogram)
    np.testing.assert_array_equal(r.spectrogram_time_s, a.spectrogram_time_s)


def test_a_long_span_draws_the_heart_rate_beat_by_beat(long_analysis):
    """At a long span's scale the beats cannot be marked, and a rate's changes are what
    can be read: a panel under the trace draws each clean beat's rate, a running median
    and the recording's median."""
    _, a = long_analysis
    fig = plots.analysis_figure(a)
    assert len(fig.axes) == 4 and tuple(fig.get_size_inches()) == (13.0, 11.0)
    panel = fig.axes[3]
    lines = {ln.get_gid(): ln for ln in panel.get_lines()}
    assert {"heart-rate", "heart-rate-running", "heart-rate-median"} <= set(lines)
    b = a.beats
    clean = b.clean & np.isfinite(b.rr_s)
    np.testing.assert_array_equal(lines["heart-rate"].get_xdata(), b.onset_s[clean])
    np.testing.assert_array_equal(lines["heart-rate"].get_ydata(), b.heart_rate_bpm[clean])
    assert lines["heart-rate-median"].get_ydata()[0] == b.summary["heart_rate_bpm"]
    # the running median follows the rate: within the beats' own spread of it
    running = lines["heart-rate-running"].get_ydata()
    assert np.all((running >= b.heart_rate_bpm[clean].min())
                  & (running <= b.heart_rate_bpm[clean].max()))
    assert panel.get_xlim() == fig.axes[1].get_xlim()
    # a minute of it still has the panel, with the minute's beats alone; half a minute not
    fig = plots.analysis_figure(a, span=(100.0, 160.0))
    dots = {ln.get_gid(): ln for ln in fig.axes[3].get_lines()}["heart-rate"].get_xdata()
    assert dots.min() >= 99.0 and dots.max() < 160.0 and 50 <= len(dots) <= 61
    assert len(plots.analysis_figure(a, span=(100.0, 130.0)).axes) == 3


def test_a_span_without_clean_beats_says_so_in_the_rate_panel():
    """A minute of noise after a minute of pulse: the recording has a heart rate, the span
    no beat; the panel says so, under the recording's median."""
    noise = np.random.default_rng(0).normal(0.0, 0.01, (70 * FS, 2)).astype(np.float32)
    a = df.analyze(np.concatenate([_pulsing(70.0), noise]), sample_rate_hz=FS,
                   keep_spectrogram=True)
    assert a.heart_rate_bpm is not None
    panel = plots.analysis_figure(a, span=(75.0, 138.0)).axes[3]
    assert [ln.get_gid() for ln in panel.get_lines()] == ["heart-rate-median"]
    assert [t.get_text() for t in panel.texts] == ["no clean beat in this span"]


def test_a_short_recording_or_one_without_a_rate_has_no_rate_panel(long_analysis):
    _, a = long_analysis
    assert plots.rate_panel_wanted(a) and not plots.rate_panel_wanted(a, (0.0, 59.0))
    assert not plots.rate_panel_wanted(dataclasses.replace(a, beats=None))
    no_rate = dataclasses.replace(a.beats, summary={**a.beats.summary, "heart_rate_bpm": None})
    assert not plots.rate_panel_wanted(dataclasses.replace(a, beats=no_rate))
