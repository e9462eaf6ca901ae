"""Dropouts: stretches of digital zeros inside a recording.

A sample stage that only reads.  A recorder or sound card that loses samples often writes
zeros in their place (a buffer underrun, a USB glitch), and a device that mutes its output
writes them too.  A recording's own noise is never exactly zero on every channel for long:
16-bit noise of one quantisation step rms leaves a sample zero on both channels about one
time in six, so 40 such samples in a row (5 ms at 8 kHz) come about once in 10^31.  A run
of samples exactly zero on every channel for :data:`DROPOUT_S` or more, after the stream's
first sample that is not zero, is a *dropout*: the flow in it is not known.  Its frames
are near digital silence and read no flow, so a reflux across it was read as two shorter
retrograde episodes, each under the threshold, and "no reflux" (0.5 s of zeros inside the
bundled jugular's 2 s reflux).  The zeros a recording starts with are no dropout (a
recorder started before its input).

Runs are found without looking at every sample: a run of ``min_run`` zero frames or more
holds a frame whose stream index is a multiple of ``min_run``, so only those frames are
tested, and the run is followed both ways from the one found; the zero frames a block
ends with are carried over to the next.  The spans found depend only on the samples, not
on the blocks.  Its numba kernel is at the end of this module.
"""

import numpy as np
from numba import njit

from ._numba import _JIT

__all__ = ["Dropouts", "DROPOUT_S"]

#: Shortest run of digital zeros on every channel that is a dropout, s.
DROPOUT_S = 0.005
#: Most dropouts a block can report at once (a block holding more is done in parts).
_MAX_PER_CALL = 64


class Dropouts:
    """Finds the dropouts of a stream: runs of samples zero on every channel.

    Parameters
    ----------
    n_channels : int
    sample_rate_hz : float

    Attributes
    ----------
    spans : list of [int, int]
        Stream sample ranges ``[start, end)`` of the dropouts ended so far (lost samples
        count in the stream's indices).
    """

    def __init__(self, n_channels, sample_rate_hz):
        self.n_channels = int(n_channels)
        self.min_run = max(1, int(round(DROPOUT_S * float(sample_rate_hz))))
        self.spans = []
        self._pos = 0  # stream index of the next sample
        self._started = False  # a sample not zero seen
        self._run_start = -1  # stream index where the zero run under way began; -1: none
        self._out = np.empty((_MAX_PER_CALL, 2), np.int64)

    def add(self, block):
        """Look at ``block`` (float32, ``(frames, channels)``) of raw samples."""
        x = np.ascontiguousarray(block, dtype=np.float32)
        done = 0
        while done < len(x):
            part = x[done:]
            n, used, self._run_start, started = _zero_runs(
                part, self._pos + done, self.min_run, self._run_start, self._started,
                self._out)
            self._started = bool(started)
            self.spans += self._out[:n].tolist()
            done += used

        self._pos += len(x)

    def skip(self, n):
        """``n`` samples lost: a run under way ends where they begin."""
        self._close(self._pos)
        self._pos += int(n)

    def _close(self, end):
        if self._run_start >= 0 and end - self._run_start >= self.min_run:
            self.spans.append([self._run_start, end])
        self._run_start = -1

    def all_spans(self):
        """The dropouts ``[start, end)`` (stream samples), that under way to the stream's
        end included."""
        spans = [list(s) for s in self.spans]
        if self._run_start >= 0 and self._pos - self._run_start >= self.min_run:
            spans.append([self._run_start, self._pos])
        return spans


# --------------------------------------------------------------------------- kernels
@njit(**_JIT)
def _zero(x, i):
    """Whether every channel of frame ``i`` of ``x`` is zero."""
    for c in range(x.shape[1]):
        if x[i, c] != 0.0:
            return False
    return True


@njit(**_JIT)
def _zero_runs(x, pos, min_run, run_start, started, out):
    """The dropouts ended in the block ``x`` (frames from stream index ``pos``).

    Parameters
    ----------
    x : ndarray, shape (n, channels), float32
    pos : int
        Stream index of ``x[0]``.
    min_run : int
        Shortest dropout, frames.
    run_start : int
        Stream index where the run of zero frames under way at ``x[0]`` began; -1: none.
    started : bool
        Whether a frame not zero came before ``x[0]``.
    out : ndarray, shape (m, 2), int64
        Receives the dropouts ``[start, end)`` ended in the block, in order.

    Returns
    -------
    found : int
        Dropouts written to ``out``.
    used : int
        Frames of ``x`` looked at: all of them, unless ``out`` filled first (the caller
        goes on from there).
    run_start : int
        The run under way at the end of what was looked at (-1: none).
    started : bool
    """
    n = x.shape[0]
    found = 0
    # the zero frames the block starts with continue the run under way, or begin one
    i = 0
    while i < n and _zero(x, i):
        i += 1
    if i == n:
        if started and run_start < 0 and n > 0:
            run_start = pos
        return found, n, run_start, started
    if started and i > 0 and run_start < 0:
        run_start = pos
    if run_start >= 0 and pos + i - run_start >= min_run:
        out[found, 0] = run_start
        out[found, 1] = pos + i
        found += 1
    run_start = -1
    started = True
    # frame i is not zero; a run of min_run zero frames or more after it holds a frame
    # whose stream index is a multiple of min_run
    last = i  # the latest frame known not to be zero
    g = (pos + last) // min_run * min_run + min_run - pos  # first grid frame after it
    while g < n:
        if not _zero(x, g):
            last = g
            g += min_run
            continue
        a = g
        while a - 1 > last and _zero(x, a - 1):
            a -= 1
        b = g + 1
        while b < n and _zero(x, b):
            b += 1
        if b == n:
            return found, n, pos + a, started
        if b - a >= min_run:
            if found == out.shape[0]:
                return found, a, -1, started
            out[found, 0] = pos + a
            out[found, 1] = pos + b
            found += 1
        last = b
        g = (pos + last) // min_run * min_run + min_run - pos
    # the zero frames the block ends with, shorter than a grid step: a run under way
    e = n
    while e - 1 > last and _zero(x, e - 1):
        e -= 1
    if e < n:
        run_start = pos + e
    return found, n, run_start, started
