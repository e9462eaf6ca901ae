"""Kernels of the beat stage: a beat's onset and its measures, from the ring of rows.

:func:`_smoothed` gives a channel's signal at the row rate, :func:`_onset` the foot of
the upstroke (intersecting tangents), :func:`_measure` the per-beat PSV, EDV, TAMV,
TAV, peak time, velocity-time integrals and flow phases, and :func:`_record` the
beat's record (``R_*`` head and ``M_*`` measures per antegrade hypothesis).
"""

import math

import numpy as np
from numba import njit

from .._numba import _JIT_PURE, _insert_sorted
from ._drive import _next_row
from .constants import (
    EDV_SPAN,
    M_EDV,
    M_EDV_REACH,
    M_EDV_SLOPE,
    M_FWD,
    M_PEAK,
    M_PHASES,
    M_PSV,
    M_REV,
    M_TAMV,
    M_TAV,
    M_WIDTH,
    P_DIRECTION,
    P_EDV,
    P_FLOOR,
    P_MIN_PHASE,
    P_SKIP,
    PEAK_MEAN_X,
    R_CENTRE,
    R_CHANNEL,
    R_EVIDENCE,
    R_ONSET,
    R_PERIOD,
    R_PERIODICITY,
    R_RR,
    REC_HEAD,
    S_PMEAN,
)


@njit(**_JIT_PURE)
def _smoothed(ring, rn, c, floor_level, a, b, h, work):
    """Channel ``c``'s signal of rows ``a .. b - 1``, each the mean over ``2 h + 1`` rows:
    fmax (Hz), or the band power in dB over ``floor_level``; written to ``work[4, :b - a]``
    (its running sums in ``work[3]``: rows of the ring's length, at least)."""
    m = b - a + 2 * h
    raw = work[3, :m + 1]
    raw[0] = 0.0
    urn, col = np.uint64(rn), np.uint64(3 * c)  # unsigned: see _measure
    at = np.uint64((a - h) % rn)
    for q in range(m):
        if c < 2:
            v = np.float64(ring[at, col])
        else:
            v = 10.0 * math.log10(max(np.float64(ring[at, 6]), floor_level))
        raw[q + 1] = raw[q] + v  # running sum
        at = _next_row(at, urn)
    out = work[4, :b - a]
    for q in range(b - a):
        out[q] = (raw[q + 2 * h + 1] - raw[q]) / (2 * h + 1)


@njit(**_JIT_PURE)
def _onset(sm, a, beat):
    """Onset (fractional row) of the upstroke before row ``beat`` in the smoothed signal
    ``sm`` of rows ``a ..``: where the tangent at the steepest rise meets the lowest
    level before that rise (``a`` when there is no rise)."""
    # (row a + q at sm[q], q counted from 0: an index numba need not check for a negative
    # value)
    steep = -1
    slope = 0.0
    for q in range(1, beat - a):
        sl = 0.5 * (sm[q + 1] - sm[q - 1])
        if sl > slope:
            slope = sl
            steep = q
    if steep < 0:
        return float(a)
    low = sm[steep]
    for q in range(steep + 1):
        low = min(low, sm[q])
    steep += a
    foot = steep - (sm[steep - a] - low) / slope
    return min(max(foot, float(a)), float(steep))


