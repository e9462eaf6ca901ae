"""Flow direction, reflux events and the vessel presets.

Reflux is retrograde flow that dominates continuously for longer than the
vessel's threshold (Labropoulos 2003 for leg veins, Zamboni 2009 for neck and
cerebral veins).  Shorter retrograde episodes, such as the brief reversal
that closes a competent valve, are listed separately.
"""

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import SettingsError
from . import _kernels as K

__all__ = ["VESSELS", "SLOW_FLOW_VESSELS", "SEPARABLE_MARGIN", "PULSATILE_SHARE", "Event",
           "RefluxTracker", "is_reflux", "reflux_threshold", "split_episodes"]

#: Vessel presets: reflux threshold in seconds (None: no reflux rule) and source.
VESSELS = {
    "ijv": (0.88, "internal jugular vein, Zamboni 2009"),
    "vv": (0.88, "vertebral vein, Zamboni 2009"),
    "dcv": (0.5, "deep cerebral veins, Zamboni 2009"),
    "gsv": (0.5, "great saphenous vein, Labropoulos 2003"),
    "ssv": (0.5, "small saphenous vein, Labropoulos 2003"),
    "deep-femoral": (0.5, "deep femoral vein, Labropoulos 2003"),
    "calf": (0.5, "calf veins, Labropoulos 2003"),
    "femoral": (1.0, "femoral vein, Labropoulos 2003"),
    "popliteal": (1.0, "popliteal vein, Labropoulos 2003"),
    "perforator": (0.35, "perforator veins, Labropoulos 2003"),
    "artery": (None, "artery: no reflux rule"),
}
#: Presets of slow-flow veins, whose peak velocities stay under about 20 cm/s (1 kHz
#: at 8 MHz and 60 degrees): their spectra need a finer frequency resolution
#: (:data:`dopplerflow.settings.SLOW_FLOW_WINDOW_S`).
SLOW_FLOW_VESSELS = ("vv", "dcv", "calf", "perforator")
#: Durations are sums of hops; one that equals the threshold up to rounding is not longer.
_EPS_S = 1e-9
#: Threshold used when neither a vessel nor a threshold is given.
DEFAULT_THRESHOLD_S = 0.5
#: Gaps of no retrograde flow bridged inside an episode, s (brief signal dropouts).
GAP_S = 0.06
#: Shortest retrograde episode reported, s.
MIN_EPISODE_S = 0.03
#: Retrograde power must exceed antegrade power by this factor to open an
#: episode (3 dB); once open, a simple majority keeps it: hysteresis against
#: flicker when both directions are present.
ENTER_RATIO = 2.0
#: Longest cardiac period at rest, s (40 beats/min): an artery in the beam shows flow
#: in every beat, so it is gone once its direction stays empty this long; the share of
#: rows with flow both ways is counted over about this long.
CARDIAC_PERIOD_S = 1.5
#: Shortest cardiac period considered, s (120 beats/min): a single vessel shows flow in
#: both directions only while it reverses, at most twice a beat (triphasic arteries).
SHORTEST_CARDIAC_PERIOD_S = 0.5
#: Time constant of the persistent-vessel statistics, s: two of the longest cardiac
#: periods, so the power of a pulsatile vessel is averaged over whole beats.
PERSIST_TAU_S = 2 * CARDIAC_PERIOD_S
#: Margin on the power the vessel under study needs over a persistent vessel flowing its
#: retrograde way (half the 3 dB step, ``ENTER_RATIO``, in dB).  Its reflux is the step
#: over that vessel's mean power ``b``: where that vessel flows too, the reflux must add
#: ``(ENTER_RATIO - 1) b``, where it is silent (between an artery's beats) the whole
#: ``ENTER_RATIO b``.  Without the margin the rows of a reflux fall short of the step about
#: as often as they pass it (in the simulator: a continuous carotid as loud as the vein
#: hid or split the reflux, timing was off from 2 dB quieter; a triphasic femoral artery
#: 3 dB quieter than the vein split it).
SEPARABLE_MARGIN = ENTER_RATIO ** 0.5
#: A persistent vessel silent, for longer than an episode's bridged gap, in at least this
#: share of the rows where the vessel under study flows is pulsatile: a reflux must make the
#: whole step there.  A continuous carotid is silent in under 15 % of them (speckle fades at
#: 7 dB); a triphasic artery falls silent in every diastole (about 60 %).
PULSATILE_SHARE = 0.25
#: A persistent vessel's power in a row stays within a few dB of its mean (speckle over
#: a row, the cardiac cycle): a row with more than this many times it is a transient
#: (a knock on the probe), kept out of its statistics.
PERSIST_OUTLIER = 4.0


