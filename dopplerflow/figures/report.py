"""A self-contained HTML report of one analysed recording.

``dopplerflow report FILE [analysis flags] -o report.html`` writes one HTML page
that opens in any browser without a network: the figures are embedded as
base64 PNG, the style sheet is inline, nothing is fetched.  The page holds the
verdict; the recording and the results side by side; the sonogram and
velocity trace across the page (with the beats marked), under a caption built from
the marks the figure draws; the beats (heart rate and the recording's indices, or why
there is none); the tables of reflux events and of shorter retrograde episodes ("not
assessable" where the recording cannot tell them); a long recording's longest reflux
events drawn close up on the trace; the warnings and the settings
(worded as a person would write them); and the research-use disclaimer.  Two
columns on a wide screen, one on a narrow one.
"""

import base64
import dataclasses
import datetime
import html
import io
import os

from ..core import verdict
from ..core.io import display_name
from ..core.vessels import VESSELS
from ..errors import SettingsError
from .image import second_vessel_side
from .units import tidy

__all__ = ["write_report", "render_report", "DISCLAIMER"]

#: Shown at the top and the bottom of every report.
DISCLAIMER = (
    "dopplerflow is a research and teaching tool, not a medical device: its results must "
    "not be used to diagnose or to decide treatment. CCSVI is contested: the venous "
    "criteria of Zamboni (2009) have not been confirmed by later controlled studies.")
#: Resolution of the embedded figure, dots per inch (13 x 8.5 in: 1430 x 935 pixels, drawn
#: across the page).
REPORT_DPI = 110

