"""Detected beats against reference beat times: sensitivity, PPV, timing and rate errors.

:func:`score_beats` matches each detected beat to at most one reference beat within a
tolerance (150 ms by default), in time order, as beat-by-beat comparisons of a detector
with an annotation do.  References often mark another point of the cycle (an expert's
mark, the start of a simulated cycle) than the detector's onset: with ``offset=True``
the constant offset that matches the most beats is found first and taken off.

:func:`read_beat_marks` reads a person's beat marks (a JSON list or ``beat_times_s``, or a
text file of times: CSV, one time a line, an Audacity label track) and
:func:`score_marks` scores an analysis's beats against them (``dopplerflow score RESULT.json
MARKS``).
"""

import json
import math
import re

import numpy as np

from ..errors import AudioFileError, InputError

__all__ = ["score_beats", "match_beats", "read_beat_marks", "score_marks", "marked_span",
           "format_marks_score"]

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
        ``offset``); ``missed_s``: the reference beats no detection matched, and
        ``extra_s``: the detections that matched none (as detected, before the offset);
        ``onset_error_s``: median absolute time error of the matches after the offset;
        ``rr_error_s``: median absolute difference of the intervals between consecutive
        matched beats (both ends matched);
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
           "offset_s": float(off), "onset_error_s": None, "rr_error_s": None,
           "missed_s": np.delete(ref, pairs[:, 1]).tolist(),
           "extra_s": np.delete(det, pairs[:, 0]).tolist()}
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


# ----------------------------------------------------------------------------- beat marks
#: The first field of a line of a marks text file: a number, then a separator or the end.
_FIRST_NUMBER = re.compile(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?:[\s,;]|$)")


def read_beat_marks(path):
    """The beat times a person marked, from a file; None when the file is a JSON object
    without ``beat_times_s`` (a truth file or an analysis: scored as such).

    A JSON file holds a list of times or an object with a ``beat_times_s`` list.  Any
    other file is text: each line that begins with a number (s) is a mark, its other
    fields ignored (a CSV column, an Audacity label track's ``start end label``); lines
    that do not (a header, a comment) are skipped.

    Returns
    -------
    ndarray or None
        The marks, s, sorted.

    Raises
    ------
    AudioFileError
        The file cannot be read.
    InputError
        It holds no mark, or a mark that is not a finite time.
    """
    try:
        with open(path, encoding="utf-8-sig") as fh:
            text = fh.read()
    except OSError as exc:
        raise AudioFileError(f"cannot read the beat marks {path!r}: "
                             f"{exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path!r} is not text: give beat marks as JSON or as a text file "
                         f"with a time in seconds at the start of each line") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, (list, dict)):  # text (a lone number is a line of it)
        times = [float(m.group(1)) for m in map(_FIRST_NUMBER.match, text.splitlines()) if m]
    else:
        if isinstance(data, dict):
            if "beat_times_s" not in data or any(k in data for k in ("scenario", "flow")):
                return None
            data = data["beat_times_s"]
        if not isinstance(data, list) or not all(
                isinstance(t, (int, float)) and not isinstance(t, bool) for t in data):
            raise InputError(f"the beat marks of {path!r} must be a list of times in seconds")
        times = [float(t) for t in data]
    if len(times) < 2:
        raise InputError(f"{path!r} holds {len(times)} beat mark(s); give at least two, a time "
                         f"in seconds at the start of each line (or a JSON list)")
    if not all(math.isfinite(t) and t >= 0 for t in times):
        raise InputError(f"the beat marks of {path!r} must be times in seconds from the start "
                         f"of the recording (finite, not negative)")
    return np.sort(np.array(times))


