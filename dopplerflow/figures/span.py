"""A span of an analysis, as the figures draw it.

A figure of a long recording shows all of it: a sonogram whose columns pool seconds of
frames, thousands of beats too close to mark.  ``span=(start_s, end_s)`` draws a part of
it instead.  :func:`span_view` gives the figures an
:class:`~dopplerflow.core.result.Analysis` that holds only the span's rows of the trace,
its spectra, and the events and beats that reach into it; its verdicts, summary and
warnings stay the whole recording's.

The spectra are those the analysis kept: all of a short recording's frames, pooled
groups of a long one's (:mod:`dopplerflow.core.sonogram`), or every frame of a span
asked for at analysis time (``analyze(..., keep_spectrogram=(start_s, end_s))``, which
``--plot-span`` does).  A figure of an analysis that kept a span's spectra alone draws
that span unless told another.
"""

import dataclasses

import numpy as np

from ..core.sonogram import check_span
from ..errors import SettingsError
from .image import spectrogram_rows
from .units import tidy

__all__ = ["span_view", "kept_span"]


def _hop(analysis):
    """The hop, s: the summary's, or the trace's step (0.0 with neither)."""
    t = analysis.trace.time_s
    return analysis.summary.hop_s or (float(t[1] - t[0]) if len(t) > 1 else 0.0)


def _row_edges(analysis, hop):
    """Where each spectrogram row begins and ends, s (its frames' first and last, each half
    a hop wide), the frames a row holds, and each row's time
    (:func:`~.image.spectrogram_rows`)."""
    t, step = spectrogram_rows(analysis)
    # every row holds `step` frames but the last; with step > 1 the first row is whole
    first = t[0] - (step - 1) / 2.0 * hop if len(t) else 0.0
    left = first - hop / 2.0 + np.arange(len(t)) * step * hop
    return left, left + step * hop, step, t


def kept_span(analysis):
    """``(start_s, end_s)`` of the spectra an analysis kept when they are a span of it
    alone (``keep_spectrogram=(start_s, end_s)``); None when they cover the trace (or no
    spectrogram or no trace was kept)."""
    tr = analysis.trace
    if analysis.spectrogram is None or not len(analysis.spectrogram) or not len(tr):
        return None
    hop = _hop(analysis)
    left, right, step, _ = _row_edges(analysis, hop)
    start, end = left[0], right[-1]
    if start <= tr.time_s[0] and end >= tr.time_s[-1] - (step - 1) * hop:
        return None
    return float(max(start, 0.0)), float(min(end, analysis.duration_s))


def span_view(analysis, span=None, *, spectra=True):
    """The analysis as the figures draw ``span`` of it.

    Parameters
    ----------
    analysis : Analysis
    span : (float, float), optional
        Start and end, s from the first sample; an end past the recording's is its end.
        None: the whole recording, or the span the spectra were kept for
        (:func:`kept_span`).
    spectra : bool
        The view holds the span's spectra; False: no spectra (a figure of the trace
        alone, which any span of the trace can give, and which draws the whole trace
        by default).

    Returns
    -------
    view : Analysis
        ``analysis`` itself when the whole is drawn; otherwise a copy that holds the
        trace's rows and the spectrogram's rows over the span (whole pooled rows: the
        rows of both begin at the same frame), the reflux events and retrograde episodes
        that reach into it (cut to it, their durations whole) and the beats that reach
        into it.
    limits : (float, float) or None
        The time axis's limits, s (None: the whole).

    Raises
    ------
    SettingsError
        A span that is no ``(start, end)`` with ``0 <= start < end``, one that starts
        after the recording's end, or one the spectra kept do not cover (or spectra kept
        for a span outside the recording).
    """
    duration = float(analysis.duration_s)
    if span is not None:
        start, end = check_span(span)
        if start >= duration:
            raise SettingsError(f"the span {start:g}-{end:g} s starts after the recording's "
                                f"end ({duration:.2f} s); give a span within it")
    if not spectra:
        if span is None:
            return analysis, None
        analysis = dataclasses.replace(analysis, spectrogram=None)
    spec = analysis.spectrogram
    if spec is not None and not len(spec) and len(analysis.trace):
        raise SettingsError(f"the spectra kept hold no frame of the recording (0-"
                            f"{tidy(duration, 2)} s): the span they were kept for lies "
                            f"outside it; analyse with keep_spectrogram=True, or a span "
                            f"within it")
    if span is None:
        span = kept_span(analysis)
        if span is None:
            return analysis, None
        start, end = span
    end = min(end, duration)
    tr = analysis.trace
    hop = _hop(analysis)
    changes = {}
    if analysis.spectrogram is not None and analysis.freqs_hz is not None:
        left, right, step, times = _row_edges(analysis, hop)
        # the rows whose frames reach into the span
        k0 = int(np.searchsorted(right, start, side="right"))
        k1 = int(np.searchsorted(left, end, side="left"))
        covered = k1 > k0 and left[k0] <= start + hop and right[k1 - 1] >= end - hop
        if not covered:
            kept = kept_span(analysis) or (0.0, duration)
            raise SettingsError(f"the spectra kept cover {tidy(kept[0], 2)}-{tidy(kept[1], 2)} "
                                f"s, not the span {start:g}-{end:g} s; analyse with "
                                f"keep_spectrogram=({start:g}, {end:g})")
        changes.update(spectrogram=analysis.spectrogram[k0:k1],
                       spectrogram_time_s=times[k0:k1])
        # the trace's rows those spectra hold: the figures pool both on one grid
        i0 = int(round((left[k0] + hop / 2.0 - tr.time_s[0]) / hop)) if len(tr) else 0
        rows = slice(max(i0, 0), max(i0 + (k1 - k0) * step, 0))
    else:
        rows = slice(int(np.searchsorted(tr.time_s, start - hop / 2.0)),
                     int(np.searchsorted(tr.time_s, end + hop / 2.0)))
    changes["trace"] = dataclasses.replace(
        tr, **{c: np.asarray(getattr(tr, c))[rows] for c in type(tr).COLUMNS})
    changes["reflux_events"] = _cut(analysis.reflux_events, start, end)
    changes["episodes"] = _cut(analysis.episodes, start, end)
    if analysis.beats is not None and len(analysis.beats):
        changes["beats"] = _beats_in(analysis.beats, start, end)
    return dataclasses.replace(analysis, **changes), (start, end)


def _cut(events, start, end):
    """The events that reach into ``start``-``end``, cut to it (``duration_s`` whole: a
    label still gives the event's duration)."""
    return [dataclasses.replace(e, start_s=max(e.start_s, start), end_s=min(e.end_s, end))
            for e in events if e.end_s > start and e.start_s < end]


def _beats_in(beats, start, end):
    """The beats that reach into ``start``-``end``: an onset before its end, and an end
    (the next onset) after its start (the last beat, without one: its onset)."""
    onset = np.asarray(beats.onset_s, float)
    rr = np.asarray(beats.rr_s, float)
    until = np.where(np.isfinite(rr), onset + rr, onset)
    keep = (onset < end) & (until > start)
    return dataclasses.replace(beats, **{c: np.asarray(getattr(beats, c))[keep]
                                         for c in type(beats).COLUMNS})
