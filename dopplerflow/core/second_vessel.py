"""Second-vessel stage: a persistent vessel flowing the retrograde way beside the vein.

See :mod:`dopplerflow.core.second_vessel` wrappers below and their kernels at the end
of this module.
"""


import numpy as np
from numba import njit

from ._numba import _JIT, _sum3, _walk_out
from .envelopes import _envelopes


# --------------------------------------------------------------------------- kernels
@njit(**_JIT)
def _clear_persistent(env, i, r, b, ratio):
    """Row ``i`` of ``env``: direction ``r`` keeps only the power in excess of the
    persistent vessel's ``b``; rows whose excess is not a ``ratio`` step over ``b``
    have no flow in ``r``."""
    if env[i, r, 0] > 0 and env[i, r, 3] > ratio * b:
        env[i, r, 3] -= b
    else:
        env[i, r, 0] = 0.0
        env[i, r, 1] = 0.0
        env[i, r, 2] = 0.0
        env[i, r, 3] = 0.0


@njit(**_JIT)
def _excess_edge(spec, i, nz, st, sp, cnt, ceil, dir_start, dir_step, dir_count, dir_f0, bin_hz,
                 t_high, t_low, min_run, method, row, one_noise, out1):
    """Envelope of the band that stands above a persistent vessel's ceiling in one direction.

    Each bin of row ``i`` of ``spec`` loses the persistent vessel's highest
    level seen in it (``ceil``, per three-bin sum, so a third of it a bin);
    the excess is cut two bins (the window's main lobe) past the end of its
    first run, from the bottom, of three-bin sums above the detection
    threshold and above a tenth of its peak (fainter is the persistent
    vessel's speckle passing its ceiling, as the envelope's own skirt rule;
    a vessel's spectrum has no gap, so excess beyond a gap is the persistent
    vessel's speckle too), and the envelope rule runs on what is left.
    ``dir_count`` holds ``cnt`` for this direction and 0 for the other, whose
    bins are neither written nor read.  ``row`` (1, n_bins) float32 and
    ``one_noise`` (1,) are scratch; ``out1`` (1, 2, 4) receives the envelopes
    (only the direction of ``st`` is meaningful).
    """
    for j in range(cnt):
        row[0, st + sp * j] = max(spec[i, st + sp * j] - ceil[j] / 3.0, 0.0)
    peak = 0.0
    for j in range(cnt):
        peak = max(peak, _sum3(row, 0, st, sp, cnt, j))
    level = max(t_high * nz, 0.1 * peak)
    # a vessel's spectrum runs without a gap from its slowest to its fastest cells: the
    # band is the first run above the level, from the bottom (one-bin gaps bridged)
    top = -1
    for j in range(cnt - 1):
        if _sum3(row, 0, st, sp, cnt, j) > level:
            top = _walk_out(row, 0, st, sp, cnt, j, level)
            break
    for j in range(top + 3, cnt):
        row[0, st + sp * j] = 0.0
    one_noise[0] = nz
    _envelopes(row, one_noise, dir_start, dir_step, dir_count, dir_f0, bin_hz, t_high, t_low,
               min_run, method, out1)


@njit(**_JIT)
def _concurrent(env, i, dir_f0, bin_hz):
    """Row ``i`` of ``env`` has flow both ways that one vessel cannot show (see
    ``_second_vessel``): both directions detected, not a mirror image (maximum
    frequencies more than two bins apart) and not window leakage (both reaching
    further than two bins past the wall band)."""
    return (env[i, 0, 0] > 0 and env[i, 1, 0] > 0
            and abs(env[i, 0, 1] - env[i, 1, 1]) > 2.0 * bin_hz
            and env[i, 0, 1] > dir_f0[0] + 2.0 * bin_hz
            and env[i, 1, 1] > dir_f0[1] + 2.0 * bin_hz)