def score_marks(result, marks_s, *, tolerance_s=TOLERANCE_S):
    """Score the beats of an analysis (its JSON, with ``beat_table``) against marks.

    The beats are matched over the marked stretch, from half a median interval before
    the first mark to half one after the last (a person marks a stretch; beats outside
    it have nothing to match), after the constant offset that matches the most
    (:func:`score_beats`: a mark may sit on another point of the cycle than the onset).

    Returns
    -------
    dict
        ``n_marks``, ``first_mark_s``, ``last_mark_s`` and :func:`score_beats`'s fields
        over the stretch, with ``heart_rate_bpm`` the analysis's own (the median over
        its clean beats) and ``reference_heart_rate_bpm`` the marks' (60 over their
        median interval), and their errors.

    Raises
    ------
    InputError
        The result holds no per-beat values, marks repeat a time or run past its end.
    """
    table = result.get("beat_table") if isinstance(result, dict) else None
    if not isinstance(table, dict) or not isinstance(table.get("onset_s"), list):
        raise InputError("the result holds no per-beat values to match to the marks: write "
                         "it with dopplerflow analyze --json OUT --trace-json")
    marks = _times(marks_s, "beat marks")
    if len(marks) < 2 or np.any(np.diff(marks) <= 0):
        raise InputError("the beat marks must be two or more different times (two marks "
                         "at one time are one beat marked twice)")
    duration = result.get("duration_s")
    if isinstance(duration, (int, float)) and marks[-1] > duration + tolerance_s:
        raise InputError(f"a beat mark at {marks[-1]:.2f} s lies past the end of the "
                         f"recording ({duration:.2f} s): are the marks of another recording?")
    onsets = [float(t) for t in table["onset_s"] if t is not None]
    s = score_beats(onsets, marks, tolerance_s=tolerance_s, span_s=marked_span(marks))
    hr, ref = result.get("heart_rate_bpm"), _rate(marks)
    s.update({"n_marks": len(marks), "first_mark_s": float(marks[0]),
              "last_mark_s": float(marks[-1]), "tolerance_s": tolerance_s,
              "heart_rate_bpm": hr, "reference_heart_rate_bpm": ref,
              "heart_rate_error_bpm": None if hr is None else hr - ref,
              "heart_rate_error_pct": None if hr is None else 100.0 * (hr / ref - 1.0)})
    return s


def _fmt(value, spec, unit=""):
    """``value`` formatted with ``spec`` and ``unit``, or "n/a" (the score reports)."""
    return "n/a" if value is None else f"{value:{spec}}{unit}"


def marked_span(marks_s):
    """The stretch a person marked, s: from half a median interval before the first of
    the sorted marks ``marks_s`` to half one after the last (a beat outside it has no
    mark to be matched to)."""
    marks = np.asarray(marks_s, float)
    half = 0.5 * float(np.median(np.diff(marks)))
    return float(marks[0]) - half, float(marks[-1]) + half


def format_marks_score(s):
    """The lines of :func:`score_marks` for the terminal (str)."""
    def ms(value):
        return None if value is None else 1e3 * value

    return "\n".join([
        f"marks         {s['n_marks']} beats marked from {s['first_mark_s']:.2f} to "
        f"{s['last_mark_s']:.2f} s",
        f"beats         {s['n_matched']} matched of {s['n_reference']} marked, "
        f"{s['n_detected']} found in the marked stretch; sensitivity "
        f"{_fmt(s['sensitivity'], '.0%')}, PPV {_fmt(s['ppv'], '.0%')} (within "
        f"{1e3 * s['tolerance_s']:.0f} ms)",
        f"timing        offset {1e3 * s['offset_s']:+.0f} ms (found minus marked), then onset "
        f"error {_fmt(ms(s['onset_error_s']), '.0f', ' ms')} and interval error "
        f"{_fmt(ms(s['rr_error_s']), '.0f', ' ms')} (medians)",
        *_unmatched("missed", "marks", s["missed_s"]),
        *_unmatched("extra", "beats found", s["extra_s"]),
        f"heart rate    {_fmt(s['heart_rate_bpm'], '.1f')} beats/min against the marks' "
        f"{_fmt(s['reference_heart_rate_bpm'], '.1f')} (error "
        f"{_fmt(s['heart_rate_error_bpm'], '+.2f', ' bpm')}, "
        f"{_fmt(s['heart_rate_error_pct'], '+.1f', '%')})"])


def _unmatched(label, what, times, most=12):
    """A line naming the unmatched ``times`` (the first ``most``), or none."""
    if not times:
        return []
    shown = ", ".join(f"{t:.2f}" for t in times[:most])
    more = f" and {len(times) - most} more" if len(times) > most else ""
    return [f"{label:<14}{len(times)} {what} unmatched, at {shown}{more} s"]
