"""Dropouts: stretches of a recording whose samples hold no signal.

A sample stage that only reads.  Two kinds of stretch are found:

* **zeros**: a recorder or sound card that loses samples often writes zeros in their place
  (a buffer underrun, a USB glitch), and a device that mutes its output writes them too.
  A recording's own noise is never exactly zero on every channel for long: 16-bit noise of
  one quantisation step rms leaves a sample zero on both channels about one time in six,
  so 40 such samples in a row (5 ms at 8 kHz) come about once in 10^31.  A run of samples
  exactly zero on every channel for :data:`DROPOUT_S` or more, after the stream's first
  sample that is not zero, is a dropout.  Its frames are near digital silence and read no
  flow, so a reflux across it was read as two shorter retrograde episodes, each under the
  threshold, and "no reflux" (0.5 s of zeros inside the bundled jugular's 2 s reflux).  The
  zeros a recording starts with are no dropout (a recorder started before its input).
* **saturated**: a channel held at full scale (magnitude :data:`~.levels.CLIP_LEVEL` to
  1.0) for :data:`DROPOUT_S` or more: the input gain far too high for the echoes, which
  pin the channel to its rail while the flow riding on them is cut off.  A recording that
  clips its peaks clips them for a fraction of a millisecond (the precordial recordings
  of ``../shared/real``: up to 0.32 ms) and keeps its signal between them.

The flow in either is not known.  Runs are found without looking at every sample: a run of
``min_run`` frames or more holds a frame whose stream index is a multiple of ``min_run``,
so only those frames are tested, and the run is followed both ways from the one found; a
run under way at the end of a block is carried over to the next.  The spans found depend
only on the samples, not on the blocks.  Its numba kernels are at the end of this module.
"""

import numpy as np
from numba import njit

from ._numba import _JIT
from .levels import CLIP_LEVEL

__all__ = ["Dropouts", "DROPOUT_S", "ZEROS", "SATURATED"]

#: Shortest stretch of either kind, s.
DROPOUT_S = 0.005
#: The kinds of stretch: samples zero on every channel, and a channel at full scale.
ZEROS, SATURATED = 0, 1
#: Most stretches a block can report at once (a block holding more is done in parts).
_MAX_PER_CALL = 64


class _Runs:
    """The runs of one kind (``ZEROS`` or ``SATURATED``) of at least ``min_run`` frames."""

    def __init__(self, kind, min_run):
        self.kind = kind
        self.min_run = min_run
        self.spans = []  # [start, end) stream samples of the runs ended
        # zeros count only after a sample that is not zero; saturation from the start
        self.started = kind != ZEROS
        self.run_start = -1  # stream index where the run under way began; -1: none
        self.out = np.empty((_MAX_PER_CALL, 2), np.int64)

    def add(self, x, pos):
        done = 0
        while done < len(x):
            n, used, self.run_start, started = _runs(
                x[done:], pos + done, self.kind, self.min_run, self.run_start, self.started,
                self.out)
            self.started = bool(started)
            self.spans += self.out[:n].tolist()
            done += used

    def close(self, end):
        if self.run_start >= 0 and end - self.run_start >= self.min_run:
            self.spans.append([self.run_start, end])
        self.run_start = -1

    def all_spans(self, end):
        spans = [list(s) for s in self.spans]
        if self.run_start >= 0 and end - self.run_start >= self.min_run:
            spans.append([self.run_start, end])
        return spans


class Dropouts:
    """Finds the stretches of a stream whose samples hold no signal: runs of samples zero
    on every channel (after the first that is not), and of a channel at full scale.

    Parameters
    ----------
    n_channels : int
    sample_rate_hz : float
    """

    def __init__(self, n_channels, sample_rate_hz):
        self.n_channels = int(n_channels)
        self.min_run = max(1, int(round(DROPOUT_S * float(sample_rate_hz))))
        self._pos = 0  # stream index of the next sample
        self._zeros = _Runs(ZEROS, self.min_run)
        self._saturated = _Runs(SATURATED, self.min_run)

    def add(self, block):
        """Look at ``block`` (float32, ``(frames, channels)``) of raw samples."""
        x = np.ascontiguousarray(block, dtype=np.float32)
        self._zeros.add(x, self._pos)
        self._saturated.add(x, self._pos)
        self._pos += len(x)

    def skip(self, n):
        """``n`` samples lost: a run under way ends where they begin."""
        self._zeros.close(self._pos)
        self._saturated.close(self._pos)
        self._pos += int(n)

    def zero_spans(self):
        """The runs of zeros ``[start, end)`` (stream samples; lost samples count in the
        indices), that under way at the stream's end included."""
        return self._zeros.all_spans(self._pos)

    def saturated_spans(self):
        """The runs of a channel at full scale, as :meth:`zero_spans`."""
        return self._saturated.all_spans(self._pos)


# --------------------------------------------------------------------------- kernels
@njit(**_JIT)
def _hit(x, i, kind):
    """Whether frame ``i`` of ``x`` is of the stretch ``kind``: every channel zero
    (``ZEROS``), or one at full scale (``SATURATED``: magnitude ``CLIP_LEVEL`` to 1)."""
    if kind == ZEROS:
        for c in range(x.shape[1]):
            if x[i, c] != 0.0:
                return False
        return True
    for c in range(x.shape[1]):
        m = abs(x[i, c])
        if m >= CLIP_LEVEL and m <= 1.0:
            return True
    return False


@njit(**_JIT)
def _runs(x, pos, kind, min_run, run_start, started, out):
    """The runs of frames of ``kind`` (:func:`_hit`) ended in the block ``x`` (frames from
    stream index ``pos``).

    Parameters
    ----------
    x : ndarray, shape (n, channels), float32
    pos : int
        Stream index of ``x[0]``.
    kind : int
        ``ZEROS`` or ``SATURATED``.
    min_run : int
        Shortest run kept, frames.
    run_start : int
        Stream index where the run under way at ``x[0]`` began; -1: none.
    started : bool
        Whether a run may begin: for zeros, a frame not zero came before ``x[0]``.
    out : ndarray, shape (m, 2), int64
        Receives the runs ``[start, end)`` ended in the block, in order.

    Returns
    -------
    found : int
        Runs written to ``out``.
    used : int
        Frames of ``x`` looked at: all of them, unless ``out`` filled first (the caller
        goes on from there).
    run_start : int
        The run under way at the end of what was looked at (-1: none).
    started : bool
    """
    n = x.shape[0]
    found = 0
    # the frames of the kind the block starts with continue the run under way, or begin one
    i = 0
    while i < n and _hit(x, i, kind):
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
    # frame i is not of the kind; a run of min_run frames or more after it holds a frame
    # whose stream index is a multiple of min_run
    last = i  # the latest frame known not to be of the kind
    g = (pos + last) // min_run * min_run + min_run - pos  # first grid frame after it
    while g < n:
        if not _hit(x, g, kind):
            last = g
            g += min_run
            continue
        a = g
        while a - 1 > last and _hit(x, a - 1, kind):
            a -= 1
        b = g + 1
        while b < n and _hit(x, b, kind):
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
    # the frames of the kind the block ends with, fewer than a grid step: a run under way
    e = n
    while e - 1 > last and _hit(x, e - 1, kind):
        e -= 1
    if e < n:
        run_start = pos + e
    return found, n, run_start, started
