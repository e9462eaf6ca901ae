"""The batch table: its columns, one row from an analysis, and CSV or Parquet files.

Every row has every column of :data:`COLUMNS`, in that order, whatever happened to
its recording; a value that does not apply is None (an empty CSV cell, a Parquet
null).  ``docs/batch.md`` describes each column.  The file format follows the output's
suffix: ``.csv``, or ``.parquet`` with pyarrow installed (``pip install
"dopplerflow[parquet]"``).
"""

import csv
import io
import math
import os
import time

from ..errors import SettingsError
from .files import atomic_write

__all__ = ["COLUMNS", "SETTINGS_COLUMNS", "BEAT_COLUMNS", "FILE_COLUMNS", "ADDED_COLUMNS",
           "FORMATS", "output_format", "row_from_result", "error_row", "file_cells",
           "cell_text", "name_text", "write_table", "read_table_rows", "require_pyarrow"]

#: Output suffixes and their formats.
FORMATS = {".csv": "csv", ".parquet": "parquet"}

#: Columns of the settings in force: (column, type), the fields of ``Settings.to_dict()``
#: (``antegrade`` as asked is ``antegrade_setting``; the result's is ``antegrade``).
SETTINGS_COLUMNS = (
    ("layout", str), ("invert", bool), ("offset_hz", float), ("channels", str),
    ("window_s", float), ("hop_s", float), ("wall_hz", float), ("carrier_hz", float),
    ("angle_deg", float), ("sound_speed_m_s", float), ("vessel", str),
    ("reflux_threshold_s", float), ("antegrade_setting", str), ("envelope", str),
    ("average_frames", int), ("hum_hz", float),
)

#: Columns of the beats (the JSON's ``beats`` summary): (column, type, its key there).
#: The indices are medians over the clean beats; ``phasicity`` only with direction, the
#: respiratory phasicity only for veins.
_BEATS = (
    ("heart_rate_iqr_bpm", float, "heart_rate_iqr_bpm"), ("n_beats", int, "n_beats"),
    ("n_clean_beats", int, "n_clean"), ("n_rejected_beats", int, "n_rejected"),
    ("beat_signal", str, "signal"), ("beat_periodicity", float, "periodicity"),
    ("psv_cm_s", float, "psv_cm_s"),
    ("edv_cm_s", float, "edv_cm_s"), ("tamv_cm_s", float, "tamv_cm_s"),
    ("tav_cm_s", float, "tav_cm_s"), ("ri", float, "ri"), ("pi", float, "pi"),
    ("sd_ratio", float, "sd_ratio"), ("acceleration_time_s", float, "acceleration_time_s"),
    ("reverse_flow_share", float, "reverse_flow_share"), ("phasicity", str, "phasicity"),
)
BEAT_COLUMNS = tuple((name, kind) for name, kind, _ in _BEATS) + (
    ("respiratory_phasicity", str), ("respiratory_modulation", float))

#: Columns of the recording's file as it was analysed (``--resume`` analyses it again
#: when they have changed): its size and its modification time, UTC, ISO 8601 to the
#: nanosecond the file system gives.
FILE_COLUMNS = (("file_size_bytes", int), ("file_modified_utc", str))

#: Every column of the table, in order: (name, type).
COLUMNS = (
    ("file", str), ("status", str), ("error", str), ("settings_source", str),
) + FILE_COLUMNS + (
    ("duration_s", float), ("sample_rate_hz", float), ("channels_in_file", int),
    ("layout_used", str), ("channels_used", str),
    ("audio_complete", bool), ("cut_at_s", float), ("stated_duration_s", float),
    ("flow_detected", bool), ("reflux", bool), ("reflux_not_assessable", str),
    ("n_reflux_events", int), ("longest_reflux_s", float), ("reflux_cut_by_end", bool),
    ("first_reflux_start_s", float), ("reflux_unseen_s", float),
    ("n_retrograde_episodes", int), ("longest_retrograde_s", float),
    ("direction_available", bool), ("antegrade", str), ("antegrade_source", str),
    ("flow_fraction", float), ("peak_antegrade_velocity_cm_s", float),
    ("peak_retrograde_velocity_cm_s", float), ("noise_floor_dbfs", float),
    ("velocity_resolution_cm_s", float), ("velocity_floor_cm_s", float),
    ("heart_rate_bpm", float),
) + BEAT_COLUMNS + SETTINGS_COLUMNS + (
    ("geometry_assumed", str), ("n_warnings", int), ("warnings", str),
    ("dopplerflow_version", str),
)
_NAMES = tuple(name for name, _ in COLUMNS)
_TYPES = dict(COLUMNS)
#: Columns that tables of earlier versions lack; such a table still resumes, its rows
#: with these cells empty.
ADDED_COLUMNS = ("file_size_bytes", "file_modified_utc", "beat_periodicity",
                 "reflux_cut_by_end", "reflux_unseen_s", "geometry_assumed")
