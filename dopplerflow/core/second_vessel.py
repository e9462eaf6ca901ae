"""Second-vessel stage: a persistent vessel beside the vessel under study.

A row stage.  With the antegrade direction given, :class:`SecondVessel` finds a
persistent vessel flowing the retrograde way (an artery beside the vein) once it is
established, and keeps only the vessel under study in that direction: retrograde flow
then counts only where it stands a step (:data:`~dopplerflow.core.reflux.ENTER_RATIO`)
above the persistent vessel.  The rows before it was established, within its time
constant, are held back and re-read with its power (:meth:`SecondVessel.release`), so
the final trace and summary do not show its first beats as reflux.  With the direction
chosen from the flow, :class:`TwoVesselWatch` only watches for flow both ways at once:
which vessel is under study cannot then be told, and reflux is not assessable.

The numba kernels are at the end of this module.
"""

import math

import numpy as np
from numba import njit

from ._numba import _JIT, _sum3, _walk_out
from .envelopes import FMAX_HZ, MIN_RUN, POWER, _envelopes, _excess3, method_code
from .reflux import ENTER_RATIO
from .rows import expand, stored_columns

__all__ = ["SecondVessel", "TwoVesselWatch", "concurrent_limit"]

#: Longest cardiac period at rest, s (40 beats/min): an artery in the beam shows flow
#: in every beat, so it is gone once its direction stays empty this long; the share of
#: rows with flow both ways is counted over about this long.
CARDIAC_PERIOD_S = 1.5
#: Shortest cardiac period considered, s (120 beats/min): a single vessel shows flow in
#: both directions only while it reverses, at most twice a beat (triphasic arteries).
SHORTEST_CARDIAC_PERIOD_S = 0.5
#: Time constant of the persistent-vessel statistics, s: two of the longest cardiac
#: periods, so the power of a pulsatile vessel is averaged over whole beats.
PERSIST_TAU_S = 2 * CARDIAC_PERIOD_S
#: Margin on the power the vessel under study needs over a persistent vessel flowing its
#: retrograde way (half the 3 dB step, ``ENTER_RATIO``, in dB).  Its reflux is the step
#: over that vessel's mean power ``b``: where that vessel flows too, the reflux must add
#: ``(ENTER_RATIO - 1) b``, where it is silent (between an artery's beats) the whole
#: ``ENTER_RATIO b``.  Without the margin the rows of a reflux fall short of the step about
#: as often as they pass it (in the simulator: a continuous carotid as loud as the vein
#: hid or split the reflux, timing was off from 2 dB quieter; a triphasic femoral artery
#: 3 dB quieter than the vein split it).
SEPARABLE_MARGIN = ENTER_RATIO ** 0.5
#: A persistent vessel silent, for longer than an episode's bridged gap, in at least this
#: share of the rows where the vessel under study flows is pulsatile: a reflux must make the
#: whole step there.  A continuous carotid is silent in under 15 % of them (speckle fades at
#: 7 dB); a triphasic artery falls silent in every diastole (about 60 %).
PULSATILE_SHARE = 0.25
#: A persistent vessel's power in a row stays within a few dB of its mean (speckle over
#: a row, the cardiac cycle): a row with more than this many times it is a transient
#: (a knock on the probe), kept out of its statistics.
PERSIST_OUTLIER = 4.0

#: Slots of the persistent-vessel state (``_second_vessel``): the concurrent fraction,
#: running sums of weight and of power over concurrent rows, established (0/1), rows
#: since flow in the retrograde direction, the row at which the vessel was first
#: established (0: not yet) and its power then, the sums over all concurrent rows of the
#: power of the vessel under study and of the persistent vessel, and once that power is
#: known the rows with flow of the vessel under study, the run of them with none of the
#: persistent vessel under way, and the rows of such runs longer than a bridged gap.
(CONCURRENT, WEIGHT, POWER_SUM, ESTABLISHED, SINCE_FLOW, FIRST_ROW, POWER_THEN, OWN_POWER,
 OTHER_POWER, OWN_FLOW_ROWS, SILENT_RUN, SILENT_ROWS) = range(12)
N_STATE = 12
#: Slots of the two-vessel watch (``_two_vessels``): the running fraction of rows with
#: flow both ways, and the first row at which it passed its limit, plus one (0: not yet).
FRACTION, FOUND_ROW = range(2)


def concurrent_limit(edge_rows, hop_s):
    """Share of rows with flow both ways above which a second vessel is in the beam.

    A single vessel shows both directions only over the ``edge_rows`` a reversal
    spreads over, twice a beat at most.
    """
    return min(1.0, 2 * edge_rows * hop_s / SHORTEST_CARDIAC_PERIOD_S)


