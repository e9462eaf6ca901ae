"""The beats of a finished recording: :class:`Beats`, :func:`beat_result` and the CSV.

:func:`beat_result` reads a finished :class:`~.tracker.BeatTracker`: it picks the
channel the beats are read on, keeps one beat a cycle where the chain locked on a
fraction of the period, converts the records to seconds and cm/s, flags the
clean beats and sums the recording up (the JSON's ``beats``); :func:`beats_csv`
writes the per-beat table.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from ..tones import LINE_REACH
from ._columns import (
    B_ACC,
    B_CLEAN,
    B_EDV,
    B_HR,
    B_PHASES,
    B_PI,
    B_PSV,
    B_RI,
    B_SD,
    B_SHARE,
    B_TAMV,
    B_TAV,
    B_WIDTH,
    _beat_columns,
)
from .constants import (
    ALPHA,
    CHANNEL_SIGNALS,
    DRIVE_CLIP,
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
    MAX_PERIOD_S,
    MIN_CLEAN,
    MIN_EVIDENCE,
    MIN_PERIOD_S,
    MIN_PERIODICITY,
    PERIOD_RANGE,
    PHASICITY,
    R_CHANNEL,
    R_EVIDENCE,
    R_ONSET,
    R_PERIOD,
    R_PERIODICITY,
    R_RR,
    REC_HEAD,
)

__all__ = ["Beats", "beat_result", "beats_csv", "in_heart_range", "write_beats_csv"]

#: Decimals of each per-beat column in the CSV and the JSON (3 where not given); ``phases``
#: and ``clean`` are whole numbers.
DIGITS = {"onset_s": 4, "peak_s": 4, "rr_s": 4, "acceleration_time_s": 4, "ri": 4, "pi": 4,
          "sd_ratio": 3, "reverse_flow_share": 4, "heart_rate_bpm": 2}
_WHOLE = ("phases", "clean")


@dataclass
class Beats:
    """The beats of a recording: one entry per beat in each array, in time order.

    Attributes
    ----------
    signal : str or None
        What the beats were read on: ``"max_envelope"`` (the antegrade maximum
        velocity) or ``"band_power"`` (where the envelope shows no clear pulse);
        None when neither shows a periodic pulse (then there are no beats).
    periodicity : float or None
        Mean height (0-1) of the autocorrelation peak at the beat period of that
        signal: near 1 for a clean pulse, under 0.3 for none.  None where it was never
        measured: a recording (or its signal) shorter than the search's warm-up
        (:data:`~.constants.WARMUP_S`).
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
    periodicity: float | None
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

    def to_lists(self):
        """The per-beat columns for JSON: ``{column: list}`` in :attr:`COLUMNS` order, the
        values rounded as in :func:`beats_csv`, None where one is not defined, ``phases``
        as integers and ``clean`` as true or false."""
        out = {}
        for name in self.COLUMNS:
            col = np.asarray(getattr(self, name))
            if name == "clean":
                out[name] = [bool(v) for v in col]
            elif name == "phases":
                out[name] = [int(v) for v in col]
            else:
                d = DIGITS.get(name, 3)
                out[name] = [round(v, d) if math.isfinite(v) else None
                             for v in col.astype(float).tolist()]
        return out


#: No row range left unanalysed (:func:`beat_result`'s, read-only in the kernel).
_NO_GAPS = np.empty((0, 2), np.int64)

#: Candidates an interval of a run chained again spans at most (:func:`_run_chain`).
RUN_BACK = 8


def _usual_period(tab):
    """The recording's beat period (rows) from the records ``tab`` of one channel: the
    median over time of the periods the beats were decided with, weighted by how
    periodic the drive was (None: no beats, or no periodic drive)."""
    if not len(tab):
        return None
    # the two columns ranked, not the records
    order = np.argsort(tab[:, R_PERIOD])
    ranked = tab[order, R_PERIOD]
    w = np.cumsum(tab[order, R_PERIODICITY] * ranked)
    if w[-1] <= 0:
        return None
    return ranked[np.searchsorted(w, 0.5 * w[-1])]


