"""The beat stage: :class:`BeatTracker`, and its kernel over the stored rows.

:class:`BeatTracker` takes the final stored rows of a stream in stream order, any
number at a time, and hands them to :func:`_beat_rows`, which keeps the ring of rows,
makes each channel's steps (:mod:`._drive`), decides the beats (:mod:`._chain`) and
measures them (:mod:`._measure`).  Its reading methods give what a live display shows
(onsets so far, heart rate) and what :func:`~.summary.beat_result` reads at the end.
"""

import functools
import math

import numpy as np
from numba import njit

from .. import _design
from .._numba import _JIT_PURE
from ._chain import _decide
from ._drive import _biquad, _breathe, _correlate, _ema, _next_row, _step, _wrap
from .constants import (
    ACF_TAU_S,
    ALPHA,
    BASELINE_TAU_S,
    BREATH_BAND_HZ,
    BREATH_MIN_S,
    BREATH_PRESENT,
    BREATH_REDUCED,
    BREATH_SETTLE_S,
    BREATH_STEP_S,
    C_ROWS,
    C_STEPS,
    CHANNEL_MARGIN,
    DRIVE_CLIP,
    DRIVE_FLOOR,
    EDV_S,
    GOOD_PERIODICITY,
    HORIZON,
    MAX_PERIOD_S,
    MIN_EVIDENCE,
    MIN_INTERVAL_S,
    MIN_PERIOD_S,
    MIN_PERIODICITY,
    MIN_PHASE_S,
    N_CHANNELS,
    ONSET_SPAN,
    P_ACF_BETA,
    P_BREATH_STEP,
    P_FLOOR,
    P_HI,
    P_MIN_IV,
    P_PERIOD_EVERY,
    P_PMEAN_BETA,
    P_SKIP,
    P_STEP,
    PERIOD_EVERY_S,
    POWER_FLOOR,
    R_CHANNEL,
    R_EVIDENCE,
    R_ONSET,
    R_RR,
    REC_WIDTH,
    RING_S,
    RMS_TAU_S,
    S_GAP,
    S_LAST_J,
    S_PMEAN,
    S_QN,
    S_QSUM,
    S_SUM,
    S_WIDTH,
    SMOOTH_S,
    STEP_S,
    SUBHARMONIC,
    WARMUP_S,
)

__all__ = ["BeatTracker"]


def _beta(tau_s, rate):
    """Weight of a new value in an exponential mean of time constant ``tau_s`` updated
    ``rate`` times a second."""
    return 1.0 - math.exp(-1.0 / (tau_s * rate))


@functools.lru_cache(maxsize=8)
def _layout(hop_s, direction, antegrade):
    """What a :class:`BeatTracker` for rows every ``hop_s`` seconds derives from its
    settings, worked out once per setting: the step (rows), the ring (rows), the largest
    lag (steps), the smoothing half-widths (rows), the kernel's parameters (``P_*``), the
    respiratory band-pass at the breathing rate (a second-order high-pass and two
    second-order low-passes) with its unit-step state, the breathing step (s) and the
    natural logarithms of the chain's intervals (0 .. ``2 hi + 3`` steps: the longest
    interval is twice the longest period, under ``hi``).  The arrays are templates: a
    tracker takes copies."""
    rows_s = 1.0 / hop_s
    step = max(1, int(round(STEP_S * rows_s)))
    steps_s = rows_s / step
    hi = int(math.ceil(MAX_PERIOD_S * steps_s)) + 1
    ring_n = max(int(math.ceil(RING_S * rows_s)),
                 int(math.ceil((HORIZON + 4) * MAX_PERIOD_S * rows_s)))
    ring_n += step - ring_n % step
    half = np.array([max(0, int(round(s * rows_s / 2))) for s in SMOOTH_S], np.int64)
    breath_step = max(1, int(round(BREATH_STEP_S * steps_s)))  # steps
    breath_fs = steps_s / breath_step
    params = np.array([
        _beta(BASELINE_TAU_S, steps_s), _beta(RMS_TAU_S, steps_s), _beta(ACF_TAU_S, steps_s),
        _beta(RMS_TAU_S, steps_s), WARMUP_S * steps_s, ALPHA, SUBHARMONIC, HORIZON,
        ONSET_SPAN, MIN_INTERVAL_S * steps_s, POWER_FLOOR, MIN_PHASE_S * rows_s,
        EDV_S * rows_s, max(2, int(MIN_PERIOD_S * steps_s)), hi - 1,
        1.0 if direction else 0.0, DRIVE_CLIP, MIN_EVIDENCE, step,
        max(1, int(round(PERIOD_EVERY_S * steps_s))), breath_step,
        BREATH_SETTLE_S * breath_fs, DRIVE_FLOOR[0] ** 2, DRIVE_FLOOR[1] ** 2,
        -1 if antegrade is None else 1 - antegrade])
    lo, high = BREATH_BAND_HZ
    sos = np.array([_biquad("high", lo, breath_fs), _biquad("low", high, breath_fs),
                    _biquad("low", high, breath_fs)])
    logs = np.array([math.log(d) if d else -math.inf for d in range(2 * hi + 4)])
    return (step, ring_n, hi, half, params, sos, _design.sos_step_state(sos),
            1.0 / breath_fs, logs)