@njit(**_JIT)
def _two_vessels(env, valid, beta, fraction, dir_f0, bin_hz, row0, state):
    """Watch for a persistent second vessel, without separating it.

    With the antegrade direction unknown, either direction may hold the vessel
    under study.  The running fraction of rows with concurrent flow
    (``_concurrent``; weight ``beta`` a row) is kept as ``_second_vessel`` keeps
    it; the first row at which it passes ``fraction`` is noted.

    Parameters
    ----------
    env : ndarray, shape (n, 2, 4), float64
        Envelope rows (``_envelopes``).
    valid : ndarray, shape (n,), bool
        False for rows not analysed: they count as not concurrent.
    beta, fraction : float
        As ``_second_vessel``.
    dir_f0, bin_hz
        As ``_envelopes``.
    row0 : int
        Index of ``env[0]`` in the whole stream.
    state : ndarray, shape (2,), float64
        The running fraction, and the first row at which it passed
        ``fraction`` plus one (0: not yet).  Updated in place.
    """
    for i in range(env.shape[0]):
        conc = valid[i] and _concurrent(env, i, dir_f0, bin_hz)
        state[0] += beta * ((1.0 if conc else 0.0) - state[0])
        if state[1] == 0 and state[0] > fraction:
            state[1] = row0 + i + 1