@njit(**_JIT_PURE)
def _measure(ring, rn, o0, o1, ante, direction, min_phase, edv_rows, out, col, buf):
    """Measures of the beat from onset ``o0`` to the next onset ``o1`` (rows) with ``ante``
    as the antegrade direction, into ``out[col:col + M_WIDTH]`` (Hz, rows, Hz·rows).

    The signed maximum velocity of a row follows the trace's rule: the antegrade
    fmax, or minus the retrograde one where that direction has more power.  The
    phases are runs of one sign at least ``min_phase`` rows long (rows without flow
    do not break a run; runs of one sign on either side of a shorter one merge),
    counted up to 3 (forward, reverse, forward).  ``buf`` (a beat's rows at least) holds
    the end of the beat the EDV is read on (:func:`_edv_stretch`).  The PSV is the highest
    mean of three rows' antegrade fmax over the rows whose fmax is at most ``PEAK_MEAN_X``
    times their mean frequency (:func:`_psv_step`): the top of a faint broadband transient
    over slower flow (a valve's click) is in the envelope the beats are read on, not in
    the PSV.  Nor is it in the EDV, TAMV, TAV, flow integrals and phases: there a
    direction's row that is no candidate holds the maximum and mean frequency of the last
    row that was (:func:`_hold`; from the row before the beat, its maximum at most
    ``PEAK_MEAN_X`` times its mean: :func:`_capped`).
    """
    i0 = int(math.ceil(o0))
    i1 = int(math.ceil(o1))  # rows i0 .. i1 - 1
    n = i1 - i0
    for m in range(M_WIDTH):
        out[col + m] = np.nan
    if n < 3:
        return
    r = 1 - ante
    # end-diastolic velocity: read on the signed envelope over the last EDV_SPAN of the
    # beat, up to EDV_S before the next onset (the spectra's window, average and median
    # spread the upstroke back by about that much): its median, its slope and how far
    # its middle lies from the next onset
    skip = int(round(edv_rows))
    e0 = i1 - max(skip + 1, int(EDV_SPAN * n))
    e1 = i1 - skip
    buf = buf[:e1 - e0]
    psv, peak, tamv, tav, fwd, rev = -1.0, i0, 0.0, 0.0, 0.0, 0.0
    # the sum of three rows whose mean is the PSV so far: a sum not over it has no higher
    # mean (the rounded division is monotonic), so only a higher one is divided
    top = -3.0
    phases, last_sign, run_sign, run = 0, 0, 0, 0
    # the ring's rows and columns as unsigned integers: indices numba need not check for a
    # negative value (and wrap), some ten instructions a row fewer
    urn = np.uint64(rn)
    fa_col, fr_col = np.uint64(3 * ante), np.uint64(3 * r)
    mean_col, power_col = np.uint64(1), np.uint64(2)
    before = np.uint64((i0 - 1) % rn)
    prev_pk = _peak_value(ring, before, fa_col)
    held_a, held_r = _capped(ring, before, fa_col), _capped(ring, before, fr_col)
    mean_a = np.float64(ring[before, fa_col + mean_col])
    mean_r = np.float64(ring[before, fr_col + mean_col])
    at = np.uint64(i0 % rn)
    next_fa = np.float64(ring[at, fa_col])  # each row's envelope read once
    next_pk = _peak_value(ring, at, fa_col)
    for i in range(i0, i1):
        fa = next_fa
        pk = next_pk
        after = _next_row(at, urn)
        next_fa = np.float64(ring[after, fa_col])
        next_pk = _peak_value(ring, after, fa_col)
        psv, top, up = _psv_step(prev_pk, pk, next_pk, psv, top)
        if up:
            peak = i
        prev_pk = pk
        held_a, mean_a = _hold(ring, at, fa_col, pk, held_a, mean_a)
        fwd += held_a
        v = held_a
        if direction:
            fr = np.float64(ring[at, fr_col])
            held_r, mean_r = _hold(ring, at, fr_col, _peak_value(ring, at, fr_col), held_r,
                                   mean_r)
            rev += held_r
            pa = np.float64(ring[at, fa_col + power_col]) if fa > 0 else 0.0
            pr = np.float64(ring[at, fr_col + power_col]) if fr > 0 else 0.0
            if pr > pa:
                v = -held_r
            tav += _mean_velocity(mean_a, pa, mean_r, pr)
        elif fa > 0:
            tav += mean_a
        tamv += v
        if e0 <= i < e1:
            buf[i - e0] = v
        s = 1 if v > 0 else (-1 if v < 0 else 0)
        at = after
        run_sign, run, phases, last_sign = _phase(s, False, run_sign, run, phases,
                                                  last_sign, min_phase)
    # past the last row: the run in progress ends
    run_sign, run, phases, last_sign = _phase(0, True, run_sign, run, phases, last_sign,
                                              min_phase)
    out[col + M_PSV] = max(psv, 0.0)  # (0 where no row was a candidate)
    out[col + M_PEAK] = peak
    out[col + M_EDV], out[col + M_EDV_SLOPE] = _edv_stretch(buf, e1 - e0)
    out[col + M_EDV_REACH] = o1 - e0 - 0.5 * (e1 - e0 - 1)
    out[col + M_TAMV] = tamv / n
    out[col + M_TAV] = tav / n
    out[col + M_FWD] = fwd
    out[col + M_REV] = rev
    out[col + M_PHASES] = min(phases, 3)


