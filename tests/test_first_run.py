"""A machine's first run of a short recording (``dopplerflow/_first_run.py``): analysed with
the kernels interpreted, the same results as compiled, the kernels compiled behind it."""

import fcntl
import glob
import json
import os
import pathlib
import pickle
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf

import dopplerflow
from dopplerflow import _first_run
from dopplerflow._cache import _MARKERS
from dopplerflow.cli import main

SAMPLES = pathlib.Path(dopplerflow.__file__).parents[1] / "samples"
README = ["analyze", str(SAMPLES / "jugular_valsalva_iq.flac"), "--vessel", "ijv",
          "--antegrade", "away"]
FIRST = "first run on this machine: this short recording is analysed without compiled kernels"
BUSY = "still compiling behind an earlier command: this short recording is analysed without"
COMPILING = "compiling the analysis kernels"

_CHOOSE = """
import sys
from numba.core import config
from dopplerflow import _first_run
print(_first_run.choose(sys.argv[1]), bool(config.DISABLE_JIT), flush=True)
"""


def _env(cache):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_DISABLE_JIT", "DOPPLERFLOW_FIRST_RUN")}
    env["NUMBA_CACHE_DIR"] = str(cache)
    return env


def _cache_folder(cache):
    """The folder numba keeps the kernels in under NUMBA_CACHE_DIR=``cache``."""
    r = subprocess.run([sys.executable, "-c", "from dopplerflow._cache import "
                        "configure_numba_cache, cache_state; configure_numba_cache(); "
                        "print(cache_state()[0])"], env=_env(cache), capture_output=True,
                       text=True, check=True)
    return r.stdout.strip()


def _cli(args, cache, **kw):
    return subprocess.run([sys.executable, "-m", "dopplerflow", *args], env=_env(cache),
                          capture_output=True, text=True, **kw)


def _compiled_json(args, path):
    """The JSON of the analysis in this process (its kernels compiled)."""
    assert main([*args, "--quiet", "--json", str(path)]) == 0
    return json.loads(path.read_text())


