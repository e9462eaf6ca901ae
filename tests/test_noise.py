"""The per-bin noise floor: minimum statistics against a naive reference, coloured noise,
flow that never pauses, near-silence, and the same result whatever the blocks."""

import math
import os

import naive
import numpy as np
import pytest
from conftest import band_noise, iq

import dopplerflow as df
from dopplerflow.core import noise, spectrum
from dopplerflow.core.layouts import channel_map
from dopplerflow.core.velocity import cm_s_per_hz

FS = 8000
SCALE = cm_s_per_hz(8e6, 60.0)
STEP = spectrum.QUANT_STEP


def coloured(n, fs, slope_db_oct, rms, seed=0, complex_=True):
    """Gaussian noise whose power falls ``slope_db_oct`` dB an octave above 100 Hz."""
    rng = np.random.default_rng(seed)
    spec = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    f = np.abs(np.fft.fftfreq(n, 1 / fs))
    spec *= (np.maximum(f, 100.0) / 100.0) ** (slope_db_oct / 20.0 / math.log10(2.0))
    z = np.fft.ifft(spec)
    z *= rms / np.sqrt(np.mean(np.abs(z) ** 2))
    return z if complex_ else z.real * math.sqrt(2.0)


def quantise16(x):
    """Audio as a 16-bit file holds it: rounded to the quantisation step."""
    return (np.round(np.asarray(x) / STEP) * STEP).astype(np.float32)


def _config(layout="mono", fs=FS):
    cmap = channel_map(layout, 1 if layout == "mono" else 2)
    return spectrum.spectral_config(fs, cmap, window_s=0.01, hop_s=0.005, wall_hz=80.0)


# ----------------------------------------------------------------- against the references
def test_quiet_floor_matches_naive_minimum_statistics(rng):
    cfg = _config()
    sigma2 = 1e-4
    x = (rng.standard_normal(FS * 8) * math.sqrt(sigma2)).astype(np.float32)[:, None]
    power = spectrum.Framer(cfg)(np.concatenate((x, np.zeros_like(x)), axis=1))
    nf = noise.NoiseFloor(cfg)
    for i in range(0, len(power), 37):
        nf(power[i:i + 37].copy())
    a, v, u, stride = (nf.params[k] for k in (noise.P_A, noise.P_V, noise.P_U, noise.P_STRIDE))
    lo, hi = cfg.track_lo, cfg.track_hi
    ref = naive.quiet_floor(power, lo, hi, a, int(stride), int(v))
    n_subs = int(nf.state[noise.N_SUBS])
    assert n_subs == len(ref) >= 2 * u
    for i in range(n_subs - int(u), n_subs):
        np.testing.assert_array_equal(nf._ring[i % int(u), lo:hi], ref[i])
    # white noise keeps a flat floor; its level is the mean power of a noise bin:
    # one quantile of ~40 bins, smoothed over some six estimates a time constant, is
    # within ~12 % (2 sigma)
    in_band = nf._code[lo:hi] == 0
    assert np.all(nf.shape[lo:hi][in_band] == 1.0)
    true = sigma2 * np.sum(cfg.window.astype(float) ** 2)
    assert abs(nf.level / true - 1) < 0.12


def test_the_first_floor_is_the_noise_from_the_first_frames():
    """A stream's first level is the mean of one estimate a frame.  One frame's quantile
    of the band's ~200 noise bins strays by ``2 / sqrt(m)``, some 15 % (the spread of an
    exponential law's quantile); from 16 frames on (eight or so independent: the frames
    overlap by half) their mean is within 3 sigma, 15 %, at every frame.  The floor of a
    typical bin (the level times the band's median shape) is held to it, on twelve draws of
    white noise at 44.1 kHz.  A level started from one frame and tracked from there stands
    20 % off on two of them, and 40 % low on a simulation (noise bins then pass for flow)."""
    fs = 44100
    cfg = _config("iq", fs)
    sigma2 = 1e-4
    true = sigma2 * np.sum(cfg.window.astype(float) ** 2)
    worst = []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        z = (rng.standard_normal(fs) + 1j * rng.standard_normal(fs)) * math.sqrt(sigma2 / 2)
        power = spectrum.Framer(cfg)(iq(z).astype(np.float32))
        nf = noise.NoiseFloor(cfg)
        levels = nf(power.copy())
        _, floor = nf.whiten(power, levels, 0)
        typical = np.median(floor.shapes[floor.slots][:, cfg.noise_bins], axis=1)
        ratio = np.abs(levels[16:]) * typical[16:] / true
        worst.append(np.max(np.abs(ratio - 1.0)))
    assert max(worst) < 0.15, np.round(worst, 3)


def test_whitened_rows_match_naive(rng):
    cfg = _config("iq")
    z = coloured(FS * 4, FS, -6.0, 0.01, seed=3)
    power = spectrum.Framer(cfg)(iq(z).astype(np.float32))
    nf = noise.NoiseFloor(cfg)
    levels = nf(power)
    rows = power[-200:]
    row0 = len(power) - 200
    white, floor = nf.whiten(rows, levels[-200:], row0)
    for i in range(0, 200, 7):
        # row r uses the shape in force at its frame
        slot = floor.slots[i]
        assert nf._ver_start[slot] <= row0 + i
        in_band = nf._ver_fill[slot] == 0
        ref = naive.whiten(rows[i].astype(np.float64), floor.shapes[slot], in_band,
                           abs(levels[-200 + i]))
        np.testing.assert_allclose(white[i], ref, rtol=1e-6)


def test_colour_fit_matches_polyfit(rng):
    cfg = _config("mono", 16000)
    st, cnt = cfg.dir_start[0], cfg.dir_count[0]
    k = st + np.arange(cnt)
    f = cfg.freqs_hz[k]
    quiet = np.zeros(cfg.n_fft, np.float32)
    # -6 dB an octave with 10 % scatter
    quiet[k] = (1e-3 * (f / 1000.0) ** -2 * rng.uniform(0.9, 1.1, cnt)).astype(np.float32)
    code = np.ones(cfg.n_fft, np.int8)
    code[k] = 0
    tops = np.array([cnt - 1, -1])
    coef = np.zeros(2)
    xs = np.zeros(cfg.n_fft, np.float32)
    ys = np.zeros(cfg.n_fft, np.float32)
    log2f = np.log2(np.maximum(np.abs(cfg.freqs_hz), 1.0)).astype(np.float32)
    assert noise._fit_colour(quiet, log2f, cfg.dir_start, cfg.dir_step, cfg.dir_count,
                             cfg.dir_f0, cfg.bin_hz, 0.45 * 16000, code, tops, 0.01, 1.26, xs,
                             ys, coef)
    upper = (f >= 0.25 * f[-1]) & (f <= 0.45 * 16000)
    a, b = naive.colour_fit(f[upper], quiet[k][upper].astype(float))
    assert coef[0] == pytest.approx(a, abs=1e-4) and coef[1] == pytest.approx(b, abs=1e-5)
    assert 10 * coef[1] / math.log(10) == pytest.approx(-6.0, abs=0.5)  # dB an octave


