"""The command line: every command parses, runs through ``dopplerflow.cli.main``, and turns
user errors into one line and an exit status (1 bad input, 2 bad usage)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
from test_plots import FS, stepped_tone
from test_report import GSV, parse_page

from dopplerflow import Settings, cli
from dopplerflow.sim import synth
from dopplerflow.sim.scenarios import list_scenarios

COMMANDS = ("analyze", "batch", "exam", "simulate", "replay", "score", "evaluate", "devices",
            "live", "report", "repair", "explain", "bench")


# ------------------------------------------------------------------------------ the parser
def test_every_command_is_listed_and_has_help(capsys):
    assert tuple(cli.COMMANDS) == COMMANDS
    assert cli.main(["--help"]) == 0
    listed = capsys.readouterr().out
    assert all(f"    {name}" in listed for name in COMMANDS)
    for name in COMMANDS:
        assert cli.main([name, "--help"]) == 0
        assert capsys.readouterr().out.startswith(f"usage: dopplerflow {name}")


def test_no_command_prints_help_and_is_bad_usage(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


@pytest.mark.parametrize("module", ["dopplerflow", "dopplerflow.cli"])
def test_python_m_runs_the_command_line(module):
    res = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                         text=True, timeout=60, check=True)
    assert res.stdout.startswith("usage: dopplerflow")
    res = subprocess.run([sys.executable, "-m", module, "simulate", "--list"],
                         capture_output=True, text=True, timeout=60, check=True)
    assert res.stdout.split()[0] == list_scenarios()[0][0]


def test_the_parser_and_the_library_load_no_gui_sound_or_signal_modules():
    code = ("import sys, dopplerflow, dopplerflow.live, dopplerflow.sim, dopplerflow.figures, "
            "dopplerflow.study.batch, dopplerflow.study.exam; "
            "from dopplerflow import cli; cli.build_parser(); "
            "print([m for m in ('matplotlib', 'sounddevice', 'scipy.signal') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


#: A bundled recording whose analysis lasts well past the last interrupt sent below.
JUGULAR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "samples",
                       "jugular_valsalva_iq.flac")
#: The two ways the command starts: ``python -m dopplerflow`` and the console script's code.
STARTS = {"python -m": ["-m", "dopplerflow"],
          "console script": ["-c", "import sys; from dopplerflow.cli import main; "
                                   "sys.exit(main())"]}


def _interpreter_start_s():
    """Seconds the interpreter takes to start and stop doing nothing (site included), the
    longer of two runs: an interrupt before then may fall in Python's own start-up, before
    any code of dopplerflow runs, where Python itself answers it."""
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - t0)
    return max(times)


#: What a command says first on a machine whose kernels are not compiled yet.
FIRST_RUN_NOTES = ("dopplerflow: first run on this machine: ",
                   "dopplerflow: the analysis kernels are still compiling behind ",
                   "dopplerflow: numba cannot keep the compiled analysis kernels ")


@pytest.mark.parametrize("start", sorted(STARTS))
def test_ctrl_c_during_start_up_is_one_line_and_exit_130(start):
    """Before, an interrupt while numpy, numba and the kernels loaded (imported before the
    command's try) printed a KeyboardInterrupt traceback.  Now every moment of start-up,
    from the first line of dopplerflow on, ends with one line and exit status 130."""
    base = _interpreter_start_s()
    answered = 0
    for delay in (0.05, 0.15, 0.3, 0.6):
        p = subprocess.Popen([sys.executable, *STARTS[start], "analyze", JUGULAR, "--vessel",
                              "ijv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(base + delay)
        assert p.poll() is None, "the analysis ended before the interrupt was sent"
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
        if p.returncode in (-signal.SIGINT, 0) and not err:
            # on a loaded machine the interpreter can still be starting (before it handles
            # SIGINT at all, it dies of it silently): no code of dopplerflow ran; or the
            # analysis ended between the check above and the signal
            continue
        answered += 1
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert lines, (delay, p.returncode)
        # the first run on a machine (or one while the kernels compile behind an earlier
        # command) says first how it runs the kernels
        assert "Traceback" not in err and lines[-1] == "dopplerflow: interrupted", (delay, err)
        assert len(lines) == 1 or lines[0].startswith(FIRST_RUN_NOTES), (delay, err)
        assert p.returncode == 130, (delay, err)
    # the later interrupts fall in dopplerflow's start-up, however loaded the machine
    assert answered >= 2


#: The end of a script's command ``run(argv)``: it spins until an interrupt ends it, and is
#: run as the command line's command.
_UNTIL_INTERRUPTED = """
    for _ in range(10 ** 9):
        pass
    print("not interrupted")
    return 0

cli._main = run
sys.exit(cli.main([]))
"""


def _interrupted(script):
    """Run ``script`` in another Python; its exit status, stdout and stderr's lines (blank
    ones left out)."""
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout, [ln for ln in p.stderr.splitlines() if ln.strip()]


_SWALLOWED = """
import signal, sys, weakref
from dopplerflow import cli

class Held:
    pass

