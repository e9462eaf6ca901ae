"""Channel layouts: how a recording's channels become one complex baseband.

Whatever the device writes, the pipeline sees ``z = c0 + j c1`` in which a
positive frequency is flow **toward** the probe (the sign convention of the whole
package, `docs/how-it-works.md`):

=============  =============================================================
layout         channels
=============  =============================================================
``iq``         left I, right Q: ``z = L + jR``
``qi``         left Q, right I: ``z = R + jL``
``toward-away`` left the toward-probe audio, right the away audio; unpacked
               in the spectrum as ``analytic(toward) + conj(analytic(away))``
``away-toward`` the same, channels swapped
``mono``       one channel: speed without direction
``offset``     one channel, heterodyne: the zero-velocity line sits at
               ``offset_hz``; mixed down to ``z = x exp(-2j pi offset_hz t)``
=============  =============================================================

``invert`` flips toward and away, for devices with the opposite quadrature
convention.  ``auto`` (:data:`LAYOUT_CHOICES`) is no layout of its own: the layout
is chosen from what the channels hold before the analysis starts
(:mod:`~dopplerflow.core.layout_check`).
"""

from dataclasses import dataclass

from ..errors import LayoutError, SettingsError, option

__all__ = ["LAYOUTS", "LAYOUT_CHOICES", "ChannelMap", "channel_map"]

LAYOUTS = ("iq", "qi", "toward-away", "away-toward", "mono", "offset")
#: What a layout setting takes: a layout, or ``auto`` (chosen from the recording).
LAYOUT_CHOICES = LAYOUTS + ("auto",)
_TWO = ("iq", "qi", "toward-away", "away-toward")


@dataclass(frozen=True)
class ChannelMap:
    """How the raw channels feed the complex input of the spectrum.

    Attributes
    ----------
    i0, i1 : int
        0-based channel indices of ``c0`` and ``c1``; ``i1 = -1`` for none.
    sign1 : float
        +1 or -1 applied to ``c1``.
    separated : bool
        ``c0``/``c1`` are separate toward/away audio channels.
    mix_hz : float
        Heterodyne frequency removed from ``c0`` (``offset`` layout), else 0.
    direction_available : bool
        False for ``mono``: the spectrum cannot tell toward from away.
    """

    i0: int
    i1: int
    sign1: float
    separated: bool
    mix_hz: float
    direction_available: bool


def _pick(n_channels, channels, needed, layout):
    """Resolve the user's 1-based channel choice into 0-based indices."""
    if channels is None:
        if n_channels == needed:
            return tuple(range(needed))
        if n_channels > 2:
            pick = ("--channels 1,2", "channels=(1, 2)") if needed == 2 else \
                ("--channels 1", "channels=(1,)")
            raise LayoutError(
                f"input has {n_channels} channels; choose the {needed} to analyse with "
                f"--channels, e.g. {option(*pick)}")
        if needed == 2:
            mono, offset = _layout_option("mono"), _layout_option("offset")
            raise LayoutError(
                f"input has {n_channels} channel; layout '{layout}' needs 2: use {mono}, which "
                f"cannot tell flow direction, or {offset} for a heterodyne recording")
        raise LayoutError(
            f"input has {n_channels} channels; layout '{layout}' needs 1: pick one channel "
            f"with {option('--channels N', 'channels=(N,)')}, or read the direction two "
            f"channels carry with {_layout_option('iq')}, qi, toward-away or away-toward")
    chosen = tuple(int(c) for c in channels)
    for c in chosen:  # a channel that is not there first: no count of them would help
        if not 1 <= c <= n_channels:
            raise LayoutError(
                f"channel {c} does not exist; the input has {n_channels} channel(s), "
                f"numbered 1 to {n_channels}")
    if len(chosen) != needed:
        named = option(f"--channels {','.join(map(str, chosen))}", f"channels={chosen}")
        raise SettingsError(f"{len(chosen)} channel(s) named, {named}; layout '{layout}' needs "
                            f"{needed}")
    return tuple(c - 1 for c in chosen)


def _layout_option(layout):
    """``--layout L (Python: layout='L')``."""
    return option(f"--layout {layout}", f"layout={layout!r}")


def channel_map(layout, n_channels, *, channels=None, invert=False, offset_hz=None):
    """Describe how ``n_channels`` raw channels become the complex baseband.

    Parameters
    ----------
    layout : str
        One of :data:`LAYOUTS`.
    n_channels : int
        Channels in the input.
    channels : sequence of int, optional
        1-based channel numbers to use (required when the input has more than
        the layout needs).
    invert : bool
        Swap toward and away.
    offset_hz : float, optional
        Zero-velocity frequency of the ``offset`` layout.

    Returns
    -------
    ChannelMap

    Raises
    ------
    SettingsError
        Unknown layout, or a channel choice of the wrong length.
    LayoutError
        The input's channel count does not fit the layout.
    """
    if layout == "auto":
        raise SettingsError("layout 'auto' is chosen from a recording before its analysis "
                            "(analyze() of a file or an array); a stream analysed as it "
                            "arrives needs its layout, e.g. 'iq'")
    if layout not in LAYOUTS:
        raise SettingsError(f"layout '{layout}' is not known; use one of {', '.join(LAYOUTS)}")
    if layout in _TWO:
        i0, i1 = _pick(n_channels, channels, 2, layout)
        if layout in ("qi", "away-toward"):
            i0, i1 = i1, i0
        separated = layout in ("toward-away", "away-toward")
        if invert and separated:
            i0, i1 = i1, i0
        sign1 = -1.0 if invert and not separated else 1.0
        return ChannelMap(i0, i1, sign1, separated, 0.0, True)
    (i0,) = _pick(n_channels, channels, 1, layout)
    if layout == "mono":
        return ChannelMap(i0, -1, 1.0, False, 0.0, False)
    if offset_hz is None:
        raise SettingsError(f"layout 'offset' needs {option('--offset-hz HZ', 'offset_hz=HZ')}, "
                            f"the zero-velocity frequency")
    # mixing down by +offset puts toward at +f; inverting mixes the mirror image instead
    return ChannelMap(i0, -1, 1.0, False, float(offset_hz), True) if not invert else \
        ChannelMap(i0, -1, -1.0, False, float(offset_hz), True)