# ----------------------------------------------------------------- coloured noise
@pytest.mark.parametrize("slope_db_oct", [-3.0, -6.0])
def test_coloured_noise_reads_no_flow(slope_db_oct):
    """Noise strong at low frequencies (pink, brown) is noise once its colour is known
    (the first sub-window): the detection's false alarms stay at the design rate.  One
    floor for the whole band read the strong bins as flow in most frames."""
    z = coloured(FS * 6, FS, slope_db_oct, 0.02, seed=1)
    a = df.analyze(iq(z).astype(np.float32), sample_rate_hz=FS, vessel="ijv")
    t = a.trace.time_s
    assert a.trace.flow[t > 1.0].mean() < 0.01


def test_flow_in_coloured_noise_keeps_its_edge():
    """A flow band to 1 kHz, 15 dB above the brown noise at 1 kHz: its edge is read to a
    bin, the noise above it (where it is 20 dB weaker) is not flow."""
    n = FS * 6
    noise_z = coloured(n, FS, -6.0, 0.01, seed=2)
    f = np.abs(np.fft.fftfreq(n, 1 / FS))
    psd = np.abs(np.fft.fft(noise_z)) ** 2
    at_1k = psd[(f > 900) & (f < 1100)].mean() / n  # noise power a Hz-bin at 1 kHz
    z = noise_z + band_noise(n, FS, 150.0, 1000.0, power=at_1k * 850 / FS * 10 ** 1.5,
                             seed=4)
    a = df.analyze(iq(z).astype(np.float32), sample_rate_hz=FS, antegrade="toward")
    late = (a.trace.time_s > 1.0) & a.trace.flow
    assert a.trace.flow[a.trace.time_s > 1.0].mean() > 0.99
    fmax = np.median(a.trace.antegrade_max_cm_s[late]) / SCALE
    assert abs(fmax - 1000.0) <= a.summary.bin_hz


# ----------------------------------------------------------------- flow that never pauses
@pytest.mark.parametrize("layout", ["iq", "mono"])
def test_flow_that_never_pauses_is_not_taken_into_the_floor(layout):
    """A vein's flow fills its bins without a pause for 12 s (four memories): a minimum
    over the memory would read it as noise.  The floor rises no higher than the noise's
    colour (flat here), and with two channels its mirror bins are quiet."""
    n = FS * 12
    rng = np.random.default_rng(7)
    snr_db = 10.0  # in-band
    z = band_noise(n, FS, 150.0, 800.0, power=1e-3, seed=5)
    n0 = 1e-3 / 650.0 / 10 ** (snr_db / 10)
    z = z + np.sqrt(n0 * FS / 2) * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    x = iq(z).astype(np.float32) if layout == "iq" else z.real.astype(np.float32)[:, None]
    a = df.analyze(x, sample_rate_hz=FS, layout=layout, antegrade="toward"
                   if layout == "iq" else "auto")
    t = a.trace.time_s
    for t0 in (1.0, 6.0, 10.0):
        m = (t > t0) & (t < t0 + 2.0)
        assert a.trace.flow[m].mean() > 0.99, t0
        fmax = np.median(a.trace.antegrade_max_cm_s[m]) / SCALE
        assert abs(fmax - 800.0) <= a.summary.bin_hz, t0


# ----------------------------------------------------------------- the start of a stream
@pytest.mark.parametrize("slope_db_octave", [6.0, 9.0])
def test_a_mono_stream_of_coloured_noise_reads_no_flow_from_its_start(slope_db_octave):
    """Noise falling 6 or 9 dB an octave from 100 Hz up, no flow, mono: the warm-up's
    floor (a mean of the first frames, no mirror to check it against) would put some of it
    over the floor for the first 0.75 s; the first rows wait for the first sub-window's
    floor and are analysed with it."""
    rng = np.random.default_rng(0)
    n = FS * 3
    f = np.fft.rfftfreq(n, 1 / FS)
    f[0] = f[1]
    spec = np.fft.rfft(rng.standard_normal(n)) * (f / 100.0) ** (-slope_db_octave / 20 /
                                                                 math.log10(2))
    x = np.fft.irfft(spec, n)
    x = (0.3 * x / np.abs(x).max()).astype(np.float32)[:, None]
    a = df.analyze(x, sample_rate_hz=FS, layout="mono")
    assert a.trace.flow.sum() == 0 and a.flow_detected is False


# ----------------------------------------------------------------- near-silence
def test_near_silent_input_reads_no_flow_and_says_so():
    """Two quantisation steps of noise, nothing else (no probe contact): no flow read, a
    warning about the level, and no finding of no flow (flow and reflux not assessable)."""
    rng = np.random.default_rng(3)
    x = quantise16(rng.standard_normal((FS * 4, 2)) * 2 * STEP)
    a = df.analyze(x, sample_rate_hz=FS, vessel="ijv")
    assert a.flow_detected is None and a.trace.flow.sum() == 0
    assert a.reflux is None and a.reflux_not_assessable == "the recording is near digital silence"
    (msg,) = [w for w in a.warnings if w.startswith("near digital silence")]
    assert "100% of the recording" in msg
    level = float(msg.split("(")[1].split(" dBFS")[0])
    # two steps rms a channel: 20 log10(2 * 2**-15) = -84 dBFS, to the rounding of the
    # quantiser (a uniform step adds 1/12 of a step squared)
    assert level == pytest.approx(20 * math.log10(2 * STEP), abs=1.0)


def test_faint_flow_above_the_quantisation_level_is_flow():
    """Flow 30 dB above a one-step noise (-60 dBFS): faint, but no silence."""
    rng = np.random.default_rng(4)
    n = FS * 4
    z = band_noise(n, FS, 150.0, 1000.0, power=(STEP * 10 ** 1.5) ** 2 * 2, seed=6)
    x = quantise16(iq(z) + rng.standard_normal((n, 2)) * STEP)
    a = df.analyze(x, sample_rate_hz=FS, antegrade="toward")
    assert a.flow_detected and a.trace.flow.mean() > 0.9
    assert not any(w.startswith("near digital silence") for w in a.warnings)