def run(argv):
    held = Held()
    ref = weakref.ref(held, lambda r: cli._raise_interrupted(signal.SIGINT, None))
    del held  # an interrupt inside the callback cannot leave it
""" + _UNTIL_INTERRUPTED


def test_ctrl_c_where_python_cannot_raise_it_still_ends_the_command():
    """An interrupt that falls inside a weak reference's callback (importlib's module locks
    have one, as modules load) cannot leave it: Python printed "Exception ignored in ...
    Traceback ... Interrupted" and the command went on.  Now it is delivered again and
    ends the command with one line and exit status 130."""
    code, out, lines = _interrupted(_SWALLOWED)
    assert code == 130 and "not interrupted" not in out
    assert lines == ["dopplerflow: interrupted"], lines


def test_an_interrupt_that_lands_in_the_hook_passing_one_on_is_sent_again(monkeypatch):
    """The hook that passes a swallowed interrupt on (``sys.unraisablehook``) starts a thread
    to deliver it again 1 ms later. On a loaded machine the main thread can still be in the
    hook by then: raised there, the interrupt was swallowed for good and the command ran on
    (exit status 0). Raised in the hook (here from the thread's start, as a signal handler
    would be there), it is sent again instead, and the hook returns."""
    import types

    from dopplerflow import cli as cli_module

    started = []

    class Thread:
        def __init__(self, target, daemon):
            self.target = target

        def start(self):
            started.append(self.target)
            if len(started) == 1:  # the hook's own thread: the signal lands here
                cli_module._raise_interrupted(signal.SIGINT, sys._getframe())

    monkeypatch.setattr(cli_module.threading, "Thread", Thread)
    unraisable = types.SimpleNamespace(exc_value=cli_module.Interrupted())
    cli_module._interrupt_again(unraisable, fallback=None)
    assert started == [cli_module._deliver_later, cli_module._deliver_later]
    with pytest.raises(cli_module.Interrupted):  # outside the hook it is raised
        cli_module._raise_interrupted(signal.SIGINT, sys._getframe())


_IN_AN_IMPORT = """
import os, signal, sys
from dopplerflow import cli

def run(argv):
    try:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while a C extension imports a module
        for _ in range(10 ** 9):
            pass
    except KeyboardInterrupt:
        # the extension reports the import the interrupt cut short as its own error
        raise ImportError("numba._devicearray failed to import")
    return 0

cli._main = run
sys.exit(cli.main([]))
"""


def test_ctrl_c_inside_an_extensions_import_is_still_one_line():
    """Ctrl-C while numba's _dispatcher (a C extension) imported _devicearray came out as
    "ImportError: numba._devicearray failed to import", the interrupt its context, and a
    traceback.  Now the interrupt in an error's context ends the command with one line and
    exit status 130; the same error without one is still an error."""
    code, out, lines = _interrupted(_IN_AN_IMPORT)
    assert code == 130 and lines == ["dopplerflow: interrupted"], lines
    code, _, lines = _interrupted(_IN_AN_IMPORT.replace(
        "os.kill(os.getpid(), signal.SIGINT)",
        "raise ImportError('numba._devicearray failed to import')"))
    assert code == 1 and lines[-1] == "ImportError: numba._devicearray failed to import", lines


_LOST_IN_AN_IMPORT = """
import os, signal, sys
from dopplerflow import cli

def run(argv):
    cut = False
    try:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while numpy's C extension imports
        for _ in range(10 ** 9):
            pass
    except KeyboardInterrupt:
        cut = True
    if cut:  # the extension clears the interrupt and reports its own error in its place
        raise ImportError('PyCapsule_Import could not import module "datetime"')
    return 0

cli._main = run
sys.exit(cli.main([]))
"""


def test_ctrl_c_that_an_extension_reports_as_its_own_error_is_still_one_line():
    """numpy's C extension, cut short by Ctrl-C as it imported datetime, raised "ImportError:
    PyCapsule_Import could not import module 'datetime'" with the interrupt gone from its
    context, and a traceback followed.  The interrupt the handler raised is kept: the
    command ends with one line and exit status 130."""
    code, out, lines = _interrupted(_LOST_IN_AN_IMPORT)
    assert code == 130 and lines == ["dopplerflow: interrupted"], lines


_PRINTED_BY_AN_IMPORT = """
import ctypes, sys
from dopplerflow import cli

def run(argv):
    # numpy's import_array(), in every C extension built on numpy: the interrupt raised
    # inside it is printed (PyErr_Print, as PyRun_SimpleString does), then the extension
    # reports its own ImportError
    ctypes.pythonapi.PyRun_SimpleString(
        b"import os, signal\\nos.kill(os.getpid(), signal.SIGINT)\\n"
        b"for _ in range(10 ** 9): pass\\n")
    raise ImportError("numpy._core.multiarray failed to import")

