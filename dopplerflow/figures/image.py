"""The sonogram as an image, and the velocity axes of the figures.

A long recording has more frames than a figure has pixels: its frames are pooled
into at most :data:`MAX_COLUMNS` display columns (means of the spectrum, the
extreme of each envelope).  The spectrogram of a recording longer than 41 s comes
already pooled (``Analysis.spectrogram_step`` frames a row,
:mod:`dopplerflow.core.sonogram`); the columns then hold whole rows of it, and the
trace drawn over them is pooled into the same columns.  The velocity axis spans
:data:`RANGE_MARGIN` times the peak envelopes, read past the few frames a click
fills and the tops of faint clicks over slow flow.  The spectrum is shown in dB
above the noise floor, the wall filter's band masked.
"""

import math

import numpy as np

from ..errors import SettingsError

__all__ = ["MAX_COLUMNS", "RANGE_MARGIN", "TRACE_MARGIN", "sonogram_image", "trace_range",
           "robust_peak", "envelope_peaks", "left_out_rows", "trace_left_out",
           "second_vessel_side", "second_vessel_peak",
           "column_starts", "pool_mean", "pool_extreme", "pooled_time", "flow_only",
           "require_spectrogram", "spectrogram_rows"]

#: Most spectrogram columns drawn; longer recordings are averaged in groups of hops.
MAX_COLUMNS = 4000
#: The velocity axis shows this multiple of the peak envelope velocity (the peak
#: leaves out the few frames a click fills).
RANGE_MARGIN = 1.3
#: The velocity trace's axis shows this multiple of the peak envelope velocity.
TRACE_MARGIN = 1.1
#: Fraction of the flow frames allowed above the top of the velocity axis (clicks in
#: long recordings).
_PEAK_SKIP = 0.002
#: Least half-height of the velocity axis, in velocity bins.
_MIN_SPAN_BINS = 6
#: A second vessel's flow, which the envelopes leave out, is read from the spectrum:
#: per frame, the outermost two neighbouring bins this far above the noise floor, dB
#: (two bins: noise seldom puts two outliers side by side) ...
_SECOND_VESSEL_DB = 8.0
#: ... and the peak over the frames, leaving out this fraction of them (noise, clicks).
_SECOND_VESSEL_SKIP = 0.005
#: Frames compared at once (bounds the memory of long recordings).
_CHUNK_FRAMES = 8192


def require_spectrogram(analysis):
    """Raise SettingsError unless ``analysis`` kept its spectrogram."""
    if analysis.spectrogram is None or analysis.freqs_hz is None:
        raise SettingsError("this analysis kept no spectrogram; analyse with "
                            "keep_spectrogram=True (the --plot option does so) to draw a sonogram")


def spectrogram_rows(analysis):
    """The time of each row of ``analysis.spectrogram``, s, and the frames each holds.

    Returns
    -------
    time_s : ndarray, shape (rows,)
        Centre of each row: the mean time of the frames pooled in it.
    step : int
        Frames a row (``Analysis.spectrogram_step``; the last row may hold fewer).
    """
    step = int(analysis.spectrogram_step or 1)
    times = analysis.spectrogram_time_s
    if times is None:  # an Analysis made without them: a row a frame, as the trace
        times = analysis.trace.time_s
    return np.asarray(times, np.float64), step


def column_starts(n, max_columns):
    """Pool ``n`` frames into at most ``max_columns`` display columns.

    Returns the first frame of each column and the frames per column.
    """
    step = max(1, math.ceil(n / max_columns))
    return np.arange(0, n, step), step


def pool_mean(a, starts):
    """Mean of rows of ``a`` (n, ...) over the groups starting at ``starts``."""
    if len(starts) == len(a):
        return a
    counts = np.diff(np.append(starts, len(a)))
    sums = np.add.reduceat(np.asarray(a, np.float64), starts, axis=0)
    return sums / counts.reshape((-1,) + (1,) * (sums.ndim - 1))


def pool_extreme(x, starts):
    """Per group, the value of largest magnitude (NaN where the whole group is NaN)."""
    x = np.asarray(x, np.float64)
    if len(starts) == len(x):
        return x
    hi = np.fmax.reduceat(x, starts)
    lo = np.fmin.reduceat(x, starts)
    return np.where(np.abs(lo) > np.abs(hi), lo, hi)


