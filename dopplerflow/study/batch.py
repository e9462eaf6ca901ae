"""Many recordings in, one table out: :func:`run_batch`.

Each recording is analysed with the run's settings, changed by its sidecar or its row
of a settings table (:mod:`dopplerflow.study.recsettings`), and becomes one row of the
table (:mod:`dopplerflow.study.table`): the verdicts, the summary figures, the settings
in force and any warning, or the error that stopped it.  A bad recording is a row with
its error; it never ends the run.

The rows are sorted by file name and hold nothing that depends on how the work was
spread, so the table is the same, byte for byte, whatever ``jobs`` or ``dask``.  The
table is rewritten (atomically) every ``checkpoint_s`` seconds while the run goes on,
and at the end; ``resume=True`` keeps the rows already there and analyses only the
recordings without an ``ok`` row under the same settings.
"""

import os
import time
from dataclasses import dataclass

from ..errors import AudioFileError, DopplerflowError, SettingsError
from . import recsettings, table
from .files import atomic_write, find_recordings, real, refuse_overwrites
from .pool import TaskFailed, default_jobs, run_tasks

__all__ = ["Task", "BatchSummary", "run_batch", "plan_batch", "analyze_task"]

#: Seconds between two writes of the table while a run goes on.
CHECKPOINT_S = 10.0


@dataclass(frozen=True)
class Task:
    """One recording to analyse (picklable: it travels to worker processes).

    Attributes
    ----------
    name : str
        The ``file`` cell (the path as found).
    path : str
        Absolute path, for workers whose current folder differs.
    settings : Settings
    source : str
        Where the settings came from: ``defaults``, ``sidecar``, ``table`` or
        ``sidecar+table``.
    full : bool
        Return the whole result as well as the row (for ``json_dir``).
    beats : bool
        Return the per-beat CSV too (for ``beats_dir``).
    """

    name: str
    path: str
    settings: object
    source: str
    full: bool = False
    beats: bool = False


@dataclass
class BatchSummary:
    """What a run did: recordings found, analysed now, kept from the table (resume),
    rows with an error, the table written, and the first row's error (``None``: none)."""

    found: int
    analysed: int
    skipped: int
    errors: int
    output: str
    first_error: str | None = None


def analyze_task(task):
    """Analyse one recording; return ``(row, result, beats)``.

    Never raises for a bad recording: the row then has ``status`` ``error`` and the
    one-line message.  ``result`` is ``Analysis.to_dict()`` (with ``file`` as the task
    names it) when ``task.full``, else None; ``beats`` the per-beat CSV text
    (:func:`~dopplerflow.core.beats.beats_csv`) when ``task.beats``, else None.
    """
    from ..core import analyze
    from ..core.beats import beats_csv

    try:
        analysis = analyze(task.path, settings=task.settings, keep_trace=False)
    except DopplerflowError as e:
        return _failed(task, str(e).replace(task.path, task.name))
    except MemoryError:
        return _failed(task, "out of memory")
    except Exception as e:  # a bug must not end a run of thousands: report it in the row
        return _failed(task, f"unexpected {type(e).__name__}: {e} (please report it)")
    result = analysis.to_dict()  # heart_rate_bpm and the beats' summary included
    result["file"] = task.name
    row = table.row_from_result(task.name, result, task.settings, task.source)
    return (row, result if task.full else None,
            beats_csv(analysis) if task.beats else None)


def _failed(task, message):
    """:func:`analyze_task`'s return for a recording that could not be analysed."""
    return table.error_row(task.name, message, task.settings, task.source), None, None


def _resolve(recording, base, rows_of_table, table_name):
    """``(settings, source, sidecar path or None)`` of one recording."""
    settings, source = base, "defaults"
    sidecar = recsettings.sidecar_path(recording.path)
    if sidecar is not None:
        settings = recsettings.apply_settings(settings, recsettings.read_sidecar(sidecar),
                                              f"sidecar {os.path.basename(sidecar)}")
        source = "sidecar"
    extra = rows_of_table.get(real(recording.path))
    if extra is not None:
        settings = recsettings.apply_settings(settings, extra,
                                              f"settings table {table_name}, {recording.name}")
        source = "table" if source == "defaults" else "sidecar+table"
    return settings, source, sidecar


