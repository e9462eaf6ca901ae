"""Real recordings: does the maximum envelope show what a person sees on the sonogram?

``python -m benchmarks.real`` (and the ``real`` section of ``python -m benchmarks``)
analyses the real Doppler recordings of the project's sibling folder
``../shared/real`` (precordial Doppler after dives with expert-marked beats, fetal
Doppler segments; see its README; they are GPL-licensed test data and stay there) and
tabulates, per recording: the expert heart rate, the rate of the maximum envelope's
dominant period, their difference, the signal band found, the tonal lines, the impulses
and the share of frames that a steady line holds.  ``--against REF`` also times
``analyze`` on 60 s of 48 kHz I/Q against the tree of git revision ``REF`` (both in
fresh processes, interleaved): the cost of the noise model.  The table goes to
``benchmarks/results/real.md``.

The envelope's period is the lag of the highest peak of the autocorrelation of the
envelope on a log scale, ``log(1 + f / bin width)``: each frame counts by the ratio of its
envelope to a bin, not by its hertz, so that a few rows of a broadband burst up to the
band's top (a probe's knock, a codec's artefact) do not outweigh seconds of the heart's
flow a few hundred hertz lower.  Lags:

* precordial (adult hearts): lags 0.5-2 s (30-120 beats/min), the heart-rate search of
  Springer et al. (2016) on heart-sound envelopes, which leaves out the interval between
  the first and second heart sounds (each beat shows two events);
* fetal: lags 0.3-2 s; the heartbeat shows when the rate is fetal (110-180 beats/min).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import RESULTS_DIR, pin_single_core

__all__ = ["REAL_DIR", "recordings", "envelope_rate_bpm", "steady_share", "measure", "run",
           "markdown", "floor_cost", "band_known_s", "main"]

#: The sibling folder of real recordings (absent on a user's machine).
REAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "real"
#: Autocorrelation lags searched for the heartbeat, s.
PRECORDIAL_LAGS_S = (0.5, 2.0)
FETAL_LAGS_S = (0.3, 2.0)
#: Fetal heart rates, beats/min.
FETAL_BPM = (110.0, 180.0)
#: Fetal recordings whose heartbeat is visible (the README's classes).
FETAL_VISIBLE = ("Good", "Poor")


def recordings(real_dir=REAL_DIR):
    """The real recordings: dicts with ``name``, ``path``, ``kind`` ('precordial' or
    'fetal'), ``expert_bpm`` (None for fetal), ``visible`` (a heartbeat to be seen) and
    ``settings`` (the keyword arguments to analyse them with)."""
    real_dir = Path(real_dir)
    out = []
    beats_path = real_dir / "postdive" / "beats.json"
    beats = json.loads(beats_path.read_text()) if beats_path.exists() else {}
    for p in sorted((real_dir / "postdive").glob("*.wav")):
        b = beats.get(p.name)
        out.append({"name": p.stem, "path": p, "kind": "precordial",
                    "expert_bpm": b["median_heart_rate_bpm"] if b else None,
                    "visible": b is not None,
                    # only the left channel carries the Doppler audio
                    "settings": {"layout": "mono", "channels": (1,)}})
    for p in sorted((real_dir / "fetal").glob("*.wav")):
        out.append({"name": p.stem, "path": p, "kind": "fetal", "expert_bpm": None,
                    "visible": p.stem in FETAL_VISIBLE,
                    "settings": {"layout": "mono", "carrier_hz": 2.5e6}})
    return out


def _trace_hz(analysis):
    """The maximum envelope, Hz (0 where no flow, and where not analysed)."""
    return np.nan_to_num(analysis.trace.antegrade_max_cm_s) / analysis.velocity_per_hz_cm_s


def envelope_rate_bpm(analysis, lags_s):
    """Rate, beats/min, of the maximum envelope's dominant period: the highest peak of the
    autocorrelation (mean removed) of ``log(1 + f / bin width)`` over ``lags_s`` (s), and
    that peak's height (of 1)."""
    v = np.log1p(_trace_hz(analysis) / analysis.summary.bin_hz)
    v = v - v.mean()
    ac = np.correlate(v, v, "full")[len(v) - 1:]
    if ac[0] <= 0:
        return None, 0.0
    ac = ac / ac[0]
    dt = analysis.summary.hop_s
    lo, hi = int(round(lags_s[0] / dt)), min(int(round(lags_s[1] / dt)), len(ac) - 1)
    k = lo + int(np.argmax(ac[lo:hi + 1]))
    return 60.0 / (k * dt), float(ac[k])