def pooled_time(time_s, starts):
    """Mean time of each group, s."""
    return pool_mean(np.asarray(time_s, np.float64), starts)


def flow_only(x, flow):
    """``x`` as float with NaN where no flow was detected (lines break there)."""
    return np.where(flow, np.asarray(x, np.float64), np.nan)


def left_out_rows(envelope_cm_s, mean_cm_s=None, lines_cm_s=(), reach_cm_s=0.0,
                  other_cm_s=None):
    """The rows of an envelope that the summary's peak speed and the beats' PSV leave out.

    Those whose envelope stands more than :data:`~dopplerflow.core.rows.PEAK_MEAN_X`
    times over the trace's mean velocity ``mean_cm_s`` (the top of a click or of a
    faint broadband transient over slower flow, which real recordings hold about once a
    beat), and those within ``reach_cm_s`` of one of ``lines_cm_s`` (the tonal lines the
    recording was found to hold, on this side: a weak line is known only seconds after it
    began, and the envelope stood on it until then).

    The summary weighs each direction's maximum against that direction's own mean; the
    trace keeps one mean, of both directions' power.  So with the other direction's
    envelope ``other_cm_s`` given, the first test is made only where the other direction
    has no flow, where the trace's mean is this direction's (two vessels flowing opposite
    ways pull the trace's mean towards 0, which no row's own mean is).

    Returns
    -------
    ndarray of bool, the envelope's shape
    """
    from ..core.rows import PEAK_MEAN_X

    x = np.abs(np.asarray(envelope_cm_s, np.float64))
    out = np.zeros(x.shape, bool)
    with np.errstate(invalid="ignore"):
        if mean_cm_s is not None:
            over = ~(x <= PEAK_MEAN_X * np.abs(np.asarray(mean_cm_s, np.float64)))
            if other_cm_s is not None:
                over &= ~(np.abs(np.asarray(other_cm_s, np.float64)) > 0)
            out |= over
        for line in lines_cm_s:
            out |= np.abs(x - line) <= reach_cm_s
    return out


def robust_peak(envelope_cm_s, flow, summary=None, mean_cm_s=None, lines_cm_s=(),
                reach_cm_s=0.0, other_cm_s=None):
    """Peak of an envelope over the frames with flow, ignoring a click's frames.

    A click (probe knock, cable) fills every bin of the frames whose window
    holds it (``window / hop`` frames, plus one each side from the 3-frame
    time average) and would stretch the axis to the Nyquist velocity.  The
    peak is therefore the value below the top ``k`` frames, ``k`` being that
    many frames or ``_PEAK_SKIP`` of the flow frames if more: a real peak
    lasts longer, and the 1.3 margin keeps its top in view.  The rows that
    the summary's peak and the beats' PSV leave out (:func:`left_out_rows`, with the
    trace's mean velocity ``mean_cm_s``, the tonal lines ``lines_cm_s`` and the other
    direction's envelope ``other_cm_s``) are left out as well.
    """
    x = np.asarray(envelope_cm_s, np.float64)
    keep = np.asarray(flow, bool) & np.isfinite(x)
    keep &= ~left_out_rows(x, mean_cm_s, lines_cm_s, reach_cm_s, other_cm_s)
    x = x[keep]
    return _below_top(x, max(int(_PEAK_SKIP * x.size), _click_frames(summary)))


def _side_lines(analysis):
    """The tonal lines found, as speeds on the antegrade and on the retrograde side
    (mono: all on the one side), and the reach around a line, cm/s."""
    from ..core.tones import LINE_REACH

    f = np.asarray(analysis.tonal_lines_hz or [], np.float64)
    reach = LINE_REACH * (analysis.summary.velocity_resolution_cm_s or 0.0)
    speed = np.abs(f) * analysis.velocity_per_hz_cm_s
    if not analysis.direction_available:
        return speed, speed[:0], reach
    up = f < 0 if analysis.antegrade == "away" else f > 0  # not known: toward drawn up
    return speed[up], speed[~up], reach


