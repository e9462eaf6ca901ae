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
import importlib.util
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
    assert perf["settings_source"] == "sidecar"  # where the bad setting came from
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


def test_channels_that_do_not_fit_a_sidecars_layout_name_where_each_came_from(tmp_path):
    """The command line's --channels 1 (for the mono recordings of a folder) beside a
    recording whose sidecar sets a two-channel layout: its error row says the layout is
    the sidecar's (before: only "--channels 1; layout 'toward-away' needs 2", a layout
    the command line never gave); and the channels, where a settings table set them."""
    samples = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "samples")
    for name in ("gsv_reflux_toward_away.flac", "gsv_reflux_toward_away.dopplerflow.toml",
                 "artery_mono.flac"):
        shutil.copy(os.path.join(samples, name), tmp_path / name)
    out = tmp_path / "out.csv"
    run_batch([tmp_path], out, jobs=1, settings=Settings(layout="mono", channels=(1,)))
    rows = {os.path.basename(r["file"]): r for r in _csv_rows(out)}
    assert rows["artery_mono.flac"]["status"] == "ok"
    assert rows["gsv_reflux_toward_away.flac"]["error"] == (
        "1 channel(s) named, --channels 1; layout 'toward-away' needs 2 (layout "
        "'toward-away' from sidecar gsv_reflux_toward_away.dopplerflow.toml)")
    (tmp_path / "t.csv").write_text("file,channels\ngsv_reflux_toward_away.flac,2\n")
    run_batch([tmp_path / "gsv_reflux_toward_away.flac"], out, jobs=1, overwrite=True,
              table_path=tmp_path / "t.csv")
    (row,) = _csv_rows(out)
    assert row["error"].endswith("needs 2 (layout 'toward-away' from sidecar "
                                 "gsv_reflux_toward_away.dopplerflow.toml; channels 2 from "
                                 "settings table t.csv)"), row["error"]


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
    assert rows["vv.flac"]["settings_source"] == "sidecar"


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


