"""Run the benchmark suite: ``python -m benchmarks [--quick]`` or ``dopplerflow bench``.

Writes ``<out>/latest.md`` (tables), ``<out>/latest.json`` (every figure, with
the machine) and ``<out>/latest_*.png``; ``--quick`` writes ``quick.*`` in the
same place, so a smoke run never replaces the full results.
"""

import argparse
import json
import math
import os
import sys
import time
import traceback

from . import RESULTS_DIR, machine_info, pin_single_core

__all__ = ["SECTIONS", "add_arguments", "main", "run_suite", "write_markdown",
           "failed_sections", "failure_line"]

SECTIONS = ("throughput", "latency", "scaling", "coldstart", "accuracy", "real")
#: Streaming latency goal: crossing sample to confirmation within one hop plus a few ms (the
#: window's look-ahead past its frame, the sound-card block and the processing), on average
#: over onset phases, at the live default block size.
LATENCY_EXTRA_MS = 4.0


def add_arguments(parser):
    """Add the suite's own flags to ``parser``."""
    parser.add_argument("--quick", action="store_true",
                        help="smoke run under 2 minutes (writes quick.* instead of latest.*)")
    parser.add_argument("--only", metavar="SECTIONS",
                        help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--out", metavar="DIR", default=RESULTS_DIR,
                        help="directory for the .md, .json and .png results "
                             "(default: benchmarks/results)")
    parser.add_argument("--tmpdir", metavar="DIR",
                        help="where the temporary audio files go (2 h of audio is 1.4 GB)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG figures")


def _sections(only):
    from dopplerflow.errors import SettingsError

    if not only:
        return list(SECTIONS)
    chosen = [s.strip() for s in only.split(",") if s.strip()]
    bad = [s for s in chosen if s not in SECTIONS]
    if bad:
        raise SettingsError(f"unknown benchmark section(s) {', '.join(bad)}; use "
                            f"{', '.join(SECTIONS)}")
    return chosen


def _latency(quick, log):
    try:
        from . import latency
    except ImportError:
        return {"skipped": "benchmarks/latency.py is not available"}
    from dopplerflow.live.devices import default_block_size

    default = default_block_size(48000)
    sizes = (default, 4096) if quick else latency.BLOCK_SIZES
    log(f"latency: block sizes {', '.join(map(str, sizes))}")
    rows = [latency.measure_latency(b, phases=2 if quick else 8, average_frames=n)
            for n in (3, 1) for b in sizes]
    for r in rows:
        r["goal_ms"] = r["hop_ms"] + LATENCY_EXTRA_MS
        r["goal_met"] = bool(r["latency_ms"] <= r["goal_ms"])
        r["live_default"] = r["block_size"] == default
    return {"rows": rows}


def run_suite(quick=False, sections=SECTIONS, tmpdir=None, log=print):
    """Run the chosen sections; return the results dict (what ``latest.json`` holds).

    A section that fails is recorded as ``{"error": "..."}`` and the others
    still run.
    """
    from . import accuracy, coldstart, real, scaling, throughput

    runners = {
        "throughput": lambda: throughput.run(quick, log=log),
        "latency": lambda: _latency(quick, log),
        "scaling": lambda: scaling.run(quick, log=log, tmpdir=tmpdir),
        "coldstart": lambda: coldstart.run(quick, log=log, tmpdir=tmpdir),
        "accuracy": lambda: accuracy.run(quick, log=log),
        "real": lambda: real.run(quick, log=log),
    }
    results = {"mode": "quick" if quick else "full",
               "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
               "machine": machine_info(), "sections": {}}
    t_start = time.perf_counter()
    for name in sections:
        t0 = time.perf_counter()
        try:
            results["sections"][name] = runners[name]()
        except Exception as e:  # noqa: BLE001 - one broken section must not hide the rest
            log(f"{name}: FAILED: {e}")
            results["sections"][name] = {"error": f"{type(e).__name__}: {e}",
                                         "traceback": traceback.format_exc()[-2000:]}
        results["sections"][name]["elapsed_s"] = time.perf_counter() - t0
    results["elapsed_s"] = time.perf_counter() - t_start
    results["machine"]["load_average_end"] = (list(os.getloadavg())
                                              if hasattr(os, "getloadavg") else None)
    return results


# ------------------------------------------------------------------ markdown
def _f(v, spec=".0f", unit=""):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:{spec}}{unit}"


def _yes(flag):
    return {True: "yes", False: "**no**", None: "-"}[flag]


def _table(head, rows):
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return lines


