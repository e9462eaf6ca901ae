"""What the terminal shows of a live session: the status line and one line per event."""

import math
import sys
import threading
import time

import numpy as np

__all__ = ["STATUS_INTERVAL_S", "format_status", "format_event", "StatusLine"]

#: Longest interval between two status updates, s (10 updates a second at most).
STATUS_INTERVAL_S = 0.1


def format_status(status):
    """One status line for the terminal.

    Parameters
    ----------
    status : dict
        From :meth:`~dopplerflow.live.session.LiveSession.status`: ``time_s``, ``velocity_cm_s``
        (signed, + antegrade), ``direction``, ``flow``, ``reflux_timer_s``,
        ``heart_rate_bpm`` (the median of the last beats, None before three
        intervals, without a pulse, or the last two placed without one), ``learning`` (a
        mono stream's noise floor is being learnt: no frame analysed yet), ``quiet`` (a
        quiet stretch under way: the probe's contact lost?), ``level_dbfs`` (peak of the
        last update interval), ``clipped_samples``, ``input_overflows``,
        ``dropped_frames`` and ``lag_s`` (audio queued but not yet analysed).

    Returns
    -------
    str
        Fixed-width fields, no newline, e.g. ``"  12.34 s  -15.2 cm/s retrograde  flow
        yes  HR  72/min  reflux 0.62 s  -12.0 dBFS |######   |"`` (``HR  --/min``
        while no heart rate is known).
    """
    level = status.get("level_dbfs", -math.inf)
    # meter: 10 cells over -60..0 dBFS
    cells = 0 if not math.isfinite(level) else int(np.clip((level + 60.0) / 6.0, 0, 10))
    level_txt = " -inf" if not math.isfinite(level) else f"{max(level, -99.9):5.1f}"
    if status.get("learning"):
        velocity = f"{'learning the floor':<22}"
    else:
        sign = "" if status.get("direction") == "speed" else "+"  # mono: a speed
        velocity = (f"{status.get('velocity_cm_s', 0.0):{sign}6.1f} cm/s "
                    f"{status.get('direction', 'none'):<10}")
    parts = [
        f"{status.get('time_s', 0.0):8.2f} s",
        velocity,
        f"flow {'yes' if status.get('flow') else 'no '}",
    ]
    hr = status.get("heart_rate_bpm")
    parts.append(f"HR {min(hr, 999.0):3.0f}/min" if hr is not None else "HR  --/min")
    timer = status.get("reflux_timer_s", 0.0)
    parts.append(f"reflux {timer:5.2f} s" if timer > 0 else " " * 14)
    parts.append(f"{level_txt} dBFS |{'#' * cells}{' ' * (10 - cells)}|")
    if status.get("quiet"):
        parts.append("QUIET: contact lost?")
    if status.get("clipped_samples"):
        parts.append(f"CLIP {status['clipped_samples']}")
    lost = status.get("input_overflows", 0)
    if lost or status.get("dropped_frames"):
        parts.append(f"OVERFLOW {lost}+{status.get('dropped_frames', 0)} frames dropped")
    if status.get("lag_s", 0.0) >= 1.0:
        parts.append(f"analysis {status['lag_s']:.1f} s behind")
    return "  ".join(parts)


def format_event(event):
    """One stdout line for an ``on_event`` dict of the :class:`~dopplerflow.core.Processor`.

    Returns
    -------
    str
        ``"reflux confirmed at 9.90 s: started 9.02 s, 0.88 s so far, peak 13.5 cm/s"`` or
        ``"reflux ended at 10.52 s: started 9.02 s, lasted 1.50 s, peak 13.5 cm/s"``, or
        ``"reflux not assessable from 0.41 s: two vessels flow ..."``.
    """
    if event["type"] == "reflux_not_assessable":
        return (f"reflux not assessable from {event['time_s']:.2f} s: {event['reason']}; "
                f"give the vein's direction with --antegrade toward|away")
    if event["type"] == "reflux_confirmed":
        what, dur = "confirmed", f"{event['duration_s']:.2f} s so far"
    elif event["type"] == "reflux_withdrawn":
        return (f"reflux withdrawn at {event['time_s']:.2f} s: the retrograde flow from "
                f"{event['start_s']:.2f} s lasted {event['duration_s']:.3f} s, not longer "
                f"than the threshold")
    else:
        what, dur = "ended", f"lasted {event['duration_s']:.2f} s"
    return (f"reflux {what} at {event['time_s']:.2f} s: started {event['start_s']:.2f} s, "
            f"{dur}, peak {event['peak_velocity_cm_s']:.1f} cm/s")


class StatusLine:
    """The status line of a live session, and the event lines printed above it.

    The status line is one stderr line rewritten in place (``\\r``) at most every
    :data:`STATUS_INTERVAL_S`, drawn only on a terminal.  An event line must never
    share it: :meth:`event` (and :meth:`print_line`) erase the status line, print
    the line with its newline, and draw the status line again under it.  A lock
    keeps the two apart, since events arrive in the session's worker thread and
    the status line is drawn in the main thread.

    Parameters
    ----------
    session : LiveSession, optional
        Anything with a ``status()`` method returning the dict of
        :func:`format_status`; may be set later (``status.session = ...``).
    stream : file, optional
        Where the status line goes.  Default: ``sys.stderr``.
    enabled : bool
        False: draw no status line (``--quiet``); event lines are still printed.
    """

    def __init__(self, session=None, stream=None, enabled=True):
        self.session = session
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self._last = 0.0
        self._line = ""  # the status line on the screen, "" if none
        self._lock = threading.Lock()

    def __call__(self):
        """Draw the session's status, unless it was drawn less than STATUS_INTERVAL_S ago."""
        now = time.monotonic()
        if not self.enabled or self.session is None or now - self._last < STATUS_INTERVAL_S:
            return
        self._last = now
        line = format_status(self.session.status())
        with self._lock:
            pad = max(0, len(self._line) - len(line))
            self._line = line
            self.stream.write("\r" + line + " " * pad)
            self.stream.flush()

    def event(self, event, file=None):
        """Print the line of an ``on_event`` dict (:func:`format_event`) on a line of its own."""
        self.print_line(format_event(event), file=file)

    def print_line(self, text, file=None):
        """Print ``text`` and a newline to ``file`` (default ``sys.stdout``) on a line of its
        own: the status line is erased first and drawn again under it."""
        out = file or sys.stdout
        with self._lock:
            if self._line:
                self.stream.write("\r" + " " * len(self._line) + "\r")
                self.stream.flush()
            out.write(text + "\n")
            out.flush()
            if self._line:
                self.stream.write(self._line)
                self.stream.flush()

    def clear(self):
        """Erase the status line (at the end of the session)."""
        with self._lock:
            if self._line:
                self.stream.write("\r" + " " * len(self._line) + "\r")
                self.stream.flush()
                self._line = ""
