"""Two source trees of dopplerflow timed against each other, interleaved on one core.

``python -m benchmarks.compare OLD NEW`` (each a checkout, e.g. made with
``git worktree add /tmp/old <commit>``) times ``analyze`` of the same synthetic
60 s, 48 kHz I/Q recording with each tree's own code, in fresh processes taken in
turn (round robin) so that both see the same machine load; each process warms its
kernels first and reports its best of three runs.  The table gives the medians and
the ratio, and is written to ``benchmarks/results/compare.md``::

    python -m benchmarks.compare /tmp/old . --rounds 5
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

from . import RESULTS_DIR, single_core_env

__all__ = ["compare"]

#: The timed run, executed by each tree's interpreter with that tree first on the path.
_PROBE = """
import json, time
import numpy as np
import dopplerflow as df
fs, seconds = 48000, {seconds}
rng = np.random.default_rng(0)
t = np.arange(fs * seconds) / fs
z = 0.05 * (rng.standard_normal(t.size) + 1j * rng.standard_normal(t.size))
z += 0.1 * np.exp(2j * np.pi * 700.0 * t)
x = np.stack([z.real, z.imag], axis=1).astype(np.float32)
df.analyze(x[:2 * fs], sample_rate_hz=fs, layout="iq")
best = min(
    (lambda t0: (df.analyze(x, sample_rate_hz=fs, layout="iq", keep_trace=False),
                 time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(3))
print(json.dumps(best))
"""


def _time(tree, seconds, cpu):
    env = single_core_env()
    env["PYTHONPATH"] = os.path.abspath(tree)
    cmd = [sys.executable, "-c", _PROBE.format(seconds=seconds)]
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        cmd = ["taskset", "-c", str(cpu)] + cmd
    out = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def compare(old, new, *, rounds=5, seconds=60, cpu=None):
    """Median time of ``analyze`` with each tree, interleaved; returns a dict."""
    times = {"old": [], "new": []}
    for _ in range(rounds):
        for name, tree in (("old", old), ("new", new)):
            times[name].append(_time(tree, seconds, cpu))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"old": old, "new": new, "seconds": seconds, "rounds": rounds, "times_s": times,
            "median_s": med, "new_over_old": med["new"] / med["old"],
            "x_real_time": {k: seconds / v for k, v in med.items()}}


def format_table(r):
    """The comparison as a markdown table."""
    rows = [f"| tree | median s for {r['seconds']} s of 48 kHz I/Q | x real time |",
            "|---|---|---|"]
    for k in ("old", "new"):
        rows.append(f"| {k}: `{r[k]}` | {r['median_s'][k]:.4f} | {r['x_real_time'][k]:,.0f} |")
    rows.append("")
    rows.append(f"new / old: {r['new_over_old']:.3f} (medians of {r['rounds']} interleaved rounds, "
                f"best of 3 runs each, one core)")
    return "\n".join(rows)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.split(
        "\n\n")[0])
    p.add_argument("old", help="source tree of the reference")
    p.add_argument("new", help="source tree of the change")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--cpu", type=int, default=None, help="CPU to bind to (taskset)")
    p.add_argument("--out", default=os.path.join(RESULTS_DIR, "compare.md"))
    a = p.parse_args(argv)
    r = compare(a.old, a.new, rounds=a.rounds, seconds=a.seconds, cpu=a.cpu)
    table = format_table(r)
    print(table)
    with open(a.out, "w") as fh:
        fh.write("# Two trees compared\n\n" + table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
