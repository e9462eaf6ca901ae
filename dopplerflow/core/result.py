"""The result of an analysis: the per-frame trace and the :class:`Analysis`.

``Analysis.to_dict()`` is the JSON that ``dopplerflow analyze --json`` writes
(``docs/output.md`` lists every field).
"""

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import SettingsError
from .settings import Settings
from .velocity import cm_s_per_hz
from .verdict import unseen_spans

__all__ = ["Trace", "Analysis"]


@dataclass
class Trace:
    """Per-frame velocity trace (one row per STFT hop).

    Attributes
    ----------
    time_s : ndarray, shape (n,)
        Centre of each frame, s from the first sample.
    antegrade_max_cm_s, retrograde_max_cm_s : ndarray, shape (n,)
        Maximum-velocity envelopes, >= 0 (0 where that direction has no flow;
        for mono, ``antegrade_max_cm_s`` is the speed and retrograde is NaN).
    mean_velocity_cm_s : ndarray, shape (n,)
        Intensity-weighted mean velocity, signed (+ antegrade).
    velocity_cm_s : ndarray, shape (n,)
        Maximum velocity of the dominant direction, signed (+ antegrade).
    flow : ndarray, shape (n,), bool

    Rows that were not analysed (the wall filter settling after the start of
    the stream and after lost samples) have NaN velocities and ``flow`` False:
    nothing was measured there.
    """

    time_s: np.ndarray
    antegrade_max_cm_s: np.ndarray
    retrograde_max_cm_s: np.ndarray
    mean_velocity_cm_s: np.ndarray
    velocity_cm_s: np.ndarray
    flow: np.ndarray

    COLUMNS = ("time_s", "antegrade_max_cm_s", "retrograde_max_cm_s", "mean_velocity_cm_s",
               "flow", "velocity_cm_s")

    def __len__(self):
        return len(self.time_s)


@dataclass(frozen=True)
class Summary:
    """The summary figures of an analysis (the JSON's ``summary``).

    Attributes
    ----------
    n_frames : int
        Rows (STFT frames) analysed.
    hop_s, window_s : float
        STFT hop and window, s.
    bin_hz, velocity_resolution_cm_s : float
        Frequency bin, Hz, and the velocity it spans, cm/s.
    flow_fraction : float
        Share of the frames with flow.
    peak_antegrade_velocity_cm_s : float
    peak_retrograde_velocity_cm_s : float or None
        None without direction (mono).
    longest_reflux_s : float or None
        Longest reflux event, s (0 if none; None where reflux is not assessable).
    noise_floor_dbfs : float or None
        Median noise level of the frames clear of digital silence, dB full scale per
        sample (None: no such frame).
    """

    n_frames: int
    hop_s: float
    window_s: float
    bin_hz: float
    velocity_resolution_cm_s: float
    flow_fraction: float
    peak_antegrade_velocity_cm_s: float
    peak_retrograde_velocity_cm_s: float | None
    longest_reflux_s: float | None
    noise_floor_dbfs: float | None

    def to_dict(self):
        """The JSON's ``summary``."""
        return asdict(self)