def steady_share(analysis, skip_bins=3):
    """Largest share of the frames with flow whose maximum envelope lies in one bin (the
    first ``skip_bins`` bins above the wall band left out: slow flow gathers there).  A
    steady line taken for flow holds the envelope in one bin."""
    v = _trace_hz(analysis)
    flow = v > 0
    if not flow.any():
        return 0.0
    bin_hz = analysis.summary.bin_hz
    k = np.round(v[flow] / bin_hz).astype(int)
    k = k[k > k.min() + skip_bins]
    if not k.size:
        return 0.0
    return float(np.bincount(k).max() / flow.sum())


def band_known_s():
    """Time from which the signal band is known, s: the end of the noise tracker's first
    sub-window (before, the band is a first estimate from the first frames), with the
    wall filter's settling."""
    from dopplerflow.core import noise

    return noise.MEMORY_S / noise.SUBWINDOWS + 0.05


def measure(rec):
    """Analyse one recording (:func:`recordings`); return its row of the table."""
    import dopplerflow as df

    a = df.analyze(rec["path"], **rec["settings"])
    lags = PRECORDIAL_LAGS_S if rec["kind"] == "precordial" else FETAL_LAGS_S
    rate, peak = envelope_rate_bpm(a, lags)
    band = a.signal_band_hz
    t = a.trace.time_s
    v = _trace_hz(a)
    known = t > band_known_s()
    over = float(np.mean(v[known] > band[1])) if band else None
    flow = known & (v > 0)
    upper = float(np.mean(v[flow] > 0.5 * band[1])) if band and flow.any() else None
    expert = rec["expert_bpm"]
    return {"name": rec["name"], "kind": rec["kind"], "expert_bpm": expert,
            "rate_bpm": rate, "autocorrelation": peak,
            "error_pct": None if expert is None or rate is None else 100 * (rate / expert - 1),
            "fetal_range": (None if rec["kind"] != "fetal" or rate is None
                            else bool(FETAL_BPM[0] <= rate <= FETAL_BPM[1])),
            "visible": rec["visible"], "signal_band_hz": band, "above_band": over,
            "upper_half": upper,
            "steady_share": steady_share(a), "tonal_lines_hz": a.to_dict()["tonal_lines_hz"],
            "impulses": a.to_dict()["impulses"], "flow_fraction": a.summary.flow_fraction,
            "warnings": [w for w in a.warnings if not w.startswith("mono layout")]}


def run(quick=False, log=print, real_dir=REAL_DIR):
    """The ``real`` section: every recording's row (``quick``: the first of each kind)."""
    recs = recordings(real_dir)
    if not recs:
        return {"skipped": f"no real recordings in {real_dir}"}
    if quick:
        recs = [next(r for r in recs if r["kind"] == k) for k in ("precordial", "fetal")
                if any(r["kind"] == k for r in recs)]
    rows = []
    for rec in recs:
        rows.append(measure(rec))
        r = rows[-1]
        log(f"real: {r['name']}: envelope {r['rate_bpm']:.1f} bpm"
            + (f" (expert {r['expert_bpm']:.1f})" if r["expert_bpm"] else ""))
    return {"rows": rows}


def _f(v, spec):
    return "-" if v is None else format(v, spec)


def _pct(share):
    return _f(None if share is None else 100 * share, ".1f")