@njit(inline="always", **_JIT_PURE)
def _peak_value(ring, at, col):
    """Row ``at``'s maximum frequency in column ``col`` of the ring as a candidate for the
    PSV, or -1 where it stands more than ``PEAK_MEAN_X`` times over the row's mean
    frequency (column ``col + 1``): the top of a faint broadband transient over slower
    flow, not the flow's (:data:`~dopplerflow.core.rows.PEAK_MEAN_X`)."""
    f = np.float64(ring[at, col])
    return f if f <= PEAK_MEAN_X * np.float64(ring[at, col + 1]) else -1.0


@njit(inline="always", **_JIT_PURE)
def _mean_velocity(mean_a, pa, mean_r, pr):
    """A row's signed mean frequency for the TAV (antegrade +): the power-weighted mean of
    the two directions' mean frequencies ``mean_a``, ``mean_r`` (powers ``pa``, ``pr``),
    one direction's alone where the other has no flow (no division), 0 where neither has."""
    if pr == 0.0:
        return mean_a if pa > 0.0 else 0.0
    if pa == 0.0:
        return -mean_r
    return (mean_a * pa - mean_r * pr) / (pa + pr)


@njit(inline="always", **_JIT_PURE)
def _capped(ring, at, col):
    """Row ``at``'s maximum frequency in column ``col`` of the ring, at most ``PEAK_MEAN_X``
    times its mean frequency: a candidate's value (:func:`_peak_value`), and the value the
    beat's rows hold that are no candidate before one that is (:func:`_measure`)."""
    return min(np.float64(ring[at, col]), PEAK_MEAN_X * np.float64(ring[at, col + 1]))


@njit(inline="always", **_JIT_PURE)
def _hold(ring, at, col, pk, held, mean):
    """The maximum and mean frequency row ``at`` gives a beat's levels in column ``col``
    of the ring (and ``col + 1``): its own where its maximum is a candidate for the PSV
    (``pk``, :func:`_peak_value`, at least 0), else ``held`` and ``mean``, those of the
    last row that was."""
    if pk >= 0.0:
        return pk, np.float64(ring[at, col + 1])
    return held, mean


@njit(inline="always", **_JIT_PURE)
def _psv_step(a, b, c, psv, top):
    """The PSV so far after the row of candidate ``b`` (:func:`_peak_value`; ``a`` and ``c``
    its neighbours'): the mean of the three, or of those of them that are candidates
    (none without ``b``), where it is higher.  ``top`` is the sum of three rows whose mean
    is the PSV (a sum not over it has no higher mean: only a higher one is divided; -3
    where the PSV is no such mean).  Returns ``psv, top`` and whether the PSV rose."""
    if b < 0.0:
        return psv, top, False
    if a >= 0.0 and c >= 0.0:
        sum3 = a + b + c
        if sum3 > top:
            mean3 = sum3 / 3.0
            if mean3 > psv:
                return mean3, sum3, True
        return psv, top, False
    total = b + max(a, 0.0) + max(c, 0.0)
    mean = total / (1.0 + (a >= 0.0) + (c >= 0.0))
    if mean > psv:
        return mean, -3.0, True
    return psv, top, False


@njit(inline="always", **_JIT_PURE)
def _phase(s, end, run_sign, run, phases, last_sign, min_phase):
    """One row of sign ``s`` through :func:`_measure`'s count of flow phases (``end``:
    past the beat's last row); returns the new ``run_sign, run, phases, last_sign``."""
    if not end and (s == 0 or s == run_sign):
        return run_sign, run + (1 if s != 0 else 0), phases, last_sign
    if run_sign != 0 and run >= min_phase and run_sign != last_sign:
        phases += 1
        last_sign = run_sign
    return s, 1, phases, last_sign