def test_a_float_or_24_bit_recordings_verdict_does_not_depend_on_its_level(tmp_path):
    """Digital silence is judged against the quantisation of the samples' own step.  Against
    16-bit quantisation, whatever the word length, the simulator's femoral reflux (raw probe
    audio: wall echoes 45 dB over the blood; 3 dB, 15 degrees of I/Q imbalance) as floats
    with its peak at -48 dBFS read near digital silence, not assessable.  As floats and as
    24 bits, at -24 and -48 dBFS, its reflux is read as at full scale; as 16 bits at -48
    dBFS its blood lies under the quantisation, and it is near digital silence."""
    import soundfile as sf

    from dopplerflow.sim.synth import synthesize, to_layout

    fs = 16000
    syn = synthesize("femoral_reflux", sample_rate_hz=fs, seed=0, iq_imbalance=(3.0, 15.0),
                     snr_db=30.0)
    x = np.asarray(to_layout(syn.baseband, "iq", fs), np.float64)
    x /= np.abs(x).max()
    kw = dict(vessel="femoral", antegrade=syn.truth["antegrade"], layout="iq")

    def analyse(peak_db, subtype):
        y = np.asarray(x * 10 ** (peak_db / 20), np.float32)
        if subtype == "FLOAT":
            return df.analyze(y, sample_rate_hz=fs, **kw)
        path = tmp_path / f"{subtype}.wav"
        sf.write(path, y, fs, subtype=subtype)
        return df.analyze(path, **kw)

    (truth,) = syn.truth["reflux_events"]
    full = analyse(0, "FLOAT")
    (event,) = full.reflux_events
    # (the wall band delays the onset of this slow reflux: the accepted limit)
    assert event.start_s == pytest.approx(truth["start_s"], abs=0.25)
    for peak_db, subtype in ((-48, "FLOAT"), (-24, "PCM_24"), (-48, "PCM_24")):
        a = analyse(peak_db, subtype)
        assert a.reflux is True, (peak_db, subtype, a.warnings)
        (got,) = a.reflux_events
        hop = a.summary.hop_s
        assert got.start_s == pytest.approx(event.start_s, abs=hop)
        assert got.end_s == pytest.approx(event.end_s, abs=hop)
        assert not any(w.startswith("near digital silence") for w in a.warnings)
    a = analyse(-48, "PCM_16")
    assert a.reflux is None and a.reflux_not_assessable == "the recording is near digital silence"


# ----------------------------------------------------------------- streaming
def _everything(seed=8):
    """Brown noise, a low-pass at 3 kHz, a steady tone, two clicks and flow, 8 kHz I/Q."""
    from scipy import signal

    n = FS * 5
    z = coloured(n, FS, -6.0, 0.003, seed=seed)
    z = z + band_noise(n, FS, 150.0, 900.0, power=1e-3, seed=seed + 1)
    z = z + 0.02 * np.exp(2j * np.pi * 2100.0 * np.arange(n) / FS)
    sos = signal.butter(8, 3000.0, fs=FS, output="sos")
    x = signal.sosfilt(sos, iq(z), axis=0)
    x[int(1.7 * FS)] += 0.8
    x[int(3.3 * FS)] -= 0.8
    rng = np.random.default_rng(seed)
    return quantise16(x + rng.standard_normal(x.shape) * STEP)


def test_the_noise_model_does_not_depend_on_the_blocks():
    x = _everything()
    ref = None
    for block in (1, 7, 4096, 65537):
        a = df.analyze(x, sample_rate_hz=FS, vessel="ijv", antegrade="toward",
                       block_size=block, keep_spectrogram=True)
        d = a.to_dict(trace=True)
        if ref is None:
            ref, ref_a = d, a
            assert d["tonal_lines_hz"] and d["impulses"] == 2
            assert d["signal_band_hz"][1] < 3600
            continue
        assert d == ref, f"block size {block} changed the result"
        np.testing.assert_array_equal(a.spectrogram, ref_a.spectrogram)


def test_minimum_bias_of_white_noise(rng):
    """The bias of a minimum of smoothed noise, against a simulation of the recursion."""
    a, n_frames = 0.2, 300
    p = rng.exponential(1.0, (n_frames, 4000))
    s = np.ones(4000)
    lowest = np.full(4000, np.inf)
    for x in p:
        s += a * (x - s)
        lowest = np.minimum(lowest, s)
    # the approximation of a gamma law with independent values every 2 / a frames: the
    # mean of the simulated minimum is within 10 %
    assert noise.minimum_bias(a, n_frames) == pytest.approx(lowest.mean(), rel=0.1)


# ---------------------------------------------------------------------- a lossy codec
@pytest.mark.skipif("MP3" not in __import__("soundfile").available_formats(),
                    reason="this libsndfile writes no MP3")
def test_a_lossy_codecs_switched_bins_are_no_flow(tmp_path):
    """The carotid (peak 70 cm/s) in pink noise, mono at 44.1 kHz, stored as a 56 kbit/s
    MP3, as recordings are shared.  The encoder leaves out, frame by frame, the bins above
    9 kHz it has no bits for: their quiet floor lies far under the noise they hold when
    on, and read against it they passed for flow up to the codec's cut-off (200 cm/s in a
    tenth of the frames).  Their floor is their mean: the trace stays on the flow."""
    import soundfile as sf

    from dopplerflow.sim.degrade import Degradations
    from dopplerflow.sim.synth import write_scenario

    wav = tmp_path / "carotid.wav"
    truth = write_scenario("carotid", wav, layout="mono", snr_db=20.0, sample_rate_hz=44100,
                           degradations=Degradations(noise_slope_db_oct=-3.0))
    x, fs = sf.read(wav)
    mp3 = tmp_path / "carotid.mp3"
    sf.write(mp3, x, fs, format="MP3", subtype="MPEG_LAYER_III", compression_level=0.9,
             bitrate_mode="CONSTANT")
    peak = truth["peak_velocity_cm_s"]
    for path in (wav, mp3):
        a = df.analyze(path, layout="mono")
        v = a.trace.antegrade_max_cm_s[a.trace.time_s > 1.0]
        bin_cm_s = a.summary.bin_hz * a.velocity_per_hz_cm_s
        # the peak's frames read it to the trace's error at 20 dB (under 10 %) and a bin
        assert np.nanpercentile(v, 99) <= 1.1 * peak + bin_cm_s, path.name
        assert np.nanpercentile(v, 99) >= 0.9 * peak - bin_cm_s, path.name


def test_the_quantisation_noise_of_rows_is_the_step_in_force_at_their_frames():
    """Rows whitened in any grouping get, one a row, the quantisation noise of the samples'
    step in force when their frame ended (no step yet: none), as the step gets finer: the
    same as the noise of each row's step computed alone."""
    from dopplerflow.core.precision import SampleGrid
    from dopplerflow.core.spectrum import QUANT_STEP

    cfg = _config("iq")
    grid = SampleGrid()
    rng = np.random.default_rng(3)
    grid.add(np.zeros((700, 2), np.float32))  # no value: no step
    grid.add((np.round(rng.standard_normal((3000, 2)) * 30) / 128).astype(np.float32))
    grid.add((np.round(rng.standard_normal((3000, 2)) * 3000) / 32768).astype(np.float32))
    grid.add(rng.standard_normal((2000, 2)).astype(np.float32))  # no grid
    assert grid.step == 0.0 and 6700 <= grid.last_change < 8700
    n_rows = (grid.n - cfg.n_window) // cfg.hop + 1
    steps = grid.steps_at(np.arange(n_rows) * cfg.hop + cfg.n_window)
    steps[np.isinf(steps)] = 0.0
    want = (cfg.quant_power * (steps / QUANT_STEP) ** 2).astype(np.float32)
    assert len(np.unique(want)) >= 3  # none, 2 ** -7, 2 ** -15 ... and none again
    for sizes in ([n_rows], [1] * n_rows, [5, 17, 3, 40, 1, 90, 2, 7, 100]):
        floor = noise.NoiseFloor(cfg, grid)
        got, row0 = [], 0
        for n in sizes:
            n = min(n, n_rows - row0)
            got.append(floor._quant_rows(row0, n).copy())
            row0 += n
        np.testing.assert_array_equal(np.concatenate(got), want[:row0])