_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1500px;
margin:1.2em auto;padding:0 1.5em;color:#1d1d1d;line-height:1.45}
h1{font-size:1.55em;margin:.2em 0}h2{font-size:1.2em;margin:1.2em 0 .4em;
border-bottom:1px solid #ddd;padding-bottom:.2em}
.disclaimer{background:#fff4e5;border-left:5px solid #D55E00;padding:.6em 1em;margin:.6em 0}
.verdict{font-size:1.25em;font-weight:600;padding:.5em 1em;border-radius:4px;margin:.6em 0}
.verdict.reflux{background:#fbe3d6;color:#8a3300}.verdict.none{background:#e3f1fb;color:#0b3d91}
.verdict.na{background:#eee;color:#333}
.grid{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:0 2.5em}
.grid>.wide{grid-column:1/-1}
@media (max-width:900px){.grid{grid-template-columns:minmax(0,1fr)}}
table{border-collapse:collapse;margin:.4em 0;width:100%}
th,td{border:1px solid #d6d6d6;padding:.25em .7em;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.pairs th{width:40%;font-weight:600}
th{background:#f3f3f3}
figure{margin:.4em 0}
img{width:100%;height:auto;border:1px solid #e0e0e0}
.closeups{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,520px),1fr));
gap:.3em 1.5em}
figcaption{font-size:.95em;color:#444;margin-top:.3em}
.warnings li{color:#8a3300}
.scroll{overflow-x:auto}
footer{margin-top:2em;font-size:.9em;color:#555}
"""

#: How each layout carries the direction of flow, as the settings table words it.
_LAYOUT_WORDS = {
    "iq": "I/Q quadrature (left channel I, right Q)",
    "qi": "I/Q quadrature (left channel Q, right I)",
    "toward-away": "separate channels (left toward the probe, right away)",
    "away-toward": "separate channels (left away from the probe, right toward)",
    "mono": "mono (speed only, no direction)",
    "offset": "mono heterodyne (zero velocity at an offset frequency)",
}
_PROBE = verdict.PROBE_WORDS


def _e(x):
    return html.escape(str(x), quote=True)


def _q(value, unit, decimals):
    """A quantity with its unit, tidily rounded; a dash for None."""
    return "\u2014" if value is None else f"{tidy(value, decimals)} {unit}"


def _number(value, decimals):
    """A number tidily rounded, without its unit; a dash for None."""
    return "\u2014" if value is None else tidy(value, decimals)


def _assumed(analysis, field):
    """A geometry setting's note where it was not given: every velocity scales with it."""
    if not verdict.default_mark(analysis, field):
        return ""
    return " (the default, not given: every velocity scales with it)"


def _yes(flag):
    return "yes" if flag else "no"


def _table(rows, *, table_id=None, header=None, cls=None):
    """An HTML table from ``rows`` of already-escaped cells."""
    attrs = (f' id="{table_id}"' if table_id else "") + (f' class="{cls}"' if cls else "")
    out = [f"<table{attrs}>"]
    if header:
        out.append("<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header)
                   + "</tr></thead>")
    out.append("<tbody>")
    for row in rows:
        out.append("<tr>" + "".join(row) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _pairs(rows, table_id):
    """A two-column table of (name, value) pairs, both plain text."""
    return _table([[f"<th>{_e(k)}</th>", f"<td>{_e(v)}</td>"] for k, v in rows],
                  table_id=table_id, cls="pairs")


def _recording(analysis):
    """The recording as it came: file, length, rate, channels and what they carry."""
    a, s = analysis, analysis.settings
    layout = f"{s.layout}: {_LAYOUT_WORDS.get(s.layout, s.layout)}"
    if s.layout == "offset" and s.offset_hz is not None:
        layout += f", {tidy(s.offset_hz, 1)} Hz"
    rows = [
        ("file", display_name(os.path.basename(a.file)) if a.file else "(array)"),
        ("duration", verdict.length_phrase(a)),
        ("sample rate", _q(a.sample_rate_hz, "Hz", 1)),
        ("channels", str(a.n_channels) + (f" (used: {', '.join(map(str, s.channels))})"
                                          if s.channels else "")),
        ("layout", layout),
        ("flow direction", "available" if a.direction_available
         else "not available (mono: speed only)"),
    ]
    check = a.layout_check or {}
    if check.get("chosen_by"):
        rows.insert(5, ("layout chosen", verdict.layout_phrase(a)))
    elif check.get("finding") and not check["fits"]:
        rows.insert(5, ("channel check", f"{check['finding']}: the layout does not fit (see "
                                         f"the warnings)"))
    return _pairs(rows, "facts")


def _results(analysis):
    """What the analysis found, apart from the event tables."""
    a, sm = analysis, analysis.summary
    found = (f"not assessable: {verdict.flow_unassessed(a)}" if a.flow_detected is None
             else _yes(a.flow_detected))
    rows = [("flow detected", f"{found} (in {100 * sm.flow_fraction:.0f}% of the frames)")]
    if a.direction_available and a.antegrade:
        how = ("chosen: more time-integrated flow" if a.antegrade_source == "auto"
               else "given")
        rows.append(("antegrade direction", f"{_PROBE[a.antegrade]} ({how})"))
    unassessed = "not assessable"
    if a.reflux is None:
        reflux = longest = unassessed
    elif a.settings.threshold_s is None:
        reflux, longest = "none: no reflux rule for this vessel", "\u2014"
    else:
        reflux, longest = str(len(a.reflux_events)), verdict.longest_reflux(a) or "\u2014"
    rows += [
        ("peak antegrade velocity" if a.direction_available else "peak speed",
         _q(sm.peak_antegrade_velocity_cm_s, "cm/s", 1)),
        ("peak retrograde velocity", _q(sm.peak_retrograde_velocity_cm_s, "cm/s", 1)
         if a.direction_available else unassessed),
        ("reflux events", reflux),
        ("longest reflux", longest),
        ("shorter retrograde episodes",
         unassessed if _episodes_unassessed(a) else str(len(a.episodes))),
    ]
    sv = a.second_vessel
    if sv:
        where = _PROBE.get(sv.get("direction"), "direction not known")
        rows.append(("second vessel in the beam",
                     f"flowing {where}, from {sv.get('from_s') or 0.0:.2f} s"))
    rows += [("noise floor", _q(sm.noise_floor_dbfs, "dBFS", 1)),
             ("slowest flow seen", _q(a.velocity_floor_cm_s, "cm/s", 1))]
    return _pairs(rows, "results")


def _event_rows(events):
    td = '<td class="num">{}</td>'.format
    rows = []
    for i, ev in enumerate(events, 1):
        rows.append([td(i), td(f"{ev.start_s:.3f}"), td(f"{ev.end_s:.3f}"),
                     td(f"{ev.duration_s:.3f}"), td(f"{ev.peak_velocity_cm_s:.1f}"),
                     td(f"{ev.mean_velocity_cm_s:.1f}"),
                     f"<td>{_e(_event_note(ev))}</td>"])
    return rows


def _event_note(ev):
    """What the event's row notes: samples lost in it, the recording ending in it."""
    notes = ["samples lost"] if ev.affected_by_gap else []
    if ev.cut_by_end:
        notes.append("cut by the end: lasted at least this long")
    return "; ".join(notes)


_EVENT_HEADER = ("#", "start (s)", "end (s)", "duration (s)", "peak (cm/s)", "mean (cm/s)",
                 "note")


def _events(analysis):
    """The reflux events, as a section."""
    s = analysis.settings
    out = ['<section><h2 id="events-title">Reflux events</h2>']
    if analysis.reflux is None:
        out.append(f"<p>Not assessable: {_e(verdict.not_assessable_reason(analysis))}.</p>")
    elif analysis.reflux_events:
        out.append(f"<p>Retrograde flow lasting longer than {s.threshold_s:g} s.</p>")
        out.append(_table(_event_rows(analysis.reflux_events), table_id="reflux-events",
                          header=_EVENT_HEADER))
    else:
        out.append("<p>None.</p>")
    return "\n".join(out + ["</section>"])


def _episodes_unassessed(analysis):
    """Why the shorter retrograde episodes cannot be told, as a clause; None where they
    can (the list, even empty, is what the recording holds).

    Where reflux is not assessable and no episode is listed, the empty list says nothing
    of the vessel: a mono recording has no direction, two vessels flowing opposite ways
    leave no retrograde flow that is the vein's alone, a span too short to judge holds
    none (:func:`verdict.not_assessable_reason` says which).  "0" or "None" there would
    read as a false "none", which the reflux rows never say either.
    """
    if analysis.episodes or (analysis.direction_available and analysis.reflux is not None):
        return None
    return verdict.not_assessable_reason(analysis)


def _episodes(analysis):
    """The shorter retrograde episodes, as a section."""
    s = analysis.settings
    out = ['<section><h2 id="episodes-title">Shorter retrograde episodes</h2>']
    why = _episodes_unassessed(analysis)
    if why:
        out.append(f"<p>Not assessable: {_e(why)}.</p>")
    elif analysis.episodes:
        what = (f"no longer than the {s.threshold_s:g} s threshold (e.g. normal valve "
                f"closure)" if s.threshold_s else "(this vessel has no reflux rule)")
        out.append(f"<p>Retrograde flow {_e(what)}; not reflux.</p>")
        out.append(_table(_event_rows(analysis.episodes), table_id="retrograde-episodes",
                          header=_EVENT_HEADER))
    else:
        out.append("<p>None.</p>")
    return "\n".join(out + ["</section>"])


#: The recording's figures of the beats section: (key of the beats summary, heading,
#: unit, decimals).
_BEAT_FIGURES = (("psv_cm_s", "PSV", "cm/s", 1), ("edv_cm_s", "EDV", "cm/s", 1),
                 ("tamv_cm_s", "TAMV", "cm/s", 1), ("tav_cm_s", "TAV", "cm/s", 1),
                 ("ri", "RI", "", 2), ("pi", "PI", "", 2), ("sd_ratio", "S/D", "", 1),
                 ("acceleration_time_s", "acceleration time", "s", 3))
_SIGNALS = {"max_envelope": "the maximum velocity", "band_power": "the band power"}


def _beats(analysis):
    """The beats, as a section across the page: the heart rate and how many beats it is
    taken over, then the recording's indices (medians over the clean beats); without
    beats, why none were found (:func:`verdict.no_pulse_reason`)."""
    out = ['<section class="wide"><h2 id="beats-title">Beats</h2>']
    b = analysis.beats
    why = verdict.no_pulse_reason(analysis)
    if why:
        out.append(f"<p>Heart rate not measured: {_e(why)}.</p>")
        return "\n".join(out + ["</section>"])
    s = b.summary
    found = (f"{verdict.beat_count(b)}, read on {_SIGNALS[b.signal]} "
             f"(periodicity {b.periodicity:.2f})")
    if s["heart_rate_bpm"] is None:
        out.append(f"<p>Heart rate not measured: {_e(verdict.no_rate_reason(b))}. {_e(found)}.</p>")
        return "\n".join(out + ["</section>"])
    out.append(f'<p id="heart-rate">Heart rate <b>{_q(s["heart_rate_bpm"], "beats/min", 1)}'
               f'</b> (interquartile range {_q(s["heart_rate_iqr_bpm"], "beats/min", 1)}); '
               f"{_e(found)}. Medians over the clean beats"
               + (" (speeds: a mono recording has no direction)"
                  if not analysis.direction_available else "") + ":</p>")
    head = [label + (f" ({unit})" if unit else "") for _, label, unit, _ in _BEAT_FIGURES]
    num = '<td class="num">{}</td>'.format
    cells = [num(_number(s.get(k), d)) for k, _, _, d in _BEAT_FIGURES]
    if "reverse_flow_share" in s:
        head += ["reverse flow (%)", "waveform"]
        share = s["reverse_flow_share"]
        cells += [num(_number(None if share is None else 100 * share, 0)),
                  f"<td>{_e(s['phasicity'] or chr(0x2014))}</td>"]
    resp = s.get("respiratory_phasicity")
    if "respiratory_phasicity" in s:
        head.append("respiratory phasicity")
        cells.append(f"<td>{_e(resp['call'] if resp else 'not measured')}</td>")
    out.append('<div class="scroll">' + _table([cells], table_id="beats", header=head)
               + "</div>")
    return "\n".join(out + ["</section>"])


def _settings(analysis):
    """The settings in force, worded as a person would write them."""
    a, s, sm = analysis, analysis.settings, analysis.summary
    thr = s.threshold_s
    if thr is None:
        rule = "none (an artery: retrograde phases are listed, never called reflux)"
    elif s.reflux_threshold_s is not None:
        rule = f"{thr:g} s (set by the user)"
    elif s.vessel is None:
        rule = f"{thr:g} s (the default; no vessel given)"
    else:
        rule = f"{thr:g} s ({VESSELS[s.vessel][1]})"
    vessel = f"{s.vessel} ({VESSELS[s.vessel][1].split(',')[0]})" if s.vessel else "not given"
    if not a.direction_available:
        antegrade = "none (a mono recording has no flow direction)"
    elif s.antegrade != "auto":
        antegrade = f"{_PROBE[s.antegrade]} (given)"
    elif a.antegrade is None:
        antegrade = "not known (no flow to choose it from)"
    else:
        antegrade = f"{_PROBE[a.antegrade]} (chosen from the recording: auto)"
    rows = [
        ("carrier", _q(s.carrier_hz / 1e6, "MHz", 3) + _assumed(a, "carrier_hz")),
        ("beam-to-flow angle", f"{tidy(s.angle_deg, 1)}\u00b0" + _assumed(a, "angle_deg")),
        ("speed of sound", _q(s.sound_speed_m_s, "m/s", 0)),
        ("1 kHz of Doppler shift", _q(1e3 * a.velocity_per_hz_cm_s, "cm/s", 1)),
        ("vessel", vessel),
        ("reflux threshold", rule),
        ("antegrade direction", antegrade),
        ("channels inverted", _yes(s.invert)),
        ("spectrum", f"{tidy(1e3 * s.analysis_window_s, 1)} ms window, "
                     f"{tidy(1e3 * s.hop_s, 1)} ms hop, {s.average_frames} frame(s) averaged"),
    ]
    if sm.bin_hz:
        rows.append(("frequency bins", f"{sm.bin_hz:.4g} Hz = "
                                       f"{_q(sm.velocity_resolution_cm_s, 'cm/s', 2)}"))
    rows += [
        ("wall filter", f"{tidy(s.wall_hz, 1)} Hz high-pass "
                        f"({_q(s.wall_hz * a.velocity_per_hz_cm_s, 'cm/s', 1)})"),
        ("maximum-velocity estimator", s.envelope),
        ("mains hum removal", f"{tidy(s.hum_hz, 0)} Hz" if s.hum_hz else "off"),
    ]
    sidecar = verdict.sidecar_phrase(a)
    if sidecar:
        rows.insert(0, ("settings", sidecar))
    return _pairs(rows, "settings")


def _figure_png(analysis, span=None):
    """The analysis figure (or the trace alone without a spectrogram) of ``span`` of the
    recording (None: all of it) as PNG bytes, its alternative text and its caption
    (:func:`_caption`)."""
    from . import plots
    from .span import span_view

    limits = span_view(analysis, span)[1]
    if analysis.spectrogram is not None:
        fig = plots.analysis_figure(analysis, span=limits)
        alt = "Sonogram and velocity trace"
    else:
        fig = plots.velocity_trace(analysis, span=limits)
        alt = "Velocity trace (no spectrogram was kept)"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=REPORT_DPI)
    return buf.getvalue(), alt, _caption(analysis, _drawn(fig), limits)


#: A report of a recording this long or longer (s) draws its longest reflux events close
#: up, at most this many: on the whole recording's figure an event is a narrow band.
CLOSEUP_FROM_S, CLOSEUP_EVENTS = 60.0, 6
#: Size of a close-up, inches (drawn at :data:`REPORT_DPI`, two across a wide page).
_CLOSEUP_SIZE = (7.0, 3.0)


def _closeup_spans(analysis):
    """The reflux events a report draws close up: ``[(number in the table, (start_s,
    end_s) drawn), ...]`` in time order; none for a recording under
    :data:`CLOSEUP_FROM_S` (its figure shows each event's edges) or without its trace.
    The longest :data:`CLOSEUP_EVENTS`, each from a second (or half its duration, if
    more) before its start to as long after its end."""
    events = analysis.reflux_events
    if (analysis.duration_s < CLOSEUP_FROM_S or not events
            or not getattr(analysis, "trace_kept", True)):
        return []
    longest = sorted(range(len(events)), key=lambda i: -events[i].duration_s)
    out = []
    for i in sorted(longest[:CLOSEUP_EVENTS]):
        ev = events[i]
        pad = max(1.0, 0.5 * ev.duration_s)
        out.append((i + 1, (max(0.0, ev.start_s - pad), min(analysis.duration_s,
                                                           ev.end_s + pad))))
    return out


def _closeups(analysis):
    """The section of the reflux events drawn close up (:func:`_closeup_spans`): each on the
    velocity trace, titled with its number in the table, its times and its duration, under
    one caption; an empty string where there are none."""
    from . import plots

    spans = _closeup_spans(analysis)
    if not spans:
        return ""
    figures, drawn = [], set()
    for number, span in spans:
        ev = analysis.reflux_events[number - 1]
        with plots.style():
            fig = plots._new_figure(_CLOSEUP_SIZE)
            plots.velocity_trace(analysis, ax=fig.add_subplot(), legend=False, span=span,
                                 title=f"#{number}: {ev.start_s:.2f}-{ev.end_s:.2f} s, "
                                       f"{ev.duration_s:.2f} s")
        drawn |= _drawn(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=REPORT_DPI)
        img = base64.b64encode(buf.getvalue()).decode("ascii")
        figures.append(f'<img src="data:image/png;base64,{img}" alt="Velocity trace around '
                       f'reflux event {number}">')
    n = len(analysis.reflux_events)
    which = (f"The {len(spans)} longest reflux events of {n}" if n > len(spans)
             else "Each reflux event")
    caption = (f"{which}, numbered as in the table, on the velocity trace from a second (or "
               f"half its duration) before its start to as long after its end. "
               + _caption(dataclasses.replace(analysis, spectrogram=None), drawn))
    return "\n".join(['<section class="wide"><h2 id="closeups-title">Reflux events close '
                      'up</h2>', f'<figure><div class="closeups">{"".join(figures)}</div>',
                      f"<figcaption>{_e(caption)}</figcaption></figure>", "</section>"])


def _drawn(fig):
    """The ``gid`` of every mark ``fig`` draws something for (:mod:`.marks`): a line or a
    collection counts only with points in it."""
    drawn = set()
    for ax in fig.axes:
        for artist in ax.get_children():
            gid = artist.get_gid()
            if not gid:
                continue
            if hasattr(artist, "get_xdata"):
                if not len(artist.get_xdata()):
                    continue
            elif hasattr(artist, "get_paths") and not len(artist.get_paths()):
                continue
            drawn.add(gid)
    return drawn


def _caption(analysis, drawn, limits=None):
    """The figure's caption: a sentence for each kind of mark in ``drawn`` (gids,
    :func:`_drawn`), so that it names only what the figure shows; ``limits``: the span
    drawn (None: the whole recording)."""
    thr = analysis.settings.threshold_s
    out = []
    if limits is not None:
        out.append(f"The figure shows {tidy(limits[0], 2)}-{tidy(limits[1], 2)} s of the "
                   f"{tidy(analysis.duration_s, 2)} s recording; the verdict and the tables "
                   f"cover all of it.")
    out.append("Antegrade flow is drawn up, retrograde down." if analysis.direction_available
               else "Speed is drawn up from 0, without a direction: a mono recording cannot "
                    "tell antegrade from retrograde flow.")
    if "reflux-event" in drawn:
        out.append(f"Vermilion: reflux events, retrograde flow longer than {thr:g} s "
                   f"(duration written on).")
    if "retrograde-episode" in drawn:
        out.append("Blue: shorter retrograde episodes, not reflux." if thr else
                   "Blue: retrograde phases (this vessel has no reflux rule).")
    if analysis.spectrogram is not None:
        out.append("Dark grey band (sonogram): the wall filter's band, not searched for flow.")
    if "no-flow" in drawn:
        out.append("Grey (trace): no flow detected.")
    if "second-vessel" in drawn:
        out.append("Yellow, dotted: where a second vessel's flow begins (its spectrum is "
                   "drawn, its flow left out of the trace)." if second_vessel_side(analysis)
                   else "Yellow, dotted: from where two vessels flow opposite ways.")
    if drawn & {"beat-onsets", "beat-onsets-rejected"}:
        rejected = "beat-onsets-rejected" in drawn
        hollow = bool(drawn & {"beat-psv-rejected", "beat-edv-rejected"})
        out.append("Thin lines (trace): beat onsets"
                   + (", grey and dashed where a beat is not clean" if rejected else "")
                   + ("; orange and purple triangles: each beat's PSV and EDV"
                      + (", hollow where not clean" if hollow else "")
                      if drawn & {"beat-psv", "beat-psv-rejected"} else "") + ".")
        why = verdict.no_rate_reason(analysis.beats)
        if why:
            out.append(f"No heart rate is given ({why}): the marks are the beats found, "
                       f"not a measured rate.")
    if "heart-rate" in drawn:
        from .plots import RATE_MEDIAN_BEATS

        out.append(f"Bottom panel: the heart rate of each clean beat (60 s over its interval) "
                   f"as a dot at its onset, their running median over {RATE_MEDIAN_BEATS} "
                   f"beats as a line, the recording's median dashed.")
    if "beats-unmarked" in drawn:
        out.append("The beats are not marked: at this scale they stand too close together "
                   "(a report of a span of the recording marks them: --plot-span).")
    if "left-out" in drawn:
        out.append("Faint line: the rows left out of the PSV and the peak speed (the top of a "
                   "click or of a faint transient over slower flow, a tonal line); the "
                   "envelope's line breaks there.")
    if "beyond-axis" in drawn:
        out.append("Black triangles at the trace's edge: where it runs beyond the axis (the "
                   "axis leaves out the few frames a click fills).")
    return " ".join(out)


def render_report(analysis, *, title=None, span=None):
    """The report as one HTML string.

    Parameters
    ----------
    analysis : Analysis
        Ideally from ``analyze(..., keep_spectrogram=True)``; without a
        spectrogram the report shows the velocity trace alone.
    title : str, optional
        Page title; by default the file name.
    span : (float, float), optional
        The span of the recording the figure draws (:mod:`.span`); by default all of
        it.  The tables and the verdict cover the whole recording.

    Returns
    -------
    str
        A complete HTML5 document with every resource inline.
    """
    from .. import __version__

    name = display_name(os.path.basename(analysis.file)) if analysis.file else "audio"
    title = title or f"dopplerflow report: {name}"
    png, alt, caption = _figure_png(analysis, span)
    img = (f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" '
           f'alt="{_e(alt)}">')
    kind, sentence = verdict.verdict_sentence(analysis)
    warnings = ("<ul class=\"warnings\">" + "".join(f"<li>{_e(w)}</li>"
                                                   for w in analysis.warnings) + "</ul>"
                if analysis.warnings else "<p>None.</p>")
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="disclaimer" id="disclaimer">{_e(DISCLAIMER)}</p>',
        f'<p class="verdict {kind}" id="verdict">{_e(sentence)}</p>',
        "</header>",
        '<main class="grid">',
        '<section><h2 id="facts-title">Recording</h2>',
        _recording(analysis),
        "</section>",
        '<section><h2 id="results-title">Results</h2>',
        _results(analysis),
        "</section>",
        '<section class="wide"><h2 id="figure-title">Sonogram and velocity trace</h2>',
        f"<figure>{img}<figcaption>{_e(caption)}</figcaption></figure>",
        "</section>",
        _beats(analysis),
        _events(analysis),
        _episodes(analysis),
        _closeups(analysis),
        '<section><h2 id="warnings-title">Warnings</h2>',
        warnings,
        "</section>",
        '<section><h2 id="settings-title">Settings</h2>',
        _settings(analysis),
        "</section>",
        "</main>",
        "<footer>",
        f"<p>dopplerflow {_e(__version__)}, {_e(when)}. {_e(DISCLAIMER)}</p>",
        "</footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(analysis, path, *, title=None, span=None):
    """Write the HTML report of an analysis.

    Parameters
    ----------
    analysis : Analysis
    path : str or os.PathLike
        Output file, ending in .html or .htm.
    title : str, optional
    span : (float, float), optional
        The span the figure draws (:func:`render_report`).

    Raises
    ------
    SettingsError
        ``path`` does not end in .html or .htm, or a bad span.
    """
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in (".html", ".htm"):
        raise SettingsError(f"report '{os.fspath(path)}' must be an .html file "
                            f"(e.g. -o report.html)")
    from ..core.io import atomic_output

    page = render_report(analysis, title=title, span=span)
    with atomic_output(path, encoding="utf-8") as fh:
        fh.write(page)
