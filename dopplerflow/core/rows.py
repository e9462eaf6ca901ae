"""The per-frame rows of a stream: storage, dropout bridging, envelope smoothing, totals.

Each frame leaves one stored row of six float32 values: for each direction
(toward, away) the maximum frequency (0 where there is no flow), the mean
frequency and the flow power.  Rows pass through a :class:`Bridger` (brief
dropouts filled, the maximum envelope median-smoothed) as soon as that is
final, then into the running :class:`Totals` and, when the trace is kept,
into :class:`Columns`.  All of it gives the same result whatever the blocks.
"""

from dataclasses import dataclass

import numpy as np
from numba import njit

from ._numba import _JIT, _insert_sorted
from .result import Trace

__all__ = ["Columns", "Bridger", "Totals", "expand", "bridge_dropouts", "SMOOTH_HALF",
           "PEAK_MEAN_X"]


class Columns:
    """Growing float32 rows, stored in blocks of about 1 MB.

    Blocks that large are memory mappings of their own, returned to the
    system as soon as they are released; many small arrays would leave the
    heap fragmented and the process as large as it ever was.
    """

    BLOCK_BYTES = 1 << 20

    def __init__(self, width):
        self.width = width
        self._rows_per_block = max(1, self.BLOCK_BYTES // (4 * width))
        self._full = []
        self._cur = None
        self._fill = 0

    def __len__(self):
        return len(self._full) * self._rows_per_block + self._fill

    def append(self, rows):
        rows = np.asarray(rows, np.float32).reshape(-1, self.width)
        while len(rows):
            if self._cur is None or self._fill == len(self._cur):
                if self._cur is not None:
                    self._full.append(self._cur)
                self._cur = np.empty((self._rows_per_block, self.width), np.float32)
                self._fill = 0
            k = min(len(rows), len(self._cur) - self._fill)
            self._cur[self._fill:self._fill + k] = rows[:k]
            self._fill += k
            rows = rows[k:]

    def drain(self):
        """Yield the rows block by block, releasing each block once it is yielded."""
        while self._full:
            yield self._full.pop(0)
        if self._fill:
            cur, fill = self._cur, self._fill
            self._cur, self._fill = None, 0
            yield cur[:fill]

    def array(self):
        """All rows as one array (keeps them)."""
        parts = self._full + ([self._cur[:self._fill]] if self._fill else [])
        if not parts:
            return np.zeros((0, self.width), np.float32)
        return np.concatenate(parts)


def expand(rows):
    """Stored rows (n, 6) -> envelope rows (n, 2, 4): detected, fmax, fmean, power."""
    env = np.empty((len(rows), 2, 4), rows.dtype)
    _expand_rows(np.ascontiguousarray(rows), env)
    return env


def bridge_dropouts(rows, max_gap):
    """Fill brief detection dropouts of each direction, in place, for the final trace.

    At low SNR the speckle of a few frames can fall below the detection
    threshold inside a stretch of flow.  Gaps of at most ``max_gap`` frames
    with flow in the same direction on both sides are filled by linear
    interpolation of the envelope (the events are tracked separately and
    bridge such gaps on their own).

    Parameters
    ----------
    rows : ndarray, shape (n, 6), float32
        Stored rows: fmax (0 where no flow), fmean and power of each direction.
    max_gap : int
        Longest gap filled, frames.
    """
    _bridge_dropouts(rows, int(max_gap))


class Bridger:
    """:func:`bridge_dropouts` over a stream of stored rows, block by block.

    The last ``max_gap + 1`` rows are held back until the next block (or the
    end), since a gap reaching into them may still be closed, and so are the
    ``SMOOTH_HALF`` rows before them, whose running median reaches into them;
    the rows before the first new one are kept as context.  The result is
    the same as bridging the whole recording at once, whatever the blocks.
    """

    def __init__(self, max_gap):
        self.max_gap = max_gap
        self._work = np.zeros((0, 6), np.float32)
        # whether each row of ``_work`` held flow in each direction before it was bridged
        self._read = np.zeros((0, 2), bool)
        self._ctx = 0  # leading rows of ``_work`` already handed out (context)

    def __call__(self, rows, final=False):
        """Add stored rows (n, 6); return the rows whose bridging is now final, and in
        each direction which of them draw no maximum a frame read (m, 2) bool: those
        filled, and those whose running median is a value filled (:class:`Totals` takes
        no peak from them)."""
        read = np.concatenate((self._read, rows[:, STORED_FLOW_COLUMNS] > 0))
        work = np.concatenate((self._work, rows)).astype(np.float32, copy=False)
        bridge_dropouts(work, self.max_gap)
        ctx = self._ctx
        held = self.max_gap + 1 + SMOOTH_HALF
        n_out = len(work) - ctx if final else max(0, len(work) - ctx - held)
        out, unread = median_envelope(work, ctx, n_out, read)
        if n_out:
            keep = min(SMOOTH_HALF, ctx + n_out)
            self._work = work[ctx + n_out - keep:].copy()
            self._read = read[ctx + n_out - keep:]
            self._ctx = keep
        else:
            self._work, self._read = work, read
        return out, unread


#: A row whose maximum frequency stands more than this many times over its mean frequency
#: is no flow's peak (the summary's peak envelope and the beats' PSV leave it out).  Blood
#: fills its spectrum up to the maximum: a parabolic profile spreads its power evenly
#: from 0 to it, a mean of half the maximum, and the simulator's waveforms keep a mean of
#: 0.4-0.6 of the maximum at the rows within 20 % of their PSV (under 0.25 in fewer than
#: 1 % of them, at 3 dB or in a mono recording).  A faint broadband transient (a valve's or
#: the wall's click) over slow flow lifts the maximum to where its power, a few dB over the
#: floor, ends, the band's top or a tonal line, while the flow's power, tens of dB over it,
#: holds the mean where it was: 0.07-0.2 of the maximum on the precordial recordings.
PEAK_MEAN_X = 4.0

#: Half-width, in frames, of the running median applied to the maximum-frequency envelope of
#: the final trace (5 frames, 25 ms at the default hop: much shorter than venous velocity
#: changes, long enough to halve the speckle scatter of single frames).
SMOOTH_HALF = 2


def median_envelope(work, start, n, read):
    """Rows ``work[start:start + n]`` with each direction's fmax replaced by a running median,
    and in each direction whether a row's median is no value a frame read.

    The median is taken over the frames within ``SMOOTH_HALF`` that have flow in
    that direction (frames without flow keep fmax 0); ``work`` itself is not
    changed, so neighbours always enter with their own values.  ``read`` ((m, 2) bool)
    marks each direction's rows of ``work`` with flow before the bridge filled others.

    Returns
    -------
    out : ndarray, shape (n, 6), float32
    unread : ndarray, shape (n, 2), bool
        Rows with flow whose median is no value read: the row was filled, or its median
        is (or averages) a value filled.
    """
    out = np.empty((n, 6), np.float32)
    unread = np.zeros((n, 2), bool)
    _median_envelope(np.ascontiguousarray(work, np.float32), np.ascontiguousarray(read, bool),
                     start, n, SMOOTH_HALF, out, unread,
                     np.empty(2 * SMOOTH_HALF + 1, np.float32))
    return out, unread


class Totals:
    """Running totals of the bridged rows: frames, flow frames, peak envelopes, flow runs.

    ``flow_s`` is the time in runs of flow at least ``min_run`` frames long:
    a recording has detectable flow when it reaches ``MIN_FLOW_S``.  With ``config``
    (:class:`~.spectrum.SpectralConfig`) it also counts, per direction, the rows whose
    maximum frequency lies at each outward bin (:meth:`rows_from`), and keeps the peak at
    each (:meth:`peak_off_lines_hz`).
    """

    def __init__(self, min_run, config=None):
        self.min_run = min_run
        self.peak_hz = np.zeros(2, np.float32)
        self._f0 = None if config is None else np.asarray(config.dir_f0, np.float64)
        self._bin_hz = None if config is None else float(config.bin_hz)
        n = 0 if config is None else int(max(config.dir_count)) + 1
        self._at_bin = np.zeros((2, n), np.int64)
        # each direction's peak at each outward bin, and the maximum frequencies of an open
        # run's first rows until it is a run (_flow_totals)
        self._peak_at = np.zeros((2, n), np.float32)
        self._pending = np.zeros((2, max(min_run, 1)), np.float32)
        # rows, flow rows, open run, rows in closed runs of at least min_run, and each
        # direction's open run and its peak (_flow_totals)
        self._state = np.zeros(8, np.float64)

    @property
    def n(self):
        """Rows counted."""
        return int(self._state[0])

    @property
    def flow(self):
        """Rows with flow in either direction."""
        return int(self._state[1])

    def update(self, rows, unread=None):
        """Add stored rows (n, 6); ``unread`` (n, 2) bool marks each direction's rows whose
        maximum is no value a frame read (:class:`Bridger`: filled over a dropout, or a
        running median of values filled): flow, but no peak."""
        rows = np.ascontiguousarray(rows, np.float32)
        if unread is None:
            unread = np.zeros((len(rows), 2), bool)
        _flow_totals(rows, np.ascontiguousarray(unread, bool), self.min_run, PEAK_MEAN_X,
                     self._state, self.peak_hz,
                     self._f0 if self._f0 is not None else np.zeros(2),
                     self._bin_hz or 1.0, self._at_bin, self._peak_at, self._pending)

    def peak_off_lines_hz(self, lines_hz, reach):
        """Each direction's peak, as :attr:`peak_hz`, over the rows whose maximum frequency
        lies more than ``reach`` bins from the tonal lines ``lines_hz`` (signed baseband Hz,
        positive toward the probe) on its side; float32 (2,).

        A weak line is known only seconds after it began, and the envelope stood on it
        until then (:mod:`.tones`).  Without a ``config`` (no bins), :attr:`peak_hz`.
        """
        n = self._peak_at.shape[1]
        if not n:
            return self.peak_hz.copy()
        out = np.zeros(2, np.float32)
        for d in range(2):
            keep = np.ones(n, bool)
            for f in lines_hz:
                if (f > 0) != (d == 0):
                    continue
                j = int(np.rint((abs(f) - self._f0[d]) / self._bin_hz))
                keep[max(j - reach, 0):max(j + reach + 1, 0)] = False
            out[d] = self._peak_at[d, keep].max() if keep.any() else 0.0
        return out

    def rows_from(self, d, j):
        """Rows whose maximum frequency in direction ``d`` (0 toward, 1 away) lies at outward
        bin ``j`` or beyond (0 without a ``config``)."""
        return int(self._at_bin[d, max(j, 0):].sum()) if self._at_bin.shape[1] else 0

    def flow_s(self, hop_s):
        """Seconds of flow in runs of at least ``min_run`` frames (open run included)."""
        run, in_runs = int(self._state[2]), int(self._state[3])
        open_run = run if run >= self.min_run else 0
        return (in_runs + open_run) * hop_s


#: Columns of a stored row (float32, 6 wide): direction ``d`` (0 toward, 1 away) holds,
#: from column ``3 * d``, its maximum frequency (Hz, 0 where no flow), mean frequency (Hz)
#: and flow power (:func:`stored_columns`).
STORED_FMAX_HZ, STORED_FMEAN_HZ, STORED_POWER = range(3)
STORED_WIDTH = 6
#: The maximum-frequency column of each direction of a stored row (0 where no flow).
STORED_FLOW_COLUMNS = [STORED_FMAX_HZ, 3 + STORED_FMAX_HZ]


def stored_columns(d):
    """The slice of a stored row that holds direction ``d``."""
    return slice(3 * d, 3 * d + 3)


def empty_trace():
    """A trace of no rows."""
    z = np.zeros(0)
    return Trace(z, z, z, z, z, np.zeros(0, bool))


def trace_columns(env, ante, scale, direction, cols=None, flow=None):
    """The trace's columns after ``time_s``, from envelope rows (n, 2, 4).

    Computed in ``env``'s dtype (see ``_trace_columns``), into ``cols`` (4, n) and
    ``flow`` (n,) when given; ``ante`` is the antegrade direction, ``scale`` the
    Doppler scale (cm/s per Hz), ``direction`` False for layouts without direction.
    """
    n = len(env)
    if cols is None:
        cols = np.empty((4, n), env.dtype)
        flow = np.empty(n, bool)
    t = env.dtype.type
    _trace_columns(env, ante, t(scale), t(1), t(0), direction, cols, flow)
    return cols[0], cols[1], cols[2], cols[3], flow


def trace_rows(env, time_s, ante, scale, direction, valid):
    """Trace rows at ``time_s`` from envelope rows (n, 2, 4) with ``ante`` as antegrade;
    rows not analysed (``valid`` False) have NaN velocities."""
    cols = trace_columns(env, ante, scale, direction)
    if not valid.all():
        for c in cols[:4]:
            c[~valid] = np.nan
    return Trace(time_s, *cols)


def final_trace(stored, ante, scale, direction, unanalysed, hop_s, t0_s):
    """The whole trace with ``ante`` as antegrade, from the :class:`Columns` of stored rows.

    Built block by block; each stored block is released once converted, so the
    peak memory is about the size of the trace.  Rows in the ``[a, b)`` ranges
    ``unanalysed`` have NaN velocities.
    """
    n = len(stored)
    cols = np.empty((4, n), np.float32)
    flow = np.empty(n, bool)
    pos = 0
    for block in stored.drain():
        k = len(block)
        trace_columns(expand(block), ante, scale, direction, cols[:, pos:pos + k],
                      flow[pos:pos + k])
        pos += k
    for a, b in unanalysed:
        cols[:, a:min(b, n)] = np.nan
    time_s = np.arange(n, dtype=np.float64)
    time_s *= hop_s
    time_s += t0_s
    return Trace(time_s, *cols, flow)


@dataclass
class RowBatch:
    """Rows completed together: their index, noise levels, envelopes, band power and,
    with the look-ahead, the provisional envelopes of each next row and where those
    exist."""

    row0: int
    noise: np.ndarray
    env: np.ndarray
    ahead: np.ndarray = None
    ahead_ok: np.ndarray = None
    loud: np.ndarray = None  # envelopes.band_power of the rows, for the beat stage

    @staticmethod
    def join(batches):
        """One batch of the rows of ``batches`` (consecutive)."""
        if len(batches) == 1:
            return batches[0]
        cat = [np.concatenate([getattr(b, k) for b in batches]) if getattr(batches[0], k)
               is not None else None for k in ("noise", "env", "ahead", "ahead_ok", "loud")]
        return RowBatch(batches[0].row0, *cat)

# --------------------------------------------------------------------------- kernels
@njit(**_JIT)
def _bridge_dropouts(rows, max_gap):
    """Fill brief detection dropouts of each direction of stored rows, in place.

    ``rows`` (n, 6) float32 holds fmax (0 where there is no flow), fmean and
    power of each direction.  A run of rows without flow in a direction, at
    most ``max_gap`` long and with flow on both sides, gets the three values
    interpolated linearly between its neighbours; the weights are rounded to
    float32 and the arithmetic is float32, as in the numpy expression this
    replaces.
    """
    n = rows.shape[0]
    one = np.float32(1.0)
    for d in range(2):
        c = 3 * d
        i = 0
        while i < n:
            if rows[i, c] > 0:
                i += 1
                continue
            g0 = i
            while i < n and not rows[i, c] > 0:
                i += 1
            g1 = i  # rows g0 .. g1 - 1 have no flow
            if g0 == 0 or g1 == n or g1 - g0 > max_gap:
                continue
            span = np.float64(g1 - g0 + 1)
            for j in range(g0, g1):
                w = np.float32(np.float64(j - (g0 - 1)) / span)
                for k in range(c, c + 3):
                    rows[j, k] = (one - w) * rows[g0 - 1, k] + w * rows[g1, k]


@njit(**_JIT)
def _outward_bin(v, d, f0, bin_hz, m):
    """The outward bin (of ``m``) of direction ``d`` nearest ``v`` Hz."""
    return int(min(max(np.rint((np.float64(v) - f0[d]) / bin_hz), 0.0), m - 1))


@njit(**_JIT)
def _peak_at_bin(v, d, f0, bin_hz, peak_at):
    """Keep ``v`` (Hz, direction ``d``) as the peak of its outward bin if over it; 0 is
    none."""
    if v <= 0:
        return
    j = _outward_bin(v, d, f0, bin_hz, peak_at.shape[1])
    if v > peak_at[d, j]:
        peak_at[d, j] = v


@njit(**_JIT)
def _flow_totals(rows, unread, min_run, mean_x, state, peak, f0, bin_hz, at_bin, peak_at,
                 pending):
    """Running totals of stored rows (n, 6) float32, in stream order.

    ``state`` (float64): rows, rows with flow (either direction), length of
    the flow run still open, rows in closed runs at least ``min_run`` long, then
    for each direction the length of its open run and the largest fmax in it.
    ``peak`` (2,) float32: the largest fmax of each direction in its runs of at
    least ``min_run`` rows (a row or two of a click, of a filter's transient, or of
    the splatter of a step is no flow's peak), over the rows whose fmax is at most
    ``mean_x`` times their mean frequency (:data:`PEAK_MEAN_X`: a faint broadband
    transient over slow flow is no flow's peak either) and that ``unread`` (n, 2) bool
    does not mark (their maximum no frame read: filled over a dropout, or a median of
    values filled); such rows still count as flow and in their runs.
    ``at_bin`` (2, m) int64 counts each direction's rows with flow whose fmax lies at
    each outward bin (``|f|`` ``f0[d]`` at bin 0, ``bin_hz`` apart; none without bins,
    m = 0); ``peak_at`` (2, m) float32 holds the peaks at each; ``pending``
    (2, >= min_run - 1) float32 holds each direction's peaks of its open run's first rows
    until it is a run (0 where a row's is no peak).
    """
    m = peak_at.shape[1]
    for i in range(rows.shape[0]):
        a = rows[i, 0]
        b = rows[i, 3]
        for d in range(2):
            v = rows[i, 3 * d]
            if v > 0:
                state[4 + d] += 1
                # (a row whose maximum no frame read, ``unread``, is no peak either)
                top = v <= mean_x * rows[i, 3 * d + 1] and not unread[i, d]
                if top:
                    state[6 + d] = max(state[6 + d], v)
                if state[4 + d] >= min_run and state[6 + d] > peak[d]:
                    peak[d] = state[6 + d]
                if m:
                    at_bin[d, _outward_bin(v, d, f0, bin_hz, m)] += 1
                    run = int(state[4 + d])
                    if run < min_run:
                        pending[d, run - 1] = v if top else 0.0
                        continue
                    if run == min_run:  # now a run: its first rows' peaks count
                        for q in range(min_run - 1):
                            _peak_at_bin(pending[d, q], d, f0, bin_hz, peak_at)
                    if top:
                        _peak_at_bin(v, d, f0, bin_hz, peak_at)
            else:
                state[4 + d] = 0
                state[6 + d] = 0
        if a > 0 or b > 0:
            state[1] += 1
            state[2] += 1
        else:
            if state[2] >= min_run:
                state[3] += state[2]
            state[2] = 0
    state[0] += rows.shape[0]


@njit(**_JIT)
def _median_envelope(work, read, start, n, half, out, unread, buf):
    """Running median of each direction's fmax over the frames with flow.

    ``work`` (m, 6) float32 holds stored rows (fmax, fmean, power per
    direction; fmax 0 where there is no flow).  For rows ``start .. start+n-1``
    with flow, ``out`` (n, 6) receives the row with fmax replaced by the
    median of the fmax values > 0 within ``half`` rows (inside ``work``);
    other columns are copied.  ``unread`` (n, 2) is set where a row with flow was not
    ``read`` (m, 2), or its median is a value no row ``read`` within ``half`` holds
    (of an even count, either middle value).  ``work`` is not changed; ``buf``
    (``2 half + 1``) is scratch.
    """
    m = work.shape[0]
    for i in range(n):
        j = start + i
        for c in range(6):
            out[i, c] = work[j, c]
        for c in (0, 3):
            if work[j, c] <= 0:
                continue
            k = 0
            for q in range(max(0, j - half), min(m, j + half + 1)):
                v = work[q, c]
                if v > 0:
                    _insert_sorted(buf, k, v)
                    k += 1
            if k % 2:
                out[i, c] = buf[k // 2]
                a = b = buf[k // 2]
            else:
                a, b = buf[k // 2 - 1], buf[k // 2]
                out[i, c] = np.float32(0.5) * (a + b)
            d = c // 3
            if not read[j, d]:
                unread[i, d] = True
                continue
            # the middle values: each one a row read holds?
            has_a = has_b = False
            for q in range(max(0, j - half), min(m, j + half + 1)):
                if read[q, d]:
                    has_a = has_a or work[q, c] == a
                    has_b = has_b or work[q, c] == b
            unread[i, d] = not (has_a and has_b)


@njit(**_JIT)
def _store_rows(env, integral, stored):
    """Envelope rows ``env`` (n, 2, 4) float64 -> stored rows (n, 6) float32.

    ``stored`` receives fmax, fmean and power of each direction (rounded to
    float32); ``integral`` (2,) float64 is increased by the sum over the rows
    of detected times fmax, per direction (summed row after row, the order of
    numpy's ``(det * fmax).sum(axis=0)``).
    """
    for d in range(2):
        acc = 0.0
        for i in range(env.shape[0]):
            acc += env[i, d, 0] * env[i, d, 1]
            stored[i, 3 * d] = env[i, d, 1]
            stored[i, 3 * d + 1] = env[i, d, 2]
            stored[i, 3 * d + 2] = env[i, d, 3]
        integral[d] += acc


@njit(**_JIT)
def _expand_rows(rows, env):
    """Stored rows (n, 6) -> envelope rows ``env`` (n, 2, 4): detected (fmax > 0), fmax,
    fmean, power."""
    for i in range(rows.shape[0]):
        for d in range(2):
            f = rows[i, 3 * d]
            env[i, d, 0] = 1.0 if f > 0 else 0.0
            env[i, d, 1] = f
            env[i, d, 2] = rows[i, 3 * d + 1]
            env[i, d, 3] = rows[i, 3 * d + 2]


@njit(**_JIT)
def _trace_columns(env, ante, scale, one, zero, direction, cols, flow):
    """The trace's columns from envelope rows, in the arithmetic of ``env``'s dtype.

    Parameters
    ----------
    env : ndarray, shape (n, 2, 4), float32 or float64
        Per direction: detected, fmax (Hz), fmean (Hz), flow power.
    ante : int
        Direction taken as antegrade (0 toward, 1 away).
    scale, one, zero : scalar of ``env``'s dtype
        cm/s per Hz, 1 and 0.
    direction : bool
        False for layouts without direction (mono): the retrograde column is
        NaN and the mean is that of direction 0.
    cols : ndarray, shape (4, n), ``env``'s dtype
        Out: antegrade and retrograde maximum velocity (>= 0), mean velocity
        and maximum velocity of the dominant direction (signed, + antegrade).
    flow : ndarray, shape (n,), bool
        Out: flow in either direction.

    Notes
    -----
    Each value is computed with the operations, in the order, of the numpy
    expressions in ``Processor`` this replaces (``fmax * det * scale``,
    ``(fmean_a * pw_a - fmean_r * pw_r) / total``, ...).
    """
    r = 1 - ante
    for i in range(env.shape[0]):
        d0 = env[i, 0, 0] > 0
        d1 = env[i, 1, 0] > 0
        m0 = one if d0 else zero
        m1 = one if d1 else zero
        f0 = env[i, 0, 1] * m0 * scale
        f1 = env[i, 1, 1] * m1 * scale
        flow[i] = d0 or d1
        if not direction:
            cols[0, i] = f0
            cols[1, i] = np.nan
            cols[2, i] = env[i, 0, 2] * scale * m0
            cols[3, i] = f0
            continue
        fmax_a, fmax_r = (f0, f1) if ante == 0 else (f1, f0)
        mean_a = env[i, ante, 2] * scale
        mean_r = env[i, r, 2] * scale
        pw_a = env[i, ante, 3] * (m0 if ante == 0 else m1)
        pw_r = env[i, r, 3] * (m1 if ante == 0 else m0)
        total = env[i, 0, 3] * m0 + env[i, 1, 3] * m1
        cols[0, i] = fmax_a
        cols[1, i] = fmax_r
        cols[2, i] = (mean_a * pw_a - mean_r * pw_r) / total if total > 0 else zero
        cols[3, i] = -fmax_r if pw_r > pw_a else fmax_a
