"""Beat by beat: heart rate, systolic onsets and peaks, and the pulsatility indices.

A row stage.  :class:`BeatTracker` takes the final stored rows (float32 ``(n, 6)``,
:mod:`~dopplerflow.core.rows`: per direction fmax, fmean and flow power) in stream
order and finds the beats of the heart in them, on three signals at once:

=========  ===========================================================
channel    signal
=========  ===========================================================
0          maximum frequency of the toward direction (the max envelope)
1          maximum frequency of the away direction
2          flow power of both directions, in dB
=========  ===========================================================

For each channel:

1. **Drive.**  The signal is averaged over 30 ms steps, its slow baseline (an
   exponential mean, 0.5 s) is taken off and it is divided by its running rms
   (4 s): a unit-free pulse that breathing and gain changes do not move.
2. **Period.**  A short-term autocorrelation of the drive (exponential forgetting,
   3 s; Hoang et al. 2023 found 2 s the least for post-dive precordial Doppler) is
   kept for lags of 0.25-2 s (240-30 beats/min).  Every 0.25 s its peak with the
   highest sum of height and prominence gives the beat period ``T`` (a slow drift
   lifts every short lag, not the period's peak); a peak near ``T/2`` or ``T/3``
   scoring 90 % as much is taken instead, so a pulse is not counted one beat in
   two.  The peak's height (0-1) is the channel's *periodicity*.
3. **Beats.**  Beats are chosen by dynamic programming (Ellis 2007): the chain
   of steps that maximises the drive at the beats (up to 3 rms) minus ``ALPHA *
   log(RR / T)**2`` for each interval.  A missed beat (no pulse where one is due)
   costs the double interval's penalty, so a beat is placed where it was due; a
   knock between two beats gains less than the two halved intervals cost; an
   ectopic beat with a clear pulse is kept with its short and long intervals.  The
   chain is decided one beat at a time, once the drive is known ``HORIZON``
   periods past the last beat: a live display sees each beat about 2.5 periods
   after it, and the result does not depend on the blocks.
4. **Onset.**  At the full row rate, the beat is placed on the highest smoothed
   signal near the chosen step, and its onset at the foot of the upstroke before
   it: where the tangent at the steepest rise meets the lowest level before it
   (the intersecting-tangent method of pulse-wave analysis).  A beat placed
   without a pulse keeps the usual lead of onset to peak.

Each beat, from its onset to the next, is measured on the velocity envelopes for
either antegrade direction (with ``antegrade='auto'`` it is decided at the end):
PSV, EDV, TAMV, TAV, the peak's time, forward and reverse velocity-time integrals
and the number of flow phases.  :func:`beat_result` picks the channel (the max
envelope of the antegrade direction, or the power where that is clearly more
periodic), flags the clean beats and sums the recording up.  Memory is a ring of
the last ``RING_S`` seconds of rows and the list of beats.
"""

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from . import _design
from ._numba import _JIT

__all__ = ["BeatTracker", "Beats", "beat_result", "beats_csv", "CHANNELS",
           "CHANNEL_SIGNALS"]

#: Names of the detection channels, by index.
CHANNELS = ("fmax_toward", "fmax_away", "power")
#: What each channel is, as the result names the signal used.
CHANNEL_SIGNALS = ("max_envelope", "max_envelope", "flow_power")
#: Shortest and longest beat period searched, s (240 and 30 beats/min): fetal rates up to
#: ~200/min and adult bradycardia down to ~35/min, with room either side.
MIN_PERIOD_S, MAX_PERIOD_S = 0.25, 2.0
#: Shortest interval between two beats, s, whatever the period (an ectopic beat at 300/min).
MIN_INTERVAL_S = 0.2
#: Step of the drive, s: the autocorrelation and the chain of beats work on 30 ms steps
#: (a tenth of a beat at 200/min; 40 ms steps lock on every other beat there), the onsets
#: and the measures on the rows.
STEP_S = 0.03
#: Time constants of the drive: its baseline, its rms, and the autocorrelation, s.
BASELINE_TAU_S, RMS_TAU_S, ACF_TAU_S = 0.5, 4.0, 3.0
#: The period is estimated again every this many seconds.
PERIOD_EVERY_S = 0.25
#: Smoothing of each channel's signal at the row rate, for the peak and the onset, s (the
#: stored envelope is already a 25 ms running median; the power of one row scatters more).
SMOOTH_S = (0.025, 0.025, 0.045)
#: Least rms of the drive's deviation, per kind of signal (max envelope in Hz, power in dB):
#: a steadier signal has no pulse to find (its rounding errors are not one).
DRIVE_FLOOR = (1.0, 0.1)
#: Drive needed before the first beat is decided, s (the autocorrelation must span two
#: periods of a slow heart).
WARMUP_S = 2.5
#: Weight of the interval penalty ``log(RR / T)**2`` against the drive (unit rms).
ALPHA = 5.0
#: A beat gains at most this much drive (unit rms): a 20 ms knock midway between two beats
#: (``2 * ALPHA * log(2)**2`` = 4.8 of interval penalty) is not taken for one.
DRIVE_CLIP = 3.0
#: A peak of the autocorrelation at a fraction 1/2 or 1/3 of the best one's lag is taken
#: for the period when it scores at least this much relative to it.
SUBHARMONIC = 0.9
#: Periods of drive past the last beat after which the next one is decided.
HORIZON = 2.5
#: The onset is searched in this fraction of the period before the beat.
ONSET_SPAN = 0.45
#: Power floor of the power channel, relative to its running mean (-30 dB).
POWER_FLOOR = 1e-3
#: Shortest run of one flow direction that counts as a phase of the waveform, s.
MIN_PHASE_S = 0.03
#: End-diastolic velocity: the median of the signed envelope over the last ``EDV_SPAN`` of
#: the beat up to ``EDV_S`` before the next onset (share, s).
EDV_S, EDV_SPAN = 0.015, 0.15
#: Least drive (in rms of the drive) at a beat with a pulse: below it, a beat placed where
#: one was due (not clean, and its onset keeps the usual lead).
MIN_EVIDENCE = 0.5
#: Seconds of rows kept.
RING_S = 20.0
#: Respiratory band, Hz (6-30 breaths/min), and the step the rows are averaged over
#: before the band-pass, s.
BREATH_BAND_HZ, BREATH_STEP_S = (0.1, 0.5), 0.1
#: Seconds of flow before the respiratory variation is summed (filter settling).
BREATH_SETTLE_S = 4.0

