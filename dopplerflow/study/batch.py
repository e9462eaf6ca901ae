"""Many recordings in, one table out: :func:`run_batch`.

Each recording is analysed with the run's settings, changed by its sidecar or its row
of a settings table (:mod:`dopplerflow.study.recsettings`), and becomes one row of the
table (:mod:`dopplerflow.study.table`): the verdicts, the summary figures, the settings
in force and any warning, or the error that stopped it.  A bad recording is a row with
its error; it never ends the run.

The rows are sorted by file name and hold nothing that depends on how the work was
spread, so the table is the same, byte for byte, whatever ``jobs`` or ``dask``.  The
table is rewritten (atomically) every ``checkpoint_s`` seconds while the run goes on,
at the end, and when the run stops on an interrupt or any other exception;
``resume=True`` keeps the rows already there and analyses only the recordings without
an ``ok`` row under the same settings, of the same file (size and modification time),
with the JSON and beats files asked for.
"""

import os
import time
import warnings
from dataclasses import dataclass
from typing import NamedTuple

from ..errors import (
    AudioFileError,
    DopplerflowError,
    LayoutError,
    SettingsError,
    command_line_message,
    option,
)
from . import recsettings, table
from .files import atomic_write, find_recordings, real, refuse_overwrites
from .pool import (
    TaskFailed,
    check_workers,
    connect,
    default_jobs,
    require_distributed,
    run_tasks,
)

__all__ = ["Task", "BatchSummary", "run_batch", "plan_batch", "analyze_task"]

#: Seconds between two writes of the table while a run goes on.
CHECKPOINT_S = 10.0

#: Longest name, in bytes, of a recording's JSON or beats file: 255 (the limit of most
#: file systems) less the 14 bytes that the temporary file of an atomic write adds
#: (``.NAME.XXXXXXXX.tmp``).  A longer name is shortened (:func:`_output_name`).
NAME_MAX_BYTES = 241


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
    assumed : tuple of str
        The geometry settings (``carrier_hz``, ``angle_deg``) left at their defaults:
        the result's ``geometry_assumed``.
    channels_from : str
        Which of the layout and channels the recording's sidecar or settings-table row
        set, and where (``"layout 'toward-away' from sidecar rec.dopplerflow.toml"``),
        to name in the error of channels that do not fit the layout; empty where the
        command line set both.
    """

    name: str
    path: str
    settings: object
    source: str
    full: bool = False
    beats: bool = False
    assumed: tuple = ()
    channels_from: str = ""


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
    except (LayoutError, SettingsError) as e:
        # (the settings were checked before: this is the file's channels against the
        # layout and channels, which a sidecar or the table's row may have set apart from
        # the command line's: say which set what)
        where = f" ({task.channels_from})" if task.channels_from else ""
        return _failed(task, str(e).replace(task.path, task.name) + where)
    except DopplerflowError as e:
        return _failed(task, str(e).replace(task.path, task.name))
    except MemoryError:
        return _failed(task, "out of memory")
    except Exception as e:  # a bug must not end a run of thousands: report it in the row
        return _failed(task, f"unexpected {type(e).__name__}: {e} (please report it)")
    if task.assumed:
        analysis.extra["geometry_assumed"] = list(task.assumed)
    result = analysis.to_dict()  # heart_rate_bpm and the beats' summary included
    result["file"] = task.name
    row = table.row_from_result(task.name, result, task.settings, task.source)
    return (row, result if task.full else None,
            beats_csv(analysis) if task.beats else None)


def _failed(task, message):
    """:func:`analyze_task`'s return for a recording that could not be analysed (the
    table's message names options as the command line does)."""
    return (table.error_row(task.name, command_line_message(message), task.settings,
                            task.source), None, None)


class _Resolved(NamedTuple):
    """The settings of one recording (:func:`_resolve`)."""

    settings: object  # Settings
    source: str  # defaults, sidecar, table or sidecar+table
    sidecar: str | None  # its path
    given: set  # the fields the sidecar and the table's row set
    channels_from: str  # Task.channels_from


