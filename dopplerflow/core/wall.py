"""Wall filter stage: the high-pass that removes the echoes of vessel walls and tissue.

A sample stage: :class:`WallFilter` takes ``(frames, channels)`` blocks and returns
the filtered analysis signal (complex for directional layouts), keeping the filter
memory between blocks so that any block size gives the same output.  Its numba
kernels are at the end of this module.
"""

import functools

import numpy as np
from numba import njit

from . import _design
from ._numba import _JIT

#: Stop-band attenuation of the wall filter, dB.  Wall echoes are 40-60 dB above
#: blood; 50 dB at 0.38 x the cut-off puts the residue near the blood level
#: only where the echoes are strongest, inside the excluded wall band.
WALL_STOP_DB = 50.0


#: Stop-band edge of the wall filter as a fraction of its -3 dB cut-off.
WALL_STOP_RATIO = 0.385


def wall_filter_sos(wall_hz, sample_rate_hz):
    """Design the wall (clutter) filter: a 4th-order inverse-Chebyshev high-pass.

    Parameters
    ----------
    wall_hz : float
        -3 dB cut-off, Hz.
    sample_rate_hz : float

    Returns
    -------
    sos : ndarray, shape (2, 6), float64
        Two second-order sections; flat pass band, at least ``WALL_STOP_DB``
        attenuation below ``WALL_STOP_RATIO * wall_hz``.
    """
    return np.ascontiguousarray(_design.cheby2_highpass_sos(
        4, WALL_STOP_DB, WALL_STOP_RATIO * wall_hz, sample_rate_hz), dtype=np.float64)


def settling_samples(sos, sample_rate_hz, level_db=-60.0, max_s=0.5):
    """Samples until the wall filter's step response stays within ``level_db`` of its end value.

    Wall echoes 40-60 dB above blood enter the filter as a step when the
    stream starts (beyond the steady state it starts in) or restarts after
    lost samples; frames within this time of such a start still carry the
    step's transient and are left out of the analysis.

    Parameters
    ----------
    sos : ndarray, shape (2, 6)
    sample_rate_hz : float
    level_db : float
        Level relative to the step.
    max_s : float
        Longest response examined, s.

    Returns
    -------
    int
    """
    sos = np.ascontiguousarray(sos, np.float64)
    return _cached_settling(sos.tobytes(), float(sample_rate_hz), float(level_db), float(max_s))


@functools.lru_cache(maxsize=64)
def _cached_settling(sos_bytes, sample_rate_hz, level_db, max_s):
    """:func:`settling_samples` of a (2, 6) float64 ``sos`` given as bytes, cached."""
    h = np.empty(int(max_s * sample_rate_hz))
    _step_response(np.frombuffer(sos_bytes, np.float64).reshape(2, 6).copy(), np.zeros(4), h)
    # the inverse-Chebyshev high-pass passes DC at the stop-band level: the transient is
    # the difference from that end value
    above = np.flatnonzero(np.abs(h - h[-1]) > 10 ** (level_db / 20))
    return int(above[-1] + 1) if above.size else 0


def _chunk_matrices(sos, m):
    """Natural response ``h`` (m, 4) and chunk transition ``phi`` (4, 4) of the wall filter.

    Column ``k`` is the filter run for ``m`` samples with no input from a unit
    value in state variable ``k``: ``h[:, k]`` its outputs, ``phi[:, k]`` its
    final state.  Both are read-only (shared by the filters with the same
    ``sos`` and ``m``).
    """
    return _cached_chunk_matrices(np.ascontiguousarray(sos, np.float64).tobytes(), int(m))


@functools.lru_cache(maxsize=64)
def _cached_chunk_matrices(sos_bytes, m):
    """:func:`_chunk_matrices` of a (2, 6) float64 ``sos`` given as bytes, cached."""
    sos = np.frombuffer(sos_bytes, np.float64).reshape(2, 6).copy()  # writable: one kernel type
    h = np.zeros((m, 4))
    phi = np.zeros((4, 4))
    for k in range(4):
        s = np.zeros(4)
        s[k] = 1.0
        for n in range(m):
            h[n, k] = _tdf2_step(sos, 0.0, s)
        phi[:, k] = s
    h.setflags(write=False)
    phi.setflags(write=False)
    return h, phi


