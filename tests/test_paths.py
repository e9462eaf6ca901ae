"""No output may destroy a recording: outputs that name an input, a recording or each other
are refused before any work, and every output is written all at once or not at all."""

import json
import os
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from dopplerflow.cli import main
from dopplerflow.core.io import atomic_output
from dopplerflow.errors import AudioFileError

SAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "samples",
                      "jugular_valsalva_iq.flac")
TRUTH = SAMPLE.replace(".flac", ".truth.json")
EXAM = os.path.join(os.path.dirname(SAMPLE), "exam", "exam.toml")


@pytest.fixture
def rec(tmp_path):
    p = tmp_path / "x.flac"
    shutil.copy(SAMPLE, p)
    return p


def _refused(argv, capsys, *keep):
    """Run ``argv``; check exit 2, one line, and every file of ``keep`` left as it was."""
    before = [p.read_bytes() for p in keep]
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert [p.read_bytes() for p in keep] == before
    return err


@pytest.mark.parametrize("flag", ["--json", "--csv", "--plot"])
def test_analyze_refuses_to_write_over_the_recording(rec, capsys, flag):
    err = _refused(["analyze", rec, flag, rec], capsys, rec)
    assert f"{flag} {rec} would overwrite the recording {rec}; give the output another" in err


def test_a_link_to_the_recording_is_the_recording(rec, tmp_path, capsys):
    link = tmp_path / "link.json"
    link.symlink_to(rec)
    _refused(["analyze", rec, "--json", link], capsys, rec)


def test_two_outputs_may_not_name_the_same_file(rec, tmp_path, capsys):
    out = tmp_path / "out.txt"
    err = _refused(["analyze", rec, "--json", out, "--csv", out], capsys, rec)
    assert f"--json and --csv both name {out}; give each output its own file" in err
    assert not out.exists()


def test_replay_refuses_to_write_over_the_recording(rec, capsys):
    _refused(["replay", rec, "--json", rec], capsys, rec)


@pytest.mark.parametrize("which", ["result", "truth"])
def test_score_refuses_to_write_over_its_inputs(tmp_path, capsys, which):
    truth = tmp_path / "truth.json"
    shutil.copy(TRUTH, truth)
    result = tmp_path / "result.json"
    assert main(["analyze", SAMPLE, "--vessel", "ijv", "--json", str(result), "--trace-json",
                 "-q"]) == 0
    target = result if which == "result" else truth
    err = _refused(["score", result, truth, "--json", target], capsys, result, truth)
    assert f"would overwrite the {which} file" in err


def test_report_refuses_to_write_over_the_recording(rec, tmp_path, capsys):
    page = tmp_path / "x.html"
    page.symlink_to(rec)
    err = _refused(["report", rec, "-o", page], capsys, rec)
    assert "would overwrite the recording" in err


def test_an_empty_output_name_is_refused(rec, capsys):
    err = _refused(["analyze", rec, "--json", ""], capsys, rec)
    assert "--json needs a file name" in err


def test_live_never_records_over_a_file(rec, capsys):
    err = _refused(["live", "--record", rec, "--duration", "1"], capsys, rec)
    assert "a recording is never overwritten" in err


def test_an_output_is_written_whole_or_not_at_all(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as fh:
        fh.write("half of a new file")
        raise RuntimeError("the analysis stops here")
    assert target.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["result.json"]  # no temporary file left
    with atomic_output(target) as fh:
        fh.write("new")
    assert target.read_text() == "new" and sorted(os.listdir(tmp_path)) == ["result.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_a_full_disk_leaves_no_file_behind(tmp_path, rec):
    """A real write that fails part-way: the process may write no file over 10 kB
    (RLIMIT_FSIZE; Python ignores SIGXFSZ, so the write fails as on a full disk).  The CSV
    (about 100 kB) is not written, no temporary file is left, and one line names it."""
    out = tmp_path / "out"
    out.mkdir()
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (10000, 10000)); "
            "from dopplerflow.cli import main; sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", code, "analyze", str(rec), "-q", "--csv",
                        str(out / "t.csv")], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip() == f"dopplerflow: error: cannot write {out / 't.csv'}: File too large"
    assert os.listdir(out) == []


