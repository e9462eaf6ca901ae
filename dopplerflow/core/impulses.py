"""Impulses stage: clicks and probe taps, broadband for a few frames.

A tap on the probe, a cable's click or a valve's snap puts power into every bin at once
for a few milliseconds: the spectrum of the frames that hold it is raised over the whole
band.  Blood cannot do that: its spectrum reaches from the baseline to the maximum
velocity and stays there for tens of milliseconds or more.  A frame is *broadband* when,
in every searched direction, more than :data:`IMPULSE_FRACTION` of the in-band bins of
the upper half of the signal band stand :data:`IMPULSE_X` times above their noise floor
(noise alone does so in ``exp(-3)``, 5 %, of them: more than half of 32 bins once in
10**12 frames); with two directions, more than :data:`IMPULSE_FRACTION_BOTH` in each
(noise: more than 30 % of 32 bins once in 10**5 frames, on both sides at once once in
10**10; flow fills one side), once the noise floor is that of the first sub-window (the
warm-up's rough floor keeps the higher fraction).  The frames whose window holds only the
first or last milliseconds of a click under its tapered edge are raised over the whole
band, not as far: the lower fraction takes them in.  A run of broadband frames no longer
than :data:`IMPULSE_MAX_S`, after at least as long without one, is an impulse: its frames
are replaced, as they come, by the clean frames before it, so the impulse neither becomes a
flow peak nor enters the noise floor.  A longer broadband run is kept (after its first
frames) and not counted, and so are broadband frames that follow one another closer
(longer activity: a burst of noise the level is still following); a single frame short
of broadband inside a run does not end it.  With one direction, a run is counted only
when one of its frames also holds more than :data:`IMPULSE_FRACTION` of the top
quarter-band that far up (:func:`_top_fraction`): flow at a systolic peak can fill the
upper half-band past its middle, a click fills it to the top.

With two directions, a kept frame of a longer run is not read (:attr:`Impulses.bursts`)
where its two sides' power over their upper half-bands lies within :data:`BURST_BALANCE`:
noise over the whole band (a probe rubbing, a knock, a cable's crackle, the start of a loud
stretch) comes in on both channels alike, hides the flow under it, and read as flow stood at
the band's top, both ways; strong flow and its image, 12 dB or more under it, can both fill
their upper halves, unequally.  So are the run's later frames that hold a step of level or
dip just short of broadband, until one is broadband but not on both sides alike; a frame
taken for a step of level alone is read.  Their rows hold no velocity (NaN, as where samples
were lost: :class:`~.timeline.Timeline`), and events near them are marked
``affected_by_gap``.  The noise tracker leaves the level as it was over them, up to
:data:`~.noise.BURST_ADAPT_S` of them (then a new level).  With one direction such noise is
read: the heart sounds of a precordial recording are broadband too.

A step of level (flow that starts or stops at once against near-silence) does to the one
frame whose window holds it near its middle what a click does: the window cut at the step
leaks the loud half's power over the band, and where the flow is faint at the step, too
little to make the frame broadband, enough to lift the flow's edge by a few bins.  A frame
whose window's two halves differ in power by more than :data:`STEP_DB` holds a step
(:func:`steps`) and is taken as a broadband frame.  Noise alone keeps the halves (40
samples each at 8 kHz) within some 5 dB, and the flow of the bundled samples within 12 dB
(a mono artery's pulse).  A step up from near-silence parts them by 30 to 40 dB; a step
down by less (8 to 20 dB for flow 37 dB over the silence at 8 kHz), as the wall filter's
ringing after the flow stops fills the quiet half's first milliseconds: the frames of those
under :data:`STEP_DB` were broadband.

The noise tracker (:class:`~.noise.NoiseFloor`) runs the gate frame by frame with
:func:`_broadband_fraction`; :class:`Impulses` holds the settings and the count.  Its
numba kernels are at the end of this module.
"""

import math

import numpy as np
from numba import njit

from ._numba import _JIT_PURE

__all__ = ["Impulses", "IMPULSE_X", "IMPULSE_FRACTION", "IMPULSE_FRACTION_BOTH", "IMPULSE_MAX_S",
           "BURST_BALANCE", "STEP_DB", "STEP_X", "steps"]

