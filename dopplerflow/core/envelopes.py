"""Maximum and mean frequency envelopes, separately for each flow direction.

Two estimators of the maximum frequency are offered:

``threshold`` (noise-adaptive threshold)
    Flow is detected where a three-bin sum of the time-averaged spectrum
    exceeds a threshold set from the tracked noise floor for a chosen
    false-alarm rate (``spectral.detection_thresholds``).  From the highest
    detected run of bins the edge is followed outward while the sum stays
    above a lower edge threshold, and placed between bins where it crosses
    it.  A noisy frame cannot push the envelope to the top of the band: the
    detection needs two neighbouring sums above a threshold that pure noise
    passes once in a thousand frames.

``geometric`` (modified geometric method, Moraes et al. 1995)
    The noise floor is subtracted from the spectrum and integrated outward;
    the maximum frequency is the knee of that integral: the point furthest
    above the straight line from its start to its maximum.  It is searched
    only in frames where the detector above found flow, up to twice the
    detected edge.

The default is the one with the smaller velocity error on the simulator's
scenarios (``dopplerflow evaluate``; see the README's accuracy table).
The mean frequency is the power-weighted mean of the noise-subtracted
spectrum up to the maximum frequency.

The rows come whitened by the per-bin noise floor (:meth:`~.noise.NoiseFloor.whiten`):
the noise has one level in every bin, so the detection's false-alarm rate holds in
coloured noise too.  With the rows' :class:`~.noise.FloorRows`, the maximum frequency is
held to the signal band and the flow power and mean frequency are the physical power
above the floor (each bin's excess weighed back by its shape).
"""

import numpy as np
from numba import njit

from ..errors import SettingsError
from ._numba import _JIT_PURE, _sum3, _walk_out

__all__ = ["METHODS", "DEFAULT_METHOD", "envelopes", "edge_levels", "band_power",
           "FlowReference", "DYNAMIC_RANGE_DB"]

METHODS = {"threshold": 0, "geometric": 1}
DEFAULT_METHOD = "threshold"
#: Consecutive three-bin sums above the detection threshold that make a detection:
#: a flow spectrum is wider than the main lobe of one noise peak.
MIN_RUN = 2
#: An island of detections (see ``_island_below``): this many three-bin sums below the edge
#: threshold between it and the flow below (beyond the window's main lobe and a speckle
#: fade), ...
ISLAND_GAP = 4
#: ... and this many times less excess power than the flow below (10 dB).
ISLAND_RATIO = 10.0
#: Columns of an envelope row ``(2, 4)``, per direction (0 toward, 1 away): flow detected
#: (0/1), maximum frequency (Hz, 0 where no flow), mean frequency (Hz) and flow power.
DETECTED, FMAX_HZ, FMEAN_HZ, POWER = range(4)
#: Dynamic range of the edge search, dB: an edge stands where the flow's excess over the
#: floor is within this much of the strongest flow of the last seconds, as a scanner's
#: spectral display of this dynamic range shows it (the sonogram's colour scale spans the
#: same).  Where the noise is white a flow's edge lies well within it; what lies below it
#: in a real recording is the recorder's noise far up a coloured band (a lossy codec's
#: bursts, its bins switching on and off), which a floor of minimum statistics cannot
#: hold.
DYNAMIC_RANGE_DB = 45.0
#: The strongest recent flow (:class:`FlowReference`) follows a stronger row at this
#: fraction of the difference in dB a row ...
REFERENCE_RISE = 0.1
#: ... and falls this fast, dB/s: a few beats' diastoles and a breath hold it.
REFERENCE_FALL_DB_S = 3.0
#: Slots of a :class:`FlowReference`'s state: the reference power (0: no flow yet), its
#: fall a row (a factor) and its rise a row (a fraction of the difference in dB).
REF_POWER, REF_FALL, REF_RISE = range(3)


def method_code(name):
    """Kernel code of an envelope method name; raise SettingsError if unknown."""
    try:
        return METHODS[name]
    except KeyError:
        raise SettingsError(
            f"envelope method '{name}' is not known; use one of {', '.join(METHODS)}") from None


def edge_levels(config):
    """Frequencies that bound what the envelopes show near zero flow.

    Parameters
    ----------
    config : SpectralConfig

    Returns
    -------
    floor_hz : float
        Lowest frequency searched for flow (``config.floor_hz``): slower flow
        is not detected.
    shown_hz : float
        Lowest maximum frequency a detection reports: the first searched bin,
        where flow confined to the bottom of the band is placed.  Flow between
        the two reads as this.
    """
    f0 = config.dir_f0[config.dir_count > 0]
    shown_hz = float(f0.min()) if f0.size else config.floor_hz
    return config.floor_hz, shown_hz


