"""numba kernels of the spectral pipeline.

Every kernel here is pure: it takes arrays and scalars, writes into the output
arrays it is given, reads no module globals and allocates nothing inside its
per-sample or per-frame loop.  The public wrappers in ``spectral.py``,
``envelope.py`` and ``reflux.py`` validate their inputs and call these.

Shapes follow the package conventions: audio blocks are ``(frames, channels)``,
spectra are ``(n_frames, n_bins)`` with bins in ascending frequency.
"""

import numpy as np
from numba import njit

_JIT = dict(cache=True, nogil=True)


# --------------------------------------------------------------------------- input
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
def _step_response(sos, out):
    """Response of both sections to a unit step from rest, into ``out`` (n,)."""
    s = np.zeros(4)
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
    i = 0
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
        out[i, 0] = _natural(_tdf2_step(sos, a, z[0]), k, h, s, 0)
        out[i, 1] = _natural(_tdf2_step(sos, b, z[1]), k, h, s, 1)
        if k == m - 1:
            for c in range(2):
                _next_chunk(phi, s, z, c)
        i += 1


@njit(**_JIT)
def _stats_add(v, k, clip_level, s, s2, clipped):
    """One value into lane ``k`` of the level statistics (see ``_block_stats``)."""
    s[k] += v
    s2[k] += np.float64(v) * v
    clipped[k] += abs(v) >= clip_level


@njit(**_JIT)
def _block_stats(flat, pos, clip_level, lanes):
    """Accumulate level statistics of a raw block into per-lane sums.

    Parameters
    ----------
    flat : ndarray, shape (n * channels,), float32
        The block's samples, frame after frame (a ``(frames, channels)``
        block raveled).
    pos : int
        Index of ``flat[0]`` among all the values of the stream so far.
    clip_level : float
        Values at or above this magnitude count as clipped.
    lanes : ndarray, shape (3, m), float64
        Per lane: sum, sum of squares, and clipped count.  Sums of finite
        float32 values cannot overflow float64, so a sum that is not finite
        marks a NaN or infinite value in the block.  Value ``e`` of the
        stream goes to lane ``e % m``; ``m`` is a multiple of the channel
        count, so lane ``l`` holds channel ``l % channels``.  Each lane sums
        in stream order, so the sums do not depend on how the stream is cut
        into blocks, and the lanes are independent, so the loop vectorises.
    """
    m = lanes.shape[1]
    n = flat.shape[0]
    s = lanes[0]
    s2 = lanes[1]
    clipped = lanes[2]
    head = min(n, (m - pos % m) % m)
    for i in range(head):
        _stats_add(flat[i], (pos + i) % m, clip_level, s, s2, clipped)
    # from here value j of ``rest`` goes to lane j % m (a slice, so that the index is
    # known not to be negative and the loop vectorises)
    rest = flat[head:]
    i = 0
    while i + m <= rest.shape[0]:
        for k in range(m):
            _stats_add(rest[i + k], k, clip_level, s, s2, clipped)
        i += m
    for j in range(i, rest.shape[0]):
        _stats_add(rest[j], j % m, clip_level, s, s2, clipped)


@njit(**_JIT)
def _set_phasors(phasor, theta, step):
    """``phasor`` (4, K) of :func:`_cancel_hum` for the fundamental's phase and step."""
    for k in range(phasor.shape[1]):
        phasor[0, k] = np.cos((k + 1) * theta)
        phasor[1, k] = np.sin((k + 1) * theta)
        phasor[2, k] = np.cos((k + 1) * step)
        phasor[3, k] = np.sin((k + 1) * step)


