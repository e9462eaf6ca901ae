"""Glitch stage: samples that cannot be signal are blanked before the wall filter.

A sample stage.  Two kinds of samples are taken out of the analysis, counted and
reported as *artefacts*:

* samples no analysis can take: not finite (NaN, infinity: a damaged float file, a
  driver's bad buffer), or at :data:`CEILING` (2^40) of full scale or beyond, where a frame's
  power would pass float32's range;
* short bursts of samples far beyond the recording's level.  Samples more than
  :data:`GLITCH_RATIO` times (2^17, 102 dB) the running level are *loud*; loud samples
  within :data:`GLITCH_S` of one another form a burst, and a burst that spans at
  most :data:`GLITCH_S` and is followed by :data:`GLITCH_S` without a loud sample
  is blanked.  A single such sample would otherwise ring through the wall filter
  and hold the noise floor up for seconds;
* **damage**: a run of loud samples that holds a sample no analysis can take, however
  long.  Random bytes read as float32 (a damaged float file) are mostly far beyond the
  recording's level, and some of them NaN, infinite or beyond the ceiling; the run is
  blanked whole, from :data:`GLITCH_S` before its first such sample (its start, if later)
  to its last loud sample, and the pieces that hold such samples do not move the level,
  so that the damage stays loud to its end.

A sustained rise (flow starting after a quiet stretch, the probe touching the
skin) is never a burst: its loud samples keep coming, so it spans more than
:data:`GLITCH_S` and is kept whole.  Whether a burst is short is known at most
``2 * GLITCH_S`` after it starts, so from a loud sample on the stage holds the
samples back until it knows (4 ms at most); in a longer run of loud samples it holds
the last :data:`GLITCH_S` back (damage found there is blanked from that far back), and in
damage the :data:`GLITCH_S` after its last loud sample; without a loud sample it holds
nothing back.
The decisions depend only on the samples, so any block size gives the same
output.

The running level is the (lower) median, over the last :data:`LEVEL_PIECES` pieces
of :data:`PIECE` samples on a fixed grid of the stream, of each piece's peak
magnitude: the few pieces a burst falls in do not move it, and a
recording that fades in and out carries it along.  The stream's first piece has
no level before it: the stage gathers it whole (holding its samples back) and judges
it against the lower median of its own non-zero magnitudes, which a burst of at most
:data:`GLITCH_S` in it does not move.

The stage also chooses the stream's *gain*: a power of two that brings a
recording stored far outside the usual range (a float file scaled by 10^30, or
by 10^-30) back to it before any filter or spectrum sees it.  A power of two
scales every later computation exactly, so results do not depend on the
recording's scale.  It is chosen from the first block with a sample that has a
value, by the median magnitude of those samples (a fade-in's first tiny values
or a burst do not move it); recordings whose median lies within 2^-40 to 2^24 of
full scale (every float file written as audio, and 8- to 24-bit integers given as
floats) keep a gain of exactly 1.  The :data:`CEILING` lies 2^16 over the highest
such median.
"""

import math

import numpy as np
from numba import njit

from ._numba import _JIT

__all__ = ["Glitches", "GLITCH_S", "GLITCH_RATIO", "CEILING"]

#: Longest burst blanked, s.
GLITCH_S = 0.002
#: A burst stands this many times above the running level: 2**17, 102 dB, more than the
#: whole range of 16-bit audio, so no 16-bit recording has one.  A power of two, so the
#: stage compares the samples' bits (see ``_loud``).
GLITCH_SHIFT = 17
GLITCH_RATIO = 2.0 ** GLITCH_SHIFT
#: Samples per piece of the level grid, and pieces in the running level.
PIECE = 256
LEVEL_PIECES = 16
#: The gain is 1 while the median magnitude of the first block's samples with a value
#: lies within 2^-LOG2_LOW and 2^LOG2_HIGH of full scale; outside, it brings that median
#: to about 2^-4 of full scale.
LOG2_LOW = 40
LOG2_HIGH = 24
#: Samples (the gain applied) of this magnitude or more are taken out, as non-finite ones
#: are: a frame of 2^12 of them holds a power of 2^104, its sum over 2^12 bins 2^116, and
#: float32 ends at 2^128.
CEILING_LOG2 = 40
CEILING = 2.0 ** CEILING_LOG2


