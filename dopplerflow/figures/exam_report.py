"""The HTML page of an examination (``dopplerflow exam``), self-contained.

One page that opens in any browser without a network (figures embedded as base64
PNG, the style sheet inline): the disclaimers, the examination, Zamboni's criteria
with the recordings and figures that decide each, the leg reflux map, a table of the
recordings, and each recording's verdict, events, beats (when the analysis has them),
warnings and a small sonogram.  It builds on :mod:`dopplerflow.figures.report`.
"""

import base64
import datetime
import io
import math

from ..core import verdict
from .report import (
    _BEAT_FIGURES,
    _CSS,
    _EVENT_HEADER,
    _SIGNALS,
    DISCLAIMER,
    _e,
    _episodes_unassessed,
    _event_rows,
    _number,
    _table,
    _yes,
)

__all__ = ["render_exam", "SONOGRAM_DPI"]

#: Resolution of the small sonograms (8 x 2.6 in: 800 x 260 pixels), shown at their
#: pixel size (never stretched: :data:`_EXTRA_CSS`).
SONOGRAM_DPI = 100
_STATUS_CLASS = {"met": "reflux", "not met": "none", "not assessed": "na",
                 "reflux": "reflux", "competent": "none"}
_EXTRA_CSS = """
td.met,td.reflux{background:#fbe3d6;color:#8a3300;font-weight:600}
td.none{background:#e3f1fb;color:#0b3d91}td.na{background:#eee;color:#333}
.ccsvi-status{background:#f4f4f4;border-left:5px solid #777;padding:.6em 1em}
section.recording{border-top:1px solid #ddd;margin-top:1.5em}
main img{width:auto;max-width:100%}
"""
#: The first beats' table: (per-beat column, header, decimals; None: yes or no).
_BEAT_COLUMNS = (("onset_s", "onset (s)", 3), ("rr_s", "interval (s)", 3),
                 ("psv_cm_s", "PSV (cm/s)", 1), ("edv_cm_s", "EDV (cm/s)", 1),
                 ("ri", "RI", 2), ("pi", "PI", 2), ("clean", "clean", None))


def _png(fig, dpi):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return data


def _img(data, alt):
    return f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}">'


def _sonogram(analysis):
    """A small sonogram of one recording, as an ``<img>`` (the trace when no spectrogram
    was kept)."""
    fig, alt = _sonogram_figure(analysis)
    return _img(_png(fig, SONOGRAM_DPI), alt)


def _sonogram_figure(analysis):
    """The small sonogram (8 x 2.6 in) and its alternative text; its velocity axis has the
    short label (:func:`~.plots._velocity_label`, ``compact``) that its height holds."""
    from . import plots

    with plots.style():
        fig = plots._new_figure((8, 2.6))
        ax = fig.add_subplot()
        if analysis.spectrogram is not None:
            plots.sonogram(analysis, ax=ax, colorbar=False, legend=False, title="",
                           doppler_axis=False)
            alt = "Sonogram"
        else:
            plots.velocity_trace(analysis, ax=ax, legend=False, title="")
            alt = "Velocity trace"
        ax.set_ylabel(plots._velocity_label(analysis, compact=True))
    return fig, alt


def _leg_figure(cells):
    """The leg map's bars (:func:`_leg_plot`) as an ``<img>``; "" where no cell has a
    longest retrograde flow."""
    fig = _leg_plot(cells)
    return "" if fig is None else _img(_png(fig, SONOGRAM_DPI), "Leg reflux map")


def _leg_plot(cells):
    """Bars of the longest retrograde flow per vein and side, each with its threshold, and
    a key of the colours (each status shown) and of the threshold's tick; None where no
    cell has a longest retrograde flow."""
    from . import plots

    shown = [c for c in cells if c.longest_retrograde_s is not None]
    if not shown:
        return None
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    colors = {"reflux": plots.REFLUX_COLOR, "competent": plots.TRACE_COLOR}
    with plots.style():
        fig = plots._new_figure((8, 0.45 * len(shown) + 1.8))
        ax = fig.add_subplot()
        y = range(len(shown))
        ax.barh(list(y), [c.longest_retrograde_s for c in shown], height=0.6,
                color=[colors.get(c.status, plots.NO_FLOW_COLOR) for c in shown])
        for i, c in enumerate(shown):
            ax.plot([c.threshold_s] * 2, [i - 0.4, i + 0.4], color="black", linewidth=2)
        ax.set_yticks(list(y), [f"{c.vein} {c.side}" for c in shown])
        ax.invert_yaxis()
        ax.set_xlabel("longest retrograde flow (s)")
        # the colour key: the statuses shown, and the threshold's tick
        statuses = list(dict.fromkeys(c.status for c in shown))
        key = [Patch(color=colors.get(st, plots.NO_FLOW_COLOR), label=st) for st in statuses]
        key.append(Line2D([], [], color="black", linewidth=2, label="threshold"))
        ax.legend(handles=key, loc="lower left", bbox_to_anchor=(0.0, 1.01),
                  ncols=len(key), frameon=False, borderaxespad=0.0)
    return fig