def band_power(smooth, noise, config):
    """Power of each row over the noise level, summed over the searched bins of both
    directions: what a listener hears as the pulse, whether flow is detected or not.

    The beat stage's power channel reads it: the flow power stops at each row's maximum
    frequency and is zero where no flow is detected, so it jumps with the edge; this
    does not.  Rows near digital silence (negative level) hold none.

    Parameters
    ----------
    smooth : ndarray, shape (n, n_fft), float32
        Time-averaged rows, as they are (not whitened).
    noise : ndarray, shape (n,), float64
        Their noise levels (the band's median bin; negative: near digital silence).
    config : SpectralConfig

    Returns
    -------
    ndarray, shape (n,), float32
    """
    smooth = np.ascontiguousarray(smooth, np.float32)
    out = np.empty(smooth.shape[0], np.float32)
    _band_power(smooth, np.ascontiguousarray(noise, np.float64), config.dir_start,
                config.dir_step, config.dir_count, out)
    return out


class FlowReference:
    """The strongest flow of a stream's last seconds, the top of its dynamic range.

    Each row with flow offers the largest three-bin excess of its flow band over the
    floor (physical power); the reference rises toward a stronger one at
    :data:`REFERENCE_RISE` of the difference in dB a row and falls at
    :data:`REFERENCE_FALL_DB_S`.  The envelopes read it row by row, in order, so it
    does not depend on the blocks.

    Parameters
    ----------
    hop_s : float
        Time between rows, s.
    """

    def __init__(self, hop_s):
        self.state = np.zeros(3)  # slots REF_POWER, REF_FALL, REF_RISE
        self.state[REF_FALL] = 10.0 ** (-REFERENCE_FALL_DB_S * hop_s / 10.0)
        self.state[REF_RISE] = REFERENCE_RISE

    @property
    def power(self):
        """The reference: physical power of a three-bin sum (0 before any flow)."""
        return float(self.state[REF_POWER])

    def copy(self):
        """A reference in the same state, to be read without moving this one."""
        other = FlowReference.__new__(FlowReference)
        other.state = self.state.copy()
        return other


def envelopes(smooth, noise, config, method=DEFAULT_METHOD, floor=None, reference=None,
              resets=()):
    """Detect flow and estimate envelopes in each direction.

    Parameters
    ----------
    smooth : ndarray, shape (n_frames, n_bins), float32
        Time-averaged power spectrum, bins ascending (``spectrum.TimeAverager``),
        whitened (``NoiseFloor.whiten``) or with white noise.
    noise : ndarray, shape (n_frames,), float64
        Mean noise power per bin in force at each frame (no flow where not positive).
    config : SpectralConfig
    method : {'threshold', 'geometric'}
    floor : FloorRows, optional
        The rows' noise shapes and band tops (``NoiseFloor.whiten``): the maximum
        frequency stays in the band, and the power and the mean frequency weigh each
        bin by its shape.  Without it every bin weighs the same.
    reference : FlowReference, optional
        With ``floor``: the stream's strongest recent flow, updated by these rows.  An
        edge stands only within :data:`DYNAMIC_RANGE_DB` of it.  None: no such limit.
    resets : sequence of int
        Rows (ascending) before which the reference is cleared: the noise floor fell
        there (:attr:`.NoiseFloor.falls`), at the end of a loud stretch whose noise
        passed for flow and set it.

    Returns
    -------
    ndarray, shape (n_frames, 2, 4), float64
        For direction 0 (toward) and 1 (away): detected (0/1), maximum
        frequency (Hz, >= 0), mean frequency (Hz, >= 0) and flow power above
        the noise (power units of the unwhitened spectrum).
    """
    smooth = np.ascontiguousarray(smooth, dtype=np.float32)
    noise = np.ascontiguousarray(noise, dtype=np.float64)
    if smooth.ndim != 2 or smooth.shape[1] != config.n_fft or noise.shape != smooth.shape[:1]:
        raise ValueError(f"smooth must be (n_frames, {config.n_fft}) with one noise level a "
                         f"frame; got {smooth.shape} and {noise.shape}")
    out = np.empty((smooth.shape[0], 2, 4), np.float64)
    if floor is None:
        _envelopes(smooth, noise, config.dir_start, config.dir_step, config.dir_count,
                   config.dir_f0, config.bin_hz, config.t_high, config.t_low, MIN_RUN,
                   method_code(method), out)
        return out
    if floor.slots.shape != noise.shape:
        raise ValueError(f"floor has {floor.slots.shape[0]} rows; the spectrum {len(noise)}")
    state = np.zeros(3) if reference is None else reference.state  # zeros: no limit
    code = method_code(method)
    ratio = 10.0 ** (-DYNAMIC_RANGE_DB / 10.0)
    # the rows between resets in turn (the state carries from row to row: the same result)
    edges = [0, *(int(r) for r in resets), len(noise)]
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if a > 0:
            state[REF_POWER] = 0.0
        if b > a:
            _envelopes_floor(smooth[a:b], noise[a:b], floor.shapes, floor.tops,
                             floor.slots[a:b], config.dir_start, config.dir_step,
                             config.dir_count, config.dir_f0, config.bin_hz, config.t_high,
                             config.t_low, MIN_RUN, code, ratio, state, out[a:b])
    return out