def test_an_output_that_cannot_be_written_is_named_in_one_line(tmp_path, rec, capsys):
    """A file where the output's folder should be: the error names the output; no
    traceback, exit 1, before the analysis."""
    blocker = tmp_path / "notafolder"
    blocker.write_text("")
    with pytest.raises(AudioFileError, match=r"cannot write .*notafolder/out\.json: "):
        with atomic_output(blocker / "out.json") as fh:
            fh.write("x")
    code = main(["analyze", str(rec), "--json", str(blocker / "out.json")])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and "--json" in err


@pytest.mark.parametrize("flag, dash", [("--json", True), ("--plot", False)])
def test_a_device_as_output_is_refused_and_standard_output_offered(rec, capsys, flag, dash):
    """``--json /dev/null``: one line, exit 1, before the analysis; it names ``--json -``
    where that option can write to standard output, and only there."""
    code = main(["analyze", str(rec), flag, os.devnull])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert f"{flag} {os.devnull} is not a regular file" in err
    assert (f"{flag} - for standard output" in err) == dash


def test_standard_output_named_as_a_file_is_refused(rec, tmp_path):
    """``--json /dev/stdout > out.txt``: the output and the report would share one file.
    Refused in one line, exit 1, offering ``--json -``; the file is left as the shell
    made it and ``/dev/stdout`` stays what it was (a file put there would be the system's
    standard output no more)."""
    out = tmp_path / "out.txt"
    was_link = os.path.islink("/dev/stdout")
    for name in ("/dev/stdout", str(out)):
        with open(out, "w") as fh:
            r = subprocess.run([sys.executable, "-m", "dopplerflow", "analyze", str(rec),
                                "--json", name], stdout=fh, stderr=subprocess.PIPE, text=True)
        assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert f"--json {name} is this command's standard output" in r.stderr
        assert "--json - for standard output" in r.stderr
        assert out.read_text() == ""
    assert os.path.islink("/dev/stdout") == was_link


def test_an_output_through_a_link_writes_the_linked_file(rec, tmp_path):
    """A plain ``open`` writes the file a link names; so does every output: the link is
    kept."""
    (tmp_path / "runs").mkdir()
    target = tmp_path / "runs" / "run1.json"
    target.write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to(target)
    assert main(["analyze", str(rec), "-q", "--json", str(link)]) == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text())["reflux"] is True
    assert sorted(os.listdir(tmp_path / "runs")) == ["run1.json"]


@pytest.mark.parametrize("args, message", [
    (["--jitter-ms", "nan"], r"--jitter-ms nan must be a finite number of milliseconds"),
    (["--jitter-ms", "inf"], r"--jitter-ms inf must be a finite number"),
    (["--jitter-ms", "1e300"], r"--jitter-ms 1e\+300 must be a finite number of milliseconds, "
                               r"0 to 1000"),
    (["--seed", "-1"], r"--seed -1 must be a whole number, 0 or more"),
    (["--drop-every", "-2"], r"--drop-every -2 must be a whole number, 0 or more"),
])
def test_replay_fault_settings_are_usage_errors(capsys, args, message):
    import re

    code = main(["replay", SAMPLE, *args])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and re.search(message, err), err


def test_a_huge_block_size_reads_in_bounded_pieces(rec, capsys):
    assert main(["analyze", str(rec), "--block-size", "99999999999", "--vessel", "ijv", "-q",
                 "--json", "-"]) == 0
    assert '"reflux": true' in capsys.readouterr().out


# ------------------------------------------------------------------ a recording is never an output
def _recording(path, fmt="WAV"):
    """A recording that is no input of the command: 12 s of 8 kHz stereo noise, in ``fmt``
    whatever the file's name says."""
    x = np.random.default_rng(0).standard_normal((12 * 8000, 2)) * 0.1
    sf.write(path, x, 8000, format=fmt, subtype="PCM_16")
    return path


