"""Reflux stage: retrograde episodes and reflux events, row by row.

Reflux is retrograde flow that dominates continuously for longer than the
vessel's threshold (Labropoulos 2003 for leg veins, Zamboni 2009 for neck and
cerebral veins).  Shorter retrograde episodes, such as the brief reversal
that closes a competent valve, are listed separately.
"""

import numpy as np
from numba import njit

from ._numba import _JIT, _insert_sorted
from .events import _EPS_S, Event

__all__ = ["ENTER_RATIO", "RefluxTracker"]

#: Gaps of no retrograde flow bridged inside an episode, s (brief signal dropouts).
GAP_S = 0.06
#: Shortest retrograde episode reported, s.
MIN_EPISODE_S = 0.03
#: Retrograde power must exceed antegrade power by this factor to open an
#: episode (3 dB); once open, a simple majority keeps it: hysteresis against
#: flicker when both directions are present.
ENTER_RATIO = 2.0

#: Slots of the tracker's state, one row per direction hypothesis (``_reflux``): the
#: episode under way (its rows, peak and sum of velocities, whether it is confirmed),
#: the run of retrograde-majority rows outside an episode (first row + 1, 0: none), the
#: last row with antegrade flow dominating or lost samples and the first such row after
#: the episode's last retrograde row (-1: none), the start edge in rows (extrapolated),
#: whether it is fixed and the earliest it may be, and the values pushed to the ring.
(IN_EPISODE, START_ROW, LAST_ROW, PEAK_CM_S, SUM_CM_S, N_ROWS, CONFIRMED, RUN_FIRST,
 RUN_PEAK_CM_S, RUN_SUM_CM_S, RUN_N_ROWS, LAST_BLOCKED_ROW, BLOCKED_AFTER_ROW, START_EDGE,
 START_FIXED, START_BOUND, RING_COUNT) = range(17)
N_STATE = 17


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
    edge_rows, floor_hz, shown_hz
        As given.
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
        self.edge_rows = int(edge_rows)
        self.floor_hz = float(floor_hz)
        self.shown_hz = float(shown_hz)
        self._state = np.zeros((2, N_STATE), np.float64)
        self._state[:, LAST_BLOCKED_ROW:BLOCKED_AFTER_ROW + 1] = -1.0  # no antegrade row yet
        self._fit = np.zeros((2, 4, max(2, int(edge_rows))), np.float64)
        self._fit[:, 3] = -1.0  # ring rows: none
        # the peak is read from a running median over twice the rows a frame's speckle
        # reaches into (its window and time average): a few independent looks
        self._ring = np.zeros((3, self._fit.shape[2] + 1), np.float64)
        self._xy = np.empty((2, self._fit.shape[2]))  # the kernel's scratch
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
        n = _reflux(env, valid, ahead, ahead_valid, self._row, self.hop_s, self.t0_s,
                      self.scale, thr, self.gap_rows, self.min_rows, ENTER_RATIO,
                      self.floor_hz, self.shown_hz, self._state, self._fit, self._ring,
                      self._xy, actions)
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
        if st[IN_EPISODE] == 0 or st[N_ROWS] == 0:
            return None
        start = self.t0_s + st[START_EDGE] * self.hop_s
        end = self.t0_s + (st[LAST_ROW] + 0.5) * self.hop_s
        return Event(start, end, end - start, st[PEAK_CM_S], st[SUM_CM_S] / st[N_ROWS],
                     detected_s=(st[LAST_ROW] - st[START_ROW] + 1) * self.hop_s)

    def close(self):
        """End the stream: close open episodes long enough to report."""
        for h in range(2):
            ev = self.open_episode(h)
            st = self._state[h]
            if ev is not None and st[LAST_ROW] - st[START_ROW] + 1 >= self.min_rows:
                self.episodes[h].append(ev)
            self._state[h, IN_EPISODE] = 0




# --------------------------------------------------------------------------- kernels
@njit(**_JIT)
def _dominates(env, i, r, a, ratio):
    """Flow in direction ``r`` is detected in row ``i`` of ``env`` and dominates direction
    ``a``: none there, or more than ``ratio`` times its power."""
    return env[i, r, 0] > 0 and (env[i, a, 0] == 0 or env[i, r, 3] > ratio * env[i, a, 3])


