"""The spectrogram kept for the figures, in bounded memory.

A figure has a few thousand columns; a two-hour recording has 1.4 million rows (one a
5 ms hop), 2.6 GiB of spectra at 48 kHz.  :class:`PooledSpectrogram` keeps every row
until it holds :data:`MAX_ROWS` of them (41 s at the default hop: every bundled sample,
every short recording keeps all its rows), then the means of pairs of rows, and so on:
each kept row is the mean of a group of ``step`` consecutive rows, ``step`` a power of
two that doubles whenever the rows kept reach :data:`MAX_ROWS`, so between half of it
and all of it are kept, whatever the length of the stream.

The groups lie on a fixed grid of the stream's rows (kept row ``i`` holds rows
``i * step`` to ``(i + 1) * step - 1``) and each is the mean of its rows taken as a
binary tree of pairwise means, so the rows kept are the same, bit for bit, whatever the
blocks the stream came in.

Given a span of rows (``rows=(first, end)``), only the stream's rows in it are kept, on
the same grid counted from ``first``: a figure of a minute of a two-hour recording gets
that minute's rows, every one of them.
"""

import math

import numpy as np

from ..errors import SettingsError

__all__ = ["PooledSpectrogram", "MAX_ROWS", "rows_kept", "check_span"]

#: Most rows kept (a power of two): 8192 rows of 5 ms are 41 s.
MAX_ROWS = 8192


def _pairwise_mean(groups):
    """The mean of each group of ``groups`` (g, 2**k, width) as a binary tree of pairwise
    means, float32: the mean of a group of two kept rows is the same operation."""
    while groups.shape[1] > 1:
        groups = (groups[:, 0::2] + groups[:, 1::2]) * np.float32(0.5)
    return groups[:, 0]


class PooledSpectrogram:
    """Spectrogram rows appended as they come, kept in at most ``max_rows`` rows.

    Parameters
    ----------
    width : int
        Bins a row.
    max_rows : int
        Most rows kept, a power of two (at least 2).
    rows : (int, int or None), optional
        The span of the stream's rows kept, ``first`` to ``end`` (exclusive; None: to the
        end of the stream); by default all of them.

    Attributes
    ----------
    step : int
        Rows of the stream in each kept row (a power of two; 1 until ``max_rows`` rows
        came).
    n_rows : int
        Rows of the span appended so far.
    first : int
        The stream's row the span begins at.
    """

    def __init__(self, width, max_rows=MAX_ROWS, rows=(0, None)):
        if max_rows < 2 or max_rows & (max_rows - 1):
            raise ValueError(f"max_rows={max_rows} must be a power of two, 2 or more")
        first, end = rows
        if first < 0 or (end is not None and end < first):
            raise ValueError(f"rows={rows!r} must be (first, end) with 0 <= first <= end")
        self.width = int(width)
        self.max_rows = int(max_rows)
        self.first, self.end = int(first), end
        self.seen = 0  # rows of the stream appended, in the span or not
        self.step = 1
        self.n_rows = 0
        self._kept = np.empty((0, self.width), np.float32)  # grows to max_rows
        self._n = 0  # rows of _kept in use
        self._pending = np.empty((0, self.width), np.float32)  # rows of an unfinished group

    def __len__(self):
        """Rows :meth:`array` returns (a group not yet complete counts as one)."""
        return self._n + (len(self._pending) > 0)

    def append(self, rows):
        """Add rows (n, width) of the stream (those outside the span are dropped)."""
        rows = np.asarray(rows, np.float32).reshape(-1, self.width)
        at, self.seen = self.seen, self.seen + len(rows)
        end = self.seen if self.end is None else min(self.seen, self.end)
        rows = rows[max(self.first - at, 0):max(end - at, 0)]
        if not len(rows):
            return
        self.n_rows += len(rows)
        data = np.concatenate((self._pending, rows)) if len(self._pending) else rows
        pos = 0
        while True:
            g = min((len(data) - pos) // self.step, self.max_rows - self._n)
            if g:
                groups = data[pos:pos + g * self.step].reshape(g, self.step, self.width)
                self._store(_pairwise_mean(groups))
                pos += g * self.step
            if self._n < self.max_rows:
                break
            # full: each pair of kept rows becomes one, and groups are twice as long
            kept = self._kept
            half = self._n // 2
            kept[:half] = (kept[0:self._n:2] + kept[1:self._n:2]) * np.float32(0.5)
            self._n = half
            self.step *= 2
        self._pending = data[pos:].copy()

    def _store(self, rows):
        end = self._n + len(rows)
        if end > len(self._kept):
            grown = np.empty((min(self.max_rows, max(end, 2 * len(self._kept), 64)),
                              self.width), np.float32)
            grown[:self._n] = self._kept[:self._n]
            self._kept = grown
        self._kept[self._n:end] = rows
        self._n = end

    def array(self):
        """The rows kept (m, width) float32, the last one the mean of the rows of a group
        not yet complete, if any."""
        parts = [self._kept[:self._n]]
        if len(self._pending):
            parts.append(self._pending.mean(axis=0, dtype=np.float64).astype(np.float32)[None])
        return np.concatenate(parts)

    def times_s(self, t0_s, hop_s):
        """Time, s, of each row of :meth:`array`: the mean time of the rows it holds, the
        stream's row ``r`` being at ``t0_s + r * hop_s``."""
        first = np.arange(len(self)) * self.step
        count = np.minimum(self.step, self.n_rows - first)
        return t0_s + (self.first + first + (count - 1) / 2.0) * hop_s


def check_span(span):
    """``span`` as ``(start_s, end_s)`` floats; SettingsError unless it is two finite
    numbers with ``0 <= start_s < end_s``."""
    try:
        start, end = (float(v) for v in span)
    except (TypeError, ValueError):
        raise SettingsError(f"span {span!r} must be (start_s, end_s), two numbers of "
                            f"seconds") from None
    if not (math.isfinite(start) and math.isfinite(end) and 0.0 <= start < end):
        raise SettingsError(f"span {span!r} must be (start_s, end_s) with "
                            f"0 <= start_s < end_s, in seconds")
    return start, end


def rows_kept(keep, config):
    """The rows of the stream :class:`PooledSpectrogram` keeps for ``keep_spectrogram``,
    as its ``rows`` argument: None for none (False), all for True, and for
    ``(start_s, end_s)`` the rows whose frames reach into that span, a row either side;
    ``config`` gives the first row's time (``t0_s``) and the hop."""
    if not isinstance(keep, (tuple, list, np.ndarray)):
        return (0, None) if keep else None
    start, end = check_span(keep)
    first = max(0, math.floor((start - config.t0_s) / config.hop_s))
    return first, max(first, math.ceil((end - config.t0_s) / config.hop_s) + 1)