def envelope_peaks(analysis):
    """The antegrade and retrograde :func:`robust_peak` of the analysis's trace (0.0 for a
    side without direction), past the tonal lines found on each side."""
    tr = analysis.trace
    ante, retro, reach = _side_lines(analysis)
    if not analysis.direction_available:
        return robust_peak(tr.antegrade_max_cm_s, tr.flow, analysis.summary,
                           tr.mean_velocity_cm_s, ante, reach), 0.0
    return tuple(robust_peak(env, tr.flow, analysis.summary, tr.mean_velocity_cm_s, lines,
                             reach, other)
                 for env, lines, other in (
                     (tr.antegrade_max_cm_s, ante, tr.retrograde_max_cm_s),
                     (tr.retrograde_max_cm_s, retro, tr.antegrade_max_cm_s)))


def trace_left_out(analysis):
    """:func:`left_out_rows` of the trace's antegrade and retrograde maximum envelopes and
    of its signed velocity (the dominant direction's envelope): three boolean arrays, one
    value a row (the retrograde one all False without direction)."""
    tr = analysis.trace
    ante, retro, reach = _side_lines(analysis)
    mean = tr.mean_velocity_cm_s
    if not analysis.direction_available:
        a_out = left_out_rows(tr.antegrade_max_cm_s, mean, ante, reach)
        return a_out, np.zeros(len(tr), bool), a_out
    a_out = left_out_rows(tr.antegrade_max_cm_s, mean, ante, reach, tr.retrograde_max_cm_s)
    r_out = left_out_rows(tr.retrograde_max_cm_s, mean, retro, reach, tr.antegrade_max_cm_s)
    v_out = np.where(np.asarray(tr.velocity_cm_s) < 0, r_out, a_out)
    return a_out, r_out, v_out


def _velocity_axis(analysis):
    """Velocity of each spectrogram bin and the column order that makes it ascending.

    Returns
    -------
    velocity_cm_s : ndarray, shape (m,)
        Ascending, + antegrade (mono: speed, positive half of the spectrum).
    index : ndarray, shape (m,), int
        Bins of ``analysis.spectrogram`` in that order.
    """
    freqs = np.asarray(analysis.freqs_hz, np.float64)
    scale = analysis.velocity_per_hz_cm_s
    if not analysis.direction_available:
        # a real signal's spectrum is symmetric: the positive half holds it all
        index = np.flatnonzero(freqs >= 0)
        return freqs[index] * scale, index
    sign = -1.0 if analysis.antegrade == "away" else 1.0  # not known: toward drawn up
    vel = sign * freqs * scale
    index = np.argsort(vel, kind="stable")
    return vel[index], index


def second_vessel_side(analysis):
    """Where a second vessel's flow is drawn: +1 up, -1 down, 0 no second vessel known.

    :attr:`Analysis.second_vessel` names the direction (relative to the probe) of
    a vessel beside the one under study once the vein's direction is given; its
    flow is left out of the envelopes and the trace, but not of the spectrum.
    """
    sv = analysis.second_vessel
    if not sv or not sv.get("direction") or not analysis.direction_available:
        return 0
    return 1 if sv["direction"] == analysis.antegrade else -1


def second_vessel_peak(analysis, velocity_cm_s, index, reference):
    """Peak speed of the second vessel's spectrum, cm/s (0.0 if none is known).

    Per frame from ``second_vessel["from_s"]`` on, the outermost pair of
    neighbouring bins on the vessel's side that stand :data:`_SECOND_VESSEL_DB`
    above the noise; the peak leaves out the top :data:`_SECOND_VESSEL_SKIP` of
    the frames (or a click's frames, :func:`robust_peak`).

    Parameters
    ----------
    analysis : Analysis
        With its spectrogram.
    velocity_cm_s, index : ndarray
        From :func:`_velocity_axis`: ascending velocity, and the bin of each.
    reference : float
        Power of a noise bin (:func:`_reference_power`).
    """
    side = second_vessel_side(analysis)
    if not side:
        return 0.0
    cols = np.flatnonzero(side * velocity_cm_s > 0)
    cols = cols[np.argsort(-np.abs(velocity_cm_s[cols]), kind="stable")]  # outermost first
    if cols.size < 2:
        return 0.0
    speed = np.abs(velocity_cm_s[cols[:-1]])
    t, step = spectrogram_rows(analysis)
    first = int(np.searchsorted(t, analysis.second_vessel.get("from_s") or 0.0))
    spec = analysis.spectrogram
    level = reference * 10.0 ** (_SECOND_VESSEL_DB / 10.0)
    peaks = []
    for i in range(first, len(spec), _CHUNK_FRAMES):
        above = np.asarray(spec[i:i + _CHUNK_FRAMES][:, index[cols]]) > level
        pair = above[:, :-1] & above[:, 1:]
        peaks.append(np.where(pair.any(axis=1), speed[np.argmax(pair, axis=1)], np.nan))
    if not peaks:
        return 0.0
    x = np.concatenate(peaks)
    x = x[np.isfinite(x)]
    click = _click_frames(analysis.summary)  # frames; the rows they fall in, when pooled
    click = math.ceil((click - 1) / step) + 1 if click else 0
    return _below_top(x, max(int(_SECOND_VESSEL_SKIP * x.size), click))