def reflux_threshold(vessel, threshold_s):
    """Resolve the reflux threshold in seconds (None for ``artery``).

    Raises
    ------
    SettingsError
        Unknown vessel or a non-positive threshold.
    """
    if vessel is not None and vessel not in VESSELS:
        raise SettingsError(f"vessel '{vessel}' is not known; use one of {', '.join(VESSELS)}")
    if threshold_s is not None:
        if not threshold_s > 0 or not np.isfinite(threshold_s):
            raise SettingsError(f"reflux threshold {threshold_s!r} s must be a positive number "
                                f"of seconds (e.g. 0.5)")
        return float(threshold_s)
    if vessel is None:
        return DEFAULT_THRESHOLD_S
    return VESSELS[vessel][0]


@dataclass
class Event:
    """One retrograde episode.

    Attributes
    ----------
    start_s, end_s, duration_s : float
        Seconds from the first sample.
    peak_velocity_cm_s, mean_velocity_cm_s : float
        Of the retrograde maximum-velocity envelope, positive numbers: the
        peak is its highest running median over twice the frames that one
        frame's speckle spreads over (45 ms with the 10 ms window; the highest
        single frame reads 3-75 % high, median per scenario of the simulator at
        7-20 dB in-band), the mean is over its frames.
    affected_by_gap : bool
        Samples were lost (dropped blocks, overflows) during the episode.
    detected_s : float or None
        Duration of the frames in which the retrograde flow was detected,
        s; it is what the threshold is tested on (``start_s`` and ``end_s``
        are extrapolated to the baseline).  None: ``duration_s``.
    """

    start_s: float
    end_s: float
    duration_s: float
    peak_velocity_cm_s: float
    mean_velocity_cm_s: float
    affected_by_gap: bool = False
    detected_s: float | None = None

    @property
    def tested_s(self):
        """The duration the threshold is tested on: ``detected_s``, or ``duration_s``."""
        return self.duration_s if self.detected_s is None else self.detected_s

    def to_dict(self):
        """JSON-ready dict, times and velocities rounded to useful precision."""
        d = asdict(self)
        del d["detected_s"]
        for k in ("start_s", "end_s", "duration_s"):
            d[k] = round(d[k], 4)
        for k in ("peak_velocity_cm_s", "mean_velocity_cm_s"):
            d[k] = round(d[k], 2)
        return d


