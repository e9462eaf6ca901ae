"""An examination: many recordings of one patient or study, read together.

:func:`run_exam` reads a manifest (:mod:`dopplerflow.study.manifest`), analyses every
recording, reads Zamboni's five criteria (:mod:`dopplerflow.study.ccsvi`) when the
examination has neck or cerebral veins or B-mode values, draws the leg reflux map
(:mod:`dopplerflow.study.legmap`) when it has leg veins, and writes one self-contained
HTML page (:mod:`dopplerflow.figures.exam_report`) and one JSON.

A research and teaching tool, not a medical device; the page and the JSON say so, and
that CCSVI is contested.
"""

import json
import os
from dataclasses import dataclass

from ..errors import AudioFileError, DopplerflowError, SettingsError
from . import ccsvi as ccsvi_mod
from .files import atomic_write, refuse_overwrites
from .legmap import leg_map
from .manifest import CEREBRAL_VEINS, NECK_VEINS, load_manifest

__all__ = ["ExamItem", "Exam", "run_exam", "analyze_exam", "check_exam_outputs",
           "CCSVI_STATUS"]

#: What the page and the JSON say of CCSVI, beside the research-tool disclaimer.
CCSVI_STATUS = (
    "CCSVI (chronic cerebrospinal venous insufficiency) is a contested hypothesis. "
    "Zamboni's criteria (2009) have not been confirmed by later controlled and blinded "
    "studies, which found the findings as often in people without multiple sclerosis, and "
    "a randomised trial of venous angioplasty in multiple sclerosis (Brave Dreams, 2018) "
    "found no benefit. The criteria are read here for research on the method itself; they "
    "are not a diagnosis.")


@dataclass
class ExamItem:
    """A recording of the manifest and its analysis."""

    recording: object
    analysis: object

    @property
    def longest_retrograde_s(self):
        """The longest retrograde flow, s (0: none); None where the recording cannot
        tell (no direction: mono; reflux not assessable), as in the leg map."""
        if not ccsvi_mod.reflux_readable(self.analysis):
            return None
        return ccsvi_mod.longest_retrograde_s(self.analysis)


@dataclass
class Exam:
    """The examination read: the manifest, the analysed recordings, the CCSVI criteria
    (None when the examination has no neck or cerebral vein and no B-mode value) and
    the leg map (empty without leg veins)."""

    manifest: object
    items: list
    ccsvi: object
    legs: list

    def to_dict(self):
        """The JSON: the exam, the disclaimers, the criteria, the leg map, each
        recording with its full result (``file`` as the manifest names it)."""
        from .. import __version__
        from ..figures.report import DISCLAIMER

        m = self.manifest
        return {
            "exam": dict(m.exam),
            "dopplerflow_version": __version__,
            "disclaimer": DISCLAIMER,
            "ccsvi_status": CCSVI_STATUS,
            "ccsvi": None if self.ccsvi is None else self.ccsvi.to_dict(),
            "leg_map": [c.to_dict() for c in self.legs],
            "b_mode": {"ijv_csa_cm2": m.ijv_csa_cm2,
                       "ijv_intraluminal_defect": m.ijv_intraluminal_defect},
            "recordings": [_item_dict(it) for it in self.items],
        }


def _item_dict(item):
    rec, a = item.recording, item.analysis
    result = a.to_dict()  # heart_rate_bpm and the beats' summary included
    result["file"] = rec.file
    return {"index": rec.index, "file": rec.file, "vessel": rec.vessel, "side": rec.side,
            "posture": rec.posture, "manoeuvre": rec.manoeuvre, "label": rec.label,
            "longest_retrograde_s": (None if item.longest_retrograde_s is None
                                     else round(item.longest_retrograde_s, 4)),
            "result": result}


def jsonable(value):
    """``value`` as JSON-ready data: objects with ``to_dict``, dataclasses, numpy values
    and sequences of them."""
    import dataclasses

    import numpy as np

    if hasattr(value, "to_dict"):
        return jsonable(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def check_exam_outputs(manifest, html=None, json_path=None):
    """Refuse, before any work, outputs with a wrong suffix, in a missing folder, or
    that would overwrite the manifest, a recording or each other.

    Raises
    ------
    SettingsError
    """
    outputs = [p for p in (html, json_path) if p]
    if html and os.path.splitext(os.fspath(html))[1].lower() not in (".html", ".htm"):
        raise SettingsError(f"page {html} must end in .html (e.g. -o exam.html)")
    if json_path and os.path.splitext(os.fspath(json_path))[1].lower() != ".json":
        raise SettingsError(f"JSON {json_path} must end in .json (e.g. --json exam.json)")
    for p in outputs:
        folder = os.path.dirname(os.path.abspath(os.fspath(p)))
        if os.path.isdir(os.fspath(p)):
            raise SettingsError(f"cannot write {p}: it is a folder; give a file name")
        if not os.path.isdir(folder):
            raise AudioFileError(f"cannot write {p}: the folder {folder} does not exist; "
                                 f"create it or write elsewhere")
    refuse_overwrites(manifest.inputs, outputs)


def analyze_exam(manifest, *, keep_spectrogram=True, progress=None):
    """Analyse every recording of a manifest and read the criteria and the leg map.

    Parameters
    ----------
    manifest : Manifest
    keep_spectrogram : bool
        Keep the spectrograms (the page's sonograms need them).
    progress : callable, optional
        ``progress(done, total, errors)`` after each recording.

    Returns
    -------
    Exam

    Raises
    ------
    DopplerflowError
        A recording cannot be analysed; the message names it.
    """
    from ..core import analyze

    items = []
    for rec in manifest.recordings:
        try:
            a = analyze(rec.path, settings=rec.settings, keep_spectrogram=keep_spectrogram)
        except DopplerflowError as e:
            raise type(e)(f"{os.path.basename(manifest.path)}: recording {rec.index} "
                          f"({rec.file}): {str(e).replace(rec.path, rec.file)}") from None
        items.append(ExamItem(rec, a))
        if progress is not None:
            progress(len(items), len(manifest.recordings), 0)
    neck = any(r.vessel in NECK_VEINS + CEREBRAL_VEINS for r in manifest.recordings)
    entered = bool(manifest.ijv_csa_cm2 or manifest.ijv_intraluminal_defect)
    result = (ccsvi_mod.assess(items, manifest.ijv_csa_cm2, manifest.ijv_intraluminal_defect)
              if neck or entered else None)
    return Exam(manifest, items, result, leg_map(items))


def run_exam(manifest_path, *, html=None, json_path=None, title=None, progress=None):
    """Read an examination and write its page and its JSON.

    Parameters
    ----------
    manifest_path : str or os.PathLike
        The TOML manifest.
    html : str, optional
        The page to write (``.html``).
    json_path : str, optional
        The JSON to write (``.json``).
    title : str, optional
        Page title (default from the manifest).
    progress : callable, optional
        As :func:`analyze_exam`.

    Returns
    -------
    Exam

    Raises
    ------
    ManifestError
        A bad manifest (exit status 1).
    SettingsError
        Bad outputs (exit status 2), before any analysis.
    """
    manifest = load_manifest(manifest_path)
    check_exam_outputs(manifest, html, json_path)
    exam = analyze_exam(manifest, keep_spectrogram=bool(html), progress=progress)
    if json_path:
        atomic_write(json_path, json.dumps(exam.to_dict(), indent=2) + "\n")
    if html:
        from ..figures.exam_report import render_exam

        atomic_write(html, render_exam(exam, title=title))
    return exam
