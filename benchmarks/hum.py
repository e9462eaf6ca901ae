"""Mains hum: what it does to an analysis, and what ``--hum`` gives back, at what cost.

``python -m benchmarks.hum [--quick]`` writes reflux scenarios with mains hum
added as a ground loop adds it (``dopplerflow simulate --hum-dbfs``: harmonics
with 1/k amplitudes up to 45 % of the sample rate, the frequency wandering by
+-0.03 Hz), from -60 to -20 dBFS, analyses each with and without ``--hum`` and
the same recording without hum, and scores all three against the truth
(recordings classified right, median onset and end error of the refluxes
found).  It then times ``analyze`` with and without ``--hum`` at 8, 16 and 48
kHz, and with and without the search for hum that runs when ``--hum`` is not
given, and counts how often that search warns with and without hum.  The
tables go to ``benchmarks/results/hum.md`` (``--quick``: ``hum_quick.md``).
"""

import os
import tempfile
import time

import numpy as np

from . import pin_single_core, sweep_arguments, write_sweep

__all__ = ["LEVELS_DBFS", "SCENARIOS", "sweep", "timing", "search_cost", "detection",
           "format_tables", "main"]

LEVELS_DBFS = (-60.0, -50.0, -40.0, -30.0, -20.0)
#: Scenarios with reflux, and the antegrade direction and vessel they are analysed with.
SCENARIOS = ("jugular_valsalva", "vertebral_repeated", "gsv_squeeze_reflux",
             "femoral_reflux", "perforator_reflux")
SEEDS = (0, 1, 2)
SAMPLE_RATE_HZ = 16000


def _scored(path, truth, **kw):
    from dopplerflow import analyze
    from dopplerflow.sim.score import score

    a = analyze(path, layout="iq", vessel=truth["vessel"], antegrade=truth["antegrade"], **kw)
    return score(a.to_dict(trace=True), truth)


def sweep(levels=LEVELS_DBFS, scenarios=SCENARIOS, seeds=SEEDS, mains_hz=50.0):
    """Score every scenario, seed and hum level; return one row per level.

    Returns
    -------
    list of dict
        ``level_dbfs``, ``n``, and for ``clean`` (no hum), ``off`` (hum, not
        removed) and ``on`` (``--hum``): ``right`` (recordings classified right)
        and ``onset_ms``, ``end_ms`` (median absolute errors of the matched
        refluxes; None if none matched).
    """
    from dopplerflow.sim.synth import write_scenario

    acc = {lv: {m: {"right": 0, "onset": [], "end": []} for m in ("clean", "off", "on")}
           for lv in levels}
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in scenarios:
            for seed in seeds:
                clean_path = os.path.join(tmp, f"{name}_{seed}.flac")
                truth = write_scenario(name, clean_path, seed=seed,
                                       sample_rate_hz=SAMPLE_RATE_HZ)
                clean = _scored(clean_path, truth)
                n += 1
                for lv in levels:
                    path = os.path.join(tmp, f"{name}_{seed}_{lv:g}.flac")
                    write_scenario(name, path, seed=seed, sample_rate_hz=SAMPLE_RATE_HZ,
                                   hum_dbfs=lv, mains_hz=mains_hz)
                    for mode, s in (("clean", clean), ("off", _scored(path, truth)),
                                    ("on", _scored(path, truth, hum_hz=mains_hz))):
                        a = acc[lv][mode]
                        a["right"] += s["recording_correct"] is True
                        a["onset"] += [abs(m["onset_error_s"]) for m in s["matches"]]
                        a["end"] += [abs(m["end_error_s"]) for m in s["matches"]]
    rows = []
    for lv in levels:
        row = {"level_dbfs": lv, "n": n}
        for mode, a in acc[lv].items():
            row[mode] = {"right": a["right"],
                         "onset_ms": 1e3 * float(np.median(a["onset"])) if a["onset"] else None,
                         "end_ms": 1e3 * float(np.median(a["end"])) if a["end"] else None}
        rows.append(row)
    return rows