class SecondVessel:
    """Separates a persistent vessel flowing the retrograde way ``retro`` (0 toward, 1 away).

    Parameters
    ----------
    config : SpectralConfig
    retro : int
        The retrograde direction of the vessel under study.
    method : str
        Envelope method (:data:`~dopplerflow.core.envelopes.METHODS`).
    gap_rows : int
        Rows of a bridged gap (``RefluxTracker.gap_rows``).
    edge_rows : int
        Rows a step in flow spreads over.
    """

    def __init__(self, config, retro, method, gap_rows, edge_rows):
        self.config = config
        self.retro = int(retro)
        self.gap_rows = int(gap_rows)
        self._method = method_code(method)
        self._concurrent = concurrent_limit(edge_rows, config.hop_s)
        self.state = np.zeros(N_STATE)
        self._ceil = np.zeros(int(config.dir_count.max()))
        self._tau_rows = int(round(PERSIST_TAU_S / config.hop_s))
        # stored rows held back for re-reading once it is established (see release), and
        # the stream index of the first; None once nothing more can be re-read
        self._held = np.zeros((0, 6), np.float32)
        self._held0 = 0
        self._reread = []  # (first row, mask): rows re-read, retrograde flow left in them

    @property
    def established_row(self):
        """The row at which the vessel was first established (0: not yet)."""
        return int(self.state[FIRST_ROW])

    def separate(self, env, spec, noise, floor, ahead, row0):
        """Keep only the vessel under study in the retrograde direction of ``env`` (rows
        ``row0`` ... of the whitened spectra ``spec`` with their ``noise`` levels and
        ``floor``, a :class:`~.noise.FloorRows`; and of the provisional rows ``ahead``), in
        place; see ``_second_vessel``."""
        cfg = self.config
        r = self.retro
        excess = np.empty(spec.shape, np.float32)
        at = np.empty(len(env), np.int64)
        m = _second_vessel(env, spec, noise, floor.shapes, floor.slots, ahead, r,
                           cfg.hop_s / PERSIST_TAU_S, cfg.hop_s / CARDIAC_PERIOD_S,
                           self._concurrent,
                           int(round(CARDIAC_PERIOD_S / cfg.hop_s)),
                           ENTER_RATIO, PERSIST_OUTLIER, self.gap_rows,
                           cfg.dir_start, cfg.dir_step, cfg.dir_count, cfg.dir_f0,
                           cfg.bin_hz, cfg.t_high, self._ceil[:cfg.dir_count[r]], row0,
                           self.state, excess, at)
        if m:
            self._excess_envelopes(env, excess[:m], noise[at[:m]], at[:m])

    def _excess_envelopes(self, env, excess, noise, at):
        """The retrograde direction of rows ``at`` of ``env`` (those the persistent vessel
        leaves flow in): the maximum and mean frequency of the band above its ceiling
        (``excess``, with the rows' ``noise``), or no flow where no band stands above it.

        Apart from the kernel, the envelope rule is compiled only when a persistent
        vessel is established."""
        cfg = self.config
        r = self.retro
        only_r = np.zeros_like(cfg.dir_count)  # the excess band's envelope in r alone
        only_r[r] = cfg.dir_count[r]
        out = np.empty((len(excess), 2, 4))
        _envelopes(excess, noise, cfg.dir_start, cfg.dir_step, only_r, cfg.dir_f0,
                   cfg.bin_hz, cfg.t_high, cfg.t_low, MIN_RUN, self._method, out)
        kept = out[:, r, 0] > 0
        env[at[kept], r, 1:3] = out[kept, r, 1:3]
        env[at[~kept], r, :] = 0.0

    def release(self, rows, final, newest_row):
        """Hold stored rows back until the vessel can no longer be established with them
        as its evidence; return the rows released.

        The rows of the evidence, within its time constant before the row at which it
        was first established, are re-read with its power of then (the first beats of
        a stream no longer show it): in the final trace and in the summary alike.  A
        vessel is established at a row already analysed (before ``newest_row``) or a
        later one, so rows more than its time constant before it are released as they
        are.
        """
        if self._held is None:
            return rows
        held = np.concatenate((self._held, rows)) if len(self._held) else rows
        first = self._held0
        tau = self._tau_rows
        end = self.established_row
        if end == 0 and not final:
            n_out = max(0, min(len(held), newest_row - tau - first))
            self._held, self._held0 = held[n_out:], first + n_out
            return held[:n_out]
        if end:
            a, b = max(end - tau - first, 0), min(end - first, len(held))
            if a < b:
                r = self.retro
                env = expand(held[a:b])
                _clear_rows(env, 0, b - a, r, env.dtype.type(self.state[POWER_THEN]),
                            ENTER_RATIO)
                held[a:b, stored_columns(r)] = env[:, r, FMAX_HZ:POWER + 1]
                self._reread.append((first + a, env[:, r, 0] > 0))
            if b < len(held) or final:
                self._held = None  # every row of the evidence is re-read: none held from now
            else:
                self._held, self._held0 = held[b:], first + b
                return held[:b]
        else:
            self._held = None
        return held

    def standing(self, episodes, timeline, min_rows):
        """``episodes`` less those that lie within the rows re-read and keep fewer rows of
        retrograde flow there than ``min_rows`` (the shortest episode reported): the
        persistent vessel's first beats, before it was established."""
        if not self._reread:
            return episodes
        row0 = self._reread[0][0]
        kept = np.concatenate([m for _, m in self._reread])
        out = []
        for ev in episodes:
            a, b = timeline.row_span(ev.start_s, ev.end_s)
            a, b = a - row0, b - row0
            if 0 <= a and b <= len(kept) and np.count_nonzero(kept[a:b]) < min_rows:
                continue
            out.append(ev)
        return out

    def note(self, vessel):
        """What the vessel means for the result.

        Returns ``(reason, warning, second_vessel)``: why reflux is not assessable
        (None: it is), the warning (None: no vessel found), and the JSON's
        ``second_vessel``.  The reflux stands out as a step over the persistent
        vessel, which the vessel under study makes only if it is louder than it: by
        the step less the persistent vessel's own power where that flows all the
        time, by the whole step where it falls silent between beats for a share of
        the rows (:data:`PULSATILE_SHARE`), each with the margin
        :data:`SEPARABLE_MARGIN`.
        """
        st = self.state
        if st[FIRST_ROW] <= 0:
            return None, None, None
        way = ("toward", "away")[self.retro]
        from_s = self.config.t0_s + st[FIRST_ROW] * self.config.hop_s
        second = {"direction": way, "from_s": round(float(from_s), 4)}
        where = (f"a second vessel flows {'toward' if way == 'toward' else 'away from'} the "
                 f"probe beside the {vessel or 'vessel under study'} (an artery?)")
        own, other = st[OWN_POWER], st[OTHER_POWER]
        # a vessel silent in a share of the rows, for longer than a bridged gap (an
        # artery's diastole), leaves the reflux to make the whole step on its own there
        pulsatile = st[SILENT_ROWS] >= PULSATILE_SHARE * st[OWN_FLOW_ROWS] > 0
        need = SEPARABLE_MARGIN * (ENTER_RATIO if pulsatile else ENTER_RATIO - 1.0)
        step_db = 10 * math.log10(ENTER_RATIO)
        if own < need * other:
            rel_db = 10 * math.log10(other / own) if own > 0 else math.inf
            return ("a second vessel as loud as the vein flows the retrograde way",
                    f"{where}, {rel_db:+.1f} dB against it"
                    f"{' and silent between its beats' if pulsatile else ''}: the vein's reflux "
                    f"would not stand {step_db:.0f} dB above that vessel (it needs "
                    f"{10 * math.log10(need):.1f} dB over it), so reflux is not assessable; aim "
                    f"the beam at the vein alone", second)
        return (None, f"{where}: from {from_s:.2f} s retrograde flow counts only where it "
                f"stands {step_db:.0f} dB above it; aim the beam at the vein alone if you can",
                second)