def markdown(res):
    """Markdown lines of a :func:`run` result."""
    if "rows" not in res:
        return ["", f"### Real recordings: {res.get('skipped') or res.get('error', '-')}"]
    out = ["", "### Real recordings (../shared/real; maximum envelope against the sonogram)",
           "", "| recording | expert bpm | envelope bpm | error | autocorr. | signal band Hz | "
           "above band | upper half | steady line | lines Hz | impulses | warnings |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|"]
    for r in res["rows"]:
        err = (_f(r["error_pct"], "+.1f") + " %" if r["error_pct"] is not None
               else ("fetal range" if r["fetal_range"] else "**outside 110-180**")
               if r["visible"] else "(no heartbeat)")
        band = "-" if not r["signal_band_hz"] else f"{r['signal_band_hz'][0]:.0f}-" \
                                                    f"{r['signal_band_hz'][1]:.0f}"
        lines = ", ".join(f"{abs(f):.0f}" for f in r["tonal_lines_hz"]) or "-"
        warn = "; ".join(w.split(":")[0].split("(")[0].strip() for w in r["warnings"]) or "-"
        out.append(f"| {r['name']} | {_f(r['expert_bpm'], '.1f')} | {_f(r['rate_bpm'], '.1f')} "
                   f"| {err} | {_f(r['autocorrelation'], '.2f')} | {band} "
                   f"| {_pct(r['above_band'])} % | {_pct(r['upper_half'])} % "
                   f"| {100 * r['steady_share']:.0f} % | {lines} | {r['impulses']} | {warn} |")
    out += ["", "envelope bpm: the dominant period of the maximum envelope (autocorrelation "
            "of log(1 + f / bin width); precordial lags 0.5-2 s, fetal 0.3-2 s).  above band: "
            "share of the frames after the first sub-window whose maximum envelope lies above "
            "the band's top.  upper half: share of those with flow whose envelope lies in the "
            "band's upper half (the precordial flow lies under 2.5 kHz; broadband bursts, "
            "visible on the sonogram, reach higher).  steady "
            "line: the largest share of the frames with flow whose envelope sits in one "
            "frequency bin (a steady line taken for flow holds it there)."]
    if res.get("cost"):
        c = res["cost"]
        out += ["", f"Cost of the noise model: `analyze` on {c['seconds']:g} s of 48 kHz I/Q, "
                f"{c['rounds']} interleaved rounds in fresh processes, medians: "
                f"{c['after_s']:.3f} s against {c['before_s']:.3f} s at {c['ref']} "
                f"({c['pct']:+.1f} %)."]
    return out


_TIME_ONE = """
import sys, time
sys.path.insert(0, {root!r})
from benchmarks import pin_single_core, iq_test_signal
pin_single_core()
import dopplerflow
x = iq_test_signal({seconds}, 48000.0)
dopplerflow.analyze(x[:48000], sample_rate_hz=48000.0, layout="iq")
best = []
for _ in range(3):
    t = time.perf_counter()
    dopplerflow.analyze(x, sample_rate_hz=48000.0, layout="iq")
    best.append(time.perf_counter() - t)
print(sorted(best)[1])
"""


def floor_cost(ref, seconds=60.0, rounds=5, log=print):
    """Time ``analyze`` on ``seconds`` of 48 kHz I/Q with this tree and with the tree of git
    revision ``ref``, in fresh single-core processes, alternately, ``rounds`` times.

    Returns
    -------
    dict
        ``ref``, ``seconds``, ``rounds``, ``before_s`` and ``after_s`` (medians) and
        ``pct`` (the change, % of ``before_s``).
    """
    root = Path(__file__).resolve().parents[1]
    times = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(root), "archive", ref],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        trees = {"before": tmp, "after": str(root)}
        for i in range(rounds):
            for name, tree in trees.items():
                env = dict(os.environ, PYTHONPATH=tree)
                out = subprocess.run([sys.executable, "-c", _TIME_ONE.format(
                    root=tree, seconds=seconds)], env=env, check=True, capture_output=True,
                    text=True, cwd=tree).stdout
                times[name].append(float(out.strip().splitlines()[-1]))
            log(f"cost round {i + 1}: before {times['before'][-1]:.3f} s, "
                f"after {times['after'][-1]:.3f} s")
    before, after = float(np.median(times["before"])), float(np.median(times["after"]))
    return {"ref": ref, "seconds": seconds, "rounds": rounds, "before_s": before,
            "after_s": after, "pct": 100.0 * (after / before - 1.0)}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.real", description=__doc__.split(
        "\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one recording of each kind")
    ap.add_argument("--against", metavar="REF", help="also time analyze against git REF")
    ap.add_argument("--out", default=os.path.join(RESULTS_DIR, "real.md"))
    args = ap.parse_args(argv)
    pin_single_core()
    t0 = time.perf_counter()
    res = run(args.quick, log=lambda m: print(m, file=sys.stderr))
    if args.against:
        res["cost"] = floor_cost(args.against, log=lambda m: print(m, file=sys.stderr))
    text = "\n".join(["# Real recordings", "",
                      "Reproduce: `python -m benchmarks.real"
                      + (" --quick" if args.quick else "")
                      + (f" --against {args.against}" if args.against else "") + "`"]
                     + markdown(res)) + "\n"
    print(text)
    if "rows" in res:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(f"written to {args.out} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