def _headline(res):
    sec = res["sections"]
    rows = []
    th = sec.get("throughput", {})
    if "headline" in th:
        h = th["headline"]
        g = h["goals"]
        rows.append(["`analyze`, 48 kHz I/Q in memory, one core",
                     _f(g["x_realtime"]["value"], ",.0f", "x real time"),
                     ">= 2,000x", _yes(g["x_realtime"]["met"])])
        rows.append(["... against the plain scipy baseline (same run)",
                     _f(g["vs_baseline"]["value"], ".1f", "x faster"), ">= 20x",
                     _yes(g["vs_baseline"]["met"])])
        rows.append(["... against the bare FFT bound (same run)",
                     _f(g["pct_of_fft_bound"]["value"], ".0f", " % of the bound"), ">= 55 %",
                     _yes(g["pct_of_fft_bound"]["met"])])
        for fmt, what in (("wav", "a 16-bit WAV"), ("flac", "a 16-bit FLAC"),
                          ("m4a", "an AAC M4A (256 kbit/s, media extra)")):
            if f"analyze_{fmt}" in h:
                rows.append([f"`analyze` from {what} file",
                             _f(h[f"analyze_{fmt}"]["x_realtime"], ",.0f", "x real time"),
                             "-", "-"])
    sc = sec.get("scaling", {})
    if "rows" in sc:
        last = sc["rows"][-1]
        rows.append([f"peak memory, {last['minutes']:g} min recording (whole process)",
                     _f(last["peak_rss_mb"], ".0f", " MB"), "< 200 MB for 2 h",
                     _yes(sc["memory_goal_met"])])
        growth = sc.get("rss_growth_mb_per_hour")
        rows.append(["memory growth with recording length",
                     _f(growth, "+.0f", " MB per audio hour"), "flat (< 10 MB/h)",
                     _yes(None if growth is None else bool(abs(growth) < 10.0))])
        live = sc.get("live")
        if live:
            growth = live["rss_growth_mb_per_hour"]
            rows.append([f"memory growth, live path ({live['block']}-sample blocks, "
                         f"{live['minutes']:g} min streamed)",
                         _f(growth, "+.0f", " MB per audio hour"), "flat (< 10 MB/h)",
                         _yes(bool(abs(growth) < 10.0))])
        rows.append(["time scaling (least-squares s per audio minute)",
                     _f(sc["s_per_audio_min"], ".2f", " s/min"), "linear",
                     _yes(sc["time_linear"])])
    lat = sec.get("latency", {})
    if lat.get("rows"):
        r = next(r for r in lat["rows"] if r.get("live_default") and r["average_frames"] == 3)
        rows.append([f"reflux confirmation after the crossing sample ({r['block_size']}-sample "
                     f"blocks, mean over onset phases; worst phase)",
                     f"{r['latency_ms']:.1f} ms; {r['latency_max_ms']:.1f} ms",
                     f"one hop + a few ms ({r['goal_ms']:g} ms)", _yes(r["goal_met"])])
    cs = sec.get("coldstart", {})
    if "warm_s" in cs:
        rows.append(["cold start, `dopplerflow analyze` 10 s file, warm numba cache",
                     _f(cs["warm_s"], ".2f", " s"), "< 1.5 s", _yes(cs["goal_met"])])
        rows.append(["... first run (empty numba cache)", _f(cs["first_run_s"], ".1f", " s"),
                     "-", "-"])
    acc = sec.get("accuracy", {})
    if acc.get("summary"):
        snr = min(acc["snr_db"], key=lambda s: abs(s - 10.0))
        for m in ("threshold", "peak-20dB"):
            row = next((s for s in acc["summary"] if s["method"] == m and s["snr_db"] == snr),
                       None)
            if row:
                rows.append([f"envelope rms error, `{m}`, {snr:g} dB SNR",
                             _f(row["rms_pct"], ".1f", " % of peak"), "-", "-"])
    return rows