class TwoVesselWatch:
    """Watches for flow both ways at once when the direction is chosen from the flow.

    Parameters
    ----------
    config : SpectralConfig
    edge_rows : int
        Rows a step in flow spreads over.
    """

    def __init__(self, config, edge_rows):
        self.config = config
        self._concurrent = concurrent_limit(edge_rows, config.hop_s)
        self.state = np.zeros(2)

    @property
    def found(self):
        """Whether flow has run both ways at once: two vessels in the beam."""
        return self.state[FOUND_ROW] > 0

    def update(self, env, valid, row0):
        """Watch the envelope rows ``env`` (rows ``row0`` ..., analysed where ``valid``)."""
        cfg = self.config
        _two_vessels(env, valid, cfg.hop_s / CARDIAC_PERIOD_S, self._concurrent,
                     cfg.dir_f0, cfg.bin_hz, row0, self.state)

    def note(self, threshold_s):
        """``(reason, warning, second_vessel)`` as :meth:`SecondVessel.note`."""
        if not self.found:
            return None, None, None
        cfg = self.config
        from_s = cfg.t0_s + (self.state[FOUND_ROW] - 1) * cfg.hop_s
        second = {"direction": None, "from_s": round(float(from_s), 4)}
        seen = f"from {from_s:.2f} s flow runs both ways at once: two vessels in the beam"
        if threshold_s is None:  # no reflux rule (an artery): nothing to assess
            return None, seen, second
        return ("two vessels flow opposite ways in the beam",
                f"{seen} (an artery beside the vein?), and which one is under study cannot "
                f"be told from the recording, so reflux is not assessable; give the vein's "
                f"direction with --antegrade toward|away to separate them", second)


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
def _excess_sum3(spec, i, nz, shape, st, sp, cnt, j):
    """Physical excess over the floor (``nz`` times ``shape``) of the whitened row ``i``
    of ``spec`` in the three bins ``_sum3`` sums around outward bin ``j``."""
    if j == 0:
        return 1.5 * ((spec[i, st] - nz) * shape[st] + (spec[i, st + sp] - nz) * shape[st + sp])
    if j >= cnt - 1:
        return 0.0
    return _excess3(spec, i, nz, shape, st, sp, j)


