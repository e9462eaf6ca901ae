"""The wall filter stage against scipy and its stop band."""


import naive
import numpy as np
from common import FS

from dopplerflow.core import wall
from dopplerflow.core.layouts import channel_map


# ----------------------------------------------------------------- stages vs naive references
def test_wall_filter_matches_scipy_sosfilt(rng):
    n = 5000
    t = np.arange(n) / FS
    x = 0.5 * np.stack((np.cos(2 * np.pi * 7 * t), np.sin(2 * np.pi * 7 * t)), 1) + 0.3
    x += 0.01 * rng.standard_normal((n, 2))
    x = x.astype(np.float32)
    sos = wall.wall_filter_sos(80.0, FS)
    wf = wall.WallFilter(channel_map("iq", 2), sos, FS)
    got = np.concatenate([wf(x[i:i + 333]) for i in range(0, n, 333)])
    ref = naive.wall_filter(x, sos)
    # float64 recursion, float32 output: agreement to float32 rounding of the output
    np.testing.assert_allclose(got, ref, atol=2e-6 * np.abs(ref).max() + 1e-7)


def test_wall_filter_attenuates_clutter_and_passes_flow():
    sos = wall.wall_filter_sos(80.0, FS)
    from scipy import signal

    _, h = signal.sosfreqz(sos, worN=np.array([20.0, 30.0, 200.0, 1000.0]), fs=FS)
    gain_db = 20 * np.log10(np.abs(h))
    assert gain_db[0] < -wall.WALL_STOP_DB + 0.5  # wall echoes (< 30 Hz) down >= 50 dB
    assert gain_db[1] < -wall.WALL_STOP_DB + 0.5
    assert abs(gain_db[2]) < 0.5 and abs(gain_db[3]) < 0.1  # slow venous flow passes