def _throughput_md(th):
    out = []
    if th.get("configs"):
        out += ["", "### Throughput (x real time, medians; all columns from one interleaved run "
                "per row)", ""]
        rows = []
        for c in th["configs"]:
            rows.append([c["label"], f"{c['n_fft']}",
                         _f(c["analyze_memory"]["x_realtime"], ",.0f"),
                         _f(c.get("analyze_wav", {}).get("x_realtime"), ",.0f"),
                         _f(c.get("analyze_flac", {}).get("x_realtime"), ",.0f"),
                         _f(c.get("analyze_m4a", {}).get("x_realtime"), ",.0f"),
                         _f(c.get("baseline", {}).get("x_realtime"), ",.0f"),
                         _f(c["fft_bound"]["x_realtime"], ",.0f"),
                         _f(c["vs_baseline"], ".1f", "x"),
                         _f(c["pct_of_fft_bound"], ".0f", " %"),
                         _f(c["analyze_memory"]["ns_per_frame"], ",.0f")])
        out += _table(["configuration", "n_fft", "analyze (memory)", "WAV", "FLAC", "M4A",
                       "scipy baseline", "FFT bound", "vs baseline", "of FFT bound",
                       "ns/frame"], rows)
        out += ["", "Best run of the headline row (min instead of median): "
                f"{_f(th['headline']['analyze_memory']['x_realtime'] * th['headline']['analyze_memory']['median_s'] / th['headline']['analyze_memory']['min_s'], ',.0f')}x "  # noqa: E501
                "real time."]
    st = th.get("stages")
    if st:
        out += ["", f"### Where the time goes ({st['duration_s']:g} s of 48 kHz I/Q, "
                f"{st['n_frames']} frames, {st['total_ns_per_frame']:,.0f} ns per frame = "
                f"{st['x_realtime']:,.0f}x real time)", ""]
        out += _table(["stage", "ns per frame", "share"],
                      [[s["stage"], _f(s["ns_per_frame"], ",.0f"), _f(s["pct"], ".1f", " %")]
                       for s in st["stages"]])
    return out


def _latency_md(lat):
    if not lat.get("rows"):
        return ["", f"### Streaming latency: {lat.get('skipped') or lat.get('error', '-')}"]
    out = ["", "### Streaming (benchmarks/latency.py; ms)", ""]
    rows = [[r["average_frames"], r["block_size"], _f(r["block_ms"], ".1f"),
             _f(r["p50_block_ms"], ".3f"), _f(r["p99_block_ms"], ".3f"),
             _f(r["decision_ms"], ".1f"), _f(r["processing_ms"], ".2f"),
             _f(r["latency_ms"], ".1f"), _f(r["latency_max_ms"], ".1f"),
             _f(r["goal_ms"], ".1f"), _yes(r["goal_met"])] for r in lat["rows"]]
    out += _table(["avg frames", "block", "block ms", "p50 push", "p99 push", "decision",
                   "processing", "crossing to callback", "worst phase", "goal (hop + 4)", "met"],
                  rows)
    out += ["", "Means over reflux onsets spread over one hop. decision: end of the frame that "
            "passes the threshold minus the true crossing (the frame grid; a duration is known "
            "to a hop); crossing to callback adds the window's look-ahead past that frame "
            "(half a window less half a hop), the block's buffering and the processing. "
            "`dopplerflow live` uses 128-sample blocks at 48 kHz."]
    return out


def _scaling_md(sc):
    if "rows" not in sc:
        return ["", f"### Scaling: {sc.get('error', '-')}"]
    out = ["", "### Scaling (separate `dopplerflow analyze` process per file, 16-bit WAV)", ""]
    rows = [[f"{r['minutes']:g} min", _f(r["file_mb"], ",.0f", " MB"), _f(r["wall_s"], ".2f"),
             _f(r["x_realtime"], ",.0f"), _f(r["peak_rss_mb"], ".0f")] for r in sc["rows"]]
    out += _table(["recording", "file", "wall s", "x real time", "peak RSS MB"], rows)
    out += ["", f"A process that analyses 0.1 s peaks at {_f(sc['floor_rss_mb'], '.0f')} MB "
            "(Python, numpy, scipy.fft, numba and the loaded kernels): the floor under "
            "every row.  Wall times include process start-up (see cold start)."]
    live = sc.get("live")
    if live:
        out += ["", f"Live path (`benchmarks.scaling.live_growth`): one processor fed 48 kHz "
                f"I/Q in {live['block']}-sample blocks, as `dopplerflow live` feeds it, in a "
                f"process of its own: {_f(live['rss_start_mb'], '.1f')} MB resident after "
                f"{live['settle_minutes']:g} min, {_f(live['rss_end_mb'], '.1f')} MB "
                f"{live['minutes']:g} min later."]
    return out


def _coldstart_md(cs):
    if "warm_s" not in cs:
        return ["", f"### Cold start: {cs.get('error', '-')}"]
    return ["", "### Cold start (`dopplerflow analyze` on a 10 s file, whole process)",
            ""] + _table(["", "seconds"], [
                ["first run, empty NUMBA_CACHE_DIR", _f(cs["first_run_s"], ".2f")],
                ["warm cache (median)", _f(cs["warm_s"], ".2f")],
                ["`import dopplerflow` alone (median)", _f(cs["import_s"], ".2f")],
                ["`from dopplerflow import analyze` alone: the analysis core (median)",
                 _f(cs.get("core_import_s"), ".2f")],
                ["goal (warm)", f"< {cs['goal_warm_s']:g}"]])


