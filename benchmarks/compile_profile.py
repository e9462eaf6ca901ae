"""Where a first run's time goes: the numba kernels compiled, one by one.

``python -m benchmarks.compile_profile`` runs a command (by default the README's
first one, ``dopplerflow analyze samples/jugular_valsalva_iq.flac --vessel ijv
--antegrade away``) in fresh processes, each on an empty numba cache (a temporary
``NUMBA_CACHE_DIR``, which the command's processes share), and reports:

* the **kernel profile**: the command run in one process (the second process of a
  first run, ``dopplerflow/core/_ahead.py``, left out, so that every kernel is
  compiled where it is seen), listening to numba's ``"numba:compile"`` events.  Each
  kernel's *own* time is its compilation less that of the kernels it calls, compiled
  within it (typing a call compiles the callee first); the own times add up to the
  process's compile time.  Its *signatures* are how many times it was compiled in the
  process, one per set of argument types (an int and a literal int, a read-only and a
  writable array, C and A layouts are each a full compilation);
* the **first run** as a user runs it: ``python -m dopplerflow COMMAND``, wall clock
  from start to exit, on an empty cache: a short recording is analysed with the kernels
  interpreted while a process compiles them behind it (``dopplerflow/_first_run.py``),
  and how long after the first run's start that compilation has filled the cache;
* the **compiled first run**: the same, with ``DOPPLERFLOW_FIRST_RUN=compile`` (as a
  long recording's first run goes: the kernels compiled first, with a second process
  where the machine has a second CPU);
* the **warm cold start**: a new process on the cache a first run filled.

``--runs N`` repeats each measure N times, interleaved (profile, first run, warm,
compiled first run, profile, ...), and reports medians.  ``--json FILE`` keeps every
figure, ``--md FILE`` writes the tables (``benchmarks/results/first_run.md``).  Nothing is
pinned to one CPU: the first run may use two.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

__all__ = ["README_COMMAND", "profile_once", "time_command", "profile", "report", "main"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The README's first command (its arguments after ``dopplerflow``).
README_COMMAND = ("analyze", "samples/jugular_valsalva_iq.flac", "--vessel", "ijv",
                  "--antegrade", "away")

# The child: installs the listener, runs the command line in this process only, writes
# the events.
_CHILD = r"""
import json, sys, threading, time
from numba.core import event

events, stack = [], []


class Compiles(event.Listener):
    def on_start(self, ev):
        d = ev.data["dispatcher"]
        stack.append({"name": f"{d.py_func.__module__}.{d.py_func.__qualname__}",
                      "args": str(tuple(ev.data["args"])), "start": time.perf_counter(),
                      "caller": stack[-1]["name"] if stack else None,
                      "children": 0.0, "depth": len(stack),
                      "thread": threading.current_thread().name})

    def on_end(self, ev):
        e = stack.pop()
        e["total"] = time.perf_counter() - e["start"]
        e["own"] = e["total"] - e.pop("children")
        if stack:
            stack[-1]["children"] += e["total"]
        events.append(e)


event.register("numba:compile", Compiles())
t0 = time.perf_counter()
try:
    from dopplerflow.core import _ahead
    _ahead.prepare = lambda: None  # every kernel compiled here
except ImportError:  # a tree without a second process
    pass
from dopplerflow.cli import main
code = main(sys.argv[2:])
wall = time.perf_counter() - t0
with open(sys.argv[1], "w") as f:
    json.dump({"events": events, "main_s": wall, "code": code}, f)
