"""Teaching figures: the physics and the rules behind a Doppler reflux study.

``dopplerflow explain --out-dir DIR`` writes each figure, and its caption once,
as text beside it, in ``DIR/captions.md`` and ``DIR/index.html`` (the figures
that :func:`teaching_figure` returns carry their caption under the plots):

``doppler_equation``
    Doppler shift against insonation angle for several velocities, and the
    velocity error a 5 degree angle error causes.
``iq_direction``
    How quadrature (I/Q) audio encodes direction: the rotating phasor and the
    two-sided spectrum (toward = +f, away = -f).
``wall_filter``
    What the wall (clutter) filter removes: the spectrum before and after.
``reflux_vs_closure``
    Reflux against normal valve closure on the same axes, with the thresholds
    of Zamboni (2009) and Labropoulos (2003).
``snr_envelope``
    The effect of the signal-to-noise ratio on the maximum-velocity envelope.

Every builder (:mod:`.teaching`, :mod:`.teaching_reflux`) returns a
:class:`matplotlib.figure.Figure` (no pyplot), so the figures also show inline in
Jupyter.  The signals are simulated with :mod:`dopplerflow.sim.synth` and analysed
with :func:`dopplerflow.analyze`, the same code that analyses recordings.
"""

import html
import os

from ..errors import DopplerflowError, SettingsError
from . import teaching, teaching_reflux

__all__ = ["FIGURES", "teaching_figure", "doppler_equation_figure", "iq_direction_figure",
           "wall_filter_figure", "reflux_vs_closure_figure", "snr_envelope_figure",
           "write_figures"]

# ------------------------------------------------------------------------------ public
#: name -> (title, builder returning (Figure, caption)).
FIGURES = {
    "doppler_equation": ("The Doppler equation and the angle", teaching.doppler_equation),
    "iq_direction": ("How I/Q audio encodes flow direction", teaching.iq_direction),
    "wall_filter": ("What the wall filter removes", teaching.wall_filter),
    "reflux_vs_closure": ("Reflux against normal valve closure",
                          teaching_reflux.reflux_vs_closure),
    "snr_envelope": ("Noise and the velocity envelope", teaching_reflux.snr_envelope),
}


def teaching_figure(name, *, with_caption=True):
    """Build one teaching figure.

    Parameters
    ----------
    name : str
        One of :data:`FIGURES`.
    with_caption : bool
        Write the caption under the plots (False: the plots alone, for a page
        that shows the caption as text).

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure.
    caption : str
        The caption as plain text.

    Raises
    ------
    SettingsError
        Unknown name.
    """
    if name not in FIGURES:
        raise SettingsError(f"teaching figure '{name}' is not known; use one of "
                            f"{', '.join(FIGURES)}")
    from . import plots

    with plots.style():
        return FIGURES[name][1](with_caption=with_caption)


def doppler_equation_figure():
    """Doppler shift against angle and the velocity error of a 5 degree angle error."""
    return teaching_figure("doppler_equation")[0]


def iq_direction_figure():
    """I/Q signals, the rotating phasor and the two-sided spectrum (toward = +f)."""
    return teaching_figure("iq_direction")[0]


def wall_filter_figure():
    """Spectrum of a simulated recording before and after the wall filter, and its response."""
    return teaching_figure("wall_filter")[0]


def reflux_vs_closure_figure():
    """Reflux and normal valve closure on the same axes, with the vessel thresholds."""
    return teaching_figure("reflux_vs_closure")[0]


def snr_envelope_figure():
    """Sonograms of one simulated vein at four SNRs with the true velocity."""
    return teaching_figure("snr_envelope")[0]


def write_figures(out_dir, *, names=None, fmt="png", dpi=150, progress=None):
    """Write teaching figures and their captions (captions.md, index.html) to a folder.

    The figures are drawn without the caption, which the two pages show once, as
    text, under each figure.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Created if missing.
    names : sequence of str, optional
        Which figures (default all, in :data:`FIGURES` order).
    fmt : {'png', 'svg', 'pdf'}
    dpi : float
        Resolution of raster output.
    progress : callable, optional
        Called with the fraction of the figures written (0-1).

    Returns
    -------
    list of str
        Paths written (figures, then captions.md and index.html).

    Raises
    ------
    SettingsError
        Unknown figure name or format.
    DopplerflowError
        ``out_dir`` exists and is not a folder, or cannot be made.
    """
    from . import plots

    names = list(FIGURES) if names is None else list(names)
    for name in names:
        if name not in FIGURES:
            raise SettingsError(f"teaching figure '{name}' is not known; use one of "
                                f"{', '.join(FIGURES)}")
    plots.check_format(f"x.{fmt}")
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise DopplerflowError(f"{out_dir} exists and is not a folder; give a folder for "
                               f"--out-dir")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise DopplerflowError(f"the folder {out_dir} cannot be made ({exc.strerror or exc}); "
                               f"give a folder that can be written") from None
    written, entries = [], []
    for name in names:
        fig, caption = teaching_figure(name, with_caption=False)
        path = os.path.join(out_dir, f"{name}.{fmt}")
        plots.save_figure(fig, path, dpi=dpi)
        written.append(path)
        entries.append((name, FIGURES[name][0], f"{name}.{fmt}", caption))
        if progress is not None:
            progress(len(written) / len(names))
    written += _write_index(out_dir, entries, fmt)
    return written


def _write_index(out_dir, entries, fmt):
    from .. import __version__

    md = ["# dopplerflow teaching figures", ""]
    for i, (_, title, file, caption) in enumerate(entries, 1):
        md += [f"## {i}. {title}", "", f"![{title}]({file})", "", caption, ""]
    md_path = os.path.join(out_dir, "captions.md")
    with open(md_path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(md))
    body = []
    for i, (name, title, file, caption) in enumerate(entries, 1):
        e = html.escape
        media = (f'<img src="{e(file)}" alt="{e(title)}">' if fmt in ("png", "svg")
                 else f'<a href="{e(file)}">{e(file)}</a>')
        body.append(f'<figure id="{e(name)}">\n<h2>{i}. {e(title)}</h2>\n{media}\n'
                    f"<figcaption>{e(caption)}</figcaption>\n</figure>")
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>dopplerflow teaching figures</title>\n<style>\n"
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
        "color:#222}\nimg{max-width:100%;border:1px solid #ddd}\n"
        "figcaption{margin:.5em 0 2.5em;line-height:1.45}\n</style>\n</head>\n<body>\n"
        "<h1>dopplerflow teaching figures</h1>\n"
        "<p>dopplerflow is a research and teaching tool, not a medical device.</p>\n"
        + "\n".join(body)
        + f"\n<footer><p>dopplerflow {html.escape(__version__)}</p></footer>\n"
        "</body>\n</html>\n")
    html_path = os.path.join(out_dir, "index.html")
    with open(html_path, "w", encoding="utf-8") as fh:
        fh.write(page)
    return [md_path, html_path]
