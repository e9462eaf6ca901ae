"""The spectrum stage: power frames and the time average against naive references."""


import naive
import numpy as np
import pytest
from common import FS, config

from dopplerflow.core import spectrum


@pytest.mark.parametrize("layout", ["iq", "toward-away"])
def test_power_spectrum_matches_numpy(layout, rng):
    cmap, cfg = config(layout=layout)
    x = rng.standard_normal((3000, 2)).astype(np.float32)
    framer = spectrum.Framer(cfg)
    got = np.concatenate([framer(x[i:i + 517]) for i in range(0, len(x), 517)])
    ref = naive.power_spectrogram(x[:, 0].astype(float), x[:, 1].astype(float), cfg.n_window,
                                  cfg.hop, cfg.n_fft, separated=cmap.separated)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=2e-4, atol=1e-4 * ref.max())


def test_time_average_matches_naive_for_any_chunking(rng):
    p = rng.random((41, 16)).astype(np.float32)
    ref = naive.time_average(p.astype(np.float64))
    for chunk in (1, 2, 3, 5, 41):
        avg = spectrum.TimeAverager()
        parts = [avg(p[i:i + chunk]) for i in range(0, len(p), chunk)]
        parts.append(avg(p[:0], final=True))
        got = np.concatenate(parts)
        np.testing.assert_allclose(got, ref, rtol=1e-6)


@pytest.mark.parametrize("layout", ["iq", "toward-away", "away-toward"])
def test_separate_channels_leave_the_main_lobe_at_half_the_rate_unsearched(layout):
    """Toward and away audio on two real channels meet within the window's main lobe (two
    bins) of half the sample rate: a click's edge frames stand out there on the other
    side's bins.  Those bins are not searched in a separated layout; a quadrature pair's
    spectrum has no such seam and is searched up to the last bin."""
    cmap, cfg = config(layout=layout)
    searched = np.concatenate([cfg.dir_start[d] + cfg.dir_step[d] * np.arange(cfg.dir_count[d])
                               for d in range(2)])
    top = np.abs(cfg.freqs_hz[searched]).max()
    if cmap.separated:
        assert top == FS / 2 - 3 * cfg.bin_hz
    else:
        assert top == FS / 2


def test_halves_are_the_power_of_each_half_of_the_window(rng):
    """``Framer.halves`` sums the samples' power over each half of every frame's window,
    whatever the blocks."""
    cmap, cfg = config()
    x = rng.standard_normal((3000, 2)).astype(np.float32)
    framer = spectrum.Framer(cfg)
    got = []
    for i in range(0, len(x), 517):
        framer(x[i:i + 517])
        got.append(framer.halves.copy())
    got = np.concatenate(got)
    h = cfg.n_window // 2
    starts = np.arange(len(got)) * cfg.hop
    p = (x.astype(np.float64) ** 2).sum(axis=1)
    ref = np.array([[p[s:s + h].sum(), p[s + cfg.n_window - h:s + cfg.n_window].sum()]
                    for s in starts])
    np.testing.assert_allclose(got, ref, rtol=1e-5)