# columns of a beat record from the kernel (rows and Hz); then, per antegrade hypothesis
# h (0 toward, 1 away), M_WIDTH measures from column REC_HEAD + h * M_WIDTH
(R_CHANNEL, R_ONSET, R_CENTRE, R_EVIDENCE, R_PERIOD, R_RR, R_PERIODICITY) = range(7)
REC_HEAD = 7
(M_PSV, M_PEAK, M_EDV, M_TAMV, M_TAV, M_FWD, M_REV, M_PHASES) = range(8)
M_WIDTH = 8
REC_WIDTH = REC_HEAD + 2 * M_WIDTH
# per-channel state: exponential means (value, weight), the step being summed, the period
# (steps) and periodicity, their running sum, the last beat decided (step, row, onset row,
# drive, period in rows, periodicity) and the usual lead of onset to beat (rows)
(S_BASE, S_BASE_W, S_VAR, S_VAR_W, S_PMEAN, S_PMEAN_W, S_SUM, S_CNT, S_PERIOD, S_Q,
 S_QSUM, S_QN, S_LAST_J, S_LAST_ROW, S_LAST_O, S_LAST_E, S_LAST_T, S_LAST_Q, S_LEAD,
 S_LEAD_N) = range(20)
S_WIDTH = 20
# the kernel's parameters, in ``BeatTracker.params``
(P_BASE_BETA, P_VAR_BETA, P_ACF_BETA, P_PMEAN_BETA, P_WARMUP, P_ALPHA, P_SUB, P_HORIZON,
 P_SPAN, P_MIN_IV, P_FLOOR, P_MIN_PHASE, P_EDV, P_LO, P_HI, P_DIRECTION, P_CLIP,
 P_MIN_EVIDENCE, P_STEP, P_PERIOD_EVERY, P_BREATH_STEP, P_BREATH_SETTLE, P_FLOOR_VAR_HZ,
 P_FLOOR_VAR_DB, P_SKIP) = range(25)