def _run_chain(onset, gain, usual, a, b, first, end):
    """The beats kept of the candidates ``first .. end - 1`` between the kept beats ``a``
    and ``b`` (-1 and ``len(onset)``: none, the run starts or ends the recording): the
    chain with the most ``gain`` at its beats less ``ALPHA * log(RR / usual)**2`` for
    each interval, no interval under half ``usual`` (the chain of beats' rule, at the
    recording's period).  Returns the indices kept."""
    n = len(onset)

    def pen(d):
        return ALPHA * math.log(d / usual) ** 2 if d >= 0.5 * usual else math.inf

    score = np.full(end - first, -math.inf)
    back = np.full(end - first, -1)
    for i in range(first, end):
        # from the beat before the run, or anywhere in the run's first period without one
        best = -pen(onset[i] - onset[a]) if a >= 0 else (
            0.0 if onset[i] - onset[first] < usual else -math.inf)
        arg = -1
        # an interval spans at most a few candidates (two cycles locked on a third: six)
        for j in range(max(first, i - RUN_BACK), i):
            v = score[j - first] - pen(onset[i] - onset[j])
            if v > best:
                best, arg = v, j
        score[i - first] = gain[i] + best
        back[i - first] = arg
    # to the beat after the run, or ending anywhere in the run's last period without one
    best = -pen(onset[b] - onset[a]) if a >= 0 and b < n else -math.inf
    last = -1
    for i in range(first, end):
        tail = -pen(onset[b] - onset[i]) if b < n else (
            0.0 if onset[end - 1] - onset[i] < usual else -math.inf)
        if score[i - first] + tail > best:
            best, last = score[i - first] + tail, i
    kept = []
    while last >= 0:
        kept.append(last)
        last = int(back[last - first])
    return kept


def _one_a_cycle(tab):
    """The records ``tab`` (one channel, time order) with one beat a cycle where the
    drive was locked on a fraction of the recording's period.

    A precordial Doppler carries two flow events a cycle (systolic and diastolic),
    and where they are alike the autocorrelation peaks at half the period: the chain
    of beats then takes both.  Each run of beats decided with a period off the
    recording's usual one (by more than ``PERIOD_RANGE``) is chained again at the
    usual period between the beats around it (:func:`_run_chain`); a beat left out is
    merged into the beat before it (its interval, PSV and peak, EDV, means and
    integrals).  The beats of the run stay not clean (their period was off).

    Returns the records, their usual period (:func:`_usual_period`, found once
    where no beat was merged) and how far off it each record's period is
    (:func:`_period_offset`).
    """
    usual = _usual_period(tab)
    if usual is None:
        return tab, None, None
    offset = _period_offset(tab, usual)
    off = offset > math.log(PERIOD_RANGE)
    if not off.any():
        return tab, usual, offset
    onset = tab[:, R_ONSET]
    gain = np.minimum(tab[:, R_EVIDENCE], DRIVE_CLIP)
    keep = ~off
    i, n = 0, len(tab)
    while i < n:
        if not off[i]:
            i += 1
            continue
        j = i
        while j < n and off[j]:
            j += 1
        keep[_run_chain(onset, gain, usual, i - 1, j, i, j)] = True
        i = j
    if keep.all():
        return tab, usual, offset
    out = tab.copy()
    kept = np.flatnonzero(keep)
    for q, k in enumerate(kept):
        stop = kept[q + 1] if q + 1 < len(kept) else n
        if stop == k + 1:
            continue
        part = tab[k:stop]
        rr = part[:, R_RR]
        out[k, R_RR] = rr.sum()
        for h in range(2):
            m = part[:, REC_HEAD + h * M_WIDTH:REC_HEAD + (h + 1) * M_WIDTH]
            o = out[k, REC_HEAD + h * M_WIDTH:REC_HEAD + (h + 1) * M_WIDTH]
            if np.isnan(m[:, M_PSV]).any():
                o[:] = np.nan
                continue
            top = int(np.argmax(m[:, M_PSV]))
            o[M_PSV], o[M_PEAK] = m[top, M_PSV], m[top, M_PEAK]
            o[M_EDV], o[M_EDV_SLOPE], o[M_EDV_REACH] = m[-1, [M_EDV, M_EDV_SLOPE, M_EDV_REACH]]
            o[M_TAMV] = np.dot(m[:, M_TAMV], rr) / rr.sum()
            o[M_TAV] = np.dot(m[:, M_TAV], rr) / rr.sum()
            o[M_FWD], o[M_REV] = m[:, M_FWD].sum(), m[:, M_REV].sum()
            o[M_PHASES] = m[:, M_PHASES].max()
    # beats before the first one kept have no beat to merge into
    out = out[kept]
    usual = _usual_period(out)
    return out, usual, None if usual is None else _period_offset(out, usual)