@njit(cache=True, nogil=True, fastmath=True)
def _cancel_hum(x, out, osc, phasor, amp, prev, bias, jitter, shown, alpha, beta, gain, leak,
                sig, show, kick, steer, check, lo, hi, nominal):
    """Subtract mains hum, harmonics of a drifting fundamental, from each channel.

    A bank of adaptive line cancellers (Widrow et al. 1975), one per harmonic
    ``k`` (1 to ``K``) and channel: the hum is modelled as
    ``Re(A_k exp(j k theta))`` with ``theta`` the fundamental's phase, and
    each complex amplitude follows the residual ``e`` (less its running mean)
    as ``A_k += 2 alpha e exp(-j k theta)``: a notch ``alpha fs / pi`` Hz wide
    around each harmonic, time constant ``1 / (alpha fs)`` samples.

    Every ``check`` samples the fundamental's step is corrected (a frequency
    locked loop): an error of ``d`` radians a sample turns ``A_k`` by
    ``k d check``, so the least-squares slope of the turns against ``k``,
    weighted by each harmonic's power in excess of ``sig`` times how far its
    amplitude usually moves in a check (its noise), gives ``d``, of which
    ``gain`` is applied.  Only the first ``steer`` harmonics steer it: higher
    ones could turn by more than half a turn in a check, which reads as the
    wrong way.  A harmonic that moved more than ``kick`` times its
    usual amount was hit by a transient, which turns all harmonics in step
    like a frequency error; it is left out of that check.  The step is also
    pulled back toward ``nominal`` by ``leak`` of its offset, and kept in
    ``[lo, hi]``.  Every update counts samples, not blocks: the output does
    not depend on how the stream is cut.

    Parameters
    ----------
    x, out : ndarray, shape (n, C), float32
        Samples in, and the samples less the hum out (may be the same array).
    osc : ndarray, shape (3,), float64
        Phase of the fundamental (rad), its step (rad a sample), samples since
        the last check.  Updated in place.
    phasor : ndarray, shape (4, K), float64
        Each harmonic's ``cos``, ``sin`` of ``k theta``, and of ``k step``, by
        which they turn each sample (independent across harmonics, so the
        loops over them vectorise); set exactly at each check
        (:func:`_set_phasors`).  Updated in place.
    amp, prev : ndarray, shape (C, 2, K), float64
        Amplitudes (re; im) of each channel's harmonics, and their values at
        the last check.  Updated in place.
    bias : ndarray, shape (C,), float64
        Each channel's running mean (rate ``beta``), taken out of the residual
        the amplitudes follow but left in ``out``: a DC offset stepping in at
        the start of a stream would otherwise ring in every notch.  Updated in
        place.
    jitter : ndarray, shape (C, K), float64
        How far each amplitude usually moves in a check (squared).  Updated in
        place.
    shown : ndarray, shape (C, K), float64
        The share of each harmonic taken out of ``out``: 0 for one whose power
        is under ``show`` times its jitter (no line, only noise), rising to 1
        at twice that; the amplitudes follow the full residual all the same.
        Updated at each check.
    alpha, beta, gain, leak, sig, show, kick : float
        As above.
    steer : int
        Harmonics that steer the frequency.
    check : int
        Samples between frequency corrections.
    lo, hi, nominal : float
        Bounds and nominal value of the step, rad a sample.
    """
    n, n_ch = x.shape
    n_h = amp.shape[2]
    two_pi = 2.0 * np.pi
    theta = osc[0]
    step = osc[1]
    count = int(osc[2])
    ck = phasor[0]
    sk = phasor[1]
    rc = phasor[2]
    rs = phasor[3]
    for i in range(n):
        for ch in range(n_ch):
            hum = 0.0
            found = 0.0
            for k in range(n_h):
                line = amp[ch, 0, k] * ck[k] - amp[ch, 1, k] * sk[k]
                hum += line
                found += shown[ch, k] * line
            e = x[i, ch] - hum
            out[i, ch] = x[i, ch] - found
            e -= bias[ch]
            bias[ch] += beta * e
            g = 2.0 * alpha * e
            for k in range(n_h):
                amp[ch, 0, k] += g * ck[k]
                amp[ch, 1, k] -= g * sk[k]
        for k in range(n_h):
            c = ck[k]
            ck[k] = c * rc[k] - sk[k] * rs[k]
            sk[k] = sk[k] * rc[k] + c * rs[k]
        theta += step
        if theta >= two_pi:
            theta -= two_pi
        count += 1
        if count >= check:
            count = 0
            num = 0.0
            den = 0.0
            for ch in range(n_ch):
                for k in range(n_h):
                    ar = amp[ch, 0, k]
                    ai = amp[ch, 1, k]
                    pr = prev[ch, 0, k]
                    pi_ = prev[ch, 1, k]
                    prev[ch, 0, k] = ar
                    prev[ch, 1, k] = ai
                    dr = ar * pr + ai * pi_
                    di = ai * pr - ar * pi_
                    # how far the amplitude moves in a check, read from its magnitude
                    # (twice its square: noise moves the phase as much), so that a line
                    # turning while the frequency is followed counts as steady: noise
                    # moves it about sqrt(2 check / tau) of its own size, a line hardly
                    # at all; a transient (a knock, the wall's thump) kicks every
                    # harmonic with a phase that grows with k, like a frequency error:
                    # such a check is left out
                    moved = 2.0 * (np.sqrt(ar * ar + ai * ai) - np.sqrt(pr * pr + pi_ * pi_)) ** 2
                    usual = jitter[ch, k]
                    if usual == 0.0:  # the first check: learn how far it moves
                        jitter[ch, k] = moved
                        continue
                    jitter[ch, k] += 0.1 * (min(moved, kick * usual) - usual)
                    power = ar * ar + ai * ai
                    # only a line is taken out: subtracting the noise-driven amplitude of
                    # an empty harmonic would only add its scatter
                    shown[ch, k] = min(1.0, max(0.0, power / (show * usual) - 1.0))
                    w = power - sig * usual
                    if w <= 0.0 or moved > kick * usual or k >= steer:
                        continue
                    kk = k + 1.0
                    num += w * kk * np.arctan2(di, dr)
                    den += w * kk * kk
            step -= leak * (step - nominal)
            if den > 0.0:
                step += gain * num / (den * check)
            step = min(max(step, lo), hi)
            _set_phasors(phasor, theta, step)
    osc[0] = theta
    osc[1] = step
    osc[2] = count


@njit(cache=True, nogil=True, fastmath=True)
def _fir_decimate(x, taps, q, out):
    """Each row of ``x`` (C, n) float64 through the FIR ``taps``, only every ``q``-th
    output: ``out[c, m] = sum_j taps[j] x[c, m q + j]`` for the ``(n - len(taps)) // q + 1``
    outputs whose taps lie inside the row."""
    n_t = taps.shape[0]
    for c in range(x.shape[0]):
        row = x[c]
        o = out[c]
        for m in range(o.shape[0]):
            seg = row[m * q:m * q + n_t]
            acc = 0.0
            for j in range(n_t):
                acc += taps[j] * seg[j]
            o[m] = acc


# --------------------------------------------------------------------------- spectra
@njit(**_JIT)
def _frames(buf, start, hop, window2, n_frames, out):
    """Cut windowed complex frames ``window * (c0 + j c1)`` from ``buf``.

    Parameters
    ----------
    buf : ndarray, shape (2 * n,), float32
        Samples ``c0, c1`` interleaved (an (n, 2) array raveled).
    start, hop : int
        Frame ``i`` starts at sample ``start + i * hop``.
    window2 : ndarray, shape (2 * n_window,), float32
        The window with each value twice (``np.repeat(window, 2)``).
    n_frames : int
    out : ndarray, shape (n_frames, 2 * n_fft), float32
        The (n_frames, n_fft) complex64 frames viewed as float32; samples
        past the window are zero.
    """
    n_w2 = window2.shape[0]
    n_f2 = out.shape[1]
    for i in range(n_frames):
        seg = buf[2 * (start + i * hop):]
        row = out[i]
        for k in range(n_w2):
            row[k] = window2[k] * seg[k]
        for k in range(n_w2, n_f2):
            row[k] = 0.0


@njit(**_JIT)
def _power(spec, separated, order, out):
    """Power spectrum with bins in ascending frequency.

    Parameters
    ----------
    spec : ndarray, shape (n_frames, n_fft), complex64
        FFT of the windowed frames of ``c0 + j c1``.
    separated : bool
        If True, ``c0`` and ``c1`` are two real channels holding the toward and
        away audio; they are unpacked from the one complex FFT and the toward
        spectrum is placed at positive, the away spectrum at negative frequency
        (``z = analytic(toward) + conj(analytic(away))``).
    order : ndarray, shape (n_fft,), int64
        ``order[j]`` is the FFT bin shown at ascending position ``j``.
    out : ndarray, shape (n_frames, n_fft), float32
    """
    n_frames, n_fft = spec.shape
    for i in range(n_frames):
        for j in range(n_fft):
            k = order[j]
            y = spec[i, k]
            if separated and k > 0:
                # positive bins: 2 F_toward = y + conj(y[-k]); negative: 2j F_away = y - conj(y[-k])
                # (the DC bin keeps |F_toward|^2 + |F_away|^2)
                ym = np.conj(spec[i, n_fft - k])
                if 2 * k < n_fft:
                    y = y + ym
                else:
                    y = y - ym
            out[i, j] = y.real * y.real + y.imag * y.imag


