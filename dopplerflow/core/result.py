"""The result of an analysis: the per-frame trace and the :class:`Analysis`.

``Analysis.to_dict()`` is the JSON of DESIGN.md.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from .settings import Settings
from .velocity import cm_s_per_hz

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


@dataclass
class Analysis:
    """The result of analysing one recording or stream.

    ``to_dict()`` gives the JSON of DESIGN.md.  ``antegrade`` is the direction
    (relative to the probe) taken as antegrade, chosen or given.
    ``velocity_floor_cm_s`` is the slowest flow the analysis measures: the
    lowest Doppler shift it searches, above the wall filter's band.
    ``reflux_not_assessable`` says why ``reflux`` is None: no direction in a
    mono recording, two vessels flowing opposite ways with the antegrade
    direction not given, or a second vessel too loud beside the vein for its
    reflux to stand out.  ``signal_band_hz`` is ``[lowest, highest]`` Doppler
    shift (``|f|``, Hz) searched in the recording's signal band, the widest it was
    found after its first sub-window (None: no band, or not known).
    """

    settings: Settings
    sample_rate_hz: float
    duration_s: float
    direction_available: bool
    flow_detected: bool
    reflux: bool | None
    antegrade: str | None
    antegrade_source: str
    reflux_events: list
    episodes: list
    trace: Trace
    warnings: list
    summary: dict
    file: str | None = None
    n_channels: int = 2
    spectrogram: np.ndarray | None = None
    freqs_hz: np.ndarray | None = None
    velocity_floor_cm_s: float | None = None
    extra: dict = field(default_factory=dict)
    reflux_not_assessable: str | None = None
    signal_band_hz: list | None = None

    @property
    def velocity_per_hz_cm_s(self):
        """Doppler scale: cm/s per Hz of shift."""
        s = self.settings
        return cm_s_per_hz(s.carrier_hz, s.angle_deg, s.sound_speed_m_s)

    def to_dict(self, trace=False):
        """The JSON-ready dict; ``trace=True`` adds the per-frame trace."""
        from .. import __version__

        d = {
            "file": self.file,
            "sample_rate_hz": self.sample_rate_hz,
            "duration_s": round(self.duration_s, 6),
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
            "reflux_events": [e.to_dict() for e in self.reflux_events],
            "retrograde_episodes": [e.to_dict() for e in self.episodes],
            "summary": self.summary,
            "velocity_floor_cm_s": (None if self.velocity_floor_cm_s is None
                                    else round(self.velocity_floor_cm_s, 3)),
            "signal_band_hz": self.signal_band_hz,
            "warnings": list(self.warnings),
            "dopplerflow_version": __version__,
        }
        d.update(self.extra)
        if trace:
            t = self.trace
            d["trace"] = {c: _jsonable(getattr(t, c)) for c in Trace.COLUMNS}
        return d


def _jsonable(a):
    a = np.asarray(a)
    if a.dtype == bool:
        return a.astype(int).tolist()
    return [None if not math.isfinite(v) else round(v, 4) for v in a.astype(float).tolist()]
