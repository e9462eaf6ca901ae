"""The envelope stage: detection and the maximum frequency against naive references
and known truth."""

import math

import naive
import numpy as np
import pytest
from common import FS, SCALE, config
from conftest import band_noise

import dopplerflow as df


def test_threshold_envelope_matches_naive(rng):
    cmap, cfg = config(fs=48000)
    rows = rng.exponential(1.0, (30, cfg.n_fft)).astype(np.float32)
    z0 = cfg.n_fft // 2
    for i, width in enumerate(range(0, 60, 2)):  # flow bands of growing width, both sides
        rows[i, z0 + 2:z0 + 2 + width] += 40.0
        rows[i, z0 - 2 - width // 2:z0 - 2] += 15.0
    noise = np.ones(len(rows))
    env = df.core.envelopes.envelopes(rows, noise, cfg, "threshold")
    for i in range(len(rows)):
        for d in range(2):
            det, fmax = naive.threshold_envelope(
                rows[i].astype(np.float64), 1.0, cfg.dir_start[d], cfg.dir_step[d],
                cfg.dir_count[d], cfg.dir_f0[d], cfg.bin_hz, cfg.t_high, cfg.t_low)
            assert bool(env[i, d, 0]) == det
            # the kernel sums float32 bins: the sub-bin fraction agrees to float32 precision
            assert env[i, d, 1] == pytest.approx(fmax, abs=1e-4 * cfg.bin_hz)


@pytest.mark.parametrize("fs", [8000, 44100, 96000, 192000])
def test_max_frequency_of_band_limited_flow(fs):
    """Speckle with a sharp spectral edge at 1.2 kHz: the max envelope finds it."""
    n = int(fs * 1.0)
    z = band_noise(n, fs, 150.0, 1200.0, power=1e-2, noise_rms=1e-2 * 10 ** (-20 / 20) * 8,
                   seed=3)
    a = df.analyze(z, sample_rate_hz=fs, antegrade="toward")
    fmax_hz = np.median(a.trace.antegrade_max_cm_s[a.trace.flow]) / SCALE
    bin_hz = a.summary.bin_hz
    # the edge is placed to a fraction of a bin; one bin is the resolution of the spectrum
    assert abs(fmax_hz - 1200.0) <= bin_hz
    assert a.trace.flow.mean() > 0.95


@pytest.mark.parametrize("snr_db", [12.0, 7.0])
def test_max_frequency_of_a_flat_band_at_low_snr(snr_db):
    """A flat band at a low in-band SNR: speckle fades the outer bins of many frames
    below the detection threshold, yet they stand well above the noise; the edge
    is still found to within a bin, not at the fade."""
    band_hz, power = 1050.0, 1e-2
    noise_rms = np.sqrt(power * FS / (band_hz * 10 ** (snr_db / 10)))  # SNR per bin
    z = band_noise(FS * 4, FS, 150.0, 150.0 + band_hz, power=power, noise_rms=noise_rms,
                   seed=3)
    a = df.analyze(z, sample_rate_hz=FS, antegrade="toward")
    fmax_hz = np.median(a.trace.antegrade_max_cm_s[a.trace.flow]) / SCALE
    assert abs(fmax_hz - 1200.0) <= a.summary.bin_hz


@pytest.mark.parametrize("edge_hz", [430.0, 612.0, 875.0])
def test_max_frequency_of_a_pile_up_at_the_edge(edge_hz):
    """All the power piled up in the last quarter bin below the edge (a plug profile):
    the edge is the pile-up's peak, not where the window's kernel has spread it to half
    its level, a bin further out (Hann power kernel with the triangular sum)."""
    z = band_noise(FS * 2, FS, edge_hz - 25.0, edge_hz, power=1e-2,
                   noise_rms=1e-2 * 10 ** (-20 / 20) * 8, seed=3)
    a = df.analyze(z, sample_rate_hz=FS, antegrade="toward")
    fmax_hz = np.median(a.trace.antegrade_max_cm_s[a.trace.flow]) / SCALE
    # the peak is placed from three bin sums: to within half a bin
    assert abs(fmax_hz - edge_hz) <= 0.5 * a.summary.bin_hz


def test_noisy_frames_do_not_spike_the_envelope(rng):
    """At 3 dB in-band SNR no frame's envelope jumps far above the flow band."""
    n = FS * 4
    z = band_noise(n, FS, 150.0, 1000.0, power=1e-3, seed=5)
    band_fraction = (1000 - 150) / FS
    noise_power = 1e-3 / band_fraction / 10 ** (3 / 10)  # in-band SNR 3 dB
    z += (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * math.sqrt(noise_power / 2)
    a = df.analyze(z, sample_rate_hz=FS, antegrade="toward")
    analysed = np.isfinite(a.trace.velocity_cm_s)
    top = a.trace.antegrade_max_cm_s[analysed] / SCALE
    assert np.all(top <= 1000 + 4 * a.summary.bin_hz)
    assert np.all(a.trace.retrograde_max_cm_s[analysed] == 0)


def test_an_edge_stands_within_the_dynamic_range_of_the_recent_flow():
    """Whitened rows of coloured noise: flow fills the first 20 bins 50 dB over a floor
    that falls 60 dB to the band's top, where a burst stands 30 times over its floor
    (a codec's, far under the flow), above bins raised 2.5 times (no gap sets it apart
    as an island).  Whitened, the burst passes the detection; its physical excess lies
    60 dB under the flow's, beyond the 45 dB range: from the second row with flow (the
    first sets the reference), the edge is the flow's."""
    from dopplerflow.core.envelopes import DYNAMIC_RANGE_DB, FlowReference
    from dopplerflow.core.noise import FloorRows

    cmap, cfg = config(fs=44100, layout="mono")
    st, cnt = int(cfg.dir_start[0]), int(cfg.dir_count[0])
    j = np.arange(cnt)
    shape = np.ones(cfg.n_fft)
    shape[st + j] = 10.0 ** (-6.0 * j / (cnt - 1))  # 60 dB down over the band
    rows = np.ones((4, cfg.n_fft), np.float32)
    rows[:, st + 20:st + cnt] = 2.5  # raised: three-bin sums over the edge threshold
    rows[:, st:st + 20] = 1e5  # flow: 50 dB over the floor
    burst = st + cnt - 30
    rows[:, burst:burst + 10] = 30.0
    floor = FloorRows(shape[None, :], np.array([[cnt - 1, -1]]), np.zeros(4, np.int64))
    edge_hz = cfg.dir_f0[0] + 20 * cfg.bin_hz
    alone = df.core.envelopes.envelopes(rows, np.ones(4), cfg, "threshold", floor)
    assert np.all(alone[:, 0, 1] > edge_hz + 100 * cfg.bin_hz)  # the burst, every row
    ref = FlowReference(cfg.hop_s)
    env = df.core.envelopes.envelopes(rows, np.ones(4), cfg, "threshold", floor, ref)
    assert env[0, 0, 1] == alone[0, 0, 1]
    assert np.all(np.abs(env[1:, 0, 1] - edge_hz) <= cfg.bin_hz)
    # the burst's excess lies 60 dB under the flow's: more than the range
    assert 10 * np.log10(ref.power / (3 * 29 * shape[burst + 5])) > DYNAMIC_RANGE_DB