@njit(**_JIT)
def _power_flat(spec, shift, out):
    """``_power`` for one complex input (``separated`` False), on a float32 view.

    ``spec`` is the (n_frames, n_fft) complex64 FFT viewed as
    (n_frames, 2 * n_fft) float32; ascending position ``j`` holds FFT bin
    ``(j + shift) % n_fft`` (``shift = order[0]``).  Same arithmetic as
    ``_power``, in two contiguous runs per frame.
    """
    n_frames, n_fft = out.shape
    head = n_fft - shift
    for i in range(n_frames):
        # two runs, each sliced so that its indices start at 0 (the loops vectorise)
        src = spec[i, 2 * shift:]
        dst = out[i, :head]
        for j in range(head):
            re = src[2 * j]
            im = src[2 * j + 1]
            dst[j] = re * re + im * im
        src = spec[i, :2 * shift]
        dst = out[i, head:]
        for j in range(shift):
            re = src[2 * j]
            im = src[2 * j + 1]
            dst[j] = re * re + im * im


@njit(**_JIT)
def _average3(prev, frames, a, out):
    """Centred three-frame mean of ``prev`` followed by ``frames``.

    With ``f`` the rows of ``prev`` (m0, n_bins) then those of ``frames``
    (m1, n_bins), both float32: ``out[r] = (f[a+r] + f[a+r+1] + f[a+r+2]) * (1/3)``.
    The float32 operations and their order are those of the numpy expression
    they replace.
    """
    third = np.float32(1.0 / 3.0)
    n_out, n_bins = out.shape
    k = prev.shape[0]
    for r in range(n_out):
        f0 = prev[a + r] if a + r < k else frames[a + r - k]
        f1 = prev[a + r + 1] if a + r + 1 < k else frames[a + r + 1 - k]
        f2 = prev[a + r + 2] if a + r + 2 < k else frames[a + r + 2 - k]
        o = out[r]
        for j in range(n_bins):
            o[j] = (f0[j] + f1[j] + f2[j]) * third


@njit(**_JIT)
def _select(a, n, q):
    """q-th smallest of a[:n] (0-based), reordering a.

    Quickselect with branch-free partitions (the branches of a classic
    partition mispredict on random spectra): first the values below the pivot,
    then those equal to it, so runs of equal values (digital silence) end the
    search at once.  The pivot is the median of three pseudo-random positions,
    so no order of the input makes it quadratic.  The q-th smallest value is
    unique, so the result is that of any other correct selection.
    """
    lo = 0
    hi = n - 1
    r = 12345
    while hi > lo:
        # median of three pseudo-random positions (an LCG): no input order makes
        # the search quadratic
        span = hi - lo + 1
        r = (r * 1103515245 + 12345) & 0x7FFFFFFF
        k0 = lo + r % span
        r = (r * 1103515245 + 12345) & 0x7FFFFFFF
        k1 = lo + r % span
        r = (r * 1103515245 + 12345) & 0x7FFFFFFF
        k2 = lo + r % span
        x, y, z = a[k0], a[k1], a[k2]
        if (x <= y) == (y <= z):
            k = k1
        elif (y <= x) == (x <= z):
            k = k0
        else:
            k = k2
        p = a[k]
        a[k] = a[hi]
        a[hi] = p
        s1 = lo
        for k in range(lo, hi):
            v = a[k]
            a[k] = a[s1]
            a[s1] = v
            s1 += v < p
        s2 = s1
        for k in range(s1, hi):
            v = a[k]
            a[k] = a[s2]
            a[s2] = v
            s2 += v == p
        a[hi] = a[s2]
        a[s2] = p
        if q < s1:
            hi = s1 - 1
        elif q <= s2:
            return p
        else:
            lo = s2 + 1
    return a[q]


@njit(**_JIT)
def _noise_update(power, noise_bins, q_index, q_to_mean, alpha, every, frame0, scratch, state,
                  out):
    """Track the noise floor (mean noise power per bin) over frames.

    Every ``every``-th frame (counted from the stream start), the
    ``q_index``-th smallest power among ``noise_bins`` is taken, turned into a
    mean by ``q_to_mean`` (exponential statistics of a noise bin) and merged
    into the tracked level with weight ``alpha``; ``state[0]`` holds the level
    (0 before the first estimate).  A zero estimate (digital silence, or the
    zeros standing in for lost samples) leaves the level as it was.
    ``out[i]`` receives the level in force at frame ``i``.
    """
    n_frames = power.shape[0]
    m = noise_bins.shape[0]
    for i in range(n_frames):
        if (frame0 + i) % every == 0:
            for j in range(m):
                scratch[j] = power[i, noise_bins[j]]
            est = _select(scratch, m, q_index) * q_to_mean
            if est <= 0.0:
                pass  # digital silence or lost samples: keep the level known so far
            elif state[0] <= 0.0:
                state[0] = est
            else:
                state[0] += alpha * (est - state[0])
        out[i] = state[0]


# --------------------------------------------------------------------------- envelopes
@njit(**_JIT)
def _sum3(smooth, i, st, sp, cnt, j):
    """Three-bin sum centred on bin ``j`` (outward index) of a direction of frame ``i``.

    The first bin has no inner neighbour outside the wall band: its two-bin
    sum is scaled to the same noise mean.  Past the last bin the sum is 0.
    """
    if j == 0:
        return 1.5 * (smooth[i, st] + smooth[i, st + sp])
    if j >= cnt - 1:
        return 0.0
    return smooth[i, st + sp * (j - 1)] + smooth[i, st + sp * j] + smooth[i, st + sp * (j + 1)]


@njit(**_JIT)
def _sumw(smooth, i, st, sp, cnt, j):
    """Triangular (1/4, 1/2, 1/4) three-bin sum scaled to the noise mean of ``_sum3``."""
    if j == 0:
        return 1.5 * (smooth[i, st] + smooth[i, st + sp])
    if j >= cnt - 1:
        return 0.0
    return (0.75 * smooth[i, st + sp * (j - 1)] + 1.5 * smooth[i, st + sp * j]
            + 0.75 * smooth[i, st + sp * (j + 1)])