class Glitches:
    """Blanks non-finite samples and short bursts far above the running level.

    Parameters
    ----------
    n_channels : int
    sample_rate_hz : float

    Attributes
    ----------
    gain : float or None
        The power of two the released samples are multiplied by (None until a
        sample with a value arrives).
    median_log2 : int or None
        The binary exponent of the median magnitude the gain was chosen by: the
        median lies in ``[2**(e-1), 2**e)``.
    artefacts : list of [int, int, str]
        Sample ranges ``[start, end)`` of the stream blanked, with their kind
        (``'non-finite'``, ``'burst'``, or ``'damaged'``: loud samples with non-finite
        ones among them), merged.
    beyond : list of int
        For each of ``artefacts``, its values beyond full scale (finite, magnitude over
        1.0, all channels).
    """

    def __init__(self, n_channels, sample_rate_hz):
        self.n_channels = int(n_channels)
        self.hold = max(1, int(round(GLITCH_S * float(sample_rate_hz))))
        self.gain = None
        self.median_log2 = None  # the exponent of that median magnitude
        self.artefacts = []
        self.beyond = []
        self._tail = np.zeros((0, self.n_channels), np.float32)  # samples held back
        # (first, last, first unusable or -1) stream indices of the run that may still grow
        self._open = None
        self._blank = []  # [start, end) stream ranges decided blank, not all released yet
        self._n_in = 0  # samples received
        self._n_out = 0  # samples released
        # the level grid: the RMS of the last pieces in a ring (see _loud)
        self._medians = np.zeros((2, LEVEL_PIECES), np.int64)
        self._bad = 0  # samples no analysis can take in the newest block
        self._tail_bad = False  # whether the held-back tail may hold some
        self._state = np.zeros(_N_STATE, np.int64)
        self._first = np.zeros((0, self.n_channels), np.float32)  # None once judged
        self._ceiling = math.inf  # no ceiling before the gain (only zeros so far)
        self._ceiling_bits = _INF_BITS

    # ------------------------------------------------------------------ level
    def _over(self, block):
        """Which samples of ``block`` are loud (or not finite), each against the level of
        the piece it falls in; updates the level (``_loud``)."""
        over = np.empty(len(block), np.bool_)
        self._bad = _loud(np.ascontiguousarray(block).view(np.int32), GLITCH_SHIFT,
                          self._ceiling_bits, self._medians, self._state, over)
        return over

    def _choose_gain(self, block):
        """Fix the gain from the median magnitude of the block's finite, non-zero samples
        (none: left to a later block).  A power of two float32 holds: 2^126 at most."""
        vals = np.abs(block[np.isfinite(block)])
        vals = vals[vals > 0]
        if not vals.size:
            return
        k = self.median_log2 = math.frexp(float(np.median(vals)))[1]
        self.gain = (1.0 if -LOG2_LOW <= k <= LOG2_HIGH
                     else math.ldexp(1.0, min(-(k + 4), 126)))
        self._set_ceiling()

    def _set_ceiling(self):
        """The :data:`CEILING` before the gain: as a float, and as the bits of a float32
        magnitude (those of infinity where it lies beyond float32)."""
        e = CEILING_LOG2 - round(math.log2(self.gain))
        self._ceiling = math.ldexp(1.0, e) if e < 128 else math.inf
        self._ceiling_bits = min((127 + e) << 23, _INF_BITS)

    def _unusable(self, x):
        """Which rows of ``x`` hold a sample no analysis can take: not finite, or at the
        ceiling or beyond."""
        return ~(np.abs(x) < self._ceiling).all(axis=1)

    # ------------------------------------------------------------------ blocks
    def __call__(self, block, final=False):
        """Take ``block`` (float32, ``(frames, channels)``); return what is released.

        Returns
        -------
        list of (str, ndarray or int)
            In stream order: ``('samples', x)``, samples to analyse (the gain
            applied), and ``('blank', n)``, ``n`` samples taken out.  With
            ``final`` everything held back is released.
        """
        if self._first is not None:
            # the first piece is gathered whole, then judged against its own level
            block = np.concatenate((self._first, block)) if len(self._first) else block
            if len(block) < PIECE and not final:
                self._first = block.copy()
                return []
            self._first = None
            self._state[_LEVEL] = _first_level(block[:PIECE])
        if self.gain is None:
            self._choose_gain(block)
        loud = self._n_in + np.flatnonzero(self._over(block))
        bad = (self._n_in + np.flatnonzero(self._unusable(block)) if self._bad
               else loud[:0])
        self._n_in += len(block)
        self._cluster(loud, bad, final)
        tail = self._tail
        n_out = len(tail) + len(block)
        if not final and self._open is not None:
            first, last, bad_at = self._open
            if bad_at >= 0:
                # damage, blanked as far as its last loud sample: what may still join it waits
                keep = last + 1
            elif last - first < self.hold:
                # a burst that may still turn out short: held back from its first sample
                keep = first
            else:
                # a long run: damage found in it is blanked from ``hold`` before
                keep = self._n_in - self.hold
            n_out = max(keep - self._n_out, 0)
        end_out = self._n_out + n_out
        if not any(a < end_out for a, _ in self._blank):
            return self._release_clean(block, n_out)
        data = np.concatenate((tail, block)) if len(tail) else block
        blank = self._unusable(data[:n_out])
        for a, b in self._blank:
            blank[max(a - self._n_out, 0):max(min(b, end_out) - self._n_out, 0)] = True
        self._blank = [[max(a, end_out), b] for a, b in self._blank if b > end_out]
        self._tail = data[n_out:].copy()
        self._tail_bad = bool(self._unusable(self._tail).any())
        return self._segments(data[:n_out], blank)

    def _cluster(self, loud, bad, final):
        """Group the loud samples ``loud`` (stream indices, ``bad`` among them: those no
        analysis can take) into runs: samples within ``hold`` of each other belong
        together.  A run that spans at most ``hold`` samples and is followed by ``hold``
        quiet ones is blanked (``_blank``); a run that holds a ``bad`` one is damage,
        blanked from ``hold`` before its first bad sample (its start, if later) as far as
        its last loud sample while it lasts; a longer run without one is signal."""
        hold = self.hold
        if len(loud):
            splits = np.flatnonzero(np.diff(loud) > hold)
            firsts = np.concatenate((loud[:1], loud[splits + 1]))
            lasts = np.concatenate((loud[splits], loud[-1:]))
            # each run's first bad sample (-1: none; each bad sample lies within a run)
            bad_at = np.full(len(firsts), -1, np.int64)
            runs, at = np.unique(np.searchsorted(lasts, bad), return_index=True)
            bad_at[runs] = bad[at]
            if self._open is not None and firsts[0] - self._open[1] <= hold:
                firsts[0] = self._open[0]
                if self._open[2] >= 0:
                    bad_at[0] = self._open[2]
            elif self._open is not None:
                self._decide(*self._open)
            for f, last, b in zip(firsts[:-1].tolist(), lasts[:-1].tolist(),
                                  bad_at[:-1].tolist(), strict=True):
                self._decide(f, last, b)
            self._open = (int(firsts[-1]), int(lasts[-1]), int(bad_at[-1]))
        if self._open is not None and (final or self._n_in - 1 - self._open[1] >= hold):
            self._decide(*self._open)
            self._open = None
        elif self._open is not None and self._open[2] >= 0:
            self._decide(*self._open)  # damage is blanked as far as it has come

    def _decide(self, first, last, bad_at):
        if bad_at >= 0:
            self._blank.append([max(first, bad_at - self.hold), last + 1])
        elif last - first + 1 <= self.hold:
            self._blank.append([first, last + 1])

    def _release_clean(self, block, n_out):
        """Release the first ``n_out`` samples of the held-back tail and ``block``, none of
        them blanked (the common case: no copy of the block).  Non-finite samples in them
        (in a long run of loud samples) are still taken out."""
        tail = self._tail
        from_tail = min(n_out, len(tail))
        from_block = n_out - from_tail
        out = []
        for x, maybe_bad in ((tail[:from_tail], self._tail_bad), (block[:from_block], self._bad)):
            if not len(x):
                continue
            bad = self._unusable(x) if maybe_bad else None
            if bad is not None and bad.any():
                out += self._segments(x, bad)
            else:
                out.append(("samples", self._scaled(x)))
                self._n_out += len(x)
        if from_tail < len(tail):
            self._tail = np.concatenate((tail[from_tail:], block))
        else:
            self._tail = block[from_block:].copy()
        self._tail_bad = (bool(self._bad or self._tail_bad)
                          and bool(self._unusable(self._tail).any()))
        return out

    def _segments(self, data, blank):
        out = []
        if not len(data):
            return out
        edges = np.flatnonzero(np.diff(np.concatenate(([1], (~blank).view(np.int8), [1]))))
        pos = 0
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            if a > pos:
                out.append(("samples", self._scaled(data[pos:a])))
            out.append(("blank", int(b - a)))
            self._note(self._n_out + a, self._n_out + b, data[a:b])
            pos = b
        if pos < len(data):
            out.append(("samples", self._scaled(data[pos:])))
        self._n_out += len(data)
        return out

    def _scaled(self, x):
        if self.gain is None or self.gain == 1.0:
            return x
        return x * np.float32(self.gain)

    def _note(self, a, b, samples):
        finite = np.isfinite(samples).all(axis=1)
        kind = "burst" if finite.all() else "non-finite" if not finite.any() else "damaged"
        beyond = int(np.count_nonzero(np.abs(samples[np.isfinite(samples)]) > 1.0))
        last = self.artefacts[-1] if self.artefacts else None
        if last is not None and last[1] == a:
            # one run blanked, whatever the releases it came in: mixed kinds are damage
            last[1] = b
            if last[2] != kind:
                last[2] = "damaged"
            self.beyond[-1] += beyond
        else:
            self.artefacts.append([int(a), int(b), kind])
            self.beyond.append(beyond)

    @property
    def damaged_beyond(self):
        """Values beyond full scale among the samples blanked as damage (not as a burst:
        a loud click in float audio is beyond full scale as recorded)."""
        return sum(n for (_, _, kind), n in zip(self.artefacts, self.beyond, strict=True)
                   if kind != "burst")

    @property
    def held(self):
        """Samples received but not yet released."""
        return self._n_in - self._n_out + (len(self._first) if self._first is not None else 0)