def provisional_envelopes(kept, power, pending, row0, n, config, method=DEFAULT_METHOD,
                          noise_floor=None, reference=None):
    """Provisional envelopes of row ``r + 1`` for each new row ``r``, and where they exist.

    Row ``r + 1`` as the audio so far gives it: the mean of frames ``r`` and
    ``r + 1``, as the time average closes a stream.  A reflux can then be
    confirmed one hop before the complete row confirms it.

    Parameters
    ----------
    kept : ndarray or None
        Power frames the time average held before ``power``.
    power : ndarray, shape (m, n_fft), float32
        The new power frames.
    pending : ndarray
        Noise levels of frames ``row0``, ``row0 + 1``, ... up to the newest.
    row0, n : int
        Index of the first of the ``n`` new rows.
    config : SpectralConfig
    method : str
    noise_floor : NoiseFloor, optional
        The stream's noise floor: the provisional rows are whitened as the rows are.
    reference : FlowReference, optional
        The stream's strongest recent flow, read and not updated.

    Returns
    -------
    env : ndarray, shape (n, 2, 4), float64
    exists : ndarray, shape (n,), bool
    """
    raw = power if kept is None else np.concatenate((kept, power))
    first = row0 + len(pending) - len(raw)  # frame index of raw[0]
    k = max(0, min(n, len(pending) - 1))  # rows whose next frame is in
    env = np.zeros((n, 2, 4))
    if k:
        i = row0 - first + np.arange(k)
        part = (raw[i] + raw[i + 1]) * np.float32(0.5)
        levels = pending[1:k + 1]
        floor = None
        if noise_floor is not None:
            part, floor = noise_floor.whiten(part, levels, row0 + 1)
        ref = None if reference is None else reference.copy()
        env[:k] = envelopes(part, levels, config, method, floor, ref)
    return env, np.arange(n) < k


# --------------------------------------------------------------------------- kernels
@njit(**_JIT_PURE)
def _band_power(smooth, noise, dir_start, dir_step, dir_count, out):
    """:func:`band_power` of each row into ``out``.  Each direction's bins are one run
    of the row (ascending or descending from its first), summed as a slice."""
    for i in range(smooth.shape[0]):
        nz = noise[i]
        acc = np.float64(0.0)  # typed: numpy adds a float32 to a Python float in float32
        if nz > 0.0:
            level = np.float32(nz)
            row = smooth[i]
            for d in range(2):
                cnt = dir_count[d]
                if cnt <= 0:
                    continue
                a = dir_start[d] if dir_step[d] > 0 else dir_start[d] - (cnt - 1)
                # eight running sums, added in a fixed order: the same result whatever
                # the machine, without the serial dependence of one sum
                zero = np.float32(0.0)
                p0 = p1 = p2 = p3 = p4 = p5 = p6 = p7 = zero
                k = a
                end = a + cnt
                while k + 8 <= end:
                    p0 += max(row[k] - level, zero)
                    p1 += max(row[k + 1] - level, zero)
                    p2 += max(row[k + 2] - level, zero)
                    p3 += max(row[k + 3] - level, zero)
                    p4 += max(row[k + 4] - level, zero)
                    p5 += max(row[k + 5] - level, zero)
                    p6 += max(row[k + 6] - level, zero)
                    p7 += max(row[k + 7] - level, zero)
                    k += 8
                while k < end:
                    p0 += max(row[k] - level, zero)
                    k += 1
                acc += ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7))
        out[i] = acc