@pytest.mark.parametrize("cnt", [1, 4, 9, 10, 57])
def test_the_bin_medians_and_means_read_a_direction_outward_whatever_its_step(cnt):
    """The nine-bin median and the five-bin mean of a direction whose bins descend (step
    -1) are those of the same values laid out ascending (step 1), bit for bit, and those of
    a plain loop (the median: the upper median of the bins there are, at the ends)."""
    rng = np.random.default_rng(cnt)
    n = cnt + 6
    values = rng.exponential(1.0, n).astype(np.float32)
    code = (rng.uniform(size=n) < 0.1).astype(np.int8)
    st = 3
    outs = []
    for sp in (1, -1):
        v = values if sp > 0 else values[::-1].copy()
        c = code if sp > 0 else code[::-1].copy()
        s0 = st if sp > 0 else n - 1 - st
        med = np.zeros(n, np.float32)
        mean = np.zeros(n, np.float32)
        noise._median9(v, s0, sp, cnt, np.zeros(9, np.float32), med)
        noise._smooth5(v, s0, sp, cnt, c, mean)
        if sp < 0:
            med, mean = med[::-1], mean[::-1]
        outs.append((med[st:st + cnt], mean[st:st + cnt]))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    run = values[st:st + cnt]
    want = [np.sort(run[max(0, j - 4):j + 5])[len(run[max(0, j - 4):j + 5]) // 2]
            for j in range(cnt)]
    np.testing.assert_array_equal(outs[0][0], want)
    inner = [j for j in range(2, cnt - 2) if not code[st + j - 2:st + j + 3].any()]
    for j in range(cnt):
        if j not in inner:
            assert outs[0][1][j] == run[j]
            continue
        total = run[j - 2]  # summed in float32, outward; divided in float64
        for x in run[j - 1:j + 3]:
            total = total + x
        assert outs[0][1][j] == np.float32(float(total) / 5.0)


# ------------------------------------------------------------------ the noise record
def test_the_noise_record_keeps_its_levels_and_nothing_else():
    """The record keeps every ``every``-th row's level, as a plain stride of the whole
    stream gives them, whatever the pieces; and it keeps no piece it was given.  It kept
    a view of each: an array object per block, and through it the whole block of levels it
    was cut from, so a live stream (a block of a row or none every 2.7 ms) grew by some
    180 MB an hour."""
    import weakref

    rng = np.random.default_rng(4)
    stream = rng.standard_normal(5000)
    rec = noise.NoiseRecord(every=7)
    row0, held = 0, []
    for n in rng.integers(0, 40, 400):
        piece = stream[row0:row0 + n].copy()  # an array of its own, as the processor's are
        held.append(weakref.ref(piece))
        rec.add(piece, row0)
        row0 += len(piece)
        del piece
    np.testing.assert_array_equal(rec.levels(), stream[:row0:7])
    assert not [r for r in held if r() is not None]


def test_a_live_stream_of_small_blocks_runs_in_constant_memory():
    """48 kHz I/Q pushed in 128-sample blocks, as `dopplerflow live` pushes them: from
    the 5th to the 30th second the processor and noise stages hold on to no more than the
    noise record's 8 bytes every 16 rows (5,000 rows of a 5 ms hop: 2.5 KB, 5 KB once its
    array has doubled, and a kilobyte for the odd object); before, they kept some 0.5 MB
    of it."""
    import gc
    import tracemalloc

    from dopplerflow.core.processor import Processor
    from dopplerflow.core.settings import settings_from

    fs = 48000
    z = band_noise(30 * fs, fs, 300, 3000, noise_rms=0.01, seed=2)
    x = np.ascontiguousarray(iq(z), np.float32)
    proc = Processor(settings_from(None, {}), fs, 2, keep_trace=False)
    files = ("dopplerflow/core/processor.py", "dopplerflow/core/noise.py")

    def held(snapshot):
        return sum(s.size for s in snapshot.statistics("filename")
                   if s.traceback[0].filename.endswith(files))

    for i in range(0, 5 * fs, 128):
        proc.push(x[i:i + 128])
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for i in range(5 * fs, len(x), 128):
            proc.push(x[i:i + 128])
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    rows = 25 * fs // 240
    assert held(after) - held(before) < 2 * 8 * rows / noise._NOISE_EVERY + 1024


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_mirror_coherence_over_sums_beyond_float32_marks_nothing_and_ends(bad):
    """Sums of squared powers beyond float32's range (samples near 2^40 of full scale) give
    an infinite or NaN correlation: those bins are marked nothing, the others as before,
    and the search ends (a NaN correlation held its loop on one bin for ever)."""
    n, cnt, st = 64, 24, 33
    rng = np.random.default_rng(1)
    means = rng.uniform(1.0, 1.1, (4, n)).astype(np.float32)
    squares = (means.astype(np.float64) ** 2 * 1.5).astype(np.float32)
    mirror = np.array([(n - k) % n if k else -1 for k in range(n)], np.int64)
    # each bin's products with its mirror: uncorrelated, save a run of 6 bins fully so
    cross = (means * means[:, mirror]).astype(np.float32)
    coherent = range(st + 10, st + 16)
    for k in coherent:
        cross[:, k] = squares[:, k]
    def marks(cross):
        line = np.zeros(n, np.int8)
        scratch = np.zeros(3 * cnt)
        noise._mirror_coherent(means, cross, squares, 1.0, mirror, st, 1, cnt, 0.3, 2,
                               scratch, line)
        return line
    clean = marks(cross)
    assert sorted(np.flatnonzero(clean[st:st + cnt] == 3) + st) == list(coherent)
    cross[:, st + 3] = bad
    cross[:, st + 12] = bad  # inside the coherent run: it ends there
    got = marks(cross)
    assert got[st + 3] == 0 and got[st + 12] == 0
    assert sorted(np.flatnonzero(got[st:st + cnt] == 3) + st) == [
        k for k in coherent if k != st + 12]


def test_a_muted_second_leaves_the_level_and_the_peaks_as_they_were():
    """A second of exact zeros (the input muted) in the middle of the simulator's great
    saphenous recording, as floats.  The level, tracked in dB from 20 dB under it, followed
    the wall filter's decay into the silence down to -140 dB and rose from there for 0.8 s
    after it: the noise read as flow at 151 and 153 cm/s both ways, and three tonal lines
    were reported that are not there.  Four estimates in a row 10 dB under set it once, and
    the peaks, lines and refluxes are the recording's own (the peaks within a bin)."""
    from dopplerflow.sim.synth import synthesize, to_layout

    fs = 16000
    syn = synthesize("gsv_squeeze_reflux", sample_rate_hz=fs, seed=0)
    x = np.asarray(to_layout(syn.baseband, "iq", fs), np.float64)
    x = (x * (0.5 / np.abs(x).max())).astype(np.float32)
    kw = dict(sample_rate_hz=fs, vessel="gsv", layout="iq", antegrade="toward")
    clean = df.analyze(x, **kw)
    x[5 * fs:6 * fs] = 0.0
    a = df.analyze(x, **kw)
    bin_cm_s = a.summary.velocity_resolution_cm_s
    for peak in ("peak_antegrade_velocity_cm_s", "peak_retrograde_velocity_cm_s"):
        assert abs(getattr(a.summary, peak) - getattr(clean.summary, peak)) <= bin_cm_s
    assert a.tonal_lines_hz == clean.tonal_lines_hz == []
    hop = a.summary.hop_s
    assert len(a.reflux_events) == len(clean.reflux_events) == 2
    for got, ref in zip(a.reflux_events, clean.reflux_events, strict=True):
        assert abs(got.start_s - ref.start_s) <= hop and abs(got.end_s - ref.end_s) <= hop


@pytest.mark.parametrize("stretch_s, after_s", [(0.5, (6.1, 6.5)), (1.0, (6.5, 7.0))])
def test_the_level_after_a_loud_stretch(stretch_s, after_s):
    """Noise 60 dB over full scale for half a second or a second in the middle of a great
    saphenous recording (a cable pulled, the probe scraped). Such noise over the whole band,
    on both channels alike, is not read (:mod:`~dopplerflow.core.impulses`; read, its first
    frames stood at the band's top both ways, 151 and 153 cm/s). Half a second leaves the
    level as it was: within 1 dB of the level before at 6.1-6.5 s. A second is longer than
    the level's time constant (:data:`~dopplerflow.core.noise.BURST_ADAPT_S`): the rest of
    it is read against its own level, and four estimates in a row 10 dB under that level
    (0.32 s) after it are a fall, which sets the level to their mean: within 1 dB at 6.5-7 s
    (the mean of four estimates, each straying by some 15 %). Either way the second reflux
    is read from its start as in the recording without the stretch (within a hop), and the
    peaks are the recording's own, within a bin."""
    from dopplerflow.sim.synth import synthesize, to_layout

    fs = 16000
    syn = synthesize("gsv_squeeze_reflux", sample_rate_hz=fs, seed=0)
    x = np.asarray(to_layout(syn.baseband, "iq", fs), np.float64)
    x = (x * (0.5 / np.abs(x).max())).astype(np.float32)
    rng = np.random.default_rng(0)
    n = int(stretch_s * fs)
    x[5 * fs:5 * fs + n] = 1e3 * rng.standard_normal((n, 2))
    levels = []
    floor = noise.NoiseFloor.__call__

    def spy(self, power, *args, **kwargs):
        out = floor(self, power, *args, **kwargs)
        levels.append(np.array(out))
        return out

    proc = df.Processor(df.Settings(vessel="gsv", layout="iq", antegrade="toward"), fs, 2)
    try:
        noise.NoiseFloor.__call__ = spy
        proc.push(x)
        a = proc.finish()
    finally:
        noise.NoiseFloor.__call__ = floor
    level = np.concatenate(levels)
    hop = a.summary.hop_s
    before = np.median(level[round(4.0 / hop):round(4.9 / hop)])
    after = np.median(level[round(after_s[0] / hop):round(after_s[1] / hop)])
    assert abs(10 * np.log10(after / before)) < 1.0
    clean = df.analyze(np.asarray(to_layout(syn.baseband, "iq", fs), np.float32),
                       sample_rate_hz=fs, vessel="gsv", layout="iq", antegrade="toward")
    assert len(a.reflux_events) == len(clean.reflux_events) == 2
    got, ref = a.reflux_events[1], clean.reflux_events[1]
    assert abs(got.start_s - ref.start_s) <= hop and abs(got.end_s - ref.end_s) <= hop
    res = a.summary.velocity_resolution_cm_s
    for key in ("peak_antegrade_velocity_cm_s", "peak_retrograde_velocity_cm_s"):
        assert abs(getattr(a.summary, key) - getattr(clean.summary, key)) <= res
    (art,) = a.artefacts
    assert art["kind"] == "broadband" and art["start_s"] < 5.05
    # not read up to the end of the stretch, or for the level's time constant
    assert art["end_s"] == pytest.approx(5.0 + min(stretch_s, noise.BURST_ADAPT_S), abs=0.05)


def _gsv_16bit(quiet=None, gain=0.01, dither=False):
    """The simulator's great saphenous recording (I/Q, 16 kHz; refluxes at 2.36-4.27 s and
    8.36-10.25 s) as a 16-bit device's output, with the stretches ``quiet`` ((start, end) s)
    scaled by ``gain`` (the gain turned down and up) or, ``dither``, left as the device's
    own noise alone (one step of triangular noise: the probe's contact lost)."""
    from dopplerflow.sim.synth import synthesize, to_layout

    fs = 16000
    syn = synthesize("gsv_squeeze_reflux", sample_rate_hz=fs, seed=0)
    x = np.asarray(to_layout(syn.baseband, "iq", fs), np.float64)
    x *= 0.5 / np.abs(x).max()
    rng = np.random.default_rng(4)
    for a, b in quiet or ():
        i0, i1 = int(a * fs), int(b * fs)
        x[i0:i1] *= gain
        if dither:
            x[i0:i1] = (rng.random((i1 - i0, 2)) - rng.random((i1 - i0, 2))) * STEP
    return quantise16(x), fs


def _any_blocks(x, **kw):
    """The analysis of ``x``, checked to be the same whatever the blocks it is read in."""
    ref = None
    for block in (997, 7919, 65536):
        d = df.analyze(x, block_size=block, **kw).to_dict(trace=True)
        assert ref is None or d == ref, f"block size {block} changed the result"
        ref = d
    return df.analyze(x, **kw)


@pytest.mark.parametrize("gain", [0.1, 0.01])
def test_the_level_comes_back_with_the_signal(gain):
    """A second 20 or 40 dB down between the refluxes (the gain turned down and up, 16-bit).
    The level follows it down (a fall); the first frame whose estimate stands within 5 dB of
    the level before the fall takes that level back. Read against the fallen level, the
    recording's own noise coming back stood over the whole band on both channels and was
    not read for half a second (until the level took it). Now every row after the stretch
    is read, the refluxes and the retrograde peak are the recording's own (a hop, a bin),
    the antegrade peak far under the band's top, and the JSON
    names the quiet stretch: from the frame after the last estimate at the level (estimates
    come every 16 frames, 80 ms) to its end, within a hop."""
    clean_x, fs = _gsv_16bit()
    x, _ = _gsv_16bit([(5.0, 6.0)], gain)
    kw = dict(sample_rate_hz=fs, vessel="gsv", layout="iq", antegrade="toward")
    clean = df.analyze(clean_x, **kw)
    a = _any_blocks(x, **kw)
    hop, res = a.summary.hop_s, a.summary.velocity_resolution_cm_s
    (art,) = a.artefacts
    assert art["kind"] == "quiet"
    assert 5.0 - 16 * hop - hop <= art["start_s"] <= 5.0 + hop
    assert art["end_s"] == pytest.approx(6.0, abs=hop)
    t = a.trace
    after = t.time_s > 6.0
    assert np.isfinite(t.antegrade_max_cm_s[after]).all()
    # both peaks are the recording's (the returning noise read over the whole band stood at
    # its top; the stretch's rounding taken into the floor's shape lifted the coloured
    # noise's edge after the return, 34.4 cm/s for 32.1 at 40 dB down)
    for side in ("antegrade", "retrograde"):
        key = f"peak_{side}_velocity_cm_s"
        assert abs(getattr(a.summary, key) - getattr(clean.summary, key)) <= res, side
    assert len(a.reflux_events) == len(clean.reflux_events) == 2
    for got, want in zip(a.reflux_events, clean.reflux_events, strict=True):
        assert abs(got.start_s - want.start_s) <= hop and abs(got.end_s - want.end_s) <= hop
        assert not got.affected_by_gap
    assert "1 quiet stretch(es)" in " ".join(a.warnings)


def test_a_contact_lost_for_longer_than_the_floors_memory_is_named_to_its_end():
    """The contact lost for 4.5 s (4.5-9.0 s, into the second reflux), or from 8 s to the
    end (4 s). After 3 s (the quiet floor's memory) a stretch is the recording's level and
    its frames are tracked, and it was named nowhere: the user saw a reflux starting at
    9.5 s and no word of the contact. Now it is named to the frame where the signal comes
    back (within a hop: the estimate of that frame), or to the end, and the warning says
    so."""
    kw = dict(sample_rate_hz=16000, vessel="gsv", layout="iq", antegrade="toward")
    for lost, end, marked in (((4.5, 9.0), 9.0, [False, True]), ((8.0, 12.0), None, [False])):
        x, fs = _gsv_16bit([lost], dither=True)
        a = df.analyze(x, **kw)
        hop = a.summary.hop_s
        quiet = [(art["start_s"], art["end_s"]) for art in a.artefacts
                 if art["kind"] == "quiet"]
        assert len(quiet) == 1, lost
        start, stop = quiet[0]
        # from the frame after the last estimate at the level (every 16 frames), whose
        # window (two hops) may still have held the signal
        assert lost[0] - 17 * hop <= start <= lost[0] + 2 * hop
        assert stop == pytest.approx(end or a.duration_s, abs=hop)
        (told,) = [w for w in a.warnings if w.startswith("1 quiet stretch(es)")]
        assert ("the last runs to the end" in told) == (end is None)
        # the reflux read from where the signal came back is marked (the second is lost
        # whole when the contact is lost from 8 s on)
        assert [e.affected_by_gap for e in a.reflux_events] == marked


def test_a_contact_lost_for_longer_than_the_floors_memory_is_read_from_its_return():
    """The probe's contact lost for 3.5 s (4.4-7.9 s, the device's own noise alone) or
    4.5 s (4.5-9.0 s, into the second reflux): longer than the floor's memory, the stretch
    is the recording's level and its frames are tracked into the floor's shape. The
    recording's noise coming back was then broadband against that shape and level on both
    channels and not read for half a second: the second reflux, 0.46 s after the first
    return, was read from 8.44 s for 8.36 (and marked), and from 9.54 s after the second.
    Now the level and the shape of before the stretch are put back where the signal comes
    back: every row after the return is read, the second reflux is the recording's own
    (to a hop, not marked) or read from the return (a window, a row's three frames and the
    step's own frame: marked), the peaks the recording's to a bin, whatever the blocks."""
    kw = dict(sample_rate_hz=16000, vessel="gsv", layout="iq", antegrade="toward")
    clean = df.analyze(_gsv_16bit()[0], **kw)
    for lost in ((4.4, 7.9), (4.5, 9.0)):
        x, fs = _gsv_16bit([lost], dither=True)
        a = _any_blocks(x, **kw)
        hop, res = a.summary.hop_s, a.summary.velocity_resolution_cm_s
        assert [art["kind"] for art in a.artefacts] == ["quiet"]
        after = a.trace.time_s > lost[1] + 0.010 + 4 * hop
        assert np.isfinite(a.trace.antegrade_max_cm_s[after]).all(), lost
        first, second = a.reflux_events
        want = clean.reflux_events
        assert abs(first.start_s - want[0].start_s) <= hop and not first.affected_by_gap
        assert abs(second.end_s - want[1].end_s) <= hop
        if lost[1] < want[1].start_s:
            assert abs(second.start_s - want[1].start_s) <= hop and not second.affected_by_gap
        else:
            assert lost[1] <= second.start_s <= lost[1] + 0.010 + 4 * hop
            assert second.affected_by_gap
        if lost[1] < want[1].start_s:  # (the second reflux's peak is lost with its start)
            for side in ("antegrade", "retrograde"):
                key = f"peak_{side}_velocity_cm_s"
                assert abs(getattr(a.summary, key) - getattr(clean.summary, key)) <= res, side


def test_a_mono_recordings_gain_turned_down_for_longer_than_the_floors_memory():
    """The bundled mono artery sample 40 dB down for 3.5 s (1.5-5.0 s): the stretch's own
    shape, in force after the return, read the recording's noise as flow at the band's top
    (102.7 cm/s for the artery's 81.5) and no heart rate was found. With the shape of before
    the stretch put back, no row after the return reaches the band's top, and the peak, the
    heart rate and the clean beats' PSV are the recording's own within the beat stage's 5 %
    (as after a shorter stretch: test_a_mono_recordings_level_comes_back_with_the_signal).
    (The 3 s after the return hold the three clean beats a heart rate needs: the beat before
    the stretch has no next onset seen to end its interval.)"""
    import soundfile as sf

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "samples", "artery_mono.flac")
    x, fs = sf.read(path, dtype="float32", always_2d=True)
    clean = df.analyze(x, sample_rate_hz=fs, layout="mono")
    x[int(1.5 * fs):int(5.0 * fs)] *= 0.01
    a = df.analyze(quantise16(x), sample_rate_hz=fs, layout="mono")
    assert [art["kind"] for art in a.artefacts] == ["quiet"]
    res = a.summary.velocity_resolution_cm_s
    top = a.signal_band_hz[1] * res / a.summary.bin_hz
    after = a.trace.time_s > 5.0
    assert np.nanmax(a.trace.antegrade_max_cm_s[after]) < top - 3 * res
    assert a.heart_rate_bpm is not None
    for got, want in ((a.summary.peak_antegrade_velocity_cm_s,
                       clean.summary.peak_antegrade_velocity_cm_s),
                      (a.heart_rate_bpm, clean.heart_rate_bpm),
                      (a.beats.summary["psv_cm_s"], clean.beats.summary["psv_cm_s"])):
        assert got == pytest.approx(want, rel=0.05)