#: Warnings are joined into one cell with this separator.
WARNING_SEPARATOR = " | "


def output_format(path):
    """``"csv"`` or ``"parquet"`` from the suffix of ``path``.

    Raises
    ------
    SettingsError
        Any other suffix; Parquet without pyarrow.
    """
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in FORMATS:
        raise SettingsError(f"output {os.fspath(path)} must end in .csv or .parquet "
                            f"(e.g. -o results.csv)")
    if FORMATS[ext] == "parquet":
        require_pyarrow()
    return FORMATS[ext]


def require_pyarrow():
    """Import pyarrow, or raise a one-line :class:`SettingsError` saying how to get it."""
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise SettingsError('Parquet output needs pyarrow: pip install "dopplerflow[parquet]" '
                            '(or write .csv)') from None


def _channels_text(channels):
    """``--channels`` as a cell: ``"1"``, ``"1,2"`` (None: the file's own)."""
    return ",".join(map(str, channels)) if channels else None


def _settings_cells(settings):
    d = settings.to_dict()
    d["antegrade_setting"] = d.pop("antegrade")
    d["channels"] = _channels_text(d["channels"])
    return {name: d[name] for name, _ in SETTINGS_COLUMNS}


def _longest(events, assessed):
    """The longest of ``events``, s: 0 when there is none but reflux was assessed,
    None (an empty cell) when it was not (no direction, a second vessel, too short)."""
    return max((e["duration_s"] for e in events), default=0.0 if assessed else None)


def row_from_result(name, result, settings, source):
    """The row of an analysed recording.

    Parameters
    ----------
    name : str
        The ``file`` cell.
    result : dict
        ``Analysis.to_dict()``; ``heart_rate_bpm`` is read from it when present.
    settings : Settings
        The settings in force.
    source : str
        The ``settings_source`` cell.
    """
    sm = result["summary"]
    events, episodes = result["reflux_events"], result["retrograde_episodes"]
    assessed = result["reflux"] is not None
    row = dict.fromkeys(_NAMES)
    row.update(
        file=name, status="ok", settings_source=source,
        duration_s=result["duration_s"], sample_rate_hz=float(result["sample_rate_hz"]),
        channels_in_file=result["channels"], audio_complete=result["audio_complete"],
        layout_used=result["settings"]["layout"],
        channels_used=_channels_text(result["settings"]["channels"]),
        cut_at_s=(result.get("cut") or {}).get("at_s"),
        stated_duration_s=(result.get("cut") or {}).get("stated_s"),
        flow_detected=result["flow_detected"],
        reflux=result["reflux"], reflux_not_assessable=result.get("reflux_not_assessable"),
        n_reflux_events=len(events), longest_reflux_s=_longest(events, assessed),
        reflux_cut_by_end=any(e.get("cut_by_end", False) for e in events) if assessed else None,
        first_reflux_start_s=events[0]["start_s"] if events else None,
        reflux_unseen_s=result.get("reflux_unseen_s"),
        n_retrograde_episodes=len(episodes),
        longest_retrograde_s=_longest(events + episodes, assessed),
        direction_available=result["direction_available"], antegrade=result["antegrade"],
        antegrade_source=result["antegrade_source"], flow_fraction=sm["flow_fraction"],
        peak_antegrade_velocity_cm_s=sm["peak_antegrade_velocity_cm_s"],
        peak_retrograde_velocity_cm_s=sm["peak_retrograde_velocity_cm_s"],
        noise_floor_dbfs=sm["noise_floor_dbfs"],
        velocity_resolution_cm_s=sm["velocity_resolution_cm_s"],
        velocity_floor_cm_s=result["velocity_floor_cm_s"],
        heart_rate_bpm=result.get("heart_rate_bpm"),
        geometry_assumed=" ".join(result.get("geometry_assumed") or ()) or None,
        n_warnings=len(result["warnings"]),
        warnings=WARNING_SEPARATOR.join(result["warnings"]) or None,
        dopplerflow_version=result["dopplerflow_version"],
    )
    row.update(_settings_cells(settings))
    row.update(_beat_cells(result.get("beats")))
    return _typed(row)


def _typed(row):
    """``row`` with each value of its column's type: the analysis hands over numpy
    scalars here and there (an event's duration), which must not reach a cell as
    ``np.float64(2.5)`` nor differ between CSV and Parquet."""
    for name, value in row.items():
        kind = _TYPES[name]
        if value is not None and kind is not str and type(value) is not kind:
            row[name] = kind(value)
    return row


def _beat_cells(beats):
    """The :data:`BEAT_COLUMNS` cells of the JSON's ``beats`` summary (None: none)."""
    if not beats:
        return {}
    out = {name: beats.get(key) for name, _, key in _BEATS}
    resp = beats.get("respiratory_phasicity") or {}
    out.update(respiratory_phasicity=resp.get("call"),
               respiratory_modulation=resp.get("modulation"))
    return out


