"""A self-contained HTML report of one analysed recording.

``dopplerflow report FILE [analysis flags] -o report.html`` writes one HTML page
that opens in any browser without a network: the figures are embedded as
base64 PNG, the style sheet is inline, nothing is fetched.  The page holds the
verdict, the facts of the recording, the sonogram and velocity trace, the
table of reflux events and of shorter retrograde episodes, the warnings, the
settings, and the research-use disclaimer.
"""

import base64
import datetime
import html
import io
import os

from ..core import verdict
from ..errors import SettingsError

__all__ = ["write_report", "render_report", "DISCLAIMER"]

#: Shown at the top and the bottom of every report.
DISCLAIMER = (
    "dopplerflow is a research and teaching tool, not a medical device: its results must "
    "not be used to diagnose or to decide treatment. CCSVI is contested: the venous "
    "criteria of Zamboni (2009) have not been confirmed by later controlled studies.")
#: Resolution of the embedded figure, dots per inch (13 x 8.5 in: 1430 x 935 pixels).
REPORT_DPI = 110

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1200px;
margin:1.5em auto;padding:0 1em;color:#1d1d1d;line-height:1.45}
h1{font-size:1.55em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;
border-bottom:1px solid #ddd;padding-bottom:.2em}
.disclaimer{background:#fff4e5;border-left:5px solid #D55E00;padding:.6em 1em}
.verdict{font-size:1.25em;font-weight:600;padding:.5em 1em;border-radius:4px}
.verdict.reflux{background:#fbe3d6;color:#8a3300}.verdict.none{background:#e3f1fb;color:#0b3d91}
.verdict.na{background:#eee;color:#333}
table{border-collapse:collapse;margin:.4em 0}
th,td{border:1px solid #d6d6d6;padding:.25em .7em;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f3f3f3}
img{max-width:100%;height:auto;border:1px solid #e0e0e0}
.warnings li{color:#8a3300}
footer{margin-top:2.5em;font-size:.9em;color:#555}
"""


def _e(x):
    return html.escape(str(x), quote=True)


def _fmt(value, unit="", digits=2):
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}{(' ' + unit) if unit else ''}"
    return f"{value}{(' ' + unit) if unit else ''}"


def _table(rows, *, table_id=None, header=None):
    """An HTML table from ``rows`` of already-escaped cells."""
    out = [f'<table id="{table_id}">' if table_id else "<table>"]
    if header:
        out.append("<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header)
                   + "</tr></thead>")
    out.append("<tbody>")
    for row in rows:
        out.append("<tr>" + "".join(row) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _facts(analysis):
    a, s, sm = analysis, analysis.settings, analysis.summary
    th = "<th>{}</th>".format
    td = "<td>{}</td>".format
    rows = [
        ("file", os.path.basename(a.file) if a.file else "(array)"),
        ("duration", _fmt(a.duration_s, "s")),
        ("sample rate", _fmt(a.sample_rate_hz, "Hz", 0)),
        ("channels / layout", f"{a.n_channels} / {s.layout}{' (inverted)' if s.invert else ''}"),
        ("carrier, angle, sound speed", f"{s.carrier_hz / 1e6:g} MHz, {s.angle_deg:g}\u00b0, "
                                        f"{s.sound_speed_m_s:g} m/s"),
        ("1 kHz of Doppler shift", _fmt(1e3 * a.velocity_per_hz_cm_s, "cm/s", 1)),
        ("vessel", s.vessel or "(not given)"),
        ("reflux threshold", _fmt(s.threshold_s, "s", 2) if s.threshold_s else "no rule"),
        ("direction available", _fmt(a.direction_available)),
        ("antegrade (relative to the probe)",
         f"{a.antegrade} ({'chosen: more time-integrated flow' if a.antegrade_source == 'auto' else a.antegrade_source})"  # noqa: E501
         if a.antegrade else "\u2014"),
        ("flow detected", f"{_fmt(a.flow_detected)} ({100 * sm.flow_fraction:.0f}% "
                          f"of frames)"),
        ("peak antegrade velocity" if a.direction_available else "peak speed",
         _fmt(sm.peak_antegrade_velocity_cm_s, "cm/s", 1)),
        ("peak retrograde velocity", _fmt(sm.peak_retrograde_velocity_cm_s, "cm/s", 1)),
        ("reflux events", str(len(a.reflux_events))),
        ("longest reflux", _fmt(sm.longest_reflux_s, "s")),
        ("noise floor", _fmt(sm.noise_floor_dbfs, "dBFS", 1)),
        ("velocity resolution (one bin)", _fmt(sm.velocity_resolution_cm_s, "cm/s")),
    ]
    return _table([[th(_e(k)), td(_e(v))] for k, v in rows], table_id="facts")


def _event_rows(events):
    td = '<td class="num">{}</td>'.format
    rows = []
    for i, ev in enumerate(events, 1):
        rows.append([td(i), td(f"{ev.start_s:.3f}"), td(f"{ev.end_s:.3f}"),
                     td(f"{ev.duration_s:.3f}"), td(f"{ev.peak_velocity_cm_s:.1f}"),
                     td(f"{ev.mean_velocity_cm_s:.1f}"),
                     f"<td>{'samples lost' if ev.affected_by_gap else ''}</td>"])
    return rows


_EVENT_HEADER = ("#", "start (s)", "end (s)", "duration (s)", "peak velocity (cm/s)",
                 "mean velocity (cm/s)", "note")


def _events(analysis):
    s = analysis.settings
    out = ['<h2 id="events-title">Reflux events</h2>']
    if analysis.reflux is None:
        out.append(f"<p>Not assessable: {verdict.not_assessable_reason(analysis)}.</p>")
    elif analysis.reflux_events:
        out.append(f"<p>Retrograde flow lasting longer than {s.threshold_s:g} s.</p>")
        out.append(_table(_event_rows(analysis.reflux_events), table_id="reflux-events",
                          header=_EVENT_HEADER))
    else:
        out.append("<p>None.</p>")
    out.append('<h2 id="episodes-title">Shorter retrograde episodes</h2>')
    if analysis.episodes:
        what = (f"no longer than the {s.threshold_s:g} s threshold (e.g. normal valve "
                f"closure)" if s.threshold_s else "(this vessel has no reflux rule)")
        out.append(f"<p>Retrograde flow {_e(what)}; not reflux.</p>")
        out.append(_table(_event_rows(analysis.episodes), table_id="retrograde-episodes",
                          header=_EVENT_HEADER))
    else:
        out.append("<p>None.</p>")
    return "\n".join(out)


def _settings(analysis):
    d = analysis.settings.to_dict()
    def show(v):
        if isinstance(v, float):
            return f"{v:g}"
        return "\u2014" if v is None else str(v)

    rows = [[f"<th>{_e(k)}</th>", f"<td>{_e(show(v))}</td>"] for k, v in d.items()]
    return _table(rows, table_id="settings")


def _figure_png(analysis):
    """The analysis figure (or the trace alone without a spectrogram) as PNG bytes."""
    from . import plots

    if analysis.spectrogram is not None:
        fig = plots.analysis_figure(analysis)
        alt = "Sonogram and velocity trace"
    else:
        fig = plots.velocity_trace(analysis)
        alt = "Velocity trace (no spectrogram was kept)"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=REPORT_DPI)
    return buf.getvalue(), alt


def render_report(analysis, *, title=None):
    """The report as one HTML string.

    Parameters
    ----------
    analysis : Analysis
        Ideally from ``analyze(..., keep_spectrogram=True)``; without a
        spectrogram the report shows the velocity trace alone.
    title : str, optional
        Page title; by default the file name.

    Returns
    -------
    str
        A complete HTML5 document with every resource inline.
    """
    from .. import __version__

    name = os.path.basename(analysis.file) if analysis.file else "audio"
    title = title or f"dopplerflow report: {name}"
    png, alt = _figure_png(analysis)
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
        "</header>",
        "<main>",
        f'<p class="verdict {kind}" id="verdict">{_e(sentence)}</p>',
        '<h2 id="facts-title">Recording</h2>',
        _facts(analysis),
        '<h2 id="figure-title">Sonogram and velocity trace</h2>',
        f"<figure>{img}<figcaption>Antegrade flow is drawn up, retrograde down. Vermilion: "
        "reflux events (duration written on); blue: shorter retrograde episodes; "
        "grey (trace): no flow detected.</figcaption></figure>",
        _events(analysis),
        '<h2 id="warnings-title">Warnings</h2>',
        warnings,
        '<h2 id="settings-title">Settings</h2>',
        _settings(analysis),
        "</main>",
        "<footer>",
        f"<p>dopplerflow {_e(__version__)}, {_e(when)}. {_e(DISCLAIMER)}</p>",
        "</footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(analysis, path, *, title=None):
    """Write the HTML report of an analysis.

    Parameters
    ----------
    analysis : Analysis
    path : str or os.PathLike
        Output file, ending in .html or .htm.
    title : str, optional

    Raises
    ------
    SettingsError
        ``path`` does not end in .html or .htm.
    """
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in (".html", ".htm"):
        raise SettingsError(f"report '{os.fspath(path)}' must be an .html file "
                            f"(e.g. -o report.html)")
    from ..core.io import atomic_output

    page = render_report(analysis, title=title)
    with atomic_output(path, encoding="utf-8") as fh:
        fh.write(page)