@pytest.mark.parametrize("off_s", [0.75, 1.5, 2.25, 3.0, 3.75])
def test_a_recording_started_before_the_probe_touched_finds_no_tonal_line(off_s):
    """The recording started ``off_s`` before the probe's contact (the device's own noise
    alone, one step), an alignment with the sub-windows (0.75 s) that five of sixteen
    starts from 0.25 to 4 s had: the noise coming on was broadband, not read for 0.5 s and
    then taken as the level, and the sub-window under way closed with a few frames of it
    over many of the near-silence. Its mean was that of a few frames, whose speckle stood
    like narrow peaks at +f and -f: two to six tonal lines (at +-2.4 to +-6.2 kHz) held at
    once, warned of and left out of the flow for the rest of the recording. Now the
    sub-window starts again at the new level: no line, and the refluxes after the contact
    are the recording's own (to a hop)."""
    kw = dict(sample_rate_hz=16000, vessel="gsv", layout="iq", antegrade="toward")
    clean = df.analyze(_gsv_16bit()[0], **kw)
    x, fs = _gsv_16bit([(0.0, off_s)], dither=True)
    a = df.analyze(x, **kw)
    hop = a.summary.hop_s
    assert a.tonal_lines_hz == [] and not any("tonal line" in w for w in a.warnings)
    # (a reflux under way 0.5 s after the contact is read from then on)
    after = [e for e in clean.reflux_events if e.start_s > off_s + 0.5]
    assert after
    for want in after:
        assert any(abs(got.start_s - want.start_s) <= hop and abs(got.end_s - want.end_s) <= hop
                   for got in a.reflux_events), want


