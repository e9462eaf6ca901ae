"""The spectrogram kept for the figures: every row of a short recording, means of
power-of-two groups of rows in a long one, never more than MAX_ROWS rows, the same
whatever the blocks; the figures of a long recording drawn from it."""

import math
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

import dopplerflow as df
from dopplerflow.cli import main
from dopplerflow.core.sonogram import MAX_ROWS, PooledSpectrogram
from dopplerflow.figures import plots

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