class WallFilter:
    """Channel selection, optional heterodyne, and the wall high-pass, streaming.

    Parameters
    ----------
    cmap : ChannelMap
    sos : ndarray, shape (2, 6)
        From :func:`wall_filter_sos`.
    sample_rate_hz : float
    """

    #: Samples per chunk of the chunk-parallel filter, and chunks filtered at once.
    CHUNK = 64
    LANES = 32

    def __init__(self, cmap, sos, sample_rate_hz):
        self.cmap = cmap
        self.sos = np.ascontiguousarray(sos, np.float64)
        self._mix_step = cmap.mix_hz / float(sample_rate_hz)
        self._zi = _design.sos_step_state(sos)  # (2, 2): steady state for a unit step
        self._h, self._phi = _chunk_matrices(self.sos, self.CHUNK)
        self._s = np.zeros((2, 4), np.float64)  # true state at the current chunk's start
        self._z = np.zeros((2, 4), np.float64)  # zero-state recurrence inside the chunk
        self._lanes = np.empty((self.CHUNK, 2 * self.LANES), np.float64)
        self._sbuf = np.empty((4, 2 * self.LANES), np.float64)
        self._index = 0
        self._origin = 0  # where the chunk grid starts: stream start or last restart
        self._restart = True

    def __call__(self, block, out=None):
        """Filter ``block`` (frames, channels) float32; return (frames, 2) float32.

        ``out``, if given, is the (frames, 2) float32 array written and returned.
        """
        if out is None:
            out = np.empty((block.shape[0], 2), np.float32)
        if block.shape[0] == 0:
            return out
        if self._restart and not self._mix_step:
            # start in steady state for the first sample's level: no DC transient
            x0 = float(block[0, self.cmap.i0])
            x1 = self.cmap.sign1 * float(block[0, self.cmap.i1]) if self.cmap.i1 >= 0 else 0.0
            self._s[0] = (self._zi * x0).ravel()
            self._s[1] = (self._zi * x1).ravel()
        self._restart = False
        _wall_filter(block, self.cmap.i0, self.cmap.i1, self.cmap.sign1, self._mix_step,
                       self._index, self._index - self._origin, self.sos, self._h, self._phi,
                       self._s, self._z, self._lanes, self._sbuf, out)
        self._index += block.shape[0]
        return out

    def skip(self, n_samples):
        """Lost samples: advance the stream position and restart the filter after them.

        Restarting in steady state for the next sample avoids the transient a
        jump from silence back to strong wall echoes would ring through the
        spectrum.  Returns ``n_samples`` zero samples for the framer.
        """
        self._index += n_samples
        self._s[:] = 0.0
        self._z[:] = 0.0
        self._origin = self._index
        self._restart = True
        return np.zeros((n_samples, 2), np.float32)



# --------------------------------------------------------------------------- kernels
@njit(**_JIT)
def _prepared(block, i, i0, i1, sign1, mix_step, mix_index):
    """Sample ``i`` of ``block`` after channel pick, quadrature sign and optional heterodyne.

    Parameters
    ----------
    block : ndarray, shape (n, channels), float32
        Raw audio.
    i : int
        Row of ``block``.
    i0, i1 : int
        Channels that become the real (``c0``) and imaginary (``c1``) input;
        ``i1 = -1`` means zero (one-channel layouts).
    sign1 : float
        +1 or -1, multiplies ``c1`` (quadrature inversion).
    mix_step : float
        Heterodyne frequency in cycles per sample; 0 for none.  When non-zero,
        ``c0 + j c1 = x * exp(-2j pi mix_step n)`` with ``x`` channel ``i0``
        (``c1`` times ``sign1``).
    mix_index : int
        Index of ``block[0]`` in the whole stream (keeps the mixer phase
        continuous whatever the block size).

    Returns
    -------
    c0, c1 : float
    """
    a = np.float64(block[i, i0])
    if mix_step != 0.0:
        two_pi = 2.0 * np.pi
        ph = (mix_step * np.float64(mix_index + i)) % 1.0
        b = -sign1 * a * np.sin(two_pi * ph)
        a = a * np.cos(two_pi * ph)
    elif i1 >= 0:
        b = sign1 * np.float64(block[i, i1])
    else:
        b = 0.0
    return a, b