def _first_level(x):
    """The level the stream's first piece ``x`` is judged by, as bits (see ``_loud``): the
    lower median of its samples' non-zero magnitudes (the larger of the channels'); 0 (no
    level: nothing is loud) without one."""
    mags = np.abs(x).max(axis=1)
    mags = mags[np.isfinite(mags) & (mags > 0)]
    if not mags.size:
        return 0
    k = (len(mags) - 1) // 2
    return int(np.partition(mags, k)[k].view(np.int32))


#: Slots of the level state: the samples in the piece under way, the pieces done, the
#: running level (0: none yet), the largest usable magnitude of the piece under way, and
#: whether it holds a sample no analysis can take (1: it stays out of the level).
_PIECE_N, _PIECES_DONE, _LEVEL, _PIECE_PEAK, _PIECE_BAD = range(5)
_N_STATE = 5
#: The bits of a float32: clearing the sign bit takes its magnitude, and magnitudes from
#: these bits up are infinite or NaN.
_ABS = 0x7FFFFFFF
_INF_BITS = 0x7F800000


# --------------------------------------------------------------------------- kernels
@njit(**_JIT)
def _loud(bits, shift, ceiling, medians, state, over):
    """Mark the loud samples of a block and carry the running level along; return the
    number of samples no analysis can take (not finite, or at the ceiling or beyond).

    Everything is done on the samples' bits: ``abs`` is clearing the sign bit, the bits of
    non-negative floats order as the floats (NaN and infinity above all), and a power of
    two times a float adds to its exponent.  The largest magnitude of the part of a piece
    in the block is therefore an exact maximum whatever the order (the loop vectorises,
    and the result does not depend on the blocks); only a part with a loud or unusable
    sample is then looked at sample by sample.  A piece that holds an unusable sample does
    not join the level (damage stays loud to its end).

    Parameters
    ----------
    bits : ndarray, shape (n, channels), int32
        The block's float32 samples, viewed as their bits.
    shift : int
        A sample is loud above ``2**shift`` times the level of its piece.
    ceiling : int
        The bits of the least magnitude no analysis can take (``_INF_BITS``: none but
        the non-finite).
    medians : ndarray, shape (2, LEVEL_PIECES), int64
        A ring of the peak magnitudes (as bits) of the last pieces, and room for their
        median.
    state : ndarray, shape (_N_STATE,), int64
        ``_PIECE_N``, ``_PIECES_DONE``, ``_LEVEL``, ``_PIECE_PEAK``, ``_PIECE_BAD``;
        magnitudes as bits.  Updated in place.
    over : ndarray, shape (n,), bool
        Out: unusable, or loud.
    """
    n = bits.shape[0]
    nch = bits.shape[1]
    bad = 0
    i = np.int64(0)  # typed, so the kernels it is passed to compile once
    while i < n:
        j = state[_PIECE_N]
        end = min(n, i + PIECE - j)
        level = state[_LEVEL]
        # 2**shift times the level; no level yet (or silence): nothing is loud
        limit = min(level + (shift << 23), _INF_BITS) if level > 0 else _INF_BITS
        top = _peak_bits(bits.reshape(-1)[i * nch:end * nch])
        if top < ceiling and top <= limit:
            over[i:end] = False
            state[_PIECE_PEAK] = max(state[_PIECE_PEAK], top)
        else:
            bad += _loud_by_sample(bits, i, end, limit, ceiling, state, over)
        j += end - i
        i = end
        if j == PIECE:
            j = 0
            _close_piece(medians, state)
        state[_PIECE_N] = j
    return bad