@njit(**_JIT_PURE)
def _sumw(smooth, i, st, sp, cnt, j):
    """Triangular (1/4, 1/2, 1/4) three-bin sum scaled to the noise mean of ``_sum3``
    (float64: the float32 bins widened where they meet a float64, as numba does and
    numpy, interpreted, does only when told)."""
    if j == 0:
        return 1.5 * np.float64(smooth[i, st] + smooth[i, st + sp])
    if j >= cnt - 1:
        return 0.0
    return (0.75 * np.float64(smooth[i, st + sp * (j - 1)])
            + 1.5 * np.float64(smooth[i, st + sp * j])
            + 0.75 * np.float64(smooth[i, st + sp * (j + 1)]))


@njit(**_JIT_PURE)
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


@njit(**_JIT_PURE)
def _island_below(smooth, i, nz, st, sp, cnt, j, lo):
    """Whether the detection whose inner end is at outward bin ``j`` is an island.

    An island is a run of three-bin sums above ``lo`` (the edge threshold) that
    :data:`ISLAND_GAP` or more sums below ``lo`` separate from the flow below it, and whose
    excess over the noise (``nz`` a bin) is less than a :data:`ISLAND_RATIO`-th of the
    excess of the sums above ``lo`` below the gap.  A vessel's spectrum runs without a
    gap from its slowest to its fastest cells, and holds its power there.

    Returns
    -------
    int
        The outward bin just below the gap, where the search goes on (-1: no island).
    """
    # the island's extent and excess, down to its inner edge
    bottom = j
    while bottom > 0 and _sum3(smooth, i, st, sp, cnt, bottom - 1) > lo:
        bottom -= 1
    top = _walk_out(smooth, i, st, sp, cnt, j, lo)
    own = 0.0
    for jj in range(bottom, min(top, cnt - 1) + 1):
        own += smooth[i, st + sp * jj] - nz
    # the gap below it
    g = bottom - 1
    while g >= 0 and not _sum3(smooth, i, st, sp, cnt, g) > lo:
        g -= 1
    if g < 0 or bottom - 1 - g < ISLAND_GAP:
        return -1
    rest = 0.0
    for jj in range(g + 1):
        if _sum3(smooth, i, st, sp, cnt, jj) > lo:
            rest += smooth[i, st + sp * jj] - nz
    return g if rest > ISLAND_RATIO * max(own, 0.0) else -1


@njit(**_JIT_PURE)
def _edge(smooth, i, nz, st, sp, cnt, t_high, t_low, min_run, method):
    """Maximum frequency of one direction of row ``i``, in outward bins (-1: no flow).

    ``smooth`` holds rows whose noise has the mean ``nz`` in every bin; ``st``, ``sp``
    and ``cnt`` are the direction's first searched bin, outward step and number of
    bins; the rest as ``_envelopes``.
    """
    lo = t_low * nz
    top = _detected_top(smooth, i, nz, st, sp, cnt, t_high * nz, lo, min_run)
    if top < 0:
        return -1.0
    # how far the flow reaches above the noise (one-bin gaps bridged)
    reach = _walk_out(smooth, i, st, sp, cnt, top, lo)
    top = _anchored_top(smooth, i, st, sp, cnt, nz, lo, top, reach)
    edge, frac = _edge_bins(smooth, i, st, sp, cnt, nz, lo, top, reach)
    fmax_bins = edge + frac
    if method == 1:
        fmax_bins = _geometric_edge(smooth, i, st, sp, cnt, nz, edge, fmax_bins)
    return fmax_bins


@njit(**_JIT_PURE)
def _detected_top(smooth, i, nz, st, sp, cnt, hi, lo, min_run):
    """Top-down: the outer end of the highest run of ``min_run`` three-bin sums above the
    detection threshold ``hi`` that is no island (-1: none)."""
    run = 0
    # a three-bin sum above hi needs one of its bins above hi / 3: start the
    # scan just above the outermost such bin (0.33 < 1/3 absorbs the rounding
    # of the float32 sum), which skips the empty top of the band without
    # changing the result
    jc = _outermost_above(smooth[i], st, sp, cnt, 0.33 * hi)
    j = min(cnt - 2, jc + 1)
    while j >= 0:
        if _sum3(smooth, i, st, sp, cnt, j) > hi:
            run += 1
            if run == min_run:
                # an island far above the flow and weak against it (a codec's artefact, a
                # speckle peak of the noise) is no flow edge: search on below it
                below = _island_below(smooth, i, nz, st, sp, cnt, j, lo)
                if below < 0:
                    return max(j + min_run - 1, 1)
                run = 0
                j = below
                continue
        else:
            run = 0
        j -= 1
    return -1