def test_a_contact_lost_over_a_whole_reflux_qualifies_the_no():
    """The probe's contact lost over the whole of the jugular Valsalva's reflux (the
    device's own noise alone, 3.6-7.45 s; the reflux 4.35-6.36 s): the audio holds no trace
    of it and the verdict is no reflux, which said no more than that before. Now every
    wording of the verdict says where a reflux could lie unseen: the quiet stretch, as long
    as it is named in the artefacts."""
    import io

    from common import contact_lost_over_reflux

    from dopplerflow.cli import print_summary
    from dopplerflow.core import verdict

    x, antegrade = contact_lost_over_reflux(fs=8000)
    a = df.analyze(x, sample_rate_hz=8000, layout="iq", vessel="ijv", antegrade=antegrade)
    assert a.reflux is False
    (quiet,) = [art for art in a.artefacts if art["kind"] == "quiet"]
    where = (f"except {quiet['end_s'] - quiet['start_s']:.2f} s unseen (a quiet stretch at "
             f"{quiet['start_s']:.2f}-{quiet['end_s']:.2f} s)")
    out = io.StringIO()
    print_summary(a, file=out)
    assert f"  reflux      no: 0 event(s) longer than 0.88 s, {where}" in out.getvalue()
    assert verdict.headline(a).endswith(where)
    assert verdict.verdict_sentence(a) == ("none", "No reflux: no retrograde flow longer "
                                           f"than 0.88 s, {where}.")
    # and the JSON (and a batch table's cell) say how long, for a reader of many results
    assert a.to_dict()["reflux_unseen_s"] == round(quiet["end_s"] - quiet["start_s"], 4) > 3.5