def _resolve(recording, base, rows_of_table, table_name):
    """The :class:`_Resolved` settings of one recording."""
    settings, source, given, channels_from = base, "defaults", set(), {}
    try:
        sidecar = recsettings.sidecar_path(recording.path)  # two of them: the sidecars' error
    except SettingsError as e:
        e.source = "sidecar"
        raise
    try:
        if sidecar is not None:
            source = "sidecar"
            settings, fields, where = recsettings.apply_sidecar(settings, sidecar)
            given |= fields
            channels_from.update(dict.fromkeys(fields & {"layout", "channels"}, where))
        extra = rows_of_table.get(real(recording.path))
        if extra is not None:
            source = "table" if source == "defaults" else "sidecar+table"
            where = f"settings table {table_name}"
            settings = recsettings.apply_settings(settings, extra,
                                                  f"{where}, {recording.name}")
            fields = recsettings.fields_set(extra)
            given |= fields
            channels_from.update(dict.fromkeys(fields & {"layout", "channels"}, where))
    except SettingsError as e:
        e.source = source  # the error row names where the bad setting came from
        raise
    named = "; ".join(f"{field} {_setting_text(getattr(settings, field))} from {where}"
                      for field, where in sorted(channels_from.items(), reverse=True))
    return _Resolved(settings, source, sidecar, given, named)


def _setting_text(value):
    """A layout or channels setting as an error names it: ``'toward-away'``, ``1,2``."""
    if isinstance(value, tuple):
        return ",".join(str(c) for c in value)
    return repr(value)


def _mirrored(recordings, folder, suffix):
    """Where each recording's own output goes: its path below the folder common to all
    recordings, mirrored under ``folder``, with ``suffix`` added (``.json``,
    ``.beats.csv``; :func:`_output_name`); empty without a ``folder``."""
    if not folder:
        return {}
    root = os.path.commonpath([os.path.dirname(r.path) for r in recordings])
    out = {}
    for r in recordings:
        below, base = os.path.split(os.path.relpath(r.path, root))
        out[r.name] = os.path.join(os.fspath(folder), below, _output_name(base, suffix))
    return out


def _output_name(base, suffix):
    """``base + suffix``, or where that is longer than :data:`NAME_MAX_BYTES` (it could
    not be written), the start of ``base`` without its extension, ``~``, the first 10
    hex digits of the SHA-1 of ``base``, its extension and ``suffix``: the same name on
    every run, and another for every recording."""
    name = base + suffix
    if len(os.fsencode(name)) <= NAME_MAX_BYTES:
        return name
    import hashlib

    stem, ext = os.path.splitext(base)
    tag = "~" + hashlib.sha1(os.fsencode(base)).hexdigest()[:10] + ext[:16] + suffix
    while stem and len(os.fsencode(stem + tag)) > NAME_MAX_BYTES:
        stem = stem[:-1]
    return stem + tag


@dataclass
class _Plan:
    tasks: list
    rows: dict  # file -> row already decided (settings errors, rows kept by resume)
    json_paths: dict
    beats_paths: dict
    found: int
    skipped: int
    names: list  # the recordings of this run
    files: dict  # file -> its table.FILE_COLUMNS cells
    settled: int  # rows of this run decided before any analysis (settings errors)
    stale: dict  # file -> its row in the table resumed, while it is analysed again


