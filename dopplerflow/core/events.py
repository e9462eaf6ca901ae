"""Reflux events as they happen, for a caller waiting for them (a live session).

The tracker reports, row by row, episodes confirmed and ended in both direction
hypotheses; :class:`EventDispatcher` passes on those of the retrograde direction as
dicts: ``reflux_confirmed`` (the duration just passed the threshold),
``reflux_ended``, ``reflux_withdrawn`` (confirmed from a provisional row that the
complete row did not bear out) and, once, ``reflux_not_assessable``.
"""

from .reflux import is_reflux

__all__ = ["EventDispatcher"]


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
