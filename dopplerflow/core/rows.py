"""The per-frame rows of a stream: storage, dropout bridging, envelope smoothing, totals.

Each frame leaves one stored row of six float32 values: for each direction
(toward, away) the maximum frequency (0 where there is no flow), the mean
frequency and the flow power.  Rows pass through a :class:`Bridger` (brief
dropouts filled, the maximum envelope median-smoothed) as soon as that is
final, then into the running :class:`Totals` and, when the trace is kept,
into :class:`Columns`.  All of it gives the same result whatever the blocks.
"""

import numpy as np

from . import _kernels as K

__all__ = ["Columns", "Bridger", "Totals", "expand", "bridge_dropouts", "SMOOTH_HALF"]


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
    K._expand_rows(np.ascontiguousarray(rows), env)
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
    K._bridge_dropouts(rows, int(max_gap))


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
        self._ctx = 0  # leading rows of ``_work`` already handed out (context)

    def __call__(self, rows, final=False):
        """Add stored rows (n, 6); return the rows whose bridging is now final."""
        work = np.concatenate((self._work, rows)).astype(np.float32, copy=False)
        bridge_dropouts(work, self.max_gap)
        ctx = self._ctx
        held = self.max_gap + 1 + SMOOTH_HALF
        n_out = len(work) - ctx if final else max(0, len(work) - ctx - held)
        out = _median_envelope(work, ctx, n_out)
        if n_out:
            keep = min(SMOOTH_HALF, ctx + n_out)
            self._work = work[ctx + n_out - keep:].copy()
            self._ctx = keep
        else:
            self._work = work
        return out


#: Half-width, in frames, of the running median applied to the maximum-frequency envelope of
#: the final trace (5 frames, 25 ms at the default hop: much shorter than venous velocity
#: changes, long enough to halve the speckle scatter of single frames).
SMOOTH_HALF = 2


def _median_envelope(work, start, n):
    """Rows ``work[start:start + n]`` with each direction's fmax replaced by a running median.

    The median is taken over the frames within ``SMOOTH_HALF`` that have flow in
    that direction (frames without flow keep fmax 0); ``work`` itself is not
    changed, so neighbours always enter with their own values.
    """
    out = np.empty((n, 6), np.float32)
    K._median_envelope(np.ascontiguousarray(work, np.float32), start, n, SMOOTH_HALF, out)
    return out


class Totals:
    """Running totals of the bridged rows: frames, flow frames, peak envelopes, flow runs.

    ``flow_s`` is the time in runs of flow at least ``min_run`` frames long:
    a recording has detectable flow when it reaches ``MIN_FLOW_S``.
    """

    def __init__(self, min_run):
        self.min_run = min_run
        self.peak_hz = np.zeros(2, np.float32)
        # rows, flow rows, open run, rows in closed runs of at least min_run (K._flow_totals)
        self._state = np.zeros(4, np.float64)

    @property
    def n(self):
        """Rows counted."""
        return int(self._state[0])

    @property
    def flow(self):
        """Rows with flow in either direction."""
        return int(self._state[1])

    def update(self, rows):
        """Add stored rows (n, 6)."""
        K._flow_totals(np.ascontiguousarray(rows, np.float32), self.min_run, self._state,
                       self.peak_hz)

    def flow_s(self, hop_s):
        """Seconds of flow in runs of at least ``min_run`` frames (open run included)."""
        run, in_runs = int(self._state[2]), int(self._state[3])
        open_run = run if run >= self.min_run else 0
        return (in_runs + open_run) * hop_s
