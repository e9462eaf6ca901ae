"""The benchmark suite works: its smallest pieces run and measure what they claim.

No speed goal is asserted here (timings depend on the machine); these tests
prove that the baseline is the same pipeline, that the FFT bound counts the
frames ``analyze`` computes, that the helpers write and measure real files and
processes, and that the report marks goals that are not met.
"""

import json
import math
import os

import numpy as np
import pytest
import scipy.fft

import dopplerflow
from benchmarks import __main__ as bench_main
from benchmarks import (
    accuracy,
    baseline,
    beat_ceiling,
    fft_bound,
    hum,
    iq_test_signal,
    peers,
    scaling,
    second_vessel,
    throughput,
)
from dopplerflow.sim.scenarios import list_scenarios

FS = 8000
HOP_S = 0.005


def _tone(freq_hz, duration_s, fs=FS, snr_db=30.0, seed=0):
    """I/Q tone (amplitude 0.5) in complex white noise, (n, 2) float32."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * fs)
    t = np.arange(n) / fs
    sigma = 0.5 * 10 ** (-snr_db / 20) / math.sqrt(2)
    z = 0.5 * np.exp(2j * np.pi * freq_hz * t) + sigma * (rng.standard_normal(n)
                                                           + 1j * rng.standard_normal(n))
    return np.stack((z.real, z.imag), axis=1).astype(np.float32)


def test_fft_bound_counts_the_frames_analyze_computes():
    x = _tone(700.0, 1.0)
    run, info = fft_bound.fft_runner(1.0, FS)
    result = dopplerflow.analyze(x, sample_rate_hz=FS)
    assert info["n_frames"] == len(result.trace)
    assert info["n_fft"] == len(result.freqs_hz)
    run()  # runs in place without error


def test_baseline_uses_the_same_frames_and_signs():
    # 1 s toward the probe, then 1 s away: antegrade (toward) then retrograde
    x = np.concatenate((_tone(700.0, 1.0), _tone(-700.0, 1.0, seed=1)))
    b = baseline.baseline_analyze(x, FS, threshold_s=0.5, antegrade="toward")
    a = dopplerflow.analyze(x, sample_rate_hz=FS, antegrade="toward", reflux_threshold_s=0.5)
    np.testing.assert_allclose(b["time_s"], a.trace.time_s, atol=1e-9)
    scale = a.velocity_per_hz_cm_s
    bin_hz = FS / len(a.freqs_hz)
    v = b["velocity_cm_s"]
    t = b["time_s"]
    ante = (t > 0.1) & (t < 0.9)
    retro = (t > 1.1) & (t < 1.9)
    # an on-bin tone under a Hann window leaks into the two neighbouring bins only:
    # the highest bin above threshold lies within one bin of the tone
    assert np.all(np.abs(v[ante] - 700.0 * scale) <= bin_hz * scale + 1e-9)
    assert np.all(np.abs(v[retro] + 700.0 * scale) <= bin_hz * scale + 1e-9)
    # one reflux event, edges within the 3-frame average's reach (2 hops) of the flip at 1 s
    assert len(b["reflux_events"]) == 1
    ev = b["reflux_events"][0]
    assert abs(ev["start_s"] - 1.0) <= 2 * HOP_S + 0.5 * 0.010
    assert ev["end_s"] >= 1.9


def test_ceiling_tracker_places_beats_on_the_pulses_between_distractors():
    # pulses every 0.8 s with 3 % jitter, a weaker knock midway in every other cycle and
    # noise: given the period, the tracker takes the pulses and never the knocks
    rng = np.random.default_rng(1)
    step = beat_ceiling.STEP_S
    pulses = np.cumsum(0.8 * (1 + 0.03 * rng.standard_normal(20))) + 0.5
    t = np.arange(int((pulses[-1] + 0.5) / step)) * step
    sig = 0.3 * rng.standard_normal(len(t))
    for k, p in enumerate(pulses):
        sig += 3.0 * np.exp(-0.5 * ((t - p) / 0.02) ** 2)
        if k % 2:
            sig += 1.5 * np.exp(-0.5 * ((t - p + 0.4) / 0.02) ** 2)
    beats = beat_ceiling.track(sig, 0.8)
    # (before the first pulse the chain may go on a period back, as the benchmark's span
    # leaves out: it scores the marked stretch only)
    beats = beats[(beats > pulses[0] - 0.4) & (beats < pulses[-1] + 0.4)]
    assert len(beats) == len(pulses)
    # each within its pulse (sigma 20 ms): the interval penalty may pull it off the crest
    assert np.max(np.abs(beats - pulses)) <= 0.02


def test_fixed_threshold_trace_follows_a_tone():
    x = _tone(-900.0, 1.0)
    a = dopplerflow.analyze(x, sample_rate_hz=FS, antegrade="toward", keep_spectrogram=True)
    bin_hz = FS / len(a.freqs_hz)
    for method in accuracy.FIXED_METHODS:
        t, v = accuracy.fixed_threshold_trace(a, method)
        mid = (t > 0.1) & (t < 0.9)
        # away from the probe with antegrade 'toward': negative; -20 dB of a Hann main
        # lobe reaches at most 2 bins from the tone (the first zero of the window)
        assert np.all(v[mid] < 0)
        assert np.all(np.abs(-v[mid] / a.velocity_per_hz_cm_s - 900.0) <= 2 * bin_hz)


def test_accuracy_rows_cover_every_estimator():
    rows = accuracy.measure(("gsv_squeeze_reflux",), (20.0,), (0,))
    assert {r["method"] for r in rows} == set(accuracy.METHODS + accuracy.FIXED_METHODS)
    summary = accuracy.summarize(rows)
    thr = next(s for s in summary if s["method"] == "threshold")
    assert thr["sensitivity"] is not None and 0.0 <= thr["sensitivity"] <= 1.0
    assert thr["rms_pct"] is not None and thr["rms_pct"] >= 0.0


def test_second_vessel_sweep_counts_verdicts(tmp_path):
    """A carotid 6 dB quieter than the vein is separated and the reflux timed; one 6 dB
    louder leaves the reflux not assessable."""
    rows = second_vessel.sweep(powers_db=(-6.0, 6.0), snrs_db=(20.0,), seeds=(0,),
                               layouts=("iq",))
    quiet, loud = rows
    assert (quiet["n"], quiet["right"], quiet["wrong"], quiet["not_assessable"]) == (1, 1, 0, 0)
    assert quiet["onset_ms"] < 30 and quiet["end_ms"] < 30
    assert (loud["right"], loud["wrong"], loud["not_assessable"]) == (0, 0, 1)
    assert loud["onset_ms"] is None and loud["peak_pct"] is None
    table = second_vessel.format_table(rows)
    assert "| +6 dB | 20 dB | 1 | 0 | 0 | 1 | - | - | - |" in table


def test_hum_sweep_and_search_cost():
    """-30 dBFS of hum spoils a jugular reflux that --hum gives back; the search for hum
    is switched back on after it is timed without."""
    (row,) = hum.sweep(levels=(-30.0,), scenarios=("jugular_valsalva",), seeds=(0,))
    assert row["n"] == 1 and row["clean"]["right"] == 1
    assert row["off"]["right"] == 0 and row["on"]["right"] == 1
    # the onset timed as without hum, within the two hops a step in flow spreads over; the
    # end may read later by up to the notches' time constant: once the reflux stops, what
    # of it their amplitudes took in rings out over it
    assert abs(row["on"]["onset_ms"] - row["clean"]["onset_ms"]) <= 10
    assert row["clean"]["end_ms"] - 10 <= row["on"]["end_ms"] <= row["clean"]["end_ms"] + 100
    cost = hum.search_cost(duration_s=3.0, sample_rate_hz=FS, repeats=1)
    assert cost["with_ms"] > 0 and cost["without_ms"] > 0
    speed = hum.timing(rates_hz=(FS,), duration_s=3.0, repeats=1)
    table = hum.format_tables([row], speed)
    assert "| -30 dBFS | 1 | 1 | 0 | 1 |" in table and "| 8 kHz | 72 |" in table
    det = hum.detection(snrs_db=(12.0,), seeds=(0,), layouts=("iq",), levels=(-50.0,))
    n = len(list_scenarios())  # one recording of each scenario
    assert det["n"] == n and det["false"] == 0
    assert det["found"] == {(-50.0, 50.0): n, (-50.0, 60.0): n}


def test_stage_breakdown_restores_what_it_wraps():
    fft = scipy.fft.fft
    envelopes = dopplerflow.core.processor.envelopes
    out = throughput.stage_breakdown(0.5, FS, repeat=1)
    assert scipy.fft.fft is fft
    assert dopplerflow.core.processor.envelopes is envelopes
    names = {s["stage"] for s in out["stages"]}
    assert {"wall filter", "FFT (scipy.fft)", "envelopes"} <= names
    assert all(s["ns_per_frame"] >= 0 for s in out["stages"])


def test_throughput_measure_runs_every_candidate(tmp_path):
    r = throughput.measure(0.5, FS, repeat=1, tmpdir=tmp_path)
    from dopplerflow.core.media import available

    files = ("analyze_wav", "analyze_flac") + (("analyze_m4a",) if available() else ())
    for name in ("analyze_memory", *files, "baseline", "fft_bound"):
        assert r[name]["median_s"] > 0 and math.isfinite(r[name]["x_realtime"])
    assert not os.listdir(tmp_path)  # the temporary audio files are gone


def test_long_file_writer_and_analyze_process(tmp_path):
    path = tmp_path / "rec.wav"
    n = scaling.write_long_wav(path, 1.5, FS, chunk_s=0.4)
    import soundfile

    info = soundfile.info(str(path))
    assert n == info.frames == int(1.5 * FS) and info.channels == 2
    r = scaling.run_analyze_process(path, tmp_path / "out.json")
    assert r["returncode"] == 0, r["stderr"]
    assert r["peak_rss_mb"] > 10
    with open(tmp_path / "out.json") as fh:
        assert json.load(fh)["duration_s"] == pytest.approx(1.5)


def test_live_growth_reads_the_memory_of_a_streaming_process():
    """One minute pushed in 1024-sample blocks after one to settle: two resident sizes of
    a real process, and the growth per hour between them."""
    r = scaling.live_growth(minutes=1, block=1024, settle=1)
    assert r["rss_start_mb"] > 10 and r["rss_end_mb"] > 10
    assert r["rss_growth_mb_per_hour"] == pytest.approx(60 * (r["rss_end_mb"]
                                                              - r["rss_start_mb"]))


def test_test_signal_tiles_the_scenario():
    x = iq_test_signal(30.0, FS)
    assert x.shape == (30 * FS, 2) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:FS], x[12 * FS:13 * FS])  # the scenario lasts 12 s


def _fake_results():
    goal = {"goal": 2000.0, "value": 600.0, "met": False}
    cand = {"median_s": 0.1, "min_s": 0.09, "x_realtime": 600.0, "ns_per_frame": 8000.0}
    head = {"label": "48 kHz", "n_fft": 480, "analyze_memory": cand, "fft_bound": cand,
            "baseline": cand, "vs_baseline": 1.0, "pct_of_fft_bound": 100.0,
            "goals": {"x_realtime": goal, "vs_baseline": dict(goal, value=1.0, goal=20.0),
                      "pct_of_fft_bound": dict(goal, value=100.0, goal=55.0, met=True)}}
    return {"mode": "quick", "date_utc": "2026-01-01 00:00:00", "elapsed_s": 1.0,
            "machine": {"cpu": "cpu", "cpu_count": 2, "python": "3.11", "versions": {},
                        "load_average": [0.0, 0.0, 0.0]},
            "sections": {"throughput": {"headline": head, "configs": [head]},
                         "coldstart": {"error": "RuntimeError: boom"}}}


def test_markdown_marks_goals_not_met(tmp_path):
    path = tmp_path / "r.md"
    bench_main.write_markdown(_fake_results(), path)
    text = path.read_text()
    row = next(line for line in text.splitlines() if "in memory" in line)
    assert row.rstrip().endswith("**no** |")
    row = next(line for line in text.splitlines() if "FFT bound (same run)" in line)
    assert row.rstrip().endswith("yes |")
    assert "coldstart: failed (RuntimeError: boom)" in text


# ------------------------------------------------------------------------------ the command
def _bench(out, *argv, numba_threads=None, cache=None):
    """``dopplerflow bench --quick ARGV`` writing to ``out``, in a child process with
    ``NUMBA_NUM_THREADS`` unset or set to ``numba_threads`` and numba's cache in ``cache``
    (default: its own); the completed process."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NUMBA_NUM_THREADS"}
    if numba_threads is not None:
        env["NUMBA_NUM_THREADS"] = str(numba_threads)
    if cache is not None:
        env["NUMBA_CACHE_DIR"] = str(cache)
    return subprocess.run([sys.executable, "-m", "dopplerflow", "bench", "--quick",
                           "--no-plots", "--out", str(out), *argv],
                          capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def numba_cache(tmp_path_factory):
    """A numba cache that starts empty: the first bench run below compiles into it."""
    return tmp_path_factory.mktemp("numba_cache")


@pytest.mark.parametrize("numba_threads", [None, 1])
def test_bench_latency_runs_whatever_numba_is_told(tmp_path, numba_cache, numba_threads):
    """The suite binds itself to one CPU after ``dopplerflow bench`` has imported numba.

    numba reads ``NUMBA_NUM_THREADS`` (unset: the CPUs the process may use) each time it
    compiles and refuses a value other than its thread pool's, which made the latency
    section fail on its first compile on a 2-core machine.  The first run here starts
    with an empty cache, so it compiles after the binding.
    """
    res = _bench(tmp_path, "--only", "latency", numba_threads=numba_threads,
                 cache=numba_cache)
    assert res.returncode == 0, res.stderr
    assert "FAILED" not in res.stderr
    with open(tmp_path / "quick.json") as fh:
        latency = json.load(fh)["sections"]["latency"]
    assert "error" not in latency and len(latency["rows"]) == 4


def test_bench_failed_section_exits_non_zero_and_names_it(tmp_path):
    """A section that fails (here: its temporary files cannot be made in a folder that
    does not exist) leaves the results of the run and a one-line summary, and exit 1."""
    res = _bench(tmp_path, "--only", "coldstart", "--tmpdir", str(tmp_path / "missing"))
    assert res.returncode == 1
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("benchmarks: error: benchmark section coldstart failed (")
    assert "FileNotFoundError" in last
    with open(tmp_path / "quick.json") as fh:
        assert "error" in json.load(fh)["sections"]["coldstart"]


def test_failure_line_names_every_failed_section():
    res = _fake_results()
    assert bench_main.failure_line(res) == ("benchmark section coldstart failed "
                                            "(RuntimeError: boom)")
    res["sections"]["latency"] = {"error": "ValueError: bad\nmore"}
    assert bench_main.failure_line(res) == ("2 benchmark sections failed: coldstart, latency "
                                            "(coldstart: RuntimeError: boom)")
    del res["sections"]["coldstart"], res["sections"]["latency"]
    assert bench_main.failure_line(res) is None


def _pulsed_noise(rate_bpm, duration_s, fs, seed=0):
    """Noise whose amplitude pulses at ``rate_bpm`` (a 30 ms Gaussian burst a cycle over a
    fifth of its level between): the rectified audio a Doppler gives of a beating heart."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * fs)) / fs
    phase = np.mod(t, 60.0 / rate_bpm)
    return (0.2 + np.exp(-0.5 * ((phase - 0.1) / 0.03) ** 2)) * rng.standard_normal(len(t))


def test_stac_reads_the_rate_of_a_pulsed_noise():
    """The period is the only autocorrelation peak in STAC's lag search (0.32-1.2 s) at
    72/min; 1 % is a tenth of the peak's width."""
    x = _pulsed_noise(72.0, 12.0, 8000)
    assert peers.stac_heart_rate(x, 8000) == pytest.approx(72.0, rel=0.01)
    rates = peers.stac_window_rates(x, 8000)
    assert len(rates) == 10 and np.all(np.isfinite(rates))


def test_valderrama_takes_the_first_peak_of_a_harmonic_pair():
    """At 150/min the search (0.287-0.839 s) holds the period and its double; the second
    lies at twice the first's lag, so the first is taken (the paper's harmonic rule)."""
    x = _pulsed_noise(150.0, 3.75, 11025)
    assert peers.fetal_autocorrelation_heart_rate(x, 11025) == pytest.approx(150.0, rel=0.01)


def test_spike_removal_takes_out_a_spike_and_leaves_the_rest():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(4000 * 4)
    x[5000] = 60.0  # in the third half-second frame
    y = peers.despike(x, 4000)
    frames = np.abs(y.reshape(8, 2000)).max(axis=1)
    assert frames.max() <= 3 * np.median(frames)
    assert abs(y[5000]) < 1.0
    changed = np.flatnonzero(y != x)
    assert changed.min() >= 4000 and changed.max() < 6000  # only the spike's frame
    np.testing.assert_array_equal(y[:4000], x[:4000])