@njit(**_JIT)
def _ring_peak(ring, state, h, v, peak):
    """Push ``v`` to hypothesis ``h``'s ring (count in ``state[h, RING_COUNT]``); return the
    higher of ``peak`` and the median of the last ``K`` values pushed (of all of them
    once there are three; none before).  ``ring[2]`` is scratch space (sorted by
    insertion: a few values).

    A ``v`` no higher than ``peak`` cannot lift the median above it: at most half
    the values stood above ``peak`` when it was set, and ``v`` adds none, so the
    median is only worked out when ``v`` is higher."""
    k = ring.shape[1]
    n = int(state[h, RING_COUNT])
    ring[h, n % k] = v
    n += 1
    state[h, RING_COUNT] = n
    if n < 3 or v <= peak:
        return peak
    m = min(n, k)
    tmp = ring[2]
    for j in range(m):
        _insert_sorted(tmp, j, ring[h, j])
    if m % 2:
        return max(peak, tmp[m // 2])
    return max(peak, 0.5 * (tmp[m // 2 - 1] + tmp[m // 2]))


@njit(**_JIT)
def _extrapolation(x, y, n, floor_hz, shown_hz, max_rows):
    """Rows from an episode's edge back to where its envelope left the baseline.

    A least-squares line through the ``n`` points ``(x, y)`` of the envelope
    near the edge (``x`` rows from the edge row into the episode, ``y`` the
    maximum frequency, Hz) gives the rate ``s`` (Hz a row) at which flow
    grew out of the edge.  Flow is detected once it reaches ``floor_hz``, the
    lowest frequency searched, so it crossed the baseline about
    ``floor_hz / s`` rows before the edge row.  The envelope cannot show
    less than ``shown_hz``: one whose edge row already lies far above that
    left it within a row, so ``s`` is at least that excess a row (brisk
    flow).  The result is at most ``max_rows``; fewer than two points give 0.
    """
    if n < 2 or floor_hz <= 0.0:
        return 0.0
    mx = 0.0
    my = 0.0
    for k in range(n):
        mx += x[k]
        my += y[k]
    mx /= n
    my /= n
    sxy = 0.0
    sxx = 0.0
    for k in range(n):
        sxy += (x[k] - mx) * (y[k] - my)
        sxx += (x[k] - mx) * (x[k] - mx)
    slope = sxy / sxx if sxx > 0.0 else 0.0
    slope = max(slope, (my - slope * mx) - shown_hz)
    if slope * max_rows <= floor_hz:
        return float(max_rows)
    return floor_hz / slope


@njit(**_JIT)
def _edge_points(fit, h, row0, step, n_max, last, x, y):
    """Detected envelope values of up to ``n_max`` rows from ``row0`` in ``step``
    direction, read from the episode's head (``step`` +1) or tail ring (-1)."""
    n = 0
    w = fit.shape[2]
    for k in range(n_max):
        if step > 0:
            v = fit[h, 1, k]
        else:
            rr = row0 - k
            slot = rr % w
            v = fit[h, 2, slot] if fit[h, 3, slot] == rr and rr <= last else 0.0
        if v > 0.0:
            x[n] = k
            y[n] = v
            n += 1
    return n


@njit(**_JIT)
def _refined_start(state, fit, h, row, floor_hz, shown_hz, max_rows, x, y):
    """Start edge of hypothesis ``h``'s episode, in rows, from its rows up to ``row``:
    extrapolated back to the baseline, not before its bound (``state[h, START_BOUND]``)."""
    n_max = min(fit.shape[2], int(row - state[h, START_ROW]) + 1)
    n = _edge_points(fit, h, np.int64(0), np.int64(1), n_max, np.float64(row), x, y)
    corr = _extrapolation(x, y, n, floor_hz, shown_hz, max_rows)
    return max(state[h, START_ROW] - 0.5 - corr, state[h, START_BOUND])


@njit(**_JIT)
def _refined_end(state, fit, h, floor_hz, shown_hz, max_rows, x, y):
    """End edge of hypothesis ``h``'s episode, in rows: extrapolated forward to the
    baseline, not past the next row of antegrade flow or lost samples."""
    last = state[h, LAST_ROW]
    n = _edge_points(fit, h, np.int64(last), np.int64(-1), fit.shape[2], last, x, y)
    end = last + 0.5 + _extrapolation(x, y, n, floor_hz, shown_hz, max_rows)
    if state[h, BLOCKED_AFTER_ROW] >= 0:
        end = min(end, state[h, BLOCKED_AFTER_ROW] - 0.5)
    return end


@njit(**_JIT)
def _edge_bound(state, h, row):
    """Row ``row`` has antegrade flow dominating or lost samples: no edge of hypothesis
    ``h``'s episodes is extrapolated across it (``state[h, LAST_BLOCKED_ROW]``, and
    ``state[h, BLOCKED_AFTER_ROW]`` for the end of the episode under way)."""
    state[h, LAST_BLOCKED_ROW] = row
    if state[h, IN_EPISODE] > 0 and state[h, BLOCKED_AFTER_ROW] < 0:
        state[h, BLOCKED_AFTER_ROW] = row


@njit(**_JIT)
def _emit(actions, na, kind, h, start, end, state, at, hop_s, t0_s, detected_s):
    """Append an action (times in rows) if there is room; return the new count."""
    if na < actions.shape[0]:
        actions[na, 0] = kind
        actions[na, 1] = h
        actions[na, 2] = t0_s + start * hop_s
        actions[na, 3] = t0_s + end * hop_s
        actions[na, 4] = state[h, PEAK_CM_S]
        actions[na, 5] = state[h, SUM_CM_S] / state[h, N_ROWS]
        actions[na, 6] = t0_s + at * hop_s
        actions[na, 7] = detected_s
        na += 1
    return na


@njit(**_JIT)
def _grow_run(state, fit, ring, h, row, v, fmax_hz):
    """Row ``row`` (velocity ``v``, maximum frequency ``fmax_hz``) of a retrograde majority
    not yet strong enough to open an episode: if it grows into one, the episode starts
    where the majority began."""
    w = fit.shape[2]
    if state[h, RUN_FIRST] == 0:
        state[h, RUN_FIRST] = row + 1
        state[h, RUN_PEAK_CM_S] = 0.0
        state[h, RUN_SUM_CM_S] = 0.0
        state[h, RUN_N_ROWS] = 0
        state[h, RING_COUNT] = 0
        fit[h, 0, :] = 0.0
    state[h, RUN_PEAK_CM_S] = _ring_peak(ring, state, h, v, state[h, RUN_PEAK_CM_S])
    state[h, RUN_SUM_CM_S] += v
    state[h, RUN_N_ROWS] += 1
    k = int(row - (state[h, RUN_FIRST] - 1))
    if k < w:
        fit[h, 0, k] = fmax_hz


@njit(**_JIT)
def _open_episode(state, fit, h, row):
    """Open an episode of hypothesis ``h`` at ``row``, from the start of the majority run
    if there is one."""
    state[h, IN_EPISODE] = 1
    state[h, CONFIRMED] = 0
    state[h, START_FIXED] = 0
    state[h, START_BOUND] = state[h, LAST_BLOCKED_ROW] + 0.5
    if state[h, RUN_FIRST] > 0:
        state[h, START_ROW] = state[h, RUN_FIRST] - 1
        # element by element: an array assignment would compile numba's check of the
        # shapes, and the formatting of its error message, for nothing
        for q in range(N_ROWS + 1 - PEAK_CM_S):
            state[h, PEAK_CM_S + q] = state[h, RUN_PEAK_CM_S + q]
        for k in range(fit.shape[2]):
            fit[h, 1, k] = fit[h, 0, k]
    else:
        state[h, START_ROW] = row
        state[h, PEAK_CM_S:N_ROWS + 1] = 0.0
        state[h, RING_COUNT] = 0
        fit[h, 1, :] = 0.0
    state[h, RUN_FIRST] = 0


@njit(**_JIT)
def _extend_episode(state, fit, ring, h, row, v, fmax_hz, floor_hz, shown_hz, gap_rows, x, y):
    """Add retrograde row ``row`` to the episode of ``h`` under way; fix its start edge
    once the first ``W`` rows are in."""
    w = fit.shape[2]
    state[h, LAST_ROW] = row
    state[h, PEAK_CM_S] = _ring_peak(ring, state, h, v, state[h, PEAK_CM_S])
    state[h, SUM_CM_S] += v
    state[h, N_ROWS] += 1
    state[h, BLOCKED_AFTER_ROW] = -1
    k = int(row - state[h, START_ROW])
    if k < w:
        fit[h, 1, k] = fmax_hz
    fit[h, 2, row % w] = fmax_hz
    fit[h, 3, row % w] = row
    if state[h, START_FIXED] == 0:
        state[h, START_EDGE] = _refined_start(state, fit, h, row, floor_hz, shown_hz, gap_rows,
                                              x, y)
        if k >= w - 1:
            state[h, START_FIXED] = 1


@njit(**_JIT)
def _confirm(state, h, row, ahead_retro, hop_s, t0_s, threshold_s, actions, na):
    """Confirm the episode of ``h`` once its detected duration passes the threshold, or
    one row sooner when the next row's provisional envelope (``ahead_retro``) is
    retrograde and takes it past; return the number of actions."""
    if threshold_s <= 0 or state[h, CONFIRMED] != 0:
        return na
    dur = (row - state[h, START_ROW] + 1) * hop_s
    at = row
    if dur <= threshold_s and dur + hop_s > threshold_s and ahead_retro:
        dur += hop_s
        at = row + 1
    if dur > threshold_s:
        state[h, CONFIRMED] = 1
        state[h, START_FIXED] = 1
        na = _emit(actions, na, np.int64(1), h, state[h, START_EDGE], at + 0.5, state, at, hop_s,
                   t0_s,
                   dur)
    return na


@njit(**_JIT)
def _reflux(env, valid, ahead, ahead_valid, row0, hop_s, t0_s, cm_s_per_hz, threshold_s,
            gap_rows, min_rows, enter_ratio, floor_hz, shown_hz, state, fit, ring, xy, actions):
    """Retrograde-episode state machines for both direction hypotheses.

    Hypothesis ``h`` takes direction ``h`` (0 toward, 1 away) as retrograde.
    A frame counts as retrograde when retrograde flow is detected and it
    dominates: no antegrade flow, or more power than the antegrade flow
    (``enter_ratio`` times more to open an episode; any majority keeps it).
    Up to ``gap_rows`` frames that are not retrograde are bridged.

    An episode's start and end are then moved to where its retrograde
    maximum-frequency envelope meets the baseline, as with calipers: flow
    that ramps slowly through zero is detected only once it clears the wall
    band.  The envelope's rate of change over the first (last) ``W`` rows
    (``W = fit.shape[2]``, the rows over which a step in flow spreads)
    extrapolates the edge by the time flow took to cross ``floor_hz``
    (see ``_extrapolation``), at most ``gap_rows``, never past a row with
    antegrade flow dominating or with lost samples.  The start is fixed once
    ``W`` rows are in or when the reflux is confirmed, whichever comes first,
    so a confirmed event keeps the start it was confirmed with.  The
    threshold is tested on the duration of the detected rows (from the start
    of the first to the end of the last), which is known row by row as the
    stream arrives: the moment of confirmation and the verdict do not depend
    on the extrapolation.

    Parameters
    ----------
    env : ndarray, shape (n, 2, 4), float64
        Output of ``_envelopes``.
    valid : ndarray, shape (n,), bool
        False for frames that overlap lost samples (a gap): they neither
        extend nor end an episode.
    ahead : ndarray, shape (n, 2, 4), float64
        For each frame ``i``, the envelopes of frame ``i + 1`` as far as the
        audio so far shows it (the provisional row of a time average that
        still lacks its newest frame).  A reflux whose run reaches frame
        ``i`` is confirmed at frame ``i + 1`` when that frame's duration
        passes the threshold and the provisional row is retrograde, one hop
        before the complete row would confirm it.  All zero: no look-ahead.
    ahead_valid : ndarray, shape (n,), bool
        False where the provisional row overlaps lost samples.
    row0 : int
        Index of ``env[0]`` in the whole stream.
    hop_s, t0_s : float
        Frame hop and time of frame 0, seconds.
    cm_s_per_hz : float
        Doppler-equation scale.
    threshold_s : float
        Reflux threshold; an episode longer than this is a reflux event.
        Non-positive means no reflux rule (episodes only).
    gap_rows, min_rows : int
        Bridged gap and the shortest episode that is reported, in frames.
    enter_ratio : float
        Power ratio to open an episode.
    floor_hz, shown_hz : float
        Lowest frequency searched for flow and lowest maximum frequency the
        envelope reports, Hz.  ``floor_hz <= 0``: edges are not extrapolated.
    state : ndarray, shape (2, 17), float64
        Per hypothesis: in_episode, start_row, last_row, peak_cm_s,
        sum_cm_s, n_rows, confirmed, and the run of frames with a retrograde
        majority under way outside an episode: first_row + 1 (0: none),
        peak_cm_s, sum_cm_s, n_rows; then the last row with antegrade flow
        dominating or lost samples, the first such row after the episode's
        last retrograde row (-1: none), the start edge in rows
        (extrapolated), whether it is fixed, and the earliest it may be;
        the number of values pushed to ``ring``.  Updated in place.
    fit : ndarray, shape (2, 4, W), float64
        Per hypothesis: the maximum frequency of the first ``W`` rows of the
        majority run and of the episode (0: not retrograde), and a ring of
        the last ``W`` retrograde rows: values, row numbers.  Updated in place.
    ring : ndarray, shape (3, K), float64
        Per hypothesis: the velocities of the last ``K`` rows of the majority
        run and the episode (and a row of scratch space).  The peak velocity
        is the highest running median of ``K`` of them (of the first three or
        more at the start), as in the final trace: a single frame's speckle
        does not set it.  Updated in place.
    xy : ndarray, shape (2, W), float64
        Scratch (the points an edge is extrapolated from).
    actions : ndarray, shape (m, 8), float64
        Filled with (kind, hypothesis, start_s, end_s, peak_cm_s, mean_cm_s,
        at_s, detected_s); kind 1 = reflux confirmed (the detected duration
        just passed the threshold; ``end_s`` is the end of the frame that
        passed it), 2 = episode ended; ``detected_s`` is the duration of the
        detected rows.

    Returns
    -------
    n_actions : int
    """
    n = env.shape[0]
    x = xy[0]
    y = xy[1]
    na = np.int64(0)  # typed, so the kernels it is passed to compile once
    for i in range(n):
        row = row0 + i
        if not valid[i]:
            for h in range(2):
                _edge_bound(state, h, row)
            continue
        for h in range(2):
            r = h
            a = 1 - h
            majority = _dominates(env, i, r, a, 1.0)
            v = env[i, r, 1] * cm_s_per_hz
            retro = _dominates(env, i, r, a, 1.0 if state[h, IN_EPISODE] > 0 else enter_ratio)
            if _dominates(env, i, a, r, 1.0):
                _edge_bound(state, h, row)
            if state[h, IN_EPISODE] == 0 and majority and not retro:
                _grow_run(state, fit, ring, h, row, v, env[i, r, 1])
            elif not majority:
                state[h, RUN_FIRST] = 0
            if retro:
                if state[h, IN_EPISODE] == 0:
                    _open_episode(state, fit, h, row)
                _extend_episode(state, fit, ring, h, row, v, env[i, r, 1], floor_hz, shown_hz,
                                gap_rows, x, y)
                # the next frame passes the threshold: it may be confirmed from its
                # provisional row
                ahead_retro = ahead_valid[i] and _dominates(ahead, i, r, a, 1.0)
                na = _confirm(state, h, row, ahead_retro, hop_s, t0_s, threshold_s, actions, na)
            elif state[h, IN_EPISODE] > 0 and row - state[h, LAST_ROW] > gap_rows:
                if state[h, LAST_ROW] - state[h, START_ROW] + 1 >= min_rows:
                    end = _refined_end(state, fit, h, floor_hz, shown_hz, gap_rows, x, y)
                    na = _emit(actions, na, np.int64(2), h, state[h, START_EDGE], end, state, row,
                               hop_s,
                               t0_s, (state[h, LAST_ROW] - state[h, START_ROW] + 1) * hop_s)
                state[h, IN_EPISODE] = 0
    return na