@pytest.mark.parametrize("fmt", ["WAV", "FLAC"])
@pytest.mark.parametrize("flag", ["--json", "--csv", "--beats-csv", "--plot"])
def test_analyze_refuses_an_output_that_is_a_recording(rec, tmp_path, capsys, flag, fmt):
    other = _recording(tmp_path / f"other.{fmt.lower()}", fmt)
    err = _refused(["analyze", rec, flag, other], capsys, rec, other)
    assert (f"{flag} {other}: {other} is a recording ({fmt}, 2 channels, 12.0 s); dopplerflow "
            f"never writes over a recording: give the output another file name") in err


def test_the_name_of_a_file_does_not_hide_a_recording(rec, tmp_path, capsys):
    """A recording is known by what libsndfile reads in it, not by its name: a WAV called
    .json is refused; a JSON called .wav is not a recording, and is written over."""
    disguised = _recording(tmp_path / "result.json")
    _refused(["analyze", rec, "--json", disguised], capsys, rec, disguised)
    not_audio = tmp_path / "old.wav"
    not_audio.write_text("{}\n")
    assert main(["analyze", str(rec), "-q", "--json", str(not_audio), "--vessel", "ijv"]) == 0
    assert '"reflux": true' in not_audio.read_text()


@pytest.mark.parametrize("argv, name", [
    (["replay", "REC", "--csv", "OUT"], "other.csv"),
    (["report", "REC", "-o", "OUT"], "other.html"),
    (["score", "result.json", "truth.json", "--json", "OUT"], "other.json"),
    (["evaluate", "--json", "OUT"], "other.json"),
    (["batch", "REC", "-o", "OUT"], "other.csv"),
    (["exam", EXAM, "-o", "OUT"], "other.html"),
    (["exam", EXAM, "--json", "OUT"], "other.json"),
    (["live", "--json", "OUT"], "other.json"),
    (["explain", "--out-dir", "DIR"], "index.html"),
])
def test_every_command_refuses_an_output_that_is_a_recording(rec, tmp_path, capsys, argv,
                                                             name):
    folder = tmp_path / "out"
    folder.mkdir()
    other = _recording(folder / name)
    swap = {"REC": rec, "OUT": other, "DIR": folder}
    err = _refused([swap.get(a, a) for a in argv], capsys, rec, other)
    assert f"{other} is a recording (WAV, 2 channels, 12.0 s); dopplerflow never writes " \
           f"over a recording" in err
    assert sorted(os.listdir(folder)) == [name]


def test_simulate_never_writes_over_a_recording(tmp_path, capsys):
    """Not even over a simulation of its own: a second run with the same -o is refused, and
    says to remove the first or choose another name."""
    out = tmp_path / "sim.wav"
    argv = ["simulate", "no_flow", "-o", out, "--duration", "1", "--sample-rate", "8000"]
    assert main([str(a) for a in argv]) == 0
    capsys.readouterr()
    truth = out.with_suffix(".truth.json")
    err = _refused(argv, capsys, out, truth)
    assert f"-o {out}: {out} is a recording (WAV, 2 channels, 1.0 s); dopplerflow never " \
           f"writes over a recording: remove it or choose another name" in err
    user = _recording(tmp_path / "user.flac", "FLAC")
    _refused(["simulate", "no_flow", "-o", user], capsys, user)


# ------------------------------------------------------------------ '-' is standard output
@pytest.mark.parametrize("command", ["analyze", "replay"])
@pytest.mark.parametrize("flag", ["--csv", "--beats-csv"])
def test_a_csv_to_dash_goes_to_stdout_alone(rec, tmp_path, capsys, monkeypatch, command, flag):
    """``--csv -`` is what ``--csv FILE`` writes, on stdout, with no summary around it and no
    file named '-'."""
    monkeypatch.chdir(tmp_path)
    assert main([command, str(rec), "-q", "--vessel", "ijv", flag, "t.csv"]) == 0
    capsys.readouterr()
    assert main([command, str(rec), "--vessel", "ijv", flag, "-"]) == 0
    out = capsys.readouterr().out
    with open(tmp_path / "t.csv", newline="") as fh:
        assert out == fh.read()
    assert out.count("\n") > 3 and not os.path.exists(tmp_path / "-")