def _carry_edv(tab, h):
    """Carry each beat's EDV (antegrade hypothesis ``h``) from the middle of the stretch
    it is read on to the beat's end, along the median slope of the beats with a pulse,
    in place: the velocity at the end of diastole, where the flow still slows on most
    arteries (the umbilical artery's falls by a tenth of the PSV over a cycle; the
    stretch's median stands some 0.08 of a cycle before the end).  One beat's slope, over
    a few dozen rows of noisy envelope, is about as uncertain as the fall it measures;
    the median over the recording's beats is not.  A rising median slope is the next
    upstroke's foot within the stretches (onsets are placed on its steep part), not
    diastole: the EDVs are then left at the stretches' medians, which hold while under
    half the rows are the foot's.  Nor are a vein's carried (:func:`beat_result` calls this
    for an artery or no preset): its beat ends in the reversal of the atrial wave, not in
    a slowing diastole, and the fall into it would carry its EDV far past it."""
    col = REC_HEAD + h * M_WIDTH
    slope = tab[:, col + M_EDV_SLOPE]
    pulse = (tab[:, R_EVIDENCE] >= MIN_EVIDENCE) & np.isfinite(tab[:, R_RR]) & np.isfinite(slope)
    fall = float(np.median(slope[pulse])) if pulse.any() else 0.0
    if fall < 0.0:
        tab[:, col + M_EDV] += fall * tab[:, col + M_EDV_REACH]


def _period_offset(tab, usual):
    """How far off the usual period (rows) each record's period is: ``|log(T / usual)|``."""
    return np.abs(np.log(tab[:, R_PERIOD] / usual))