def _click_frames(summary):
    """Frames a click fills: the frames whose window holds it, and one each side from
    the 3-frame time average (0 without a spectral configuration)."""
    if summary is None or not summary.hop_s or not summary.window_s:
        return 0
    return math.ceil(summary.window_s / summary.hop_s - 1e-9) + 2


def _below_top(x, k):
    """The largest value of ``x`` once its ``k`` largest are left out (all: the maximum;
    0.0 for no value)."""
    if not x.size:
        return 0.0
    if k >= x.size:
        return float(x.max())
    return float(np.partition(x, x.size - 1 - k)[x.size - 1 - k])


def _display_range(analysis, velocity_cm_s, velocity_range_cm_s, second_peak=0.0):
    """(bottom, top) of the velocity axis, cm/s; ``second_peak`` (cm/s) is a second
    vessel's peak speed, on the side :func:`second_vessel_side` names."""
    v_lo = float(velocity_cm_s[0])
    v_hi = float(velocity_cm_s[-1])
    if velocity_range_cm_s is not None:
        lo, hi = (float(v) for v in velocity_range_cm_s)
        if not lo < hi:
            raise SettingsError(f"velocity range {velocity_range_cm_s!r} must be (bottom, top) "
                                f"with bottom < top, in cm/s")
        return lo, hi
    peak_a, peak_r = envelope_peaks(analysis)
    if peak_a <= 0 and peak_r <= 0:
        return (0.0 if not analysis.direction_available else v_lo), v_hi
    # never narrower than a few velocity bins, so slow flow is not drawn as two pixels
    dv = abs(velocity_cm_s[1] - velocity_cm_s[0]) if len(velocity_cm_s) > 1 else 1.0
    if not analysis.direction_available:
        return 0.0, min(RANGE_MARGIN * max(peak_a, _MIN_SPAN_BINS * dv), v_hi)
    # a second vessel's flow, beside the vessel under study, is in the picture too
    side = second_vessel_side(analysis)
    if side > 0:
        peak_a = max(peak_a, second_peak)
    elif side < 0:
        peak_r = max(peak_r, second_peak)
    # each half stays visible (at least 30 % of the other) even without flow in it
    top = RANGE_MARGIN * max(peak_a, 0.3 * peak_r, _MIN_SPAN_BINS * dv)
    bottom = -RANGE_MARGIN * max(peak_r, 0.3 * peak_a, _MIN_SPAN_BINS / 2 * dv)
    return max(bottom, v_lo), min(top, v_hi)


def _reference_power(analysis, power):
    """Power per bin taken as 0 dB and the colour-bar label.

    The noise floor of ``analysis.summary`` is the noise power of one sample
    in dBFS; a noise bin of the spectrogram holds that times ``sum(window**2)``.
    Without a noise estimate the maximum is the reference.
    """
    from scipy.signal import windows

    nf_dbfs = analysis.summary.noise_floor_dbfs
    window_s = analysis.summary.window_s
    if nf_dbfs is not None and window_s:
        n_window = int(round(window_s * analysis.sample_rate_hz))
        wsum = float(np.sum(windows.hann(n_window, sym=False) ** 2))
        return 10.0 ** (nf_dbfs / 10.0) * wsum, "power (dB above the noise floor)"
    peak = float(np.max(power)) if power.size else 0.0
    return (peak if peak > 0 else 1.0), "power (dB re maximum)"