@dataclass
class Analysis:
    """The result of analysing one recording or stream.

    ``to_dict()`` gives the JSON (``docs/output.md``).  ``antegrade`` is the direction
    (relative to the probe) taken as antegrade, chosen or given.
    ``velocity_floor_cm_s`` is the slowest flow the analysis measures: the
    lowest Doppler shift it searches, above the wall filter's band.
    ``reflux_not_assessable`` says why ``reflux`` is None: no direction in a
    mono recording, two vessels flowing opposite ways with the antegrade
    direction not given, a second vessel too loud beside the vein for its
    reflux to stand out, nothing analysed, a recording near digital silence or too
    short to judge flow, a span analysed shorter than the reflux threshold, or
    retrograde flow under the threshold running into its start or end.  ``hum``
    (with ``--hum``: what the canceller locked on to), ``second_vessel`` (a second
    vessel found: its direction and since when) ``gaps`` (lost samples) and
    ``artefacts`` (samples blanked by the glitch stage: not finite, or bursts far
    beyond the recording's level; and rows of broadband noise not read, kind
    ``"broadband"``) are None when there is nothing to say;
    ``flow_detected`` is None when nothing was analysed, or no flow was found in a
    recording near digital silence or too short to judge flow; ``extra`` holds entries
    a caller adds to the JSON (a live session's ``live``).
    ``spectrogram`` (with ``keep_spectrogram``) holds the time-averaged power spectra,
    ``(rows, bins)`` float32, bins at ``freqs_hz``: each row the mean of
    ``spectrogram_step`` consecutive frames (1 up to 41 s of 5 ms hops; a power of two
    that keeps a long recording's rows under 8192), centred at ``spectrogram_time_s``.
    ``reflux_unseen_s`` is how much of the recording lies in stretches as long as the
    threshold where a reflux could lie unseen (lost, left out, not read, quiet).
    ``beats`` holds the beats found and their per-beat values
    (:class:`~dopplerflow.core.beats.Beats`), ``heart_rate_bpm`` the recording's heart rate.
    ``trace_kept`` is False for an analysis made with ``keep_trace=False``: its ``trace``
    is empty, and ``to_dict(trace=True)`` refuses.  ``settings`` are the settings as
    given: ``settings.threshold_s`` and ``settings.analysis_window_s`` are the reflux
    threshold and the window in force (the JSON's ``settings.reflux_threshold_s`` and
    ``settings.window_s``), where ``settings.reflux_threshold_s`` and
    ``settings.window_s`` are None for the vessel preset's.
    ``signal_band_hz`` is ``[lowest, highest]`` Doppler shift (``|f|``, Hz) searched in
    the recording's signal band, the widest it was found after its first sub-window
    (None: no band, or not known); ``tonal_lines_hz`` the stationary tonal lines left out
    of the flow search and ``impulses`` the count of clicks taken out.
    ``layout_check`` (two channels checked, or ``layout='auto'``) holds what the check of
    the channels measured and found, and how the layout was chosen
    (:mod:`~dopplerflow.core.layout_check`).  ``cut`` (a file damaged or cut short)
    says where reading stopped, the length the file states and why
    (:meth:`~dopplerflow.core.io.ReadReport.cut`): the analysis, ``duration_s`` and the
    verdicts cover the audio before it.
    """

    settings: Settings
    sample_rate_hz: float
    duration_s: float
    direction_available: bool
    flow_detected: bool | None
    reflux: bool | None
    antegrade: str | None
    antegrade_source: str
    reflux_events: list
    episodes: list
    trace: Trace
    warnings: list
    summary: Summary
    file: str | None = None
    n_channels: int = 2
    spectrogram: np.ndarray | None = None
    freqs_hz: np.ndarray | None = None
    spectrogram_step: int = 1
    spectrogram_time_s: np.ndarray | None = None
    velocity_floor_cm_s: float | None = None
    extra: dict = field(default_factory=dict)
    reflux_not_assessable: str | None = None
    hum: dict | None = None
    second_vessel: dict | None = None
    gaps: list | None = None
    artefacts: list | None = None
    beats: object = None  # core.beats.Beats: the beats and their indices, or None
    layout_check: dict | None = None
    cut: dict | None = None
    trace_kept: bool = True  # False: analysed with keep_trace=False, ``trace`` is empty

    @property
    def audio_complete(self):
        """Whether every sample of the recording was analysed: False when the file was
        damaged or cut short (``cut`` says where) or samples were lost in the stream
        (``gaps``).  The verdicts are those of the audio analysed."""
        return self.cut is None and not self.gaps

    @property
    def reflux_unseen_s(self):
        """Seconds in the stretches at least as long as the reflux threshold where a reflux
        could lie unseen (:func:`~dopplerflow.core.verdict.unseen_spans`): 0 where there
        is none; None where reflux was not assessed or the vessel has no threshold."""
        if self.reflux is None or not self.settings.threshold_s:
            return None
        return round(float(sum(b - a for a, b, _ in unseen_spans(self))), 4)

    @property
    def heart_rate_bpm(self):
        """Median heart rate over the clean beats, beats/min (None: no periodic pulse, or
        too few clean beats)."""
        return None if self.beats is None else self.beats.summary.get("heart_rate_bpm")
    signal_band_hz: list | None = None
    tonal_lines_hz: list = field(default_factory=list)
    impulses: int = 0

    @property
    def velocity_per_hz_cm_s(self):
        """Doppler scale: cm/s per Hz of shift."""
        s = self.settings
        return cm_s_per_hz(s.carrier_hz, s.angle_deg, s.sound_speed_m_s)

    def to_dict(self, trace=False):
        """The JSON-ready dict; ``trace=True`` adds the per-frame trace and the per-beat
        values (``beat_table``: one list per column of the beats CSV).

        Raises
        ------
        SettingsError
            ``trace=True`` of an analysis made without its trace (``keep_trace=False``).
        """
        from .. import __version__

        if trace and not self.trace_kept:
            raise SettingsError("this analysis was made with keep_trace=False, so it has no "
                                "trace to give; analyse with keep_trace=True for "
                                "to_dict(trace=True)")

        d = {
            "file": self.file,
            "sample_rate_hz": self.sample_rate_hz,
            "duration_s": round(self.duration_s, 6),
            "audio_complete": self.audio_complete,
            "layout": self.settings.layout,
            "channels": self.n_channels,
            "settings": self.settings.to_dict(),
            "direction_available": self.direction_available,
            "antegrade": self.antegrade,
            "antegrade_source": self.antegrade_source,
            "flow_detected": self.flow_detected,
            "reflux": self.reflux,
            **({"reflux_not_assessable": self.reflux_not_assessable}
               if self.reflux is None and self.reflux_not_assessable else {}),
            "reflux_unseen_s": self.reflux_unseen_s,
            "reflux_events": [e.to_dict() for e in self.reflux_events],
            "retrograde_episodes": [e.to_dict() for e in self.episodes],
            "summary": self.summary.to_dict(),
            "heart_rate_bpm": self.heart_rate_bpm,
            "beats": None if self.beats is None else self.beats.summary,
            "velocity_floor_cm_s": (None if self.velocity_floor_cm_s is None
                                    else round(self.velocity_floor_cm_s, 3)),
            "signal_band_hz": self.signal_band_hz,
            "tonal_lines_hz": list(self.tonal_lines_hz),
            "impulses": self.impulses,
            "warnings": list(self.warnings),
            "dopplerflow_version": __version__,
        }
        d.update(self.extra)
        for key in ("cut", "layout_check", "hum", "second_vessel", "gaps", "artefacts"):
            if getattr(self, key) is not None:
                d.setdefault(key, getattr(self, key))
        if trace:
            t = self.trace
            d["trace"] = {c: _jsonable(getattr(t, c)) for c in Trace.COLUMNS}
            if self.beats is not None:
                d["beat_table"] = self.beats.to_lists()
        return d


def _jsonable(a):
    a = np.asarray(a)
    if a.dtype == bool:
        return a.astype(int).tolist()
    return [None if not math.isfinite(v) else round(v, 4) for v in a.astype(float).tolist()]