class BeatTracker:
    """The beat stage: beats found in the stored rows of a stream as they come.

    Parameters
    ----------
    hop_s : float
        Time between rows, s.
    t0_s : float
        Time of row 0, s.
    direction : bool
        The layout tells the flow direction (False for mono: only the toward
        columns carry the speed, and the away channel is not searched).
    antegrade : {None, 0, 1}
        The antegrade direction when it is given (0 toward, 1 away): the other
        direction's envelope is not searched.  None: decided at the end, both are.

    Notes
    -----
    :meth:`update` takes rows in stream order, any number at a time; the beats
    found are the same whatever the batches.  Memory holds ``RING_S`` seconds of
    rows and the table of beats, with room for the records the rows being added can
    give (one call of the kernel an update: some 14 bytes a row at 5 ms rows).
    """

    def __init__(self, hop_s, t0_s, direction, antegrade=None):
        self.hop_s = float(hop_s)
        self.t0_s = float(t0_s)
        self.direction = bool(direction)
        # the envelope of only one direction can carry the beats: the antegrade one, given,
        # or the toward columns of a mono layout
        self.antegrade = 0 if not self.direction else antegrade
        step, self.ring_n, hi, half, params, sos, step_zi, self.breath_step_s, logs = \
            _layout(self.hop_s, self.direction, self.antegrade)
        self.step = step
        n_steps = self.ring_n // step
        self.ring = np.zeros((self.ring_n, 7), np.float32)
        self.steps = np.zeros((2, N_CHANNELS, n_steps))  # per step: signal, drive
        # the autocorrelation's lags 0 .. hi, with room to a multiple of 8 (_correlate), and
        # the drive's last steps for it
        n_lags = hi + 1
        room = -(-n_lags // 8) * 8
        self.acf = np.zeros((N_CHANNELS, room))
        self.hist = np.zeros((N_CHANNELS, n_lags + room))
        self.state = np.zeros((N_CHANNELS, S_WIDTH))
        self.state[:, S_LAST_J] = -1.0
        self.count = np.zeros(3, np.int64)
        # the chain's scores, back-pointers, penalties and best offers; a beat's running
        # sums, smoothed signal and its end for the EDV (no kernel allocates); the logarithms
        # of the chain's intervals.  Only the EDV's row is cleared: a beat of under four rows
        # reads places of it no beat has written, and every other row is written before it
        # is read (some 200 kB not cleared a tracker)
        self.work = np.empty((7, max(n_steps, self.ring_n, len(logs))))
        self.work[5] = 0.0
        self.work[6, :len(logs)] = logs
        self.chain = np.zeros(n_steps, np.int64)
        self.half = half.copy()
        self.params = params.copy()
        self.breath_sos = sos.copy()
        self.breath_step_zi = step_zi.copy()
        self.breath_zi = np.zeros((2, 3, 2))
        self.breath = np.zeros((2, 4))  # per direction: sum being stepped, n, sum, sum sq
        # the steps a kernel call can decide beats in beyond its own: up to HORIZON periods
        # back from the last one, or the whole ring at the end (see _room)
        self.reach = HORIZON * hi + n_steps
        # the beat records, in the order decided: the first n_records rows; a kernel call
        # writes its records in place after them, in the room _room keeps
        self.records = np.empty((2 * self._room(self.ring_n), REC_WIDTH))
        self.n_records = 0
        self.finished = False

    def update(self, rows, final=False, pulse_power=None):
        """Add stored rows ``(n, 6)`` (float32, stream order); ``final``: they are the last
        ones, and every beat still undecided is decided.  ``pulse_power`` ``(n,)`` is the
        power channel's signal (:func:`~dopplerflow.core.envelopes.band_power`); without
        it, the flow power of both directions.  NaN there marks a row not analysed (a gap
        in the stream): the step that holds it gives no signal to any channel (its drive
        is 0, its value the last step's), so a gap neither reads as a beat's pulse nor
        weighs on the period."""
        if self.finished:
            raise RuntimeError("BeatTracker.update() after the final rows")
        rows = np.ascontiguousarray(rows, np.float32)
        if rows.ndim != 2 or rows.shape[1] != 6:
            raise ValueError(f"stored rows must be (n, 6); got {rows.shape}")
        if pulse_power is None:
            pulse_power = rows[:, 2] + rows[:, 5]
        elif np.shape(pulse_power) != (len(rows),):
            raise ValueError(f"pulse_power must be ({len(rows)},); got {np.shape(pulse_power)}")
        power = np.ascontiguousarray(pulse_power, np.float32)
        self.finished = bool(final)
        # one kernel call for the rows and, at the end, the beats left
        n, room = self.n_records, self._room(len(rows))
        if n + room > len(self.records):
            # doubled for many small updates; for one large one, the room it needs
            grown = np.empty((max(2 * len(self.records), n + room), REC_WIDTH))
            grown[:n] = self.records[:n]
            self.records = grown
        self.n_records += _beat_rows(rows, power, self.finished, self.ring, self.steps, self.acf,
                                     self.hist, self.state, self.count, self.work, self.chain,
                                     self.params, self.half, self.breath_sos, self.breath_zi,
                                     self.breath_step_zi, self.breath, self.records[n:])

    def _room(self, n_rows):
        """Records a kernel call on ``n_rows`` rows can write, at most: a channel decides a
        beat at most every MIN_INTERVAL_S, in the steps the rows close (one more for the
        step begun before them) and those it reaches back (``reach``), and the final,
        open beat."""
        steps = n_rows / self.step + 1 + self.reach
        return N_CHANNELS * (int(steps / self.params[P_MIN_IV]) + 4)

    # ------------------------------------------------------------------ reading
    def periodicity(self):
        """Mean periodicity (autocorrelation peak, 0-1) of each channel so far."""
        return np.array(self._periodicity())

    def _periodicity(self):
        """:meth:`periodicity` as a list of Python floats (three values: not five array
        operations; the sum and the count are neighbouring slots: a slice, not a
        gather)."""
        return [total / n if n > 0 else 0.0
                for total, n in self.state[:, S_QSUM:S_QN + 1].tolist()]

    def measured(self):
        """Whether each channel's periodicity was measured at all (a recording shorter
        than :data:`WARMUP_S` of signal has none: its :meth:`periodicity` reads 0)."""
        return [n > 0 for n in self.state[:, S_QN].tolist()]

    def channel(self, ante, q=None):
        """The detection channel for antegrade direction ``ante`` (0 toward, 1 away): the
        max envelope of that direction unless the band power is clearly more periodic
        (``q``: :meth:`periodicity`, when the caller has it)."""
        q = self.periodicity() if q is None else q
        env = ante if self.antegrade is None else self.antegrade
        if q[env] >= q[2] - CHANNEL_MARGIN or q[env] >= GOOD_PERIODICITY:
            return env
        return 2

    def table(self):
        """Every beat record so far, ``(k, REC_WIDTH)``, in the order decided (a view: the
        records decided later are written after it)."""
        return self.records[:self.n_records]

    def onsets_s(self, ante):
        """Onsets, s, of the beats decided so far on the channel in use for antegrade
        direction ``ante``: for a live plot (a beat's record comes with the next beat)."""
        tab = self.table()
        tab = tab[tab[:, R_CHANNEL] == self.channel(ante)]
        seen = np.flatnonzero(tab[:, R_EVIDENCE] >= MIN_EVIDENCE)
        tab = tab[seen[0]:] if len(seen) else tab[:0]  # as beat_result: from the first pulse
        return self.t0_s + tab[:, R_ONSET] * self.hop_s

    def heart_rate_bpm(self, ante, last=8):
        """The heart rate of the last ``last`` beats of the channel in use (the median of
        the intervals of those with a pulse), or None with fewer than three such intervals,
        no periodic pulse, or the last two beats placed without a pulse (the probe's contact
        lost: the tracker keeps its period through it, and the display its rate, for
        seconds): for a live display."""
        c = self.channel(ante)
        if self.periodicity()[c] < MIN_PERIODICITY:
            return None
        tab = self.table()
        rec = tab[tab[:, R_CHANNEL] == c][-last:]
        pulse = rec[:, R_EVIDENCE] >= MIN_EVIDENCE
        if len(rec) >= 2 and not pulse[-2:].any():
            return None
        rr = rec[pulse, R_RR]
        rr = rr[np.isfinite(rr) & (rr > 0)]
        if len(rr) < 3:
            return None
        return float(60.0 / (np.median(rr) * self.hop_s))

    def respiration(self, d):
        """Respiratory phasicity of direction ``d``'s maximum velocity: ``modulation`` and
        ``call`` (``present``, ``reduced`` or ``absent``), or None with under
        ``BREATH_MIN_S`` measured or no flow.

        Rows are averaged over ``BREATH_STEP_S`` and band-passed (a second-order
        high-pass at 0.1 Hz and two second-order low-passes at 0.5 Hz: the cardiac
        modulation of a vein at 1 Hz is 27 dB down); the band's rms and the mean
        velocity are summed after ``BREATH_SETTLE_S``.  The modulation is ``2
        sqrt(2) rms / mean``: the peak-to-peak share of the mean that a sinusoidal
        breathing gives.
        """
        _, n, total, sq = self.breath[d]
        if n * self.breath_step_s < BREATH_MIN_S or total <= 0:
            return None
        mod = 2.0 * math.sqrt(2.0) * math.sqrt(sq / n) / (total / n)
        call = ("present" if mod >= BREATH_PRESENT else
                "reduced" if mod >= BREATH_REDUCED else "absent")
        return {"modulation": round(float(mod), 3), "call": call}


@njit(**_JIT_PURE)
def _beat_rows(rows, power_rows, final, ring, steps, acf, hist, state, count, work, chain,
               params, half, breath_sos, breath_zi, breath_step_zi, breath, out):
    """Run stored rows ``(n, 6)`` and the power channel's signal ``(n,)`` through the beat
    stage; returns the beat records written to ``out``.

    Per row: the ring, and each channel's sums over the step.  Per step: each
    channel's signal (the power's in dB over its floor), drive and autocorrelation,
    the period and the beats settled; every ``P_BREATH_STEP`` steps the breathing
    filter.  At the end of the stream (``final``) every beat not yet decided is
    decided (a step not complete is left out).
    """
    rn = ring.shape[0]
    step = int(params[P_STEP])
    bsteps = int(params[P_BREATH_STEP])
    skip = int(params[P_SKIP])  # the envelope channel not searched (-1: none)
    every = int(params[P_PERIOD_EVERY])
    dn = steps.shape[2]
    n_lags = int(params[P_HI]) + 2  # the autocorrelation's lags (acf has room for more)
    k = 0
    n = count[C_ROWS]
    nr = rows.shape[0]
    # the ring's row (unsigned: _next_row) and the row in the step, kept without a division
    # a row
    urn = np.uint64(rn)
    at = np.uint64(n % rn)
    in_step = n % step
    # the next step's place in the rings of steps and of the drive, in the period's and
    # the breathing's cycles: kept without a division a step
    j0 = count[C_STEPS]
    at_step, lag_at, every_at, breath_at = j0 % dn, j0 % n_lags, j0 % every, (j0 + 1) % bsteps
    i = 0
    # one pass a step, and one more at the end of the stream for the beats left; one call
    # of _decide (inlined), not one for the steps and one for the end
    while True:
        f0 = f1 = power = 0.0
        fin = i == nr
        if fin:
            if not (final and count[C_STEPS] > 0):
                break
            j = count[C_STEPS] - 1
        else:
            # the rows up to the end of the step (or of the rows): into the ring, and
            # summed over the step in row order
            take = min(step - in_step, nr - i)
            s0, s1, s2 = state[0, S_SUM], state[1, S_SUM], state[2, S_SUM]
            gap = state[2, S_GAP]
            for r in range(i, i + take):
                u = np.uint64(r)
                for q in range(6):
                    ring[at, q] = rows[u, q]
                pr = power_rows[u]
                if pr != pr:  # NaN: a row not analysed (a gap in the stream) holds the
                    gap = 1.0  # power before it: its end is no rise for an onset
                    pr = ring[_wrap(np.int64(at) - 1, rn), 6]
                ring[at, 6] = pr
                s0 += rows[u, 0]
                s1 += rows[u, 3]
                s2 += np.float64(pr)
                at = _next_row(at, urn)
            i += take
            n += take  # rows received
            count[C_ROWS] = n
            in_step += take
            if in_step < step:
                state[0, S_SUM], state[1, S_SUM], state[2, S_SUM] = s0, s1, s2
                state[2, S_GAP] = gap
                continue  # the rows end inside the step
            in_step = 0
            j = count[C_STEPS]
            state[0, S_SUM] = state[1, S_SUM] = state[2, S_SUM] = state[2, S_GAP] = 0.0
            if gap > 0.0:
                # a step that holds rows not analysed has no signal: each channel's drive
                # is 0 there and its value held (_step), and the breathing filter takes
                # the last step's values
                f0 = f1 = power = np.nan
                last = _wrap(at_step - 1, dn) if j > 0 else at_step
                breath[0, 0] += steps[0, 0, last]
                breath[1, 0] += steps[0, 1, last]
            else:
                f0, f1, p = s0 / step, s1 / step, s2 / step
                breath[0, 0] += f0
                breath[1, 0] += f1
                mean = _ema(state, 2, S_PMEAN, p, params[P_PMEAN_BETA])
                power = (10.0 * math.log10(max(p, params[P_FLOOR] * mean)) if mean > 0
                         else np.nan)
            if breath_at == 0:
                _breathe(breath, breath_sos, breath_zi, breath_step_zi, count, params)
        if not fin:
            # each channel's drive, then their autocorrelations in one loop (a channel not
            # searched: no drive)
            p = n_lags - 1 - lag_at
            x0 = x1 = x2 = 0.0
            for c in range(N_CHANNELS):
                if c != skip:
                    x = _step(c, j, at_step, p, f0 if c == 0 else (f1 if c == 1 else power),
                              state, steps, hist, n_lags, params)
                    if c == 0:
                        x0 = x
                    elif c == 1:
                        x1 = x
                    else:
                        x2 = x
            _correlate(acf, hist, p, x0, x1, x2, params[P_ACF_BETA])
        due = every_at == 0  # the period is estimated again
        for c in range(N_CHANNELS):
            if c != skip:
                k += _decide(c, j, due, fin, ring, rn, n, steps, acf, state, params, half,
                             work, chain, out, k)
        if fin:
            break
        count[C_STEPS] = j + 1
        at_step = _wrap(at_step + 1, dn)
        lag_at = _wrap(lag_at + 1, n_lags)
        every_at = _wrap(every_at + 1, every)
        breath_at = _wrap(breath_at + 1, bsteps)
    return k
