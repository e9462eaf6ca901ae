"""Glitch stage: samples that cannot be signal are blanked before the wall filter.

A sample stage.  Two kinds of samples are taken out of the analysis, counted and
reported as *artefacts*:

* samples that are not finite (NaN, infinity: a damaged float file, a driver's bad
  buffer);
* short bursts of samples far beyond the recording's level.  Samples more than
  :data:`GLITCH_RATIO` times (2^17, 102 dB) the running level are *loud*; loud samples
  within :data:`GLITCH_S` of one another form a burst, and a burst that spans at
  most :data:`GLITCH_S` and is followed by :data:`GLITCH_S` without a loud sample
  is blanked.  A single such sample would otherwise ring through the wall filter
  and hold the noise floor up for seconds.

A sustained rise (flow starting after a quiet stretch, the probe touching the
skin) is never a burst: its loud samples keep coming, so it spans more than
:data:`GLITCH_S` and is kept whole.  Whether a burst is short is known at most
``2 * GLITCH_S`` after it starts, so from a loud sample on the stage holds the
samples back until it knows (4 ms at most); without one it holds nothing back.
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
or a burst do not move it); recordings whose median lies within 2^-40 to 2^40 of
full scale (all integer formats and every float file written as audio) keep a
gain of exactly 1.
"""

import math

import numpy as np
from numba import njit

from ._numba import _JIT

