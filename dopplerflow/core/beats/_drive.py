"""Kernels of the beat stage: the drive, its autocorrelation and period; the breathing filter.

Per 30 ms step, each channel's mean signal becomes the *drive* (:func:`_step`: the
slow baseline taken off, divided by the running rms), which feeds an exponentially
forgetting autocorrelation (:func:`_correlate`); :func:`_period` reads the beat period
and the periodicity off it.  :func:`_breathe` runs the respiratory band-pass on each
direction's maximum frequency.
"""

import math

import numpy as np
from numba import njit

from .._numba import _JIT_PURE
from .constants import (
    C_BREATHS,
    P_BASE_BETA,
    P_BREATH_SETTLE,
    P_BREATH_STEP,
    P_FLOOR_VAR_DB,
    P_FLOOR_VAR_HZ,
    P_VAR_BETA,
    S_BASE,
    S_VAR,
)


def _biquad(kind, f_hz, fs_hz):
    """A second-order Butterworth section (RBJ cookbook): ``[b0, b1, b2, 1, a1, a2]``."""
    w = 2.0 * math.pi * f_hz / fs_hz
    alpha = math.sin(w) / math.sqrt(2.0)
    cw = math.cos(w)
    b = (np.array([1 - cw, 2 * (1 - cw), 1 - cw]) / 2 if kind == "low"
         else np.array([1 + cw, -2 * (1 + cw), 1 + cw]) / 2)
    a = np.array([1 + alpha, -2 * cw, 1 - alpha])
    return np.concatenate((b / a[0], a / a[0]))


@njit(inline="always", **_JIT_PURE)
def _ema(state, c, col, value, beta):
    """Bias-corrected exponential mean in ``state[c, col]`` (its weight in ``col + 1``):
    update with ``value`` and return it."""
    state[c, col] = (1.0 - beta) * state[c, col] + beta * value
    state[c, col + 1] = (1.0 - beta) * state[c, col + 1] + beta
    return state[c, col] / state[c, col + 1]


@njit(inline="always", **_JIT_PURE)
def _wrap(i, n):
    """``i % n`` for ``-n <= i < 2 n``, without a division."""
    if i >= n:
        return i - n
    if i < 0:
        return i + n
    return i


@njit(inline="always", **_JIT_PURE)
def _next_row(at, rn):
    """The ring's row after row ``at`` of ``rn``, both unsigned integers: a row index numba
    need not check for a negative value and wrap (some instructions an access fewer in
    the loops over rows)."""
    at += np.uint64(1)
    return at if at < rn else np.uint64(0)


@njit(inline="always", **_JIT_PURE)
def _step(c, j, at, p, value, state, steps, hist, n_lags, params):
    """Close step ``j`` of channel ``c`` with its mean signal ``value`` (NaN: none yet):
    its drive, returned and kept for the autocorrelation (:func:`_correlate`).  ``at``
    is ``j`` modulo the steps kept and ``p`` the drive's place in ``hist`` (found once a
    step for all channels).  ``hist`` holds each channel's drive of the last ``n_lags``
    steps newest first, twice over (``hist[c, p + k]`` is the drive ``k`` steps back for
    every lag ``k``), so that the autocorrelation's loop reads it forward, on vectors."""
    dn = steps.shape[2]
    x = 0.0
    if np.isnan(value):
        value = steps[0, c, _wrap(at - 1, dn)] if j > 0 else 0.0
    else:
        dev = value - _ema(state, c, S_BASE, value, params[P_BASE_BETA])
        var = _ema(state, c, S_VAR, dev * dev, params[P_VAR_BETA])
        x = dev / math.sqrt(var + params[P_FLOOR_VAR_HZ if c < 2 else P_FLOOR_VAR_DB])
    u, v = np.uint64(at), np.uint64(p)  # (unsigned: no check for a negative index)
    steps[0, c, u] = value
    steps[1, c, u] = x
    hist[c, v] = x
    hist[c, v + np.uint64(n_lags)] = x
    return x


@njit(inline="always", **_JIT_PURE)
def _correlate(acf, hist, p, x0, x1, x2, beta):
    """The exponentially forgetting autocorrelation of the three channels' drives, with
    the drives ``x0, x1, x2`` of the step just closed (a channel not searched: 0, and its
    autocorrelation stays 0).  The three channels run in one loop (one loop's overhead a
    step, not three), over every lag ``acf`` has room for: its lags past the autocorrelation's
    (to a multiple of 8, so the loop runs on whole vectors) are never read, and a lag past
    the steps so far reads a drive not yet written (0) and stays 0."""
    keep = 1.0 - beta
    bx0, bx1, bx2 = beta * x0, beta * x1, beta * x2
    a0, a1, a2 = acf[0], acf[1], acf[2]
    lags = acf.shape[1]
    h0, h1, h2 = hist[0, p:p + lags], hist[1, p:p + lags], hist[2, p:p + lags]
    for k in range(lags):
        a0[k] = keep * a0[k] + bx0 * h0[k]
        a1[k] = keep * a1[k] + bx1 * h1[k]
        a2[k] = keep * a2[k] + bx2 * h2[k]