def timing(rates_hz=(8000, 16000, 48000), duration_s=30.0, repeats=5):
    """Real-time factor of ``analyze`` on an I/Q recording, without and with ``--hum 50``.

    The two run interleaved in one process (:func:`benchmarks.interleaved`).

    Returns
    -------
    list of dict
        ``sample_rate_hz``, ``harmonics``, ``off_x`` and ``on_x`` (seconds of
        audio per second of analysis, medians of ``repeats``).
    """
    from dopplerflow import analyze
    from dopplerflow.core.hum import harmonics_below

    from . import interleaved, iq_test_signal

    rows = []
    for fs in rates_hz:
        x = iq_test_signal(duration_s, fs)
        stats = interleaved({
            "off": lambda x=x, fs=fs: analyze(x, sample_rate_hz=fs, layout="iq",
                                              keep_trace=False),
            "on": lambda x=x, fs=fs: analyze(x, sample_rate_hz=fs, layout="iq", keep_trace=False,
                                             hum_hz=50.0)}, repeat=repeats)
        rows.append({"sample_rate_hz": fs, "harmonics": harmonics_below(50.0, fs),
                     "off_x": duration_s / stats["off"]["median_s"],
                     "on_x": duration_s / stats["on"]["median_s"]})
    return rows


def search_cost(duration_s=60.0, sample_rate_hz=48000, repeats=7):
    """Time of ``analyze`` with and without the search for hum in its first seconds.

    The two run interleaved in one process (the search switched off with the
    processor's ``hum_probe_s=0``).

    Returns
    -------
    dict
        ``with_ms``, ``without_ms``: medians of ``repeats``.
    """
    from dopplerflow import Processor, Settings
    from dopplerflow.core.driver import array_blocks, feed
    from dopplerflow.core.hum import PROBE_S

    from . import interleaved, iq_test_signal

    fs = sample_rate_hz
    x = iq_test_signal(duration_s, fs)

    def run(seconds):
        # what analyze(x, sample_rate_hz=fs) does, with the search's length chosen
        proc = Processor(Settings(), fs, x.shape[1], hum_probe_s=seconds)
        feed(proc, array_blocks(x, 65536))
        proc.finish()

    stats = interleaved({"with_ms": lambda: run(PROBE_S), "without_ms": lambda: run(0.0)},
                        repeat=repeats)
    return {k: 1e3 * v["median_s"] for k, v in stats.items()}


def detection(snrs_db=(30.0, 12.0, 3.0), seeds=(0, 1), layouts=("iq", "toward-away", "mono"),
              levels=(-50.0, -60.0), sample_rate_hz=SAMPLE_RATE_HZ):
    """How often the search for hum warns: on every scenario without hum, and with 50 and
    60 Hz hum at each level (2.5 s, what an analysis searches).

    Returns
    -------
    dict
        ``n`` (recordings per case), ``false`` (warnings without hum) and, per
        ``(level, mains)``, the recordings whose hum was found at its frequency.
    """
    from dopplerflow.core.hum import PROBE_S as _HUM_PROBE_S
    from dopplerflow.core.hum import detect_hum
    from dopplerflow.sim.evaluate import quantise
    from dopplerflow.sim.scenarios import list_scenarios
    from dopplerflow.sim.synth import mains_hum, synthesize, to_layout

    fs = sample_rate_hz
    out = {"n": 0, "false": 0, "found": {(lv, m): 0 for lv in levels for m in (50.0, 60.0)}}
    for name, _ in list_scenarios():
        for snr in snrs_db:
            for seed in seeds:
                syn = synthesize(name, sample_rate_hz=fs, snr_db=snr, seed=seed,
                                 duration_s=_HUM_PROBE_S)
                for layout in layouts:
                    a = quantise(to_layout(syn.baseband, layout, fs))
                    out["n"] += 1
                    out["false"] += detect_hum(a, fs) is not None
                    for (lv, mains) in out["found"]:
                        h = mains_hum(len(a), fs, a.shape[1], 10 ** (lv / 20), mains_hz=mains,
                                      seed=seed)
                        got = detect_hum(a + h, fs)
                        out["found"][(lv, mains)] += got is not None and got["mains_hz"] == mains
    return out


