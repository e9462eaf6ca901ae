"""Per-recording settings: from a sidecar file beside the recording, or a settings table.

A run's defaults come from the command line (or a :class:`~dopplerflow.core.Settings`
in Python).  A recording may change some of them:

* a **sidecar** beside it: ``rec.dopplerflow.toml`` or ``rec.dopplerflow.json`` for
  ``rec.flac`` (one of the two, not both), a flat table of keys;
* a row of a **settings table** (``--settings table.csv``): a ``file`` column (a path
  relative to the table's folder, or absolute) and one column per key; an empty cell
  leaves the setting as it was.

The table wins over the sidecar, which wins over the defaults.  The keys are the
fields of :class:`~dopplerflow.core.Settings` (units in the names: ``carrier_hz``,
``angle_deg``, ``window_s``, ...) and the command line's flag names
(``carrier_mhz``, ``angle``, ``window_ms``, ``hop_ms``, ``sound_speed``,
``reflux_threshold``, ``hum``), in the flags' units; ``-`` and ``_`` are the same.
"""

import csv
import json
import os

from ..errors import InputError, SettingsError
from .files import load_toml, real

__all__ = ["KEYS", "SIDECAR_SUFFIXES", "sidecar_path", "read_sidecar", "read_table",
           "read_table_lines", "apply_settings", "fields_set", "normalise_key"]

#: Sidecar file name endings, after the recording's name without its extension.
SIDECAR_SUFFIXES = (".dopplerflow.toml", ".dopplerflow.json")


def _bool(v):
    if isinstance(v, bool):
        return v
    text = str(v).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise ValueError("is not true or false")


def _float(v):
    if isinstance(v, bool):
        raise ValueError("is not a number")
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError("is not a number") from None


def _int(v):
    x = _float(v)
    if x != int(x):
        raise ValueError("is not a whole number")
    return int(x)


def _text(v):
    if not isinstance(v, str):
        raise ValueError("is not text")
    return v.strip()


def _channels(v):
    items = v if isinstance(v, (list, tuple)) else str(v).replace(";", ",").split(",")
    try:
        chans = tuple(_int(c) for c in items)
    except ValueError:
        raise ValueError("is not a list of channel numbers (e.g. 1,2)") from None
    if not chans or min(chans) < 1:
        raise ValueError("must list channels numbered from 1")
    return chans


#: Accepted keys: key -> (Settings field, parser, factor to the field's unit).
KEYS = {
    "layout": ("layout", _text, None),
    "invert": ("invert", _bool, None),
    "offset_hz": ("offset_hz", _float, None),
    "channels": ("channels", _channels, None),
    "window_s": ("window_s", _float, None),
    "window_ms": ("window_s", _float, 1e-3),
    "hop_s": ("hop_s", _float, None),
    "hop_ms": ("hop_s", _float, 1e-3),
    "wall_hz": ("wall_hz", _float, None),
    "carrier_hz": ("carrier_hz", _float, None),
    "carrier_mhz": ("carrier_hz", _float, 1e6),
    "angle_deg": ("angle_deg", _float, None),
    "angle": ("angle_deg", _float, None),
    "sound_speed_m_s": ("sound_speed_m_s", _float, None),
    "sound_speed": ("sound_speed_m_s", _float, None),
    "vessel": ("vessel", _text, None),
    "reflux_threshold_s": ("reflux_threshold_s", _float, None),
    "reflux_threshold": ("reflux_threshold_s", _float, None),
    "antegrade": ("antegrade", _text, None),
    "envelope": ("envelope", _text, None),
    "average_frames": ("average_frames", _int, None),
    "hum_hz": ("hum_hz", _float, None),
    "hum": ("hum_hz", _float, None),
}


def normalise_key(key):
    """A key as :data:`KEYS` spells it: lower case, ``-`` as ``_``, no spaces."""
    return str(key).strip().lower().replace("-", "_")


def unknown_key_message(key, where):
    """The one-line error for a key that is not a setting."""
    hint = "; use carrier_mhz or carrier_hz" if normalise_key(key) == "carrier" else ""
    return (f"{where}: '{key}' is not a setting{hint} (known: {', '.join(KEYS)})")


def apply_settings(base, mapping, where):
    """``base`` with the settings of ``mapping`` applied, validated.

    Parameters
    ----------
    base : Settings
    mapping : dict
        Keys of :data:`KEYS` (normalised by :func:`normalise_key`); values of the
        right type or text (a table's cells).  None and empty text leave a setting
        as it was.
    where : str
        Names the source in error messages (``"rec.dopplerflow.toml"``).

    Returns
    -------
    Settings

    Raises
    ------
    SettingsError
        An unknown key, a key given twice (``angle`` and ``angle_deg``), a value
        of the wrong type or out of range.
    """
    changes, given = {}, {}
    for key, value in mapping.items():
        k = normalise_key(key)
        if k not in KEYS:
            raise SettingsError(unknown_key_message(key, where))
        if _blank(value):
            continue
        field, parse, factor = KEYS[k]
        if field in given:
            raise SettingsError(f"{where}: '{given[field]}' and '{key}' set the same setting; "
                                f"give one")
        try:
            v = parse(value)
        except ValueError as e:
            raise SettingsError(f"{where}: {key} {value!r} {e}") from None
        changes[field] = v * factor if factor else v
        given[field] = key
    if not changes:
        return base
    try:  # a name that is not known is refused as the settings are made
        settings = base.replace(**changes)
        settings.validate()
    except SettingsError as e:
        raise SettingsError(f"{where}: {e}") from None
    return settings


