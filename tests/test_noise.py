"""The noise stage against a naive reference and the true level."""

import math

import naive
import numpy as np
from common import FS, config
from conftest import iq

from dopplerflow.core import noise, spectrum


def test_noise_floor_matches_naive_and_the_true_level(rng):
    _, cfg = config()
    sigma2 = 1e-4  # complex noise power per sample
    n = FS * 4
    z = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * math.sqrt(sigma2 / 2)
    power = spectrum.Framer(cfg)(iq(z).astype(np.float32))
    nf = noise.NoiseFloor(cfg)
    got = np.concatenate([nf(power[i:i + 37]) for i in range(0, len(power), 37)])
    tau_frames = noise._NOISE_TAU_S / cfg.hop_s
    ref = naive.noise_floor(power.astype(np.float64), cfg.noise_bins, tau_frames=tau_frames,
                            every=noise._NOISE_EVERY)
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    true = sigma2 * np.sum(cfg.window.astype(float) ** 2)
    # one quantile of m ~ 70 exponential bins has ~20% spread; smoothed over ~6
    # independent estimates per time constant it is within ~12% (2 sigma)
    assert abs(np.median(got[len(got) // 2:]) / true - 1) < 0.12