@njit(**_JIT)
def _excess_row(spec, i, nz, shape, st, sp, cnt, ceil, t_high, excess, m):
    """The band of the whitened row ``i`` of ``spec`` (whitened by ``shape``) that stands
    above a persistent vessel's ceiling in one direction, into row ``m`` of ``excess``
    (its other bins are left as they are), for the envelope rule (``_envelopes``).

    Each bin loses the persistent vessel's highest physical power seen in it (``ceil``,
    per three-bin sum, so a third of it a bin), whitened by the row's own shape; the
    excess is cut two bins (the window's main lobe) past the end of its first run, from
    the bottom, of three-bin sums above the detection threshold (``t_high`` times the
    noise ``nz``) and above a tenth of its peak (fainter is the persistent vessel's
    speckle passing its ceiling, as the envelope's own skirt rule; a vessel's spectrum
    has no gap, so excess beyond a gap is the persistent vessel's speckle too).
    """
    for j in range(cnt):
        k = st + sp * j
        excess[m, k] = max(spec[i, k] - ceil[j] / (3.0 * shape[k]), 0.0)
    peak = 0.0
    for j in range(cnt):
        peak = max(peak, _sum3(excess, m, st, sp, cnt, j))
    level = max(t_high * nz, 0.1 * peak)
    # a vessel's spectrum runs without a gap from its slowest to its fastest cells: the
    # band is the first run above the level, from the bottom (one-bin gaps bridged)
    top = -1
    for j in range(cnt - 1):
        if _sum3(excess, m, st, sp, cnt, j) > level:
            top = _walk_out(excess, m, st, sp, cnt, j, level)
            break
    for j in range(top + 3, cnt):
        excess[m, st + sp * j] = 0.0


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
        state[FRACTION] += beta * ((1.0 if conc else 0.0) - state[FRACTION])
        if state[FOUND_ROW] == 0 and state[FRACTION] > fraction:
            state[FOUND_ROW] = row0 + i + 1


