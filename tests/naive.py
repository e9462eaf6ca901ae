"""Plain numpy/scipy reference implementations the fast path is compared with.

Each function follows the documented algorithm step by step, with Python
loops where that is clearer, and no numba.
"""


import numpy as np
from scipy import signal


def wall_filter(x, sos):
    """High-pass each column with scipy's sosfilt, started in steady state."""
    zi = signal.sosfilt_zi(sos)
    out = np.empty_like(x, dtype=np.float64)
    for c in range(x.shape[1]):
        out[:, c] = signal.sosfilt(sos, x[:, c].astype(np.float64), zi=zi * x[0, c])[0]
    return out


def power_spectrogram(c0, c1, n_window, hop, n_fft, separated=False):
    """Windowed FFT power of ``c0 + j c1`` (or of two separated real channels).

    Returns (n_frames, n_fft) with bins ascending (fftshift order).
    """
    w = signal.windows.hann(n_window, sym=False)
    n_frames = (len(c0) - n_window) // hop + 1
    out = np.empty((n_frames, n_fft))
    for i in range(n_frames):
        s = slice(i * hop, i * hop + n_window)
        if separated:
            ft = np.fft.fft(w * c0[s], n_fft)
            fa = np.fft.fft(w * c1[s], n_fft)
            z = np.zeros(n_fft, complex)
            k = np.arange(n_fft)
            pos = (k > 0) & (2 * k < n_fft)
            z[pos] = 2 * ft[pos]
            z[~pos] = 2j * fa[~pos]  # magnitude of 2 * F_away at negative bins
            z[0] = ft[0] + 1j * fa[0]
            out[i] = np.fft.fftshift(np.abs(z) ** 2)
        else:
            out[i] = np.fft.fftshift(np.abs(np.fft.fft(w * (c0[s] + 1j * c1[s]), n_fft)) ** 2)
    return out


def time_average(power):
    """Centred 3-frame mean; the first and last rows average two frames."""
    n = len(power)
    out = np.empty_like(power)
    for r in range(n):
        lo, hi = max(r - 1, 0), min(r + 1, n - 1)
        out[r] = power[lo:hi + 1].mean(axis=0)
    return out


def quiet_floor(power, lo, hi, a, stride, v):
    """Minimum statistics of each bin: the lowest smoothed power of each sub-window.

    Every ``stride``-th frame is tracked: its power smoothed as ``s += a * (p - s)`` after
    a cumulative mean over the first ``1 / a`` frames (whose minimum is not taken); the
    minimum over each run of ``v`` tracked frames is one row of the result.  Float32,
    in the order of the documented recursion.
    """
    p = power[::stride, lo:hi].astype(np.float32)
    s = np.zeros(hi - lo, np.float32)
    mins = []
    cur = np.full(hi - lo, np.inf, np.float32)
    for n, x in enumerate(p, start=1):
        if n * a >= 1.0:
            s = s + np.float32(a) * (x - s)
            cur = np.minimum(cur, s)
        else:
            s = s + np.float32(1.0 / n) * (x - s)
        if n % v == 0:
            mins.append(cur)
            cur = np.full(hi - lo, np.inf, np.float32)
    return np.array(mins)


def whiten(rows, shape, in_band, level):
    """Rows over the shape in the band, the level elsewhere."""
    return np.where(in_band, rows / shape, level)


def colour_fit(freqs_hz, quiet):
    """Least-squares power law of a quiet floor: log level and slope per octave (ln)."""
    b, a = np.polyfit(np.log2(freqs_hz), np.log(quiet), 1)
    return a, b


def threshold_envelope(row, noise, start, step, count, f0, bin_hz, t_high, t_low, min_run=2):
    """Noise-adaptive threshold envelope of one direction of one frame.

    Returns (detected, fmax_hz).
    """
    vals = np.array([row[start + step * j] for j in range(count)], dtype=np.float64)

    def s3(j, weights=(1.0, 1.0, 1.0)):
        if j == 0:
            return 1.5 * (vals[0] + vals[1])
        if j + 1 >= count:
            return 0.0
        return weights[0] * vals[j - 1] + weights[1] * vals[j] + weights[2] * vals[j + 1]

    def tri(j):  # triangular weights, same noise mean as the plain sum
        return s3(j, (0.75, 1.5, 0.75))

    hi, lo = t_high * noise, t_low * noise
    top, run = -1, 0
    for j in range(count - 2, -1, -1):
        if s3(j) > hi:
            run += 1
            if run == min_run:
                top = max(j + min_run - 1, 1)
                break
        else:
            run = 0
    if top < 0:
        return False, 0.0

    def walk(j, level, f):
        edge, j = j, j + 1
        while j < count - 1:
            if f(j) > level:
                edge, j = j, j + 1
            elif f(j + 1) > level:
                edge, j = j + 1, j + 2
            else:
                break
        return edge

    reach = walk(top, lo, s3)
    # the level is read under the outermost bin above a tenth of the band's peak
    anchor = max(lo, 3 * noise + 0.1 * (max(tri(j) for j in range(reach + 1)) - 3 * noise))
    top = next((j for j in range(min(reach, count - 2), top, -1) if tri(j) > anchor), top)
    # edge level: the peak of the top four bins less half the plateau of the four bins
    # ending two below the peak (no plateau for flow confined to the first bins)
    j0 = max(0, top - 3)
    sums = [tri(j) for j in range(j0, top + 1)]
    jp = j0 + int(np.argmax(sums))  # first of equal maxima
    level = sums[jp - j0] - 3 * noise
    if jp == 0 and reach <= 1:
        plateau = 0.0
    elif jp >= 2:
        flow = [tri(j) for j in range(max(0, jp - 5), jp - 1) if tri(j) > lo]
        plateau = max(flow) - 3 * noise if flow else 0.0
    else:
        plateau = level
    plateau = min(max(plateau, 0.0), level)
    frac = 0.0
    if plateau > 0:
        half = max(lo, 3 * noise + level - 0.5 * plateau)
        edge = next((j for j in range(min(reach, count - 2), jp, -1) if tri(j) > half), jp)
        s_in, s_out = tri(edge), tri(edge + 1)
        if s_in > half and s_in > s_out:
            frac = min(1.0, (s_in - half) / (s_in - s_out))
    else:  # a pure pile-up: the peak's parabolic centre
        edge = jp
        if jp >= 1:
            s_lo, s_in, s_out = tri(jp - 1), tri(jp), tri(jp + 1)
            den = s_lo - 2 * s_in + s_out
            if den < 0:
                frac = min(0.5, max(-0.5, 0.5 * (s_lo - s_out) / den))
    return True, f0 + (edge + frac) * bin_hz