#: A bin of a broadband frame stands this many times above its noise floor (noise alone
#: in ``exp(-3)``, 5 %, of the bins).
IMPULSE_X = 3.0
#: ... in more than this fraction of the in-band bins of the upper half of the band.
IMPULSE_FRACTION = 0.5
#: ... or, with two directions (both searched), in more than this fraction on each side.
IMPULSE_FRACTION_BOTH = 0.3
#: Longest run of broadband frames taken for an impulse: a click of 20 ms seen through a
#: 10 ms window and its hop, s.
IMPULSE_MAX_S = 0.03
#: A broadband frame of a run longer than an impulse is not read, with two directions,
#: where its two sides' power over their upper half-bands lies within this ratio (6 dB):
#: noise over the band (a probe rubbing, a cable's crackle) comes in on both channels
#: alike, where flow lies on one side and its image (an I/Q imbalance) 12 dB or more
#: under it.
BURST_BALANCE = 4.0
#: A frame whose window's halves differ by more than this in power holds a step of level,
#: dB (see the module's text).
STEP_DB = 15.0
#: ... as a ratio of powers.
STEP_X = 10.0 ** (STEP_DB / 10.0)


def steps(halves):
    """Which frames hold a step of level in their window.

    Parameters
    ----------
    halves : ndarray, shape (n_frames, 2), float32
        Power of the samples in each half of each frame's window
        (``spectrum.Framer.halves``).

    Returns
    -------
    ndarray, shape (n_frames,), bool
        True where one half holds more than :data:`STEP_X` times the other's power.
    """
    halves = np.ascontiguousarray(halves, np.float32)
    out = np.empty(halves.shape[0], np.bool_)
    _steps(halves, np.float32(STEP_X), out)
    return out


class Impulses:
    """Impulse settings for one stream and the impulses counted.

    Parameters
    ----------
    config : SpectralConfig

    Attributes
    ----------
    max_run : int
        Longest run of broadband frames replaced and counted as an impulse.
    count : int
        Impulses counted so far (set by the tracker).
    bursts : list of [int, int]
        ``[first, end)`` frame ranges of broadband noise not read (a run longer than an
        impulse; see the module's text), merged across a frame short of broadband.
    """

    def __init__(self, config):
        self.config = config
        self.max_run = max(1, int(math.ceil(IMPULSE_MAX_S / config.hop_s - 1e-9)))
        self.count = 0
        self.bursts = []

    def add_bursts(self, frames):
        """Add the frames (stream indices, ascending) of broadband noise not read."""
        for f in frames.tolist():
            if self.bursts and f <= self.bursts[-1][1] + 1:
                self.bursts[-1][1] = f + 1
            else:
                self.bursts.append([f, f + 1])

    def burst_spans_s(self):
        """Start and end, s, of each range of :attr:`bursts`: from half a hop before its
        first frame's centre to half a hop after its last's."""
        cfg = self.config
        return [(cfg.t0_s + (a - 0.5) * cfg.hop_s, cfg.t0_s + (b - 0.5) * cfg.hop_s)
                for a, b in self.bursts]

    def warning(self):
        """The result's warning about the impulses found, or None."""
        if not self.count:
            return None
        return (f"{self.count} impulse(s) (clicks, probe taps: broadband for up to "
                f"{IMPULSE_MAX_S * 1e3:.0f} ms) left out of the spectrum")

    def burst_warning(self):
        """The result's warning about the broadband noise not read, or None."""
        if not self.bursts:
            return None
        spans = self.burst_spans_s()
        total = sum(b - a for a, b in spans)
        return (f"{len(spans)} stretch(es) of broadband noise ({1e3 * total:.0f} ms in all, "
                f"first at {spans[0][0]:.3f} s; a probe rubbing or knocked, a cable's "
                f"crackle: over the whole band on both channels alike, longer than a click) "
                f"hide the flow under them and were not read; events near them are marked "
                f"affected_by_gap")