def _evidence(criterion, items):
    names = {it.recording.index: it.recording.file for it in items}
    parts = []
    for ev in criterion.evidence:
        rec = ev["recording"]
        who = f'<a href="#rec-{rec}">#{rec} {_e(names.get(rec, ""))}</a>, ' if rec else ""
        text = f"{who}{_e(ev['what'])}: {_e(ev['value'])}"
        parts.append(f"<li><strong>{text}</strong></li>" if ev["decides"] else
                     f"<li>{text}</li>")
    return "<ul>" + "".join(parts) + "</ul>" if parts else "\u2014"


def _ccsvi(exam):
    result = exam.ccsvi
    if result is None:
        return ""
    rows = []
    for c in result.criteria:
        cls = _STATUS_CLASS[c.status]
        rows.append([f"<td>{c.number}</td>", f"<td>{_e(c.title)}</td>",
                     f"<td>{_e(c.rule)}</td>", f'<td class="{cls}">{_e(c.status)}</td>',
                     f"<td>{_e(c.reason)}{_evidence(c, exam.items)}</td>"])
    kind = {True: "reflux", False: "none", None: "na"}[result.ccsvi]
    from ..study.exam import CCSVI_STATUS

    return "\n".join([
        '<h2 id="ccsvi-title">Zamboni\'s criteria (CCSVI)</h2>',
        f'<p class="ccsvi-status" id="ccsvi-status">{_e(CCSVI_STATUS)}</p>',
        _table(rows, table_id="ccsvi", header=("#", "criterion", "operational rule",
                                               "status", "decided by")),
        f'<p class="verdict {kind}" id="ccsvi-count">{_e(result.conclusion)}</p>',
    ])


def _legs(exam):
    if not exam.legs:
        return ""
    rows = []
    for c in exam.legs:
        cls = _STATUS_CLASS.get(c.status, "na")
        longest = _seconds(None if c.status == "no flow" else c.longest_retrograde_s)
        recs = ", ".join(f'<a href="#rec-{i}">#{i}</a>' for i in c.recordings) or "\u2014"
        rows.append([f"<td>{_e(c.vein)}</td>", f"<td>{_e(c.side)}</td>",
                     f'<td class="num">{longest}</td>', f'<td class="num">{c.threshold_s:g}</td>',
                     f'<td class="{cls}">{_e(c.status)}</td>', f"<td>{recs}</td>"])
    return "\n".join([
        '<h2 id="legs-title">Leg reflux map</h2>',
        "<p>Longest retrograde flow of each vein and side, over all its recordings, against "
        "the threshold of Labropoulos et al. (2003).</p>",
        _table(rows, table_id="leg-map", header=("vein", "side", "longest retrograde (s)",
                                                 "threshold (s)", "status", "recordings")),
        _leg_figure(exam.legs),
    ])


def _seconds(value):
    """A longest retrograde flow as a cell: "—" where the recording cannot tell, or holds
    no flow to tell it in."""
    return "\u2014" if value is None else f"{value:.2f}"


def _overview(exam):
    rows = []
    for it in exam.items:
        r, a = it.recording, it.analysis
        kind, sentence = verdict.verdict_sentence(a)
        rows.append([f'<td><a href="#rec-{r.index}">#{r.index}</a></td>',
                     f"<td>{_e(r.file)}</td>", f"<td>{_e(r.vessel)}</td>",
                     f"<td>{_e(r.side or '')}</td>", f"<td>{_e(r.posture)}</td>",
                     f"<td>{_e(r.manoeuvre)}</td>",
                     f'<td class="num">{_seconds(_longest(it))}</td>',
                     f'<td class="{kind}">{_e(sentence)}</td>'])
    return _table(rows, table_id="recordings", header=(
        "#", "file", "vessel", "side", "posture", "manoeuvre", "longest retrograde (s)",
        "verdict"))


def _longest(item):
    """The longest retrograde flow of an examination's recording, s; None where it cannot
    tell, and where it found no flow (no retrograde flow was there to be timed)."""
    return None if item.analysis.flow_detected is False else item.longest_retrograde_s