cli._main = run
sys.exit(cli.main([]))
"""


def test_ctrl_c_that_an_extension_prints_before_its_own_error_is_still_one_line():
    """A clean clone's run of the suite: Ctrl-C as a C extension built on numpy imported
    printed the interrupt's traceback (numpy's import_array() prints the error it meets,
    through sys.excepthook, before it raises "numpy._core.multiarray failed to import"),
    then "dopplerflow: interrupted".  The interrupt is not printed: one line, exit 130."""
    code, out, lines = _interrupted(_PRINTED_BY_AN_IMPORT)
    assert code == 130 and lines == ["dopplerflow: interrupted"], lines


_HALF_MADE = """
import sys
from dopplerflow import cli

class Half:
    def __init__(self):
        self.me = self  # a reference cycle: freed by the collector
        raise KeyboardInterrupt  # the interrupt cuts its making short

    def __del__(self):
        self._ptr  # never set: its finaliser fails, as a half-made llvmlite object's does

def run(argv):
    Half()
    return 0

cli._main = run
sys.exit(cli.main([]))
"""


def test_ctrl_c_that_leaves_an_object_half_made_is_still_one_line():
    """Ctrl-C while numba made an llvmlite object left it half made; freed as the process
    ended, its finaliser failed, and Python printed "Exception ignored in ... Traceback"
    after "dopplerflow: interrupted".  Now such objects are freed, quietly, before the
    command returns."""
    code, _, lines = _interrupted(_HALF_MADE)
    assert code == 130 and lines == ["dopplerflow: interrupted"], lines


_IN_NUMBA = """
import os, signal, sys
from numba.core.compiler_lock import global_compiler_lock
from dopplerflow import cli

def run(argv):
    with global_compiler_lock:  # as numba holds it while it compiles or loads a kernel
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(10 ** 6):
            pass
        print("held", flush=True)