def _mirrored(recordings, folder, suffix):
    """Where each recording's own output goes: its path below the folder common to all
    recordings, mirrored under ``folder``, with ``suffix`` added (``.json``,
    ``.beats.csv``); empty without a ``folder``."""
    if not folder:
        return {}
    root = os.path.commonpath([os.path.dirname(r.path) for r in recordings])
    return {r.name: os.path.join(os.fspath(folder), os.path.relpath(r.path, root) + suffix)
            for r in recordings}


@dataclass
class _Plan:
    tasks: list
    rows: dict  # file -> row already decided (settings errors, rows kept by resume)
    json_paths: dict
    beats_paths: dict
    found: int
    skipped: int


def plan_batch(paths, output, *, settings=None, table_path=None, json_dir=None,
               beats_dir=None, resume=False, on_empty=None):
    """Everything :func:`run_batch` does before the analyses, without writing.

    Finds the recordings, reads their sidecars and the settings table, refuses
    outputs that would overwrite an input or each other, and (``resume``) reads the
    rows already written.  Parameters as :func:`run_batch`.

    Returns
    -------
    _Plan
    """
    from ..core import Settings

    table.output_format(output)
    base = settings or Settings()
    base.validate()
    recordings = find_recordings(paths, on_empty=on_empty)
    rows_of_table = recsettings.read_table(table_path) if table_path else {}
    table_name = os.path.basename(os.fspath(table_path)) if table_path else None
    resolved, inputs = {}, [r.path for r in recordings]
    for r in recordings:
        try:
            resolved[r.name] = _resolve(r, base, rows_of_table, table_name)
            inputs.extend([resolved[r.name][2]] if resolved[r.name][2] else [])
        except SettingsError as e:
            resolved[r.name] = e
    for flag, folder in (("--json-dir", json_dir), ("--beats-dir", beats_dir)):
        if folder and os.path.exists(folder) and not os.path.isdir(folder):
            raise SettingsError(f"{flag} {os.fspath(folder)} is a file, not a folder; give a "
                                f"folder for the files of each recording (created if "
                                f"missing)")
    json_paths = _mirrored(recordings, json_dir, ".json")
    beats_paths = _mirrored(recordings, beats_dir, ".beats.csv")
    refuse_overwrites(inputs + ([table_path] if table_path else []),
                      [output, *json_paths.values(), *beats_paths.values()])
    _check_folder(output)
    kept = _kept_rows(output, resolved) if resume and os.path.exists(output) else {}
    rows, tasks = dict(kept), []
    for r in recordings:
        got = resolved[r.name]
        if isinstance(got, SettingsError):
            rows[r.name] = table.error_row(r.name, str(got))
        elif r.name not in kept:
            tasks.append(Task(r.name, r.path, got[0], got[1], full=bool(json_dir),
                              beats=bool(beats_dir)))
    skipped = sum(1 for r in recordings if r.name in kept)
    return _Plan(tasks, rows, json_paths, beats_paths, len(recordings), skipped)


def _check_folder(path):
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if os.path.isdir(os.fspath(path)):
        raise SettingsError(f"{os.fspath(path)} is a folder; give a file name such as "
                            f"results.csv")
    if not os.path.isdir(folder):
        raise SettingsError(f"cannot write {os.fspath(path)}: folder {folder} does not exist")


def _kept_rows(output, resolved):
    """Rows of an earlier run to keep: every row, except those of recordings of this run
    that failed or whose settings have changed since (they are analysed again)."""
    kept = {}
    for row in table.read_table_rows(output):
        now = resolved.get(row["file"])
        if now is not None:
            if row["status"] != "ok" or isinstance(now, SettingsError):
                continue
            fresh = table.error_row(row["file"], "", now[0])
            if any(table.cell_text(row[c]) != table.cell_text(fresh[c])
                   for c, _ in table.SETTINGS_COLUMNS):
                continue
        kept[row["file"]] = row
    return kept