def retrograde_episodes(retro, hop_s, t0_s, gap_rows, min_rows):
    """Episodes of a boolean per-frame 'retrograde dominates' sequence.

    Runs of True separated by at most ``gap_rows`` False frames are merged;
    runs shorter than ``min_rows`` frames are dropped.  Returns a list of
    (start_s, end_s) with half a hop on each side.
    """
    episodes = []
    start = last = None
    for i, r in enumerate(retro):
        if r:
            if start is None:
                start = i
            last = i
        elif start is not None and i - last > gap_rows:
            if last - start + 1 >= min_rows:
                episodes.append((t0_s + (start - 0.5) * hop_s, t0_s + (last + 0.5) * hop_s))
            start = None
    if start is not None and last - start + 1 >= min_rows:
        episodes.append((t0_s + (start - 0.5) * hop_s, t0_s + (last + 0.5) * hop_s))
    return episodes


def beat_columns(tab, h, direction, hop, t0, scale, period_ok, unanalysed, lines=(),
                 reach=0.0):
    """The per-beat columns and clean flags of beat records ``tab`` as array expressions
    (``dopplerflow.core.beats._columns._beat_columns`` computes them beat by beat).

    Returns ``(15, k)`` rows in ``Beats.COLUMNS`` order (phases and clean as 0/1)."""
    from dopplerflow.core import beats as B

    def zero_nan(x):
        return np.where(np.isnan(x), 0.0, x)

    m = tab[:, B.REC_HEAD + h * B.M_WIDTH:B.REC_HEAD + (h + 1) * B.M_WIDTH]
    rr = tab[:, B.R_RR] * hop
    psv, edv, tamv = m[:, B.M_PSV] * scale, m[:, B.M_EDV] * scale, m[:, B.M_TAMV] * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        fwd, rev = m[:, B.M_FWD], m[:, B.M_REV]
        share = rev / (fwd + rev) if direction else np.full(len(tab), np.nan)
        ri = (psv - edv) / psv
        pi = np.where(tamv > 0, (psv - edv) / tamv, np.nan)
        sd = np.where(edv > 0, psv / edv, np.nan)
        hr = 60.0 / rr
    phases = zero_nan(m[:, B.M_PHASES]).astype(int) if direction else np.zeros(len(tab), int)
    # clean: complete, a pulse, PSV (not under the EDV nor the TAMV), the usual period, the
    # interval near the median of the five around it (the last, open one left out), no row
    # unanalysed from its onset to the next beat's peak, neither PSV nor EDV on a tonal line
    ok = (np.isfinite(rr) & (tab[:, B.R_EVIDENCE] >= B.MIN_EVIDENCE) & (psv > 0)
          & (edv <= psv) & (tamv <= psv) & period_ok)
    k = len(rr) - 1
    for i in range(k):
        win = np.sort(rr[max(0, i - 2):min(k, i + 3)])
        win = win[np.isfinite(win)]
        near = 0.5 * (win[(len(win) - 1) // 2] + win[len(win) // 2])
        ok[i] &= abs(rr[i] / near - 1.0) <= B.RR_TOLERANCE
    first = np.floor(tab[:, B.R_ONSET])
    next_peak = np.append(m[1:, B.M_PEAK], -np.inf)
    end = np.ceil(np.fmax(tab[:, B.R_ONSET] + zero_nan(tab[:, B.R_RR]), next_peak))
    for a, b in unanalysed:
        ok &= ~((first < b) & (end > a))
    for f in lines:
        ok &= (np.abs(m[:, B.M_PSV] - f) > reach) & (np.abs(m[:, B.M_EDV] - f) > reach)
    return np.array([t0 + tab[:, B.R_ONSET] * hop, t0 + m[:, B.M_PEAK] * hop, rr, hr, psv,
                     edv, tamv, m[:, B.M_TAV] * scale, ri, pi, sd,
                     (m[:, B.M_PEAK] - tab[:, B.R_ONSET]) * hop, share, phases, ok])
