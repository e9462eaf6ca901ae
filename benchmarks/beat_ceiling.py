"""How well can simple signals of the precordial recordings place the expert's beats?

``python -m benchmarks.beat_ceiling`` writes ``benchmarks/results/beat_ceiling.md``: for
each post-dive precordial recording (``../shared/real/postdive``, when present) and each of
six candidate signals, the beats a standard dynamic-programming beat tracker (Ellis 2007:
each beat's score is the signal there plus the best earlier beat's score less
``ALPHA * log(interval / period)**2``) places when it is **given the expert's own median
period**, scored against the expert's marks as ``benchmarks.beats`` scores the beat stage
(within 150 ms after the constant offset that matches the most, over the marked stretch).

It is a ceiling study, not a detector: knowing the period is an oracle the beat stage does
not have.  Where even this tracker misses 95 % sensitivity and PPV on a signal, the
expert's marks do not follow that signal's pulse within the tolerance: the beat stage,
which reads the band power or the maximum envelope, cannot be expected to either.

The signals, from a 20 ms STFT at 5 ms steps of the left channel (the Doppler audio):
the power in 150-4000 Hz (the flow band), 20-150 Hz (wall motion), 150-600 Hz (slow flow),
1500-4000 Hz (fast flow and broadband transients), each in dB; the positive spectral flux
over 150-4000 Hz (the mean rise in dB of the bins from one step to the next: an onset
strength); and the rise of the band power.  Each is smoothed over three steps, its 1 s
running mean taken off, scaled to unit rms and clipped at 3.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .beats import REAL_DIR

__all__ = ["signals", "track", "ceiling", "format_report", "main", "STEP_S", "ALPHA"]

#: Step of the signals, s.
STEP_S = 0.005
#: Weight of the interval penalty against the signal (unit rms), of the main table; the
#: summary repeats the count at each of ``ALPHAS``.
ALPHA = 20.0
ALPHAS = (5.0, 20.0, 100.0)
#: Power bands, Hz.
BANDS_HZ = {"flow band 150-4000 Hz": (150.0, 4000.0), "wall 20-150 Hz": (20.0, 150.0),
            "slow flow 150-600 Hz": (150.0, 600.0), "fast flow 1500-4000 Hz": (1500.0, 4000.0)}
OUT = Path(__file__).resolve().parent / "results" / "beat_ceiling.md"


def signals(x, fs):
    """The candidate signals of mono audio ``x`` at ``fs`` Hz: ``(t, {name: signal})``,
    one value per ``STEP_S``."""
    from scipy.ndimage import uniform_filter1d
    from scipy.signal import stft

    n, h = int(round(0.02 * fs)), int(round(STEP_S * fs))
    f, t, z = stft(x, fs, nperseg=n, noverlap=n - h, boundary=None, padded=False)
    p = np.abs(z) ** 2 + 1e-20
    out = {name: 10 * np.log10(p[(f > lo) & (f < hi)].sum(0))
           for name, (lo, hi) in BANDS_HZ.items()}
    lo, hi = BANDS_HZ["flow band 150-4000 Hz"]
    level = 10 * np.log10(p[(f > lo) & (f < hi)])
    out["spectral flux"] = np.maximum(np.diff(level, axis=1, prepend=level[:, :1]), 0).mean(0)
    band = uniform_filter1d(out["flow band 150-4000 Hz"], 3)
    out["rise of the band power"] = np.maximum(np.diff(band, prepend=band[0]), 0)
    for name, v in out.items():
        v = uniform_filter1d(v, 3)
        v = v - uniform_filter1d(v, int(round(1.0 / STEP_S)))
        out[name] = np.clip(v / (np.std(v) + 1e-12), -3.0, 3.0)
    return t, out


def track(signal, period_s, alpha=ALPHA):
    """Beat times (s from the first step) a dynamic-programming tracker places on
    ``signal`` with the period given: intervals from half to twice it."""
    n, p = len(signal), period_s / STEP_S
    lo, hi = int(0.5 * p), int(2 * p)
    score = np.array(signal, float)
    back = np.full(n, -1)
    for i in range(lo + 1, n):
        tau = np.arange(max(0, i - hi), i - lo)
        cand = score[tau] - alpha * np.log((i - tau) / p) ** 2
        k = int(np.argmax(cand))
        score[i] = signal[i] + cand[k]
        back[i] = tau[k]
    i = n - int(p) + int(np.argmax(score[n - int(p):]))
    beats = [i]
    while back[i] >= 0:
        i = back[i]
        beats.append(i)
    return np.array(beats[::-1]) * STEP_S


def ceiling(real_dir=REAL_DIR):
    """Score every signal of every precordial recording: ``[(file, {(signal, alpha):
    (sensitivity, ppv, median interval error s)}), ...]`` for each alpha of ``ALPHAS``
    (empty without the recordings)."""
    import soundfile as sf

    from dopplerflow.core.beat_score import score_beats

    marks_file = real_dir / "postdive" / "beats.json"
    if not marks_file.exists():
        return []
    rows = []
    for name, ref in json.loads(marks_file.read_text()).items():
        x, fs = sf.read(real_dir / "postdive" / name, always_2d=True)
        t, sig = signals(x[:, 0], fs)
        marks = np.asarray(ref["expert_beat_times_s"], float)
        period = 60.0 / ref["median_heart_rate_bpm"]
        half = 0.5 * float(np.median(np.diff(marks)))
        scores = {}
        for what, v in sig.items():
            for alpha in ALPHAS:
                s = score_beats(track(v, period, alpha) + t[0], marks,
                                span_s=(marks[0] - half, marks[-1] + half))
                scores[what, alpha] = (s["sensitivity"], s["ppv"], s["rr_error_s"])
        rows.append((name, scores))
    return rows


def format_report(rows, seconds):
    names = list(dict.fromkeys(what for what, _ in rows[0][1])) if rows else []
    out = ["# Beat-placement ceiling on the precordial recordings "
           "(`python -m benchmarks.beat_ceiling`)", "",
           f"Run in {seconds:.0f} s.  " + __doc__.split("\n\n")[1].replace("\n", " "), "",
           f"Sensitivity / PPV (%), median interval error (ms), the expert's period given, "
           f"ALPHA = {ALPHA:g} (the steps are 5 ms):", "",
           "| recording | " + " | ".join(names) + " |",
           "|---|" + "---:|" * len(names)]
    for name, scores in rows:
        cells = []
        for n in names:
            sens, ppv, rr = scores[n, ALPHA]
            cells.append(f"{100 * sens:.0f} / {100 * ppv:.0f}, {1e3 * rr:.0f}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")

    def ok(v):
        return min(v[:2]) >= 0.95

    def met(what, alpha):
        return sum(ok(r[1][what, alpha]) for r in rows)

    out += ["", "Recordings with both at least 95 %, for each interval penalty; *any*: "
            "those where at least one of the six signals reaches it:", "",
            "| ALPHA | " + " | ".join(names) + " | any |",
            "|---:|" + "---:|" * (len(names) + 1)]
    for alpha in ALPHAS:
        anyone = sum(any(ok(r[1][n, alpha]) for n in names) for r in rows)
        out.append(f"| {alpha:g} | " + " | ".join(f"{met(n, alpha)} of {len(rows)}"
                                                  for n in names)
                   + f" | {anyone} of {len(rows)} |")
    rr = [sum(r[1][n, ALPHA][2] <= 0.02 for r in rows) for n in names]
    out += ["", f"Recordings with a median interval error of 20 ms or less (ALPHA = {ALPHA:g}): "
            + ", ".join(f"{n} {m} of {len(rows)}" for n, m in zip(names, rr, strict=True)) + "."]
    return "\n".join(out) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.beat_ceiling",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"report (default {OUT})")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rows = ceiling()
    if not rows:
        print(f"no recordings in {REAL_DIR / 'postdive'}: nothing to measure")
        return 0
    text = format_report(rows, time.perf_counter() - t0)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