""" + _UNTIL_INTERRUPTED


def test_ctrl_c_while_numba_compiles_waits_for_it():
    """An interrupt raised inside numba's compiler lock (a kernel compiled, or loaded from
    the cache, in LLVM) can leave LLVM's objects half made: the process crashed (SIGSEGV,
    no message) or a finaliser failed as it ended.  Now it is delivered once numba lets go
    of the lock, and ends the command there with one line and exit status 130."""
    code, out, lines = _interrupted(_IN_NUMBA)
    assert out == "held\n" and code == 130, (out, lines)
    assert lines == ["dopplerflow: interrupted"], lines


def test_the_library_modules_have_no_command_line():
    """argparse lives in dopplerflow.cli only: the library modules keep library functions."""
    import importlib

    for name in ("live.session", "live.replay", "live.devices", "live.status", "live.plot",
                 "sim.synth", "sim.score", "sim.evaluate", "sim.scenarios",
                 "figures.plots", "figures.explain", "figures.report", "figures.exam_report",
                 "study.batch", "study.exam", "study.files", "study.manifest", "study.ccsvi",
                 "study.legmap", "study.pool", "study.recsettings", "study.table"):
        mod = importlib.import_module(f"dopplerflow.{name}")
        assert not hasattr(mod, "add_arguments") and not hasattr(mod, "main"), name
        assert "argparse" not in vars(mod), name


# ------------------------------------------------------------------------------ simulate
def test_cli_simulate_list_and_write(tmp_path, capsys):
    assert cli.main(["simulate", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == [n for n, _ in list_scenarios()]
    out = tmp_path / "s.flac"
    assert cli.main(["simulate", "jugular_valsalva", "-o", str(out), "--sample-rate", "8000",
                     "--duration", "7", "--layout", "toward-away", "--seed", "2",
                     "--carrier-mhz", "5", "--angle", "50"]) == 0
    truth = json.loads((tmp_path / "s.truth.json").read_text())
    assert truth["carrier_hz"] == 5e6 and truth["angle_deg"] == 50.0 and truth["reflux"]
    assert sf.info(str(out)).channels == 2
    assert capsys.readouterr().out.startswith(f"wrote {out} (7 s, 8000 Hz, layout toward-away")
    assert cli.main(["simulate"]) == 2
    assert "give a scenario NAME" in capsys.readouterr().err


# ------------------------------------------------------------------------------ score
def _event(start, end):
    return {"start_s": start, "end_s": end, "duration_s": end - start,
            "peak_velocity_cm_s": 10.0}


def test_cli_score_prints_and_writes(tmp_path, capsys):
    t = np.round(np.arange(0.0, 10.0, 0.005), 4)
    truth = {"scenario": "hand", "snr_db": 12.0, "flow": True, "reflux": True,
             "reflux_events": [_event(2.0, 3.5)],
             "trace": {"time_s": t.tolist(), "velocity_cm_s": [10.0] * len(t)}}
    result = {"flow_detected": True, "reflux": True, "reflux_events": [_event(2.02, 3.45)],
              "direction_available": True}
    (tmp_path / "t.json").write_text(json.dumps(truth))
    (tmp_path / "r.json").write_text(json.dumps(result))
    files = [str(tmp_path / "r.json"), str(tmp_path / "t.json")]
    assert cli.main(["score", *files, "--json", str(tmp_path / "s.json")]) == 0
    text = capsys.readouterr().out
    assert "onset +20 ms" in text and "end -50 ms" in text and "sensitivity 100%" in text
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["n_matched"] == 1
    assert cli.main(["score", *files, "--tolerance", "-1"]) == 2
    assert "tolerance" in capsys.readouterr().err
    missing = str(tmp_path / "missing.json")
    assert cli.main(["score", missing, files[1]]) == 1
    assert capsys.readouterr().err == (f"dopplerflow: error: {missing}: no such file (the "
                                       f"analysis result); check the path\n")
    # both missing: the result is named, as it comes first (not the marks the truth's
    # place was then read as)
    assert cli.main(["score", missing, missing.replace("missing", "gone")]) == 1
    assert "missing.json: no such file (the analysis result)" in capsys.readouterr().err
    assert cli.main(["score", files[0], str(tmp_path)]) == 1
    assert capsys.readouterr().err == (f"dopplerflow: error: {tmp_path} is a folder; give the "
                                       f"truth or the beat marks as a file\n")


# ------------------------------------------------------------------------------ evaluate
def test_cli_evaluate_writes_json(tmp_path, capsys):
    out = tmp_path / "eval.json"
    code = cli.main(["evaluate", "--scenarios", "no_flow", "--snr", "12", "--seeds", "1",
                     "--layouts", "iq", "--workers", "1", "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "no_flow" in printed and "SNR 12 dB:" in printed
    data = json.loads(out.read_text())
    assert [r["scenario"] for r in data["rows"]] == ["no_flow"]
    assert data["config"]["seeds"] == [0] and len(data["records"]) == 2  # given + auto


@pytest.mark.parametrize("argv, match", [
    (["--snr", "20,abc"], "comma-separated"),
    (["--layouts", "stereo"], "layouts"),
    (["--seeds", "0"], "--seeds 0"),
    (["--scenarios", "nope"], "nope"),
])
def test_cli_evaluate_bad_usage(argv, match, capsys):
    assert cli.main(["evaluate", *argv]) == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1


def test_cli_evaluate_json_folder_must_exist(tmp_path, capsys):
    assert cli.main(["evaluate", "--scenarios", "no_flow", "--json",
                     str(tmp_path / "no" / "x.json")]) == 1
    assert "does not exist" in capsys.readouterr().err


# ------------------------------------------------------------------------------ replay
FLAGS = ["--vessel", "perforator", "--antegrade", "toward", "--trace-json"]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """perforator_reflux (outward flow after releases at 2.7 s and 6.7 s), as test_replay."""
    d = tmp_path_factory.mktemp("cli_replay")
    out = {}
    for name, kw in (("short", dict(sample_rate_hz=8000, duration_s=3.5)),
                     ("iq", dict(sample_rate_hz=16000, duration_s=8.0))):
        out[name] = d / f"{name}.wav"
        synth.write_scenario("perforator_reflux", out[name], seed=3, **kw)
    return out


def test_cli_replay_json_equals_analyze(recordings, tmp_path, capsys):
    path = recordings["iq"]
    out_a, out_r = tmp_path / "a.json", tmp_path / "r.json"
    assert cli.main(["analyze", str(path), *FLAGS, "--json", str(out_a), "-q"]) == 0
    assert cli.main(["replay", str(path), *FLAGS, "--block-size", "4097",
                     "--json", str(out_r)]) == 0
    printed = capsys.readouterr().out
    assert out_r.read_text() == out_a.read_text()
    assert "reflux confirmed" in printed and "reflux ended" in printed


def test_cli_replay_says_when_reflux_is_not_assessable(tmp_path, capsys):
    """Every event a stream gives is printed as a live session prints it, among them
    reflux becoming not assessable (two vessels flowing opposite ways)."""
    from dopplerflow.sim.evaluate import quantise
    from dopplerflow.sim.synth import synthesize, to_layout

    syn = synthesize("jugular_with_carotid", sample_rate_hz=16000, snr_db=12, seed=0)
    path = tmp_path / "two.wav"
    sf.write(path, quantise(to_layout(syn.baseband, "iq", 16000)), 16000, subtype="PCM_16")
    assert cli.main(["replay", str(path), "--layout", "iq", "--vessel", "ijv"]) == 0
    printed = capsys.readouterr().out
    assert any(line.startswith("reflux not assessable from ") and "two vessels flow opposite"
               in line for line in printed.splitlines()), printed


def test_cli_replay_with_drops(recordings, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert cli.main(["replay", str(recordings["iq"]), *FLAGS, "--block-size", "8000",
                     "--drop-every", "6", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["dropped_blocks"] == 2 and d["dropped_samples"] == 16000 and len(d["gaps"]) == 2
    assert any(e["affected_by_gap"] for e in d["reflux_events"] + d["retrograde_episodes"])
    assert "(gap)" in capsys.readouterr().out  # the summary table marks affected events


def test_cli_replay_dropping_every_block_analyses_nothing(tmp_path, capsys):
    """Every block dropped: nothing was analysed, so flow and reflux are not assessable and
    no antegrade direction was chosen (before, the summary said one was chosen "from more
    time-integrated flow")."""
    out = tmp_path / "r.json"
    # (--no-sidecar: the sample's sidecar gives the antegrade direction)
    assert cli.main(["replay", JUGULAR, "--vessel", "ijv", "--drop-every", "1", "--no-sidecar",
                     "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["reflux"] is None and d["reflux_not_assessable"] == "nothing was analysed"
    assert d["flow_detected"] is None and d["reflux_events"] == []
    assert d["antegrade"] is None and d["antegrade_source"] == "unknown"
    assert d["dropped_samples"] == d["duration_s"] * d["sample_rate_hz"]
    lines = capsys.readouterr().out.splitlines()
    assert "  reflux      not assessable (nothing was analysed)" in lines
    assert "  antegrade   not known: nothing was analysed" in lines


@pytest.mark.parametrize("argv, match", [
    (["--block-size", "0"], "block size 0"),
    (["--drop-every", "-1"], "must be a whole number, 0 or more"),
])
def test_cli_replay_bad_usage(recordings, argv, match, capsys):
    assert cli.main(["replay", str(recordings["short"]), *argv]) == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------------------ analyze
def test_cli_analyze_summary_states_the_verdict(capsys):
    assert cli.main(["analyze", str(GSV), "--layout", "toward-away", "--vessel", "gsv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("dopplerflow ") and lines[0].endswith(str(GSV))
    assert "  vessel      gsv, reflux threshold 0.5 s" in lines
    assert any(ln.startswith("  reflux      YES: ") and ln.endswith("longer than 0.5 s")
               for ln in lines)


def test_cli_analyze_summary_of_a_file_cut_short_says_what_the_verdict_covers(tmp_path,
                                                                               capsys):
    """The bundled jugular sample (12 s, reflux from 4.35 s) cut to its first part: the
    verdict is "no", of the part read, and the summary, the JSON and the report say so."""
    cut = tmp_path / "cut.flac"
    data = open(JUGULAR, "rb").read()
    cut.write_bytes(data[:len(data) // 4])
    out = tmp_path / "cut.json"
    args = [str(cut), "--vessel", "ijv", "--antegrade", "away"]
    assert cli.main(["analyze", *args, "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    d = json.loads(out.read_text())
    assert d["audio_complete"] is False and d["reflux"] is False
    read, stated = d["cut"]["at_s"], d["cut"]["stated_s"]
    assert stated == 12.0 and 1.0 < read < 4.35
    assert f"  audio       {d['duration_s']:.2f} s of 12.00 s (cut short), 8000 Hz, 2 " \
           f"channel(s), layout iq" in lines
    assert (f"  reflux      no: 0 event(s) longer than 0.88 s, in the first {read:.2f} s of "
            f"12.00 s (the file is cut short)") in lines
    assert cli.main(["report", *args, "-o", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert "of 12.00 s (cut short)" in page and "(the file is cut short)." in page


def test_cli_analyze_plot(tmp_path):
    z = stepped_tone()
    wav = tmp_path / "tone.wav"
    sf.write(wav, np.stack((z.real, z.imag), axis=1), FS, subtype="FLOAT")
    out = tmp_path / "plot.png"
    rc = cli.main(["analyze", str(wav), "--vessel", "gsv", "--antegrade", "away",
                   "--plot", str(out), "-q"])
    assert rc == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["analyze", str(wav), "--plot", str(tmp_path / "x.jpg"), "-q"]) == 2


MONO = str(GSV.parent / "artery_mono.flac")  # 11,025 Hz: a 110-sample window is 9.977 ms


@pytest.mark.parametrize("argv, match", [
    (["analyze", MONO, "--layout", "offset"], "layout 'offset' needs --offset-hz HZ"),
    (["analyze", MONO, "--offset-hz", "2000"], "--offset-hz applies to --layout offset only"),
    (["analyze", MONO, "--layout", "mono", "--invert"], "leave --invert out"),
    (["analyze", MONO, "--layout", "mono", "--antegrade", "away"], "leave --antegrade out"),
    (["analyze", MONO, "--layout", "mono", "--trace-json"], "give --json OUT too"),
    (["replay", MONO, "--layout", "offset"], "layout 'offset' needs --offset-hz HZ"),
    (["report", MONO, "--layout", "offset", "-o", "x.html"], "--offset-hz HZ"),
    (["live", "--layout", "offset", "--device", "none"], "layout 'offset' needs --offset-hz"),
    (["simulate", "no_flow", "-o", "x.wav", "--mains-hz", "60"], "give --hum-dbfs DB too"),
    (["simulate", "no_flow", "-o", "x.wav", "--offset-hz", "900"], "--layout offset only"),
    (["simulate", "no_flow", "-o", "x.wav", "--layout", "mono", "--invert"], "--invert"),
])
def test_options_that_need_another_are_one_line_usage_errors(argv, match, capsys):
    """An option given without the one it depends on (or with a layout that has no use for
    it) is refused before anything is read or opened: one line that says what to give."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and match in err
    assert "None" not in err


def test_cli_summary_numbers_are_tidy(capsys):
    assert cli.main(["analyze", MONO, "--layout", "mono", "--vessel", "artery"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "  audio       8.00 s, 11025 Hz, 1 channel(s), layout mono"
    assert lines[2] == ("  geometry    8 MHz (default), 60 deg (default), c = 1540 m/s; 1 kHz "
                        "shift = 19.2 cm/s")
    assert lines[3].startswith("  spectrum    10 ms window, 5 ms hop: bins of 100.2 Hz = ")
    assert cli.main(["analyze", MONO, "--layout", "mono", "--angle", "52.46", "--window-ms",
                     "12.345", "--carrier-mhz", "7.5", "--no-sidecar"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].startswith("  geometry    7.5 MHz, 52.5 deg, c = 1540 m/s;")
    assert lines[3].startswith("  spectrum    12.3 ms window, 5 ms hop:")  # 136 samples
    from dopplerflow.cli.common import tidy

    assert [tidy(v, 1) for v in (12.345, 52.46, 9.97732, 4.98866, -0.04)] == [
        "12.3", "52.5", "10", "5", "0"]


def test_cli_summary_counts_the_events_past_its_twentieth(capsys):
    """A long recording's hundreds of events pushed the warnings off the screen: the table
    stops at 20 rows, and one line counts the rest and names the longest of them."""
    import dataclasses
    import io

    from dopplerflow import analyze
    from dopplerflow.cli.common import MAX_EVENT_ROWS, print_summary

    a = analyze(GSV, layout="toward-away", vessel="gsv")
    ev = a.reflux_events[0]
    events = [dataclasses.replace(ev, start_s=10.0 * i, end_s=10.0 * i + 1.0 + 0.01 * (i == 23),
                                  duration_s=1.0 + 0.01 * (i == 23)) for i in range(25)]
    out = io.StringIO()
    print_summary(dataclasses.replace(a, reflux_events=events, warnings=["last words"]), out)
    lines = out.getvalue().splitlines()
    at = lines.index("  reflux events:") + 2
    assert [ln.split()[0] for ln in lines[at:at + MAX_EVENT_ROWS]] == [
        str(i) for i in range(1, 21)]
    assert lines[at + MAX_EVENT_ROWS] == (
        "    ... and 5 more, to 241.000 s (the longest of them 1.010 s, from 230.000 s); "
        "every one is in the JSON (--json) and the report")
    assert lines[-1] == "  warning     last words"
    out = io.StringIO()  # twenty: all of them, no count
    print_summary(dataclasses.replace(a, reflux_events=events[:20]), out)
    assert "more, to" not in out.getvalue() and "    20  " in out.getvalue()


def test_cli_settings_from_flags():
    args = cli.build_parser().parse_args(["analyze", "x.wav", "--vessel", "ijv", "--angle", "50",
                                          "--window-ms", "20", "--hum", "60"])
    # the layout of a recording is chosen from its channels unless given
    assert cli.settings_from_args(args) == Settings(layout="auto", vessel="ijv", angle_deg=50.0,
                                                    window_s=0.02, hum_hz=60.0)


# ------------------------------------------------------------------------------ report, explain
def test_cli_report(tmp_path, capsys):
    out = tmp_path / "r.html"
    rc = cli.main(["report", str(GSV), "--layout", "toward-away", "--vessel", "gsv",
                   "-o", str(out)])
    assert rc == 0
    p = parse_page(out.read_text(encoding="utf-8"))
    assert p.tables["reflux-events"]["body"] >= 1
    assert capsys.readouterr().out.strip() == str(out)
    assert cli.main(["report", str(GSV), "-o", str(tmp_path / "r.pdf")]) == 2
    assert cli.main(["report", str(tmp_path / "missing.flac"), "-o", str(out)]) == 1


def test_cli_explain_prints_what_it_wrote(tmp_path, capsys):
    out = tmp_path / "teach"
    assert cli.main(["explain", "--out-dir", str(out), "--only", "doppler_equation",
                     "--format", "svg"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "doppler_equation.svg"), str(out / "captions.md"),
                       str(out / "index.html")]
    assert cli.main(["explain", "--out-dir", str(out), "--dpi", "5"]) == 2
    assert "--dpi 5 is outside" in capsys.readouterr().err
    assert cli.main(["explain", "--out-dir", str(out), "--only", "nonsense"]) == 2


# ------------------------------------------------------------------------------ bench
def test_bench_command_rejects_unknown_sections(capsys):
    assert cli.main(["bench", "--only", "speed", "--out", "/nonexistent"]) == 2
    assert "unknown benchmark section(s) speed" in capsys.readouterr().err


def test_bench_without_a_checkout_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    from dopplerflow.cli import bench

    assert bench.load_suite() is not None  # this is a checkout
    monkeypatch.setattr(bench, "suite_folder", lambda: str(tmp_path / "benchmarks"))
    assert bench.load_suite() is None
    assert cli.main(["bench", "--quick"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "source checkout" in err[0] and str(tmp_path) in err[0]


# ------------------------------------------------------------------------------ progress
class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_progress_in_a_log_is_a_line_every_few_seconds():
    import io

    from dopplerflow.cli.common import LOG_INTERVAL_S, Progress

    log, clock = io.StringIO(), _Clock()
    progress = Progress("evaluate", log, clock=clock)
    for step in range(1, 41):  # 40 tasks, one every 0.5 s: 20 s in all
        clock.t = 0.5 * step
        progress(step / 40)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    # one line per LOG_INTERVAL_S (5 s: at 5, 10, 15 s), and the last one at 100%
    assert len(lines) == 20 // LOG_INTERVAL_S
    assert lines[0] == "evaluate: 25% done, 5 s elapsed, about 15 s left"
    assert lines[-1] == "evaluate: 100% done, 20 s elapsed"
    quick, clock = io.StringIO(), _Clock()
    progress = Progress("analyze", quick, clock=clock)
    for step in range(1, 11):  # done in 1 s: nothing to report
        clock.t = 0.1 * step
        progress(step / 10)
    assert quick.getvalue() == ""


def test_progress_on_a_terminal_is_one_bar_rewritten_and_erased():
    from test_status import Tty

    from dopplerflow.cli.common import Progress

    tty, clock = Tty(), _Clock()
    progress = Progress("x.flac", tty, clock=clock)
    for step in range(1, 5):
        clock.t = float(step)
        progress(step / 4)
    text = tty.getvalue()
    assert "\n" not in text
    # a bar of 25 cells, 4 % each
    assert text.split("\r")[1:4] == [f"x.flac [{'#' * (pct // 4):<25}] {pct:3d}%"
                                      for pct in (25, 50, 75)]
    assert text.endswith("\r" + " " * len("x.flac") + " " * 35 + "\r")


@pytest.mark.parametrize("command", ["analyze", "replay"])
def test_cli_summary_marks_a_reflux_cut_by_the_end(tmp_path, capsys, command):
    """A recording that ends during a reflux: the summary's event table marks it, the JSON
    flags it, and a warning gives its least duration; a file and its replay alike."""
    fs = 8000
    freq = np.concatenate([np.full(2 * fs, 700.0), np.full(int(1.5 * fs), -700.0)])
    z = 0.5 * np.exp(2j * np.pi * np.cumsum(freq) / fs)
    path, out = tmp_path / "cut.wav", tmp_path / "cut.json"
    sf.write(path, np.stack((z.real, z.imag), axis=1), fs, subtype="PCM_16")
    assert cli.main([command, str(path), "--layout", "iq", "--vessel", "ijv", "--antegrade",
                     "toward", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    row = [line for line in printed.splitlines() if line.startswith("      1  ")]
    assert len(row) == 1 and row[0].endswith("  (cut by the end: at least)"), printed
    ev = json.loads(out.read_text())["reflux_events"][0]
    assert ev["cut_by_end"] is True
    assert "warning     reflux still running at the end of the recording: it lasted at least" \
        in printed


def test_an_error_names_the_flag_on_the_command_line_and_the_keyword_in_python(tmp_path,
                                                                              capsys):
    """One error reaches both: the command line prints the flags alone, Python the flags
    with their keywords."""
    import dopplerflow as df

    path = tmp_path / "mono.wav"
    sf.write(path, np.random.default_rng(0).standard_normal(8000) * 0.01, 8000)
    with pytest.raises(df.LayoutError, match=r"--layout mono \(Python: layout='mono'\)"):
        df.analyze(path, layout="iq")
    assert cli.main(["analyze", str(path), "--layout", "iq"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("dopplerflow: error: ") and "use --layout mono" in err
    assert "Python" not in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("given, assumed", [
    ([], ["carrier_hz", "angle_deg"]),
    (["--carrier-mhz", "8"], ["angle_deg"]),
    (["--carrier-mhz", "8", "--angle", "60"], None),
])
def test_a_carrier_or_angle_not_given_is_marked_as_the_default(tmp_path, capsys, given,
                                                               assumed):
    """Every velocity scales with the carrier and the angle's cosine: one left at its
    default is marked so in the summary, the JSON, the figure's title and the report, and
    one given (even at the default's value) is not."""
    from dopplerflow.figures.plots import _figure_title

    sample = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "samples", "artery_mono.flac")
    out = tmp_path / "a.json"
    assert cli.main(["analyze", sample, "--layout", "mono", "--json", str(out), *given]) == 0
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("  geometry")][0]
    d = json.loads(out.read_text())
    assert d.get("geometry_assumed") == assumed
    carrier = "8 MHz (default)" if assumed and "carrier_hz" in assumed else "8 MHz,"
    angle = "60 deg (default)" if assumed and "angle_deg" in assumed else "60 deg,"
    assert carrier in line and angle in line
    page = tmp_path / "r.html"
    assert cli.main(["report", sample, "--layout", "mono", "-o", str(page), *given]) == 0
    text = page.read_text()
    assert ("the default, not given" in text) == bool(assumed)
    a = __import__("dopplerflow").analyze(sample, layout="mono")
    a.extra["geometry_assumed"] = assumed or []
    assert ("(default)" in _figure_title(a)) == bool(assumed)


def test_sigterm_ends_a_command_with_one_line_and_143(tmp_path):
    """SIGTERM (a batch system's time limit, ``kill``, ``timeout``) ends any command as
    Ctrl-C does, with its own line and exit status 143, not silently."""
    p = subprocess.Popen([sys.executable, "-m", "dopplerflow", "replay", JUGULAR,
                          "--realtime", "-q"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(3.0)  # under way: the samples' 12 s are replayed in real time
    assert p.poll() is None, p.communicate()
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 143, err
    assert err.strip().splitlines() == ["dopplerflow: terminated (SIGTERM)"], err


# ------------------------------------------------------------------ a recording's sidecar
SAMPLES = os.path.join(os.path.dirname(__file__), "..", "samples")


def _with_sidecar(tmp_path, text, suffix=".dopplerflow.toml"):
    """A copy of the bundled mono artery beside a sidecar of ``text``."""
    rec = tmp_path / "art.flac"
    rec.write_bytes(open(os.path.join(SAMPLES, "artery_mono.flac"), "rb").read())
    (tmp_path / ("art" + suffix)).write_text(text)
    return rec


def test_one_recording_is_analysed_with_its_sidecar_under_the_flags(tmp_path, capsys):
    """analyze, replay and report read the recording's sidecar as batch does (its row and
    the recording analysed alone agree), the flags given winning over it; the summary, the
    report and the JSON say what it set; --no-sidecar leaves it.  Before, a recording
    analysed alone ignored it: the bundled artery read with no vessel."""
    rec = _with_sidecar(tmp_path, 'layout = "mono"\nvessel = "artery"\nangle_deg = 55\n')
    out = tmp_path / "a.json"
    assert cli.main(["analyze", str(rec), "--json", str(out)]) == 0
    shown = capsys.readouterr().out
    assert ("  settings    from the sidecar art.dopplerflow.toml: layout mono, angle 55 deg, "
            "vessel artery\n") in shown
    assert "60 deg (default)" not in shown and "55 deg, c" in shown
    res = json.loads(out.read_text())
    assert res["sidecar"] == {"file": "art.dopplerflow.toml",
                              "fields": ["layout", "angle_deg", "vessel"]}
    assert (res["settings"]["vessel"], res["settings"]["angle_deg"]) == ("artery", 55.0)
    assert res["geometry_assumed"] == ["carrier_hz"]
    # the batch's row of the same recording gives the same
    table = tmp_path / "t.csv"
    assert cli.main(["batch", str(rec), "-o", str(table), "--jobs", "1", "-q"]) == 0
    with open(table, newline="") as f:
        (row,) = csv.DictReader(f)
    assert (row["vessel"], float(row["angle_deg"]), row["heart_rate_bpm"]) == \
        ("artery", 55.0, str(res["heart_rate_bpm"]))
    # a flag given wins; the sidecar's other settings stay
    assert cli.main(["replay", str(rec), "--angle", "45", "-q", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["sidecar"]["fields"] == ["layout", "vessel"] and res["settings"]["angle_deg"] == 45
    assert "geometry_assumed" in res and res["settings"]["vessel"] == "artery"
    # --no-sidecar: the defaults
    assert cli.main(["analyze", str(rec), "--no-sidecar", "-q", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert "sidecar" not in res and res["settings"]["vessel"] is None
    assert res["geometry_assumed"] == ["carrier_hz", "angle_deg"]
    page = tmp_path / "r.html"
    assert cli.main(["report", str(rec), "-o", str(page)]) == 0
    assert "from the sidecar art.dopplerflow.toml: layout mono, angle 55 deg, vessel artery" \
        in page.read_text()


@pytest.mark.parametrize("sidecar, words", [
    ('angle_deg = "steep"\n', "sidecar art.dopplerflow.toml: angle_deg"),
    ('vessel = "aorta"\n', "sidecar art.dopplerflow.toml: "),
    ("[table]\nvessel = 'gsv'\n", "sidecar art.dopplerflow.toml must be one flat table"),
    ('colour = "red"\n', "sidecar art.dopplerflow.toml: "),
])
def test_a_bad_sidecar_is_refused_in_one_line(tmp_path, capsys, sidecar, words):
    rec = _with_sidecar(tmp_path, sidecar)
    assert cli.main(["analyze", str(rec), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
    assert cli.main(["analyze", str(rec), "-q", "--no-sidecar"]) == 0


def test_a_flag_that_does_not_fit_the_sidecar_s_layout_is_refused(tmp_path, capsys):
    """The layout's checks are made on the settings in force: a sidecar's mono layout and
    --antegrade toward (a direction a mono recording does not have)."""
    rec = _with_sidecar(tmp_path, 'layout = "mono"\n')
    assert cli.main(["analyze", str(rec), "--antegrade", "toward", "-q"]) == 2
    assert "a mono recording has no flow direction" in capsys.readouterr().err
    (tmp_path / "art.dopplerflow.json").write_text('{"vessel": "artery"}')
    assert cli.main(["analyze", str(rec), "-q"]) == 2
    assert "has two sidecars" in capsys.readouterr().err