def plan_batch(paths, output, *, settings=None, table_path=None, json_dir=None,
               beats_dir=None, resume=False, overwrite=False, assumed_geometry=(),
               on_empty=None, on_warning=None):
    """Everything :func:`run_batch` does before the analyses, without writing.

    Finds the recordings, reads their sidecars and the settings table, refuses
    outputs that would overwrite an input or each other, and (``resume``) reads the
    rows already written.  Parameters as :func:`run_batch`.

    Returns
    -------
    _Plan
    """
    from ..core.settings import recording_settings

    table.output_format(output)
    if resume and overwrite:
        raise SettingsError(f"{option('--resume', 'resume=True')} keeps the table's rows and "
                            f"{option('--overwrite', 'overwrite=True')} replaces them: give "
                            f"one of the two")
    base = settings or recording_settings()
    base.validate()
    recordings = find_recordings(paths, on_empty=on_empty)
    lines = recsettings.read_table_lines(table_path) if table_path else {}
    rows_of_table = {key: mapping for key, (_, _, mapping) in lines.items()}
    table_name = os.path.basename(os.fspath(table_path)) if table_path else None
    for message in _unmatched(lines, {real(r.path) for r in recordings}, table_name):
        (on_warning or _warn)(message)
    resolved, inputs = {}, [r.path for r in recordings]
    for r in recordings:
        try:
            resolved[r.name] = _resolve(r, base, rows_of_table, table_name)
            inputs.extend([resolved[r.name].sidecar] if resolved[r.name].sidecar else [])
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
    if not (resume or overwrite) and os.path.lexists(output):
        raise SettingsError(f"{os.fspath(output)} exists: give "
                            f"{option('--resume', 'resume=True')} to keep its rows and "
                            f"analyse only what they lack, "
                            f"{option('--overwrite', 'overwrite=True')} to replace it, or "
                            f"another output name")
    files = {r.name: table.file_cells(r.path) for r in recordings}
    wanted = {r.name: [p for p in (json_paths.get(r.name), beats_paths.get(r.name)) if p]
              for r in recordings}
    kept, stale = (_kept_rows(output, resolved, files, wanted)
                   if resume and os.path.exists(output) else ({}, {}))
    rows, tasks, settled = dict(kept), [], 0
    for r in recordings:
        got = resolved[r.name]
        if isinstance(got, SettingsError):
            rows[r.name] = dict(table.error_row(r.name, str(got),
                                                source=getattr(got, "source", None)),
                                **files[r.name])
            settled += 1
        elif r.name not in kept:
            tasks.append(Task(r.name, r.path, got.settings, got.source, full=bool(json_dir),
                              beats=bool(beats_dir),
                              assumed=tuple(f for f in assumed_geometry if f not in got.given),
                              channels_from=got.channels_from))
    skipped = sum(1 for r in recordings if r.name in kept)
    stale = {t.name: stale[t.name] for t in tasks if t.name in stale}
    return _Plan(tasks, rows, json_paths, beats_paths, len(recordings), skipped,
                 [r.name for r in recordings], files, settled, stale)


def _warn(message):
    """Where a warning goes without an ``on_warning``: Python's warnings."""
    warnings.warn(message, UserWarning, stacklevel=4)


def _unmatched(lines, keys, table_name):
    """Warnings for the rows of a settings table (:func:`recsettings.read_table_lines`)
    that match no recording of this run (real paths ``keys``): one a row that names no
    file (a typo, another case, another folder: its settings would silently not be
    used), and one line for those that name files outside this run (a table of the
    whole study, run a part at a time)."""
    missing, elsewhere = [], []
    for key, (line, file, _) in sorted(lines.items(), key=lambda kv: kv[1][0]):
        if key not in keys:
            (elsewhere if os.path.exists(key) else missing).append((line, file))
    out = [f"settings table {table_name}, line {line}: {file} matches no recording of "
           f"this run and no file (names are relative to the table's folder); its "
           f"settings are not used" for line, file in missing]
    if elsewhere:
        (line, file), more = elsewhere[0], len(elsewhere) - 1
        out.append(f"settings table {table_name}, line {line}: {file}"
                   f"{f' and {more} more row(s)' if more else ''} name files that are not "
                   f"recordings of this run; their settings are not used")
    return out


