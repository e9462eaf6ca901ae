"""Retrograde episodes and reflux events: the :class:`Event` record, the verdict on its
duration, and events as they happen for a caller waiting for them (a live session).

The tracker reports, row by row, episodes confirmed and ended in both direction
hypotheses; :class:`EventDispatcher` passes on those of the retrograde direction as
dicts: ``reflux_confirmed`` (the duration just passed the threshold),
``reflux_ended``, ``reflux_withdrawn`` (confirmed from a provisional row that the
complete row did not bear out) and, once, ``reflux_not_assessable``.
"""

from dataclasses import asdict, dataclass

__all__ = ["Event", "EventDispatcher", "is_reflux", "split_episodes"]

#: Durations are sums of hops; one that equals the threshold up to rounding is not longer.
_EPS_S = 1e-9



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
    cut_by_end : bool
        The episode was still running at the last frame analysed (the end of the
        recording or session): it lasted at least ``duration_s``.
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
    cut_by_end: bool = False

    @property
    def tested_s(self):
        """The duration the threshold is tested on: ``detected_s``, or ``duration_s``."""
        return self.duration_s if self.detected_s is None else self.detected_s

    def to_dict(self):
        """JSON-ready dict, times and velocities rounded to useful precision; ``cut_by_end``
        only when true (an event the end cut short)."""
        d = asdict(self)
        del d["detected_s"]
        if not d["cut_by_end"]:
            del d["cut_by_end"]
        for k in ("start_s", "end_s", "duration_s"):
            d[k] = round(d[k], 4)
        for k in ("peak_velocity_cm_s", "mean_velocity_cm_s"):
            d[k] = round(d[k], 2)
        return d


def is_reflux(duration_s, threshold_s):
    """True if an episode of ``duration_s`` is longer than the threshold (None: never)."""
    return threshold_s is not None and duration_s > threshold_s + _EPS_S


def split_episodes(episodes, threshold_s):
    """(reflux events, shorter episodes) by the threshold (None: episodes only),
    tested on each episode's detected duration."""
    return ([e for e in episodes if is_reflux(e.tested_s, threshold_s)],
            [e for e in episodes if not is_reflux(e.tested_s, threshold_s)])

class EventDispatcher:
    """Calls ``on_event(dict)`` for the events of the retrograde direction.

    Parameters
    ----------
    on_event : callable
    threshold_s : float or None
        The reflux threshold.
    """

    def __init__(self, on_event, threshold_s):
        self.on_event = on_event
        self.threshold_s = threshold_s
        self._confirmed = [None, None]  # start of the confirmed episode, per hypothesis
        self._told_unassessable = False

    def not_assessable(self, reason, time_s):
        """Say once that reflux is not assessable, from ``time_s``."""
        if self._told_unassessable:
            return
        self._told_unassessable = True
        if reason is not None:
            self.on_event({"type": "reflux_not_assessable", "reason": reason,
                           "time_s": time_s})

    def dispatch(self, actions, retro):
        """Pass on the tracker's ``actions`` (kind, hypothesis, Event) for direction ``retro``."""
        for kind, h, ev in actions:
            confirmed = self._confirmed[h]
            self._confirmed[h] = ev.start_s if kind == "reflux_confirmed" else None
            if h != retro:
                continue
            if kind == "reflux_confirmed":
                typ = "reflux_confirmed"
            elif is_reflux(ev.tested_s, self.threshold_s):
                typ = "reflux_ended"
            elif confirmed == ev.start_s:
                # confirmed from a provisional row that the complete row did not bear out:
                # the episode ended within a hop of the threshold, not longer
                typ = "reflux_withdrawn"
            else:
                continue
            self.on_event({"type": typ, "start_s": round(ev.start_s, 4),
                           "duration_s": round(ev.duration_s, 4),
                           "peak_velocity_cm_s": round(ev.peak_velocity_cm_s, 2),
                           "time_s": round(ev.end_s, 4)})