def run_batch(paths, output, *, settings=None, table_path=None, jobs=None, dask=None,
              json_dir=None, beats_dir=None, resume=False, progress=None, on_empty=None,
              checkpoint_s=CHECKPOINT_S):
    """Analyse many recordings into one table.

    Parameters
    ----------
    paths : iterable of str
        Files, folders (searched recursively) and glob patterns
        (:func:`dopplerflow.study.files.find_recordings`).
    output : str or os.PathLike
        The table: ``.csv``, or ``.parquet`` (needs pyarrow).
    settings : Settings, optional
        Defaults of every recording (the command line's analysis flags).
    table_path : str, optional
        Settings table (CSV): per-recording settings; see
        :mod:`dopplerflow.study.recsettings`.
    jobs : int, optional
        Worker processes; default all the CPUs this process may use.
    dask : str or distributed.Client, optional
        Send the work to a Dask scheduler instead (``jobs`` is then ignored).
    json_dir : str, optional
        Also write each recording's full result there as JSON.
    beats_dir : str, optional
        Also write each recording's per-beat values there as CSV (the columns of
        :attr:`~dopplerflow.core.beats.Beats.COLUMNS`).
    resume : bool
        Keep the rows of an existing ``output``; analyse only what is missing.
    progress : callable, optional
        Called as ``progress(done, total, errors)`` after each analysis.
    on_empty : callable, optional
        Called with a folder or pattern that holds no recording.
    checkpoint_s : float
        Seconds between two writes of the table during the run.

    Returns
    -------
    BatchSummary

    Raises
    ------
    SettingsError
        Bad usage, before any work: an output that would overwrite an input or
        another output, an unknown suffix, a bad settings table.
    InputError
        No recording found.
    KeyboardInterrupt
        After writing the rows done so far (resume continues from there).
    """
    plan = plan_batch(paths, output, settings=settings, table_path=table_path,
                      json_dir=json_dir, beats_dir=beats_dir, resume=resume,
                      on_empty=on_empty)
    rows, tasks = plan.rows, plan.tasks
    for p in (*plan.json_paths.values(), *plan.beats_paths.values()):
        try:
            os.makedirs(os.path.dirname(p), exist_ok=True)
        except OSError as e:  # a file where a folder of the mirrored tree goes
            raise AudioFileError(f"cannot create the folder {os.path.dirname(p)} for "
                                 f"{os.path.basename(p)} ({e.strerror or e}); give another "
                                 f"folder") from None
    errors, last = 0, time.monotonic()
    try:
        for done, (i, out) in enumerate(run_tasks(analyze_task, tasks,
                                                  jobs=jobs or default_jobs(), dask=dask), 1):
            row, result, beats = _row_of(tasks[i], out)
            rows[row["file"]] = row
            errors += row["status"] != "ok"
            if result is not None:
                atomic_write(plan.json_paths[row["file"]], _json_text(result))
            if beats is not None:
                atomic_write(plan.beats_paths[row["file"]], beats)
            if progress is not None:
                progress(done, len(tasks), errors)
            if time.monotonic() - last >= checkpoint_s:
                _write(rows, output)
                last = time.monotonic()
    except KeyboardInterrupt:
        _write(rows, output)
        raise
    _write(rows, output)
    failed = [r["error"] for r in rows.values() if r["status"] != "ok"]
    return BatchSummary(plan.found, len(tasks), plan.skipped, len(failed), os.fspath(output),
                        failed[0] if failed else None)


def _row_of(task, out):
    if isinstance(out, TaskFailed):
        return _failed(task, str(out))
    return out


def _json_text(result):
    import json

    return json.dumps(result, indent=2) + "\n"


def _write(rows, output):
    table.write_table([rows[k] for k in sorted(rows)], output)
