"""The examination manifest: a TOML file naming the study and each recording.

::

    [exam]
    id = "DEMO-001"                  # the patient or study id (required)
    title = "Venous study"           # optional: title, patient, date, operator, notes

    [defaults]                       # settings of every recording (keys of batch)
    layout = "iq"
    carrier_mhz = 8

    [b_mode]                         # optional, measured on the scanner, entered by hand
    ijv_csa_cm2.left = { supine = 0.62, upright = 0.35 }
    ijv_csa_cm2.right = { supine = 0.25, upright = 0.41 }
    ijv_intraluminal_defect = { left = false, right = false }

    [[recording]]
    file = "ijv_left_supine.flac"    # relative to the manifest's folder
    vessel = "ijv"                   # a preset of dopplerflow.VESSELS
    side = "left"                    # left or right (optional for dcv and artery)
    posture = "supine"               # supine, sitting, upright or standing
    manoeuvre = "rest"               # default rest; see MANOEUVRES
    antegrade = "away"               # any setting, as in a batch sidecar

Every problem is a :class:`ManifestError`: one line naming the manifest, the recording
and what is allowed.  ``docs/exam.md`` is the reference.
"""

import math
import os
from dataclasses import dataclass, field

from ..core.vessels import VESSELS
from ..errors import InputError, SettingsError
from . import recsettings
from .files import load_toml

__all__ = ["ManifestError", "Manifest", "ExamRecording", "load_manifest", "NECK_VEINS",
           "CEREBRAL_VEINS", "LEG_VEINS", "SIDES", "POSTURES", "UPRIGHT", "MANOEUVRES"]

#: Veins of Zamboni's criteria 1 and 4, of criterion 2, and of the leg reflux map.
NECK_VEINS = ("ijv", "vv")
CEREBRAL_VEINS = ("dcv",)
LEG_VEINS = ("gsv", "ssv", "deep-femoral", "femoral", "popliteal", "calf", "perforator")
SIDES = ("left", "right")
POSTURES = ("supine", "sitting", "upright", "standing")
#: Postures read as "upright" (head up) by the criteria.
UPRIGHT = ("sitting", "upright", "standing")
MANOEUVRES = ("rest", "deep-inspiration", "breath-hold", "valsalva", "squeeze", "release",
              "cuff-deflation", "dorsiflexion")
_EXAM_KEYS = ("id", "title", "patient", "date", "operator", "notes")
_RECORDING_KEYS = ("file", "vessel", "side", "posture", "manoeuvre", "maneuver", "label")
_B_MODE_KEYS = ("ijv_csa_cm2", "ijv_intraluminal_defect")


class ManifestError(InputError):
    """The manifest cannot be read as an examination (bad input: exit status 1)."""


@dataclass
class ExamRecording:
    """One recording of the examination.

    Attributes
    ----------
    index : int
        1-based position in the manifest.
    file : str
        As the manifest names it.
    path : str
        Absolute path.
    vessel, side, posture, manoeuvre : str
        ``side`` is None where not given (``dcv``, ``artery``).
    label : str or None
    settings : Settings
        The manifest's defaults, the vessel and the recording's own settings.
    """

    index: int
    file: str
    path: str
    vessel: str
    side: str | None
    posture: str
    manoeuvre: str
    label: str | None
    settings: object

    @property
    def upright(self):
        """Whether the posture is head-up (sitting, upright, standing)."""
        return self.posture in UPRIGHT

    def describe(self):
        """``"#3 ijv left, sitting, rest"``."""
        side = f" {self.side}" if self.side else ""
        return f"#{self.index} {self.vessel}{side}, {self.posture}, {self.manoeuvre}"


@dataclass
class Manifest:
    """A parsed manifest: ``exam`` (its [exam] table), ``recordings``, and the hand-entered
    ``ijv_csa_cm2`` (side -> {"supine", "upright"} -> cm2) and
    ``ijv_intraluminal_defect`` (side -> bool)."""

    path: str
    exam: dict
    recordings: list
    ijv_csa_cm2: dict = field(default_factory=dict)
    ijv_intraluminal_defect: dict = field(default_factory=dict)

    @property
    def inputs(self):
        """Every file the examination reads: the manifest and the recordings."""
        return [self.path] + [r.path for r in self.recordings]


def _choice(value, allowed, what, where):
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        raise ManifestError(f"{where}: {what} {value!r} is not known; use one of "
                            f"{', '.join(allowed)}")
    return value.strip().lower()


def _unknown(table, allowed, where):
    bad = [k for k in table if k not in allowed]
    if bad:
        raise ManifestError(f"{where}: unknown key {bad[0]!r} (known: {', '.join(allowed)})")


def _exam_table(data, name):
    exam = data.get("exam")
    if not isinstance(exam, dict):
        raise ManifestError(f"{name}: no [exam] table; it needs at least id = \"...\" (the "
                            f"patient or study id)")
    _unknown(exam, _EXAM_KEYS, f"{name} [exam]")
    if not isinstance(exam.get("id"), (str, int)) or not str(exam["id"]).strip():
        raise ManifestError(f"{name} [exam]: id (the patient or study id) is missing")
    return {k: str(v) for k, v in exam.items()}


