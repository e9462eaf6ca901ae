"""Kernel of the beat result: the per-beat columns and the clean flags, from the records.

:func:`_beat_columns` turns the records of the channel read (time order, one beat a
cycle) into the columns of :class:`~.summary.Beats` in seconds and cm/s and flags the
clean beats, in one pass over the beats instead of some forty array operations on a
few dozen values each.  Every value is computed with the same operations in the same
order as the array expressions it replaces (IEEE arithmetic, no logarithm), so the
columns are the same bit for bit.
"""

import math

import numpy as np
from numba import njit

from .._numba import _JIT_PURE, _insert_sorted
from .constants import (
    M_EDV,
    M_FWD,
    M_PEAK,
    M_PHASES,
    M_PSV,
    M_REV,
    M_TAMV,
    M_TAV,
    M_WIDTH,
    MIN_EVIDENCE,
    R_EVIDENCE,
    R_ONSET,
    R_RR,
    REC_HEAD,
    RR_TOLERANCE,
)

# rows of the kernel's output, in the order of ``Beats.COLUMNS``
(B_ONSET, B_PEAK, B_RR, B_HR, B_PSV, B_EDV, B_TAMV, B_TAV, B_RI, B_PI, B_SD, B_ACC, B_SHARE,
 B_PHASES, B_CLEAN) = range(15)
B_WIDTH = 15


@njit(**_JIT_PURE)
def _beat_columns(tab, h, direction, hop, t0, scale, period_ok, unanalysed, lines, reach,
                  win, out):
    """The per-beat columns of the records ``tab`` ``(k, REC_WIDTH)`` with antegrade
    hypothesis ``h``, into ``out`` ``(B_WIDTH, k)``.

    Parameters
    ----------
    tab : ndarray, shape (k, REC_WIDTH)
        The records of the channel read, in time order.
    h : int
        The measures' antegrade hypothesis (0 toward, 1 away).
    direction : bool
        The layout tells the direction (else no reverse-flow share, no phases).
    hop, t0 : float
        Time between rows and of row 0, s.
    scale : float
        Doppler scale, cm/s per Hz.
    period_ok : ndarray of bool, shape (k,)
        Beats decided with a period near the recording's usual one.
    unanalysed : ndarray, shape (u, 2)
        Row ranges not analysed.
    lines : ndarray, shape (n,)
        The tonal lines the recording holds on the antegrade side of ``h``, ``|Hz|``.
    reach : float
        How near a line a velocity stands on it, Hz.
    win : ndarray, shape (5,)
        Room for the intervals around a beat.
    out : ndarray, shape (B_WIDTH, k)
        The columns (``B_*`` rows; phases and the clean flag as 0/1 floats).

    Returns
    -------
    n_clean, complete, mono, bi, tri : int
        The clean beats, the complete ones (a finite interval), and the clean beats of
        one, two and three flow phases.

    Notes
    -----
    A beat is clean when its interval is known, it has a clear pulse, PSV over 0 and
    not under its EDV nor its TAMV, a period near the usual one, an interval within
    ``RR_TOLERANCE`` of the median of the (up to) five intervals around it (the last,
    open one left out), no row not analysed from its onset to the next beat's peak
    (the rows that place the next onset, which ends its interval), and neither its PSV
    nor its EDV within ``reach`` of a tonal line: a weak line is known only seconds
    after it began, and the envelope stood on it until then.
    """
    k = tab.shape[0]
    col = REC_HEAD + h * M_WIDTH
    nan = np.nan
    n_clean = complete = mono = bi = tri = 0
    for i in range(k):
        onset_row = tab[i, R_ONSET]
        rr_rows = tab[i, R_RR]
        rr = rr_rows * hop
        psv = tab[i, col + M_PSV] * scale
        edv = tab[i, col + M_EDV] * scale
        tamv = tab[i, col + M_TAMV] * scale
        out[B_ONSET, i] = t0 + onset_row * hop
        out[B_PEAK, i] = t0 + tab[i, col + M_PEAK] * hop
        out[B_RR, i] = rr
        out[B_HR, i] = 60.0 / rr
        out[B_PSV, i] = psv
        out[B_EDV, i] = edv
        out[B_TAMV, i] = tamv
        out[B_TAV, i] = tab[i, col + M_TAV] * scale
        out[B_RI, i] = (psv - edv) / psv
        out[B_PI, i] = (psv - edv) / tamv if tamv > 0 else nan
        out[B_SD, i] = psv / edv if edv > 0 else nan
        out[B_ACC, i] = (tab[i, col + M_PEAK] - onset_row) * hop
        if direction:
            fwd, rev = tab[i, col + M_FWD], tab[i, col + M_REV]
            out[B_SHARE, i] = rev / (fwd + rev)
            ph = tab[i, col + M_PHASES]
            out[B_PHASES, i] = 0.0 if np.isnan(ph) else float(int(ph))
        else:
            out[B_SHARE, i] = nan
            out[B_PHASES, i] = 0.0
        # (a beat's peak is its highest velocity: an EDV or TAMV over it was read on
        # something else)
        ok = (math.isfinite(rr) and tab[i, R_EVIDENCE] >= MIN_EVIDENCE and psv > 0
              and edv <= psv and tamv <= psv and period_ok[i])
        if ok and i < k - 1:
            # the median of the finite intervals among the five around it, sorted
            cnt = 0
            for q in range(max(0, i - 2), min(k - 1, i + 3)):
                v = tab[q, R_RR] * hop
                if math.isfinite(v):
                    _insert_sorted(win, cnt, v)
                    cnt += 1
            near = 0.5 * (win[(cnt - 1) // 2] + win[cnt // 2]) if cnt else nan
            ok = abs(rr / near - 1.0) <= RR_TOLERANCE
        if ok:
            for u in range(lines.shape[0]):
                if (abs(tab[i, col + M_PSV] - lines[u]) <= reach
                        or abs(tab[i, col + M_EDV] - lines[u]) <= reach):
                    ok = False
                    break
        if ok:
            # the rows of the beat, and those that place the next onset (up to its peak)
            first = math.floor(onset_row)
            end = onset_row + rr_rows
            if i < k - 1:
                end = max(end, tab[i + 1, col + M_PEAK])
            end = math.ceil(end)
            for u in range(unanalysed.shape[0]):
                if first < unanalysed[u, 1] and end > unanalysed[u, 0]:
                    ok = False
                    break
        out[B_CLEAN, i] = 1.0 if ok else 0.0
        complete += math.isfinite(rr)
        if ok:
            n_clean += 1
            ph = out[B_PHASES, i]
            mono += ph == 1.0
            bi += ph == 2.0
            tri += ph == 3.0
    return n_clean, complete, mono, bi, tri