sys.exit(code)
"""


def _env(cache, first_run="auto"):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, DOPPLERFLOW_FIRST_RUN=first_run)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    return env


def _run(argv, cache, first_run="auto"):
    """Run ``argv`` in ``ROOT`` with numba's cache in ``cache``; (wall s, processor s),
    the processor time counting the processes it waited for."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env=_env(cache, first_run), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    proc.stderr.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code:
        raise RuntimeError(f"{' '.join(argv[-len(README_COMMAND):])} exited {code}: "
                           f"{err.strip()[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime


def profile_once(command=README_COMMAND):
    """Run ``dopplerflow COMMAND`` in one fresh process on an empty numba cache and
    return what it compiled.

    Returns
    -------
    dict
        ``wall_s`` (the process, start to exit), ``cpu_s`` (its processor time),
        ``compile_s`` (compile time in it), ``events`` (one dict per compilation:
        ``name``, ``args``, ``own``, ``total``, ``depth``, ``caller`` (the kernel whose
        compilation compiled it, None if called from Python), ``thread``).
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "events.json")
        wall, cpu = _run([sys.executable, "-c", _CHILD, out, *command],
                         os.path.join(tmp, "numba_cache"), first_run="compile")
        with open(out) as f:
            events = json.load(f)["events"]
    return {"wall_s": wall, "cpu_s": cpu, "events": events,
            "compile_s": sum(e["own"] for e in events)}


def _wait_behind(cache):
    """Wait until no compilation behind a command holds the lock of the kernels' cache
    under ``cache``; return when, s (``time.perf_counter``)."""
    from dopplerflow._first_run import _wait_for_lock

    # (numba's folder under that NUMBA_CACHE_DIR, as a process given it finds it)
    script = ("from dopplerflow._cache import configure_numba_cache, cache_state; "
              "configure_numba_cache(); print(cache_state()[0])")
    folder = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=_env(cache),
                            capture_output=True, text=True, check=True).stdout.strip()
    _wait_for_lock(folder, quiet=True)
    return time.perf_counter()


def time_command(command=README_COMMAND, warm=1):
    """``python -m dopplerflow COMMAND`` on an empty numba cache, then ``warm`` times
    more on the cache it filled (once the compilation behind the first has ended), and
    a first run compiled on another empty cache (``DOPPLERFLOW_FIRST_RUN=compile``).

    Returns
    -------
    dict
        ``first_s``, ``behind_s`` (from the first run's start until the compilation
        behind it has ended), ``warm_s`` (a list), ``compiled_first_s``; wall clock.
    """
    argv = [sys.executable, "-m", "dopplerflow", *command]
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        first, _ = _run(argv, cache)
        behind = _wait_behind(cache) - t0
        warms = [_run(argv, cache)[0] for _ in range(warm)]
    with tempfile.TemporaryDirectory() as cache:
        compiled, _ = _run(argv, cache, first_run="compile")
    return {"first_s": first, "behind_s": behind, "warm_s": warms,
            "compiled_first_s": compiled}


def by_kernel(events):
    """Per kernel: ``own`` compile time (s), ``signatures`` (compilations), ``args``."""
    table = {}
    for e in events:
        k = table.setdefault(e["name"], {"own": 0.0, "signatures": 0, "args": []})
        k["own"] += e["own"]
        k["signatures"] += 1
        k["args"].append(f"{e['args']} <- {e['caller'] or 'Python'}")
    return table


def profile(command=README_COMMAND, runs=3, log=None):
    """``runs`` rounds of: a kernel profile, a first run and a warm cold start (each on
    a new empty cache); medians of the wall times and of each kernel's own time."""
    profiles, firsts, behinds, warms, compiled, loads = [], [], [], [], [], []
    for i in range(runs):
        loads.append(os.getloadavg()[0] if hasattr(os, "getloadavg") else None)
        profiles.append(profile_once(command))
        t = time_command(command)
        firsts.append(t["first_s"])
        behinds.append(t["behind_s"])
        warms += t["warm_s"]
        compiled.append(t["compiled_first_s"])
        if log:
            log(f"round {i + 1}: one process {profiles[-1]['wall_s']:.2f} s, first run "
                f"{t['first_s']:.2f} s (cache filled after {t['behind_s']:.2f} s), warm "
                f"{t['warm_s'][0]:.2f} s, compiled first run {t['compiled_first_s']:.2f} s")
    tables = [by_kernel(r["events"]) for r in profiles]
    kernels = {name: dict(k, own=statistics.median(t.get(name, {"own": 0.0})["own"]
                                                   for t in tables))
               for name, k in tables[-1].items()}
    return {"command": ["dopplerflow", *command], "runs": runs,
            "one_process_s": [r["wall_s"] for r in profiles],
            "one_process_median_s": statistics.median(r["wall_s"] for r in profiles),
            "compile_median_s": statistics.median(r["compile_s"] for r in profiles),
            "compilations": len(profiles[-1]["events"]),
            "first_run_s": firsts, "first_run_median_s": statistics.median(firsts),
            "behind_s": behinds, "behind_median_s": statistics.median(behinds),
            "compiled_first_run_s": compiled,
            "compiled_first_run_median_s": statistics.median(compiled),
            "warm_s": warms, "warm_median_s": statistics.median(warms),
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count(), "load_average": loads, "kernels": kernels}


def _loads(result):
    return ", ".join("?" if x is None else f"{x:.2f}" for x in result["load_average"])


def report(result, top=10):
    """The profile as text: the totals, then the ``top`` kernels by own compile time and
    the kernels compiled for more than one signature."""
    n = result["runs"]
    lines = [f"command: {' '.join(result['command'])}  (medians of {n})",
             f"first run, empty cache: {result['first_run_median_s']:.2f} s "
             f"({', '.join(f'{w:.2f}' for w in result['first_run_s'])}); cache filled "
             f"behind it after {result['behind_median_s']:.2f} s",
             f"compiled first run, empty cache: {result['compiled_first_run_median_s']:.2f} s "
             f"({', '.join(f'{w:.2f}' for w in result['compiled_first_run_s'])})",
             f"warm cold start, new process: {result['warm_median_s']:.2f} s "
             f"({', '.join(f'{w:.2f}' for w in result['warm_s'])})",
             f"first run in one process: {result['one_process_median_s']:.2f} s, of which "
             f"compiling {result['compile_median_s']:.2f} s: {result['compilations']} "
             f"compilations of {len(result['kernels'])} functions",
             f"({result['cpus']} CPUs; load average before each round: "
             f"{_loads(result)})"]
    lines += ["", f"{'kernel':<56} {'own s':>6} {'sigs':>4}"]
    ranked = sorted(result["kernels"].items(), key=lambda kv: -kv[1]["own"])
    lines += [f"{name.replace('dopplerflow.core.', ''):<56} {k['own']:6.2f} "
              f"{k['signatures']:4d}" for name, k in ranked[:top]]
    multi = {name: k for name, k in result["kernels"].items() if k["signatures"] > 1}
    if multi:
        lines += ["", "compiled for more than one signature:"]
        for name, k in multi.items():
            lines.append(f"  {name} ({k['signatures']}):")
            lines += [f"    {a}" for a in k["args"]]
    return "\n".join(lines)


def write_markdown(result, path, top=10):
    """``result`` as a page of ``benchmarks/results``: the two rows, the machine, the
    kernel profile."""
    from . import machine_info

    m = machine_info()
    cmd = " ".join(result["command"])
    n = result["runs"]
    ranked = sorted(result["kernels"].items(), key=lambda kv: -kv[1]["own"])
    lines = [
        "# First run and warm cold start",
        "",
        f"`python -m benchmarks.compile_profile --runs {n} --md {os.path.relpath(path, ROOT)}`: "
        f"`{cmd}`, whole process, wall clock; medians of {n} rounds (a first run in one "
        f"process, a first run, the warm cold start after it, a compiled first run, in "
        f"turn), each first run on an empty numba cache.  Nothing pinned: {result['cpus']} CPUs "
        f"({m['cpu']}), shared: load average before each round {_loads(result)} (other "
        f"work on the second CPU slows the first run towards the one-process figure); "
        f"Python {m['python']}, numba {m['versions']['numba']}.",
        "",
        "| | median s | runs, s |",
        "|---|---:|---|",
        f"| first run, empty numba cache (kernels interpreted, compiled behind it) | "
        f"{result['first_run_median_s']:.2f} | "
        f"{', '.join(f'{w:.2f}' for w in result['first_run_s'])} |",
        f"| … the cache filled behind it, from the first run's start | "
        f"{result['behind_median_s']:.2f} | "
        f"{', '.join(f'{w:.2f}' for w in result['behind_s'])} |",
        f"| compiled first run, empty numba cache (`DOPPLERFLOW_FIRST_RUN=compile`, as a "
        f"long recording's) | {result['compiled_first_run_median_s']:.2f} | "
        f"{', '.join(f'{w:.2f}' for w in result['compiled_first_run_s'])} |",
        f"| warm cold start (new process, cache filled) | {result['warm_median_s']:.2f} | "
        f"{', '.join(f'{w:.2f}' for w in result['warm_s'])} |",
        f"| first run in one process (no second process) | "
        f"{result['one_process_median_s']:.2f} | "
        f"{', '.join(f'{w:.2f}' for w in result['one_process_s'])} |",
        "",
        f"The first run in one process spends {result['compile_median_s']:.1f} s "
        f"compiling: {result['compilations']} compilations of {len(result['kernels'])} "
        f"functions.  Kernels by their own compile time (less that of the kernels they "
        f"call), medians:",
        "",
        "| kernel | own s | signatures |",
        "|---|---:|---:|",
    ]
    lines += [f"| `{name.replace('dopplerflow.core.', '')}` | {k['own']:.2f} | "
              f"{k['signatures']} |" for name, k in ranked[:top]]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compile_profile",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--top", type=int, default=10, help="kernels listed (default 10)")
    parser.add_argument("--json", metavar="FILE", help="write every figure to FILE")
    parser.add_argument("--md", metavar="FILE", help="write the tables to FILE (markdown)")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="dopplerflow's arguments (default: the README's first command)")
    args = parser.parse_args(argv)
    result = profile(tuple(args.command) or README_COMMAND, max(1, args.runs),
                     log=lambda line: print(line, file=sys.stderr, flush=True))
    print(report(result, args.top))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    if args.md:
        write_markdown(result, args.md, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
