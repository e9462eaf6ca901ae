"""``dopplerflow batch``: many recordings in, one table out.

Real files (simulated recordings written into a temporary folder) go through
:func:`dopplerflow.study.batch.run_batch` and the command line.  The tests prove that
the table does not depend on how the work is spread (one process, two, a Dask
cluster), that a bad recording is a row and not the end of the run, that per-recording
settings come from sidecars and a settings table in that order, that a run resumes
where it stopped, that Parquet reads back as the CSV does, and that no output may
overwrite an input or another output.
"""

import csv
import io
import json
import os
import shutil

import numpy as np
import pytest

from dopplerflow import Settings, cli
from dopplerflow.cli.common import CountProgress
from dopplerflow.errors import InputError, SettingsError
from dopplerflow.sim.synth import write_scenario
from dopplerflow.study import batch, table
from dopplerflow.study.batch import run_batch
from dopplerflow.study.files import find_recordings
from dopplerflow.study.pool import run_tasks

#: (path under data/, scenario, duration s, seed): short 8 kHz I/Q recordings.
RECORDINGS = (
    ("neck/vv.flac", "vertebral_repeated", 3.5, 1),   # reflux 2.0-3.1 s
    ("neck/jug.flac", "jugular_phasic", 2.0, 2),      # no reflux
    ("legs/gsv.flac", "gsv_squeeze_reflux", 4.5, 3),  # reflux from 2.35 s
    ("legs/perf.wav", "perforator_reflux", 3.5, 4),   # reflux 2.7-3.3 s
)
BAD = "legs/bad.flac"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A folder of recordings: four good ones, one that is not audio, one text file."""
    root = tmp_path_factory.mktemp("study") / "data"
    for rel, scenario, duration, seed in RECORDINGS:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_scenario(scenario, path, sample_rate_hz=8000, duration_s=duration, seed=seed)
    (root / BAD).write_bytes(b"not audio at all " * 20)
    (root / "notes.txt").write_text("not a recording\n")
    return root


def _csv_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_find_recordings_walks_folders_expands_globs_and_names_each_file_once(data, tmp_path):
    link = tmp_path / "again.flac"
    link.symlink_to(data / "neck/vv.flac")
    found = find_recordings([data, str(data / "neck" / "*.flac"), link])
    names = [os.path.relpath(r.path, data) for r in found]
    # folders: audio extensions only, recursively; the glob and the link add nothing new
    assert sorted(names) == sorted([rel for rel, *_ in RECORDINGS] + [BAD])
    assert [r.name for r in found] == sorted(r.name for r in found)
    empty = []
    with pytest.raises(InputError, match="no recordings found"):
        find_recordings([str(tmp_path / "nothing" / "*.flac")], on_empty=empty.append)
    assert empty == [str(tmp_path / "nothing" / "*.flac")]


def test_one_row_per_recording_a_bad_file_is_a_row_and_jobs_do_not_change_anything(
        data, tmp_path):
    outs = {}
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}.csv"
        summary = run_batch([data], out, jobs=jobs, json_dir=tmp_path / f"json{jobs}",
                            settings=Settings(vessel="vv"))
        assert (summary.found, summary.analysed, summary.errors) == (5, 5, 1)
        outs[jobs] = out.read_bytes()
    assert outs[1] == outs[2]  # byte for byte
    rows = _csv_rows(tmp_path / "jobs1.csv")
    assert [r["file"] for r in rows] == sorted(r["file"] for r in rows)
    by = {os.path.relpath(r["file"], data): r for r in rows}
    bad = by[BAD]
    assert bad["status"] == "error" and "not a readable audio file" in bad["error"]
    assert bad["flow_detected"] == "" and bad["vessel"] == "vv"  # settings known, no result
    vv = by["neck/vv.flac"]
    assert vv["status"] == "ok" and vv["reflux"] == "true" and vv["error"] == ""
    assert 1.0 < float(vv["longest_reflux_s"]) < 1.25 and vv["reflux_threshold_s"] == "0.88"
    assert by["neck/jug.flac"]["reflux"] == "false"
    # the JSON of each good recording, the same whatever the jobs, mirroring the folders
    for rel in ("neck/vv.flac", "legs/perf.wav"):
        one = (tmp_path / "json1" / (rel + ".json")).read_text()
        assert one == (tmp_path / "json2" / (rel + ".json")).read_text()
        assert json.loads(one)["file"] == by[rel]["file"]
    assert not (tmp_path / "json1" / (BAD + ".json")).exists()


def test_a_file_cut_short_is_a_row_that_says_so(data, tmp_path):
    """The verdict of a file cut short covers the audio read: its row says so in columns
    of their own, beside the whole file's."""
    folder = tmp_path / "cut"
    folder.mkdir()
    whole = (data / "neck/jug.flac").read_bytes()
    (folder / "whole.flac").write_bytes(whole)
    (folder / "half.flac").write_bytes(whole[:len(whole) // 2])
    run_batch([folder], tmp_path / "cut.csv", jobs=1, settings=Settings(vessel="ijv"))
    by = {os.path.basename(r["file"]): r for r in _csv_rows(tmp_path / "cut.csv")}
    half, full = by["half.flac"], by["whole.flac"]
    assert half["status"] == full["status"] == "ok"
    assert (full["audio_complete"], full["cut_at_s"], full["stated_duration_s"]) == ("true", "", "")
    assert half["audio_complete"] == "false" and half["stated_duration_s"] == "2.0"
    assert 0.5 < float(half["cut_at_s"]) == float(half["duration_s"]) < 1.5
    assert "cut short" in half["warnings"]


def test_sidecars_then_the_settings_table_set_each_recording(data, tmp_path):
    folder = tmp_path / "d"
    shutil.copytree(data, folder)
    (folder / "neck/vv.dopplerflow.toml").write_text('vessel = "vv"\nantegrade = "toward"\n')
    (folder / "legs/gsv.dopplerflow.json").write_text('{"vessel": "gsv", "angle": 55}')
    (folder / "legs/perf.dopplerflow.toml").write_text('angle_deg = "steep"\n')
    settings_table = tmp_path / "settings.csv"
    settings_table.write_text("file,vessel,carrier-mhz,angle_deg\n"
                              "d/legs/gsv.flac,,5,\n"
                              "d/neck/jug.flac,ijv,,50\n")
    run_batch([folder], tmp_path / "out.csv", table_path=settings_table, jobs=1)
    by = {os.path.relpath(r["file"], folder): r for r in _csv_rows(tmp_path / "out.csv")}
    vv, gsv, jug, perf = (by[k] for k in ("neck/vv.flac", "legs/gsv.flac", "neck/jug.flac",
                                          "legs/perf.wav"))
    assert (vv["settings_source"], vv["vessel"], vv["antegrade_setting"]) == \
        ("sidecar", "vv", "toward")
    # the table's empty cells leave the sidecar's values; its carrier wins
    assert (gsv["settings_source"], gsv["vessel"], gsv["angle_deg"], gsv["carrier_hz"]) == \
        ("sidecar+table", "gsv", "55.0", "5000000.0")
    assert (jug["settings_source"], jug["vessel"], jug["angle_deg"]) == ("table", "ijv", "50.0")
    # a bad sidecar spoils its own recording only
    assert perf["status"] == "error" and "angle_deg 'steep' is not a number" in perf["error"]
    assert sum(r["status"] == "ok" for r in by.values()) == 3


@pytest.mark.parametrize("text, match", [
    ("file,carrier\nx.flac,8\n", "'carrier' is not a setting; use carrier_mhz or carrier_hz"),
    ("vessel\ngsv\n", "has no 'file' column"),
    ("file,vessel\na.flac,gsv\na.flac,vv\n", "a.flac is named twice"),
])
def test_a_bad_settings_table_stops_the_run_before_any_work(data, tmp_path, text, match):
    t = tmp_path / "t.csv"
    t.write_text(text)
    with pytest.raises(SettingsError, match=match):
        run_batch([data], tmp_path / "out.csv", table_path=t, jobs=1)
    assert not (tmp_path / "out.csv").exists()


def test_the_bundled_samples_run_with_their_sidecars(tmp_path):
    samples = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "samples")
    summary = run_batch([samples], tmp_path / "out.csv", jobs=1, json_dir=tmp_path / "json",
                        beats_dir=tmp_path / "beats")
    rows = {os.path.basename(r["file"]): r for r in _csv_rows(tmp_path / "out.csv")}
    assert summary.errors == 0 and len(rows) == 15  # the four samples and the exam's eleven
    assert (rows["artery_mono.flac"]["layout"], rows["artery_mono.flac"]["vessel"]) == \
        ("mono", "artery")
    jug = rows["jugular_valsalva_iq.flac"]
    assert (jug["settings_source"], jug["reflux"], jug["n_reflux_events"]) == \
        ("sidecar", "true", "1")
    # the beats: the JSON's summary, a column each (empty where it has none)
    for name, vein in (("artery_mono.flac", False), ("jugular_valsalva_iq.flac", True)):
        with open(tmp_path / "json" / f"{name}.json") as fh:
            b = json.load(fh)["beats"]
        row = rows[name]
        assert float(row["psv_cm_s"]) == b["psv_cm_s"] and float(row["pi"]) == b["pi"]
        assert (int(row["n_beats"]), int(row["n_clean_beats"]), int(row["n_rejected_beats"]),
                row["beat_signal"]) == (b["n_beats"], b["n_clean"], b["n_rejected"],
                                         "max_envelope")
        assert float(row["heart_rate_iqr_bpm"]) == b["heart_rate_iqr_bpm"]
        assert row["phasicity"] == ("monophasic" if vein else "")  # mono: no direction
        resp = b.get("respiratory_phasicity")
        assert row["respiratory_phasicity"] == (resp["call"] if vein else "")
        assert row["respiratory_modulation"] == (str(resp["modulation"]) if vein else "")
        # the per-beat CSV: a line a beat, the PSVs whose median the row holds
        with open(tmp_path / "beats" / f"{name}.beats.csv", newline="") as fh:
            beats = list(csv.DictReader(fh))
        assert len(beats) == b["n_beats"] > 0
        clean = [float(x["psv_cm_s"]) for x in beats if x["clean"] == "1"]
        assert len(clean) == b["n_clean"]
        assert abs(float(np.median(clean)) - b["psv_cm_s"]) <= 0.01
    assert rows["femoral_competent_iq.flac"]["psv_cm_s"] == ""  # no pulse: no indices


def test_the_layout_auto_chose_is_in_its_own_columns(data, tmp_path):
    """``layout`` is the setting asked for (``auto``, the key of --resume); the layout
    analysed and the channels read are ``layout_used`` and ``channels_used``."""
    import soundfile as sf

    folder = tmp_path / "in"
    folder.mkdir()
    x, fs = sf.read(data / "neck" / "jug.flac")
    sf.write(folder / "iq.flac", x, fs)
    sf.write(folder / "left.flac", np.c_[x[:, 0], np.zeros(len(x))], fs)  # a mono probe
    run_batch([folder], tmp_path / "out.csv", jobs=1, settings=Settings(layout="auto"))
    rows = {os.path.basename(r["file"]): r for r in _csv_rows(tmp_path / "out.csv")}
    for name, used, channels in (("iq.flac", "iq", ""), ("left.flac", "mono", "1")):
        r = rows[name]
        assert (r["layout"], r["channels"]) == ("auto", "")
        assert (r["layout_used"], r["channels_used"]) == (used, channels), r
        assert r["direction_available"] == ("true" if used == "iq" else "false")


def test_beats_dir_writes_each_recording_s_beats_csv_beside_its_json(data, tmp_path):
    from dopplerflow.core.beats import Beats

    out = tmp_path / "out.csv"
    run_batch([data], out, jobs=2, json_dir=tmp_path / "json", beats_dir=tmp_path / "beats")
    rows = {r["file"]: r for r in _csv_rows(out)}
    for rel, *_ in RECORDINGS:
        name = str(data / rel)
        path = tmp_path / "beats" / (rel + ".beats.csv")
        with open(path, newline="") as fh:
            lines = list(csv.reader(fh))
        # the beats CSV's columns, one line a beat: as many as the row counts
        assert lines[0] == list(Beats.COLUMNS)
        assert len(lines) - 1 == int(rows[name]["n_beats"] or 0)
        assert (tmp_path / "json" / (rel + ".json")).exists()
    # a recording that could not be analysed has no beats file (the bundled samples' pulses:
    # test_the_bundled_samples_run_with_their_sidecars)
    assert not (tmp_path / "beats" / (BAD + ".beats.csv")).exists()


def test_two_sidecars_for_one_recording_make_an_error_row(data, tmp_path):
    folder = tmp_path / "d"
    shutil.copytree(data / "neck", folder)
    (folder / "vv.dopplerflow.toml").write_text('vessel = "vv"\n')
    (folder / "vv.dopplerflow.json").write_text('{"vessel": "vv"}')
    run_batch([folder], tmp_path / "out.csv", jobs=1)
    rows = {os.path.basename(r["file"]): r for r in _csv_rows(tmp_path / "out.csv")}
    assert "has two sidecars" in rows["vv.flac"]["error"] and rows["jug.flac"]["status"] == "ok"


def test_resume_analyses_only_what_is_missing_failed_or_changed(data, tmp_path, monkeypatch):
    full = tmp_path / "full.csv"
    run_batch([data], full, jobs=1)
    out = tmp_path / "out.csv"
    run_batch([data / "neck"], out, jobs=1)
    seen = []
    real_task = batch.analyze_task
    monkeypatch.setattr(batch, "analyze_task", lambda t: seen.append(t.name) or real_task(t))
    summary = run_batch([data], out, jobs=1, resume=True)
    assert (summary.skipped, summary.analysed) == (2, 3)
    assert sorted(os.path.relpath(n, data) for n in seen) == sorted(
        ["legs/gsv.flac", "legs/perf.wav", BAD])
    assert out.read_bytes() == full.read_bytes()
    seen.clear()
    run_batch([data], out, jobs=1, resume=True)  # only the failed recording again
    assert [os.path.relpath(n, data) for n in seen] == [BAD]
    seen.clear()
    run_batch([data], out, jobs=1, resume=True, settings=Settings(angle_deg=50.0))
    assert len(seen) == 5  # the settings changed: every recording again


def test_an_interrupted_run_keeps_its_rows_and_resumes(data, tmp_path):
    out = tmp_path / "out.csv"

    def stop(done, total, errors):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch([data], out, jobs=1, progress=stop)
    assert len(_csv_rows(out)) == 2
    summary = run_batch([data], out, jobs=1, resume=True)
    assert summary.skipped + summary.analysed == 5 and len(_csv_rows(out)) == 5


def test_parquet_reads_back_as_the_csv_and_resumes(data, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed")
    run_batch([data], tmp_path / "out.csv", jobs=1)
    run_batch([data], tmp_path / "out.parquet", jobs=1)
    rows = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [list(r) for r in rows[:1]] == [[n for n, _ in table.COLUMNS]]
    assert rows == table.read_table_rows(tmp_path / "out.csv")
    summary = run_batch([data], tmp_path / "out.parquet", jobs=1, resume=True)
    assert (summary.skipped, summary.analysed) == (4, 1)  # the bad file is tried again


def test_parquet_without_pyarrow_is_one_line(data, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "pyarrow", None)
    assert cli.main(["batch", str(data), "-o", str(tmp_path / "out.parquet")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "dopplerflow[parquet]"' in err


def test_outputs_may_not_overwrite_inputs_or_each_other(data, tmp_path, capsys):
    t = tmp_path / "t.csv"
    t.write_text("file,vessel\n")
    link = tmp_path / "link.csv"
    link.symlink_to(t)
    as_input = tmp_path / "rec.csv"
    shutil.copy(data / "neck/jug.flac", as_input)
    for argv, named in (([str(data), "--settings", str(t), "-o", str(link)], "t.csv"),
                        ([str(data), str(as_input), "-o", str(as_input)], "rec.csv")):
        assert cli.main(["batch", *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "would overwrite the input" in err and named in err
    assert t.read_text() == "file,vessel\n" and not (tmp_path / "json").exists()


@pytest.mark.parametrize("content, match", [
    (b"garbage\x00\xff\n", "it is not a dopplerflow batch table (not UTF-8 text)"),
    (b"RIFF\xa4\x1f\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00\x40\x1f",
     "it is not a dopplerflow batch table (not UTF-8 text)"),
    (None, "it is not a dopplerflow batch table (line 3 does not fit its columns)"),
])
def test_resume_from_a_file_that_is_no_table_is_one_line(data, tmp_path, capsys, content,
                                                         match):
    """A file that is not text, or a table whose row lost cells: one line that says to write
    to a new file, exit status 2, and the file left as it was."""
    out = tmp_path / "bad.csv"
    if content is None:
        run_batch([data / "neck"], out, jobs=1)
        lines = out.read_bytes().splitlines(keepends=True)
        out.write_bytes(b"".join(lines[:2]) + lines[2][:20] + b"\n")
    else:
        out.write_bytes(content)
    before = out.read_bytes()
    assert cli.main(["batch", str(data), "-o", str(out), "--resume", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot resume {out}: {match}; write to a new file" in err
    assert out.read_bytes() == before


def test_resume_from_a_table_that_cannot_be_read_says_what_to_do(data, tmp_path, capsys,
                                                                 monkeypatch):
    out = tmp_path / "locked.csv"
    out.write_text("file\n")

    def locked(path, *args, **kwargs):  # chmod does not stop root: the refusal itself
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(table, "open", locked, raising=False)
    assert cli.main(["batch", str(data), "-o", str(out), "--resume", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and (f"cannot resume {out}: it cannot be read (Permission "
                                     f"denied); check its permissions, or write to a new "
                                     f"file") in err


@pytest.mark.parametrize("flag", ["--json-dir", "--beats-dir"])
def test_a_folder_option_given_a_file_is_one_line(data, tmp_path, capsys, flag):
    blocker = tmp_path / "carotid.wav"
    blocker.write_bytes(b"not a folder")
    out = tmp_path / "out.csv"
    assert cli.main(["batch", str(data), "-o", str(out), flag, str(blocker), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and (f"{flag} {blocker} is a file, not a folder; give a "
                                     f"folder for the files of each recording") in err
    assert blocker.read_bytes() == b"not a folder" and not out.exists()


def test_a_recording_is_never_a_batch_output(data, tmp_path, capsys):
    """Not the table, and not a file of --json-dir either (a recording where one goes)."""
    shutil.copy(data / "neck/jug.flac", tmp_path / "old.csv")
    shutil.copy(data / "neck/jug.flac", tmp_path / "jug.flac.json")
    for argv, named in ((["-o", str(tmp_path / "old.csv")], "old.csv"),
                        (["-o", str(tmp_path / "t.csv"), "--json-dir", str(tmp_path)],
                         "jug.flac.json")):
        assert cli.main(["batch", str(data / "neck" / "jug.flac"), *argv, "-q"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and named in err
        assert "is a recording (FLAC, 2 channels, 2.0 s); dopplerflow never writes" in err
    for name in ("old.csv", "jug.flac.json"):
        assert (tmp_path / name).read_bytes() == (data / "neck/jug.flac").read_bytes()


def test_the_command_line_runs_globs_reports_progress_and_accepts_analysis_flags(
        data, tmp_path, capsys):
    out = tmp_path / "out.csv"
    assert cli.main(["batch", str(data / "neck" / "*.flac"), str(data / "legs"), "-o", str(out),
                     "--jobs", "2", "--vessel", "gsv", "--angle", "55"]) == 0
    err = capsys.readouterr().err
    assert "batch: 5/5 done, 1 error" in err and "5 recording(s), 5 analysed, 1 with an error" \
        in err
    rows = _csv_rows(out)
    assert {r["vessel"] for r in rows} == {"gsv"} and {r["angle_deg"] for r in rows} == {"55.0"}
    assert cli.main(["batch", str(data), "-o", str(tmp_path / "x.txt")]) == 2
    assert "must end in .csv or .parquet" in capsys.readouterr().err
    assert cli.main(["batch", str(data), "-o", str(out), "--jobs", "2", "--dask", "x"]) == 2


def test_a_run_where_no_recording_could_be_analysed_fails(tmp_path, capsys):
    """A mistyped path is a row with its error, and as nothing was analysed the run exits
    1 with one line that names the error (the table is still written)."""
    out = tmp_path / "out.csv"
    assert cli.main(["batch", str(tmp_path / "no_such_folder"), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no recording could be analysed" in err
    assert "no_such_folder: no such file; check the path" in err
    (row,) = _csv_rows(out)
    assert row["status"] == "error"


def test_progress_draws_a_bar_on_a_terminal_and_lines_every_few_seconds_elsewhere():
    now = [0.0]
    log = io.StringIO()
    p = CountProgress("batch", stream=log, tty=False, every_s=5.0, clock=lambda: now[0])
    for done in range(1, 11):
        now[0] = done * 1.0
        p(done, 10, errors=done // 8)
    lines = log.getvalue().splitlines()
    assert lines == ["batch: 1/10 done, 1 s elapsed, about 9 s left",
                     "batch: 6/10 done, 6 s elapsed, about 4 s left",
                     "batch: 10/10 done, 1 error, 10 s elapsed"]
    bar = io.StringIO()
    ticks = iter((0.0, 30.0, 30.0))
    p = CountProgress("batch", stream=bar, tty=True, clock=lambda: next(ticks))
    p(5, 10)
    p.close()
    assert bar.getvalue().startswith("\rbatch [############             ] 5/10 done")
    assert "about 30 s left" in bar.getvalue() and bar.getvalue().endswith("\n")


def test_a_dask_local_cluster_gives_the_process_pool_s_table(data, tmp_path):
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed: pip install "
                              "'dopplerflow[dask]' to test the cluster path")
    pool_out = tmp_path / "pool.csv"
    run_batch([data], pool_out, jobs=2, json_dir=tmp_path / "pj")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  memory_limit="1GiB", dashboard_address=None) as cluster:
        summary = run_batch([data], tmp_path / "dask.csv", dask=cluster.scheduler_address,
                            json_dir=tmp_path / "dj")
        # many short tasks go in groups (here of five): each still comes back with its index
        got = dict(run_tasks(abs, [-i for i in range(40)], dask=cluster.scheduler_address))
    assert got == {i: i for i in range(40)}
    assert (summary.analysed, summary.errors) == (5, 1)
    assert (tmp_path / "dask.csv").read_bytes() == pool_out.read_bytes()
    for rel, *_ in RECORDINGS:
        assert (tmp_path / "dj" / (rel + ".json")).read_bytes() == \
            (tmp_path / "pj" / (rel + ".json")).read_bytes()


def test_the_batch_benchmark_measures_and_reports(tmp_path):
    """A smoke run of benchmarks/batch.py's pieces on two tiny recordings, in this process."""
    from benchmarks import batch as bench

    folder = tmp_path / "rec"
    paths = bench.make_recordings(str(folder), 3, duration_s=0.3, sample_rate_hz=8000)
    assert len(paths) == 3 and len(set(open(p, "rb").read() for p in paths)) == 3
    one = dict(bench.measure(str(folder), str(tmp_path / "one.csv"), "jobs=1"), process_s=1.0,
               cpu_s=1.0)
    assert one["batch_s"] > 0 and len((tmp_path / "one.csv").read_text().splitlines()) == 4
    runs = {"jobs=1": [one], "jobs=2": [dict(one, batch_s=one["batch_s"] / 2)]}
    over = {"python_s": 0.05, "import_s": 1.0, "kernel_cache_s": 0.3, "open_s": 1e-4,
            "n_tiny": 3, "tiny_per_recording_s": {"jobs=1": 0.01, "jobs=2": 0.02}}
    assert bench.control(1, n=1000) > 0
    text = bench.format_markdown(3, 0.3, 8000, runs, over, {"wall_s": 4.0, "cpu_s": 3.0},
                                 (1.0, 1.0), 1, control_x=1.9)
    assert "| jobs=2 |" in text and "Two workers against one: 2.00x" in text
    assert "ran 1.90x as fast in two processes" in text