@pytest.fixture
def held_lock(tmp_path):
    """An empty cache whose lock a compilation behind a command holds."""
    folder = _cache_folder(tmp_path / "cache")
    with open(os.path.join(folder, _first_run.LOCK_NAME), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield tmp_path / "cache", f


def test_the_readme_command_on_a_first_run_is_interpreted_and_compiles_behind_it(tmp_path):
    """The README's first command on an empty cache: analysed without compiling, the same
    JSON as compiled; the kernels compile behind it, and the next run loads them."""
    cache = tmp_path / "cache"
    first = _cli([*README, "--json", str(tmp_path / "first.json")], cache)
    assert first.returncode == 0, first.stderr
    assert FIRST in first.stderr and COMPILING not in first.stderr
    assert "Warning" not in first.stderr  # numpy's floating-point warnings: none
    expected = _compiled_json(README, tmp_path / "compiled.json")
    assert json.loads((tmp_path / "first.json").read_text()) == expected

    folder = _cache_folder(cache)
    lock = os.path.join(folder, _first_run.LOCK_NAME)
    with open(lock, "a") as f:  # the compilation behind it holds the lock until it ends
        deadline = time.monotonic() + 600
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, "the compilation behind never ended"
                time.sleep(0.5)
        fcntl.flock(f, fcntl.LOCK_UN)
    for marker in _MARKERS:
        assert glob.glob(os.path.join(folder, f"{marker}-*.nbi")), marker

    second = _cli([*README, "--json", str(tmp_path / "second.json")], cache)
    assert second.returncode == 0, second.stderr
    assert FIRST not in second.stderr and COMPILING not in second.stderr
    assert json.loads((tmp_path / "second.json").read_text()) == expected


@pytest.mark.parametrize("name, args", [
    ("femoral_competent_iq.flac", ["--vessel", "femoral"]),
    ("gsv_reflux_toward_away.flac", ["--layout", "toward-away", "--vessel", "gsv"]),
    ("artery_mono.flac", ["--layout", "mono", "--vessel", "artery"]),
])
def test_interpreted_kernels_give_the_compiled_results(tmp_path, held_lock, name, args):
    """Each bundled sample's JSON and per-beat CSV, interpreted (the kernels still compiling
    behind another command: nothing more starts), are those of the compiled kernels."""
    cache, _ = held_lock
    run = ["analyze", str(SAMPLES / name), *args]
    r = _cli([*run, "--json", str(tmp_path / "i.json"), "--beats-csv", str(tmp_path / "i.csv")],
             cache)
    assert r.returncode == 0, r.stderr
    assert BUSY in r.stderr
    assert main([*run, "--quiet", "--json", str(tmp_path / "c.json"), "--beats-csv",
                 str(tmp_path / "c.csv")]) == 0
    assert (tmp_path / "i.json").read_bytes() == (tmp_path / "c.json").read_bytes()
    assert (tmp_path / "i.csv").read_bytes() == (tmp_path / "c.csv").read_bytes()
    assert not glob.glob(os.path.join(_cache_folder(cache), "*.nbi"))  # nothing compiled


#: Seconds of 8 kHz stereo whose interpreted analysis is estimated at INTERPRET_MAX_S:
#: half of it is short, twice it long.
_BOUND_S = (_first_run.INTERPRET_MAX_S - _first_run.START_S) / _first_run.FRAME_S / 8000


def _wav(path, seconds, rate):
    rng = np.random.default_rng(0)
    sf.write(path, 0.01 * rng.standard_normal((int(seconds * rate), 2)), rate)
    return str(path)


def test_only_a_short_recording_is_interpreted(tmp_path):
    """The estimate decides: a recording whose interpreted analysis would take over
    INTERPRET_MAX_S is compiled (nothing is compiled here: the choice only)."""
    short_s, long_s = 0.5 * _BOUND_S, 2.0 * _BOUND_S
    cache = tmp_path / "cache"
    for seconds, interpreted in ((short_s, "True True"), (long_s, "False False")):
        wav = _wav(tmp_path / f"{seconds:.0f}.wav", seconds, 8000)
        r = subprocess.run([sys.executable, "-c", _CHOOSE, wav], env=_env(cache),
                           capture_output=True, text=True, check=True)
        assert r.stdout.split() == interpreted.split(), (seconds, r.stderr)
    # a file that cannot be read is left to the analysis, which says why
    r = subprocess.run([sys.executable, "-c", _CHOOSE, str(tmp_path / "none.wav")],
                       env=_env(cache), capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["False", "False"]
    env = _env(cache)
    env["DOPPLERFLOW_FIRST_RUN"] = "compile"
    r = subprocess.run([sys.executable, "-c", _CHOOSE, _wav(tmp_path / "s.wav", short_s, 8000)],
                       env=env, capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["False", "False"]


def test_a_long_recording_waits_for_the_compilation_behind_another(tmp_path, held_lock):
    """Kernels still compiling behind another command: a long recording waits for them,
    and says so, rather than compile while they are written."""
    cache, lock = held_lock
    seconds = 2.0 * _BOUND_S
    wav = _wav(tmp_path / "long.wav", seconds, 8000)
    child = subprocess.Popen([sys.executable, "-c", _CHOOSE, wav], env=_env(cache),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    threading.Timer(3.0, fcntl.flock, (lock, fcntl.LOCK_UN)).start()
    out, err = child.communicate(timeout=120)
    assert out.split() == ["False", "False"]
    assert "waiting for the kernels that an earlier command is compiling" in err


def test_a_file_that_cannot_be_read_waits_for_nothing(tmp_path, held_lock):
    """Kernels still compiling behind another command, and a file that is no audio: the
    command says so at once, without waiting for the kernels it will not run."""
    cache, _ = held_lock
    (tmp_path / "bad.wav").write_text("not audio")
    r = _cli(["analyze", str(tmp_path / "bad.wav")], cache, timeout=60)
    assert r.returncode == 1
    assert r.stderr.startswith("dopplerflow: error: ") and "waiting" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


REAL_DIR = SAMPLES.parents[1] / "shared" / "real"
_TRACE = """
import json, sys, numpy as np, soundfile as sf
from dopplerflow import analyze
path, seconds, out, layout = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
x, fs = sf.read(path, frames=int(seconds * sf.info(path).samplerate), dtype="float32",
                always_2d=True)
r = analyze(x[:, :1] if layout == "mono" else x, sample_rate_hz=fs, layout=layout,
            vessel="artery", keep_spectrogram=True)
t = r.trace
np.savez(out, spectrogram=r.spectrogram, result=json.dumps(r.to_dict(), sort_keys=True),
         **{c: getattr(t, c) for c in t.COLUMNS})
"""


@pytest.mark.skipif(not REAL_DIR.is_dir(), reason=f"the real recordings are not here "
                    f"({REAL_DIR}: a sibling folder of the project, ../shared/real)")
@pytest.mark.parametrize("name, seconds", [("fetal/Interference.wav", 3.75),
                                           ("postdive/precordial_04.wav", 6.0)])
def test_interpreted_kernels_give_the_compiled_bits_on_real_recordings(tmp_path, name, seconds):
    """Real recordings' coloured noise, clicks and tonal lines take the kernels down paths
    the samples do not: the spectrogram, every trace value and the result (beats
    included), interpreted (``NUMBA_DISABLE_JIT``), are those of the compiled kernels,
    bit for bit."""
    _assert_same_bits(tmp_path, REAL_DIR / name, seconds, "mono")


def test_interpreted_kernels_give_the_compiled_bits_on_an_odd_number_of_bins(tmp_path):
    """44.1 kHz makes a 10 ms window of 441 samples: an odd number of bins, the one at
    zero its own mirror, so one side of the noise's mirror pairs holds a bin more than the
    other.  White noise puts every bin in the noise's side quartiles (in this draw, none is
    taken for a tonal line); the interpreted kernels (which check every index) give the
    compiled kernels' bits."""
    path = tmp_path / "noise.wav"
    rng = np.random.default_rng(0)
    sf.write(path, 0.1 * rng.standard_normal((int(1.5 * 44100), 2)), 44100)
    _assert_same_bits(tmp_path, path, 1.5, "iq")


def _assert_same_bits(tmp_path, path, seconds, layout):
    env = {k: v for k, v in os.environ.items() if k != "DOPPLERFLOW_FIRST_RUN"}
    outs = {}
    for mode in ("compiled", "interpreted"):
        env["NUMBA_DISABLE_JIT"] = "1" if mode == "interpreted" else "0"
        out = tmp_path / f"{mode}.npz"
        r = subprocess.run([sys.executable, "-W", "ignore", "-c", _TRACE,
                            str(path), str(seconds), str(out), layout], env=env,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        outs[mode] = np.load(out)
    for key in outs["compiled"].files:
        np.testing.assert_array_equal(outs["compiled"][key], outs["interpreted"][key],
                                      err_msg=key)


def test_a_header_that_states_too_few_frames_is_no_short_recording(tmp_path):
    """A WAV whose header states one second over forty seconds of samples (a recording
    cut off before its length was written) is taken at its size: compiled."""
    seconds = 2.0 * _BOUND_S
    long_wav = _wav(tmp_path / "long.wav", seconds, 8000)
    short = _wav(tmp_path / "short.wav", 1.0, 8000)
    data = bytearray(pathlib.Path(long_wav).read_bytes())
    head = pathlib.Path(short).read_bytes()[:44]  # the 1 s file's header: its sizes
    data[:44] = head
    (tmp_path / "cut.wav").write_bytes(bytes(data))
    assert sf.info(str(tmp_path / "cut.wav")).frames == 8000
    r = subprocess.run([sys.executable, "-c", _CHOOSE, str(tmp_path / "cut.wav")],
                       env=_env(tmp_path / "cache"), capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["False", "False"]


def test_index_files_saved_from_other_sources_are_no_cache(tmp_path):
    """An upgrade (or a ``git pull`` under an editable install) changes the kernels'
    sources; the index files an older version left are then no cache (numba compiles
    anew): a first run, not a warm one.  An index is read as numba reads it: stamped with
    its kernel's own file and a digest of all the kernels' sources."""
    import numba

    from dopplerflow._cache import CORE_FOLDER, _probe, sources_digest

    cache = tmp_path / "cache"
    folder = pathlib.Path(_cache_folder(cache))
    tag = f"py{sys.version_info[0]}{sys.version_info[1]}"
    script = ("from dopplerflow._cache import configure_numba_cache, cache_state; "
              "configure_numba_cache(); print(cache_state()[1])")
    states = []
    for digest in ("0" * 32, sources_digest()):  # other sources, these
        for name in _MARKERS:
            own = _probe(os.path.join(CORE_FOLDER, name.split(".")[0] + ".py"))
            with open(folder / f"{name}-10.{tag}.nbi", "wb") as f:
                pickle.dump(numba.__version__, f)
                f.write(pickle.dumps(((own._impl.locator.get_source_stamp(), digest), {})))
        r = subprocess.run([sys.executable, "-c", script], env=_env(cache),
                           capture_output=True, text=True, check=True)
        states.append(r.stdout.strip())
    assert states == ["False", "True"]


def test_a_command_that_compiles_waits_for_the_compilation_behind_another(tmp_path, held_lock):
    """``exam`` (as ``batch``, ``replay``, ``live``) always compiles: while a compilation
    behind an earlier command fills the cache, it waits for it first, and says so (here the
    exam then finds no manifest, and compiles nothing)."""
    cache, lock = held_lock
    threading.Timer(3.0, fcntl.flock, (lock, fcntl.LOCK_UN)).start()
    t0 = time.monotonic()
    r = _cli(["exam", str(tmp_path / "no_such.toml")], cache, timeout=120)
    assert time.monotonic() - t0 >= 3.0
    assert "waiting for the kernels that an earlier command is compiling" in r.stderr
    assert r.returncode == 1 and "no such manifest file" in r.stderr.splitlines()[-1]