@njit(inline="always", **_JIT_PURE)
def _middle(buf, k):
    """Median of ``buf[:k]``, sorted in place by insertion (a beat's tail is a few dozen
    rows; ``buf.sort()`` would compile numba's quicksort, some ten functions)."""
    for q in range(1, k):
        _insert_sorted(buf, q, buf[q])
    return buf[k // 2] if k % 2 else 0.5 * (buf[k // 2 - 1] + buf[k // 2])


@njit(inline="always", **_JIT_PURE)
def _edv_stretch(buf, k):
    """The median of ``buf[:k]`` (a beat's last stretch, a row apart) and the slope of its
    resistant line (Tukey's: through the medians of its first and last third), per row
    (NaN under three values); ``buf`` is reordered in place.

    The median is the velocity at the stretch's middle, some 0.08 of a cycle before the
    end of diastole, where the flow still slows on most arteries; the slopes of the
    recording's beats carry it on to the end (:func:`~.summary._carry_edv`)."""
    if k < 3:
        return _middle(buf, k), np.nan
    t = k // 3
    first = _middle(buf, t)
    last = _middle(buf[k - t:], t)
    return _middle(buf, k), (last - first) / (k - t)


@njit(**_JIT_PURE)
def _measure_both(ring, rn, o0, o1, min_phase, edv_rows, out, buf0, buf1):
    """:func:`_measure` of a directional beat for both antegrade hypotheses in one pass
    over its rows, into ``out[REC_HEAD:REC_HEAD + 2 * M_WIDTH]``; ``buf0`` and ``buf1``
    are room for the two EDVs.

    The hypotheses share the rows, the flow powers and the mean velocity's weighting:
    one's forward integral is the other's reverse one, and a row's TAV term of one is
    minus the other's (``a - b`` is exactly ``-(b - a)`` and ``a + b`` is ``b + a``; a
    zero's sign cannot show in a sum that starts at +0), so each row divides once.
    The values are those of :func:`_measure`, bit for bit.
    """
    i0 = int(math.ceil(o0))
    i1 = int(math.ceil(o1))  # rows i0 .. i1 - 1
    n = i1 - i0
    for m in range(2 * M_WIDTH):
        out[REC_HEAD + m] = np.nan
    if n < 3:
        return
    skip = int(round(edv_rows))
    e0 = i1 - max(skip + 1, int(EDV_SPAN * n))
    e1 = i1 - skip
    # a beat of under four rows starts its EDV span before its first row, whose places
    # _measure leaves as they were: the same for either hypothesis
    for q in range(min(max(0, i0 - e0), e1 - e0)):
        buf1[q] = buf0[q]
    psv0, peak0, tamv0, tav0, fwd0 = -1.0, i0, 0.0, 0.0, 0.0
    psv1, peak1, tamv1, tav1, fwd1 = -1.0, i0, 0.0, 0.0, 0.0
    top0 = top1 = -3.0  # see _measure: only a higher sum of three rows is divided
    sign0, run0, phases0, last0 = 0, 0, 0, 0
    sign1, run1, phases1, last1 = 0, 0, 0, 0
    urn = np.uint64(rn)  # unsigned rows: see _measure
    before = np.uint64((i0 - 1) % rn)
    prev0, prev1 = _peak_value(ring, before, 0), _peak_value(ring, before, 3)
    held0, held1 = _capped(ring, before, 0), _capped(ring, before, 3)
    mean0, mean1 = np.float64(ring[before, 1]), np.float64(ring[before, 4])
    at = np.uint64(i0 % rn)
    next0, next1 = np.float64(ring[at, 0]), np.float64(ring[at, 3])
    npk0, npk1 = _peak_value(ring, at, 0), _peak_value(ring, at, 3)
    for i in range(i0, i1 + 1):
        s0 = s1 = 0
        end = i == i1
        if not end:
            nxt = _next_row(at, urn)
            f0, f1 = next0, next1
            pk0, pk1 = npk0, npk1
            next0, next1 = np.float64(ring[nxt, 0]), np.float64(ring[nxt, 3])
            npk0, npk1 = _peak_value(ring, nxt, 0), _peak_value(ring, nxt, 3)
            psv0, top0, up = _psv_step(prev0, pk0, npk0, psv0, top0)
            if up:
                peak0 = i
            psv1, top1, up = _psv_step(prev1, pk1, npk1, psv1, top1)
            if up:
                peak1 = i
            prev0, prev1 = pk0, pk1
            held0, mean0 = _hold(ring, at, 0, pk0, held0, mean0)
            held1, mean1 = _hold(ring, at, 3, pk1, held1, mean1)
            fwd0 += held0
            fwd1 += held1
            p0 = np.float64(ring[at, 2]) if f0 > 0 else 0.0
            p1 = np.float64(ring[at, 5]) if f1 > 0 else 0.0
            v0 = -held1 if p1 > p0 else held0
            v1 = -held0 if p0 > p1 else held1
            if p0 + p1 > 0:
                q = _mean_velocity(mean0, p0, mean1, p1)
                tav0 += q
                tav1 += -q
            tamv0 += v0
            tamv1 += v1
            if e0 <= i < e1:
                buf0[i - e0] = v0
                buf1[i - e0] = v1
            s0 = 1 if v0 > 0 else (-1 if v0 < 0 else 0)
            s1 = 1 if v1 > 0 else (-1 if v1 < 0 else 0)
            at = nxt
        sign0, run0, phases0, last0 = _phase(s0, end, sign0, run0, phases0, last0, min_phase)
        sign1, run1, phases1, last1 = _phase(s1, end, sign1, run1, phases1, last1, min_phase)
    k = e1 - e0
    for h in range(2):
        col = REC_HEAD + h * M_WIDTH
        out[col + M_PSV] = max(psv0 if h == 0 else psv1, 0.0)
        out[col + M_PEAK] = peak0 if h == 0 else peak1
        out[col + M_EDV], out[col + M_EDV_SLOPE] = _edv_stretch(buf0 if h == 0 else buf1, k)
        out[col + M_EDV_REACH] = o1 - e0 - 0.5 * (k - 1)
        out[col + M_TAMV] = (tamv0 if h == 0 else tamv1) / n
        out[col + M_TAV] = (tav0 if h == 0 else tav1) / n
        out[col + M_FWD] = fwd0 if h == 0 else fwd1
        out[col + M_REV] = fwd1 if h == 0 else fwd0
        out[col + M_PHASES] = min(phases0 if h == 0 else phases1, 3)


@njit(**_JIT_PURE)
def _floor_level(state, params):
    """The power channel's floor: ``POWER_FLOOR`` times its running mean (0: none yet)."""
    w = state[2, S_PMEAN + 1]
    return params[P_FLOOR] * state[2, S_PMEAN] / w if w > 0 else 0.0


@njit(**_JIT_PURE)
def _record(c, onset, centre, evidence, period, periodicity, next_onset, ring, rn, params, rec,
            work):
    """One beat's record: head and the measures for the antegrade directions the channel
    serves (the max envelope of a direction: that direction; the power: either, or the
    one given); ``work[5]`` is room for :func:`_measure` (and ``work[3]``, no longer
    needed by the beat's smoothing, for :func:`_measure_both`)."""
    rec[R_CHANNEL] = c
    rec[R_ONSET] = onset
    rec[R_CENTRE] = centre
    rec[R_EVIDENCE] = evidence
    rec[R_PERIOD] = period
    rec[R_PERIODICITY] = periodicity
    rec[R_RR] = next_onset - onset
    direction = params[P_DIRECTION] > 0
    skip = int(params[P_SKIP])
    if c == 2 and direction and skip < 0 and not np.isnan(next_onset):
        # the power serves either direction: both measured in one pass
        _measure_both(ring, rn, onset, next_onset, params[P_MIN_PHASE], params[P_EDV], rec,
                      work[5], work[3])
        return
    for h in range(2):
        col = REC_HEAD + h * M_WIDTH
        if np.isnan(next_onset) or (c < 2 and h != c) or h == skip:
            for m in range(M_WIDTH):
                rec[col + m] = np.nan
        else:
            _measure(ring, rn, onset, next_onset, h, direction, params[P_MIN_PHASE],
                     params[P_EDV], rec, col, work[5])