def _check_folder(path):
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if os.path.isdir(os.fspath(path)):
        raise SettingsError(f"{os.fspath(path)} is a folder; give a file name such as "
                            f"results.csv")
    if not os.path.isdir(folder):
        raise AudioFileError(f"cannot write {os.fspath(path)}: the folder {folder} does not "
                             f"exist; create it or write elsewhere")


def _kept_rows(output, resolved, files, wanted):
    """``(kept, stale)``: the rows of an earlier run to keep, and those to analyse again.

    Every row is kept, except those of recordings of this run that failed, whose
    settings have changed since, whose file has changed since (its size or modification
    time; a row of an earlier version without them is kept), or whose JSON or beats file
    asked for (``wanted``) is missing: they are stale, analysed again, and stay in the
    table until their new row replaces them.  Keyed by the recording's name (a row's
    ``file`` cell holds it as :func:`table.name_text` writes it)."""
    by_cell = {table.name_text(name): name for name in resolved}
    kept, stale = {}, {}
    for row in table.read_table_rows(output):
        name = by_cell.get(row["file"], row["file"])
        now = resolved.get(name)
        if now is not None:
            row["file"] = name
            if _is_stale(row, now, files[name], wanted[name]):
                stale[name] = row
                continue
        kept[name] = row
    return kept, stale


def _is_stale(row, now, files, wanted):
    """Whether a recording's row (of the table resumed) is analysed again: it failed, its
    settings (``now``: this run's) or its file (``files``: its cells now) have changed,
    or a JSON or beats file asked for (``wanted``) is missing."""
    if row["status"] != "ok" or isinstance(now, SettingsError):
        return True
    fresh = table.error_row(row["file"], "", now.settings)
    if any(table.cell_text(row[c]) != table.cell_text(fresh[c])
           for c, _ in table.SETTINGS_COLUMNS):
        return True
    if any(row[c] is not None and row[c] != v for c, v in files.items()):
        return True
    return not all(os.path.exists(p) for p in wanted)


