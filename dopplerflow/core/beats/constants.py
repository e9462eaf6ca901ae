"""The beat stage's settings, and the named slots of its kernels' arrays.

Every tunable figure of :mod:`dopplerflow.core.beats` is here with what it means; the
kernels read them as compile-time constants or from ``BeatTracker.params`` (slots
``P_*``), and the records, state and counters they write have named columns (``R_*``,
``M_*``, ``S_*``, ``C_*``).
"""

from ..rows import PEAK_MEAN_X as _PEAK_MEAN_X

#: Names of the detection channels, by index.
CHANNELS = ("fmax_toward", "fmax_away", "power")
#: What each channel is, as the result names the signal used.
CHANNEL_SIGNALS = ("max_envelope", "max_envelope", "band_power")
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
#: A row's maximum frequency is a candidate for the PSV where it is at most this many times
#: its mean frequency (:data:`~dopplerflow.core.rows.PEAK_MEAN_X`: not the top of a faint
#: broadband transient over slower flow).
PEAK_MEAN_X = _PEAK_MEAN_X
#: Shortest run of one flow direction that counts as a phase of the waveform, s.
MIN_PHASE_S = 0.03
#: End-diastolic velocity: read on the signed envelope over the last ``EDV_SPAN`` of the
#: beat up to ``EDV_S`` before the next onset (share, s).
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
#: The max envelope is used unless the flow power's periodicity is higher by this much.
CHANNEL_MARGIN = 0.05
#: Periodicity at which the max envelope is used whatever the power's.
GOOD_PERIODICITY = 0.6
#: Seconds of breathing measured, at least, for a call (two slow breaths).
BREATH_MIN_S = 6.0
#: Respiratory modulation at or above which the phasicity is present, and at or above
#: which it is reduced rather than absent.
BREATH_PRESENT, BREATH_REDUCED = 0.3, 0.1

# ------------------------------------------------------------------------------ the result
#: Least periodicity (mean autocorrelation peak of the channel used) for a heart rate.
MIN_PERIODICITY = 0.35
#: A clean beat's interval is within this share of the median of the five around it.
RR_TOLERANCE = 0.2
#: A clean beat was decided with a period within this factor of the recording's usual one.
PERIOD_RANGE = 1.5
#: Clean beats needed for a heart rate and indices.
MIN_CLEAN = 3
#: Waveform phasicity by the number of flow phases of a beat.
PHASICITY = {1: "monophasic", 2: "biphasic", 3: "triphasic"}

# ------------------------------------------------------------------------- kernel layouts
# columns of a beat record from the kernel (rows and Hz); then, per antegrade hypothesis
# h (0 toward, 1 away), M_WIDTH measures from column REC_HEAD + h * M_WIDTH
(R_CHANNEL, R_ONSET, R_CENTRE, R_EVIDENCE, R_PERIOD, R_RR, R_PERIODICITY) = range(7)
REC_HEAD = 7
(M_PSV, M_PEAK, M_EDV, M_TAMV, M_TAV, M_FWD, M_REV, M_PHASES, M_EDV_SLOPE,
 M_EDV_REACH) = range(10)
M_WIDTH = 10
REC_WIDTH = REC_HEAD + 2 * M_WIDTH
# per-channel state: exponential means (value, weight), the step being summed (and, in the
# power channel's, whether it holds a row not analysed), the period (steps) and
# periodicity, their running sum, the last beat decided (step, row, onset row, drive,
# period in rows, periodicity) and the usual lead of onset to beat (rows)
(S_BASE, S_BASE_W, S_VAR, S_VAR_W, S_PMEAN, S_PMEAN_W, S_SUM, S_GAP, S_PERIOD, S_Q,
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