def test_an_existing_table_is_replaced_only_when_asked(data, tmp_path, capsys):
    """A study's table is not replaced by a run that was not meant for it (a typo in the
    folder, a run on part of the study, another CSV given as -o): without --resume or
    --overwrite an existing output is refused in one line, before any work, and is left
    as it was."""
    out = tmp_path / "out.csv"
    assert cli.main(["batch", str(data / "neck"), "-o", str(out), "-q"]) == 0
    before = out.read_bytes()
    for argv in ([str(data / "nekc")], [str(data / "legs/gsv.flac")]):
        assert cli.main(["batch", *argv, "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "exists: give --resume" in err and "--overwrite" in err
        assert out.read_bytes() == before
    assert cli.main(["batch", str(data / "neck"), "-o", str(out), "--resume",
                     "--overwrite"]) == 2
    assert "give one of the two" in capsys.readouterr().err
    assert cli.main(["batch", str(data / "legs/gsv.flac"), "-o", str(out), "--overwrite",
                     "-q"]) == 0
    assert [r["file"] for r in _csv_rows(out)] == [str(data / "legs/gsv.flac")]


def test_a_resumed_run_stopped_early_keeps_the_rows_it_had_not_redone(data, tmp_path):
    """Resuming analyses failed rows again: until a recording's new row is in, its row
    of the table stays (an interrupted resume loses no recording from the table)."""
    out = tmp_path / "out.csv"
    run_batch([data], out, jobs=1)
    rows = {r["file"]: r for r in _csv_rows(out)}
    bad = rows[str(data / BAD)]
    assert bad["status"] == "error"

    def stop(done, total, errors):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # the settings changed: all five again
        run_batch([data], out, jobs=1, resume=True, settings=Settings(angle_deg=50.0),
                  progress=stop)
    after = {r["file"]: r for r in _csv_rows(out)}
    assert sorted(after) == sorted(rows)
    assert sum(r["angle_deg"] == "50.0" for r in after.values()) == 1


def test_a_dask_address_that_is_not_one_leaves_the_table_as_it_was(data, tmp_path, capsys):
    """--dask with no port is refused at once, in one line, and the table is untouched
    (no Client is made: a half-made one hung for 40 s and printed a traceback at exit)."""
    pytest.importorskip(
        "distributed", reason="dask.distributed is not installed: pip install "
                              "'dopplerflow[dask]' to test the cluster path")
    out = tmp_path / "out.csv"
    assert cli.main(["batch", str(data / "neck"), "-o", str(out), "-q"]) == 0
    before = out.read_bytes()
    assert cli.main(["batch", str(data), "-o", str(out), "--resume",
                     "--dask", "notanaddress"]) == 2
    err = capsys.readouterr().err
    assert err == ("dopplerflow: error: --dask notanaddress is not a scheduler's address "
                   "(missing port number in address 'notanaddress'); give one such as "
                   "tcp://10.0.0.5:8786\n")
    assert out.read_bytes() == before


def test_the_geometry_left_at_its_defaults_is_marked_in_the_table_and_the_json(data, tmp_path):
    """Every velocity scales with the carrier and the angle: a recording whose carrier or
    angle no flag, sidecar or settings table gave has it in its geometry_assumed (the
    table's cell, the JSON's list), as analyze marks it."""
    t = tmp_path / "settings.csv"
    t.write_text(f"file,carrier_mhz\n{data}/neck/jug.flac,5\n")
    out, js = tmp_path / "out.csv", tmp_path / "json"
    assert cli.main(["batch", str(data / "neck"), "-o", str(out), "--settings", str(t),
                     "--json-dir", str(js), "-q"]) == 0
    cells = {os.path.basename(r["file"]): r["geometry_assumed"] for r in _csv_rows(out)}
    assert cells == {"jug.flac": "angle_deg", "vv.flac": "carrier_hz angle_deg"}
    assert json.loads((js / "jug.flac.json").read_text())["geometry_assumed"] == ["angle_deg"]
    out2 = tmp_path / "given.csv"
    assert cli.main(["batch", str(data / "neck"), "-o", str(out2), "--carrier-mhz", "8",
                     "--angle", "60", "-q"]) == 0
    assert {r["geometry_assumed"] for r in _csv_rows(out2)} == {""}


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
    assert "batch: 5/5 done, 1 error" in err and \
        "5 recording(s), 4 with a result, 1 with an error\n" in err
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


_OTHER_WORKER = """
import sys
# this dopplerflow's copy, not the installed one (nor an editable install's finder)
sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path.insert(0, {root!r})
from distributed.cli.dask_worker import main
main()
"""


def test_a_dask_worker_with_other_dopplerflow_code_is_refused(data, tmp_path, capsys):
    """A worker keeps the dopplerflow it imported: started before an upgrade or an edit,
    it gave rows of the old code under the same version.  Now each worker's sources are
    checked before any task is sent: a worker whose copy differs by one line is refused
    in one line, exit 1, and no table is written."""
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed: pip install "
                              "'dopplerflow[dask]' to test the cluster path")
    import subprocess
    import sys

    import dopplerflow

    root = tmp_path / "other"
    shutil.copytree(os.path.dirname(dopplerflow.__file__), root / "dopplerflow",
                    ignore=shutil.ignore_patterns("__pycache__"))
    verdict = root / "dopplerflow" / "core" / "verdict.py"
    verdict.write_text(verdict.read_text() + "# another edition\n")
    out = tmp_path / "table.csv"
    with distributed.LocalCluster(n_workers=0, processes=True,
                                  dashboard_address=None) as cluster:
        worker = subprocess.Popen(
            [sys.executable, "-c", _OTHER_WORKER.format(root=str(root)),
             cluster.scheduler_address, "--no-nanny", "--nthreads", "1", "--no-dashboard"],
            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with distributed.Client(cluster.scheduler_address) as client:
                client.wait_for_workers(1, timeout=60)
            code = cli.main(["batch", str(data), "-o", str(out), "--dask",
                             cluster.scheduler_address])
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    err = capsys.readouterr().err
    assert code == 1
    assert len(err.strip().splitlines()) == 1, err
    assert "1 of 1 Dask worker(s) run other dopplerflow code than this one" in err
    assert not out.exists()


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


# --- numbers, names and outputs that must not end a run ------------------------------


@pytest.fixture(scope="module")
def reflux_to_the_end(tmp_path_factory):
    """A femoral vein whose reflux runs into the end of the recording: the analysis gives
    that event's figures as numpy scalars."""
    path = tmp_path_factory.mktemp("end") / "fr6.wav"
    write_scenario("femoral_reflux", path, sample_rate_hz=8000, duration_s=6.0, seed=0)
    return path


def test_cells_hold_plain_numbers_and_such_a_table_resumes(reflux_to_the_end, tmp_path):
    """Before, the event's figures came out as ``np.float64(2.5129)``, and --resume then
    refused the whole table."""
    out = tmp_path / "t.csv"
    run_batch([reflux_to_the_end], out, jobs=1)
    text = out.read_text()
    assert "np." not in text
    (row,) = _csv_rows(out)
    assert row["reflux"] == "true" and row["n_reflux_events"] == "1"
    longest = float(row["longest_reflux_s"])  # a plain number, as the JSON has it
    assert 2.0 < longest == float(row["longest_retrograde_s"]) < 3.0
    assert float(row["first_reflux_start_s"]) + longest == pytest.approx(6.0, abs=0.1)
    summary = run_batch([reflux_to_the_end], out, jobs=1, resume=True)
    assert (summary.skipped, summary.analysed) == (1, 0) and out.read_text() == text


def test_an_output_that_cannot_be_written_is_that_recording_s_error_row(data, tmp_path):
    """A JSON name too long for the file system is shortened; one that cannot be written
    (here a folder stands in its place) gives that recording an error row; the run goes
    on and the table is written (before: the run ended, and no table at all)."""
    folder = tmp_path / "in"
    folder.mkdir()
    long_stem = "L" * 246  # with .flac.json, 256 bytes: over the 255 of a name
    for name in ("a.flac", "b.flac", long_stem + ".flac"):
        shutil.copy(data / "neck/jug.flac", folder / name)
    (tmp_path / "json" / "b.flac.json").mkdir(parents=True)
    out = tmp_path / "out.csv"
    summary = run_batch([folder], out, jobs=1, json_dir=tmp_path / "json")
    rows = {os.path.basename(r["file"]): r for r in _csv_rows(out)}
    assert (summary.found, summary.errors) == (3, 1) and len(rows) == 3
    assert rows["a.flac"]["status"] == rows[long_stem + ".flac"]["status"] == "ok"
    b = rows["b.flac"]
    assert b["status"] == "error" and "cannot write" in b["error"] and "b.flac.json" in b["error"]
    assert b["error"].endswith("then run again with --resume")
    (short,) = [p for p in os.listdir(tmp_path / "json") if p.startswith("LLL")]
    assert len(short.encode()) <= batch.NAME_MAX_BYTES and short.endswith(".flac.json")
    with open(tmp_path / "json" / short) as fh:
        assert json.load(fh)["file"] == str(folder / (long_stem + ".flac"))


def test_the_table_is_written_whatever_exception_stops_the_run(data, tmp_path, monkeypatch):
    out = tmp_path / "out.csv"
    calls = []

    def broken(result):  # a bug met after the first recording's row
        calls.append(result["file"])
        if len(calls) == 2:
            raise RuntimeError("a bug")
        return json.dumps(result)

    monkeypatch.setattr(batch, "_json_text", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        run_batch([data], out, jobs=1, json_dir=tmp_path / "json")
    files = [r["file"] for r in _csv_rows(out)]
    assert calls[0] in files and calls[1] not in files


def test_a_name_that_is_not_utf8_is_escaped_in_the_table_and_resumes(data, tmp_path, capsys):
    """A Latin-1 name (a Windows share) has its byte written as ``\\xe9``; before, the
    table could not be written at all (a traceback after every analysis)."""
    folder = tmp_path / "in"
    folder.mkdir()
    latin = os.fsdecode(b"caf\xe9.flac")
    shutil.copy(data / "neck/jug.flac", os.path.join(folder, latin))
    shutil.copy(data / "neck/jug.flac", folder / "ok.flac")
    for out in [tmp_path / "out.csv"] + (
            [tmp_path / "out.parquet"] if importlib.util.find_spec("pyarrow") else []):
        assert cli.main(["batch", str(folder), "-o", str(out), "-q", "-j", "1",
                         "--json-dir", str(tmp_path / "json")]) == 0
        rows = table.read_table_rows(out)
        assert [r["file"] for r in rows] == [str(folder / "caf\\xe9.flac"),
                                             str(folder / "ok.flac")]
        assert all(r["status"] == "ok" for r in rows)
        before = out.read_bytes()
        assert cli.main(["batch", str(folder), "-o", str(out), "-j", "1", "--resume",
                         "--json-dir", str(tmp_path / "json")]) == 0
        assert "(0 analysed now, 2 kept from before)" in capsys.readouterr().err
        assert out.read_bytes() == before
    (tmp_path / "out.csv").read_bytes().decode("utf-8")  # UTF-8 throughout
    assert os.path.exists(os.path.join(tmp_path, "json", latin + ".json"))


def test_dask_without_distributed_is_one_line(data, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "distributed", None)
    out = tmp_path / "out.csv"
    assert cli.main(["batch", str(data), "-o", str(out), "--dask", "tcp://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert err == ('dopplerflow: error: --dask needs dask and distributed: pip install '
                   '"dopplerflow[dask]"\n')
    assert not out.exists()


# --- signals: the real command, killed ------------------------------------------------


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """200 recordings of 30 s (hard links to one file, each analysed on its own): some
    seconds of work for two workers, so that the command can be killed while they run."""
    folder = tmp_path_factory.mktemp("many")
    first = folder / "r000.flac"
    write_scenario("jugular_phasic", first, sample_rate_hz=8000, duration_s=30.0, seed=7)
    for i in range(1, 200):
        os.link(first, folder / f"r{i:03d}.flac")
    return folder


def _children(pid):
    """The processes whose parent is ``pid`` (Linux /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        if entry.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry))
    return out


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _start_and_wait_for_workers(folder, out):
    """``dopplerflow batch -j 2`` in a process of its own, once its workers run."""
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "dopplerflow", "batch", str(folder), "-o",
                             str(out), "-j", "2"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(workers := _children(proc.pid)) < 2:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the workers did not start")
        time.sleep(0.02)
    return proc, workers


def _gone(pids, within_s=5.0):
    import time

    deadline = time.monotonic() + within_s
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(_alive(p) for p in pids)


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads processes from /proc")
def test_sigterm_writes_the_rows_done_and_ends_the_workers(many, tmp_path):
    """SIGTERM (a batch system's time limit, kill, timeout) is handled as Ctrl-C: the rows
    done are written, one line says so, exit status 143; the workers end with the
    command (before: no table written since the last checkpoint, and orphaned workers
    that ran on)."""
    import signal

    out = tmp_path / "out.csv"
    proc, workers = _start_and_wait_for_workers(many, out)
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    finally:  # a command that hangs is no reason to leave it running
        proc.kill()
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == (
        f"dopplerflow: terminated (SIGTERM); the rows done so far are in {out}: run again "
        f"with --resume to go on")
    assert _gone(workers)
    rows = _csv_rows(out)
    assert 1 <= len(rows) < 200 and all(r["status"] == "ok" for r in rows)


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads processes from /proc")
def test_workers_end_when_the_command_is_killed(many, tmp_path):
    """SIGKILL cannot be handled; the workers notice their parent is gone and end
    (before: they stayed, idle, for good)."""
    import signal

    proc, workers = _start_and_wait_for_workers(many, tmp_path / "out.csv")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert _gone(workers)


# --- resuming: what a kept row must still be true of ----------------------------------


def test_resume_analyses_a_recording_whose_file_changed(data, tmp_path):
    """A file replaced at the same path (re-exported, repaired) is analysed again: its row
    records the file's size and modification time (before: the old row was kept)."""
    folder = tmp_path / "in"
    shutil.copytree(data / "neck", folder)
    out = tmp_path / "out.csv"
    run_batch([folder], out, jobs=1)
    rows = {os.path.basename(r["file"]): r for r in _csv_rows(out)}
    st = os.stat(folder / "jug.flac")
    assert int(rows["jug.flac"]["file_size_bytes"]) == st.st_size
    assert rows["jug.flac"]["file_modified_utc"].endswith(f".{st.st_mtime_ns % 10**9:09d}Z")
    shutil.copy(data / "legs/gsv.flac", folder / "jug.flac")  # another recording
    summary = run_batch([folder], out, jobs=1, resume=True)
    assert (summary.skipped, summary.analysed) == (1, 1)
    assert _csv_rows(out)[0]["duration_s"] == "4.5"
    os.utime(folder / "vv.flac", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched
    assert run_batch([folder], out, jobs=1, resume=True).analysed == 1


def test_a_table_of_an_earlier_version_still_resumes(data, tmp_path):
    """A table without the columns added since (the file's size and time, the beats'
    periodicity) resumes: its rows are kept, those cells empty."""
    out = tmp_path / "out.csv"
    run_batch([data / "neck"], out, jobs=1)
    with open(out, newline="") as fh:
        lines = list(csv.reader(fh))
    keep = [i for i, n in enumerate(lines[0]) if n not in table.ADDED_COLUMNS]
    with open(out, "w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows([[x[i] for i in keep] for x in lines])
    summary = run_batch([data / "neck"], out, jobs=1, resume=True)
    assert (summary.skipped, summary.analysed) == (2, 0)
    rows = _csv_rows(out)
    assert [r["file_size_bytes"] + r["beat_periodicity"] + r["reflux_cut_by_end"]
            + r["reflux_unseen_s"] for r in rows] == ["", ""]


def test_the_time_a_reflux_could_lie_unseen_has_its_column(tmp_path):
    """reflux_unseen_s: the seconds in stretches as long as the threshold where a reflux
    could lie unseen (the probe's contact lost over a whole jugular reflux: a row of "no
    reflux" that says so), 0 in a recording read throughout, empty where reflux was not
    assessed (mono)."""
    import soundfile as sf
    from common import CONTACT_LOST_S, FS, contact_lost_over_reflux

    x, antegrade = contact_lost_over_reflux()
    sf.write(tmp_path / "lost.flac", x, FS, subtype="PCM_16")
    out = tmp_path / "out.csv"
    run_batch([tmp_path / "lost.flac"], out, jobs=1,
              settings=Settings(layout="iq", vessel="ijv", antegrade=antegrade))
    (row,) = _csv_rows(out)
    assert row["reflux"] == "false"
    assert abs(float(row["reflux_unseen_s"]) - (CONTACT_LOST_S[1] - CONTACT_LOST_S[0])) <= 0.5
    sample = tmp_path / "gsv.flac"  # (without the bundled sample's sidecar)
    shutil.copy(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "samples", "gsv_reflux_toward_away.flac"), sample)
    run_batch([sample], out, jobs=1, overwrite=True,
              settings=Settings(layout="toward-away", vessel="gsv"))
    assert float(_csv_rows(out)[0]["reflux_unseen_s"]) == 0.0
    run_batch([sample], out, jobs=1, overwrite=True,
              settings=Settings(layout="mono", channels=(1,)))
    (row,) = _csv_rows(out)
    assert (row["status"], row["reflux_unseen_s"]) == ("ok", "")


def test_a_reflux_cut_by_the_end_is_marked_in_its_column(tmp_path):
    """reflux_cut_by_end: true where the last reflux ran to the end of the recording (its
    duration a lower bound), false where reflux was assessed and none was cut, empty
    where it was not assessable (mono)."""
    import soundfile as sf

    sample = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "samples", "gsv_reflux_toward_away.flac")
    x, sr = sf.read(sample)
    sf.write(tmp_path / "cut.flac", x[:int(3.5 * sr)], sr)  # its first reflux runs 2.4-4.3 s
    shutil.copy(sample, tmp_path / "whole.flac")
    out = tmp_path / "out.csv"
    run_batch([tmp_path], out, jobs=1, json_dir=tmp_path / "j",
              settings=Settings(layout="toward-away", vessel="gsv"))
    cells = {os.path.basename(r["file"]): r["reflux_cut_by_end"] for r in _csv_rows(out)}
    assert cells == {"cut.flac": "true", "whole.flac": "false"}
    with open(tmp_path / "j" / "cut.flac.json") as fh:
        assert json.load(fh)["reflux_events"][-1]["cut_by_end"] is True
    mono = tmp_path / "mono.csv"
    run_batch([tmp_path / "cut.flac"], mono, jobs=1,
              settings=Settings(layout="mono", channels=(1,)))
    (row,) = _csv_rows(mono)
    assert (row["status"], row["reflux_cut_by_end"]) == ("ok", "")


def test_resume_writes_the_json_and_beats_files_of_kept_rows_that_lack_them(data, tmp_path):
    """--json-dir or --beats-dir added on resume (or the folder deleted): the recordings
    without their file are analysed again, so that each is written (before: nothing)."""
    out = tmp_path / "out.csv"
    run_batch([data / "neck"], out, jobs=1)
    summary = run_batch([data / "neck"], out, jobs=1, resume=True, json_dir=tmp_path / "j",
                        beats_dir=tmp_path / "b")
    assert (summary.skipped, summary.analysed) == (0, 2)
    for name in ("vv.flac", "jug.flac"):
        assert (tmp_path / "j" / (name + ".json")).exists()
        assert (tmp_path / "b" / (name + ".beats.csv")).exists()
    os.remove(tmp_path / "b" / "vv.flac.beats.csv")
    summary = run_batch([data / "neck"], out, jobs=1, resume=True, json_dir=tmp_path / "j",
                        beats_dir=tmp_path / "b")
    assert (summary.skipped, summary.analysed) == (1, 1)
    assert (tmp_path / "b" / "vv.flac.beats.csv").exists()


def test_a_file_and_a_link_to_it_are_one_row_under_the_file_s_own_name(data, tmp_path):
    """The link's name sorts first, yet the row takes the file's; removing the link later
    leaves the table as it was (before: the link's name, then a second row)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copy(data / "neck/jug.flac", tmp_path / "b" / "real.flac")
    (tmp_path / "a" / "alias.flac").symlink_to("../b/real.flac")
    folder_link = tmp_path / "a" / "linked"
    folder_link.symlink_to(tmp_path / "b")
    found = find_recordings([tmp_path / "a", tmp_path / "a" / "linked" / "real.flac",
                             tmp_path / "b"])
    assert [r.name for r in found] == [str(tmp_path / "b" / "real.flac")]
    out = tmp_path / "out.csv"
    run_batch([tmp_path / "a", tmp_path / "b"], out, jobs=1)
    os.remove(tmp_path / "a" / "alias.flac")
    summary = run_batch([tmp_path / "a", tmp_path / "b"], out, jobs=1, resume=True)
    assert (summary.skipped, summary.analysed) == (1, 0) and len(_csv_rows(out)) == 1


def test_a_json_of_another_recording_is_not_overwritten(data, tmp_path):
    """Two runs on other folders into one --json-dir map two recordings to one JSON: the
    second recording's row is an error that says so, and the first JSON stays (before:
    silently overwritten).  A run again on the same recording overwrites its own."""
    for site in ("p1", "p2"):
        (tmp_path / site / "sub").mkdir(parents=True)
    shutil.copy(data / "neck/jug.flac", tmp_path / "p1/sub/ijv.flac")
    shutil.copy(data / "neck/vv.flac", tmp_path / "p2/sub/ijv.flac")
    js = tmp_path / "json"
    assert run_batch([tmp_path / "p1"], tmp_path / "1.csv", jobs=1, json_dir=js).errors == 0
    first = (js / "ijv.flac.json").read_bytes()
    assert run_batch([tmp_path / "p1"], tmp_path / "1.csv", jobs=1, json_dir=js,
                     overwrite=True).errors == 0
    assert run_batch([tmp_path / "p2"], tmp_path / "2.csv", jobs=1, json_dir=js).errors == 1
    (row,) = _csv_rows(tmp_path / "2.csv")
    assert row["error"] == (f"{js / 'ijv.flac.json'} holds the result of another recording, "
                            f"{tmp_path / 'p1/sub/ijv.flac'}, written by another run; "
                            f"remove that file or give another --json-dir")
    assert (js / "ijv.flac.json").read_bytes() == first


# --- what the command says ------------------------------------------------------------


def test_a_settings_table_row_that_matches_no_recording_is_a_warning_also_with_q(
        data, tmp_path, capsys):
    """A typo in a table's file cell would leave that recording with the defaults: each
    such row is named (line and file), one line each; rows naming files outside this run
    share one line.  -q keeps warnings (before: nothing was said, and -q also hid the
    warning of a pattern that matches nothing)."""
    t = tmp_path / "settings.csv"
    t.write_text(f"file,vessel\n{data}/neck/jug.flac,ijv\n{data}/neck/JUG.flac,ijv\n"
                 f"{data}/legs/gsv.flac,gsv\n{data}/legs/perf.wav,perforator\n"
                 f"{data}/neck/missing.flac,vv\n")
    out = tmp_path / "out.csv"
    assert cli.main(["batch", str(data / "neck"), str(tmp_path / "none" / "*.flac"), "-o",
                     str(out), "--settings", str(t), "-q", "-j", "1"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"dopplerflow: warning: {tmp_path / 'none' / '*.flac'} holds no recordings",
        f"dopplerflow: warning: settings table settings.csv, line 3: {data}/neck/JUG.flac "
        f"matches no recording of this run and no file (names are relative to the table's "
        f"folder); its settings are not used",
        f"dopplerflow: warning: settings table settings.csv, line 6: "
        f"{data}/neck/missing.flac matches no recording of this run and no file (names are "
        f"relative to the table's folder); its settings are not used",
        f"dopplerflow: warning: settings table settings.csv, line 4: {data}/legs/gsv.flac "
        f"and 1 more row(s) name files that are not recordings of this run; their settings "
        f"are not used"]
    assert {r["vessel"] for r in _csv_rows(out) if r["file"].endswith("jug.flac")} == {"ijv"}


def test_beat_periodicity_and_longest_reflux_agree_with_the_json(data, tmp_path):
    """The beats' periodicity has a column (to drop the heart rates of weak pulses);
    longest_reflux_s is 0 where reflux was assessed and none found, as in the JSON, and
    empty where it was not (mono: no direction)."""
    out = tmp_path / "out.csv"
    run_batch([data / "neck"], out, jobs=1, json_dir=tmp_path / "j")
    mono = tmp_path / "mono.csv"
    run_batch([data / "neck" / "jug.flac"], mono, jobs=1, settings=Settings(layout="mono"))
    for row in _csv_rows(out):
        with open(tmp_path / "j" / (os.path.basename(row["file"]) + ".json")) as fh:
            result = json.load(fh)
        cell = row["beat_periodicity"]  # (empty where the recording is too short to read)
        assert (float(cell) if cell else None) == result["beats"]["periodicity"]
        assert float(row["longest_reflux_s"]) == result["summary"]["longest_reflux_s"]
        if row["file"].endswith("jug.flac"):
            assert (row["reflux"], row["longest_reflux_s"]) == ("false", "0.0")
            assert row["longest_retrograde_s"] != ""
    (row,) = _csv_rows(mono)
    assert (row["reflux"], row["longest_reflux_s"], row["longest_retrograde_s"]) == ("", "", "")


def test_when_every_recording_fails_one_line_says_so_and_progress_counts_every_row(
        data, tmp_path, capsys):
    """A recording with a bad sidecar is a row of the run too: the progress counts it;
    when no recording has a result, the one closing line says so (before: a line that
    counted them "analysed", then one that said none could be)."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(data / BAD, folder / "bad.flac")
    shutil.copy(data / "neck/jug.flac", folder / "jug.flac")
    (folder / "jug.dopplerflow.toml").write_text('angle_deg = "steep"\n')
    assert cli.main(["batch", str(folder), "-o", str(tmp_path / "out.csv"), "-j", "1"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("batch: 2/2 done, 2 errors, ")
    assert len(err) == 2 and err[1].startswith("dopplerflow: no recording could be analysed (")