@njit(**_JIT)
def _walk_out(smooth, i, st, sp, cnt, j, level):
    """Last outward index from ``j`` whose three-bin sum stays above ``level``
    (one-bin gaps bridged)."""
    edge = j
    j += 1
    while j < cnt - 1:
        if _sum3(smooth, i, st, sp, cnt, j) > level:
            edge = j
            j += 1
        elif _sum3(smooth, i, st, sp, cnt, j + 1) > level:
            edge = j + 1
            j += 2
        else:
            break
    return edge


@njit(**_JIT)
def _outermost_above(row, st, sp, cnt, level):
    """Outward index of a direction's outermost bin above ``level`` (-1 if none).

    The bins are ``row[st + sp * j]`` (float32) for ``j = 0 .. cnt - 1``.
    One pass over the contiguous run of bins with an integer maximum (or
    minimum) of the indices that pass, which vectorises, instead of a
    search with an early exit.  ``level`` is float64: a float32 bin exceeds
    it exactly when it exceeds the largest float32 at or below it, so the
    comparisons stay in float32.
    """
    lv = np.float32(level)
    if np.float64(lv) > level:
        lv = np.nextafter(lv, np.float32(-np.inf))
    if sp == 1:
        seg = row[st:st + cnt]  # outward index j at seg[j]
        jc = np.int32(-1)
        for j in range(cnt):
            jc = max(jc, np.int32(j) if seg[j] > lv else np.int32(-1))
        return jc
    seg = row[st - cnt + 1:st + 1]  # outward index j at seg[cnt - 1 - j]
    k0 = np.int32(cnt)
    for k in range(cnt):
        k0 = min(k0, np.int32(k) if seg[k] > lv else np.int32(cnt))
    return cnt - 1 - k0


@njit(**_JIT)
def _envelopes(smooth, noise, dir_start, dir_step, dir_count, dir_f0, bin_hz, t_high, t_low,
               min_run, method, out):
    """Per-frame flow detection and frequency envelopes in each direction.

    Parameters
    ----------
    smooth : ndarray, shape (n_frames, n_bins), float32
        Time-averaged power spectrum, bins ascending.
    noise : ndarray, shape (n_frames,), float64
        Mean noise power per bin of one frame.
    dir_start, dir_step, dir_count : ndarray, shape (2,), int64
        For direction 0 (toward) and 1 (away): first bin beyond the wall band,
        +1/-1 step outward (increasing ``|f|``), number of usable bins.
    dir_f0 : ndarray, shape (2,), float64
        ``|f|`` of each direction's first bin, Hz; bin ``j`` outward sits at
        ``dir_f0 + j * bin_hz``.
    t_high, t_low : float
        Detection and edge thresholds for a three-bin sum of ``smooth``, as
        multiples of the noise mean per bin.
    min_run : int
        Consecutive three-bin sums above ``t_high`` needed to detect flow.
    method : int
        0 = noise-adaptive threshold, 1 = modified geometric method.
    out : ndarray, shape (n_frames, 2, 4), float64
        Per direction: detected (0/1), maximum frequency (Hz), mean frequency
        (Hz), flow power above noise (power units).
    """
    n_frames = smooth.shape[0]
    for i in range(n_frames):
        nz = noise[i]
        for d in range(2):
            out[i, d, 0] = 0.0
            out[i, d, 1] = 0.0
            out[i, d, 2] = 0.0
            out[i, d, 3] = 0.0
            cnt = dir_count[d]
            if cnt < 3 or nz <= 0.0:
                continue
            st = dir_start[d]
            sp = dir_step[d]
            hi = t_high * nz
            lo = t_low * nz
            # top-down: the highest run of min_run three-bin sums above the detection threshold
            top = -1
            run = 0
            # a three-bin sum above hi needs one of its bins above hi / 3: start the
            # scan just above the outermost such bin (0.33 < 1/3 absorbs the rounding
            # of the float32 sum), which skips the empty top of the band without
            # changing the result
            jc = _outermost_above(smooth[i], st, sp, cnt, 0.33 * hi)
            for j in range(min(cnt - 2, jc + 1), -1, -1):
                if _sum3(smooth, i, st, sp, cnt, j) > hi:
                    run += 1
                    if run == min_run:
                        top = max(j + min_run - 1, 1)
                        break
                else:
                    run = 0
            if top < 0:
                continue
            # how far the flow reaches above the noise (one-bin gaps bridged)
            reach = _walk_out(smooth, i, st, sp, cnt, top, lo)
            # The detection threshold can stop well inside the band where speckle
            # has faded its outer bins: the level below is read under the
            # outermost bin that still stands above a tenth of the band's peak
            # (beyond it the window's kernel holds less than a tenth: skirt).
            peak = 0.0
            for j in range(reach + 1):
                peak = max(peak, _sumw(smooth, i, st, sp, cnt, j))
            anchor = max(lo, 3.0 * nz + 0.1 * (peak - 3.0 * nz))
            for j in range(min(reach, cnt - 2), top, -1):
                if _sumw(smooth, i, st, sp, cnt, j) > anchor:
                    top = j
                    break
            # Edge model: the spectrum just inside the edge is a plateau (parabolic
            # profiles) plus a pile-up at the edge itself (blunt profiles), both seen
            # through the window's symmetric kernel.  At the true edge the smeared
            # plateau stands at half its height and the pile-up at its full peak, so
            # the edge is where the power falls to the peak level less half the
            # plateau: half the level for a flat band, the peak itself for a pure
            # pile-up.  The peak is the highest (triangular) sum of the top four bins;
            # the plateau the highest of the four sums ending two bins below the peak
            # that stand above the edge threshold (where the kernel holds a tenth of
            # its peak; the same max-of-four statistics, so a flat band keeps the half
            # level, and a plateau above the peak is a flat band).  Flow confined to
            # the first bins and falling outward is a pile-up at the wall band; a peak
            # one bin above the band shows no plateau and keeps the half level.
            j0 = max(0, top - 3)
            level = 0.0
            jp = j0
            for j in range(j0, top + 1):
                sj = _sumw(smooth, i, st, sp, cnt, j)
                if sj > level:
                    level = sj
                    jp = j
            level = level - 3.0 * nz
            plateau = level
            if jp == 0 and reach <= 1:
                plateau = 0.0  # flow confined to the band's first bins, falling outward
            elif jp >= 2:
                plateau = 0.0
                for j in range(max(0, jp - 5), jp - 1):
                    sj = _sumw(smooth, i, st, sp, cnt, j)
                    if sj > lo:  # flow, not a noise maximum
                        plateau = max(plateau, sj - 3.0 * nz)
            plateau = min(max(plateau, 0.0), level)
            frac = 0.0
            if plateau > 0.0:
                # the sub-bin edge: the outermost fall through the edge level (a
                # speckle dip inside the band does not end it)
                half = max(lo, 3.0 * nz + level - 0.5 * plateau)
                edge = jp
                for j in range(min(reach, cnt - 2), jp, -1):
                    if _sumw(smooth, i, st, sp, cnt, j) > half:
                        edge = j
                        break
                s_in = _sumw(smooth, i, st, sp, cnt, edge)
                s_out = _sumw(smooth, i, st, sp, cnt, edge + 1)
                if s_in > half and s_in > s_out:
                    frac = min(1.0, (s_in - half) / (s_in - s_out))
            else:
                # a pure pile-up: the edge is the peak's parabolic centre
                edge = jp
                if jp >= 1:
                    s_lo = _sumw(smooth, i, st, sp, cnt, jp - 1)
                    s_in = _sumw(smooth, i, st, sp, cnt, jp)
                    s_out = _sumw(smooth, i, st, sp, cnt, jp + 1)
                    den = s_lo - 2.0 * s_in + s_out
                    if den < 0.0:
                        frac = min(0.5, max(-0.5, 0.5 * (s_lo - s_out) / den))
            fmax_bins = edge + frac
            if method == 1:
                # modified geometric method on the noise-subtracted integrated spectrum,
                # searched up to twice the threshold edge (the knee of a flow spectrum lies
                # where its integral stops rising)
                lim = min(cnt, 2 * edge + 4)
                cum = 0.0
                cmax = 0.0
                jmax = 0
                for j in range(lim):
                    cum += smooth[i, st + sp * j] - nz
                    if cum > cmax:
                        cmax = cum
                        jmax = j
                if cmax > 0.0 and jmax > 0:
                    best = 0.0
                    knee = jmax
                    cum = 0.0
                    for j in range(jmax + 1):
                        cum += smooth[i, st + sp * j] - nz
                        dist = cum - cmax * (j + 1) / (jmax + 1)
                        if dist > best:
                            best = dist
                            knee = j
                    # the knee of the integral is where the flow band ends
                    fmax_bins = knee + 0.5
            # power above noise and mean frequency within the flow band
            pw = 0.0
            pf = 0.0
            jend = min(cnt, int(fmax_bins) + 2)
            for j in range(jend):
                p = smooth[i, st + sp * j] - nz
                if p > 0.0:
                    pw += p
                    pf += p * (dir_f0[d] + j * bin_hz)
            out[i, d, 0] = 1.0
            out[i, d, 1] = dir_f0[d] + fmax_bins * bin_hz
            out[i, d, 2] = pf / pw if pw > 0.0 else dir_f0[d]
            out[i, d, 3] = pw


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
def _flow_totals(rows, min_run, state, peak):
    """Running totals of stored rows (n, 6) float32, in stream order.

    ``state`` (float64): rows, rows with flow (either direction), length of
    the flow run still open, rows in closed runs at least ``min_run`` long.
    ``peak`` (2,) float32: the largest fmax of each direction.
    """
    for i in range(rows.shape[0]):
        a = rows[i, 0]
        b = rows[i, 3]
        if a > peak[0]:
            peak[0] = a
        if b > peak[1]:
            peak[1] = b
        if a > 0 or b > 0:
            state[1] += 1
            state[2] += 1
        else:
            if state[2] >= min_run:
                state[3] += state[2]
            state[2] = 0
    state[0] += rows.shape[0]