@njit(**_JIT)
def _tdf2_step(sos, a, s):
    """One sample through both sections from state ``s`` (4,), updated; returns the output."""
    ya = sos[0, 0] * a + s[0]
    s[0] = sos[0, 1] * a - sos[0, 4] * ya + s[1]
    s[1] = sos[0, 2] * a - sos[0, 5] * ya
    za = sos[1, 0] * ya + s[2]
    s[2] = sos[1, 1] * ya - sos[1, 4] * za + s[3]
    s[3] = sos[1, 2] * ya - sos[1, 5] * za
    return za


@njit(**_JIT)
def _step_response(sos, s, out):
    """Response of both sections to a unit step from rest (their state ``s``, zeros),
    into ``out`` (n,)."""
    for i in range(out.shape[0]):
        out[i] = _tdf2_step(sos, 1.0, s)


@njit(**_JIT)
def _natural(zs, n, h, s, c):
    """Zero-state output plus the natural response of channel ``c``'s chunk-start state."""
    return zs + ((h[n, 0] * s[c, 0] + h[n, 1] * s[c, 1]) + (h[n, 2] * s[c, 2] + h[n, 3] * s[c, 3]))


@njit(**_JIT)
def _next_chunk(phi, s, z, c):
    """End of a chunk for channel ``c``: ``s = Phi s + z``, ``z = 0``."""
    t0 = ((phi[0, 0] * s[c, 0] + phi[0, 1] * s[c, 1])
          + (phi[0, 2] * s[c, 2] + phi[0, 3] * s[c, 3])) + z[c, 0]
    t1 = ((phi[1, 0] * s[c, 0] + phi[1, 1] * s[c, 1])
          + (phi[1, 2] * s[c, 2] + phi[1, 3] * s[c, 3])) + z[c, 1]
    t2 = ((phi[2, 0] * s[c, 0] + phi[2, 1] * s[c, 1])
          + (phi[2, 2] * s[c, 2] + phi[2, 3] * s[c, 3])) + z[c, 2]
    t3 = ((phi[3, 0] * s[c, 0] + phi[3, 1] * s[c, 1])
          + (phi[3, 2] * s[c, 2] + phi[3, 3] * s[c, 3])) + z[c, 3]
    s[c, 0] = t0
    s[c, 1] = t1
    s[c, 2] = t2
    s[c, 3] = t3
    for k in range(4):
        z[c, k] = 0.0


@njit(**_JIT)
def _zero_state_lanes(lanes, sos, sbuf, w):
    """Zero-state run of the lanes ``lanes[:, :w]``, in place; end states in ``sbuf``.

    The inner loop runs across lanes (independent chunks), so it vectorises;
    per lane the operations are those of ``_tdf2_step``.
    """
    m = lanes.shape[0]
    b00, b01, b02, a01, a02 = sos[0, 0], sos[0, 1], sos[0, 2], sos[0, 4], sos[0, 5]
    b10, b11, b12, a11, a12 = sos[1, 0], sos[1, 1], sos[1, 2], sos[1, 4], sos[1, 5]
    s0 = sbuf[0]
    s1 = sbuf[1]
    s2 = sbuf[2]
    s3 = sbuf[3]
    for j in range(w):
        s0[j] = 0.0
        s1[j] = 0.0
        s2[j] = 0.0
        s3[j] = 0.0
    for t in range(m):
        yy = lanes[t]
        for j in range(w):
            a = yy[j]
            ya = b00 * a + s0[j]
            s0[j] = b01 * a - a01 * ya + s1[j]
            s1[j] = b02 * a - a02 * ya
            za = b10 * ya + s2[j]
            s2[j] = b11 * ya - a11 * za + s3[j]
            s3[j] = b12 * ya - a12 * za
            yy[j] = za