class RefluxTracker:
    """Retrograde-episode tracking for both direction hypotheses, streaming.

    Hypothesis 0 takes flow toward the probe as retrograde, hypothesis 1 flow
    away.  Both run all the time so the direction can be chosen at the end
    (``antegrade='auto'``) without a second pass.

    Parameters
    ----------
    hop_s, t0_s : float
        Hop and time of the first frame, s.
    cm_s_per_hz : float
        Doppler scale.
    threshold_s : float or None
        Reflux threshold; None: episodes only.
    edge_rows : int
        Rows over which a step in flow spreads in the envelope (the analysis
        window and the time average): the envelope's slope over this many
        rows at each end of an episode extrapolates the end to the baseline,
        and the peak velocity is the highest running median over one more row.
    floor_hz, shown_hz : float
        Lowest frequency searched for flow and lowest maximum frequency the
        envelope reports, Hz; ``floor_hz = 0`` (the default) keeps the edges
        of the detected rows.  See ``_kernels._reflux``.

    Episode starts and ends are the extrapolated ones; the threshold is
    tested on the duration of the detected frames (``Event.detected_s``).

    Attributes
    ----------
    gap_s, gap_rows : float, int
        Longest gap bridged inside an episode, s and frames.
    min_rows : int
        Frames of the shortest episode reported.
    """

    def __init__(self, hop_s, t0_s, cm_s_per_hz, threshold_s, *, edge_rows=1, floor_hz=0.0,
                 shown_hz=0.0):
        self.hop_s = hop_s
        self.t0_s = t0_s
        self.scale = cm_s_per_hz
        self.threshold_s = threshold_s
        self.gap_rows = int(round(GAP_S / hop_s))
        self.gap_s = GAP_S
        self.min_rows = max(1, int(round(MIN_EPISODE_S / hop_s)))
        self._floor_hz = float(floor_hz)
        self._shown_hz = float(shown_hz)
        self._state = np.zeros((2, 17), np.float64)
        self._state[:, 11:13] = -1.0  # no antegrade row yet
        self._fit = np.zeros((2, 4, max(2, int(edge_rows))), np.float64)
        self._fit[:, 3] = -1.0  # ring rows: none
        # the peak is read from a running median over twice the rows a frame's speckle
        # reaches into (its window and time average): a few independent looks
        self._ring = np.zeros((3, self._fit.shape[2] + 1), np.float64)
        self._row = 0
        self.episodes = ([], [])  # ended episodes, per hypothesis

    def update(self, env, valid, ahead=None, ahead_valid=None):
        """Advance over new frames; return a list of (kind, hypothesis, Event).

        ``valid`` (bool, one per frame) is False for frames that overlap lost
        samples: an episode under way is held open across them.  ``ahead``
        and ``ahead_valid`` (optional, as ``env`` and ``valid``) give, for
        each frame, the provisional envelopes of the next frame, which let a
        reflux be confirmed one hop sooner (see ``_kernels._reflux``).

        ``kind`` is ``'reflux_confirmed'`` (duration just passed the
        threshold, or the extrapolated end of an episode just ended took it
        past; the event is provisional) or ``'ended'``.
        """
        actions = np.empty((2 * len(env) + 2, 8), np.float64)
        thr = -1.0 if self.threshold_s is None else self.threshold_s + _EPS_S
        if ahead is None:
            ahead = np.zeros_like(env)
            ahead_valid = np.zeros(len(env), bool)
        n = K._reflux(env, valid, ahead, ahead_valid, self._row, self.hop_s, self.t0_s,
                      self.scale, thr, self.gap_rows, self.min_rows, ENTER_RATIO,
                      self._floor_hz, self._shown_hz, self._state, self._fit, self._ring,
                      actions)
        self._row += len(env)
        out = []
        for kind, h, start, end, peak, mean, _, detected in actions[:n].tolist():
            ev = Event(start, end, end - start, peak, mean, detected_s=detected)
            h = int(h)
            if kind == 2:
                self.episodes[h].append(ev)
            out.append(("reflux_confirmed" if kind == 1 else "ended", h, ev))
        return out

    def open_episode(self, h):
        """The episode of hypothesis ``h`` still running, as an Event, or None."""
        st = self._state[h]
        if st[0] == 0 or st[5] == 0:
            return None
        start = self.t0_s + st[13] * self.hop_s
        end = self.t0_s + (st[2] + 0.5) * self.hop_s
        return Event(start, end, end - start, st[3], st[4] / st[5],
                     detected_s=(st[2] - st[1] + 1) * self.hop_s)

    def close(self):
        """End the stream: close open episodes long enough to report."""
        for h in range(2):
            ev = self.open_episode(h)
            st = self._state[h]
            if ev is not None and st[2] - st[1] + 1 >= self.min_rows:
                self.episodes[h].append(ev)
            self._state[h, 0] = 0




def is_reflux(duration_s, threshold_s):
    """True if an episode of ``duration_s`` is longer than the threshold (None: never)."""
    return threshold_s is not None and duration_s > threshold_s + _EPS_S


def split_episodes(episodes, threshold_s):
    """(reflux events, shorter episodes) by the threshold (None: episodes only),
    tested on each episode's detected duration."""
    return ([e for e in episodes if is_reflux(e.tested_s, threshold_s)],
            [e for e in episodes if not is_reflux(e.tested_s, threshold_s)])