@njit(**_JIT)
def _second_vessel(env, spec, noise, ahead, r, alpha, beta, fraction, lost_rows, ratio, outlier,
                   gap_rows, dir_start, dir_step, dir_count, dir_f0, bin_hz, t_high, t_low,
                   min_run, method, ceil, row0, state):
    """Separate a persistent vessel in direction ``r`` from the vessel under study.

    The vessel under study cannot flow both ways at once: retrograde flow
    detected in the same frames as antegrade flow belongs to another vessel in
    the beam (at the neck, the carotid beside the jugular vein), however loud,
    unless its maximum frequency is within two bins of the antegrade one (a
    mirror image, from I/Q imbalance, has its source's spectrum) or either
    direction reaches no further than two bins past the wall band (the
    window's main lobe: strong flow leaking across zero at a high SNR).  Once
    such concurrent frames make up more of the recent frames than a single
    vessel can show (their running fraction over about a cardiac cycle,
    ``1 / beta`` rows, passes ``fraction``: a single vessel shows both
    directions only while its flow reverses), a persistent vessel is
    established in direction ``r``.  Its power ``b`` is the running mean of
    the retrograde power over the concurrent frames only (time constant
    ``1 / alpha`` rows, whole cardiac cycles), so it is frozen while the
    vessel under study is still or itself retrograde (sums of both
    directions' power over all concurrent frames tell how loud it is against
    the vessel under study, and counts of the frames in which it falls silent
    whether it is pulsatile); its ceiling, per bin, is the highest three-bin
    sum above the noise it reached in those frames, decaying with the same
    time constant (over whole cardiac cycles it holds the systolic spectrum of
    an artery).

    While it is established, direction ``r`` of each row keeps only the
    power in excess of ``b``, and only where the power stands ``ratio`` times
    above ``b`` (the vessel under study joining it in that direction); other
    rows show no flow in ``r``.  In the rows kept, the maximum and mean
    frequency are those of the band standing above the ceiling
    (``_excess_edge``), not the persistent vessel's outer edge; a row with no
    such band shows no flow in ``r``.  The
    persistent vessel is dropped once no flow is detected in ``r`` for more
    than ``lost_rows``.

    Parameters
    ----------
    env : ndarray, shape (n, 2, 4), float64
        Envelope rows (``_envelopes``), changed in place.
    spec : ndarray, shape (n, n_bins), float32
        The time-averaged spectra of the rows.
    noise : ndarray, shape (n,), float64
        Noise level of each row.
    ahead : ndarray, shape (n, 2, 4), float64
        Provisional next rows (see ``_reflux``), their power cleared with the
        state after the row they follow; may be empty.
    r : int
        The retrograde direction.
    alpha : float
        Weight of a new row in the running statistics of the persistent
        vessel's power and ceiling (hop / time constant).
    beta : float
        Weight of a new row in the running fraction of concurrent rows.
    fraction : float
        Share of concurrent rows that establishes the persistent vessel.
    lost_rows : int
        Rows without flow in ``r`` that end the persistent vessel.
    ratio : float
        Power step over ``b`` that shows the vessel under study in ``r``.
    outlier : float
        A concurrent row with more than ``outlier`` times ``b`` in ``r`` is a
        transient (a knock on the probe, a cable), left out of the statistics.
    gap_rows : int
        Longest gap an episode bridges, rows: the rows in which the vessel
        under study flows while direction ``r`` stays empty for longer are
        counted (a pulsatile vessel's diastole, where a reflux would stand
        alone).
    dir_start ... method
        As ``_envelopes``.
    ceil : ndarray, shape (dir_count[r],), float64
        Per outward bin of ``r``: the ceiling.  Updated in place.
    row0 : int
        Index of ``env[0]`` in the whole stream.
    state : ndarray, shape (12,), float64
        Concurrent fraction, running sums of weight and of power over
        concurrent rows, established (0/1), rows since flow in ``r``; the
        row at which a persistent vessel was first established (0: not yet)
        and its power ``b`` then; the sums over all concurrent rows of the
        power in ``1 - r`` (the vessel under study) and in ``r``; once ``b``
        is known, the rows with flow in ``1 - r``, the run of them with none
        in ``r`` under way, and the rows of such runs longer than
        ``gap_rows``.  Updated in place.
    """
    st = dir_start[r]
    sp = dir_step[r]
    cnt = dir_count[r]
    row = np.empty((1, spec.shape[1]), np.float32)
    one_noise = np.empty(1)
    out1 = np.empty((1, 2, 4))
    only_r = np.zeros_like(dir_count)  # the excess band's envelope in direction r alone
    only_r[r] = cnt
    for i in range(env.shape[0]):
        det_r = env[i, r, 0] > 0
        if env[i, 1 - r, 0] > 0 and state[1] > 0.0:
            # the vessel under study flows: is the persistent one silent here, for longer
            # than a gap a reflux could bridge?
            state[9] += 1.0
            state[10] = 0.0 if det_r else state[10] + 1.0
            if state[10] == gap_rows + 1:
                state[11] += gap_rows + 1
            elif state[10] > gap_rows + 1:
                state[11] += 1.0
        else:
            state[10] = 0.0
        conc = _concurrent(env, i, dir_f0, bin_hz)
        state[0] += beta * ((1.0 if conc else 0.0) - state[0])
        if conc and state[1] > 0.0 and env[i, r, 3] > outlier * state[2] / state[1]:
            conc = False  # a transient (a knock on the probe), not the persistent vessel
        if conc:
            state[1] += alpha * (1.0 - state[1])
            state[2] += alpha * (env[i, r, 3] - state[2])
            state[7] += env[i, 1 - r, 3]
            state[8] += env[i, r, 3]
            for j in range(cnt):
                ceil[j] = max(ceil[j] - alpha * ceil[j],
                              _sum3(spec, i, st, sp, cnt, j) - 3.0 * noise[i])
        state[4] = 0.0 if det_r else state[4] + 1.0
        if state[3] == 0 and state[0] > fraction and state[1] > 0:
            state[3] = 1.0
            if state[5] == 0:
                state[5] = row0 + i
                state[6] = state[2] / state[1]
        elif state[3] > 0 and state[4] > lost_rows:
            state[3] = 0.0
        if state[3] > 0:
            b = state[2] / state[1]
            _clear_persistent(env, i, r, b, ratio)
            if i < ahead.shape[0]:
                _clear_persistent(ahead, i, r, b, ratio)
            if env[i, r, 0] > 0 and cnt >= 3:
                _excess_edge(spec, i, noise[i], st, sp, cnt, ceil, dir_start, dir_step,
                             only_r, dir_f0, bin_hz, t_high, t_low, min_run, method, row,
                             one_noise, out1)
                if out1[0, r, 0] > 0:
                    env[i, r, 1] = out1[0, r, 1]
                    env[i, r, 2] = out1[0, r, 2]
                else:
                    # no band stands above the ceiling: the vessel under study does not show
                    for k in range(4):
                        env[i, r, k] = 0.0


@njit(**_JIT)
def _clear_rows(env, start, end, r, b, ratio):
    """``_clear_persistent`` on rows ``start .. end - 1`` of ``env`` (clipped to it)."""
    for i in range(max(start, 0), min(end, env.shape[0])):
        _clear_persistent(env, i, r, b, ratio)