@njit(**_JIT_PURE)
def _envelopes(smooth, noise, dir_start, dir_step, dir_count, dir_f0, bin_hz, t_high, t_low,
               min_run, method, out):
    """Per-frame flow detection and frequency envelopes in each direction.

    Parameters
    ----------
    smooth : ndarray, shape (n_frames, n_bins), float32
        Time-averaged power spectrum, bins ascending, with the same noise level in
        every bin (white, or whitened by ``NoiseFloor.whiten``).
    noise : ndarray, shape (n_frames,), float64
        Mean noise power per bin of one frame (no flow is searched where it is not
        positive).
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
    for i in range(smooth.shape[0]):
        nz = noise[i]
        for d in range(2):
            out[i, d, :] = 0.0
            cnt = dir_count[d]
            if cnt < 3 or nz <= 0.0:
                continue
            st = dir_start[d]
            sp = dir_step[d]
            fmax_bins = _edge(smooth, i, nz, st, sp, cnt, t_high, t_low, min_run, method)
            if fmax_bins < 0.0:
                continue
            # power above noise and mean frequency within the flow band
            pw = np.float64(0.0)  # typed: numpy adds a float32 to a Python float in float32
            pf = np.float64(0.0)
            for j in range(min(cnt, int(fmax_bins) + 2)):
                p = smooth[i, st + sp * j] - nz
                if p > 0.0:
                    pw += p
                    pf += p * (dir_f0[d] + j * bin_hz)
            out[i, d, 0] = 1.0
            out[i, d, 1] = dir_f0[d] + fmax_bins * bin_hz
            out[i, d, 2] = pf / pw if pw > 0.0 else dir_f0[d]
            out[i, d, 3] = pw


@njit(**_JIT_PURE)
def _envelopes_floor(white, noise, shapes, tops, slots, dir_start, dir_step, dir_count,
                     dir_f0, bin_hz, t_high, t_low, min_run, method, range_ratio, ref, out):
    """``_envelopes`` of whitened rows, against their per-bin noise floor.

    Flow is detected and its maximum frequency found on the whitened rows (``white``,
    whose noise has the mean ``noise[i]`` in every bin); the maximum is held to the top
    of the signal band (``tops[slots[i], d]``, outward bins: to the upper edge of that
    bin).  The flow power and the mean frequency weigh each bin's excess over the level
    back by its shape (``shapes[slots[i]]``): the physical power above the floor.

    ``ref`` is a :class:`FlowReference`'s state, updated row by row: an edge whose
    three-bin excess lies below ``range_ratio`` times the reference is searched again
    below the outermost bin within that range.  ``ref[REF_FALL] == 0``: no limit.
    Other parameters as ``_envelopes``.
    """
    for i in range(white.shape[0]):
        nz = noise[i]
        slot = slots[i]
        shape = shapes[slot]
        least = range_ratio * ref[REF_POWER]
        strongest = 0.0
        for d in range(2):
            out[i, d, :] = 0.0
            cnt = dir_count[d]
            if cnt < 3 or nz <= 0.0 or tops[slot, d] < 1:
                continue
            st = dir_start[d]
            sp = dir_step[d]
            fmax_bins = _edge(white, i, nz, st, sp, cnt, t_high, t_low, min_run, method)
            if fmax_bins >= 1.0 and least > 0.0:
                edge = int(fmax_bins)
                inner = _within_range(white, i, nz, shape, st, sp, min(edge + 1, cnt - 2),
                                      least)
                if inner < edge - 1:
                    # the edge stands below the display's range: the flow ends lower
                    fmax_bins = -1.0
                    if inner >= 1:
                        fmax_bins = _edge(white, i, nz, st, sp, inner + 2, t_high, t_low,
                                          min_run, method)
            if fmax_bins < 0.0:
                continue
            fmax_bins = min(fmax_bins, tops[slot, d] + 0.5)
            # each bin's excess over the floor once: summed for the flow's power and mean
            # frequency, and, three bins about each outward bin 1 .. the edge, offered as
            # the row's strongest flow (the sums of ``_excess3``, in its order)
            last = min(int(fmax_bins), cnt - 2) + 1  # the last bin of the last such sum
            pw = np.float64(0.0)  # typed: numpy adds a float32 to a Python float in float32
            pf = np.float64(0.0)
            e2 = e1 = 0.0  # the excess of the two bins before
            for j in range(min(cnt, int(fmax_bins) + 2)):
                k = st + sp * j
                # (widened: numpy adds a float32 to a Python float in float32)
                p = np.float64((white[i, k] - nz) * shape[k])
                if 2 <= j <= last:
                    strongest = max(strongest, e2 + e1 + p)
                e2, e1 = e1, p
                if p > 0.0:
                    pw += p
                    pf += p * (dir_f0[d] + j * bin_hz)
            out[i, d, 0] = 1.0
            out[i, d, 1] = dir_f0[d] + fmax_bins * bin_hz
            out[i, d, 2] = pf / pw if pw > 0.0 else dir_f0[d]
            out[i, d, 3] = pw
        _follow(ref, strongest)


@njit(**_JIT_PURE)
def _follow(ref, strongest):
    """One row of a :class:`FlowReference`: rise toward the row's strongest flow
    (``strongest``, 0: none), then fall."""
    if ref[REF_FALL] <= 0.0:
        return
    if strongest > 0.0:
        if ref[REF_POWER] <= 0.0:
            ref[REF_POWER] = strongest
        elif strongest > ref[REF_POWER]:
            ref[REF_POWER] *= (strongest / ref[REF_POWER]) ** ref[REF_RISE]
    ref[REF_POWER] *= ref[REF_FALL]


@njit(**_JIT_PURE)
def _excess3(white, i, nz, shape, st, sp, j):
    """Physical excess over the floor of the three bins around outward bin ``j >= 1``."""
    e = np.float64(0.0)  # typed: numpy adds a float32 to a Python float in float32
    for jj in range(j - 1, j + 2):
        k = st + sp * jj
        e += (white[i, k] - nz) * shape[k]
    return e


@njit(**_JIT_PURE)
def _within_range(white, i, nz, shape, st, sp, j, least):
    """Outermost outward bin at or below ``j`` whose three-bin excess is above ``least``
    (0: none)."""
    while j >= 1:
        if _excess3(white, i, nz, shape, st, sp, j) > least:
            return j
        j -= 1
    return 0


@njit(**_JIT_PURE)
def _anchored_top(smooth, i, st, sp, cnt, nz, lo, top, reach):
    """The detection threshold can stop well inside the band where speckle has faded its
    outer bins: the level below is read under the outermost bin that still stands above
    a tenth of the band's peak (beyond it the window's kernel holds less than a tenth:
    skirt)."""
    peak = 0.0
    for j in range(reach + 1):
        peak = max(peak, _sumw(smooth, i, st, sp, cnt, j))
    anchor = max(lo, 3.0 * nz + 0.1 * (peak - 3.0 * nz))
    for j in range(min(reach, cnt - 2), top, -1):
        if _sumw(smooth, i, st, sp, cnt, j) > anchor:
            return j
    return top



@njit(**_JIT_PURE)
def _edge_bins(smooth, i, st, sp, cnt, nz, lo, top, reach):
    """The maximum frequency by the edge model: the edge bin (from the direction's first)
    and the fraction of a bin beyond it.

    The spectrum just inside the edge is a plateau (parabolic profiles) plus a pile-up
    at the edge itself (blunt profiles), both seen through the window's symmetric
    kernel.  At the true edge the smeared plateau stands at half its height and the
    pile-up at its full peak, so the edge is where the power falls to the peak level
    less half the plateau: half the level for a flat band, the peak itself for a pure
    pile-up.  The peak is the highest (triangular) sum of the top four bins; the
    plateau the highest of the four sums ending two bins below the peak that stand
    above the edge threshold (where the kernel holds a tenth of its peak; the same
    max-of-four statistics, so a flat band keeps the half level, and a plateau above
    the peak is a flat band).  Flow confined to the first bins and falling outward is
    a pile-up at the wall band; a peak one bin above the band shows no plateau and
    keeps the half level.
    """
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
    return edge, frac



@njit(**_JIT_PURE)
def _geometric_edge(smooth, i, st, sp, cnt, nz, edge, fmax_bins):
    """Modified geometric method on the noise-subtracted integrated spectrum, searched up
    to twice the threshold edge bin ``edge`` (the knee of a flow spectrum lies where its
    integral stops rising); ``fmax_bins`` where there is no knee."""
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
        return knee + 0.5
    return fmax_bins
