"""The design helpers written out in dopplerflow.core._design agree with scipy."""

import numpy as np
import pytest
from scipy import signal

from dopplerflow.core import _design


@pytest.mark.parametrize("fs, stop_hz, stop_db", [(8000, 30.8, 50), (48000, 30.8, 50),
                                                  (192000, 100.0, 60), (11025, 10.0, 40)])
def test_cheby2_highpass_matches_scipy(fs, stop_hz, stop_db):
    ours = _design.cheby2_highpass_sos(4, stop_db, stop_hz, fs)
    ref = signal.cheby2(4, stop_db, stop_hz, "highpass", fs=fs, output="sos")
    f = np.geomspace(1, fs / 2 * 0.999, 400)
    _, h1 = signal.sosfreqz(ours, worN=f, fs=fs)
    _, h2 = signal.sosfreqz(ref, worN=f, fs=fs)
    # the same filter (section order and gain placement may differ): responses equal
    np.testing.assert_allclose(np.abs(h1), np.abs(h2), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(ours[:, 3:], ref[:, 3:], rtol=1e-9, atol=1e-12)


def test_step_state_matches_sosfilt_zi():
    sos = _design.cheby2_highpass_sos(4, 50, 30.0, 8000)
    np.testing.assert_allclose(_design.sos_step_state(sos), signal.sosfilt_zi(sos), atol=1e-12)
    lp = signal.butter(4, 0.2, output="sos")  # non-zero DC gain exercises the scaling
    np.testing.assert_allclose(_design.sos_step_state(lp), signal.sosfilt_zi(lp), rtol=1e-10)


def test_hann_matches_scipy():
    for n in (16, 80, 441, 480, 1920):
        np.testing.assert_allclose(_design.hann(n), signal.windows.hann(n, sym=False),
                                   atol=1e-15)