def fields_set(mapping):
    """The :class:`~dopplerflow.Settings` fields ``mapping`` (as :func:`apply_settings`
    takes it) sets: its known keys with a value."""
    return {KEYS[normalise_key(key)][0] for key, value in mapping.items()
            if normalise_key(key) in KEYS and not _blank(value)}


def _blank(value):
    """Whether a mapping's value leaves its setting as it was: None or empty text (a
    table's empty cell)."""
    return value is None or (isinstance(value, str) and not value.strip())


def sidecar_path(recording_path):
    """The sidecar of a recording, or None: ``rec.dopplerflow.toml`` or ``.json``.

    Raises
    ------
    SettingsError
        Both exist (which one holds the settings would be a guess).
    """
    stem = os.path.splitext(os.fspath(recording_path))[0]
    hits = [stem + s for s in SIDECAR_SUFFIXES if os.path.isfile(stem + s)]
    if len(hits) > 1:
        raise SettingsError(f"{os.path.basename(stem)} has two sidecars, "
                            f"{' and '.join(map(os.path.basename, hits))}; keep one")
    return hits[0] if hits else None


def apply_sidecar(settings, path):
    """``settings`` with the sidecar's at ``path`` (:func:`sidecar_path`) applied.

    Returns
    -------
    settings : Settings
    fields : set of str
        The fields the sidecar sets (:func:`fields_set`).
    where : str
        How messages name it: ``"sidecar rec.dopplerflow.toml"``.

    Raises
    ------
    SettingsError
        The sidecar cannot be read (:func:`read_sidecar`), or a value of it is not valid,
        named with ``where``.
    """
    where = f"sidecar {os.path.basename(path)}"
    mapping = read_sidecar(path)
    return apply_settings(settings, mapping, where), fields_set(mapping), where


def read_sidecar(path):
    """The settings mapping of a sidecar file (TOML or JSON, one flat table).

    Raises
    ------
    SettingsError
        Unreadable, not TOML/JSON, or not a flat table.
    """
    name = os.path.basename(path)
    try:
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        else:
            data = load_toml(path)
    except (OSError, ValueError) as e:  # InputError and JSONDecodeError are ValueErrors
        raise SettingsError(f"sidecar {name}: {getattr(e, 'strerror', None) or e}") from None
    if not isinstance(data, dict) or any(isinstance(v, dict) for v in data.values()):
        raise SettingsError(f"sidecar {name} must be one flat table of settings "
                            f"(e.g. vessel = \"gsv\")")
    return data


def read_table(path):
    """Read a settings table (CSV with a header row).

    As :func:`read_table_lines`, without where each row stands.

    Returns
    -------
    dict of str to dict
        Real path of each recording named (:func:`dopplerflow.study.files.real`) ->
        its settings mapping (empty cells dropped).
    """
    return {key: mapping for key, (_, _, mapping) in read_table_lines(path).items()}


def read_table_lines(path):
    """Read a settings table (CSV with a header row), each row with where it stands.

    Parameters
    ----------
    path : str or os.PathLike
        Its ``file`` column names the recordings, relative to the table's folder or
        absolute; the other columns are keys of :data:`KEYS`.

    Returns
    -------
    dict of str to tuple
        Real path of each recording named (:func:`dopplerflow.study.files.real`) ->
        ``(line, file, mapping)``: the row's line number in the table, its ``file``
        cell, and its settings mapping (empty cells dropped).

    Raises
    ------
    InputError
        The table cannot be read.
    SettingsError
        No ``file`` column, an unknown column, a recording named twice.
    """
    path = os.fspath(path)
    name = os.path.basename(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except OSError as e:
        raise InputError(f"settings table {path}: {e.strerror or e}") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"settings table {path} is not a CSV text file ({e})") from None
    if not rows:
        raise SettingsError(f"settings table {name} is empty; its first row names the "
                            f"columns: file, then settings such as vessel, antegrade")
    header = [normalise_key(h) for h in rows[0]]
    if "file" not in header:
        raise SettingsError(f"settings table {name} has no 'file' column (columns: "
                            f"{', '.join(rows[0])})")
    for h, raw in zip(header, rows[0], strict=True):
        if h != "file" and h not in KEYS:
            raise SettingsError(unknown_key_message(raw, f"settings table {name}"))
    folder = os.path.dirname(os.path.abspath(path))
    out = {}
    for line, row in enumerate(rows[1:], 2):
        if not any(c.strip() for c in row):
            continue
        cells = dict(zip(header, row + [""] * (len(header) - len(row)), strict=False))
        file = cells.pop("file").strip()
        if not file:
            raise SettingsError(f"settings table {name}, line {line}: the file cell is empty")
        key = real(os.path.join(folder, os.path.expanduser(file)))
        if key in out:
            raise SettingsError(f"settings table {name}, line {line}: {file} is named "
                                f"twice; give one row per recording")
        out[key] = (line, file, {k: v for k, v in cells.items() if v.strip()})
    return out