@njit(**_JIT)
def _peak_bits(flat):
    """The largest magnitude's bits among ``flat`` (one flat loop: it vectorises)."""
    top = 0
    for k in range(flat.shape[0]):
        top = max(top, flat[k] & _ABS)
    return top


@njit(**_JIT)
def _loud_by_sample(bits, start, end, limit, ceiling, state, over):
    """``_loud`` for rows ``start:end`` sample by sample; returns the samples no analysis
    can take (their piece stays out of the level)."""
    bad = 0
    for t in range(start, end):
        top = 0
        for c in range(bits.shape[1]):
            top = max(top, bits[t, c] & _ABS)
        if top >= ceiling:
            over[t] = True
            bad += 1
            state[_PIECE_BAD] = 1
        else:
            over[t] = top > limit
            state[_PIECE_PEAK] = max(state[_PIECE_PEAK], top)
    return bad


@njit(**_JIT)
def _close_piece(medians, state):
    """A piece is complete: its peak joins the ring, and the level is their median (a
    piece that held an unusable sample leaves both as they were)."""
    if state[_PIECE_BAD]:
        state[_PIECE_BAD] = 0
        state[_PIECE_PEAK] = 0
        return
    k = medians.shape[1]
    done = state[_PIECES_DONE]
    medians[0, done % k] = state[_PIECE_PEAK]
    done += 1
    state[_PIECES_DONE] = done
    m = min(done, k)
    for q in range(m):
        medians[1, q] = medians[0, q]
    state[_LEVEL] = _median_small(medians[1], m)
    state[_PIECE_PEAK] = 0


@njit(**_JIT)
def _median_small(a, n):
    """The lower median of ``a[:n]`` (a few values), sorting them in place."""
    for i in range(1, n):
        v = a[i]
        j = i - 1
        while j >= 0 and a[j] > v:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = v
    return a[(n - 1) // 2]
