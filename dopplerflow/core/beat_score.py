"""Detected beats against reference beat times: sensitivity, PPV, timing and rate errors.

:func:`score_beats` matches each detected beat to at most one reference beat within a
tolerance (150 ms by default), in time order, as beat-by-beat comparisons of a detector
with an annotation do.  References often mark another point of the cycle (an expert's
mark, the start of a simulated cycle) than the detector's onset: with ``offset=True``
the constant offset that matches the most beats is found first and taken off.
"""

import numpy as np

from ..errors import InputError

__all__ = ["score_beats", "match_beats"]

#: Tolerance of a match, s: a sixth of a cycle at 70 beats/min (as the 150 ms window of
#: ANSI/AAMI EC57 for QRS detection).
TOLERANCE_S = 0.15
#: Largest constant offset searched, s.
MAX_OFFSET_S = 0.5


def _times(x, name):
    a = np.asarray(x, dtype=float).ravel()
    if not np.all(np.isfinite(a)):
        raise InputError(f"{name} must be finite times in seconds")
    return np.sort(a)


def match_beats(detected_s, reference_s, tolerance_s=TOLERANCE_S):
    """Pairs of detected and reference beats closer than ``tolerance_s``, in time order.

    Parameters
    ----------
    detected_s, reference_s : array_like
        Sorted beat times, s.
    tolerance_s : float
        Largest difference of a match, s.

    Returns
    -------
    pairs : ndarray, shape (k, 2), int
        Indices ``(detected, reference)`` of the matches; each beat is in at most
        one pair.
    """
    det = np.asarray(detected_s, float)
    ref = np.asarray(reference_s, float)
    pairs = []
    i = j = 0
    while i < len(det) and j < len(ref):
        d = det[i] - ref[j]
        if abs(d) <= tolerance_s:
            # the next detection may be the closer match of this reference beat
            if i + 1 < len(det) and abs(det[i + 1] - ref[j]) < abs(d) and (
                    j + 1 >= len(ref) or abs(det[i] - ref[j + 1]) > tolerance_s):
                i += 1
                continue
            pairs.append((i, j))
            i += 1
            j += 1
        elif d < 0:
            i += 1
        else:
            j += 1
    return np.array(pairs, dtype=int).reshape(-1, 2)


def _best_offset(det, ref, tolerance_s, max_offset_s):
    """The constant offset (taken off the detections) that matches the most beats, the
    smallest first among equals (an offset of a whole beat interval matches as many);
    refined to the median difference of its matches."""
    step = tolerance_s / 4.0
    grid = np.arange(0.0, max_offset_s + step / 2, step)
    best_n, off = -1, 0.0
    for o in np.concatenate([[0.0], np.ravel(np.column_stack((grid[1:], -grid[1:])))]):
        k = len(match_beats(det - o, ref, tolerance_s))
        if k > best_n:
            best_n, off = k, o
    pairs = match_beats(det - off, ref, tolerance_s)
    if len(pairs):
        refined = off + float(np.median(det[pairs[:, 0]] - off - ref[pairs[:, 1]]))
        if len(match_beats(det - refined, ref, tolerance_s)) >= len(pairs):
            off = refined
    return off


def score_beats(detected_s, reference_s, *, tolerance_s=TOLERANCE_S, offset=True,
                max_offset_s=MAX_OFFSET_S, span_s=None):
    """Score detected beat times against reference beat times.

    Parameters
    ----------
    detected_s : array_like
        Detected beat times (onsets), s.
    reference_s : array_like
        Reference beat times, s (an annotation, or the simulator's truth).
    tolerance_s : float
        A detection within this of a reference beat matches it, s.
    offset : bool
        Find and take off the constant offset between the two (a reference that
        marks another point of the cycle); False: compare the times as they are.
    max_offset_s : float
        Largest offset searched, s.
    span_s : (float, float), optional
        Count only the reference beats from ``span_s[0]`` to ``span_s[1]``, with the
        detections matched to them and the unmatched ones in the span (after the
        offset): a beat cut by the start or the end of a recording has no whole
        upstroke to find.

    Returns
    -------
    dict
        ``n_reference``, ``n_detected``, ``n_matched``; ``sensitivity`` (matched /
        reference) and ``ppv`` (matched / detected), None without beats;
        ``offset_s``: the offset taken off (detected minus reference; 0 without
        ``offset``); ``onset_error_s``: median absolute time error of the matches
        after the offset; ``rr_error_s``: median absolute difference of the
        intervals between consecutive matched beats (both ends matched);
        ``heart_rate_bpm``, ``reference_heart_rate_bpm``: 60 over the median
        interval of each; ``heart_rate_error_bpm``: their difference (detected
        minus reference) and ``heart_rate_error_pct`` relative to the reference.

    Raises
    ------
    InputError
        Times that are not finite, or a tolerance that is not positive.
    """
    det = _times(detected_s, "detected beat times")
    ref = _times(reference_s, "reference beat times")
    if not tolerance_s > 0:
        raise InputError(f"tolerance_s={tolerance_s!r} must be a positive number of seconds")
    off = _best_offset(det, ref, tolerance_s, max_offset_s) if offset and len(det) and \
        len(ref) else 0.0
    pairs = match_beats(det - off, ref, tolerance_s)
    if span_s is not None:
        # matched on the whole lists; a pair counts by its reference beat
        lo, hi = span_s
        ref_in = (ref >= lo) & (ref <= hi)
        det_in = (det - off >= lo) & (det - off <= hi)
        paired = np.zeros(len(det), bool)
        paired[pairs[:, 0]] = True
        keep = np.sort(np.r_[pairs[ref_in[pairs[:, 1]], 0], np.flatnonzero(det_in & ~paired)])
        pairs = pairs[ref_in[pairs[:, 1]]]
        new_det = {int(d): k for k, d in enumerate(keep)}
        new_ref = np.cumsum(ref_in) - 1
        pairs = np.array([(new_det[int(d)], new_ref[r]) for d, r in pairs], int).reshape(-1, 2)
        det, ref = det[keep], ref[ref_in]
    n = len(pairs)
    out = {"n_reference": len(ref), "n_detected": len(det), "n_matched": n,
           "sensitivity": n / len(ref) if len(ref) else None,
           "ppv": n / len(det) if len(det) else None,
           "offset_s": float(off), "onset_error_s": None, "rr_error_s": None}
    if n:
        err = det[pairs[:, 0]] - off - ref[pairs[:, 1]]
        out["onset_error_s"] = float(np.median(np.abs(err)))
        both = np.flatnonzero((np.diff(pairs[:, 0]) == 1) & (np.diff(pairs[:, 1]) == 1))
        if len(both):
            rr_det = det[pairs[both + 1, 0]] - det[pairs[both, 0]]
            rr_ref = ref[pairs[both + 1, 1]] - ref[pairs[both, 1]]
            out["rr_error_s"] = float(np.median(np.abs(rr_det - rr_ref)))
    hr = _rate(det)
    hr_ref = _rate(ref)
    out["heart_rate_bpm"] = hr
    out["reference_heart_rate_bpm"] = hr_ref
    out["heart_rate_error_bpm"] = None if hr is None or hr_ref is None else hr - hr_ref
    out["heart_rate_error_pct"] = (None if out["heart_rate_error_bpm"] is None
                                   else 100.0 * out["heart_rate_error_bpm"] / hr_ref)
    return out


def _rate(times):
    """60 over the median interval of sorted beat times, beats/min (None under two)."""
    if len(times) < 2:
        return None
    return 60.0 / float(np.median(np.diff(times)))