def sonogram_image(analysis, *, max_columns=MAX_COLUMNS, velocity_range_cm_s=None):
    """The sonogram as an image ready to draw.

    Parameters
    ----------
    analysis : Analysis
        Analysed with ``keep_spectrogram=True``.
    max_columns : int
        Most columns; longer recordings average groups of consecutive hops.
    velocity_range_cm_s : (float, float), optional
        Bottom and top of the velocity axis; by default 1.3 times the peak
        envelopes.

    Returns
    -------
    dict
        ``db`` (n_velocity, n_columns) float32, dB re ``reference``, rows of
        ascending velocity (antegrade up); ``extent`` (t0, t1, v0, v1) in s and
        cm/s for ``imshow``; ``ylim`` (bottom, top) cm/s; ``starts`` first
        frame (trace row) of each column and ``step`` frames a column;
        ``label`` of the colour bar.

    Raises
    ------
    SettingsError
        No spectrogram was kept, or a bad velocity range.
    """
    require_spectrogram(analysis)
    if max_columns < 1:
        raise SettingsError(f"max_columns={max_columns} must be a positive number of columns")
    spec = np.asarray(analysis.spectrogram)
    vel, index = _velocity_axis(analysis)
    second = 0.0
    if velocity_range_cm_s is None and second_vessel_side(analysis):
        second = second_vessel_peak(analysis, vel, index, _reference_power(analysis, spec)[0])
    ylim = _display_range(analysis, vel, velocity_range_cm_s, second)
    dv = abs(vel[1] - vel[0]) if len(vel) > 1 else 1.0
    rows = np.flatnonzero((vel >= ylim[0] - dv) & (vel <= ylim[1] + dv))
    if rows.size == 0:
        rows = np.arange(len(vel))
    starts, step = column_starts(len(spec), max_columns)  # in rows of the spectrogram
    power = pool_mean(spec[:, index[rows]], starts)
    ref, label = _reference_power(analysis, power)
    with np.errstate(divide="ignore"):
        db = (10.0 * np.log10(np.maximum(power, 1e-30) / ref)).astype(np.float32)
    # the wall-filter band is not searched for flow and holds the filtered clutter,
    # far brighter than blood: masked, so that it neither hides nor sets the colour scale
    bin_hz = abs(float(analysis.freqs_hz[1] - analysis.freqs_hz[0]))
    wall_cm_s = (analysis.settings.wall_hz + 0.5 * bin_hz) * analysis.velocity_per_hz_cm_s
    db[:, np.abs(vel[rows]) < wall_cm_s] = np.nan
    t, pooled = spectrogram_rows(analysis)
    hop_s = analysis.summary.hop_s
    if hop_s is None:
        hop_s = float(t[1] - t[0]) / pooled if len(t) > 1 else analysis.duration_s
    # a row holds `pooled` frames from hop_s / 2 before the first frame's centre (the last
    # row may hold fewer: its column reaches past the end, which the trace's axis clips)
    t0 = (t[0] - (pooled - 1) / 2 * hop_s if len(t) else 0.0) - hop_s / 2
    extent = (t0, t0 + len(spec) * pooled * hop_s, vel[rows[0]] - dv / 2,
              vel[rows[-1]] + dv / 2)
    return {"db": db.T, "extent": extent, "ylim": ylim, "starts": starts * pooled,
            "step": step * pooled, "label": label, "wall_cm_s": wall_cm_s,
            "second_vessel_cm_s": second}


def trace_range(analysis):
    """(bottom, top) of the trace's velocity axis, cm/s.

    :data:`TRACE_MARGIN` times the peak envelopes (read past a click, as the
    sonogram's): the trace draws the envelopes themselves, so it needs less room
    above them than the spectrum, which spreads past its envelope.  As the
    sonogram's, the axis is never narrower than :data:`_MIN_SPAN_BINS` velocity
    bins each way (mono: up), so that a recording without flow gets a velocity axis
    around 0 rather than an empty one.
    """
    least = TRACE_MARGIN * _MIN_SPAN_BINS * (analysis.summary.velocity_resolution_cm_s or 1.0)
    peak_a, peak_r = envelope_peaks(analysis)
    if not analysis.direction_available:
        top = max(TRACE_MARGIN * peak_a, least)
        return -0.05 * top, top
    return (-max(TRACE_MARGIN * max(peak_r, 0.3 * peak_a), least),
            max(TRACE_MARGIN * max(peak_a, 0.3 * peak_r), least))
