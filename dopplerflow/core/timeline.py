"""The stream's timeline: rows <-> samples <-> seconds, gaps, and which rows are analysed.

As in scipy's ``ShortTimeFFT``, a *row* (a time slice of the spectrogram) ``r``
starts at sample ``r * hop`` and its time is that of the centre of its window,
``t0_s + r * hop_s``.  A row of the centred time average of ``average_frames``
frames takes the samples from ``(r - half) * hop`` to ``(r + half) * hop +
n_window``.  A row is *analysed* unless those samples overlap a range that is
not settled (the wall filter's settling at the start of the stream and after
each gap of lost samples), or one of its frames is broadband noise not read
(:mod:`.impulses`).
"""

import math

import numpy as np

__all__ = ["Timeline"]


class Timeline:
    """Rows, samples and seconds of one stream, its gaps and the rows not analysed.

    Parameters
    ----------
    config : SpectralConfig
        The stream's frame geometry (``hop``, ``hop_s``, ``t0_s``, ``n_window``,
        ``average_frames``, ``sample_rate_hz``).
    settle : int
        Samples the wall filter takes to settle after a gap.
    first_settle : int
        Samples not analysed at the start of the stream.

    Attributes
    ----------
    n_samples : int
        Samples received so far, gaps included.
    rows : int
        Rows completed so far.
    gaps : list of (float, float)
        Start and end, s, of every gap of lost samples.
    unanalysed : list of [int, int]
        ``[first, end)`` row ranges not analysed, merged.
    """

    def __init__(self, config, settle, first_settle):
        self.config = config
        self.settle = int(settle)
        self.n_samples = 0
        self.rows = 0
        self.gaps = []
        self.unanalysed = []
        self.first_settle = int(first_settle)
        self._unsettled = [(0, self.first_settle)]  # sample ranges [g0, g1) not settled
        self._unread = []  # row ranges [r0, r1) of frames not read, merged
        self._valid_buf = np.ones(0, bool)

    @property
    def time_s(self):
        """Seconds of audio received so far (gaps included)."""
        return self.n_samples / self.config.sample_rate_hz

    def row_times_s(self, row0, n):
        """Times, s, of the ``n`` rows from ``row0``."""
        cfg = self.config
        return cfg.t0_s + (row0 + np.arange(n)) * cfg.hop_s

    def row_time_s(self, row):
        """Time, s, of row ``row`` (a float row gives the time between rows)."""
        return self.config.t0_s + row * self.config.hop_s

    def row_span(self, start_s, end_s):
        """The rows ``[a, b)`` that cover ``start_s`` to ``end_s``."""
        cfg = self.config
        return (int(math.floor((start_s - cfg.t0_s) / cfg.hop_s)),
                int(math.ceil((end_s - cfg.t0_s) / cfg.hop_s)))

    def advance(self, n_samples):
        """``n_samples`` more samples (or lost samples) have gone through the stages."""
        self.n_samples += n_samples

    def mark_gap(self, n_samples):
        """``n_samples`` samples are lost from here: a gap, and the settling after it."""
        start = self.time_s
        self.gaps.append((start, start + n_samples / self.config.sample_rate_hz))
        self._unsettled.append((self.n_samples, self.n_samples + n_samples + self.settle))

    def mark_blanked(self, n_samples):
        """``n_samples`` samples from here were blanked (artefacts): not analysed, and the
        wall filter settles after them."""
        self._unsettled.append((self.n_samples, self.n_samples + n_samples + self.settle))

    def mark_unread(self, frames):
        """The frames (stream indices, ascending) are broadband noise, not read: the rows
        whose time average takes them are not analysed."""
        half = (self.config.average_frames - 1) // 2
        for f in frames:
            r0, r1 = f - half, f + half + 1
            if self._unread and r0 <= self._unread[-1][1]:
                self._unread[-1][1] = max(self._unread[-1][1], r1)
            else:
                self._unread.append([r0, r1])

    def take_rows(self, n):
        """Count ``n`` new rows; return the index of the first."""
        row0 = self.rows
        self.rows += n
        return row0

    def valid_rows(self, row0, n):
        """Which of the ``n`` rows from ``row0`` are analysed (None: all of them).

        Ranges that end before the first of these rows are forgotten: rows are
        asked for in stream order.
        """
        cfg = self.config
        half = (cfg.average_frames - 1) // 2  # the row averages frames r-half .. r+half
        first_sample = (row0 - half) * cfg.hop
        self._unsettled = [(g0, g1) for g0, g1 in self._unsettled if g1 > first_sample]
        self._unread = [r for r in self._unread if r[1] > row0]
        return self.valid_mask(row0, n)

    def _samples(self, row0, n):
        """The first sample and the end of the samples of each of the ``n`` rows from
        ``row0`` (the frames ``r - half`` .. ``r + half`` of their time average)."""
        cfg = self.config
        half = (cfg.average_frames - 1) // 2
        rows = row0 + np.arange(n)
        return (rows - half) * cfg.hop, (rows + half) * cfg.hop + cfg.n_window

    def valid_mask(self, row0, n):
        """:meth:`valid_rows` without forgetting any range."""
        if not self._unsettled and not self._unread:
            return None
        valid = np.ones(n, bool)
        first, end = self._samples(row0, n)
        for g0, g1 in self._unsettled:
            valid &= ~((first < g1) & (end > g0))
        return valid & ~self.unread_mask(row0, n)

    def unread_mask(self, row0, n):
        """Which of the ``n`` rows from ``row0`` take a frame of broadband noise not read."""
        out = np.zeros(n, bool)
        for r0, r1 in self._unread:
            out[max(r0 - row0, 0):max(min(r1 - row0, n), 0)] = True
        return out

    def frames_settled(self, frame0, n):
        """Which of the ``n`` frames from ``frame0`` lie on settled samples only.

        Frame ``f`` takes the samples ``f * hop`` to ``f * hop + n_window``; it is known
        once they have all come, and with them every range before them not settled, so
        the answer does not depend on when it is asked.
        """
        cfg = self.config
        first = (frame0 + np.arange(n)) * cfg.hop
        end = first + cfg.n_window
        valid = np.ones(n, bool)
        for g0, g1 in self._unsettled:
            valid &= ~((first < g1) & (end > g0))
        return valid

    def all_valid(self, n):
        """An array of ``n`` True values (kept and grown as needed; not to be written:
        it stays writable so the kernels it is given see the type of any mask)."""
        if len(self._valid_buf) < n:
            self._valid_buf = np.ones(max(n, 2 * len(self._valid_buf)), bool)
        return self._valid_buf[:n]

    def interrupted(self, row0, valid):
        """Which of the rows from ``row0`` not analysed (``valid`` False) lie past the
        stream's start: a gap or blanked samples inside the stream, where its signal went
        on, not the start's settling, before which there was none, nor broadband noise
        (:meth:`mark_unread`), whose power the rows still hold."""
        first, _ = self._samples(row0, len(valid))
        return ~valid & (first >= self.first_settle) & ~self.unread_mask(row0, len(valid))

    def note_unanalysed(self, row0, valid):
        """Add the row ranges where ``valid`` (rows from ``row0``) is False, merged."""
        edges = np.flatnonzero(np.diff(np.concatenate(([1], valid.view(np.int8), [1]))))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            a, b = row0 + int(a), row0 + int(b)
            if self.unanalysed and self.unanalysed[-1][1] == a:
                self.unanalysed[-1][1] = b
            else:
                self.unanalysed.append([a, b])

    def near_gap(self, start_s, end_s, margin_s):
        """Whether ``start_s`` to ``end_s`` comes within ``margin_s`` of a gap."""
        return any(g0 - margin_s < end_s and g1 + margin_s > start_s for g0, g1 in self.gaps)