def _accuracy_md(acc):
    if not acc.get("summary"):
        return ["", f"### Accuracy: {acc.get('error', '-')}"]
    out = ["", f"### Accuracy ({len(acc['scenarios'])} scenario(s) x {len(acc['seeds'])} "
           f"seed(s) at {acc['sample_rate_hz'] / 1e3:g} kHz; envelope error in % of the true "
           "peak velocity over frames with flow)", ""]
    rows = []
    for s in acc["summary"]:
        rows.append([s["method"], _f(s["snr_db"], "g"), _f(s["bias_pct"], "+.1f"),
                     _f(s["rms_pct"], ".1f"), _f(s["sign_pct"], ".0f"),
                     _f(s.get("sensitivity"), ".2f"), _f(s.get("ppv"), ".2f"),
                     _f(s.get("onset_error_s"), ".3f"), _f(s.get("end_error_s"), ".3f")])
    out += _table(["estimator", "SNR dB", "bias %", "rms %", "sign agree %", "sensitivity",
                   "PPV", "onset err s", "end err s"], rows)
    out += ["", "`peak-20dB` / `fixed-20dB`: fixed-threshold rules of existing scripts, on "
            "dopplerflow's own spectrogram (no flow detection, so noise frames give values). "
            "Reflux figures are for dopplerflow's estimators; onset/end errors are median "
            "absolute errors of matched events."]
    return out


def _real_md(res):
    from . import real

    return real.markdown(res)


def write_markdown(res, path):
    """Write the tables of ``res`` (a :func:`run_suite` result) to ``path``."""
    m = res["machine"]
    lines = [f"# dopplerflow benchmarks ({res['mode']} run)", "",
             f"{res['date_utc']} UTC on {m['cpu']}, {m['cpu_count']} cores "
             "(one used: the process bound to one CPU, serial numba kernels, FFT workers=1), "
             f"Python {m['python']}, "
             + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".  "
             f"Load average at start {', '.join(f'{v:.1f}' for v in m['load_average'] or [])}. "
             "Timings are medians after a warm-up; ratios come from the same interleaved run.",
             "", "Reproduce: `python -m benchmarks" + (" --quick" if res["mode"] == "quick"
                                                       else "") + "`", "",
             "| measure | result | goal | met |", "|---|---:|---:|:---:|"]
    lines += ["| " + " | ".join(r) + " |" for r in _headline(res)]
    sec = res["sections"]
    for name, fn in (("throughput", _throughput_md), ("latency", _latency_md),
                     ("scaling", _scaling_md), ("coldstart", _coldstart_md),
                     ("accuracy", _accuracy_md), ("real", _real_md)):
        if name in sec:
            if "error" in sec[name]:
                lines += ["", f"### {name}: failed ({sec[name]['error']})"]
            else:
                lines += fn(sec[name])
    lines += ["", f"Suite time: {res['elapsed_s']:.0f} s."]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