__all__ = ["Glitches", "GLITCH_S", "GLITCH_RATIO"]

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
#: lies within 2^-LOG2_RANGE and 2^LOG2_RANGE of full scale; outside, it brings that
#: median to about 2^-4 of full scale.
LOG2_RANGE = 40


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
        (``'non-finite'`` or ``'burst'``), merged.
    """

    def __init__(self, n_channels, sample_rate_hz):
        self.n_channels = int(n_channels)
        self.hold = max(1, int(round(GLITCH_S * float(sample_rate_hz))))
        self.gain = None
        self.median_log2 = None  # the exponent of that median magnitude
        self.artefacts = []
        self._tail = np.zeros((0, self.n_channels), np.float32)  # samples held back
        self._open = None  # (first, last) stream index of the burst that may still grow
        self._blank = []  # [start, end) stream ranges decided blank, not all released yet
        self._n_in = 0  # samples received
        self._n_out = 0  # samples released
        # the level grid: the RMS of the last pieces in a ring (see _loud)
        self._medians = np.zeros((2, LEVEL_PIECES), np.int64)
        self._bad = 0  # samples not finite in the newest block
        self._tail_bad = False  # whether the held-back tail may hold some
        self._state = np.zeros(_N_STATE, np.int64)
        self._first = np.zeros((0, self.n_channels), np.float32)  # None once judged

    # ------------------------------------------------------------------ level
    def _over(self, block):
        """Which samples of ``block`` are loud (or not finite), each against the level of
        the piece it falls in; updates the level (``_loud``)."""
        over = np.empty(len(block), np.bool_)
        self._bad = _loud(np.ascontiguousarray(block).view(np.int32), GLITCH_SHIFT,
                          self._medians, self._state, over)
        return over

    def _choose_gain(self, block):
        """Fix the gain from the median magnitude of the block's finite, non-zero samples
        (none: left to a later block).  A power of two float32 holds: 2^126 at most."""
        vals = np.abs(block[np.isfinite(block)])
        vals = vals[vals > 0]
        if not vals.size:
            return
        k = self.median_log2 = math.frexp(float(np.median(vals)))[1]
        self.gain = (1.0 if -LOG2_RANGE <= k <= LOG2_RANGE
                     else math.ldexp(1.0, min(-(k + 4), 126)))

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
        self._n_in += len(block)
        self._cluster(loud, final)
        tail = self._tail
        n_out = len(tail) + len(block)
        if not final and self._open is not None and self._open[1] - self._open[0] < self.hold:
            # a burst that may still turn out short: hold back from its first sample
            n_out = self._open[0] - self._n_out
        end_out = self._n_out + n_out
        if not any(a < end_out for a, _ in self._blank):
            return self._release_clean(block, n_out)
        data = np.concatenate((tail, block)) if len(tail) else block
        blank = ~np.isfinite(data[:n_out]).all(axis=1)
        for a, b in self._blank:
            blank[max(a - self._n_out, 0):max(min(b, end_out) - self._n_out, 0)] = True
        self._blank = [[max(a, end_out), b] for a, b in self._blank if b > end_out]
        self._tail = data[n_out:].copy()
        self._tail_bad = not np.isfinite(self._tail).all()
        return self._segments(data[:n_out], blank)

    def _cluster(self, loud, final):
        """Group the loud samples ``loud`` (stream indices) into bursts: samples within
        ``hold`` of each other belong together.  A burst that spans at most ``hold``
        samples and is followed by ``hold`` quiet ones is blanked (``_blank``); a longer
        one is signal."""
        hold = self.hold
        if len(loud):
            splits = np.flatnonzero(np.diff(loud) > hold)
            firsts = np.concatenate((loud[:1], loud[splits + 1]))
            lasts = np.concatenate((loud[splits], loud[-1:]))
            if self._open is not None and firsts[0] - self._open[1] <= hold:
                firsts[0] = self._open[0]
            elif self._open is not None:
                self._decide(*self._open)
            for f, last in zip(firsts[:-1].tolist(), lasts[:-1].tolist(), strict=True):
                self._decide(f, last)
            self._open = (int(firsts[-1]), int(lasts[-1]))
        if self._open is not None and (final or self._n_in - 1 - self._open[1] >= hold):
            self._decide(*self._open)
            self._open = None

    def _decide(self, first, last):
        if last - first + 1 <= self.hold:
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
            bad = ~np.isfinite(x).all(axis=1) if maybe_bad else None
            if bad is not None and bad.any():
                out += self._segments(x, bad)
            else:
                out.append(("samples", self._scaled(x)))
                self._n_out += len(x)
        if from_tail < len(tail):
            self._tail = np.concatenate((tail[from_tail:], block))
        else:
            self._tail = block[from_block:].copy()
        self._tail_bad = bool(self._bad or self._tail_bad) and not np.isfinite(self._tail).all()
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
        kind = "burst" if np.isfinite(samples).all() else "non-finite"
        last = self.artefacts[-1] if self.artefacts else None
        if last is not None and last[1] == a and last[2] == kind:
            last[1] = b
        else:
            self.artefacts.append([int(a), int(b), kind])

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
#: running level (0: none yet), and the largest finite magnitude of the piece under way.
_PIECE_N, _PIECES_DONE, _LEVEL, _PIECE_PEAK = range(4)
_N_STATE = 4
#: The bits of a float32: clearing the sign bit takes its magnitude, and magnitudes from
#: these bits up are infinite or NaN.
_ABS = 0x7FFFFFFF
_INF_BITS = 0x7F800000


# --------------------------------------------------------------------------- kernels
@njit(**_JIT)
def _loud(bits, shift, medians, state, over):
    """Mark the loud samples of a block and carry the running level along; return the
    number of samples that are not finite.

    Everything is done on the samples' bits: ``abs`` is clearing the sign bit, the bits of
    non-negative floats order as the floats (NaN and infinity above all), and a power of
    two times a float adds to its exponent.  The largest magnitude of the part of a piece
    in the block is therefore an exact maximum whatever the order (the loop vectorises,
    and the result does not depend on the blocks); only a part with a loud or non-finite
    sample is then looked at sample by sample.

    Parameters
    ----------
    bits : ndarray, shape (n, channels), int32
        The block's float32 samples, viewed as their bits.
    shift : int
        A sample is loud above ``2**shift`` times the level of its piece.
    medians : ndarray, shape (2, LEVEL_PIECES), int64
        A ring of the peak magnitudes (as bits) of the last pieces, and room for their
        median.
    state : ndarray, shape (4,), int64
        ``_PIECE_N``, ``_PIECES_DONE``, ``_LEVEL``, ``_PIECE_PEAK``; magnitudes as bits.
        Updated in place.
    over : ndarray, shape (n,), bool
        Out: not finite, or loud.
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
        if top < _INF_BITS and top <= limit:
            over[i:end] = False
            state[_PIECE_PEAK] = max(state[_PIECE_PEAK], top)
        else:
            bad += _loud_by_sample(bits, i, end, limit, state, over)
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
def _loud_by_sample(bits, start, end, limit, state, over):
    """``_loud`` for rows ``start:end`` sample by sample; returns the samples that are not
    finite (their values stay out of the level)."""
    bad = 0
    for t in range(start, end):
        top = 0
        for c in range(bits.shape[1]):
            top = max(top, bits[t, c] & _ABS)
        if top >= _INF_BITS:
            over[t] = True
            bad += 1
        else:
            over[t] = top > limit
            state[_PIECE_PEAK] = max(state[_PIECE_PEAK], top)
    return bad


@njit(**_JIT)
def _close_piece(medians, state):
    """A piece is complete: its peak joins the ring, and the level is their median."""
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