def _beats(analysis):
    """The heart rate, the indices (medians over the clean beats) and the first beats,
    when the analysis found a periodic pulse (:class:`~dopplerflow.core.beats.Beats`);
    the figures are rounded as the report rounds them, the beats' columns named as
    people name them."""
    beats = analysis.beats
    if beats is None or analysis.heart_rate_bpm is None:
        return ""
    sm = beats.summary
    out = [f"<p>Heart rate: {analysis.heart_rate_bpm:.0f} beats/min "
           f"({sm['n_clean']} clean beats of {sm['n_beats']}, read on "
           f"{_e(_SIGNALS.get(sm['signal'], sm['signal']))}).</p>"]
    out.append(_table([[f"<th>{_e(label + (f', {unit}' if unit else ''))}</th>",
                        f'<td class="num">{_number(sm.get(k), d)}</td>']
                       for k, label, unit, d in _BEAT_FIGURES]))
    n = len(beats.onset_s)
    rows = [[_beat_cell(_value(getattr(beats, k)[i]), d) for k, _, d in _BEAT_COLUMNS]
            for i in range(min(n, 50))]
    more = f"<p>First 50 of {n} beats.</p>" if n > 50 else ""
    out.append(f"<h4>Beats</h4>{_table(rows, header=[h for _, h, _ in _BEAT_COLUMNS])}{more}")
    return "\n".join(out)


def _value(v):
    """A numpy value as a Python one; a value not defined (NaN, infinite: the RI of a beat
    without systolic flow) as None, as the JSON gives it."""
    v = v.item() if hasattr(v, "item") else v
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _beat_cell(v, decimals):
    """A cell of the beats' table: a number to ``decimals`` places ("—" for none), or yes
    or no (``decimals`` None)."""
    if decimals is None:
        return f"<td>{_yes(v)}</td>"
    return '<td class="num">{}</td>'.format("\u2014" if v is None else f"{v:.{decimals}f}")


def _recording(item):
    r, a = item.recording, item.analysis
    kind, sentence = verdict.verdict_sentence(a)
    sm = a.summary
    peak = ("" if not a.flow_detected else
            f", peak {'antegrade' if a.direction_available else 'speed'} "
            f"{sm.peak_antegrade_velocity_cm_s:.1f} cm/s")
    facts = (f"{verdict.length_phrase(a)}, {a.sample_rate_hz:g} Hz, layout {a.settings.layout}; "
             f"{verdict.vessel_phrase(a.settings, a.direction_available)}; flow in "
             f"{100 * sm.flow_fraction:.0f}% of frames{peak}")
    events = []
    for name, got in (("Reflux events", a.reflux_events),
                      ("Shorter retrograde episodes", a.episodes)):
        if got:
            events += [f"<p>{name}:</p>", _table(_event_rows(got), header=_EVENT_HEADER)]
    if not events:
        # none listed: none there, or (mono, too short, two vessels ...) none to be told
        why = _episodes_unassessed(a)
        events = [f"<p>Retrograde flow not assessable: {_e(why)}.</p>" if why else
                  "<p>No retrograde flow.</p>"]
    warnings = ("<ul class=\"warnings\">" + "".join(f"<li>{_e(w)}</li>" for w in a.warnings)
                + "</ul>" if a.warnings else "")
    label = f" \u2014 {_e(r.label)}" if r.label else ""
    vessel = " ".join(_e(x) for x in (r.vessel, r.side) if x)
    return "\n".join([
        f'<section class="recording" id="rec-{r.index}">',
        f"<h3>#{r.index} {vessel}, {_e(r.posture)}, "
        f"{_e(r.manoeuvre)}: {_e(r.file)}{label}</h3>",
        f'<p class="verdict {kind}">{_e(sentence)}</p>',
        f"<p>{_e(facts)}.</p>", f"<figure>{_sonogram(a)}</figure>",
        *events,
        _beats(a), warnings, "</section>"])


def render_exam(exam, *, title=None):
    """The examination's page as one HTML string.

    Parameters
    ----------
    exam : dopplerflow.study.exam.Exam
        Ideally analysed with spectrograms (the sonograms; else the traces).
    title : str, optional
        Default: the manifest's title, else "Examination ID".

    Returns
    -------
    str
    """
    from .. import __version__

    info = exam.manifest.exam
    title = title or info.get("title") or f"Examination {info['id']}"
    facts = [[f"<th>{_e(k)}</th>", f"<td>{_e(v)}</td>"] for k, v in info.items()]
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    body = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="disclaimer" id="disclaimer">{_e(DISCLAIMER)}</p>',
        '<h2 id="exam-title">Examination</h2>', _table(facts, table_id="exam"),
        _ccsvi(exam), _legs(exam),
        '<h2 id="recordings-title">Recordings</h2>', _overview(exam),
        *[_recording(it) for it in exam.items],
    ]
    footer = f"<footer><p>dopplerflow {_e(__version__)}, {_e(when)}. {_e(DISCLAIMER)}</p></footer>"
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>", f"<style>{_CSS}{_EXTRA_CSS}</style>", "</head>",
        "<body>", "<main>", *[b for b in body if b], "</main>", footer, "</body>",
        "</html>"]) + "\n"