def _defaults(data, name):
    from ..core.settings import recording_settings

    table = data.get("defaults", {})
    if not isinstance(table, dict):
        raise ManifestError(f"{name}: [defaults] must be a table of settings")
    try:
        return recsettings.apply_settings(recording_settings(), table, f"{name} [defaults]")
    except SettingsError as e:
        raise ManifestError(str(e)) from None


def _recording(i, item, folder, defaults, name):
    where = f"{name}: recording {i}"
    if not isinstance(item, dict):
        raise ManifestError(f"{where} must be a table ([[recording]])")
    if not isinstance(item.get("file"), str) or not item["file"].strip():
        raise ManifestError(f"{where}: file is missing")
    file = item["file"].strip()
    where = f"{name}: recording {i} ({file})"
    path = os.path.abspath(os.path.join(folder, os.path.expanduser(file)))
    if not os.path.isfile(path):
        raise ManifestError(f"{where}: no such file ({path}); file names are relative to "
                            f"the manifest's folder")
    vessel = _choice(item.get("vessel"), tuple(VESSELS), "vessel", where)
    side = item.get("side")
    if side is None and vessel not in ("dcv", "artery"):
        raise ManifestError(f"{where}: side is missing; use left or right")
    side = None if side is None else _choice(side, SIDES, "side", where)
    if "posture" not in item:
        raise ManifestError(f"{where}: posture is missing; use one of {', '.join(POSTURES)}")
    posture = _choice(item["posture"], POSTURES, "posture", where)
    if "manoeuvre" in item and "maneuver" in item:
        raise ManifestError(f"{where}: give manoeuvre or maneuver, not both")
    manoeuvre = _choice(item.get("manoeuvre", item.get("maneuver", "rest")), MANOEUVRES,
                        "manoeuvre", where)
    extra = {k: v for k, v in item.items() if k not in _RECORDING_KEYS}
    for k in extra:
        if recsettings.normalise_key(k) not in recsettings.KEYS:
            raise ManifestError(f"{where}: unknown key {k!r} (known: "
                                f"{', '.join(_RECORDING_KEYS)}, and the settings "
                                f"{', '.join(recsettings.KEYS)})")
        if recsettings.normalise_key(k) == "vessel":
            raise ManifestError(f"{where}: give the vessel once")
    try:
        settings = recsettings.apply_settings(defaults.replace(vessel=vessel), extra, where)
    except SettingsError as e:
        raise ManifestError(str(e)) from None
    label = item.get("label")
    return ExamRecording(i, file, path, vessel, side, posture, manoeuvre,
                         None if label is None else str(label), settings)


def _csa(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or not 0 < value < 20:
        raise ManifestError(f"{where}: {value!r} is not a cross-sectional area in cm2 "
                            f"(a number above 0, e.g. 0.45)")
    return float(value)


def _b_mode(data, name):
    table = data.get("b_mode", {})
    where = f"{name} [b_mode]"
    if not isinstance(table, dict):
        raise ManifestError(f"{where} must be a table")
    _unknown(table, _B_MODE_KEYS, where)
    csa, defects = {}, {}
    for key in _B_MODE_KEYS:
        if not isinstance(table.get(key, {}), dict):
            raise ManifestError(f"{where} {key} must be a table by side, e.g. "
                                f"{key}.left = ...")
    for side, values in table.get("ijv_csa_cm2", {}).items():
        w = f"{where} ijv_csa_cm2.{side}"
        side = _choice(side, SIDES, "side", w)
        if not isinstance(values, dict):
            raise ManifestError(f"{w} must be {{ supine = ..., upright = ... }} (cm2)")
        if "sitting" in values and "upright" in values:
            raise ManifestError(f"{w}: give sitting or upright, not both (both mean head-up)")
        _unknown(values, ("supine", "sitting", "upright"), w)
        csa[side] = {("supine" if k == "supine" else "upright"): _csa(v, f"{w}.{k}")
                     for k, v in values.items()}
    for side, value in table.get("ijv_intraluminal_defect", {}).items():
        w = f"{where} ijv_intraluminal_defect.{side}"
        side = _choice(side, SIDES, "side", w)
        if not isinstance(value, bool):
            raise ManifestError(f"{w} must be true or false")
        defects[side] = value
    return csa, defects


def load_manifest(path):
    """Read and check an examination manifest.

    Parameters
    ----------
    path : str or os.PathLike
        A TOML file (the module docstring shows one).

    Returns
    -------
    Manifest

    Raises
    ------
    ManifestError
        Missing or invalid manifest, unknown keys, vessels, sides, postures or
        manoeuvres, a recording that does not exist, settings out of range.
    """
    if not os.path.isfile(path):
        raise ManifestError(f"{os.fspath(path)}: no such manifest file")
    path = os.path.abspath(os.fspath(path))
    name = os.path.basename(path)
    try:
        data = load_toml(path)
    except InputError as e:
        raise ManifestError(str(e)) from None
    _unknown(data, ("exam", "defaults", "b_mode", "recording"), name)
    exam = _exam_table(data, name)
    defaults = _defaults(data, name)
    items = data.get("recording", [])
    if not isinstance(items, list) or not items:
        raise ManifestError(f"{name}: no recordings; list each as a [[recording]] table "
                            f"with file, vessel, side and posture")
    folder = os.path.dirname(path)
    recordings = [_recording(i, item, folder, defaults, name)
                  for i, item in enumerate(items, 1)]
    csa, defects = _b_mode(data, name)
    return Manifest(path, exam, recordings, csa, defects)