@njit(**_JIT)
def _second_vessel(env, spec, noise, shapes, slots, ahead, r, alpha, beta, fraction, lost_rows,
                   ratio, outlier, gap_rows, dir_start, dir_step, dir_count, dir_f0, bin_hz,
                   t_high, ceil, row0, state, excess, excess_at):
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
    an artery).  The ceiling is kept in physical power, the excess over each row's
    floor: the whitened rows' units change with the noise shape (renormalised whenever
    the shape is, every sub-window, by a lot under coloured noise), and a ceiling kept in
    the units of its rows would stand, seconds later, tens of dB off the vessel it
    describes.

    While it is established, direction ``r`` of each row keeps only the
    power in excess of ``b``, and only where the power stands ``ratio`` times
    above ``b`` (the vessel under study joining it in that direction); other
    rows show no flow in ``r``.  In the rows kept, the maximum and mean
    frequency are those of the band standing above the ceiling
    (``_excess_row``; its envelope is taken by the caller,
    :meth:`SecondVessel.separate`), not the persistent vessel's outer edge; a
    row with no such band shows no flow in ``r``.  The
    persistent vessel is dropped once no flow is detected in ``r`` for more
    than ``lost_rows``.

    Parameters
    ----------
    env : ndarray, shape (n, 2, 4), float64
        Envelope rows (``_envelopes``), changed in place.
    spec : ndarray, shape (n, n_bins), float32
        The whitened time-averaged spectra of the rows (``NoiseFloor.whiten``).
    noise : ndarray, shape (n,), float64
        Noise level of each row.
    shapes : ndarray, shape (n_versions, n_bins), float32
        Noise shapes; row ``i`` was whitened with ``shapes[slots[i]]``.
    slots : ndarray, shape (n,), int64
        The shape of each row.
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
    dir_start, dir_step, dir_count, dir_f0, bin_hz, t_high
        As ``_envelopes``.
    ceil : ndarray, shape (dir_count[r],), float64
        Per outward bin of ``r``: the ceiling, physical power of a three-bin sum above
        the floor.  Updated in place.
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
    excess : ndarray, shape (n, n_bins), float32
        Out: the bands above the ceiling of the rows kept in ``r``, one a row (only
        the bins of ``r`` written).
    excess_at : ndarray, shape (n,), int64
        Out: the row of ``env`` of each.

    Returns
    -------
    int
        The rows of ``excess`` written.
    """
    st = dir_start[r]
    sp = dir_step[r]
    cnt = dir_count[r]
    m = np.int64(0)  # typed, so the kernels it is passed to compile once
    for i in range(env.shape[0]):
        det_r = env[i, r, 0] > 0
        if env[i, 1 - r, 0] > 0 and state[WEIGHT] > 0.0:
            # the vessel under study flows: is the persistent one silent here, for longer
            # than a gap a reflux could bridge?
            state[OWN_FLOW_ROWS] += 1.0
            state[SILENT_RUN] = 0.0 if det_r else state[SILENT_RUN] + 1.0
            if state[SILENT_RUN] == gap_rows + 1:
                state[SILENT_ROWS] += gap_rows + 1
            elif state[SILENT_RUN] > gap_rows + 1:
                state[SILENT_ROWS] += 1.0
        else:
            state[SILENT_RUN] = 0.0
        conc = _concurrent(env, i, dir_f0, bin_hz)
        state[CONCURRENT] += beta * ((1.0 if conc else 0.0) - state[CONCURRENT])
        if (conc and state[WEIGHT] > 0.0
                and env[i, r, 3] > outlier * state[POWER_SUM] / state[WEIGHT]):
            conc = False  # a transient (a knock on the probe), not the persistent vessel
        if conc:
            state[WEIGHT] += alpha * (1.0 - state[WEIGHT])
            state[POWER_SUM] += alpha * (env[i, r, 3] - state[POWER_SUM])
            state[OWN_POWER] += env[i, 1 - r, 3]
            state[OTHER_POWER] += env[i, r, 3]
            shape = shapes[slots[i]]
            for j in range(cnt):
                ceil[j] = max(ceil[j] - alpha * ceil[j],
                              _excess_sum3(spec, i, noise[i], shape, st, sp, cnt, j))
        state[SINCE_FLOW] = 0.0 if det_r else state[SINCE_FLOW] + 1.0
        if state[ESTABLISHED] == 0 and state[CONCURRENT] > fraction and state[WEIGHT] > 0:
            state[ESTABLISHED] = 1.0
            if state[FIRST_ROW] == 0:
                state[FIRST_ROW] = row0 + i
                state[POWER_THEN] = state[POWER_SUM] / state[WEIGHT]
        elif state[ESTABLISHED] > 0 and state[SINCE_FLOW] > lost_rows:
            state[ESTABLISHED] = 0.0
        if state[ESTABLISHED] > 0:
            b = state[POWER_SUM] / state[WEIGHT]
            _clear_persistent(env, i, r, b, ratio)
            if i < ahead.shape[0]:
                _clear_persistent(ahead, i, r, b, ratio)
            if env[i, r, 0] > 0 and cnt >= 3:
                # the envelope of the band above the ceiling is taken once every row is
                # read (no later row depends on it)
                _excess_row(spec, i, noise[i], shapes[slots[i]], st, sp, cnt, ceil, t_high,
                            excess, m)
                excess_at[m] = i
                m += 1
    return m


@njit(**_JIT)
def _clear_rows(env, start, end, r, b, ratio):
    """``_clear_persistent`` on rows ``start .. end - 1`` of ``env`` (clipped to it)."""
    for i in range(max(start, 0), min(end, env.shape[0])):
        _clear_persistent(env, i, r, b, ratio)
