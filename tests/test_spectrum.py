"""The spectrum stage: power frames and the time average against naive references."""


import naive
import numpy as np
import pytest
from common import config

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