# counters: rows received, steps made, breathing samples made
C_ROWS, C_STEPS, C_BREATHS = range(3)
N_CHANNELS = 3


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
    rows and the list of beats.
    """

    def __init__(self, hop_s, t0_s, direction, antegrade=None):
        self.hop_s = float(hop_s)
        self.t0_s = float(t0_s)
        self.direction = bool(direction)
        # the envelope of only one direction can carry the beats: the antegrade one, given,
        # or the toward columns of a mono layout
        self.antegrade = 0 if not self.direction else antegrade
        rows_s = 1.0 / self.hop_s
        step = max(1, int(round(STEP_S * rows_s)))
        steps_s = rows_s / step
        self.step = step
        hi = int(math.ceil(MAX_PERIOD_S * steps_s)) + 1
        self.ring_n = max(int(math.ceil(RING_S * rows_s)),
                          int(math.ceil((HORIZON + 4) * MAX_PERIOD_S * rows_s)))
        self.ring_n += step - self.ring_n % step
        self.batch = max(step, int(rows_s) // step * step)  # rows a kernel call takes
        n_steps = self.ring_n // step
        self.ring = np.zeros((self.ring_n, 6), np.float32)
        self.steps = np.zeros((2, N_CHANNELS, n_steps))  # per step: signal, drive
        self.acf = np.zeros((N_CHANNELS, hi + 1))
        self.state = np.zeros((N_CHANNELS, S_WIDTH))
        self.state[:, S_LAST_J] = -1.0
        self.count = np.zeros(3, np.int64)
        self.work = np.zeros((3, n_steps))  # the chain's scores, back-pointers, penalties
        self.chain = np.zeros(n_steps, np.int64)
        self.half = np.array([max(0, int(round(s * rows_s / 2))) for s in SMOOTH_S], np.int64)

        def beta(tau_s, rate):
            return 1.0 - math.exp(-1.0 / (tau_s * rate))

        breath_step = max(1, int(round(BREATH_STEP_S * steps_s)))  # steps
        breath_fs = steps_s / breath_step
        self.params = np.array([
            beta(BASELINE_TAU_S, steps_s), beta(RMS_TAU_S, steps_s),
            beta(ACF_TAU_S, steps_s),
            beta(RMS_TAU_S, steps_s), WARMUP_S * steps_s, ALPHA, SUBHARMONIC, HORIZON,
            ONSET_SPAN, MIN_INTERVAL_S * steps_s, POWER_FLOOR, MIN_PHASE_S * rows_s,
            EDV_S * rows_s, max(2, int(MIN_PERIOD_S * steps_s)), hi - 1,
            1.0 if self.direction else 0.0, DRIVE_CLIP, MIN_EVIDENCE, step,
            max(1, int(round(PERIOD_EVERY_S * steps_s))), breath_step,
            BREATH_SETTLE_S * breath_fs, DRIVE_FLOOR[0] ** 2, DRIVE_FLOOR[1] ** 2,
            -1 if self.antegrade is None else 1 - self.antegrade])
        lo, high = BREATH_BAND_HZ
        self.breath_sos = np.array([_biquad("high", lo, breath_fs),
                                    _biquad("low", high, breath_fs),
                                    _biquad("low", high, breath_fs)])
        self.breath_zi = np.zeros((2, 3, 2))
        self.breath_step_zi = _design.sos_step_state(self.breath_sos)
        self.breath = np.zeros((2, 4))  # per direction: sum being stepped, n, sum, sum sq
        self.breath_step_s = 1.0 / breath_fs
        # a channel decides a beat at most every MIN_INTERVAL_S, from its last one (up to
        # HORIZON periods back, or the whole ring at the end), and the final, open beat
        most = (self.batch / step + HORIZON * hi + n_steps) / self.params[P_MIN_IV]
        self.out = np.empty((N_CHANNELS * (int(most) + 4), REC_WIDTH))
        self.records = []  # arrays of beat records, (k, REC_WIDTH)
        self.finished = False

    def update(self, rows, final=False):
        """Add stored rows ``(n, 6)`` (float32, stream order); ``final``: they are the last
        ones, and every beat still undecided is decided."""
        if self.finished:
            raise RuntimeError("BeatTracker.update() after the final rows")
        rows = np.ascontiguousarray(rows, np.float32)
        if rows.ndim != 2 or rows.shape[1] != 6:
            raise ValueError(f"stored rows must be (n, 6); got {rows.shape}")
        for i in range(0, len(rows), self.batch):
            self._run(rows[i:i + self.batch], False)
        if final:
            self.finished = True
            self._run(rows[:0], True)

    def _run(self, rows, final):
        k = _beat_rows(rows, final, self.ring, self.steps, self.acf, self.state, self.count,
                       self.work, self.chain, self.params, self.half, self.breath_sos,
                       self.breath_zi, self.breath_step_zi, self.breath, self.out)
        if k:
            self.records.append(self.out[:k].copy())

    # ------------------------------------------------------------------ reading
    def periodicity(self):
        """Mean periodicity (autocorrelation peak, 0-1) of each channel so far."""
        n = self.state[:, S_QN]
        return np.where(n > 0, self.state[:, S_QSUM] / np.maximum(n, 1), 0.0)

    def channel(self, ante):
        """The detection channel for antegrade direction ``ante`` (0 toward, 1 away): the
        max envelope of that direction unless the flow power is clearly more periodic."""
        q = self.periodicity()
        env = ante if self.antegrade is None else self.antegrade
        if q[env] >= q[2] - CHANNEL_MARGIN or q[env] >= GOOD_PERIODICITY:
            return env
        return 2

    def table(self):
        """Every beat record so far, ``(k, REC_WIDTH)``, in the order decided."""
        if not self.records:
            return np.zeros((0, REC_WIDTH))
        if len(self.records) > 1:
            self.records = [np.concatenate(self.records)]
        return self.records[0]

    def onsets_s(self, ante):
        """Onsets, s, of the beats decided so far on the channel in use for antegrade
        direction ``ante``: for a live plot (a beat's record comes with the next beat)."""
        tab = self.table()
        tab = tab[tab[:, R_CHANNEL] == self.channel(ante)]
        seen = np.flatnonzero(tab[:, R_EVIDENCE] >= MIN_EVIDENCE)
        tab = tab[seen[0]:] if len(seen) else tab[:0]  # as beat_result: from the first pulse
        return self.t0_s + tab[:, R_ONSET] * self.hop_s

    def heart_rate_bpm(self, ante, last=8):
        """The heart rate of the last ``last`` beat intervals of the channel in use (median),
        or None with fewer than three intervals or no periodic pulse: for a live display."""
        c = self.channel(ante)
        if self.periodicity()[c] < MIN_PERIODICITY:
            return None
        tab = self.table()
        rr = tab[tab[:, R_CHANNEL] == c, R_RR][-last:]
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


#: The max envelope is used unless the flow power's periodicity is higher by this much.
CHANNEL_MARGIN = 0.05
#: Periodicity at which the max envelope is used whatever the power's.
GOOD_PERIODICITY = 0.6
#: Seconds of breathing measured, at least, for a call (two slow breaths).
BREATH_MIN_S = 6.0
#: Respiratory modulation at or above which the phasicity is present, and at or above
#: which it is reduced rather than absent.
BREATH_PRESENT, BREATH_REDUCED = 0.3, 0.1


def _biquad(kind, f_hz, fs_hz):
    """A second-order Butterworth section (RBJ cookbook): ``[b0, b1, b2, 1, a1, a2]``."""
    w = 2.0 * math.pi * f_hz / fs_hz
    alpha = math.sin(w) / math.sqrt(2.0)
    cw = math.cos(w)
    b = (np.array([1 - cw, 2 * (1 - cw), 1 - cw]) / 2 if kind == "low"
         else np.array([1 + cw, -2 * (1 + cw), 1 + cw]) / 2)
    a = np.array([1 + alpha, -2 * cw, 1 - alpha])
    return np.concatenate((b / a[0], a / a[0]))


# --------------------------------------------------------------------------- the result
#: Least periodicity (mean autocorrelation peak of the channel used) for a heart rate.
MIN_PERIODICITY = 0.35
#: Least drive (in rms of the drive) at a clean beat: a pulse, not a beat placed where one
#: was due.
MIN_EVIDENCE = 0.5
#: A clean beat's interval is within this share of the median of the five around it.
RR_TOLERANCE = 0.2
#: A clean beat was decided with a period within this factor of the recording's usual one.
PERIOD_RANGE = 1.5
#: Clean beats needed for a heart rate and indices.
MIN_CLEAN = 3
#: Waveform phasicity by the number of flow phases of a beat.
PHASICITY = {1: "monophasic", 2: "biphasic", 3: "triphasic"}


@dataclass
class Beats:
    """The beats of a recording: one entry per beat in each array, in time order.

    Attributes
    ----------
    signal : str or None
        What the beats were read on: ``"max_envelope"`` (the antegrade maximum
        velocity) or ``"flow_power"`` (where the envelope shows no clear pulse);
        None when neither shows a periodic pulse (then there are no beats).
    periodicity : float
        Mean height (0-1) of the autocorrelation peak at the beat period of that
        signal: near 1 for a clean pulse, under 0.3 for none.
    onset_s : ndarray
        Onset of each beat: the foot of its upstroke, s.
    peak_s : ndarray
        Time of its systolic peak (the highest antegrade velocity in the beat), s.
    rr_s : ndarray
        Interval to the next onset, s (NaN for the last beat).
    heart_rate_bpm : ndarray
        ``60 / rr_s``.
    psv_cm_s, edv_cm_s, tamv_cm_s, tav_cm_s : ndarray
        Peak systolic velocity; end-diastolic velocity (signed: the median of the
        signed maximum velocity over the last 15 % of the beat, up to 15 ms
        before the next onset); time-
        averaged maximum velocity (signed); time-averaged mean velocity (the mean
        envelope, signed); cm/s.  For mono recordings: speeds.
    ri, pi, sd_ratio : ndarray
        Resistive index ``(PSV - EDV) / PSV``, pulsatility index ``(PSV - EDV) /
        TAMV`` (Gosling), ``PSV / EDV`` (NaN where EDV <= 0).
    acceleration_time_s : ndarray
        From the onset to the systolic peak, s.
    reverse_flow_share : ndarray
        Retrograde over antegrade plus retrograde velocity-time integral of the
        maximum envelopes (NaN for mono).
    phases : ndarray of int
        Flow phases of the beat (runs of one direction of at least 30 ms): 1
        monophasic, 2 biphasic, 3 triphasic (0 for mono, or no flow).
    clean : ndarray of bool
        Beats the recording's figures are taken over: complete, a clear pulse,
        an interval within 20 % of its neighbours' median, flow in the beat, and
        no rows not analysed.
    summary : dict
        The JSON's ``beats`` entry (:func:`beat_result`).
    """

    signal: str | None
    periodicity: float
    onset_s: np.ndarray
    peak_s: np.ndarray
    rr_s: np.ndarray
    heart_rate_bpm: np.ndarray
    psv_cm_s: np.ndarray
    edv_cm_s: np.ndarray
    tamv_cm_s: np.ndarray
    tav_cm_s: np.ndarray
    ri: np.ndarray
    pi: np.ndarray
    sd_ratio: np.ndarray
    acceleration_time_s: np.ndarray
    reverse_flow_share: np.ndarray
    phases: np.ndarray
    clean: np.ndarray
    summary: dict = field(default_factory=dict)

    #: The per-beat columns, in the order of :func:`beats_csv`.
    COLUMNS = ("onset_s", "peak_s", "rr_s", "heart_rate_bpm", "psv_cm_s", "edv_cm_s",
               "tamv_cm_s", "tav_cm_s", "ri", "pi", "sd_ratio", "acceleration_time_s",
               "reverse_flow_share", "phases", "clean")

    def __len__(self):
        return len(self.onset_s)


def _clean(tab, rr, psv, rows, unanalysed):
    """Which beats are clean (see :class:`Beats`) of the records ``tab`` of one channel;
    ``rows`` ``(k, 2)``: each beat's first and end row."""
    ok = np.isfinite(rr) & (tab[:, R_EVIDENCE] >= MIN_EVIDENCE) & (psv > 0)
    if len(tab):
        # the recording's period: the median over time of the periods the beats were
        # decided with, weighted by how periodic the drive was; a stretch locked on half
        # or twice it (two flow events a cycle, a weak pulse) is not clean
        order = np.argsort(tab[:, R_PERIOD])
        w = np.cumsum(tab[order, R_PERIODICITY] * tab[order, R_PERIOD])
        if w[-1] > 0:
            usual = tab[order[np.searchsorted(w, 0.5 * w[-1])], R_PERIOD]
            ok &= np.abs(np.log(tab[:, R_PERIOD] / usual)) <= math.log(PERIOD_RANGE)
    if len(rr) > 1:
        # the median of the (up to) five intervals around each, the last one (open) left out
        k = len(rr) - 1
        padded = np.pad(rr[:k], 2, constant_values=np.nan)
        win = np.sort(np.lib.stride_tricks.sliding_window_view(padded, 5), axis=1)  # NaN last
        cnt = np.isfinite(win).sum(axis=1)
        rows_k = np.arange(k)
        near = 0.5 * (win[rows_k, (cnt - 1) // 2] + win[rows_k, cnt // 2])
        ok[:k] &= np.abs(rr[:k] / near - 1.0) <= RR_TOLERANCE
    for a, b in unanalysed:
        ok &= ~((rows[:, 0] < b) & (rows[:, 1] > a))
    return ok


def beat_result(tracker, ante, scale, unanalysed, vessel=None):
    """The :class:`Beats` of a finished stream with ``ante`` (0 toward, 1 away) antegrade.

    Parameters
    ----------
    tracker : BeatTracker
        After its final rows.
    ante : int
        The antegrade direction decided for the recording.
    scale : float
        Doppler scale, cm/s per Hz.
    unanalysed : list of [int, int]
        Row ranges not analysed (``Timeline.unanalysed``): beats over them are not
        clean.
    vessel : str, optional
        The vessel preset: the respiratory phasicity is given for veins (a preset other
        than ``artery``).

    Returns
    -------
    Beats
        With ``summary``: ``signal``, ``periodicity``, ``n_beats``, ``n_clean``,
        ``n_rejected`` (complete beats that are not clean), ``heart_rate_bpm`` and
        ``heart_rate_iqr_bpm`` (median and interquartile range over the clean
        beats), the medians over the clean beats of ``psv_cm_s``, ``edv_cm_s``,
        ``tamv_cm_s``, ``tav_cm_s``, ``ri``, ``pi``, ``sd_ratio``,
        ``acceleration_time_s``, and for directional recordings
        ``reverse_flow_share`` and ``phasicity`` (the commonest phasicity of the
        clean beats); for veins ``respiratory_phasicity``.
    """
    hop, t0 = tracker.hop_s, tracker.t0_s
    q = tracker.periodicity()
    c = tracker.channel(ante)
    tab = tracker.table()
    tab = tab[tab[:, R_CHANNEL] == c] if q[c] >= MIN_PERIODICITY else tab[:0]
    tab = tab[np.argsort(tab[:, R_ONSET], kind="stable")]
    # a beat placed without a pulse bridges a missed beat between two seen ones; before the
    # first pulse and after the last there is nothing to bridge
    seen = np.flatnonzero(tab[:, R_EVIDENCE] >= MIN_EVIDENCE)
    tab = tab[seen[0]:seen[-1] + 1] if len(seen) else tab[:0]
    h = ante if tracker.direction else 0
    m = tab[:, REC_HEAD + h * M_WIDTH:REC_HEAD + (h + 1) * M_WIDTH]
    onset = t0 + tab[:, R_ONSET] * hop
    rr = tab[:, R_RR] * hop
    psv = m[:, M_PSV] * scale
    edv = m[:, M_EDV] * scale
    tamv = m[:, M_TAMV] * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        fwd, rev = m[:, M_FWD], m[:, M_REV]
        share = rev / (fwd + rev) if tracker.direction else np.full(len(tab), np.nan)
        ri = (psv - edv) / psv
        pi = np.where(tamv > 0, (psv - edv) / tamv, np.nan)
        sd = np.where(edv > 0, psv / edv, np.nan)
        hr = 60.0 / rr
    rows = np.column_stack((np.floor(tab[:, R_ONSET]),
                            np.ceil(tab[:, R_ONSET] + np.nan_to_num(tab[:, R_RR]))))
    clean = _clean(tab, rr, np.nan_to_num(psv), rows, unanalysed)
    phases = np.nan_to_num(m[:, M_PHASES]).astype(int) if tracker.direction else \
        np.zeros(len(tab), int)
    beats = Beats(
        signal=CHANNEL_SIGNALS[c] if len(tab) else None, periodicity=float(q[c]),
        onset_s=onset, peak_s=t0 + m[:, M_PEAK] * hop, rr_s=rr, heart_rate_bpm=hr,
        psv_cm_s=psv, edv_cm_s=edv, tamv_cm_s=tamv, tav_cm_s=m[:, M_TAV] * scale, ri=ri,
        pi=pi, sd_ratio=sd, acceleration_time_s=(m[:, M_PEAK] - tab[:, R_ONSET]) * hop,
        reverse_flow_share=share, phases=phases, clean=clean)
    beats.summary = _summary(beats, tracker, ante, vessel)
    return beats


def _median(x):
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else None


def _r(x, digits):
    return None if x is None else round(x, digits)


def _summary(b, tracker, ante, vessel):
    """The JSON's ``beats`` entry of :class:`Beats` ``b``."""
    k = b.clean
    complete = int(np.isfinite(b.rr_s).sum())
    enough = int(k.sum()) >= MIN_CLEAN
    hr = b.heart_rate_bpm[k]
    out = {"signal": b.signal, "periodicity": round(b.periodicity, 3), "n_beats": len(b),
           "n_clean": int(k.sum()), "n_rejected": complete - int(k.sum()),
           "heart_rate_bpm": _r(_median(hr), 1) if enough else None,
           "heart_rate_iqr_bpm": round(float(np.subtract(*np.percentile(hr, [75, 25]))), 1)
           if enough else None}
    for name, digits in (("psv_cm_s", 2), ("edv_cm_s", 2), ("tamv_cm_s", 2), ("tav_cm_s", 2),
                         ("ri", 3), ("pi", 3), ("sd_ratio", 2), ("acceleration_time_s", 4)):
        out[name] = _r(_median(getattr(b, name)[k]), digits) if enough else None
    if tracker.direction:
        out["reverse_flow_share"] = _r(_median(b.reverse_flow_share[k]), 3) if enough else None
        counts = np.bincount(b.phases[k], minlength=4)[1:] if enough else np.zeros(3)
        out["phasicity"] = PHASICITY[int(np.argmax(counts)) + 1] if counts.any() else None
    if vessel is not None and vessel != "artery":
        out["respiratory_phasicity"] = tracker.respiration(ante if tracker.direction else 0)
    return out


def beats_csv(analysis):
    """The per-beat table of an :class:`~dopplerflow.core.result.Analysis` as CSV text.

    One line per beat, the columns of :attr:`Beats.COLUMNS`; cells empty where a
    value is not defined (the last beat's interval, S/D without diastolic flow,
    the reverse-flow share of a mono recording); ``clean`` as 0 or 1.
    """
    b = analysis.beats
    lines = [",".join(Beats.COLUMNS)]
    if b is None:
        return lines[0] + "\n"
    cols = [getattr(b, c) for c in Beats.COLUMNS]
    digits = {"onset_s": 4, "peak_s": 4, "rr_s": 4, "acceleration_time_s": 4, "ri": 4,
              "pi": 4, "sd_ratio": 3, "reverse_flow_share": 4, "heart_rate_bpm": 2}
    for i in range(len(b)):
        cells = []
        for name, col in zip(Beats.COLUMNS, cols, strict=True):
            v = col[i]
            if name in ("phases", "clean"):
                cells.append(str(int(v)))
            elif np.isfinite(v):
                cells.append(f"{float(v):.{digits.get(name, 3)}f}")
            else:
                cells.append("")
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- kernels
@njit(inline="always", **_JIT)
def _ema(state, c, col, value, beta):
    """Bias-corrected exponential mean in ``state[c, col]`` (its weight in ``col + 1``):
    update with ``value`` and return it."""
    state[c, col] = (1.0 - beta) * state[c, col] + beta * value
    state[c, col + 1] = (1.0 - beta) * state[c, col + 1] + beta
    return state[c, col] / state[c, col + 1]


@njit(inline="always", **_JIT)
def _wrap(i, n):
    """``i % n`` for ``-n <= i < 2 n``, without a division."""
    if i >= n:
        return i - n
    if i < 0:
        return i + n
    return i


@njit(inline="always", **_JIT)
def _step(c, j, value, state, steps, acf, params):
    """Close step ``j`` of channel ``c`` with its mean signal ``value`` (NaN: none yet):
    the drive, and the autocorrelation."""
    dn = steps.shape[2]
    at = j % dn
    x = 0.0
    if np.isnan(value):
        value = steps[0, c, _wrap(at - 1, dn)] if j > 0 else 0.0
    else:
        dev = value - _ema(state, c, S_BASE, value, params[P_BASE_BETA])
        var = _ema(state, c, S_VAR, dev * dev, params[P_VAR_BETA])
        x = dev / math.sqrt(var + params[P_FLOOR_VAR_HZ if c < 2 else P_FLOOR_VAR_DB])
    steps[0, c, at] = value
    steps[1, c, at] = x
    bx = params[P_ACF_BETA] * x
    keep = 1.0 - params[P_ACF_BETA]
    lags = min(acf.shape[1], j + 1)
    near = min(lags, at + 1)  # lags whose step has not wrapped round the ring
    for k in range(near):
        acf[c, k] = keep * acf[c, k] + bx * steps[1, c, at - k]
    for k in range(near, lags):
        acf[c, k] = keep * acf[c, k] + bx * steps[1, c, at - k + dn]


@njit(**_JIT)
def _prominence(acf, k):
    """How far the local maximum ``acf[k]`` stands over the lower of the troughs that part
    it from the lags half and one and a half times as long."""
    left = acf[k]
    for j in range(k // 2, k):
        left = min(left, acf[j])
    right = acf[k]
    for j in range(k + 1, min(acf.shape[0], k + k // 2 + 1)):
        right = min(right, acf[j])
    return acf[k] - max(left, right)


@njit(**_JIT)
def _period(acf, lo, hi, sub):
    """Period (lags, interpolated) and periodicity of an autocorrelation ``acf``.

    The local maximum in ``[lo, hi)`` with the highest sum of its height and how far
    it stands out (:func:`_prominence`): a slow drift of the drive lifts the
    autocorrelation of every short lag, not the peak of the period.  A local
    maximum near half or a third of its lag scoring at least ``sub`` times as much
    is taken instead.  The periodicity is the autocorrelation at the period over
    that at lag 0.
    """
    if acf[0] <= 0.0:
        return 0.0, 0.0
    best = -1
    best_p = 0.0
    for k in range(lo, hi):
        if acf[k] >= acf[k - 1] and acf[k] > acf[k + 1]:
            p = acf[k] + _prominence(acf, k)
            if best < 0 or p > best_p:
                best = k
                best_p = p
    if best < 0:
        return 0.0, 0.0
    for div in (3, 2):
        target = best / div
        a = max(lo, int(target * 0.85))
        b = min(hi - 1, int(target * 1.15) + 1)
        for k in range(a, b + 1):
            if acf[k] >= acf[k - 1] and acf[k] > acf[k + 1] and \
                    acf[k] + _prominence(acf, k) >= sub * best_p:
                best = k
                break
        else:
            continue
        break
    y0, y1, y2 = acf[best - 1], acf[best], acf[best + 1]
    den = y0 - 2.0 * y1 + y2
    shift = 0.5 * (y0 - y2) / den if den < 0.0 else 0.0
    return best + shift, max(0.0, y1 / acf[0])


@njit(**_JIT)
def _best_chain(drive, first, last, prev, period, alpha, min_iv, clip, work, beats):
    """The best chain of beats in the drive's steps ``first .. last`` (dynamic programming).

    ``drive`` is the ring of one channel's drive.  ``prev`` is the last beat decided
    (its step; -1: none, and the chain may start anywhere in the first period).
    Intervals run from ``max(min_iv, period / 2)`` to ``2 * period`` steps and cost
    ``alpha * log(interval / period)**2``; a beat gains the drive at its step, up to
    ``clip`` (a knock on the probe is no stronger a beat than a clear pulse).  The
    chain ends at the best step of the last period.  Writes the chain's steps, oldest
    first, into ``beats`` and returns how many.
    """
    dn = drive.shape[0]
    lo = int(math.ceil(max(min_iv, 0.5 * period)))
    hi = int(math.floor(2.0 * period))
    n = last - first + 1
    score = work[0]
    back = work[1]
    pen = work[2]
    for d in range(lo, hi + 1):
        pen[d] = alpha * math.log(d / period) ** 2
    at = first % dn
    for i in range(n):
        t = first + i
        best = -np.inf
        arg = -2
        if prev < 0:
            if t < first + period:
                best = 0.0
                arg = -1
        else:
            iv = t - prev
            if lo <= iv <= hi:
                best = -pen[iv]
                arg = -1
        for j in range(max(0, i - hi), i - lo + 1):
            v = score[j] - pen[i - j]
            if v > best:
                best = v
                arg = j
        score[i] = -np.inf if arg == -2 else min(drive[at], clip) + best
        back[i] = arg
        at = _wrap(at + 1, dn)
    end = -1
    for i in range(max(0, int(n - period)), n):
        if score[i] > -np.inf and (end < 0 or score[i] > score[end]):
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


@njit(**_JIT)
def _smoothed(ring, rn, c, floor_level, a, b, h):
    """Channel ``c``'s signal of rows ``a .. b - 1``, each the mean over ``2 h + 1`` rows:
    fmax (Hz), or the flow power in dB over ``floor_level``."""
    m = b - a + 2 * h
    raw = np.empty(m + 1)
    raw[0] = 0.0
    at = (a - h) % rn
    for q in range(m):
        if c < 2:
            v = np.float64(ring[at, 3 * c])
        else:
            v = 10.0 * math.log10(max(np.float64(ring[at, 2]) + np.float64(ring[at, 5]),
                                      floor_level))
        raw[q + 1] = raw[q] + v  # running sum
        at = _wrap(at + 1, rn)
    out = np.empty(b - a)
    for q in range(b - a):
        out[q] = (raw[q + 2 * h + 1] - raw[q]) / (2 * h + 1)
    return out


@njit(**_JIT)
def _onset(sm, a, beat):
    """Onset (fractional row) of the upstroke before row ``beat`` in the smoothed signal
    ``sm`` of rows ``a ..``: where the tangent at the steepest rise meets the lowest
    level before that rise (``a`` when there is no rise)."""
    steep = -1
    slope = 0.0
    for j in range(a + 1, beat):
        sl = 0.5 * (sm[j + 1 - a] - sm[j - 1 - a])
        if sl > slope:
            slope = sl
            steep = j
    if steep < 0:
        return float(a)
    low = sm[steep - a]
    for j in range(a, steep + 1):
        low = min(low, sm[j - a])
    foot = steep - (sm[steep - a] - low) / slope
    return min(max(foot, float(a)), float(steep))


@njit(**_JIT)
def _measure(ring, rn, o0, o1, ante, direction, min_phase, edv_rows, out, col):
    """Measures of the beat from onset ``o0`` to the next onset ``o1`` (rows) with ``ante``
    as the antegrade direction, into ``out[col:col + M_WIDTH]`` (Hz, rows, Hz·rows).

    The signed maximum velocity of a row follows the trace's rule: the antegrade
    fmax, or minus the retrograde one where that direction has more power.  The
    phases are runs of one sign at least ``min_phase`` rows long (rows without flow
    do not break a run; runs of one sign on either side of a shorter one merge),
    counted up to 3 (forward, reverse, forward).
    """
    i0 = int(math.ceil(o0))
    i1 = int(math.ceil(o1))  # rows i0 .. i1 - 1
    n = i1 - i0
    for m in range(M_WIDTH):
        out[col + m] = np.nan
    if n < 3:
        return
    r = 1 - ante
    # end-diastolic velocity: the median of the signed envelope over the last EDV_SPAN of
    # the beat, up to EDV_S before the next onset (the spectra's window, average and
    # median spread the upstroke back by about that much)
    skip = int(round(edv_rows))
    e0 = i1 - max(skip + 1, int(EDV_SPAN * n))
    e1 = i1 - skip
    buf = np.empty(e1 - e0)
    psv, peak, tamv, tav, fwd, rev = -1.0, i0, 0.0, 0.0, 0.0, 0.0
    phases, last_sign, run_sign, run = 0, 0, 0, 0
    prev_fa = np.float64(ring[(i0 - 1) % rn, 3 * ante])
    at = i0 % rn
    for i in range(i0, i1 + 1):
        s = 0
        if i < i1:
            fa = np.float64(ring[at, 3 * ante])
            next_fa = np.float64(ring[_wrap(at + 1, rn), 3 * ante])
            mean3 = (prev_fa + fa + next_fa) / 3.0
            prev_fa = fa
            if mean3 > psv:
                psv = mean3
                peak = i
            fwd += fa
            v = fa
            if direction:
                fr = np.float64(ring[at, 3 * r])
                rev += fr
                pa = np.float64(ring[at, 3 * ante + 2]) if fa > 0 else 0.0
                pr = np.float64(ring[at, 3 * r + 2]) if fr > 0 else 0.0
                if pr > pa:
                    v = -fr
                if pa + pr > 0:
                    tav += (np.float64(ring[at, 3 * ante + 1]) * pa
                            - np.float64(ring[at, 3 * r + 1]) * pr) / (pa + pr)
            elif fa > 0:
                tav += np.float64(ring[at, 3 * ante + 1])
            tamv += v
            if e0 <= i < e1:
                buf[i - e0] = v
            s = 1 if v > 0 else (-1 if v < 0 else 0)
            at = _wrap(at + 1, rn)
            if s == 0 or s == run_sign:
                run += 1 if s != 0 else 0
                continue
        if run_sign != 0 and run >= min_phase and run_sign != last_sign:
            phases += 1
            last_sign = run_sign
        run_sign = s
        run = 1
    buf.sort()
    k = e1 - e0
    out[col + M_PSV] = psv
    out[col + M_PEAK] = peak
    out[col + M_EDV] = buf[k // 2] if k % 2 else 0.5 * (buf[k // 2 - 1] + buf[k // 2])
    out[col + M_TAMV] = tamv / n
    out[col + M_TAV] = tav / n
    out[col + M_FWD] = fwd
    out[col + M_REV] = rev
    out[col + M_PHASES] = min(phases, 3)


@njit(**_JIT)
def _floor_level(state, params):
    """The power channel's floor: ``POWER_FLOOR`` times its running mean (0: none yet)."""
    w = state[2, S_PMEAN + 1]
    return params[P_FLOOR] * state[2, S_PMEAN] / w if w > 0 else 0.0


@njit(**_JIT)
def _commit(c, jb, ring, rn, n_rows, steps, state, params, half, out, k):
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
    sm = _smoothed(ring, rn, c, floor_level, a, b, h)
    beat = max(a, (jb - 1) * step)
    for i in range(beat, b):
        if sm[i - a] > sm[beat - a]:
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
                state[c, S_LAST_T], state[c, S_LAST_Q], onset, ring, rn, params, out[k])
        written = 1
    state[c, S_LAST_J] = jb
    state[c, S_LAST_ROW] = beat
    state[c, S_LAST_O] = onset
    state[c, S_LAST_E] = evidence
    state[c, S_LAST_T] = period
    state[c, S_LAST_Q] = state[c, S_Q]
    return written


@njit(**_JIT)
def _record(c, onset, centre, evidence, period, periodicity, next_onset, ring, rn, params, rec):
    """One beat's record: head and the measures for the antegrade directions the channel
    serves (the max envelope of a direction: that direction; the power: either, or the
    one given)."""
    rec[R_CHANNEL] = c
    rec[R_ONSET] = onset
    rec[R_CENTRE] = centre
    rec[R_EVIDENCE] = evidence
    rec[R_PERIOD] = period
    rec[R_PERIODICITY] = periodicity
    rec[R_RR] = next_onset - onset
    direction = params[P_DIRECTION] > 0
    skip = int(params[P_SKIP])
    for h in range(2):
        col = REC_HEAD + h * M_WIDTH
        if np.isnan(next_onset) or (c < 2 and h != c) or h == skip:
            for m in range(M_WIDTH):
                rec[col + m] = np.nan
        else:
            _measure(ring, rn, onset, next_onset, h, direction, params[P_MIN_PHASE],
                     params[P_EDV], rec, col)


@njit(inline="always", **_JIT)
def _decide(c, j, final, ring, rn, n_rows, steps, acf, state, params, half, work, chain, out,
            k):
    """Decide the beats of channel ``c`` whose chain is settled with the drive up to step
    ``j``; at the end of the stream (``final``) all of them.  Returns records written."""
    warm = j + 1 >= params[P_WARMUP]
    lo, hi = int(params[P_LO]), int(params[P_HI])
    if (not warm and not final) or j < hi + 1:
        return 0
    if final or state[c, S_PERIOD] <= 0.0 or j % int(params[P_PERIOD_EVERY]) == 0:
        state[c, S_PERIOD] = _period(acf[c], lo, hi, params[P_SUB])[0]
    period = state[c, S_PERIOD]
    if period <= 0.0:
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
                               out, k + written)
        if final:
            break
    if final and state[c, S_LAST_J] >= 0:
        _record(c, state[c, S_LAST_O], state[c, S_LAST_ROW], state[c, S_LAST_E],
                state[c, S_LAST_T], state[c, S_LAST_Q], np.nan, ring, rn, params,
                out[k + written])
        written += 1
    return written


@njit(**_JIT)
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


@njit(**_JIT)
def _beat_rows(rows, final, ring, steps, acf, state, count, work, chain, params, half,
               breath_sos, breath_zi, breath_step_zi, breath, out):
    """Run stored rows through the beat stage; returns the beat records written to ``out``.

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
    k = 0
    for i in range(rows.shape[0]):
        n = count[C_ROWS]
        at = n % rn
        for q in range(6):
            ring[at, q] = rows[i, q]
        state[0, S_SUM] += rows[i, 0]
        state[1, S_SUM] += rows[i, 3]
        state[2, S_SUM] += np.float64(rows[i, 2]) + np.float64(rows[i, 5])
        count[C_ROWS] = n + 1
        if (n + 1) % step:
            continue
        j = count[C_STEPS]
        f0, f1, p = state[0, S_SUM] / step, state[1, S_SUM] / step, state[2, S_SUM] / step
        state[0, S_SUM] = state[1, S_SUM] = state[2, S_SUM] = 0.0
        breath[0, 0] += f0
        breath[1, 0] += f1
        if (j + 1) % bsteps == 0:
            _breathe(breath, breath_sos, breath_zi, breath_step_zi, count, params)
        mean = _ema(state, 2, S_PMEAN, p, params[P_PMEAN_BETA])
        power = 10.0 * math.log10(max(p, params[P_FLOOR] * mean)) if mean > 0 else np.nan
        for c in range(N_CHANNELS):
            if c == skip:
                continue
            _step(c, j, f0 if c == 0 else (f1 if c == 1 else power), state, steps, acf, params)
            k += _decide(c, j, False, ring, rn, n + 1, steps, acf, state, params, half, work,
                         chain, out, k)
        count[C_STEPS] = j + 1
    if final and count[C_STEPS] > 0:
        for c in range(N_CHANNELS):
            if c != skip:
                k += _decide(c, count[C_STEPS] - 1, True, ring, rn, count[C_ROWS], steps, acf,
                             state, params, half, work, chain, out, k)
    return k