@pytest.mark.parametrize("flags, message", [
    (["--json", "-", "--csv", "-"], "--json - and --csv -: only one output can go to standard "
                                    "output; give the other a file name"),
    (["--csv", "-", "--beats-csv", "-"], "--csv - and --beats-csv -: only one output"),
    (["--plot", "-"], "--plot -: --plot writes a file, not standard output; give a file name"),
])
def test_standard_output_takes_one_output_that_can_go_there(rec, tmp_path, capsys, monkeypatch,
                                                            flags, message):
    monkeypatch.chdir(tmp_path)
    err = _refused(["analyze", rec, *flags], capsys, rec)
    assert message in err and os.listdir(tmp_path) == ["x.flac"]


@pytest.mark.parametrize("argv", [
    ["score", "result.json", "truth.json", "--json", "-"],
    ["evaluate", "--json", "-"],
    ["live", "--csv", "-"],
])
def test_commands_without_standard_output_refuse_dash(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    err = _refused(argv, capsys)
    assert "writes a file, not standard output; give a file name" in err
    assert os.listdir(tmp_path) == []


def test_standard_input_is_not_read(capsys):
    assert main(["analyze", "-"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == ("dopplerflow: error: '-' (standard input) is not supported: "
                           "dopplerflow reads a recording from a file (it reads it more than "
                           "once); save the audio to a file and give its path")


def test_a_folder_where_no_file_can_be_made_is_refused_before_the_analysis(rec, tmp_path,
                                                                            capsys):
    """``/proc`` passes every permission test (as root too) but takes no new file: the
    output is refused before the analysis, in one line, and no other output is written."""
    csv = tmp_path / "t.csv"
    code = main(["analyze", str(rec), "--csv", str(csv), "--json", "/proc/df_out.json", "-q"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "--json /proc/df_out.json: no file can be made in the folder /proc" in err
    assert not csv.exists()


def test_the_writability_probe_leaves_nothing_behind(rec, tmp_path):
    """The probe makes a file beside the output and removes it: the folder is as it was,
    and a file already at the output's path is not touched."""
    from dopplerflow.cli.paths import check_paths

    old = tmp_path / "old.json"
    old.write_text("kept")
    os.utime(old, (1e9, 1e9))
    before = sorted(os.listdir(tmp_path))
    check_paths([("the recording", rec)], [("--json", old), ("--csv", tmp_path / "new.csv")])
    assert sorted(os.listdir(tmp_path)) == before
    assert old.read_text() == "kept" and old.stat().st_mtime == 1e9


@pytest.mark.parametrize("command", ["analyze", "replay"])
def test_an_output_failing_at_the_end_keeps_the_others(rec, tmp_path, capsys, command):
    """The JSON's folder is gone when the outputs are written (after the check): the CSV,
    the beats CSV and the plot are written all the same, the summary is printed, and one
    error names the JSON."""
    from dopplerflow.cli import build_parser
    from dopplerflow.cli.common import finish_outputs
    from dopplerflow.core import analyze

    gone = tmp_path / "gone"
    out = {"--json": gone / "a.json", "--csv": tmp_path / "t.csv",
           "--beats-csv": tmp_path / "b.csv", "--plot": tmp_path / "p.png"}
    args = build_parser().parse_args([command, str(rec), "--vessel", "ijv",
                                      *(str(a) for kv in out.items() for a in kv)])
    analysis = analyze(str(rec), vessel="ijv", keep_trace=True, keep_spectrogram=True)
    with pytest.raises(AudioFileError) as exc:
        finish_outputs(analysis, args)
    assert str(exc.value) == (f"cannot write {gone / 'a.json'}: No such file or directory; the "
                              f"other outputs (--csv, --beats-csv, --plot) were written")
    assert out["--csv"].read_text().startswith("time_s")
    assert out["--beats-csv"].read_text() and out["--plot"].stat().st_size > 0
    assert "reflux      YES" in capsys.readouterr().out
