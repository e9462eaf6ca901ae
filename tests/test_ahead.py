"""A first run's second process (``core/_ahead.py``): it compiles the row stages' kernels,
and only those, while the first compiles the stages before; nothing is left running."""

import ast
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

import dopplerflow
from dopplerflow.cli import main
from dopplerflow.core import _ahead, _numba

CORE = pathlib.Path(dopplerflow.__file__).parent / "core"
SAMPLE = str(CORE.parents[1] / "samples" / "jugular_valsalva_iq.flac")

# Which kernels a process has run (compiled or loaded from numba's cache): those with a
# signature.  "ahead": a processor built (what the first process has compiled before it
# hands the settings over), then warmed up as the second process does; "analysis": an
# analysis in one process, split where its processor would wait for the second.
_USED = r"""
import json, sys
from numba.core.registry import CPUDispatcher
from dopplerflow.core import analyze
from dopplerflow.core.processor import Processor
from dopplerflow.core.settings import Settings


def used():
    return {v.py_func.__name__ for name, mod in list(sys.modules.items())
            if name.startswith("dopplerflow.core") for v in vars(mod).values()
            if isinstance(v, CPUDispatcher) and v.signatures}


mode, path, kwargs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
keep = {k: kwargs.pop(k) for k in ("keep_trace", "keep_spectrogram")}
if mode == "ahead":
    import soundfile as sf
    info = sf.info(path)
    settings = Settings(**kwargs).replace(layout="iq")
    proc = Processor(settings, info.samplerate, info.channels, **keep)
    built = used()
    proc.warm_up()
    print(json.dumps({"built": sorted(built), "ahead": sorted(used() - built)}))
else:
    seen = {}
    wait = Processor._join_ahead

    def join(self):
        seen.setdefault("before", used())
        wait(self)

    Processor._join_ahead = join
    analyze(path, **kwargs, **keep)
    print(json.dumps({"before": sorted(seen["before"]),
                      "after": sorted(used() - seen["before"])}))
"""


def _kernel_calls():
    """Each kernel of the package and the kernels its source calls (kernel names are
    unique across the package)."""
    trees = [ast.parse(p.read_text()) for p in CORE.rglob("*.py")]
    kernels = {n.name: n for t in trees for n in ast.walk(t) if isinstance(n, ast.FunctionDef)
               and any("njit" in ast.unparse(d) for d in n.decorator_list)}
    return {name: {c.func.id for c in ast.walk(node) if isinstance(c, ast.Call)
                   and isinstance(c.func, ast.Name) and c.func.id in kernels} - {name}
            for name, node in kernels.items()}


def _reach(tops, calls):
    """``tops`` and every kernel they call, directly or not: what compiling them compiles."""
    seen, todo = set(), list(tops)
    while todo:
        k = todo.pop()
        if k not in seen:
            seen.add(k)
            todo += calls[k]
    return seen


def _used(mode, kwargs):
    r = subprocess.run([sys.executable, "-c", _USED, mode, SAMPLE, json.dumps(kwargs)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


@pytest.mark.parametrize("kwargs", [
    {"vessel": "ijv", "antegrade": "away", "keep_trace": False, "keep_spectrogram": False},
    {"vessel": "ijv", "keep_trace": True, "keep_spectrogram": True},
    {"hum_hz": 50.0, "keep_trace": False, "keep_spectrogram": False},
], ids=["antegrade given", "trace and plot", "hum"])
def test_the_second_process_compiles_the_row_stages_and_nothing_else(kwargs):
    """The second process compiles no kernel the first runs before it waits (two
    processes writing one kernel's cache entries at once could leave an index that
    names another's data), and leaves the first nothing of the row stages to compile:
    only the hum probe's decimation, a sample stage that decides once the rows flow."""
    calls = _kernel_calls()
    ahead, analysis = _used("ahead", dict(kwargs)), _used("analysis", dict(kwargs))
    cached_before = _reach(ahead["built"], calls)  # the first process compiled them first
    # (a kernel loaded from numba's cache brings the kernels it calls without their own
    # signatures: the two are compared with what they call)
    assert cached_before <= _reach(analysis["before"], calls)
    compiled_ahead = _reach(ahead["ahead"], calls) - cached_before
    assert not compiled_ahead & _reach(analysis["before"], calls)
    assert set(analysis["after"]) - set(ahead["ahead"]) <= {"_fir_decimate"}


@pytest.fixture
def first_run(monkeypatch):
    """The kernels taken for not cached (they are: the second process loads them)."""
    monkeypatch.setattr(_numba, "kernels_cached", lambda: False)
    monkeypatch.setattr(_ahead, "_cpus", lambda: 2)
    waits = []
    wait = _ahead.Ahead.wait

    def recorded(self, *args):
        waits.append(wait(self, *args))
        return waits[-1]

    monkeypatch.setattr(_ahead.Ahead, "wait", recorded)
    return waits


def test_a_first_run_hands_the_row_stages_over_and_waits(tmp_path, first_run, monkeypatch):
    """The results are those of one process; the second ended before the row stages."""
    main(["analyze", SAMPLE, "--vessel", "ijv", "--antegrade", "away", "--quiet",
          "--json", str(tmp_path / "two.json")])
    assert first_run == [0] and not _ahead._running
    monkeypatch.setattr(_ahead, "_cpus", lambda: 1)
    main(["analyze", SAMPLE, "--vessel", "ijv", "--antegrade", "away", "--quiet",
          "--json", str(tmp_path / "one.json")])
    assert first_run == [0]
    assert (tmp_path / "two.json").read_bytes() == (tmp_path / "one.json").read_bytes()


def test_no_second_process_is_left_behind(tmp_path, first_run):
    """A command that fails before its processor is built, or after it has handed the
    row stages over, ends the second process with it."""
    assert main(["analyze", str(tmp_path / "missing.wav"), "--quiet"]) == 1
    assert not _ahead._running and not _ahead.pending()
    p = tmp_path / "short.wav"  # refused once the processor is built: under one window
    sf.write(p, np.zeros((10, 2), np.float32), 8000)
    assert main(["analyze", str(p), "--quiet"]) == 1
    assert first_run == [] and not _ahead._running and _ahead.compile_ahead(None) is None