@njit(**_JIT)
def _median_envelope(work, start, n, half, out):
    """Running median of each direction's fmax over the frames with flow.

    ``work`` (m, 6) float32 holds stored rows (fmax, fmean, power per
    direction; fmax 0 where there is no flow).  For rows ``start .. start+n-1``
    with flow, ``out`` (n, 6) receives the row with fmax replaced by the
    median of the fmax values > 0 within ``half`` rows (inside ``work``);
    other columns are copied.  ``work`` is not changed.
    """
    m = work.shape[0]
    buf = np.empty(2 * half + 1, np.float32)
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
                    # insertion into the sorted buffer
                    p = k
                    while p > 0 and buf[p - 1] > v:
                        buf[p] = buf[p - 1]
                        p -= 1
                    buf[p] = v
                    k += 1
            if k % 2:
                out[i, c] = buf[k // 2]
            else:
                out[i, c] = np.float32(0.5) * (buf[k // 2 - 1] + buf[k // 2])


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


# --------------------------------------------------------------------------- reflux
@njit(**_JIT)
def _dominates(env, i, r, a, ratio):
    """Flow in direction ``r`` is detected in row ``i`` of ``env`` and dominates direction
    ``a``: none there, or more than ``ratio`` times its power."""
    return env[i, r, 0] > 0 and (env[i, a, 0] == 0 or env[i, r, 3] > ratio * env[i, a, 3])


@njit(**_JIT)
def _ring_peak(ring, state, h, v, peak):
    """Push ``v`` to hypothesis ``h``'s ring (count in ``state[h, 16]``); return the
    higher of ``peak`` and the median of the last ``K`` values pushed (of all of them
    once there are three; none before).  ``ring[2]`` is scratch space (sorted by
    insertion: a few values).

    A ``v`` no higher than ``peak`` cannot lift the median above it: at most half
    the values stood above ``peak`` when it was set, and ``v`` adds none, so the
    median is only worked out when ``v`` is higher."""
    k = ring.shape[1]
    n = int(state[h, 16])
    ring[h, n % k] = v
    n += 1
    state[h, 16] = n
    if n < 3 or v <= peak:
        return peak
    m = min(n, k)
    tmp = ring[2]
    for j in range(m):
        x = ring[h, j]
        q = j
        while q > 0 and tmp[q - 1] > x:
            tmp[q] = tmp[q - 1]
            q -= 1
        tmp[q] = x
    if m % 2:
        return max(peak, tmp[m // 2])
    return max(peak, 0.5 * (tmp[m // 2 - 1] + tmp[m // 2]))


@njit(**_JIT)
def _extrapolation(x, y, n, floor_hz, shown_hz, max_rows):
    """Rows from an episode's edge back to where its envelope left the baseline.

    A least-squares line through the ``n`` points ``(x, y)`` of the envelope
    near the edge (``x`` rows from the edge row into the episode, ``y`` the
    maximum frequency, Hz) gives the rate ``s`` (Hz a row) at which flow
    grew out of the edge.  Flow is detected once it reaches ``floor_hz``, the
    lowest frequency searched, so it crossed the baseline about
    ``floor_hz / s`` rows before the edge row.  The envelope cannot show
    less than ``shown_hz``: one whose edge row already lies far above that
    left it within a row, so ``s`` is at least that excess a row (brisk
    flow).  The result is at most ``max_rows``; fewer than two points give 0.
    """
    if n < 2 or floor_hz <= 0.0:
        return 0.0
    mx = 0.0
    my = 0.0
    for k in range(n):
        mx += x[k]
        my += y[k]
    mx /= n
    my /= n
    sxy = 0.0
    sxx = 0.0
    for k in range(n):
        sxy += (x[k] - mx) * (y[k] - my)
        sxx += (x[k] - mx) * (x[k] - mx)
    slope = sxy / sxx if sxx > 0.0 else 0.0
    slope = max(slope, (my - slope * mx) - shown_hz)
    if slope * max_rows <= floor_hz:
        return float(max_rows)
    return floor_hz / slope


@njit(**_JIT)
def _edge_points(fit, h, row0, step, n_max, last, x, y):
    """Detected envelope values of up to ``n_max`` rows from ``row0`` in ``step``
    direction, read from the episode's head (``step`` +1) or tail ring (-1)."""
    n = 0
    w = fit.shape[2]
    for k in range(n_max):
        if step > 0:
            v = fit[h, 1, k]
        else:
            rr = row0 - k
            slot = rr % w
            v = fit[h, 2, slot] if fit[h, 3, slot] == rr and rr <= last else 0.0
        if v > 0.0:
            x[n] = k
            y[n] = v
            n += 1
    return n


@njit(**_JIT)
def _refined_start(state, fit, h, row, floor_hz, shown_hz, max_rows, x, y):
    """Start edge of hypothesis ``h``'s episode, in rows, from its rows up to ``row``:
    extrapolated back to the baseline, not before its bound (``state[h, 15]``)."""
    n_max = min(fit.shape[2], int(row - state[h, 1]) + 1)
    n = _edge_points(fit, h, 0, 1, n_max, row, x, y)
    corr = _extrapolation(x, y, n, floor_hz, shown_hz, max_rows)
    return max(state[h, 1] - 0.5 - corr, state[h, 15])


@njit(**_JIT)
def _refined_end(state, fit, h, floor_hz, shown_hz, max_rows, x, y):
    """End edge of hypothesis ``h``'s episode, in rows: extrapolated forward to the
    baseline, not past the next row of antegrade flow or lost samples."""
    last = state[h, 2]
    n = _edge_points(fit, h, int(last), -1, fit.shape[2], last, x, y)
    end = last + 0.5 + _extrapolation(x, y, n, floor_hz, shown_hz, max_rows)
    if state[h, 12] >= 0:
        end = min(end, state[h, 12] - 0.5)
    return end


@njit(**_JIT)
def _edge_bound(state, h, row):
    """Row ``row`` has antegrade flow dominating or lost samples: no edge of hypothesis
    ``h``'s episodes is extrapolated across it (``state[h, 11]``, and ``state[h, 12]``
    for the end of the episode under way)."""
    state[h, 11] = row
    if state[h, 0] > 0 and state[h, 12] < 0:
        state[h, 12] = row


@njit(**_JIT)
def _emit(actions, na, kind, h, start, end, state, at, hop_s, t0_s, detected_s):
    """Append an action (times in rows) if there is room; return the new count."""
    if na < actions.shape[0]:
        actions[na, 0] = kind
        actions[na, 1] = h
        actions[na, 2] = t0_s + start * hop_s
        actions[na, 3] = t0_s + end * hop_s
        actions[na, 4] = state[h, 3]
        actions[na, 5] = state[h, 4] / state[h, 5]
        actions[na, 6] = t0_s + at * hop_s
        actions[na, 7] = detected_s
        na += 1
    return na


@njit(**_JIT)
def _reflux(env, valid, ahead, ahead_valid, row0, hop_s, t0_s, cm_s_per_hz, threshold_s,
            gap_rows, min_rows, enter_ratio, floor_hz, shown_hz, state, fit, ring, actions):
    """Retrograde-episode state machines for both direction hypotheses.

    Hypothesis ``h`` takes direction ``h`` (0 toward, 1 away) as retrograde.
    A frame counts as retrograde when retrograde flow is detected and it
    dominates: no antegrade flow, or more power than the antegrade flow
    (``enter_ratio`` times more to open an episode; any majority keeps it).
    Up to ``gap_rows`` frames that are not retrograde are bridged.

    An episode's start and end are then moved to where its retrograde
    maximum-frequency envelope meets the baseline, as with calipers: flow
    that ramps slowly through zero is detected only once it clears the wall
    band.  The envelope's rate of change over the first (last) ``W`` rows
    (``W = fit.shape[2]``, the rows over which a step in flow spreads)
    extrapolates the edge by the time flow took to cross ``floor_hz``
    (see ``_extrapolation``), at most ``gap_rows``, never past a row with
    antegrade flow dominating or with lost samples.  The start is fixed once
    ``W`` rows are in or when the reflux is confirmed, whichever comes first,
    so a confirmed event keeps the start it was confirmed with.  The
    threshold is tested on the duration of the detected rows (from the start
    of the first to the end of the last), which is known row by row as the
    stream arrives: the moment of confirmation and the verdict do not depend
    on the extrapolation.

    Parameters
    ----------
    env : ndarray, shape (n, 2, 4), float64
        Output of ``_envelopes``.
    valid : ndarray, shape (n,), bool
        False for frames that overlap lost samples (a gap): they neither
        extend nor end an episode.
    ahead : ndarray, shape (n, 2, 4), float64
        For each frame ``i``, the envelopes of frame ``i + 1`` as far as the
        audio so far shows it (the provisional row of a time average that
        still lacks its newest frame).  A reflux whose run reaches frame
        ``i`` is confirmed at frame ``i + 1`` when that frame's duration
        passes the threshold and the provisional row is retrograde, one hop
        before the complete row would confirm it.  All zero: no look-ahead.
    ahead_valid : ndarray, shape (n,), bool
        False where the provisional row overlaps lost samples.
    row0 : int
        Index of ``env[0]`` in the whole stream.
    hop_s, t0_s : float
        Frame hop and time of frame 0, seconds.
    cm_s_per_hz : float
        Doppler-equation scale.
    threshold_s : float
        Reflux threshold; an episode longer than this is a reflux event.
        Non-positive means no reflux rule (episodes only).
    gap_rows, min_rows : int
        Bridged gap and the shortest episode that is reported, in frames.
    enter_ratio : float
        Power ratio to open an episode.
    floor_hz, shown_hz : float
        Lowest frequency searched for flow and lowest maximum frequency the
        envelope reports, Hz.  ``floor_hz <= 0``: edges are not extrapolated.
    state : ndarray, shape (2, 17), float64
        Per hypothesis: in_episode, start_row, last_row, peak_cm_s,
        sum_cm_s, n_rows, confirmed, and the run of frames with a retrograde
        majority under way outside an episode: first_row + 1 (0: none),
        peak_cm_s, sum_cm_s, n_rows; then the last row with antegrade flow
        dominating or lost samples, the first such row after the episode's
        last retrograde row (-1: none), the start edge in rows
        (extrapolated), whether it is fixed, and the earliest it may be;
        the number of values pushed to ``ring``.  Updated in place.
    fit : ndarray, shape (2, 4, W), float64
        Per hypothesis: the maximum frequency of the first ``W`` rows of the
        majority run and of the episode (0: not retrograde), and a ring of
        the last ``W`` retrograde rows: values, row numbers.  Updated in place.
    ring : ndarray, shape (3, K), float64
        Per hypothesis: the velocities of the last ``K`` rows of the majority
        run and the episode (and a row of scratch space).  The peak velocity
        is the highest running median of ``K`` of them (of the first three or
        more at the start), as in the final trace: a single frame's speckle
        does not set it.  Updated in place.
    actions : ndarray, shape (m, 8), float64
        Filled with (kind, hypothesis, start_s, end_s, peak_cm_s, mean_cm_s,
        at_s, detected_s); kind 1 = reflux confirmed (the detected duration
        just passed the threshold; ``end_s`` is the end of the frame that
        passed it), 2 = episode ended; ``detected_s`` is the duration of the
        detected rows.

    Returns
    -------
    n_actions : int
    """
    n = env.shape[0]
    w = fit.shape[2]
    x = np.empty(w)
    y = np.empty(w)
    na = 0
    for i in range(n):
        row = row0 + i
        if not valid[i]:
            for h in range(2):
                _edge_bound(state, h, row)
            continue
        for h in range(2):
            r = h
            a = 1 - h
            majority = _dominates(env, i, r, a, 1.0)
            v = env[i, r, 1] * cm_s_per_hz
            retro = _dominates(env, i, r, a, 1.0 if state[h, 0] > 0 else enter_ratio)
            if _dominates(env, i, a, r, 1.0):
                _edge_bound(state, h, row)
            if state[h, 0] == 0 and majority and not retro:
                # a retrograde majority not yet strong enough to open an episode: if it
                # grows into one, the episode starts where the majority began
                if state[h, 7] == 0:
                    state[h, 7] = row + 1
                    state[h, 8] = 0.0
                    state[h, 9] = 0.0
                    state[h, 10] = 0
                    state[h, 16] = 0
                    fit[h, 0, :] = 0.0
                state[h, 8] = _ring_peak(ring, state, h, v, state[h, 8])
                state[h, 9] += v
                state[h, 10] += 1
                k = int(row - (state[h, 7] - 1))
                if k < w:
                    fit[h, 0, k] = env[i, r, 1]
            elif not majority:
                state[h, 7] = 0
            if retro:
                if state[h, 0] == 0:
                    # open the episode, from the start of the majority run if there is one
                    state[h, 0] = 1
                    state[h, 6] = 0
                    state[h, 14] = 0
                    state[h, 15] = state[h, 11] + 0.5
                    if state[h, 7] > 0:
                        state[h, 1] = state[h, 7] - 1
                        state[h, 3:6] = state[h, 8:11]
                        fit[h, 1, :] = fit[h, 0, :]
                    else:
                        state[h, 1] = row
                        state[h, 3:6] = 0.0
                        state[h, 16] = 0
                        fit[h, 1, :] = 0.0
                    state[h, 7] = 0
                state[h, 2] = row
                state[h, 3] = _ring_peak(ring, state, h, v, state[h, 3])
                state[h, 4] += v
                state[h, 5] += 1
                state[h, 12] = -1
                k = int(row - state[h, 1])
                if k < w:
                    fit[h, 1, k] = env[i, r, 1]
                fit[h, 2, row % w] = env[i, r, 1]
                fit[h, 3, row % w] = row
                if state[h, 14] == 0:
                    state[h, 13] = _refined_start(state, fit, h, row, floor_hz, shown_hz,
                                                  gap_rows, x, y)
                    if k >= w - 1:
                        state[h, 14] = 1
                dur = (row - state[h, 1] + 1) * hop_s
                at = row
                if threshold_s > 0 and state[h, 6] == 0 and dur <= threshold_s \
                        and dur + hop_s > threshold_s and ahead_valid[i]:
                    # the next frame passes the threshold: confirm it from its provisional row
                    if _dominates(ahead, i, r, a, 1.0):
                        dur += hop_s
                        at = row + 1
                if threshold_s > 0 and state[h, 6] == 0 and dur > threshold_s:
                    state[h, 6] = 1
                    state[h, 14] = 1
                    na = _emit(actions, na, 1, h, state[h, 13], at + 0.5, state, at, hop_s,
                               t0_s, dur)
            elif state[h, 0] > 0 and row - state[h, 2] > gap_rows:
                if state[h, 2] - state[h, 1] + 1 >= min_rows:
                    end = _refined_end(state, fit, h, floor_hz, shown_hz, gap_rows, x, y)
                    na = _emit(actions, na, 2, h, state[h, 13], end, state, row, hop_s, t0_s,
                               (state[h, 2] - state[h, 1] + 1) * hop_s)
                state[h, 0] = 0
    return na


# --------------------------------------------------------------------------- second vessel
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
def _excess_edge(spec, i, nz, st, sp, cnt, ceil, dir_start, dir_step, dir_count, dir_f0, bin_hz,
                 t_high, t_low, min_run, method, row, one_noise, out1):
    """Envelope of the band that stands above a persistent vessel's ceiling in one direction.

    Each bin of row ``i`` of ``spec`` loses the persistent vessel's highest
    level seen in it (``ceil``, per three-bin sum, so a third of it a bin);
    the excess is cut two bins (the window's main lobe) past the end of its
    first run, from the bottom, of three-bin sums above the detection
    threshold and above a tenth of its peak (fainter is the persistent
    vessel's speckle passing its ceiling, as the envelope's own skirt rule;
    a vessel's spectrum has no gap, so excess beyond a gap is the persistent
    vessel's speckle too), and the envelope rule runs on what is left.
    ``dir_count`` holds ``cnt`` for this direction and 0 for the other, whose
    bins are neither written nor read.  ``row`` (1, n_bins) float32 and
    ``one_noise`` (1,) are scratch; ``out1`` (1, 2, 4) receives the envelopes
    (only the direction of ``st`` is meaningful).
    """
    for j in range(cnt):
        row[0, st + sp * j] = max(spec[i, st + sp * j] - ceil[j] / 3.0, 0.0)
    peak = 0.0
    for j in range(cnt):
        peak = max(peak, _sum3(row, 0, st, sp, cnt, j))
    level = max(t_high * nz, 0.1 * peak)
    # a vessel's spectrum runs without a gap from its slowest to its fastest cells: the
    # band is the first run above the level, from the bottom (one-bin gaps bridged)
    top = -1
    for j in range(cnt - 1):
        if _sum3(row, 0, st, sp, cnt, j) > level:
            top = _walk_out(row, 0, st, sp, cnt, j, level)
            break
    for j in range(top + 3, cnt):
        row[0, st + sp * j] = 0.0
    one_noise[0] = nz
    _envelopes(row, one_noise, dir_start, dir_step, dir_count, dir_f0, bin_hz, t_high, t_low,
               min_run, method, out1)


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
        state[0] += beta * ((1.0 if conc else 0.0) - state[0])
        if state[1] == 0 and state[0] > fraction:
            state[1] = row0 + i + 1


@njit(**_JIT)
def _second_vessel(env, spec, noise, ahead, r, alpha, beta, fraction, lost_rows, ratio, outlier,
                   gap_rows, dir_start, dir_step, dir_count, dir_f0, bin_hz, t_high, t_low,
                   min_run, method, ceil, row0, state):
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
    an artery).

    While it is established, direction ``r`` of each row keeps only the
    power in excess of ``b``, and only where the power stands ``ratio`` times
    above ``b`` (the vessel under study joining it in that direction); other
    rows show no flow in ``r``.  In the rows kept, the maximum and mean
    frequency are those of the band standing above the ceiling
    (``_excess_edge``), not the persistent vessel's outer edge; a row with no
    such band shows no flow in ``r``.  The
    persistent vessel is dropped once no flow is detected in ``r`` for more
    than ``lost_rows``.

    Parameters
    ----------
    env : ndarray, shape (n, 2, 4), float64
        Envelope rows (``_envelopes``), changed in place.
    spec : ndarray, shape (n, n_bins), float32
        The time-averaged spectra of the rows.
    noise : ndarray, shape (n,), float64
        Noise level of each row.
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
    dir_start ... method
        As ``_envelopes``.
    ceil : ndarray, shape (dir_count[r],), float64
        Per outward bin of ``r``: the ceiling.  Updated in place.
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
    """
    st = dir_start[r]
    sp = dir_step[r]
    cnt = dir_count[r]
    row = np.empty((1, spec.shape[1]), np.float32)
    one_noise = np.empty(1)
    out1 = np.empty((1, 2, 4))
    only_r = np.zeros_like(dir_count)  # the excess band's envelope in direction r alone
    only_r[r] = cnt
    for i in range(env.shape[0]):
        det_r = env[i, r, 0] > 0
        if env[i, 1 - r, 0] > 0 and state[1] > 0.0:
            # the vessel under study flows: is the persistent one silent here, for longer
            # than a gap a reflux could bridge?
            state[9] += 1.0
            state[10] = 0.0 if det_r else state[10] + 1.0
            if state[10] == gap_rows + 1:
                state[11] += gap_rows + 1
            elif state[10] > gap_rows + 1:
                state[11] += 1.0
        else:
            state[10] = 0.0
        conc = _concurrent(env, i, dir_f0, bin_hz)
        state[0] += beta * ((1.0 if conc else 0.0) - state[0])
        if conc and state[1] > 0.0 and env[i, r, 3] > outlier * state[2] / state[1]:
            conc = False  # a transient (a knock on the probe), not the persistent vessel
        if conc:
            state[1] += alpha * (1.0 - state[1])
            state[2] += alpha * (env[i, r, 3] - state[2])
            state[7] += env[i, 1 - r, 3]
            state[8] += env[i, r, 3]
            for j in range(cnt):
                ceil[j] = max(ceil[j] - alpha * ceil[j],
                              _sum3(spec, i, st, sp, cnt, j) - 3.0 * noise[i])
        state[4] = 0.0 if det_r else state[4] + 1.0
        if state[3] == 0 and state[0] > fraction and state[1] > 0:
            state[3] = 1.0
            if state[5] == 0:
                state[5] = row0 + i
                state[6] = state[2] / state[1]
        elif state[3] > 0 and state[4] > lost_rows:
            state[3] = 0.0
        if state[3] > 0:
            b = state[2] / state[1]
            _clear_persistent(env, i, r, b, ratio)
            if i < ahead.shape[0]:
                _clear_persistent(ahead, i, r, b, ratio)
            if env[i, r, 0] > 0 and cnt >= 3:
                _excess_edge(spec, i, noise[i], st, sp, cnt, ceil, dir_start, dir_step,
                             only_r, dir_f0, bin_hz, t_high, t_low, min_run, method, row,
                             one_noise, out1)
                if out1[0, r, 0] > 0:
                    env[i, r, 1] = out1[0, r, 1]
                    env[i, r, 2] = out1[0, r, 2]
                else:
                    # no band stands above the ceiling: the vessel under study does not show
                    for k in range(4):
                        env[i, r, k] = 0.0


@njit(**_JIT)
def _clear_rows(env, start, end, r, b, ratio):
    """``_clear_persistent`` on rows ``start .. end - 1`` of ``env`` (clipped to it)."""
    for i in range(max(start, 0), min(end, env.shape[0])):
        _clear_persistent(env, i, r, b, ratio)