def error_row(name, message, settings=None, source=None):
    """The row of a recording that could not be analysed: its error, and the settings
    it would have had when they were known."""
    from .. import __version__

    row = dict.fromkeys(_NAMES)
    row.update(file=name, status="error", error=message, settings_source=source,
               dopplerflow_version=__version__)
    if settings is not None:
        row.update(_settings_cells(settings))
    return _typed(row)


def file_cells(path):
    """The :data:`FILE_COLUMNS` cells of the file at ``path`` (empty where it cannot be
    read: a missing file)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return dict.fromkeys(name for name, _ in FILE_COLUMNS)
    seconds, ns = divmod(st.st_mtime_ns, 1_000_000_000)
    when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return {"file_size_bytes": st.st_size, "file_modified_utc": f"{when}.{ns:09d}Z"}


def name_text(text):
    """``text`` as UTF-8 can hold it: a file name that is not valid UTF-8 (Latin-1 from
    a Windows share: Python holds its bytes as lone surrogates) has each such byte
    written as ``\\xHH`` (``caf\\xe9.flac``); any other text is returned as it is.
    Applied to every text cell; ``--resume`` matches a recording by its name so
    written."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that stands for no byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def cell_text(value):
    """A value as its CSV cell: "" for None, ``true``/``false``, plain numbers (floats
    by the ``repr`` of a Python float: the shortest text that reads back to the same
    float, never ``np.float64(2.5)``), text as :func:`name_text` writes it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(float(value))
    return name_text(str(value))


def _csv_bytes(rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(_NAMES)
    for r in rows:
        w.writerow([cell_text(r[n]) for n in _NAMES])
    return buf.getvalue().encode("utf-8")


def _arrow_table(rows):
    import pyarrow as pa

    types = {str: pa.string(), float: pa.float64(), int: pa.int64(), bool: pa.bool_()}
    schema = pa.schema([(n, types[t]) for n, t in COLUMNS])
    return pa.Table.from_pylist(
        [{n: name_text(r[n]) if isinstance(r[n], str) else r[n] for n in _NAMES}
         for r in rows], schema=schema)


def write_table(rows, path):
    """Write ``rows`` (dicts with every column) to ``path``, atomically, as CSV or
    Parquet by its suffix."""
    if output_format(path) == "csv":
        atomic_write(path, _csv_bytes(rows))
        return
    import pyarrow.parquet as pq

    table = _arrow_table(rows)
    atomic_write(path, lambda fh: pq.write_table(table, fh))


def _parse_cell(text, kind):
    if text == "":
        return None
    if kind is bool:
        return text == "true"
    if kind is int:
        return int(text)
    if kind is float:
        return float(text)
    return text


def read_table_rows(path):
    """Read a batch table written by :func:`write_table` (for ``--resume``).

    Returns
    -------
    list of dict
        One dict per row, typed as :data:`COLUMNS` says.

    Raises
    ------
    SettingsError
        The file cannot be read, or is not a batch table (not text, other columns, a row
        that does not fit them): resuming it would lose what it holds.
    """
    path = os.fspath(path)
    if output_format(path) == "parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as e:  # pyarrow raises its own error types
            raise SettingsError(f"cannot resume {path}: not a Parquet file ({e})") from None
        _check_columns(path, table.column_names)
        return [dict(dict.fromkeys(_NAMES), **r) for r in table.to_pylist()]
    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            _check_columns(path, header)
            for line in reader:
                if line:
                    rows.append(dict(dict.fromkeys(_NAMES),
                                     **{n: _parse_cell(c, _TYPES[n])
                                        for n, c in zip(header, line, strict=True)}))
    except SettingsError:
        raise
    except OSError as e:
        raise SettingsError(f"cannot resume {path}: it cannot be read ({e.strerror or e}); "
                            f"check its permissions, or write to a new file") from None
    except UnicodeDecodeError:
        raise SettingsError(f"cannot resume {path}: it is not a dopplerflow batch table (not "
                            f"UTF-8 text); write to a new file") from None
    except (csv.Error, ValueError):  # a row of other cells than the header's
        raise SettingsError(f"cannot resume {path}: it is not a dopplerflow batch table (line "
                            f"{reader.line_num} does not fit its columns); write to a new "
                            f"file") from None
    return rows


def _check_columns(path, names):
    """Refuse a header other than :data:`COLUMNS`, or that of an earlier version (the
    same columns without some of :data:`ADDED_COLUMNS`)."""
    names = tuple(names)
    if names != tuple(n for n in _NAMES if n in names or n not in ADDED_COLUMNS):
        raise SettingsError(f"cannot resume {path}: its columns are not those of a dopplerflow "
                            f"batch table of this version; write to a new file")
