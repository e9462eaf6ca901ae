"""Kernels of the beat stage: the chain of beats, and each beat decided.

:func:`_best_chain` finds the best chain of beats in the drive by dynamic
programming; :func:`_decide` takes its settled beats one at a time once the drive is
known ``HORIZON`` periods past the last one, and :func:`_commit` places each at the
row rate with its onset and writes the record of the beat before it.
"""

import math

import numpy as np
from numba import njit

from .._numba import _JIT_PURE
from ._drive import _next_row, _period
from ._measure import _floor_level, _onset, _record, _smoothed
from .constants import (
    P_ALPHA,
    P_CLIP,
    P_HI,
    P_HORIZON,
    P_LO,
    P_MIN_EVIDENCE,
    P_MIN_IV,
    P_SPAN,
    P_STEP,
    P_SUB,
    P_WARMUP,
    S_LAST_E,
    S_LAST_J,
    S_LAST_O,
    S_LAST_Q,
    S_LAST_ROW,
    S_LAST_T,
    S_LEAD,
    S_LEAD_N,
    S_PERIOD,
    S_Q,
    S_QN,
    S_QSUM,
)


@njit(**_JIT_PURE)
def _best_chain(drive, first, last, prev, period, alpha, min_iv, clip, work, beats):
    """The best chain of beats in the drive's steps ``first .. last`` (dynamic programming).

    ``drive`` is the ring of one channel's drive.  ``prev`` is the last beat decided
    (its step; -1: none, and the chain may start anywhere in the first period).
    Intervals run from ``max(min_iv, period / 2)`` to ``2 * period`` steps and cost
    ``alpha * log(interval / period)**2``; a beat gains the drive at its step, up to
    ``clip`` (a knock on the probe is no stronger a beat than a clear pulse).  The
    chain ends at the best step of the last period.  ``work[0:4]`` is room for the
    chain and ``work[6, d]`` holds ``log(d)`` for every interval.  Writes the chain's
    steps, oldest first, into ``beats`` and returns how many.
    """
    dn = drive.shape[0]
    lo = int(math.ceil(max(min_iv, 0.5 * period)))
    hi = int(math.floor(2.0 * period))
    n = last - first + 1
    score = work[0]
    back = work[1]
    pen = work[2]
    best = work[3]
    # pen[3 + d]: the penalty of an interval of d steps; none (inf) for the three intervals
    # either side of the range, where a group of four steps offers past it (below).  The
    # logarithm of d / period is the difference of the logarithms, d's from the table in
    # work[6]: one logarithm a call, not one an interval (the same to some 1e-15, the
    # penalties' rounding, far under any difference of scores the chain decides on)
    for d in range(lo - 3, lo):
        pen[3 + d] = np.inf
    log_period = math.log(period)
    # (on slices indexed from 0: no negative index to wrap, the loop runs on vectors)
    to_pen = pen[3 + lo:4 + hi]
    logs = work[6, lo:hi + 1]
    for u in range(hi + 1 - lo):
        to_pen[u] = alpha * (logs[u] - log_period) ** 2
    for d in range(hi + 1, hi + 11):  # and the seven more a group's whole vectors reach
        pen[3 + d] = np.inf
    # each step's best way in: from the last beat decided, an interval before it (or, with
    # none, as the chain's first beat, in its first period: back -1), else none yet (-2)
    for i in range(n):
        best[i] = -np.inf
        back[i] = -2.0
    if prev < 0:
        i = 0
        while i < n and first + i < first + period:
            best[i] = 0.0
            back[i] = -1.0
            i += 1
    else:
        for iv in range(max(lo, first - prev), min(hi, last - prev) + 1):
            u = np.uint64(iv - (first - prev))  # (unsigned: no check for a negative index)
            best[u] = -pen[np.uint64(3 + iv)]
            back[u] = -1.0
    # each step, once scored, offered to the steps an interval after it: the steps are
    # taken oldest first and only a strictly better offer is kept, so a step's way in is
    # the oldest of the best (as a search of each step's candidates in turn would find).
    # Four steps are scored at a time (an interval is at least lo steps, so none of them
    # offers to another) and offered in one loop over their targets, each target read and
    # written once for the four (a step no beat reaches offers -inf, which is never
    # better); the loop, on slices indexed from 0 (no negative index to wrap), runs on
    # vectors
    # (the drive's place as an unsigned integer: an index numba need not check for a
    # negative value)
    udn = np.uint64(dn)
    at = np.uint64(first % dn)
    g = min(4, lo)
    for i0 in range(0, n, g):
        s0 = s1 = s2 = s3 = -np.inf
        for q in range(min(g, n - i0)):
            i = i0 + q
            s = min(drive[at], clip) + best[i] if back[i] != -2.0 else -np.inf
            score[i] = s
            at = _next_row(at, udn)
            if q == 0:
                s0 = s
            elif q == 1:
                s1 = s
            elif q == 2:
                s2 = s
            else:
                s3 = s
        m = min(n, i0 + hi + g) - (i0 + lo)
        if m <= 0 or max(max(s0, s1), max(s2, s3)) == -np.inf:
            continue
        # whole vectors of eight targets (no scalar tail): the targets added are past the
        # last step (written, never read: n is at most the ring's steps less seven) or an
        # interval past the longest (offered -inf, never better)
        m = (m + 7) // 8 * 8
        f0 = float(i0)
        to_best = best[i0 + lo:i0 + lo + m]
        to_back = back[i0 + lo:i0 + lo + m]
        cost = pen[lo:lo + m + 3]  # step i0 + q offers to i0 + lo + u over lo + u - q
        for u in range(m):
            keep = to_best[u]
            b = to_back[u]
            v = s0 - cost[u + 3]
            if v > keep:
                keep = v
                b = f0
            v = s1 - cost[u + 2]
            if v > keep:
                keep = v
                b = f0 + 1.0
            v = s2 - cost[u + 1]
            if v > keep:
                keep = v
                b = f0 + 2.0
            v = s3 - cost[u]
            if v > keep:
                keep = v
                b = f0 + 3.0
            to_best[u] = keep
            to_back[u] = b
    end = -1
    for i in range(max(0, int(n - period)), n):
        s = score[np.uint64(i)]
        if s > -np.inf and (end < 0 or s > score[np.uint64(end)]):
            end = i
    k = 0
    i = end
    while i >= 0:
        beats[k] = first + i
        k += 1
        i = int(back[i])
    for a in range(k // 2):  # oldest first
        beats[a], beats[k - 1 - a] = beats[k - 1 - a], beats[a]
    return k


@njit(**_JIT_PURE)
def _commit(c, jb, ring, rn, n_rows, steps, state, params, half, work, out, k):
    """Decide the beat of channel ``c`` at step ``jb``: its row, its onset, and the record
    of the previous beat of the channel, now complete, into ``out[k]``; returns the
    records written (0 or 1)."""
    step = int(params[P_STEP])
    h = half[c]
    floor_level = _floor_level(state, params)
    period = state[c, S_PERIOD] * step
    oldest = n_rows - rn + h + 1  # rows older than this have left the ring
    start = max(oldest, int(state[c, S_LAST_ROW]) + 1 if state[c, S_LAST_J] >= 0 else 0)
    evidence = steps[1, c, jb % steps.shape[2]]
    # the row of the highest smoothed signal in the step and its neighbours, and the
    # upstroke before it
    b = min(n_rows - h, (jb + 2) * step)
    a = max(start, min(b - 1, int((jb - 1) * step - params[P_SPAN] * period)))
    _smoothed(ring, rn, c, floor_level, a, b, h, work)
    sm = work[4]
    beat = max(a, (jb - 1) * step)
    for i in range(beat, b):
        if sm[np.uint64(i - a)] > sm[np.uint64(beat - a)]:  # (unsigned: see _best_chain)
            beat = i
    if evidence >= params[P_MIN_EVIDENCE]:
        w0 = max(a, int(beat - params[P_SPAN] * period))
        onset = _onset(sm[w0 - a:], w0, beat) if beat - w0 >= 3 else float(w0)
        lead = beat - onset
        state[c, S_LEAD] = lead if state[c, S_LEAD_N] == 0 else \
            0.8 * state[c, S_LEAD] + 0.2 * lead
        state[c, S_LEAD_N] += 1
    else:
        # no pulse to see (a beat placed where one was due): the usual lead of the onset
        lead = state[c, S_LEAD] if state[c, S_LEAD_N] > 0 else 0.25 * period
        onset = max(float(start), beat - lead)
    written = 0
    if state[c, S_LAST_J] >= 0:
        _record(c, state[c, S_LAST_O], state[c, S_LAST_ROW], state[c, S_LAST_E],
                state[c, S_LAST_T], state[c, S_LAST_Q], onset, ring, rn, params, out[k],
                work)
        written = 1
    state[c, S_LAST_J] = jb
    state[c, S_LAST_ROW] = beat
    state[c, S_LAST_O] = onset
    state[c, S_LAST_E] = evidence
    state[c, S_LAST_T] = period
    state[c, S_LAST_Q] = state[c, S_Q]
    return written


@njit(inline="always", **_JIT_PURE)
def _decide(c, j, due, final, ring, rn, n_rows, steps, acf, state, params, half, work,
            chain, out, k):
    """Decide the beats of channel ``c`` whose chain is settled with the drive up to step
    ``j``; at the end of the stream (``final``) all of them.  ``due``: the period is
    estimated again at this step (every ``P_PERIOD_EVERY`` steps).  Returns records
    written."""
    warm = j + 1 >= params[P_WARMUP]
    lo, hi = int(params[P_LO]), int(params[P_HI])
    if (not warm and not final) or j < hi + 1:
        return 0
    if final or state[c, S_PERIOD] <= 0.0 or due:
        # the lags 0 .. hi + 1 (acf has room for more, never read)
        state[c, S_PERIOD] = _period(acf[c, :hi + 2], lo, hi, params[P_SUB])[0]
    period = state[c, S_PERIOD]
    if period <= 0.0:
        if warm and not final and steps[1, c, j % steps.shape[2]] != 0.0:
            # a step with signal and no period: no periodic pulse there, a periodicity
            # of 0 in the recording's mean (a step without signal, a gap, digital silence
            # or no flow at all, has none to give)
            state[c, S_QN] += 1
        return 0
    q = max(0.0, acf[c, int(round(period))] / acf[c, 0])
    state[c, S_Q] = q
    if warm:
        state[c, S_QSUM] += q
        state[c, S_QN] += 1
    dn = steps.shape[2]
    written = 0
    while True:
        last = int(state[c, S_LAST_J])
        first = max(last + 1 if last >= 0 else 0, j - dn + 8)
        if not final and j < (last if last >= 0 else first) + params[P_HORIZON] * period:
            break
        nb = _best_chain(steps[1, c], first, j, last, period, params[P_ALPHA],
                         params[P_MIN_IV], params[P_CLIP], work, chain)
        if nb == 0:
            break
        for b in range(nb if final else 1):
            written += _commit(c, chain[b], ring, rn, n_rows, steps, state, params, half,
                               work, out, k + written)
        if final:
            break
    if final and state[c, S_LAST_J] >= 0:
        _record(c, state[c, S_LAST_O], state[c, S_LAST_ROW], state[c, S_LAST_E],
                state[c, S_LAST_T], state[c, S_LAST_Q], np.nan, ring, rn, params,
                out[k + written], work)
        written += 1
    return written