@njit(inline="always", **_JIT_PURE)
def _least(a, first, end, start):
    """The least of ``start`` and ``a[first:end]`` (``0 <= first``), taken four ways at once
    (the minimum of finite values is the same in any order; one running minimum would
    wait on each comparison in turn).  The indices are unsigned integers: numba need not
    check them for a negative value (and wrap it)."""
    m0 = m1 = m2 = m3 = start
    one, four = np.uint64(1), np.uint64(4)
    i, e = np.uint64(first), np.uint64(end)
    while i + four <= e:
        m0 = min(m0, a[i])
        m1 = min(m1, a[i + one])
        m2 = min(m2, a[i + np.uint64(2)])
        m3 = min(m3, a[i + np.uint64(3)])
        i += four
    while i < e:
        m0 = min(m0, a[i])
        i += one
    return min(min(m0, m1), min(m2, m3))


@njit(**_JIT_PURE)
def _prominence(acf, k):
    """How far the local maximum ``acf[k]`` stands over the lower of the troughs that part
    it from the lags half and one and a half times as long."""
    top = acf[np.uint64(k)]
    left = _least(acf, k // 2, k, top)
    right = _least(acf, k + 1, min(acf.shape[0], k + k // 2 + 1), top)
    return top - max(left, right)


@njit(**_JIT_PURE)
def _period(acf, lo, hi, sub):
    """Period (lags, interpolated) and periodicity of an autocorrelation ``acf``.

    The local maximum in ``[lo, hi)`` with the highest sum of its height and how far
    it stands out (:func:`_prominence`): a slow drift of the drive lifts the
    autocorrelation of every short lag, not the peak of the period.  A local
    maximum near half or a third of its lag scoring at least ``sub`` times as much
    is taken instead.  The periodicity is the autocorrelation at the period over
    that at lag 0.  (The lags, at least 1, are read as unsigned integers: see
    :func:`_least`.)
    """
    if acf[0] <= 0.0:
        return 0.0, 0.0
    one = np.uint64(1)
    # the least autocorrelation any prominence can reach down to: a local maximum whose
    # height over it, added to its height, cannot beat the best so far is not measured
    least = _least(acf, lo // 2 + 1, min(acf.shape[0], hi + hi // 2),
                   acf[np.uint64(lo // 2)])
    best = -1
    best_p = 0.0
    for k in range(lo, hi):
        u = np.uint64(k)
        y = acf[u]
        if y >= acf[u - one] and y > acf[u + one]:
            if best >= 0 and y + (y - least) <= best_p:
                continue
            p = y + _prominence(acf, k)
            if best < 0 or p > best_p:
                best = k
                best_p = p
    if best < 0:
        return 0.0, 0.0
    for div in (3, 2):
        target = best / div
        a = max(lo, int(target * 0.85))
        b = min(hi - 1, int(target * 1.15) + 1)
        # (a maximum whose height over ``least`` cannot reach the score is not measured)
        for k in range(a, b + 1):
            u = np.uint64(k)
            y = acf[u]
            if y >= acf[u - one] and y > acf[u + one] and \
                    y + (y - least) >= sub * best_p and \
                    y + _prominence(acf, k) >= sub * best_p:
                best = k
                break
        else:
            continue
        break
    at = np.uint64(best)
    y0, y1, y2 = acf[at - one], acf[at], acf[at + one]
    den = y0 - 2.0 * y1 + y2
    shift = 0.5 * (y0 - y2) / den if den < 0.0 else 0.0
    return best + shift, max(0.0, y1 / acf[0])


@njit(**_JIT_PURE)
def _breathe(breath, sos, zi, step_zi, count, params):
    """Close a breathing step: each direction's mean maximum frequency over it through the
    band-pass; its square and the mean summed once the filter has settled."""
    n = params[P_BREATH_STEP]
    for d in range(2):
        x = breath[d, 0] / n
        breath[d, 0] = 0.0
        if count[C_BREATHS] == 0:
            for s in range(sos.shape[0]):
                zi[d, s, 0] = step_zi[s, 0] * x
                zi[d, s, 1] = step_zi[s, 1] * x
        y = x
        for s in range(sos.shape[0]):
            out = sos[s, 0] * y + zi[d, s, 0]
            zi[d, s, 0] = sos[s, 1] * y - sos[s, 4] * out + zi[d, s, 1]
            zi[d, s, 1] = sos[s, 2] * y - sos[s, 5] * out
            y = out
        if count[C_BREATHS] >= params[P_BREATH_SETTLE]:
            breath[d, 1] += 1.0
            breath[d, 2] += x
            breath[d, 3] += y * y
    count[C_BREATHS] += 1