@njit(**_JIT)
def _add_natural(lanes, h, sbuf, w):
    """``lanes[t, j] += H[t] . sbuf[:, j]`` across lanes (same arithmetic as ``_natural``)."""
    m = lanes.shape[0]
    s0 = sbuf[0]
    s1 = sbuf[1]
    s2 = sbuf[2]
    s3 = sbuf[3]
    for t in range(m):
        h0, h1, h2, h3 = h[t, 0], h[t, 1], h[t, 2], h[t, 3]
        yy = lanes[t]
        for j in range(w):
            yy[j] = yy[j] + ((h0 * s0[j] + h1 * s1[j]) + (h2 * s2[j] + h3 * s3[j]))


@njit(**_JIT)
def _wall_filter(block, i0, i1, sign1, mix_step, mix_index, pos, sos, h, phi, s, z, lanes, sbuf,
                 out):
    """Prepare (``_prepared``) and high-pass ``block`` into ``out`` (n, 2) float32, chunk-parallel.

    Parameters
    ----------
    block : ndarray, shape (n, channels), float32
        Raw audio.
    i0, i1, sign1, mix_step, mix_index
        As for ``_prepared``.
    pos : int
        Index of ``block[0]`` from the start of the chunk grid (stream start
        or the last restart).
    sos : ndarray, shape (2, 6)
    h : ndarray, shape (m, 4)
        Output of the filter at each of the m samples of a chunk for a unit
        initial state in each of its four state variables and no input.
    phi : ndarray, shape (4, 4)
        State after m samples from each unit initial state (no input).
    s : ndarray, shape (2, 4)
        Per channel, the true state at the start of the current chunk (updated).
    z : ndarray, shape (2, 4)
        Per channel, the zero-state recurrence's state inside the current chunk
        (updated).
    lanes : ndarray, shape (m, 2 * n_lanes), float64
        Scratch: whole chunks side by side, one per column and channel.
    sbuf : ndarray, shape (4, 2 * n_lanes), float64
        Scratch.
    out : ndarray, shape (n, 2), float32
    """
    n = block.shape[0]
    m = h.shape[0]
    n_lanes = lanes.shape[1] // 2
    i = np.int64(0)  # typed, so the kernels it is passed to compile once
    while i < n:
        k = (pos + i) % m
        if k == 0 and n - i >= m:
            g = min(n_lanes, (n - i) // m)
            w = 2 * g
            if mix_step == 0.0 and i0 == 0 and i1 == 1:
                # the usual layout: both channels as they are (same values as _prepared;
                # the constant columns let the pair be moved as one)
                for q in range(g):
                    src = block[i + q * m:i + q * m + m]
                    for t in range(m):
                        lanes[t, 2 * q] = np.float64(src[t, 0]) * 1.0
                        lanes[t, 2 * q + 1] = np.float64(src[t, 1]) * sign1
            else:
                for q in range(g):
                    for t in range(m):
                        a, b = _prepared(block, i + q * m + t, i0, i1, sign1, mix_step,
                                         mix_index)
                        lanes[t, 2 * q] = a
                        lanes[t, 2 * q + 1] = b
            _zero_state_lanes(lanes, sos, sbuf, w)
            # each lane's true start state, chunk after chunk; sbuf then holds them
            for q in range(g):
                for c in range(2):
                    j = 2 * q + c
                    for kk in range(4):
                        zk = sbuf[kk, j]
                        sbuf[kk, j] = s[c, kk]
                        z[c, kk] = zk
                    _next_chunk(phi, s, z, c)
            _add_natural(lanes, h, sbuf, w)
            for q in range(g):
                dst = out[i + q * m:i + q * m + m]
                for t in range(m):
                    dst[t, 0] = lanes[t, 2 * q]
                    dst[t, 1] = lanes[t, 2 * q + 1]
            i += g * m
            continue
        a, b = _prepared(block, i, i0, i1, sign1, mix_step, mix_index)
        out[i, 0] = _natural(_tdf2_step(sos, a, z[0]), k, h, s, np.int64(0))
        out[i, 1] = _natural(_tdf2_step(sos, b, z[1]), k, h, s, np.int64(1))
        if k == m - 1:
            for c in range(2):
                _next_chunk(phi, s, z, c)
        i += 1