# ------------------------------------------------------------------ plots
def write_plots(res, out_dir, stem):
    """PNG figures of the sections present; return the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    sec = res["sections"]

    def save(fig, name):
        p = os.path.join(out_dir, f"{stem}_{name}.png")
        fig.tight_layout()
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)

    th = sec.get("throughput", {})
    if th.get("headline"):
        h = th["headline"]
        names = [k for k in ("fft_bound", "analyze_memory", "analyze_wav", "analyze_flac",
                             "analyze_m4a", "baseline") if k in h]
        fig, ax = plt.subplots(figsize=(7, 3.2))
        vals = [h[k]["x_realtime"] for k in names]
        ax.barh(names[::-1], vals[::-1], color="tab:blue")
        ax.axvline(2000, color="tab:red", ls="--", label="goal 2,000x")
        ax.set_xscale("log")
        ax.set_xlabel("x real time (48 kHz I/Q, one core)")
        ax.legend(loc="lower right")
        save(fig, "throughput")
    if th.get("stages"):
        st = th["stages"]["stages"]
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.barh([s["stage"] for s in st][::-1], [s["ns_per_frame"] for s in st][::-1],
                color="tab:green")
        ax.set_xlabel("ns per STFT frame (240 new samples)")
        save(fig, "stages")
    sc = sec.get("scaling", {})
    if sc.get("rows"):
        mins = [r["minutes"] for r in sc["rows"]]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2))
        a1.plot(mins, [r["wall_s"] for r in sc["rows"]], "o-")
        a1.set_xlabel("recording, min")
        a1.set_ylabel("wall time, s")
        a2.plot(mins, [r["peak_rss_mb"] for r in sc["rows"]], "o-", color="tab:orange")
        a2.axhline(200, color="tab:red", ls="--", label="goal 200 MB")
        a2.set_xlabel("recording, min")
        a2.set_ylabel("peak RSS, MB")
        a2.set_ylim(bottom=0)
        a2.legend()
        save(fig, "scaling")
    lat = sec.get("latency", {})
    if lat.get("rows"):
        rows = [r for r in lat["rows"] if r["average_frames"] == 3]
        fig, ax = plt.subplots(figsize=(6, 3.2))
        b = [r["block_size"] for r in rows]
        ax.plot(b, [r["p50_block_ms"] for r in rows], "o-", label="p50 push")
        ax.plot(b, [r["p99_block_ms"] for r in rows], "s-", label="p99 push")
        ax.plot(b, [r["block_ms"] for r in rows], "k--", label="block duration")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("block size, samples")
        ax.set_ylabel("ms")
        ax.legend()
        save(fig, "latency")
    acc = sec.get("accuracy", {})
    if acc.get("summary"):
        summ = acc["summary"]
        methods = list(dict.fromkeys(s["method"] for s in summ))
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
        for i, m in enumerate(methods):
            s = [r for r in summ if r["method"] == m]
            snr = [r["snr_db"] for r in s]
            a1.plot(snr, [r["rms_pct"] for r in s], "o-", color=f"C{i}", label=m)
            if "sensitivity" in s[0]:
                a2.plot(snr, [r["sensitivity"] if r["sensitivity"] is not None
                              else float("nan") for r in s], "o-", color=f"C{i}",
                        label=f"{m}: sensitivity")
                a2.plot(snr, [r["ppv"] if r["ppv"] is not None else float("nan") for r in s],
                        "s--", color=f"C{i}", label=f"{m}: PPV")
        a1.set_yscale("log")
        a1.set_xlabel("SNR, dB")
        a1.set_ylabel("envelope rms error, % of peak")
        a1.legend(fontsize=8)
        a2.set_xlabel("SNR, dB")
        a2.set_ylabel("reflux events")
        a2.set_ylim(-0.05, 1.05)
        a2.legend(fontsize=8)
        save(fig, "accuracy")
    return paths


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def failed_sections(res):
    """The sections of ``res`` (a :func:`run_suite` result) that failed, in order."""
    return [name for name, sec in res["sections"].items() if "error" in sec]


def failure_line(res):
    """One line naming the failed sections and their first error; None if none failed."""
    failed = failed_sections(res)
    if not failed:
        return None
    first = res["sections"][failed[0]]["error"].splitlines()[0]
    if len(first) > 160:
        first = first[:157] + "..."
    if len(failed) == 1:
        return f"benchmark section {failed[0]} failed ({first})"
    return (f"{len(failed)} benchmark sections failed: {', '.join(failed)} "
            f"({failed[0]}: {first})")


def main(args):
    """Run the suite with parsed ``args``; return the exit status.

    0 when every section ran, 1 when one failed (the results of the others are
    written all the same, and one line on stderr names the failed sections).
    """
    sections = _sections(args.only)
    pin_single_core()
    os.makedirs(args.out, exist_ok=True)
    stem = "quick" if args.quick else "latest"

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    res = run_suite(args.quick, sections, tmpdir=args.tmpdir, log=log)
    json_path = os.path.join(args.out, f"{stem}.json")
    with open(json_path, "w", encoding="utf-8") as fh:
        json.dump(_jsonable(res), fh, indent=1)
        fh.write("\n")
    md_path = os.path.join(args.out, f"{stem}.md")
    write_markdown(res, md_path)
    if not args.no_plots:
        write_plots(res, args.out, stem)
    with open(md_path, encoding="utf-8") as fh:
        print(fh.read())
    line = failure_line(res)
    if line:
        print(f"benchmarks: error: {line}; the results are in {args.out}", file=sys.stderr,
              flush=True)
        return 1
    return 0


def _cli(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description="Run the dopplerflow benchmark suite.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    from dopplerflow.errors import DopplerflowError

    try:
        return main(args)
    except DopplerflowError as e:
        print(f"benchmarks: error: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    pin_single_core()  # before numba is imported
    sys.exit(_cli())