def format_tables(rows, speed):
    """The sweep and the timing as markdown tables."""
    def f(v):
        return "-" if v is None else f"{v:.0f}"

    out = ["| hum | recordings | right: no hum | right: hum | right: hum, `--hum` "
           "| onset / end ms: no hum | onset / end ms: hum, `--hum` |",
           "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        c, o, h = r["clean"], r["off"], r["on"]
        out.append(f"| {r['level_dbfs']:g} dBFS | {r['n']} | {c['right']} | {o['right']} | "
                   f"{h['right']} | {f(c['onset_ms'])} / {f(c['end_ms'])} | "
                   f"{f(h['onset_ms'])} / {f(h['end_ms'])} |")
    out += ["", "| sample rate | harmonics removed | `analyze` | `analyze --hum 50` |",
            "|---:|---:|---:|---:|"]
    for s in speed:
        out.append(f"| {s['sample_rate_hz'] / 1000:g} kHz | {s['harmonics']} | "
                   f"{s['off_x']:,.0f}x real time | {s['on_x']:,.0f}x |")
    return "\n".join(out)


def main(argv=None):
    """Run the sweep and the timing, write the tables; return the exit code."""
    args = sweep_arguments("python -m benchmarks.hum", __doc__,
                           "two levels, two scenarios, one seed, one sample rate").parse_args(argv)
    pin_single_core()
    from dopplerflow.sim.scenarios import list_scenarios

    t0 = time.perf_counter()
    scenarios, seeds = (SCENARIOS[:2], (0,)) if args.quick else (SCENARIOS, SEEDS)
    duration_s, repeats = (10.0, 3) if args.quick else (30.0, 5)
    rows = sweep(levels=(-50.0, -30.0) if args.quick else LEVELS_DBFS, scenarios=scenarios,
                 seeds=seeds)
    speed = timing(rates_hz=(16000,) if args.quick else (8000, 16000, 48000),
                   duration_s=duration_s, repeats=repeats)
    cost = search_cost(repeats=3 if args.quick else 7)
    det = detection(snrs_db=(12.0,), seeds=(0,), layouts=("iq",)) if args.quick else detection()
    took = time.perf_counter() - t0
    text = (f"# Mains hum (`python -m benchmarks.hum{' --quick' if args.quick else ''}`)\n\n"
            f"Reflux scenarios ({', '.join(f'`{s}`' for s in scenarios)}; seeds "
            f"{', '.join(map(str, seeds))}) written at {SAMPLE_RATE_HZ / 1000:g} kHz with 50 Hz "
            f"hum added (`simulate --hum-dbfs`), analysed without and with `--hum 50`, and the "
            f"same recordings without hum; scored against the truth. Right: recordings "
            f"classified right (flow and reflux); onset / end: median absolute error of the "
            f"matched refluxes. Then `analyze` timed on {duration_s:g} s of I/Q audio on one "
            f"core, the two interleaved, medians of {repeats}. {took:.0f} s in all.\n\n"
            f"{format_tables(rows, speed)}\n\n"
            f"The search for hum in the first seconds, which every analysis without `--hum` "
            f"runs: 60 s of 48 kHz I/Q took {cost['with_ms']:.1f} ms with it and "
            f"{cost['without_ms']:.1f} ms without (interleaved on one core, medians of "
            f"{3 if args.quick else 7}).\n\n"
            f"That search on {det['n']} recordings ({len(list_scenarios())} scenarios, in-band "
            f"SNR, seeds and layouts, {SAMPLE_RATE_HZ / 1000:g} kHz, 2.5 s each): a warning "
            f"without hum on {det['false']}; hum found at its frequency on "
            + ", ".join(f"{v} at {lv:g} dBFS {m:g} Hz" for (lv, m), v in det["found"].items())
            + ".\n")
    write_sweep(text, args.out, "hum", args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