def beat_result(tracker, ante, scale, unanalysed, vessel=None, lines_hz=(), bin_hz=0.0,
                blind=()):
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
        Row ranges not analysed (``Timeline.unanalysed``), and those of the reflux
        events: beats over them are not clean.
    vessel : str, optional
        The vessel preset: the respiratory phasicity is given for veins (a preset other
        than ``artery``), and the EDV of the other beats is carried to their end
        (:func:`_carry_edv`).
    lines_hz : sequence of float, optional
        The tonal lines found in the recording (signed baseband Hz): a beat whose PSV or
        EDV stands within :data:`~dopplerflow.core.tones.LINE_REACH` bins of one on its
        antegrade side was read on the line, before it was known, and is not clean.
    bin_hz : float, optional
        The spectrum's bin width, Hz.
    blind : list of [int, int], optional
        Row ranges where a beat may go unseen: lost or blanked samples, a quiet stretch
        (the probe's contact lost, the gain turned down).  The beats placed in them without
        a pulse are no beats (:func:`_drop_blind`).

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
    q = tracker._periodicity()  # (Python floats: read without numpy scalars)
    c = tracker.channel(ante, q)
    tab = tracker.table()
    # a channel's records are in time order as decided: each onset lies after the beat
    # before (its row), and that beat's onset before it
    tab = tab[tab[:, R_CHANNEL] == c] if q[c] >= MIN_PERIODICITY else tab[:0]
    # a beat placed without a pulse bridges a missed beat between two seen ones; before the
    # first pulse and after the last there is nothing to bridge
    seen = np.flatnonzero(tab[:, R_EVIDENCE] >= MIN_EVIDENCE)
    tab, usual, offset = _one_a_cycle(tab[seen[0]:seen[-1] + 1] if len(seen) else tab[:0])
    tab, kept = _drop_blind(tab, np.array(blind, np.float64).reshape(-1, 2))
    if offset is not None and kept is not None:
        offset = offset[kept]
    h = ante if tracker.direction else 0
    tab = np.ascontiguousarray(tab)  # (a copy of the tracker's records)
    if vessel is None or vessel == "artery":
        _carry_edv(tab, h)
    # a stretch locked on half or twice the recording's period (two flow events a cycle, a
    # weak pulse) is not clean
    period_ok = (offset <= math.log(PERIOD_RANGE) if usual is not None
                 else np.ones(len(tab), bool))
    gaps = np.array(unanalysed, np.int64).reshape(-1, 2) if len(unanalysed) else _NO_GAPS
    cols = np.empty((B_WIDTH, len(tab)))
    lines = np.abs(np.asarray(lines_hz, np.float64))
    if tracker.direction:  # the lines on the measures' antegrade side
        lines = lines[np.asarray(lines_hz) > 0] if h == 0 else lines[np.asarray(lines_hz) < 0]
    counts = _beat_columns(tab, h, tracker.direction, hop, t0, scale, period_ok, gaps, lines,
                           LINE_REACH * bin_hz, np.empty(5), cols)
    beats = Beats(
        signal=CHANNEL_SIGNALS[c] if len(tab) else None,
        periodicity=float(q[c]) if tracker.measured()[c] else None,
        **dict(zip(Beats.COLUMNS[:B_PHASES], cols[:B_PHASES], strict=True)),  # (row views)
        phases=cols[B_PHASES].astype(int), clean=cols[B_CLEAN] > 0)
    beats.summary = _summary(beats, tracker, ante, vessel, cols, counts)
    return beats


def _drop_blind(tab, blind):
    """The records ``tab`` without the beats placed without a pulse whose onset lies in a
    stretch where a beat may go unseen (``blind``, row ranges ``[first, end)``), and the
    mask of those kept (None: all are).

    The tracker keeps its period through such a stretch and places a beat a period on,
    as it bridges a missed beat between two seen; but where nothing could be seen no beat
    is seen to be missed: the beats placed there (PSV and EDV 0, a period apart through a
    probe's contact lost for seconds: counted, rejected, marked on the figure) are
    dropped, and the beat before them takes the interval to the next beat kept (NaN:
    none), which spans the stretch and is rejected as any interval far from its
    neighbours'; its EDV, TAMV, TAV, phases and reverse-flow share, measured to the end of
    an interval that was never seen, are NaN.
    """
    if not len(blind) or not len(tab):
        return tab, None
    onset = tab[:, R_ONSET, None]
    inside = ((onset >= blind[:, 0]) & (onset < blind[:, 1])).any(axis=1)
    kept = ~(inside & (tab[:, R_EVIDENCE] < MIN_EVIDENCE))
    if kept.all():
        return tab, None
    rows = np.flatnonzero(kept)
    out = tab[rows]
    # a beat whose next record was dropped: its interval runs to the next kept, and what
    # was measured to the end of the one it had (its diastole's velocity, its means, the
    # flow's phases and reversal) is not known
    before = np.flatnonzero(np.diff(np.append(rows, len(tab))) > 1)
    nxt = np.append(out[1:, R_ONSET], np.nan)
    out[before, R_RR] = nxt[before] - out[before, R_ONSET]
    for h in range(2):
        for m in (M_EDV, M_TAMV, M_TAV, M_FWD, M_REV, M_PHASES):
            out[before, REC_HEAD + h * M_WIDTH + m] = np.nan
    return out, kept


def _percentile(x, q):
    """``np.percentile(x, q)`` of finite ``x`` sorted (an array or a list; its default
    linear interpolation, computed as numpy computes it, value for value), without its
    cost on a few dozen values."""
    n = len(x)
    v = (n - 1) * (q / 100)
    if v >= n - 1:
        return float(x[-1])
    lo = math.floor(v)
    a, b, g = float(x[lo]), float(x[lo + 1]), v - lo
    d = b - a
    return b - d * (1 - g) if g >= 0.5 else a + d * g


def _r(x, digits):
    return None if x is None else round(x, digits)


#: The summary's medians over the clean beats: per-beat column, decimals, and its row in
#: the kernel's columns (consecutive rows, from B_HR).
_MEDIANS = (("heart_rate_bpm", 1, B_HR), ("psv_cm_s", 2, B_PSV), ("edv_cm_s", 2, B_EDV),
            ("tamv_cm_s", 2, B_TAMV), ("tav_cm_s", 2, B_TAV), ("ri", 3, B_RI), ("pi", 3, B_PI),
            ("sd_ratio", 2, B_SD), ("acceleration_time_s", 4, B_ACC),
            ("reverse_flow_share", 3, B_SHARE))


def _medians(cols):
    """Median of the finite values of each row of ``cols`` (None: none): the middle value,
    or the mean of the two, as ``np.median`` takes it; all rows sorted at once (a value
    not finite sorted last, as NaN); ``cols`` has a column at least.  Returns the
    medians, the sorted first row (a list) and the rows' counts of finite values."""
    finite = np.isfinite(cols)
    x = np.where(finite, cols, np.nan)
    x.sort(axis=1)
    counts = finite.sum(axis=1)  # (sorting does not change them)
    # the middle value of each row and the one before it (the two of an even count), read
    # as Python floats: the same sums and halves, without numpy scalars, and without
    # reading the rest of the rows
    at = np.arange(len(x))
    half = counts // 2
    upper = x[at, half].tolist()
    lower = x[at, half - 1].tolist()  # (for a row with no value, the last: not read)
    counts = counts.tolist()
    out = [None if not n else (b if n % 2 else (a + b) / 2)
           for a, b, n in zip(lower, upper, counts, strict=True)]
    return out, x[0].tolist(), counts


def _sd_median(sd):
    """Median S/D of the clean beats' ``sd`` (NaN: no forward flow at end-diastole),
    a beat without diastolic flow counted as an infinite S/D: None where half the beats
    or more have none (the EDV's median is then 0 or under, and PSV / EDV no number)."""
    n = len(sd)
    x = np.sort(sd)  # (NaN last: where the infinite ratios sort)
    a, b = float(x[(n - 1) // 2]), float(x[n // 2])
    return None if math.isnan(b) else 0.5 * (a + b)


def in_heart_range(rate_bpm):
    """Whether a median beat rate, beats/min, lies in the period search's range
    (:data:`~.constants.MIN_PERIOD_S` to :data:`~.constants.MAX_PERIOD_S`: 30-240/min): no
    heart beats faster or slower, and beats outside it are something else's."""
    return 60.0 / MAX_PERIOD_S <= rate_bpm <= 60.0 / MIN_PERIOD_S


def _summary(b, tracker, ante, vessel, cols, counts):
    """The JSON's ``beats`` entry of :class:`Beats` ``b``, whose columns are the rows of
    ``cols`` and ``counts`` the counts of beats (:func:`~._columns._beat_columns`)."""
    k = b.clean
    n_clean, complete, *phases = counts
    enough = n_clean >= MIN_CLEAN
    if enough and not in_heart_range(float(np.median(b.heart_rate_bpm[k]))):
        # beats at a rate no heart has (a vein's noise locked at the search's edge) give
        # neither a heart rate nor indices
        enough = False
    q = None if b.periodicity is None else round(b.periodicity, 3)
    out = {"signal": b.signal, "periodicity": q, "n_beats": len(b),
           "n_clean": n_clean, "n_rejected": complete - n_clean}
    names = _MEDIANS if tracker.direction else _MEDIANS[:-1]
    if enough:
        med, first, counts = _medians(cols[B_HR:B_HR + len(names), k])
        # the clean beats' rates are all finite (a clean beat has a finite interval): the
        # sorted first row is the sorted rates _percentile takes
        hr = first if counts[0] == n_clean else np.sort(b.heart_rate_bpm[k])
        out["heart_rate_bpm"] = _r(med[0], 1)
        out["heart_rate_iqr_bpm"] = round(_percentile(hr, 75) - _percentile(hr, 25), 1)
        for (name, digits, _), m in zip(names[1:], med[1:], strict=True):
            out[name] = _r(m, digits)
        # (the S/D's median counts every clean beat, one without diastolic flow as an
        # infinite ratio, where the loop's leaves it out)
        out["sd_ratio"] = _r(_sd_median(cols[B_SD, k]), 2)
    else:
        out["heart_rate_bpm"] = out["heart_rate_iqr_bpm"] = None
        for name, _, _ in names[1:]:
            out[name] = None
    if tracker.direction:
        # the commonest phase count of the clean beats (the fewest phases of a tie)
        phases = phases if enough else [0, 0, 0]
        out["phasicity"] = PHASICITY[phases.index(max(phases)) + 1] if any(phases) else None
    if vessel is not None and vessel != "artery":
        out["respiratory_phasicity"] = tracker.respiration(ante if tracker.direction else 0)
    return out


def beats_csv(analysis):
    """The per-beat table of an :class:`~dopplerflow.core.result.Analysis` as CSV text.

    One line per beat, the columns of :attr:`Beats.COLUMNS`; cells empty where a
    value is not defined (the last beat's interval, S/D without diastolic flow,
    the reverse-flow share of a mono recording); ``phases`` as a whole number,
    ``clean`` as 0 or 1; the others to the decimals of :data:`DIGITS`.
    """
    b = analysis.beats
    lines = [",".join(Beats.COLUMNS)]
    if b is None:
        return lines[0] + "\n"
    cols = [np.asarray(getattr(b, c)) for c in Beats.COLUMNS]
    for i in range(len(b)):
        cells = []
        for name, col in zip(Beats.COLUMNS, cols, strict=True):
            v = col[i]
            if name in _WHOLE:
                cells.append(str(int(v)))
            elif np.isfinite(v):
                cells.append(f"{float(v):.{DIGITS.get(name, 3)}f}")
            else:
                cells.append("")
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def write_beats_csv(analysis, path):
    """Write :func:`beats_csv` of ``analysis`` to ``path`` at once
    (:func:`~dopplerflow.core.io.atomic_output`: on any failure the file is left as it
    was), or to an open text file (``sys.stdout``), as
    :func:`~dopplerflow.core.io.write_csv` writes the trace.

    Raises
    ------
    AudioFileError
        ``path`` cannot be written.
    """
    from ..io import atomic_output

    text = beats_csv(analysis)
    if hasattr(path, "write"):
        path.write(text)
        return
    with atomic_output(path, newline="") as fh:
        fh.write(text)