def run_batch(paths, output, *, settings=None, table_path=None, jobs=None, dask=None,
              json_dir=None, beats_dir=None, resume=False, overwrite=False,
              assumed_geometry=(), progress=None, on_empty=None, on_warning=None,
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
        Defaults of every recording (the command line's analysis flags); without it,
        :func:`~dopplerflow.core.settings.recording_settings` (the layout chosen from each
        recording's channels).
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
        Keep the rows of an existing ``output``; analyse only what is missing.  A row
        analysed again stays in the table until its new row replaces it.
    overwrite : bool
        Replace an existing ``output``.  Without ``resume`` or ``overwrite`` an existing
        ``output`` is refused, before any work.
    assumed_geometry : iterable of str
        The geometry settings of ``settings`` (``carrier_hz``, ``angle_deg``) that are
        defaults, not given: a recording whose sidecar or settings table gives none of
        them has them in its ``geometry_assumed`` (the JSON's, the table's column).
    progress : callable, optional
        Called as ``progress(done, total, errors)`` after each analysis; the rows of
        this run's recordings that need none (a bad setting) count as done.
    on_empty : callable, optional
        Called with a folder or pattern that holds no recording.
    on_warning : callable, optional
        Called with each warning, one line (a settings table's row that matches no
        recording); default :func:`warnings.warn`.
    checkpoint_s : float
        Seconds between two writes of the table during the run.

    Returns
    -------
    BatchSummary

    Raises
    ------
    SettingsError
        Bad usage, before any work: an existing ``output`` without ``resume`` or
        ``overwrite``, an output that would overwrite an input or another output, an
        unknown suffix, a bad settings table, ``dask`` not an address or without
        distributed installed.
    DopplerflowError
        The Dask scheduler cannot be reached, or one of its workers runs other
        dopplerflow code than this process (:func:`~.pool.check_workers`), before any
        work.
    InputError
        No recording found.
    KeyboardInterrupt
        After writing the rows done so far (resume continues from there); so does any
        other exception that stops the run.  Before any recording is done, the table
        is left as it was.
    """
    if dask is not None:
        require_distributed()  # first: it says how to install distributed
    plan = plan_batch(paths, output, settings=settings, table_path=table_path,
                      json_dir=json_dir, beats_dir=beats_dir, resume=resume,
                      overwrite=overwrite, assumed_geometry=assumed_geometry,
                      on_empty=on_empty, on_warning=on_warning)
    client, own = connect(dask) if dask is not None else (None, False)
    try:
        if client is not None:
            check_workers(client)
        for p in (*plan.json_paths.values(), *plan.beats_paths.values()):
            try:
                os.makedirs(os.path.dirname(p), exist_ok=True)
            except OSError as e:  # a file where a folder of the mirrored tree goes
                raise AudioFileError(f"cannot create the folder {os.path.dirname(p)} for "
                                     f"{os.path.basename(p)} ({e.strerror or e}); give "
                                     f"another folder") from None
        return _run(plan, output, jobs, client, progress, checkpoint_s)
    finally:
        if own:
            client.close()


def _run(plan, output, jobs, client, progress, checkpoint_s):
    """:func:`run_batch`'s analyses, and the table's writes, once planned (``client``:
    the Dask cluster's, or None)."""
    rows, tasks = plan.rows, plan.tasks
    settled, last, done = plan.settled, time.monotonic(), 0
    errors = settled
    try:
        for done, (i, out) in enumerate(run_tasks(analyze_task, tasks,
                                                  jobs=jobs or default_jobs(), dask=client), 1):
            task = tasks[i]
            row = dict(_row_of(task, out, plan), **plan.files[task.name])
            rows[task.name] = row
            errors += row["status"] != "ok"
            if progress is not None:
                progress(settled + done, settled + len(tasks), errors)
            if time.monotonic() - last >= checkpoint_s:
                _write(plan, output)
                last = time.monotonic()
    except BaseException:  # Ctrl-C, SIGTERM, a bug: the rows done are kept all the same
        if done or not os.path.lexists(output):
            _write(plan, output)
        raise
    _write(plan, output)
    failed = [rows[n]["error"] for n in plan.names if rows[n]["status"] != "ok"]
    return BatchSummary(plan.found, len(tasks), plan.skipped, len(failed), os.fspath(output),
                        failed[0] if failed else None)


def _row_of(task, out, plan):
    """The row of a task's return, once its JSON and beats files are written: an error
    row when the task was lost or one of them cannot be written."""
    if isinstance(out, TaskFailed):
        return _failed(task, str(out))[0]
    row, result, beats = out
    try:
        if result is not None:
            path = plan.json_paths[task.name]
            other = _held_by_other(path, task)
            if other is not None:
                return _failed(task, f"{path} holds the result of another recording, "
                                     f"{other}, written by another run; remove that file "
                                     f"or give another --json-dir")[0]
            atomic_write(path, _json_text(result))
        if beats is not None:
            atomic_write(plan.beats_paths[task.name], beats)
    except (OSError, DopplerflowError) as e:  # a full disk, a folder made read-only
        return _failed(task, f"{e}; its result is not kept: make room or fix the folder, "
                             f"then run again with --resume")[0]
    return row


def _held_by_other(path, task):
    """The ``file`` of the result JSON at ``path`` when it names another recording than
    ``task``'s (a run on other folders into the same ``--json-dir``); None when there
    is no such file, or it is ``task``'s, or no result of dopplerflow."""
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            held = json.load(fh).get("file")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(held, str) or held == task.name:
        return None
    try:  # the same file by another name (this run's folder differs)
        return None if real(held) == real(task.path) else held
    except (OSError, ValueError):
        return held


def _json_text(result):
    import json

    return json.dumps(result, indent=2) + "\n"


def _write(plan, output):
    """Write the table: the rows decided so far, and the rows of the table resumed of the
    recordings still to analyse again."""
    rows = {**plan.stale, **plan.rows}
    table.write_table([rows[k] for k in sorted(rows)], output)