# --------------------------------------------------------------------------- kernels
@njit(**_JIT_PURE)
def _outward_run(st, sp, cnt, j0, top):
    """A direction's bins ``j0 .. top`` (outward indices; none past its ``cnt`` bins) as
    one ascending run ``k0 .. k1`` (``k1 < k0``: none)."""
    j1 = min(top, cnt - 1)
    if j1 < j0:
        return 0, -1
    if sp > 0:
        return st + sp * j0, st + sp * j1
    return st + sp * j1, st + sp * j0


@njit(**_JIT_PURE)
def _upper_run(st, sp, cnt, top):
    """The bins of a direction's upper half-band (outward ``(top + 1) // 2 .. top``) as
    one ascending run ``k0 .. k1`` (``k1 < k0``: none)."""
    return _outward_run(st, sp, cnt, (top + 1) // 2, top)


@njit(**_JIT_PURE)
def _upper_count(inb, st, sp, cnt, top):
    """The in-band bins (``inb`` 1.0) of a direction's upper half-band (:func:`_upper_run`):
    the count :func:`_broadband_fraction` divides by, taken once for each band."""
    k0, k1 = _upper_run(st, sp, cnt, top)
    n = 0
    for k in range(k0, k1 + 1):
        n += 1 if inb[k] > 0.0 else 0
    return n


@njit(**_JIT_PURE)
def _broadband_fraction(p, vinv, n_in, level, st, sp, cnt, top, x):
    """Fraction of the in-band bins of a direction's upper half-band above ``x`` times
    their noise floor.

    Parameters
    ----------
    p : ndarray, shape (n_fft,), float32
        One frame's power spectrum.
    vinv : ndarray, shape (n_fft,), float32
        Inverse of each bin's noise shape on the bins in the band, 0 on the others (not
        counted): ``p * vinv`` has the mean ``level`` in noise.
    n_in : int
        The in-band bins of the upper half-band (:func:`_upper_count`).
    level : float
        Noise level of the whitened spectrum, above 0.
    st, sp, cnt : int
        The direction's first searched bin, outward step and number of bins.
    top : int
        Outward index of the band's top bin in this direction.
    x : float
        :data:`IMPULSE_X`.

    Returns
    -------
    float
        The fraction, or -1.0 when the upper half-band holds no bin in the band.
    """
    if n_in <= 0:
        return -1.0
    k0, k1 = _upper_run(st, sp, cnt, top)
    # every bin of the upper half-band, as one run (the loop vectorises); a bin out of
    # the band is 0 (or NaN) whitened, never above the limit
    lim = np.float32(x * level)
    pp = p[k0:k1 + 1]
    vv = vinv[k0:k1 + 1]
    above = 0
    for k in range(pp.shape[0]):
        above += 1 if pp[k] * vv[k] > lim else 0
    return above / n_in


@njit(**_JIT_PURE)
def _top_fraction(p, vinv, inb, level, st, sp, cnt, top, x):
    """Fraction of the in-band bins of a direction's top quarter-band (outward ``(3 * top
    + 3) // 4 .. top``) above ``x`` times their noise floor; -1.0 when it holds no bin in
    the band.  Arguments as :func:`_broadband_fraction`'s, ``inb`` 1.0 on the band's
    bins."""
    k0, k1 = _outward_run(st, sp, cnt, (3 * top + 3) // 4, top)
    lim = np.float32(x * level)
    n = 0
    above = 0
    for k in range(k0, k1 + 1):  # (a bin out of the band is 0 whitened: never above)
        n += 1 if inb[k] > 0.0 else 0
        above += 1 if p[k] * vinv[k] > lim else 0
    return above / n if n > 0 else -1.0


@njit(**_JIT_PURE)
def _steps(halves, x, out):
    """``out[i]``: whether one half of frame ``i``'s window holds more than ``x`` (float32,
    above 1) times the other's power (:func:`steps`), in one pass without temporary arrays.

    For powers (at or above 0) the same test as ``maximum(a, b) > x * minimum(a, b)`` in
    float32, the same products, and False too where a half is NaN.
    """
    for i in range(halves.shape[0]):
        a = halves[i, 0]
        b = halves[i, 1]
        out[i] = a > x * b or b > x * a