def test_a_gain_turned_down_60_db_inside_a_reflux_leaves_the_rest_as_it_was():
    """The gain 60 dB down for 0.8 s inside the first reflux (16-bit: the stretch spans a
    few steps). The stretch's frames, tracked into the floor's shape, set it to their
    rounding: after the return the recording's noise read as retrograde flow (152.8 cm/s
    for 20.0) and the first reflux ran on to 6.8 s. Now the stretch is not tracked: the
    first reflux is read from the return (as with the contact lost), the second is the
    recording's own to a hop, and both peaks to a bin."""
    clean_x, fs = _gsv_16bit()
    x, _ = _gsv_16bit([(2.8, 3.6)], 0.001)
    kw = dict(sample_rate_hz=fs, vessel="gsv", layout="iq", antegrade="toward")
    clean, a = df.analyze(clean_x, **kw), df.analyze(x, **kw)
    hop, res = a.summary.hop_s, a.summary.velocity_resolution_cm_s
    assert a.reflux is True
    assert [art["kind"] for art in a.artefacts if art["kind"] == "quiet"] == ["quiet"]
    first, second = a.reflux_events
    assert 3.6 <= first.start_s <= 3.6 + 0.010 + 4 * hop and first.affected_by_gap
    assert abs(first.end_s - clean.reflux_events[0].end_s) <= hop
    want = clean.reflux_events[1]
    assert abs(second.start_s - want.start_s) <= hop and abs(second.end_s - want.end_s) <= hop
    for side in ("antegrade", "retrograde"):
        key = f"peak_{side}_velocity_cm_s"
        assert abs(getattr(a.summary, key) - getattr(clean.summary, key)) <= res, side


def test_a_mono_recordings_level_comes_back_with_the_signal():
    """The same in the bundled mono artery sample, 40 dB down for a second: read against
    the fallen level, the returning noise stood at the band's top (103 cm/s against the
    artery's 81.5) for 0.2 s, and the summary's peak with it. Now no row after the return
    reaches the band's top, and the peak, the heart rate and the clean beats' PSV are the
    recording's own within the beat stage's 5 % (a pulsatile mono recording's level swings
    by 3 dB over a beat; the level taken back is the one of before the fall, not the one
    the recording without the stretch has at the return)."""
    import soundfile as sf

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "samples", "artery_mono.flac")
    x, fs = sf.read(path, dtype="float32", always_2d=True)
    clean = df.analyze(x, sample_rate_hz=fs, layout="mono")
    x[3 * fs:4 * fs] *= 0.01
    x = quantise16(x)
    a = df.analyze(x, sample_rate_hz=fs, layout="mono")
    res = a.summary.velocity_resolution_cm_s
    assert [art["kind"] for art in a.artefacts] == ["quiet"]
    top = a.signal_band_hz[1] * a.summary.velocity_resolution_cm_s / a.summary.bin_hz
    after = (a.trace.time_s > 4.0) & (a.trace.time_s < 4.5)
    assert np.nanmax(a.trace.antegrade_max_cm_s[after]) < top - 3 * res
    for got, want in ((a.summary.peak_antegrade_velocity_cm_s,
                       clean.summary.peak_antegrade_velocity_cm_s),
                      (a.heart_rate_bpm, clean.heart_rate_bpm),
                      (a.beats.summary["psv_cm_s"], clean.beats.summary["psv_cm_s"])):
        assert got == pytest.approx(want, rel=0.05)


def test_contact_lost_inside_a_reflux_is_no_verdict_of_no_reflux():
    """The probe's contact lost for 0.8 s inside each reflux (the device's own noise
    alone, 2.8-3.6 s and 8.8-9.6 s). No part of either is as long as a femoral vein's 1 s:
    the verdict was "no reflux", and the half second after each return was not read (the
    noise coming back, broadband against the fallen level). Now the return is read at
    once, each quiet stretch is named, the parts beside them are marked affected_by_gap,
    and since the recording does not say how long the flow ran back, reflux is not
    assessable. For a great saphenous vein (0.5 s) the parts after the returns are reflux
    events on their own, marked too, and the peaks are the recording's: the device's
    white noise, taken into the floor's shape, read the recording's coloured noise as
    antegrade flow for 170 ms after the first return (37.8 cm/s for 32.1)."""
    x, fs = _gsv_16bit([(2.8, 3.6), (8.8, 9.6)], dither=True)
    kw = dict(sample_rate_hz=fs, layout="iq", antegrade="toward")
    fem = df.analyze(x, vessel="femoral", **kw)
    assert [art["kind"] for art in fem.artefacts] == ["quiet", "quiet"]
    assert fem.reflux is None and "quiet stretch" in fem.reflux_not_assessable
    assert not fem.reflux_events and all(e.affected_by_gap for e in fem.episodes)
    gsv = df.analyze(x, vessel="gsv", **kw)
    hop = gsv.summary.hop_s
    assert gsv.reflux is True
    assert [(round(e.end_s, 2), e.affected_by_gap) for e in gsv.reflux_events] == \
        [(4.27, True), (10.25, True)]
    for e, back in zip(gsv.reflux_events, (3.6, 9.6), strict=True):
        # read from the return: the window (10 ms), a row's three frames and the step's
        # own frame, replaced as an impulse's
        assert back <= e.start_s <= back + 0.010 + 4 * hop
    clean = df.analyze(_gsv_16bit()[0], vessel="gsv", **kw)
    res = gsv.summary.velocity_resolution_cm_s
    for side in ("antegrade", "retrograde"):
        key = f"peak_{side}_velocity_cm_s"
        assert abs(getattr(gsv.summary, key) - getattr(clean.summary, key)) <= res, side


def test_a_quiet_16_bit_recording_is_no_quiet_stretch(tmp_path):
    """A mono carotid (16 kHz, 30 dB over its noise) written as 16-bit: its noise, about 3
    steps rms, lies some 20 dB over the quantisation's, so that the warm-up took most of
    the band for near digital silence for a few frames, and the level's first estimates,
    of the four lowest bins left (the flow's), stood 2,000 times over the noise's. Their
    mean was the level: every frame after it fell 10 dB under, one quiet stretch from
    0.57 s to the end (the probe's contact lost?, the warning said). Now a band of fewer
    noise bins than an estimate needs gives none: no quiet stretch, and the simulator's
    heart rate within the beat stage's 1 bpm."""
    import soundfile as sf

    from benchmarks.beats import beat_times, pulsatile

    fs = 16000
    starts = beat_times(75, 12.0, hrv=0.03, seed=0)
    audio, truth = pulsatile(starts, 12.0, waveform="carotid", psv_cm_s=40.0, snr_db=30.0,
                             sample_rate_hz=fs, layout="mono", seed=0)
    x = 0.7 * audio[:, 0] / np.abs(audio[:, 0]).max()
    sf.write(tmp_path / "carotid.wav", x.astype(np.float32), fs, subtype="PCM_16")
    a = df.analyze(tmp_path / "carotid.wav", layout="mono")
    assert a.artefacts is None and not any("quiet stretch" in w for w in a.warnings)
    assert a.heart_rate_bpm == pytest.approx(truth["heart_rate_bpm"], abs=1.0)


@pytest.mark.parametrize("louder", [0, 1])
def test_a_toward_away_pair_with_gains_12_db_apart_reads_as_it_does_balanced(louder):
    """The bundled great saphenous vein (toward/away, 8 kHz) recorded on two inputs
    whose gains are 12 dB apart: with the away channel the louder, its noise stood 16
    times over the warm-up's cap (the band's quiet quarter, the toward side's) and read
    as retrograde flow at the band's top from the first frame, a third reflux of 0.74 s
    at 70 cm/s before the two true ones. Each side is now capped at its own quiet
    quarter: the same two events, either channel the louder: their onsets (the flow
    reverses within 40 ms) within two hops, their ends within the time the truth's last
    ramp back to zero (4.65 cm/s in 0.15 s) takes to cross one bin's velocity (a floor a
    bin apart)."""
    import soundfile as sf

    path = os.path.join(os.path.dirname(__file__), "..", "samples",
                        "gsv_reflux_toward_away.flac")
    x, fs = sf.read(path)
    quieter = x.copy()
    quieter[:, 1 - louder] *= 10.0 ** (-12.0 / 20.0)
    kw = dict(sample_rate_hz=fs, layout="toward-away", vessel="gsv", antegrade="toward")
    balanced = df.analyze(x, **kw)
    apart = df.analyze(quieter, **kw)
    assert len(balanced.reflux_events) == len(apart.reflux_events) == 2
    hop = balanced.summary.hop_s
    ramp_s = balanced.summary.velocity_resolution_cm_s / (4.65 / 0.15)
    for a, b in zip(apart.reflux_events, balanced.reflux_events, strict=True):
        assert a.start_s == pytest.approx(b.start_s, abs=2 * hop)
        assert a.end_s == pytest.approx(b.end_s, abs=ramp_s)
    assert apart.summary.peak_retrograde_velocity_cm_s < 25.0  # the truth's 19.3 cm/s


def test_no_flow_on_a_toward_away_pair_with_gains_12_db_apart_is_no_flow(tmp_path):
    """Wall echoes and noise only, written by the simulator with the away channel 12 dB
    over the toward channel: its noise read as flow away (in each of the degraded
    table's five seeds); now no flow."""
    from dopplerflow.sim.degrade import Degradations
    from dopplerflow.sim.synth import write_scenario

    for seed in range(3):
        path = tmp_path / f"no_flow_{seed}.wav"
        write_scenario("no_flow", path, layout="toward-away", sample_rate_hz=FS,
                       duration_s=4.0, seed=seed, snr_db=12.0,
                       degradations=Degradations(channel_gain_db=12.0))
        a = df.analyze(path, layout="toward-away", antegrade="toward")
        assert a.flow_detected is False, seed
