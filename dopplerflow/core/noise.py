"""Noise stage: the per-bin noise floor the detection and the envelopes work against.

:class:`NoiseFloor` takes the power frames of the stream, one at a time and in order,
and tracks the noise of every frequency bin.  Real recordings are not white: the noise is
coloured (strong at low frequencies), the recorder band-limits it, tones stand in it and
clicks cross it.  The floor of a bin is

    ``level(t) * shape[k](t)``

* ``shape`` is the bin's quiet floor, relative to the band's median bin: **minimum
  statistics** (Martin 2001).  Each bin's power is smoothed over :data:`SMOOTH_S`; the
  lowest smoothed value of each of :data:`SUBWINDOWS` sub-windows is kept, and the lowest
  of those over the last :data:`MEMORY_S` is the bin's quiet floor.  Noise is always
  there; flow comes and goes with the heartbeat and with breathing, so the quiet floor is
  the noise.  The bias of a minimum (it lies below the mean) is the same for every bin
  and cancels in the ratio to the median bin; it is computed (:func:`minimum_bias`) for
  the absolute tests of digital silence.
* ``level`` is the mean noise of the median bin, as before: a low quantile of the
  whitened bins (``power / shape``) of the band, turned into a mean by the exponential
  law of a noise bin and tracked over :data:`_NOISE_TAU_S`.  It follows a change of gain
  within a second, a fall of 10 dB or more in 0.32 s (:data:`FALL_RATIO`); the level before a
  fall is taken back by the first frame that comes back to it within :data:`RESTORE_S`
  (:attr:`NoiseFloor.quiet`: the probe's contact lost and found); after a longer stretch,
  the level and the shape of before it are put back where it ends.

Flow that fills a bin for longer than the memory would pass for noise.  Veins flow
without pause, so the memory's first :data:`MEMORY_S` allow no bin above the median
(white noise, the old assumption, until a whole memory proves otherwise), and where the
noise is the same on both sides of zero (two-channel layouts), the quiet floor of a bin
is the lower of its own and its mirror's: blood flows one way at a time, the noise of
``I + jQ`` is symmetric.  In a mono recording, flow that fills a bin without a pause
for longer than the memory is taken into its floor.

The same tracker finds, at the end of each sub-window, the recording's signal band
(:mod:`.band`) and its stationary tonal lines (:mod:`.tones`); frame by frame it removes
impulses (:mod:`.impulses`) and counts the frames near digital silence (power in the band
within :data:`SILENCE_DB` of the samples' quantisation noise: the warning); a frame within
:data:`MUTE_DB` of it holds no flow (its level is returned negative).  The quantisation is
that of the step the samples lie on (:class:`~.precision.SampleGrid`: 2^-15 for 16-bit
audio, 2^-23 for 24-bit; 24 bits' where they lie on no coarser grid, continuous floats),
or 16-bit quantisation at the frame's own level (its strongest bin a full-scale tone's)
where that lies higher.  A 16-bit recording is judged as it was recorded; a 24-bit or float
one as its 16-bit copy at full scale would be, whatever its level; an 8-bit one as its 16-bit
copy (its rounding, which its echoes span by many steps, is its noise floor).

The rows of the time-averaged spectrum are then **whitened** (:meth:`NoiseFloor.whiten`):
divided by the shape in force at their frame, the bins out of the band and on tonal
lines set to the level.  The detection and the maximum envelope (:mod:`.envelopes`) read
the whitened rows against the one level; the mean envelope and the flow power weigh them
back by the shape, the physical power above the floor.  Shapes change at the end of a
sub-window, and where the signal comes back from a quiet stretch longer than the memory
(the shape of before it put back); each row uses the one in force at its frame, whatever
the blocks.
Its numba kernels are at the end of this module.
"""

import functools
import math
from typing import NamedTuple

import numpy as np
from numba import njit
from scipy.special import gammaincc

from ._numba import _JIT_PURE
from .band import SignalBand, _band_update
from .impulses import (
    BURST_BALANCE,
    IMPULSE_FRACTION,
    IMPULSE_FRACTION_BOTH,
    IMPULSE_X,
    Impulses,
    _broadband_fraction,
    _top_fraction,
    _upper_count,
    _upper_run,
    steps,
)
from .precision import PRECISION_DB
from .spectrum import MIN_NOISE_BINS, QUANT_STEP, SpectralConfig
from .tones import LINE_REACH, Tones, _mirror_hits, _tone_hits, _tone_hold, _warm_hits

__all__ = ["NoiseFloor", "NoiseRecord", "FloorRows", "minimum_bias", "SMOOTH_S", "MEMORY_S",
           "SUBWINDOWS", "SILENCE_DB", "SILENCE_STEP", "SILENT_SHARE"]

#: Quantile of the whitened bins that estimates the level (robust to flow filling up to
#: three quarters of the band).
_NOISE_Q = 0.25
#: Time constant of the level's tracking, s, and how often (frames) it is updated.
_NOISE_TAU_S = 0.5
_NOISE_EVERY = 16
#: Time constant of each bin's smoothed power, s: about 20 degrees of freedom at a 5 ms
#: hop, and short against a diastole.
SMOOTH_S = 0.05
#: Memory of the quiet floor, s: several heartbeats and most of a breath.
MEMORY_S = 3.0
#: Sub-windows of the memory: a bin's floor falls with its noise at the end of the
#: sub-window, and rises a whole memory after it.
SUBWINDOWS = 4
#: A bin's floor is the noise's colour (a power law fitted on the band's upper two
#: octaves) unless its own quiet floor lies this far below it, dB: three times the
#: uncertainty of a smoothed quiet floor.
COLOUR_BELOW_DB = 3.0
#: A bin under the colour whose mean over a sub-window stands this far above its quiet
#: floor is switched on and off, not quiet, dB: steady noise keeps the two within about 1 dB (the
#: quiet floor's uncertainty), a level drifting over the memory within a few.
UNSTEADY_DB = 6.0
#: A bin whose power over the memory correlates with its mirror's by this much more than
#: the band's lower half does is coded coarsely, alike on both sides: a lossy codec
#: (MP3, Vorbis) codes each real channel in clumps of bins and frames, and a clump of the
#: I or the Q channel lies at +f and -f alike.  The correlation is the covariance over
#: the larger of the two variances.  Noise of an I/Q pair correlates by
#: ``+-1 / sqrt(frames)`` (0.06 over the memory's 300 frames); flow lies on one side only,
#: and the image an I/Q imbalance makes of it, however closely it follows the flow, has
#: the flow's variance times its power ratio squared: its covariance over the flow's
#: variance stays under that ratio (0.06 for an image 12 dB down).  Such bins count
#: toward the band's limit as lines do (:mod:`.band`): their noise, some two to three
#: degrees of freedom instead of ten, passes the detection's threshold in one sum of a
#: hundred instead of one of a hundred thousand.
MIRROR_COHERENCE = 0.25
#: ... and whose mean power lies within this ratio of its mirror's (an image of one-way
#: flow, which rises and falls with it, is much weaker than the flow).
MIRROR_BALANCE = 4.0
#: In the warm-up, the side of a toward/away pair whose channel stands this far over the
#: other's is capped at its own quiet quarter, dB (:func:`_louder_side`): twice the 3 dB
#: by which the two sides' noise in balanced channels differs at most in the first frames.
SIDE_GAIN_DB = 6.0
#: Tracked frames after which the warm-up's shapes take the mirror coherence too.
WARM_COHERENT_FRAMES = 16
#: The colour is fitted below this fraction of the sample rate (the anti-aliasing filter's
#: roll-off, and a real signal's bins near the Nyquist frequency, lie above).
_FIT_TOP = 0.45
#: A fitted colour that changes the level by less than this over the band is flat, dB.
COLOUR_FLAT_DB = 2.0
#: A frame whose mean power over the band is within this much of the samples' quantisation
#: noise (noise of about three quantisation steps rms) is near digital silence, dB.
SILENCE_DB = 20.0
#: The quantisation step the tests of digital silence take where the samples lie on no
#: coarser grid (continuous floats, or none with a value yet): 24 bits', the finest any
#: converter resolves (16-bit quantisation at the frame's own level, where higher, is
#: taken too: a 24-bit or float recording is judged as its 16-bit copy at full scale
#: would be, whatever its level).  A lossy codec's decoded floats take 16
#: bits' (:attr:`NoiseFloor.least_step`): the codec codes no finer than the audio it
#: was given, and leaves out what it has no bits for, down to its decoder's rounding.
SILENCE_STEP = 2.0 ** -23
#: A recording with this share of its frames near digital silence is warned of; finding
#: no flow in it is then no finding about the vessel (flow is not assessable).
SILENT_SHARE = 0.5
#: A frame whose mean power over the band is within this much of the samples' quantisation
#: noise (noise under about one quantisation step rms: the quantiser's output is mostly zero and
#: one step, nothing like the Gaussian noise the detection is set for) holds no flow, dB.
#: Above it, the per-bin floor keeps noise of a few steps from reading as flow, and a
#: faint recording's flow (a sound card at a low gain) is still found.
MUTE_DB = 10.0
#: Estimates of the level this many times under it (10 dB), :data:`FALL_ESTIMATES` in a
#: row (0.32 s at a 5 ms hop), are a fall (the end of a loud stretch, a cable pulled or
#: the probe scraped; a gain turned down): the level is their mean.  Tracked linearly, it
#: fell 0.04 dB a frame from tens of dB and took seconds to come back, reading no flow
#: meanwhile.  At 6 dB, the fetal Interference recording's level followed its quiet spells
#: down, its interference read as flow, and its heart rate was lost (as it was when every
#: estimate 6 dB under pulled the level down in dB).
FALL_RATIO = 10.0
FALL_ESTIMATES = 4
#: Broadband noise not read (:mod:`.impulses`) leaves the level as it was before it: a
#: probe rubbing for a moment, read into the level, set it high, and the noise that
#: followed the level up read as flow at the band's top both ways for a few hundred
#: milliseconds, splitting a reflux under way.  Broadband noise that lasts this long, s
#: (the level's time constant), is a new level (a gain turned up, a louder room): the level
#: is the mean of its frames' estimates, the frames after are read against it, and the
#: sub-window under way starts again (:func:`_restart_subwindow`).
BURST_ADAPT_S = _NOISE_TAU_S
#: A fall 10 dB under the level's floor (its least value, which rises by 10 dB over this long
#: at most) keeps the level before it for this long, s (the quiet floor's memory): while it is,
#: the first frame whose estimate stands within :data:`RESTORE_RATIO` under it (5 dB, half the
#: fall's ratio in dB: one frame's quantile strays by 25 % over a narrow band), or above it,
#: takes it back at once (a click in a quiet stretch too: the stretch then falls again, 0.32 s
#: on; the frames of the return read against the fallen level stood over the whole band, and
#: 30 ms of them, an impulse's length, rose to 128 cm/s).  The stretch's frames are not
#: tracked (:func:`_track`); one longer than this is the recording's level, tracked from
#: then on, and named to where the signal comes back (:func:`_back`), where the level, the
#: tracking and the shape of before it are put back (:func:`_before_stretch`).  A probe's contact
#: lost for a second and found again, or a gain turned down and up: read against the level
#: the fall left, the recording's own noise coming back read as flow over the whole band
#: until the level rose (a mono artery at 103 cm/s for 81), or in two directions was not read
#: for half a second (a 0.8 s loss inside a 1.9 s reflux left two parts, each too short to
#: count).  The end of a loud stretch that the level followed up (or took,
#: :data:`BURST_ADAPT_S`) falls back to the floor, and is no quiet stretch: the noise to come
#: back would be another loud one.
RESTORE_S = MEMORY_S
RESTORE_RATIO = FALL_RATIO ** 0.5
#: The bracket of the level's estimate, over the last level: the band's whitened noise bins
#: between these are searched first for the estimate's quantile (in noise, about a fifth
#: of them; the quantile of some 200 bins strays by some 15 %).
_LEVEL_BRACKET = (0.5, 2.0)
#: Tracked frames after which the first, warm-up shapes are taken (before the first
#: sub-window ends), at 1, 2, 4 ... up to this many: the cumulative mean, median-smoothed
#: over nine bins (a recording's band limit shows in its first frame).
_WARM_LAST = 32
#: Shapes kept for the rows still to be whitened (a piece of samples makes at most 45).
_VERSIONS = 64
#: Rows of the tracking kept before a long quiet stretch (:func:`_before_stretch`): the ring
#: of sub-windows and its mirror products, the sub-window under way (five rows) and the
#: shape in force (three); and its single values.
_BEFORE_ROWS = 4 * SUBWINDOWS + 8
_BEFORE_VALS = 16
#: A bin's floor is never below the row's strongest bin this far down (float32 rounding:
#: :mod:`.precision`).
_LEAST_RATIO = np.float32(10.0 ** (-PRECISION_DB / 10.0))
#: Smallest shape (digital silence has none).
_TINY = 1e-12

# slots of the tracker's state
LEVEL, N_VALID, N_SUB_FRAMES, N_SUBS, RUN, IMPULSES, SILENT, SILENT_POWER, N_VER, \
    HAVE_LAST, N_INBAND, N_TRACK, SILENT_NOW, SILENT_MEAN, LAST_ROW, GAP, QUIET, \
    MUTE_NOW, WARM, PREV_ROW, HAVE_PREV, RUN_POWER, LAST_POWER, PREV_POWER, N_NOISE, \
    RUN_CLICK, SILENT_REF, FALL_RUN, FALL_SUM, BROAD_NOW, UNREAD_N, UNREAD_SUM, \
    RUN_UNREAD, FALL_START, FALL_SINCE, FALL_FROM, FALL_AT, QUIET_FROM, LOW, \
    SNAP_SUB_FRAMES, SNAP_TRACK, SNAP_SILENT_REF, WATCH_FROM, WATCH_START, \
    N_UPPER = range(45)
N_LEVELS = N_UPPER + 2  # (N_UPPER: one slot a direction) the level's estimates so far
# slots of its parameters
P_A, P_V, P_U, P_Q, P_ALPHA, P_EVERY, P_BIAS, P_SILENCE, P_IMP_X, P_IMP_F, \
    P_MAX_RUN, P_LINE_RATIO, P_HOLD, P_REACH, P_WARM, P_BIN, P_COLOUR, P_FLAT, P_STEADY, \
    P_STRIDE, P_FIT_TOP, P_MUTE, P_IMP_F2, P_UNSTEADY, P_COHERENT, P_TWIN, P_LEVEL_MEAN, \
    P_AT_FULL, P_BALANCE, P_ADAPT, P_RESTORE, P_LOW_RISE, P_SIDE_GATE, P_WARM_RATIO = range(34)


def _twin(cfg):
    """The sum of the index of a positive bin and its mirror's where every positive bin
    searched has that sum (bins ascending through 0 Hz, as the spectrum's are); -1 where
    not (no mirrors, or a bin whose mirror lies elsewhere)."""
    st, sp, cnt = int(cfg.dir_start[0]), int(cfg.dir_step[0]), int(cfg.dir_count[0])
    if cnt <= 0 or sp != 1 or cfg.mirror[st] < 0:
        return -1
    k = st + np.arange(cnt)
    twin = st + int(cfg.mirror[st])
    ok = np.array_equal(cfg.mirror[k], twin - k) and twin - st - cnt + 1 >= 0
    return twin if ok else -1


def _level_weights(hop_s):
    """The level's tracking weight (an estimate every :data:`_NOISE_EVERY` frames, time
    constant :data:`_NOISE_TAU_S`), and the frames of a stream's first level: the mean of
    one estimate a frame over as many frames as the tracking's memory weighs."""
    alpha = 1.0 - math.exp(-_NOISE_EVERY * hop_s / _NOISE_TAU_S)
    return alpha, float(round(_NOISE_EVERY / alpha))


def minimum_bias(a, n_frames):
    """Mean of the minimum of a smoothed noise bin over ``n_frames``, over its mean.

    The smoothed power ``s += a * (p - s)`` of exponential frames has the variance
    ``a / (2 - a)`` (squared mean): a gamma law with ``k = (2 - a) / a`` degrees of
    freedom, whose values ``1 / a`` frames apart are nearly independent.  The minimum of
    ``n = n_frames * a`` such values has the mean ``integral of Q(k, k x) ** n dx``.

    Parameters
    ----------
    a : float
        Smoothing weight of a frame.
    n_frames : int
        Frames of the memory.

    Returns
    -------
    float
        The bias, < 1.
    """
    return _minimum_bias(round(float(a), 9), int(n_frames))


@functools.lru_cache(maxsize=64)
def _minimum_bias(a, n_frames):
    k = (2.0 - a) / a
    n = max(1.0, n_frames * a)
    xs = np.linspace(0.0, 2.0, 201)
    q = gammaincc(k, k * xs) ** n
    return float(np.sum((q[1:] + q[:-1]) * 0.5) * (xs[1] - xs[0]))


def _quant_power(steps, quant_power):
    """The quantisation noise of a bin, float32, of samples on the grid ``steps`` (float64;
    ``inf``: no sample with a value yet, no noise), from that of 16-bit samples."""
    q = np.where(np.isfinite(steps), steps, 0.0)
    return (quant_power * (q / QUANT_STEP) ** 2).astype(np.float32)


class FloorRows(NamedTuple):
    """The noise shapes of whitened rows, for the envelopes' physical weights.

    ``shapes[slots[i]]`` is the shape row ``i`` was whitened with; ``tops[slots[i], d]``
    the outward index of the band's top bin in direction ``d``.
    """

    shapes: np.ndarray
    tops: np.ndarray
    slots: np.ndarray


class NoiseFloor:
    """Per-bin noise floor of a stream, with its signal band, tonal lines and impulses.

    Parameters
    ----------
    config : SpectralConfig

    grid : SampleGrid, optional
        The quantisation step of the stream's samples (:class:`~.precision.SampleGrid`):
        no bin's floor lies under the quantisation noise of the step in force at its
        frame.  None: no such floor.

    Attributes
    ----------
    band : SignalBand
    tones : Tones
    impulses : Impulses
    least_step : float
        The quantisation step the tests of digital silence take where the samples lie on
        no coarser grid: :data:`SILENCE_STEP` (24 bits), or 16 bits' for audio decoded
        from a lossy codec (set before the first frame).
    falls : list of int
        The frames at which the level fell (:data:`FALL_RATIO`), not yet taken
        (:meth:`take_falls`).
    unread : ndarray of int
        The frames of the last call that are broadband noise, not read (stream indices;
        :mod:`.impulses`).
    quiet : list of [int, int]
        ``[first, end)`` frame ranges of quiet stretches the signal came back from: the
        frame after the last estimate at the level before the fall, and the frame that
        took the level back (:data:`RESTORE_S`) or, after a longer one, where the signal
        came back (:func:`_back`).
    """

    def __init__(self, config: SpectralConfig, grid=None):
        self.cfg = cfg = config
        self.grid = grid
        self.least_step = SILENCE_STEP
        self.falls = []
        self.unread = np.zeros(0, np.int64)
        self.quiet = []
        n = cfg.n_fft
        hop_s = cfg.hop_s
        # frames that share no sample: every ``stride``-th frame is tracked
        stride = max(1, cfg.n_window // cfg.hop)
        step_s = stride * hop_s
        a = min(1.0, step_s / SMOOTH_S)
        v = max(1, int(round(MEMORY_S / SUBWINDOWS / step_s)))
        self.subwindow_frames = v * stride
        self.band = SignalBand(cfg)
        self.tones = Tones(cfg, v * step_s)
        self.impulses = Impulses(cfg)
        alpha, first_frames = _level_weights(hop_s)
        self.params = np.array([
            a, v, SUBWINDOWS, _NOISE_Q, alpha, _NOISE_EVERY,
            1.0 / minimum_bias(a, v * SUBWINDOWS),
            10.0 ** (SILENCE_DB / 10.0), IMPULSE_X, IMPULSE_FRACTION,
            self.impulses.max_run, self.tones.ratio, self.tones.n_hold, LINE_REACH,
            _WARM_LAST, cfg.bin_hz, 10.0 ** (-COLOUR_BELOW_DB / 10.0),
            10.0 ** (COLOUR_FLAT_DB / 10.0), self.tones.steady, stride,
            _FIT_TOP * cfg.sample_rate_hz, 10.0 ** (MUTE_DB / 10.0),
            IMPULSE_FRACTION_BOTH, 10.0 ** (UNSTEADY_DB / 10.0), MIRROR_COHERENCE,
            _twin(cfg), first_frames,
            cfg.quant_power / cfg.tone_power if cfg.tone_power > 0 else 0.0,
            BURST_BALANCE, max(1, round(BURST_ADAPT_S / hop_s)), round(RESTORE_S / hop_s),
            FALL_RATIO ** (_NOISE_EVERY * hop_s / RESTORE_S),
            10.0 ** (SIDE_GAIN_DB / 10.0) if cfg.separated else 0.0,
            *self.tones.warm_ratios(_WARM_LAST)])
        self.state = np.zeros(N_LEVELS + 1)
        self.state[QUIET] = 1e9
        self.state[SILENT_REF] = np.inf
        self.state[LAST_ROW] = -1.0
        self.state[PREV_ROW] = -2.0
        self._smooth = np.zeros(n, np.float32)
        self._smin = np.full(n, np.inf, np.float32)
        self._ssum = np.zeros(n, np.float32)
        # each sub-window's minima (rows 0 .. SUBWINDOWS - 1) and means (the rows after)
        self._ring = np.zeros((2 * SUBWINDOWS, n), np.float32)
        # each bin's sums over the sub-window of its power times its mirror's (row 0) and
        # of its power squared (row 1), and their means a sub-window (rows 0 .. SUBWINDOWS
        # - 1 and the rows after): the mirror coherence (:func:`_mirror_coherent`)
        self._pair = np.zeros((2, n), np.float32)
        self._pair_ring = np.zeros((2 * SUBWINDOWS, n), np.float32)
        # the tracking above as it stood at the last estimate of the level before a fall
        # (:func:`_snapshot`): a quiet stretch's first frames are undone to it
        self._snap = np.zeros((5, n), np.float32)
        # the tracking and the shape in force as they stood when a quiet stretch became the
        # recording's level, put back where the signal comes back (:func:`_before_stretch`)
        self._before = np.zeros((_BEFORE_ROWS, n), np.float32)
        self._before_code = np.zeros((2, n), np.int8)
        self._before_noise = np.zeros(len(cfg.noise_bins), np.int64)
        self._before_vals = np.zeros(_BEFORE_VALS)
        # the frame from which each of the first sub-windows' shapes is in force
        self._sub_start = np.zeros(max(1, self.tones.n_hold), np.int64)
        self._quiet = np.zeros(n, np.float32)
        self._shape = np.ones(n, np.float32)
        self._inv = np.ones(n, np.float32)
        self._code = np.ones(n, np.int8)  # 0 in the band, 1 out of it or not searched, 2 line
        for d in range(2):
            st, sp, cnt = cfg.dir_start[d], cfg.dir_step[d], cfg.dir_count[d]
            self._code[st + sp * np.arange(cnt)] = 0
        self._inb = (self._code == 0).astype(np.float32)  # 1.0 on the bins in the band
        self._line = np.zeros(n, np.int8)
        self._last = np.zeros((2, n), np.float32)  # the last clean frame, the one before
        # its upper half (from n + 1): _select's; the negative side's quartile
        # (_side_quartiles) holds up to (n + 1) // 2 bins from there, with as much room
        self._scratch = np.zeros(2 * n + 2, np.float32)
        self._scratch2 = np.zeros(n, np.float32)
        self._iscratch = np.zeros(n, np.int32)
        self._nine = np.zeros(9, np.float32)
        self._coef = np.zeros(2)  # the noise's colour: log level and slope a octave
        with np.errstate(divide="ignore"):
            self._log2f = np.log2(np.abs(cfg.freqs_hz)).astype(np.float32)
        self._ver_shape = np.ones((_VERSIONS, n), np.float32)
        self._ver_inv = np.ones((_VERSIONS, n), np.float32)
        self._ver_fill = np.ones((_VERSIONS, n), np.float32)
        self._ver_top = np.zeros((_VERSIONS, 2), np.int64)
        self._ver_start = np.zeros(_VERSIONS, np.int64)
        self._frame = 0
        # the samples' step of the last rows whitened and its quantisation noise, one a
        # row (:meth:`_quant_rows`)
        self._quant_step = None
        self._quant = np.zeros(0, np.float32)
        _new_version(0, self._shape, self._inv, self._code, self.band.tops, self._ver_shape,
                     self._ver_inv, self._ver_fill, self._ver_top, self._ver_start, self.state)
        self.state[N_INBAND] = np.count_nonzero(self._code == 0)
        # the noise bins in the band (the first ``state[N_NOISE]``), for the level
        self._band_noise = np.zeros(len(cfg.noise_bins), np.int64)
        _band_noise_bins(cfg.noise_bins, self._code, self._band_noise, self.state)
        _upper_counts(cfg.dir_start, cfg.dir_step, cfg.dir_count, self.band.tops, self._inb,
                      self.state)
        # the arguments of the tracking and the shape's update after the frames and the
        # frame index: the configuration and the state above, updated in place (bound once,
        # not looked up at every call)
        t = self.tones
        self._track_args = (
            cfg.track_lo, cfg.track_hi, cfg.dir_start, cfg.dir_step, cfg.dir_count,
            self.params, self.state, self._smooth, self._smin, self._ssum, self._ring, self._inv,
            self._inb, self._band_noise, self._last, self._scratch, self.band.tops,
            self._ver_inv, cfg.mirror, self._pair, self._pair_ring, self._snap,
            (self._before, self._before_code, self._before_noise, self._before_vals,
             self._shape, self._code, self._line, self._coef, self.band.pending,
             self._ver_shape, self._ver_fill, self._ver_top, self._ver_start))
        self._shape_args = (
            cfg.track_lo, cfg.track_hi, cfg.dir_start, cfg.dir_step, cfg.dir_count, cfg.dir_f0,
            self._log2f, cfg.noise_bins, cfg.mirror, self.params, self.band.ratios, self.state,
            self._smooth, self._ring, self._quiet, self._shape, self._inv, self._code, self._inb,
            self._line, self._band_noise, self._ssum, self._scratch, self._scratch2,
            self._iscratch, self._nine,
            self._coef, self.band.tops, self.band.pending, t.hit, t.scratch, t.low, t.score,
            t.level, t.held, t.found, self._ver_shape, self._ver_inv, self._ver_fill,
            self._ver_top, self._ver_start, self._pair, self._pair_ring, self._sub_start)

    @property
    def level(self):
        """Current mean noise power of the band's median bin (0 before the first frame)."""
        return float(self.state[LEVEL])

    @property
    def shape(self):
        """Current noise shape of every bin (1: the band's median bin), read-only copy."""
        return self._shape.copy()

    def __call__(self, power, valid=None, halves=None):
        """Track new power frames; return their noise levels.

        Parameters
        ----------
        power : ndarray, shape (n_frames, n_fft), float32
            Power frames in stream order (``spectrum.Framer``).  Frames of impulses are
            replaced in place by the last frame before them.
        valid : ndarray, shape (n_frames,), bool, optional
            False for frames that overlap samples not settled (the wall filter's
            settling, lost samples): they are not tracked.
        halves : ndarray, shape (n_frames, 2), float32, optional
            Power of the samples in each half of each frame's window (``spectrum.Framer``):
            a frame that holds a step of level is gated as an impulse's
            (:func:`~.impulses.steps`).  None: no frame is taken for a step.

        Returns
        -------
        ndarray, shape (n_frames,), float64
            The level in force at each frame; negative (its opposite) where the frame
            is near digital silence and holds no flow.
        """
        cfg = self.cfg
        if power.ndim != 2 or power.shape[1] != cfg.n_fft or power.dtype != np.float32:
            raise ValueError(f"power must be (n_frames, {cfg.n_fft}) float32; got "
                             f"{power.shape} {power.dtype}")
        m = power.shape[0]
        if valid is None:
            valid = np.ones(m, np.bool_)
        elif valid.shape != (m,):
            raise ValueError(f"valid must be ({m},); got {valid.shape}")
        if halves is None:
            step = np.zeros(m, np.bool_)
        elif halves.shape != (m, 2):
            raise ValueError(f"halves must be ({m}, 2); got {halves.shape}")
        else:
            step = steps(halves)
        out = np.empty(m, np.float64)
        fell = np.zeros(m, np.bool_)
        broad = np.zeros(m, np.bool_)
        quiet = np.full(m, -1.0)
        quant = self._silence_rows(self._frame, m)
        start, resume = 0, False
        while True:
            start = _track(power, valid, step, quant, self._frame, start, resume,
                           *self._track_args, out, fell, broad, quiet)
            if start < 0:
                break
            # a sub-window ends (or a warm-up shape is due) at frame ``start``
            _update_shape(self.state[WARM] > 0.0, self._frame + start, *self._shape_args)
            resume = True
        if fell.any():
            self.falls += (self._frame + np.flatnonzero(fell)).tolist()
        self.unread = self._frame + np.flatnonzero(broad)
        for i in np.flatnonzero(quiet >= 0.0).tolist():
            self.quiet.append([max(0, int(quiet[i])), self._frame + i])
        self.impulses.add_bursts(self.unread)
        self._frame += m
        self.impulses.count = int(self.state[IMPULSES])
        return out

    def _row_steps(self, row0, n):
        """The samples' step at rows ``row0 ... row0 + n - 1`` (row ``r`` that of frame
        ``r``: the step of the samples before the frame's end): one float where one step
        holds for every row (a stream's usual case once its first samples are in), else a
        float64 array, one a row."""
        cfg = self.cfg
        grid = self.grid
        end = row0 * cfg.hop + cfg.n_window
        if grid.last_change < end:  # no change since the first row's frame ended
            return grid.step
        first, last = grid.steps_at((end, end + max(n - 1, 0) * cfg.hop))
        if first == last:
            return first
        return grid.steps_at((row0 + np.arange(n)) * cfg.hop + cfg.n_window)

    def _quant_rows(self, row0, n):
        """The quantisation noise of a bin at rows ``row0 ... row0 + n - 1``, float32: the
        per-bin floor (none where the samples lie on no grid).

        The searched bins lie above the wall filter's cut-off, in its flat pass band,
        where the rounding's white noise keeps its level.
        """
        if self.grid is None:
            return np.zeros(n, np.float32)
        steps = self._row_steps(row0, n)
        if np.ndim(steps) == 0:
            # one step for every row, whose noise is kept, one a row, from the last call
            if self._quant_step != steps or len(self._quant) < n:
                self._quant_step = steps
                self._quant = np.full(max(n, len(self._quant)),
                                      _quant_power(np.array([steps]), self.cfg.quant_power)[0])
            return self._quant[:n]
        return _quant_power(steps, self.cfg.quant_power)

    def _silence_rows(self, row0, n):
        """The quantisation noise of a bin the tests of digital silence take at rows
        ``row0 ... row0 + n - 1``, float64: that of the samples' step (16 bits' at most),
        and of :attr:`least_step` where the samples lie on no coarser grid (continuous
        floats, none with a value yet, or no grid followed)."""
        least = self.least_step
        steps = least if self.grid is None else self._row_steps(row0, n)
        steps = np.where(np.isfinite(steps) & (steps > least), steps, least)
        # a coarser grid than 16 bits' (8-bit audio) is judged as its 16-bit copy: its
        # rounding, which the echoes span by many steps, is its noise, not silence
        steps = np.minimum(steps, QUANT_STEP)
        quant = self.cfg.quant_power * (steps / QUANT_STEP) ** 2
        return np.ascontiguousarray(np.broadcast_to(quant, (n,)), np.float64)

    def whiten(self, rows, noise, row0, first_row=0):
        """Whitened rows: divided by the noise shape in force at their frame.

        Parameters
        ----------
        rows : ndarray, shape (n, n_fft), float32
            Rows of the time-averaged spectrum, or rows like them.
        noise : ndarray, shape (n,), float64
            Their levels (as returned by ``__call__``).
        row0 : int
            Stream index of ``rows[0]``: row ``r`` uses the shape in force at frame ``r``.
        first_row : int
            The rows before it use the shape in force at it (a mono stream's first rows
            take a later sub-window's shape: :meth:`first_rows_shape`).

        Returns
        -------
        white : ndarray, shape (n, n_fft), float32
            The rows over their shape; bins out of the band, on tonal lines or not
            searched hold the row's level (its absolute value).
        floor : FloorRows
            The shapes and band tops of the rows, for :func:`~.envelopes.envelopes`.
        """
        rows = np.ascontiguousarray(rows, np.float32)
        noise = np.ascontiguousarray(noise, np.float64)
        n = rows.shape[0]
        if rows.ndim != 2 or rows.shape[1] != self.cfg.n_fft or noise.shape != (n,):
            raise ValueError(f"rows must be (n, {self.cfg.n_fft}) with one level a row; got "
                             f"{rows.shape} and {noise.shape}")
        white = np.empty_like(rows)
        slots = np.empty(n, np.int64)
        if n and not _whiten(rows, rows.view(np.int32), noise, int(row0), int(first_row),
                             self._ver_start,
                             self._ver_inv, self._ver_fill, int(self.state[N_VER]),
                             _LEAST_RATIO, self._quant_rows(int(row0), n), white,
                             white.view(np.int32), slots):
            raise RuntimeError(f"row {row0} is older than the noise shapes kept")
        return white, self.floor_rows(slots)

    def take_falls(self, row0, n):
        """The falls of the level among rows ``row0 ... row0 + n - 1`` (row ``r`` that of
        frame ``r``), as indices from ``row0``; those up to the last row are dropped."""
        end = row0 + n
        taken = [f - row0 for f in self.falls if row0 <= f < end]
        self.falls = [f for f in self.falls if f >= end]
        return taken

    def shape_row(self, k=1):
        """The frame from which the shape of the ``k``-th sub-window (from 1) is in force
        (None: that sub-window has not ended)."""
        if not 1 <= k <= int(self.state[N_SUBS]):
            return None
        if k > self._sub_start.shape[0]:
            raise ValueError(f"only the first {self._sub_start.shape[0]} sub-windows' shapes "
                             f"are kept; got {k}")
        return int(self._sub_start[k - 1])

    def first_rows_shape(self, final=False):
        """The frame whose shape a mono stream's first rows are whitened with (the rows
        before it take it; no mirror checks the warm-up's shapes, nor a tonal line): that
        of the sub-window by which a line there from the start is held
        (:attr:`.Tones.n_hold`).  None until it ends; when the stream ends (``final``)
        before it, the last sub-window's, or 0 (each row its own warm-up shape)."""
        row = self.shape_row(self.tones.n_hold)
        if row is None and final:
            row = self.shape_row(int(self.state[N_SUBS])) or 0
        return row

    def floor_rows(self, slots):
        """The :class:`FloorRows` of rows whitened with the shapes ``slots`` (int64, one
        a row) of the ring of shapes kept."""
        return FloorRows(self._ver_shape, self._ver_top, slots)

    # ----------------------------------------------------------------- reporting
    def silent_fraction(self):
        """Share of the tracked frames near digital silence."""
        n = self.state[N_VALID]
        return float(self.state[SILENT] / n) if n else 0.0

    def silence_dbfs(self):
        """Mean power a sample and channel of the frames near digital silence, dB relative
        to full scale (None: no such frame)."""
        n = self.state[SILENT]
        if not n:
            return None
        ratio = self.state[SILENT_POWER] / n / self.cfg.quant_power
        if ratio <= 0:
            return -math.inf
        return 10.0 * math.log10(ratio * QUANT_STEP ** 2 / 12.0)

    def tonal_lines_hz(self):
        """The tonal lines found in the signal band (signed baseband Hz)."""
        return self.tones.frequencies_hz(self.band.top_hz())

    def _coded_above_top(self):
        """Whether half or more of the bins just above the band's top (the next tenth of
        the direction, three bins at least), in either direction, were last found to rise
        and fall with their mirrors."""
        cfg = self.cfg
        for d in range(2):
            cnt, top = int(cfg.dir_count[d]), int(self.band.tops[d])
            if top < 0 or top >= cnt - 1:
                continue
            j = np.arange(top + 1, min(cnt, top + 1 + max(3, cnt // 10)))
            if np.mean(self._line[cfg.dir_start[d] + cfg.dir_step[d] * j] == 3) >= 0.5:
                return True
        return False

    @property
    def in_quiet(self):
        """Whether a quiet stretch is under way at the last frame (the probe's contact lost?
        :meth:`quiet_spans_s`)."""
        return bool(self.state[FALL_FROM] > 0.0 or self.state[WATCH_FROM] > 0.0)

    def quiet_rows(self):
        """The frames ``[first, end)`` of each quiet stretch (:attr:`quiet`), and of one still
        under way at the last frame (to the next frame)."""
        spans = [list(q) for q in self.quiet]
        st = self.state
        if self.in_quiet:
            start = st[QUIET_FROM] if st[FALL_FROM] > 0.0 else st[WATCH_START]
            spans.append([max(0, int(start)), self._frame])
        return spans

    def quiet_spans_s(self):
        """Start and end, s, of each quiet stretch (:meth:`quiet_rows`): from half a hop
        before its first frame's centre to half a hop before the centre of the frame where
        the signal came back (or of the next frame)."""
        cfg = self.cfg
        return [(cfg.t0_s + (a - 0.5) * cfg.hop_s, cfg.t0_s + (b - 0.5) * cfg.hop_s)
                for a, b in self.quiet_rows()]

    def quiet_warning(self):
        """The result's warning about the quiet stretches, or None."""
        spans = self.quiet_spans_s()
        if not spans:
            return None
        total = sum(b - a for a, b in spans)
        last = "; the last runs to the end" if self.in_quiet else ""
        wait_ms = 1e3 * FALL_ESTIMATES * _NOISE_EVERY * self.cfg.hop_s
        return (f"{len(spans)} quiet stretch(es) ({total:.2f} s in all, first at "
                f"{spans[0][0]:.3f} s{last}): the signal fell {10 * math.log10(FALL_RATIO):.0f} "
                f"dB or more under the recording's noise (the probe's contact lost, the gain "
                f"turned down), and flow in them is read against their own level only from "
                f"{wait_ms:.0f} ms into each; events near them are marked affected_by_gap")

    def warnings(self):
        """The result's warnings about the recording's noise: silence, band, lines,
        impulses, broadband noise not read, quiet stretches (those that apply, in that
        order)."""
        out = []
        frac = self.silent_fraction()
        if frac >= SILENT_SHARE:
            level = self.silence_dbfs()
            lv = "digital silence" if level == -math.inf else f"{level:.0f} dBFS"
            out.append(f"near digital silence: {100 * frac:.0f}% of the recording stays within "
                       f"a few quantisation steps ({lv}): no probe contact, or the input gain "
                       f"far too low")
        for w in (self.band.warning(self._coded_above_top()),
                  self.tones.warning(self.band.top_hz()),
                  self.impulses.warning(), self.impulses.burst_warning(),
                  self.quiet_warning()):
            if w:
                out.append(w)
        return out


class NoiseRecord:
    """The noise level of every ``every``-th row, for the recording's summary.

    The level changes every :data:`_NOISE_EVERY` frames at most, so these rows hold
    all there is of it.  They are copied into one array grown by doubling: the memory
    used grows by 8 bytes every ``every`` rows, whatever the blocks pushed (a live
    stream's blocks of a row or none each).
    """

    def __init__(self, every=_NOISE_EVERY):
        self.every = int(every)
        self._levels = np.empty(256)
        self._n = 0

    def add(self, noise, row0):
        """Keep the levels of the rows ``row0`` ... (``noise``, one a row) that fall on the
        stride."""
        take = noise[(-row0) % self.every::self.every]
        need = self._n + len(take)
        if need > len(self._levels):
            grown = np.empty(max(need, 2 * len(self._levels)))
            grown[:self._n] = self._levels[:self._n]
            self._levels = grown
        self._levels[self._n:need] = take
        self._n = need

    def levels(self):
        """Every level kept, in stream order (negative in frames near digital silence, as
        the tracker returns them)."""
        return self._levels[:self._n].copy()


# --------------------------------------------------------------------------- kernels
@njit(**_JIT_PURE)
def _select(a, n, q):
    """q-th smallest of ``a[:n]`` (0-based); ``a`` holds twice the room (its upper half,
    from ``len(a) // 2``, is scratch) and is reordered.

    Quickselect that copies instead of swapping: each round writes the values below the
    pivot forward and those above it backward into the other half, without branches (a
    swap waits on the load of the last; a branch mispredicts on random spectra); the
    values equal to the pivot fall between and end the search.  The pivot is the median
    of three pseudo-random positions, so no order of the input makes it quadratic.  The
    q-th smallest value is unique, so the result is that of any other correct selection.
    """
    half = a.shape[0] // 2
    src = a[:half]
    dst = a[half:2 * half]
    lo = 0
    m = n
    r = 12345
    while m > 1:
        # median of three pseudo-random positions (an LCG, scaled without a division)
        r = (r * 1103515245 + 12345) & 0x7FFFFFFF
        x = src[lo + ((r * m) >> 31)]
        r = (r * 1103515245 + 12345) & 0x7FFFFFFF
        y = src[lo + ((r * m) >> 31)]
        r = (r * 1103515245 + 12345) & 0x7FFFFFFF
        z = src[lo + ((r * m) >> 31)]
        if (x <= y) == (y <= z):
            p = y
        elif (y <= x) == (x <= z):
            p = x
        else:
            p = z
        s = src[lo:lo + m]
        d = dst[:m]
        below = 0
        above = m - 1
        for k in range(m):
            v = s[k]
            d[below] = v
            d[above] = v
            below += 1 if v < p else 0
            above -= 1 if v > p else 0
        if q < below:
            lo = 0
            m = below
        elif q <= above:
            return p
        else:
            lo = above + 1
            q -= lo
            m -= lo
        src, dst = dst, src
    return src[lo]


@njit(**_JIT_PURE)
def _new_version(frame, shape, inv, code, tops, ver_shape, ver_inv, ver_fill, ver_top,
                 ver_start, state):
    """Keep the current shape, band and band tops as the version in force from ``frame``:
    the shape, its inverse on the bins in the band (0 elsewhere) and 1 on the others."""
    slot = int(state[N_VER]) % ver_start.shape[0]
    for k in range(shape.shape[0]):
        ok = code[k] == 0
        ver_shape[slot, k] = shape[k]
        ver_inv[slot, k] = inv[k] if ok else 0.0
        ver_fill[slot, k] = 0.0 if ok else 1.0
    ver_top[slot, 0] = tops[0]
    ver_top[slot, 1] = tops[1]
    ver_start[slot] = frame
    state[N_VER] += 1.0


@njit(**_JIT_PURE)
def _normalise(quiet, scale, bins, code, was_out, cap, lo, hi, scratch, shape, inv, state,
               log2f, coef, colour, mirror, louder):
    """New shape: ``scale`` times the quiet floor over its lower quartile over ``bins`` (the
    noise bins in the band: a quiet bin's, robust to flow in three quarters of the band),
    with ``cap`` at most 1, or, with ``colour``, at most the noise's colour (``coef``:
    :func:`_fit_colour`) over its own lower quartile over ``bins``.  With ``louder`` (1
    or -1: the positive or negative side of a toward/away pair, bins paired by
    ``mirror``, whose channel is the louder; 0: none), that side is capped at its own
    lower quartile (:func:`_side_cap`).

    The level is rescaled by the median over the band of the old shape over the new one,
    so that the floor of a typical bin (level times shape) does not jump: over the bins in
    the band now and in the old version too (``was_out`` 0).  A bin out of the band held
    the level, whatever its old shape; a band that widens over most of the bins (the bins
    it regains, their old shape taken on a floor that had put them out) moved the level
    by as much as their old shape was off, and flow read everywhere until the level was
    tracked back.  The new shape is taken bin by bin first (without ``cap``, the loop
    vectorises), the old over the new kept in the upper half of ``scratch``; the band's
    then gathered for the median.
    """
    a = coef[0]
    slope = coef[1]
    mq = 0.0
    if cap and colour:
        m = np.int64(0)  # typed: a literal 0 would compile _select for it too
        for b in bins:
            scratch[m] = math.exp(a + slope * log2f[b])
            m += 1
        mq = np.float64(_select(scratch, m, m // 4)) if m > 0 else 0.0
    m = np.int64(0)
    for b in bins:
        scratch[m] = quiet[b]
        m += 1
    ref = np.float64(_select(scratch, m, m // 4)) if m > 0 else 0.0
    f = scale / ref if ref > 0.0 else 0.0
    top_pos = top_neg = 1.0
    if cap and louder != 0 and ref > 0.0:
        top = _side_cap(quiet, bins, mirror, ref, louder, scratch)
        top_pos, top_neg = (top, 1.0) if louder > 0 else (1.0, top)
    half = scratch.shape[0] // 2
    ratio = scratch[half + lo:half + hi]
    q = quiet[lo:hi]
    sh = shape[lo:hi]
    iv = inv[lo:hi]
    if cap:
        for i in range(hi - lo):
            s = f * q[i] if ref > 0.0 else 1.0
            top = 1.0
            if mq > 0.0:
                top = max(1.0, math.exp(a + slope * log2f[lo + i]) / mq)
            j = mirror[lo + i]
            top *= top_pos if (j >= 0) & (lo + i > j) else top_neg
            if s > top:
                s = top
            s = max(s, 1e-12)
            r = 1.0 / s
            ratio[i] = np.float64(sh[i]) * r
            sh[i] = s
            iv[i] = r
    else:
        for i in range(hi - lo):
            s = max(f * q[i] if ref > 0.0 else 1.0, 1e-12)
            r = 1.0 / s
            ratio[i] = np.float64(sh[i]) * r
            sh[i] = s
            iv[i] = r
    if state[LEVEL] > 0.0:
        # the band's ratios (in the band now and before), in the lower half (each written
        # at or before its own place in the upper half's run, which is read first: no
        # branch)
        m = np.int64(0)  # typed: a literal 0 would compile _select for it too
        for i in range(hi - lo):
            scratch[m] = ratio[i]
            m += 1 if (code[lo + i] == 0) & (was_out[lo + i] == 0.0) else 0
        if m > 0:
            state[LEVEL] *= _select(scratch, m, m // 2)


@njit(**_JIT_PURE)
def _louder_side(raw, mirror, lo, hi, code, silent, gate, scratch):
    """The side of a toward/away pair whose channel is the louder by ``gate`` times or
    more: 1 (positive), -1 (negative) or 0, from the median ratio of ``raw`` over the
    upper quarter (in frequency) of the pairs of bins clear of digital silence and of
    tonal lines (as :func:`_side_quartiles`): at least 16 pairs, and half of all.

    A gain raises every bin of its side, flow the bins it fills, from the wall filter up:
    the pairs above the flow hold the gain alone.  Over all the pairs, flow one way
    moves the ratios of a side as a gain does: the sides' quartiles of balanced channels
    stood 16 dB apart under an artery filling all but a few of its side's band bins
    (noise falling 6 dB an octave), and the arteries' flow filled more than a tenth of
    the pairs: the tenth of the ratios furthest from its side hid a gain of 12 dB.  Where
    most pairs are near digital
    silence (that noise in 16 bits, a recorder's band far under the sample rate) the few
    left may all hold flow (the carotid's upper quarter stood 29 dB over its mirror): no
    side is taken for the louder.
    """
    n = 0
    pairs = 0
    for k in range(lo, hi):
        j = mirror[k]
        jj = max(j, 0)
        pairs += 1 if (j >= 0) & (k > j) else 0
        n += 1 if ((j >= 0) & (k > j) & (code[k] != 2) & (code[jj] != 2)
                   & (raw[k] > silent) & (raw[jj] > silent)) else 0
    if n < 16 or 2 * n < pairs:
        return 0
    first = n - n // 4
    i = 0
    m = np.int64(0)  # typed: a literal 0 would compile _select for it too
    for k in range(lo, hi):
        j = mirror[k]
        jj = max(j, 0)
        if ((j >= 0) & (k > j) & (code[k] != 2) & (code[jj] != 2) & (raw[k] > silent)
                & (raw[jj] > silent)):
            if i >= first:
                scratch[m] = raw[k] / raw[jj]
                m += 1
            i += 1
    r = np.float64(_select(scratch, m, m // 2))
    return 1 if r >= gate else -1 if r * gate <= 1.0 else 0


@njit(**_JIT_PURE)
def _side_cap(quiet, bins, mirror, ref, louder, scratch):
    """Cap of the warm-up's shape on the ``louder`` side (1: positive, the bins above
    their mirror's; -1: negative): its lower quartile of ``quiet`` over ``bins`` against
    ``ref`` (the band's), at least 1.

    A toward/away pair recorded on two inputs whose gains differ carries the louder
    channel's noise on its side: capped at the band's quiet quarter (the quieter side's),
    that noise read as flow all through the warm-up (the bundled great saphenous vein,
    its away channel 12 dB over the toward channel, a 0.7 s reflux at the band's top
    from the first frame).
    """
    m = np.int64(0)  # typed: a literal 0 would compile _select for it too
    for b in bins:
        j = mirror[b]
        pos = (j >= 0) & (b > j)
        if pos == (louder > 0):
            scratch[m] = quiet[b]
            m += 1
    q = np.float64(_select(scratch, m, m // 4)) if m > 0 else 0.0
    return max(1.0, q / ref)


@njit(**_JIT_PURE)
def _side_quartiles(raw, mirror, lo, hi, code, silent, scratch):
    """Lower quartiles of ``raw`` on the positive and on the negative side of zero, over
    the bins whose mirror is searched too, both on no tonal line (``code`` 2) and above
    ``silent`` (0 for a side without one).

    One pass without branches gathers both sides: the positive side's into the lower
    half of ``scratch``, the negative side's into the upper half, whose quartile is
    searched first (:func:`_select` in the upper half's run and the room after it).  The
    negative side, with the bin at zero (its own mirror), holds up to ``(n + 1) // 2`` of
    ``n`` bins, so ``scratch`` holds ``2 * n + 2``.
    """
    half = scratch.shape[0] // 2
    n_pos = np.int64(0)  # typed: a literal 0 would compile _select for it too
    n_neg = np.int64(0)
    for k in range(lo, hi):
        j = mirror[k]
        jj = max(j, 0)
        ok = ((j >= 0) & (code[k] != 2) & (code[jj] != 2) & (raw[k] > silent)
              & (raw[jj] > silent))
        v = raw[k]
        scratch[n_pos] = v
        scratch[half + n_neg] = v
        n_pos += 1 if ok & (k > j) else 0
        n_neg += 1 if ok & (k <= j) else 0
    neg = np.float64(_select(scratch[half:half + 2 * n_neg], n_neg, n_neg // 4)) \
        if n_neg > 0 else 0.0
    pos = np.float64(_select(scratch, n_pos, n_pos // 4)) if n_pos > 0 else 0.0
    return pos, neg


@njit(**_JIT_PURE)
def _mirror_min(raw, mirror, lo, hi, code, silent, scratch, quiet):
    """Quiet floor of each bin: the lower of its own and its mirror's, the mirror's scaled
    by the ratio of the two sides' lower quartiles (the two channels of a toward/away pair
    may differ in gain; a quartile, unlike the pairs' median ratio, holds while flow fills
    up to three quarters of one side).

    The quartiles are taken over the pairs of bins clear of digital silence (``raw`` above
    ``silent``) and of tonal lines, in the signal band or not: the band is found on the
    quiet floor this makes, and over the pairs of a narrow band alone, where two vessels
    flow both ways all the time (the jugular and the carotid below 1 kHz), the ratio was
    theirs (16-20 dB), not the channels'; the side it scaled down lost its noise to
    near-silence and the band stayed narrow.  Silence (above a recorder's low-pass) holds
    no gain of the channels."""
    ratio = 1.0
    pos, neg = _side_quartiles(raw, mirror, lo, hi, code, silent, scratch)
    if pos > 0.0 and neg > 0.0:
        ratio = min(max(np.float64(pos / neg), 0.01), 100.0)
    inv_ratio = 1.0 / ratio
    for k in range(lo, hi):
        j = mirror[k]
        v = raw[k]
        if j >= 0:
            w = np.float64(raw[j]) * (ratio if k > j else inv_ratio)
            v = min(v, w)
        quiet[k] = v


@njit(**_JIT_PURE)
def _med9(x0, x1, x2, x3, x4, x5, x6, x7, x8):
    """Median of nine values: a sorting network of 19 compare-exchanges that leaves the
    median in the middle (Paeth), in locals: no branch to mispredict, and a loop over
    bins that calls it vectorises."""
    x1, x2 = min(x1, x2), max(x1, x2)
    x4, x5 = min(x4, x5), max(x4, x5)
    x7, x8 = min(x7, x8), max(x7, x8)
    x0, x1 = min(x0, x1), max(x0, x1)
    x3, x4 = min(x3, x4), max(x3, x4)
    x6, x7 = min(x6, x7), max(x6, x7)
    x1, x2 = min(x1, x2), max(x1, x2)
    x4, x5 = min(x4, x5), max(x4, x5)
    x7, x8 = min(x7, x8), max(x7, x8)
    x0, x3 = min(x0, x3), max(x0, x3)
    x5, x8 = min(x5, x8), max(x5, x8)
    x4, x7 = min(x4, x7), max(x4, x7)
    x3, x6 = min(x3, x6), max(x3, x6)
    x1, x4 = min(x1, x4), max(x1, x4)
    x2, x5 = min(x2, x5), max(x2, x5)
    x4, x7 = min(x4, x7), max(x4, x7)
    x4, x2 = min(x4, x2), max(x4, x2)
    x6, x4 = min(x6, x4), max(x6, x4)
    x4, x2 = min(x4, x2), max(x4, x2)
    return x4


@njit(**_JIT_PURE)
def _median9(values, st, sp, cnt, nine, out):
    """Median over the nine bins around each searched bin of a direction (fewer at its
    ends: the upper median of an even count).

    Inside, :func:`_med9` over the run of bins in ascending order (the loop vectorises),
    its values taken outward from the direction's start as the direction orders them
    (``sp`` 1 or -1); at the four bins of each end, an insertion sort in ``nine``.
    """
    if cnt >= 9:
        # the inner bins ``4 .. cnt - 5`` as one ascending run ``k0 .. k1``
        k0 = min(st + sp * 4, st + sp * (cnt - 5))
        k1 = max(st + sp * 4, st + sp * (cnt - 5))
        v = values[k0 - 4:k1 + 5]
        o = out[k0:k1 + 1]
        if sp > 0:
            for i in range(k1 - k0 + 1):
                o[i] = _med9(v[i], v[i + 1], v[i + 2], v[i + 3], v[i + 4], v[i + 5],
                             v[i + 6], v[i + 7], v[i + 8])
        else:
            for i in range(k1 - k0 + 1):
                o[i] = _med9(v[i + 8], v[i + 7], v[i + 6], v[i + 5], v[i + 4], v[i + 3],
                             v[i + 2], v[i + 1], v[i])
    for j in range(cnt):
        if 4 <= j < cnt - 4:
            continue
        m = 0
        for jj in range(max(0, j - 4), min(cnt, j + 5)):
            # insertion into the sorted ``nine[:m]``
            x = values[st + sp * jj]
            i = m
            while i > 0 and nine[i - 1] > x:
                nine[i] = nine[i - 1]
                i -= 1
            nine[i] = x
            m += 1
        out[st + sp * j] = nine[m // 2]


@njit(**_JIT_PURE)
def _smooth5(values, st, sp, cnt, code, out):
    """Mean of ``values`` over the five bins around each searched bin of a direction whose
    five bins are all in the band (``code`` 0); the value itself elsewhere.

    Over the direction's bins (its step is 1 or -1) as one ascending run, without a
    branch (the loop vectorises); the five summed (in float32, ``float`` of a float32
    being one in numba) outward from the direction's start, as the direction orders them.
    """
    if cnt <= 0:
        return
    k0 = min(st, st + sp * (cnt - 1))
    v = values[k0:k0 + cnt]
    c = code[k0:k0 + cnt]
    o = out[k0:k0 + cnt]
    for i in range(min(2, cnt)):
        o[i] = v[i]
        o[cnt - 1 - i] = v[cnt - 1 - i]
    if sp > 0:
        for i in range(2, cnt - 2):
            mean = (float(v[i - 2]) + v[i - 1] + v[i] + v[i + 1] + v[i + 2]) / 5.0
            ok = (c[i - 2] | c[i - 1] | c[i] | c[i + 1] | c[i + 2]) == 0
            o[i] = mean if ok else v[i]
    else:
        for i in range(2, cnt - 2):
            mean = (float(v[i + 2]) + v[i + 1] + v[i] + v[i - 1] + v[i - 2]) / 5.0
            ok = (c[i - 2] | c[i - 1] | c[i] | c[i + 1] | c[i + 2]) == 0
            o[i] = mean if ok else v[i]


@njit(inline="always", **_JIT_PURE)
def _upper_octaves(f0, top, bin_hz):
    """Outward index of the first bin of a direction's upper two octaves below its band's
    top bin ``top`` (``f0``: the frequency of its first bin, Hz): where the colour is
    fitted."""
    return max(0, int(math.ceil((0.25 * (f0 + top * bin_hz) - f0) / bin_hz)))


@njit(**_JIT_PURE)
def _fit_colour(quiet, log2f, dir_start, dir_step, dir_count, dir_f0, bin_hz, fit_top, code,
                tops, below, flat, xs, ys, coef):
    """Fit the noise's colour, a power law ``exp(a) * |f| ** (b / ln 2)``, to the quiet floor.

    Least squares on the logarithm of the quiet floor of the bins in the band (``code``
    0) in the upper two octaves below the band's top (and below ``fit_top``, Hz), where
    flow seldom stays, leaving
    out those more than ``below`` (a ratio) under the first fit (a low-pass's skirt, a
    notch).  A slope within three standard errors of zero, or that moves the level by
    less than ``flat`` (a ratio) from the band's bottom to its top, is no slope.
    ``log2f`` holds ``log2 |f|`` of each bin; ``xs`` and ``ys`` are scratch.  ``coef``
    receives ``a`` and ``b`` (per octave); returns False (``coef`` untouched) with fewer
    than eight bins.
    """
    m = 0
    lo_x = 1e300
    hi_x = -1e300
    for d in range(2):
        top = tops[d]
        if dir_count[d] <= 0 or top < 0:
            continue
        k_top = dir_start[d] + dir_step[d] * top
        lo_x = min(lo_x, np.float64(log2f[dir_start[d]]))
        hi_x = max(hi_x, np.float64(log2f[k_top]))
        j0 = _upper_octaves(dir_f0[d], top, bin_hz)
        # not into the anti-aliasing filter's roll-off, nor near the Nyquist frequency,
        # where a real signal's bins are not those of complex noise
        j1 = min(top, int((fit_top - dir_f0[d]) / bin_hz))
        for j in range(j0, j1 + 1):
            k = dir_start[d] + dir_step[d] * j
            if code[k] == 0 and quiet[k] > 0.0:
                xs[m] = log2f[k]
                ys[m] = math.log(np.float64(quiet[k]))
                m += 1
    lb = math.log(below)
    for rnd in range(2):
        n = 0
        # float64 sums of float32 terms (typed: numpy adds a float32 to a Python float
        # in float32)
        sx = np.float64(0.0)
        sy = np.float64(0.0)
        sxx = np.float64(0.0)
        sxy = np.float64(0.0)
        for i in range(m):
            x = xs[i]
            y = ys[i]
            if rnd == 1 and y < coef[0] + coef[1] * x + lb:
                continue
            n += 1
            sx += x
            sy += y
            sxx += x * x
            sxy += x * y
        if n < 8:
            return rnd == 1
        den = n * sxx - sx * sx
        b = (n * sxy - sx * sy) / den if den > 0.0 else 0.0
        a = (sy - b * sx) / n
        # the slope's standard error, from the residuals
        res = np.float64(0.0)
        for i in range(m):
            x = xs[i]
            y = ys[i]
            if rnd == 1 and y < coef[0] + coef[1] * x + lb:
                continue
            res += (y - a - b * x) ** 2
        # (the quiet floor is a mean over five bins: five neighbours share their errors)
        se = math.sqrt(5.0 * res / max(n - 2, 1) * n / den) if den > 0.0 else math.inf
        # no slope beyond its uncertainty, nor one that moves the level by less than
        # ``flat`` over the band's octaves: white noise keeps an exactly flat floor
        if not abs(b) > 3.0 * se or abs(b) * (hi_x - lo_x) < math.log(flat):
            b = 0.0
        coef[0] = (sy - b * sx) / n
        coef[1] = b
    return True


@njit(**_JIT_PURE)
def _colour_shape(quiet, log2f, dir_start, dir_step, dir_count, dir_f0, bin_hz, fit_top, code,
                  tops, below, flat, xs, ys, coef, means, bias, unsteady):
    """Each searched bin's floor: the noise's colour (:func:`_fit_colour`), or its own quiet
    floor where that lies more than ``below`` (a ratio) under it (a band's edge, a notch,
    a quieter stretch), beyond the floor's own uncertainty.

    Such a bin is quiet all the time: its mean over each sub-window of the memory
    (``means``, one row a sub-window; as a quiet floor: divided by ``bias``) lies near its
    quiet floor.  In the band's upper two octaves, where the colour is fitted and flow
    seldom stays, a bin whose highest mean lies more than ``unsteady`` (a ratio) above its
    quiet floor is switched on and off (a lossy codec leaves out the bins it has no bits
    for, frame by frame): when on it holds the noise, and its floor is that mean, up to the
    colour.  (Below, the colour is extrapolated, and flow that comes and goes raises a
    bin's mean as much.)

    A bin never rises above the colour: flow that never pauses, in one direction or both,
    stays flow, and white noise keeps a flat floor.
    """
    if not _fit_colour(quiet, log2f, dir_start, dir_step, dir_count, dir_f0, bin_hz, fit_top,
                       code, tops, below, flat, xs, ys, coef):
        return
    a = coef[0]
    b = coef[1]
    level = math.exp(a)
    for d in range(2):
        j_fit = _upper_octaves(dir_f0[d], tops[d], bin_hz) if tops[d] >= 0 else dir_count[d]
        for j in range(dir_count[d]):
            k = dir_start[d] + dir_step[d] * j
            model = level if b == 0.0 else math.exp(a + b * log2f[k])
            if not quiet[k] < below * model:
                quiet[k] = model
            elif j >= j_fit:
                loud = means[0, k]
                for i in range(1, means.shape[0]):
                    loud = max(loud, means[i, k])
                if loud > unsteady * bias * quiet[k]:
                    quiet[k] = min(model, loud / bias)


@njit(**_JIT_PURE)
def _update_shape(warm, frame, lo, hi, dir_start, dir_step, dir_count, dir_f0, log2f, noise_bins,
                  mirror, par, ratios, state, smooth, ring, quiet, shape, inv, code, inb, line,
                  band_noise, mean, scratch, scratch2, iscratch, nine, coef, tops, pending, t_hit,
                  t_scratch, t_low, t_score, t_level, t_held, t_found, ver_shape, ver_inv,
                  ver_fill, ver_top, ver_start, pair, pair_ring, sub_start):
    """New shape, band and tonal lines: from the ring of sub-window minima (``warm``
    False) or, before the first sub-window ends, from the cumulative mean smoothed over
    nine bins (no lines).  ``sub_start`` receives the frame from which each of the first
    sub-windows' shapes is in force."""
    bias = par[P_BIAS]
    if warm:
        for d in range(2):
            _median9(smooth, dir_start[d], dir_step[d], dir_count[d], nine, scratch2)
        bias = 1.0
    u = int(min(state[N_SUBS], par[P_U]))
    if not warm:
        # the lowest of the ring's sub-window minima, a sub-window at a time (the runs
        # sliced so that their indices start at 0: the loops vectorise)
        low = scratch2[lo:hi]
        r = ring[0, lo:hi]
        for k in range(hi - lo):
            low[k] = r[k]
        for i in range(1, u):
            r = ring[i, lo:hi]
            for k in range(hi - lo):
                low[k] = min(low[k], r[k])
    # (near digital silence as the band's test: within SILENT_DB of quantisation noise)
    louder = 0
    if warm and par[P_SIDE_GATE] > 0.0:
        louder = _louder_side(scratch2, mirror, lo, hi, code,
                              ratios[0] * state[SILENT_REF] / bias, par[P_SIDE_GATE], scratch)
    _mirror_min(scratch2, mirror, lo, hi, code, ratios[0] * state[SILENT_REF] / bias, scratch,
                quiet)
    for k in range(lo, hi):
        line[k] = 0
    # the tonal lines, from the sub-window's mean and its newest minima; in the warm-up,
    # from the mean of the frames so far (``mean`` holds their sum), and only the mirrored
    # pairs, which need no hold: a tone on the signal lines reads as flow both ways from
    # the first frame on
    if warm:
        n_seen = int(state[N_SUB_FRAMES])
        n = mean.shape[0]
        src = scratch[:n]
        med = scratch[n:2 * n]
        f = np.float32(1.0 / n_seen)
        for k in range(lo, hi):
            src[k] = mean[k] * f
        i = 0
        while (2 << i) <= n_seen:
            i += 1
        for d in range(2):
            _median9(src, dir_start[d], dir_step[d], dir_count[d], nine, med)
            _warm_hits(src, med, dir_start[d], dir_step[d], dir_count[d],
                       par[P_WARM_RATIO + i], t_hit)
    else:
        src = mean
        newest = ring[(int(state[N_SUBS]) - 1) % int(par[P_U])]
        for d in range(2):
            _tone_hits(src, newest, dir_start[d], dir_step[d], dir_count[d],
                       par[P_LINE_RATIO], t_hit, t_low)
    _mirror_hits(src, mirror, lo, hi, par[P_STEADY], t_hit)
    # a line stands over the samples' quantisation noise, as the band's noise does: under it
    # (the float rounding of a noiseless recording's spectra, a constant's included) a
    # peak is no interference anyone recorded
    silent_at = ratios[0] * state[SILENT_REF]
    for k in range(lo, hi):
        if t_hit[k] and not src[k] > silent_at:
            t_hit[k] = 0
    if warm:
        for k in range(lo, hi):
            t_hit[k] = 0 if t_hit[k] == 1 else t_hit[k]
    for d in range(2):
        _tone_hold(src, dir_start[d], dir_step[d], dir_count[d], par[P_STEADY],
                   int(par[P_HOLD]), int(par[P_REACH]), t_hit, t_scratch, t_score,
                   t_level, t_held, t_found, line, warm)
    # peaks not yet held count with the lines toward a band's limit (a codec's artefacts
    # above its cut-off are peaks from the start), marked 2
    if not warm:
        for k in range(lo, hi):
            if t_hit[k]:
                for kk in range(max(k - 1, lo), min(k + 2, hi)):
                    if line[kk] == 0:
                        line[kk] = 2
    # bins whose noise rises and falls with their mirror's (a lossy codec's coarse coding of
    # each real channel) count with the lines toward a band's limit, and may set it, as a
    # bin out of the band does: marked 3
    # (in the warm-up, over the frames so far once they are enough to tell)
    if mirror[dir_start[0]] >= 0:
        n_sub = int(par[P_U])
        if not warm:
            _mirror_coherent(ring[n_sub:n_sub + u], pair_ring[:u], pair_ring[n_sub:n_sub + u],
                             1.0, mirror, dir_start[0], dir_step[0], dir_count[0],
                             par[P_COHERENT], 2, scratch, line)
        elif state[N_SUB_FRAMES] >= WARM_COHERENT_FRAMES:
            # (three bins in a row: the correlation of 16 frames strays by 0.25)
            _mirror_coherent(mean.reshape((1, -1)), pair[0:1], pair[1:2],
                             1.0 / state[N_SUB_FRAMES], mirror, dir_start[0], dir_step[0],
                             dir_count[0], par[P_COHERENT], 3, scratch, line)
    # the band's noise: the median quiet floor of the bins on no line and not near
    # digital silence (a band-limited recording is mostly silence)
    m = np.int64(0)  # typed: a literal 0 would compile _select for it too
    for b in noise_bins:
        if not line[b] and quiet[b] * bias > silent_at:
            scratch[m] = quiet[b]
            m += 1
    if m == 0:
        for b in noise_bins:
            scratch[m] = quiet[b]
            m += 1
    ref = np.float64(_select(scratch, m, m // 2)) if m > 0 else 0.0
    for d in range(2):
        _band_update(quiet, bias, line, dir_start[d], dir_step[d], dir_count[d], ref,
                     state[SILENT_REF], ratios, scratch2, iscratch, code, tops, pending, d)
        if not warm:  # the widest band found, for the result
            pending[2 + d] = max(pending[2 + d], tops[d])
    # the band's bins on held lines are taken out of it (code 2); each direction's bins
    # (its step is 1 or -1) as one ascending run, without a branch
    n_in = 0
    for d in range(2):
        cnt = dir_count[d]
        k0 = min(dir_start[d], dir_start[d] + dir_step[d] * (cnt - 1))
        ln = line[k0:k0 + cnt]
        cd = code[k0:k0 + cnt]
        ib = inb[k0:k0 + cnt]
        for i in range(cnt):
            c = 2 if (ln[i] == 1) & (cd[i] == 0) else cd[i]
            cd[i] = c
            n_in += 1 if c == 0 else 0
            ib[i] = 1.0 if c == 0 else 0.0
    state[N_INBAND] = n_in
    _band_noise_bins(noise_bins, code, band_noise, state)
    _upper_counts(dir_start, dir_step, dir_count, tops, inb, state)
    if not warm:
        # each bin's quiet floor is a minimum of its own speckle, uncertain by some 10 %;
        # noise changes slowly with frequency: the shape is the mean over five bins in
        # the band (a bin beside the band's edge or a line keeps its own)
        for d in range(2):
            _smooth5(quiet, dir_start[d], dir_step[d], dir_count[d], code, scratch2)
        for d in range(2):
            cnt = dir_count[d]
            k0 = min(dir_start[d], dir_start[d] + dir_step[d] * (cnt - 1))
            for k in range(k0, k0 + cnt):
                quiet[k] = scratch2[k]
        # the noise's colour, or a bin's own quiet floor well below it
        _colour_shape(quiet, log2f, dir_start, dir_step, dir_count, dir_f0, par[P_BIN],
                      par[P_FIT_TOP], code, tops, par[P_COLOUR], par[P_FLAT], scratch, scratch2,
                      coef, ring[int(par[P_U]):int(par[P_U]) + u], bias, par[P_UNSTEADY])
    # warm-up: a mean of the first frames smoothed over nine bins holds any flow there
    # was; twice it is a safe floor, and no bin rises above the band's quiet quarter
    colour = False
    if warm and mirror[dir_start[0]] >= 0:
        # coloured noise (strong at slow flow) is no flow from the first frames on: with
        # two channels, the quiet floor holds the lower side's (one-way flow is gone from
        # it) and the cap follows the colour of the band's upper octaves
        colour = _fit_colour(quiet, log2f, dir_start, dir_step, dir_count, dir_f0, par[P_BIN],
                             par[P_FIT_TOP], code, tops, par[P_COLOUR], par[P_FLAT], scratch,
                             scratch2, coef) and coef[1] != 0.0
    was_out = ver_fill[(int(state[N_VER]) - 1) % ver_fill.shape[0]]  # the version in force
    _normalise(quiet, 2.0 if warm else 1.0, band_noise[:int(state[N_NOISE])], code, was_out,
               warm, lo, hi, scratch, shape, inv, state, log2f, coef, colour, mirror, louder)
    _new_version(frame, shape, inv, code, tops, ver_shape, ver_inv, ver_fill, ver_top,
                 ver_start, state)
    state[SILENT_REF] = np.inf  # (the next shape's frames take their own)
    if not warm and 0 < state[N_SUBS] <= sub_start.shape[0]:
        sub_start[int(state[N_SUBS]) - 1] = frame


@njit(**_JIT_PURE)
def _mirror_products(p, mirror, st, cnt, twin, cross):
    """Add a tracked frame ``p``'s products of each bin's power and its mirror's to
    ``cross``, on the positive side's bins (``st``, ascending, ``cnt``; none without
    mirrors).  ``twin``: the sum of a bin's index and its mirror's where every bin there
    has that sum (bins ascending through 0 Hz), read as two runs; -1: each mirror looked
    up."""
    if cnt <= 0 or mirror[st] < 0:
        return
    cr = cross[st:st + cnt]
    if twin >= 0:
        a = p[st:st + cnt]
        b = p[twin - st - cnt + 1:twin - st + 1]  # the mirrors, in reverse order
        for j in range(cnt):  # (indices from 0: the loop vectorises)
            cr[j] += a[j] * b[cnt - 1 - j]
    else:
        for j in range(cnt):
            cr[j] += p[st + j] * p[mirror[st + j]]


@njit(**_JIT_PURE)
def _mirror_coherent(means, cross, squares, scale, mirror, st, sp, cnt, excess, run, scratch,
                     line):
    """Mark (``line`` 3) the bins whose power rises and falls with their mirror's, on the
    positive side (``st``, ``sp``, ``cnt``) and its mirror.

    The correlation of a bin's power with its mirror's over the tracked frames, from the
    means of the powers (``means``), of their products (``cross``) and of their squares
    (``squares``), one row a sub-window of the memory, each times ``scale`` (the warm-up
    passes one row of sums and the inverse of its frames).  A bin and its mirror are
    marked where the two mean powers lie within :data:`MIRROR_BALANCE` of each other and
    the correlation exceeds the median of the positive side's lower half by ``excess``,
    in ``run`` bins in a row or more: a change of gain, a contact lost and found, moves
    every bin alike and marks none, and a codec codes bins in clumps (a bin's chance
    excess in the noise of few frames is no limit).
    """
    u = means.shape[0]
    corr = scratch[:cnt]
    for j in range(cnt):
        k = st + sp * j
        m = mirror[k]
        corr[j] = 0.0
        if m < 0:
            continue
        e1 = 0.0
        e2 = 0.0
        q1 = 0.0
        q2 = 0.0
        x = 0.0
        for i in range(u):
            e1 += means[i, k]
            e2 += means[i, m]
            x += cross[i, k]
            q1 += squares[i, k]
            q2 += squares[i, m]
        w = scale / u
        e1 *= w
        e2 *= w
        x *= w
        v1 = q1 * w - e1 * e1
        v2 = q2 * w - e2 * e2
        # (written so that a sum beyond float32's range, inf or NaN, marks nothing)
        if not (v1 > 0.0 and v2 > 0.0 and e1 > 0.0 and e2 > 0.0):
            continue
        if e1 > MIRROR_BALANCE * e2 or e2 > MIRROR_BALANCE * e1:
            continue
        # the covariance over the larger variance: a correlation that an image, whose
        # variance is that of the flow times the image's (small) power ratio squared,
        # cannot reach, however closely it follows the flow
        c = (x - e1 * e2) / max(v1, v2)
        corr[j] = c if c < math.inf else 0.0
    half = cnt // 2
    if half < 3:
        return
    low = scratch[cnt:cnt + 2 * half]  # (its upper half: _select's)
    for j in range(half):
        low[j] = corr[j]
    base = np.float64(_select(low, half, half // 2))
    at = base + excess
    j = 0
    while j < cnt:
        if not corr[j] > at:  # (nor with a NaN level: every run ends)
            j += 1
            continue
        end = j
        while end < cnt and corr[end] > at:
            end += 1
        if end - j >= run:
            for jj in range(j, end):
                k = st + sp * jj
                for kk in (k, mirror[k]):
                    if line[kk] != 1:
                        line[kk] = 3
        j = end


@njit(**_JIT_PURE)
def _band_noise_bins(noise_bins, code, out, state):
    """The noise bins in the band (``code`` 0) into ``out``, their count into
    ``state[N_NOISE]``: the bins of the level's estimate (:func:`_level_update`), taken
    when the band changes rather than at every estimate.  Without branches."""
    m = 0
    for b in noise_bins:
        out[m] = b
        m += 1 if code[b] == 0 else 0
    state[N_NOISE] = m


@njit(**_JIT_PURE)
def _upper_counts(dir_start, dir_step, dir_count, tops, inb, state):
    """The in-band bins of each direction's upper half-band (:func:`~.impulses._upper_count`)
    into ``state[N_UPPER + d]``: the impulses' test divides by them at every frame, and
    they change with the band only."""
    for d in range(2):
        state[N_UPPER + d] = _upper_count(inb, dir_start[d], dir_step[d], dir_count[d],
                                          tops[d])


@njit(**_JIT_PURE)
def _level_update(p, inv, bins, par, scratch, state):
    """Merge a new estimate of the level (:func:`_estimate`); return whether the level
    fell (:data:`FALL_RATIO`)."""
    est = _estimate(p, inv, bins, par, scratch, state)
    if est <= 0.0:
        return False  # digital silence (or no bins): keep the level known so far
    # a stream's first frames: the mean of their estimates (one a frame; one frame's
    # quantile strays by some 15 %); then tracked
    state[N_LEVELS] += 1.0
    n = state[N_LEVELS]
    a = 1.0 / n if n <= par[P_LEVEL_MEAN] else par[P_ALPHA]
    if _is_fall(est, n, par, state):
        # a run of estimates far under the level is a fall: the level is their mean
        if state[FALL_RUN] == 0.0:
            state[FALL_START] = state[LEVEL]
        state[FALL_RUN] += 1.0
        state[FALL_SUM] += est
        if state[FALL_RUN] >= FALL_ESTIMATES:
            state[LEVEL] = state[FALL_SUM] / state[FALL_RUN]
            state[FALL_RUN] = 0.0
            state[FALL_SUM] = 0.0
            # a fall as far under the level's floor is a quiet stretch: the level it fell
            # from is kept (the first of the stretch's falls) to be taken back (_restore);
            # a loud stretch's end falls back to the floor
            if state[FALL_FROM] <= 0.0 and FALL_RATIO * state[LEVEL] < state[LOW]:
                state[FALL_FROM] = state[FALL_START]
                state[FALL_AT] = state[N_VALID]
                state[QUIET_FROM] = state[FALL_SINCE]
            _low_update(par, state, n)
            return True
    else:
        state[FALL_RUN] = 0.0
        state[FALL_SUM] = 0.0
    state[LEVEL] += a * (est - state[LEVEL])
    _low_update(par, state, n)
    return False


@njit(**_JIT_PURE)
def _low_update(par, state, n):
    """The level's floor (slot ``LOW``) after the ``n``-th estimate: the level where it is
    lower, else the floor raised by :data:`FALL_RATIO` over :data:`RESTORE_S` at most (a
    loud stretch, followed up by the level, raises it a little: a fall at its end is no
    quiet stretch)."""
    if n > par[P_LEVEL_MEAN]:
        state[LOW] *= par[P_LOW_RISE]
    if state[LOW] <= 0.0 or state[LEVEL] < state[LOW]:
        state[LOW] = state[LEVEL]


@njit(**_JIT_PURE)
def _restore(p, inv, bins, par, scratch, state):
    """After a fall (slot ``FALL_FROM``: the level before it), take that level back where the
    frame ``p``'s estimate (:func:`_estimate`) stands within :data:`RESTORE_RATIO` under it
    or above it; return whether it did.  The level is forgotten :data:`RESTORE_S` after the
    fall, and the stretch then watched for its end (:func:`_back`)."""
    if state[N_VALID] - state[FALL_AT] > par[P_RESTORE]:
        # the recording's level from now on; the stretch is still watched for its end
        # (:func:`_back`)
        state[WATCH_FROM] = state[FALL_FROM]
        state[WATCH_START] = state[QUIET_FROM]
        state[FALL_FROM] = 0.0
        return False
    if not _comes_back(p, inv, bins, par, scratch, state, state[FALL_FROM]):
        return False
    state[LEVEL] = state[FALL_FROM]
    state[FALL_FROM] = 0.0
    state[FALL_RUN] = 0.0
    state[FALL_SUM] = 0.0
    return True


@njit(**_JIT_PURE)
def _back(p, inv, bins, par, scratch, state):
    """Whether a quiet stretch longer than :data:`RESTORE_S` (slot ``WATCH_FROM``: the level
    before it) ends at the frame ``p``: its estimate stands within :data:`RESTORE_RATIO` under
    that level or above it, as :func:`_restore` takes it back; the level is taken back too
    (the caller puts back the tracking and the shape of before the stretch,
    :func:`_before_stretch`)."""
    if not _comes_back(p, inv, bins, par, scratch, state, state[WATCH_FROM]):
        return False
    state[LEVEL] = state[WATCH_FROM]
    state[WATCH_FROM] = 0.0
    state[FALL_RUN] = 0.0
    state[FALL_SUM] = 0.0
    return True


@njit(**_JIT_PURE)
def _comes_back(p, inv, bins, par, scratch, state, before):
    """Whether the frame ``p``'s estimate (:func:`_estimate`) stands within
    :data:`RESTORE_RATIO` under the level ``before`` a quiet stretch, or above it."""
    return RESTORE_RATIO * _estimate(p, inv, bins, par, scratch, state) >= before


@njit(inline="always", **_JIT_PURE)
def _is_fall(est, n, par, state):
    """Whether ``est``, the level's ``n``-th estimate, stands as far under the level as a
    fall's (the first ``P_LEVEL_MEAN`` estimates make the level's mean: none is)."""
    return n > par[P_LEVEL_MEAN] and FALL_RATIO * est < state[LEVEL]


@njit(**_JIT_PURE)
def _falls(p, inv, bins, par, scratch, state):
    """Whether the frame ``p``'s estimate (:func:`_estimate`) stands as far under the level
    as a fall's, as :func:`_level_update` would judge it."""
    n = state[N_LEVELS] + 1.0
    if n <= par[P_LEVEL_MEAN]:
        return False  # (no estimate to take: the level is still the mean of the first)
    est = _estimate(p, inv, bins, par, scratch, state)
    return est > 0.0 and _is_fall(est, n, par, state)


@njit(**_JIT_PURE)
def _estimate(p, inv, bins, par, scratch, state):
    """An estimate of the level from one frame's whitened noise bins in the band
    (``bins``: :func:`_band_noise_bins`); 0 where it has none (digital silence, or fewer
    than :data:`~dopplerflow.core.spectrum.MIN_NOISE_BINS` bins: a band found that narrow
    in the warm-up, its noise bins taken for near digital silence, holds the wall
    filter's and the flow's lowest bins, not noise; a 16-bit carotid whose noise lay 20 dB
    over the quantisation's had four such estimates of 2,000 times its level among the
    first, whose mean the level is: every frame after fell 10 dB under it, one quiet
    stretch from 0.57 s to the end).

    The estimate is the ``P_Q`` quantile of the whitened bins over the quantile of an
    exponential law of mean 1.  Once there is a level, that quantile lies near the
    level's own: one pass counts the bins under a bracket around it and keeps those
    within it, and only those are searched (:func:`_select`); where the quantile lies
    outside (the level changed), every bin is.  The same order statistic either way: the
    same estimate, a fraction of the search.
    """
    m = bins.shape[0]
    if m < MIN_NOISE_BINS:
        return 0.0
    qi = int(par[P_Q] * (m - 1))
    q = (qi + 0.5) / m
    g = -math.log(1.0 - q)  # the quantile of the exponential law of mean 1
    x = np.float32(-1.0)
    if state[LEVEL] > 0.0:
        lo = np.float32(_LEVEL_BRACKET[0] * g * state[LEVEL])
        hi = np.float32(_LEVEL_BRACKET[1] * g * state[LEVEL])
        below = np.int64(0)  # typed: a literal 0 would compile _select for it too
        n_in = np.int64(0)
        for b in bins:
            w = p[b] * inv[b]
            scratch[n_in] = w
            n_in += 1 if lo <= w <= hi else 0
            below += 1 if w < lo else 0
        if below <= qi < below + n_in:
            x = _select(scratch[:2 * n_in], n_in, qi - below)
    if x < 0.0:
        for i in range(m):
            scratch[i] = p[bins[i]] * inv[bins[i]]
        x = _select(scratch, m, qi)
    # (widened: numpy divides a float32 by a Python float in float32)
    return np.float64(x) / g


@njit(**_JIT_PURE)
def _masked_sum(p, mask):
    """Sum of ``p * mask`` (float32 runs of one length), as float32: the float32 products
    summed in float64 in eight lanes (product ``k`` in lane ``k % 8``, those past the last
    eight in lane 0), added pairwise.  An order fixed in the source, which the compiler
    vectorises without reassociating: every machine, whatever its vector width, and the
    interpreted kernel (:mod:`dopplerflow._first_run`) give the same bits."""
    n = p.shape[0]
    n8 = n - n % 8
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = np.float64(0.0)
    for k in range(0, n8, 8):
        a0 += p[k] * mask[k]
        a1 += p[k + 1] * mask[k + 1]
        a2 += p[k + 2] * mask[k + 2]
        a3 += p[k + 3] * mask[k + 3]
        a4 += p[k + 4] * mask[k + 4]
        a5 += p[k + 5] * mask[k + 5]
        a6 += p[k + 6] * mask[k + 6]
        a7 += p[k + 7] * mask[k + 7]
    for k in range(n8, n):
        a0 += p[k] * mask[k]
    return np.float32(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)))


@njit(inline="always", **_JIT_PURE)
def _kept_frame(power, r, last):
    """A clean frame kept for an impulse's replacement: ``power[r]``, or for ``r`` -1 and -2
    the last clean frame and the one before it of the calls before (``last[0]``,
    ``last[1]``)."""
    return power[r] if r >= 0 else last[-1 - r]


@njit(**_JIT_PURE)
def _clean_frame(power, r, last, lo, hi, out):
    """Copy bins ``lo .. hi - 1`` of a clean frame kept for an impulse's replacement
    (:func:`_kept_frame`) into ``out``."""
    src = _kept_frame(power, r, last)
    for k in range(lo, hi):
        out[k] = src[k]


@njit(**_JIT_PURE)
def _gate(power, i, step, lo, hi, dir_start, dir_step, dir_count, par, state, vinv, inb, tops,
          last):
    """Replace the frame ``power[i]`` of an impulse by a clean frame before it; count the
    impulses.

    The clean frames are the last two that were no part of a broadband run
    (``state[LAST_ROW]`` and ``state[PREV_ROW]``, :func:`_clean_frame`).  The window of
    the frame just before a click may hold the click's first milliseconds under its
    tapered edge, and that of the frame just after it its last: too little to make them
    broadband, enough to raise every bin.  So an impulse's frames are replaced by the
    mean of the last two clean frames (:func:`_replace`), or by the one before the last
    when the last holds twice its band power (the click's start), and the first frame
    after the run (the window's tail over the
    click: under half the run's last band power) is replaced too, as long as the run is
    short enough to be an impulse.  Both only with two directions, where a click stands
    out on both sides; in a mono recording the frames are replaced by the last clean one.
    A frame that holds a step of level (``step``: :func:`~.impulses.steps`) is taken as
    a broadband one.

    A broadband frame kept in a run longer than an impulse that is noise over the band
    (:mod:`.impulses`: on both sides alike), not a step alone, sets slot ``BROAD_NOW`` (0
    otherwise): it is not read, nor the run's frames after it that hold a step of level or
    are a dip inside the run (slot ``RUN_UNREAD``), until one is broadband but not on both
    sides alike.

    Returns the band power of the frame as it is left (:func:`_masked_sum` of its bins in
    the band) where the gate has taken it, else -1 (the tracking takes it itself).
    """
    p = power[i]
    level = state[LEVEL]
    broad = step
    click = True  # a broadband frame counts towards an impulse (see below)
    unread = False  # ... and, kept in a longer run, is not read (noise over the band)
    state[BROAD_NOW] = 0.0
    if not broad and level > 0.0 and state[N_VER] > 1:
        # broadband in every direction searched or not at all; the lesser fraction holds
        # with two, once the floor is the first sub-window's (the warm-up's floor, a mean
        # of the first frames, is rough: coloured noise stands above it here and there)
        f2 = par[P_IMP_F2] if state[N_SUBS] > 0 else par[P_IMP_F]
        f0 = -1.0
        f1 = -1.0
        for d in range(2):
            if dir_count[d] <= 0 or tops[d] < 1:
                continue
            f = _broadband_fraction(p, vinv, int(state[N_UPPER + d]), level, dir_start[d],
                                    dir_step[d], dir_count[d], tops[d], par[P_IMP_X])
            if d == 0:
                f0 = f
            else:
                f1 = f
            if f >= 0.0 and not f > f2:
                break  # short of either fraction: no need to look at the other side
        if f0 >= 0.0 and f1 >= 0.0:
            broad = min(f0, f1) > f2
            if broad:
                # noise comes in on both sides alike (the upper half-bands' power); flow
                # and its image do not
                k0, k1 = _upper_run(dir_start[0], dir_step[0], dir_count[0], tops[0])
                w0 = _masked_sum(p[k0:k1 + 1], inb[k0:k1 + 1])
                k0, k1 = _upper_run(dir_start[1], dir_step[1], dir_count[1], tops[1])
                w1 = _masked_sum(p[k0:k1 + 1], inb[k0:k1 + 1])
                unread = max(w0, w1) <= par[P_BALANCE] * min(w0, w1)
        elif max(f0, f1) >= 0.0:
            broad = max(f0, f1) > par[P_IMP_F]
            if broad:
                # one direction: flow fills the band from the baseline up to its maximum
                # velocity, which at a systolic peak may reach past the half-band's half
                # (and a faint transient may fall off towards the top); gated all the
                # same, such a frame is no click unless the band's top quarter is raised
                d = 0 if f0 >= f1 else 1
                click = _top_fraction(p, vinv, inb, level, dir_start[d], dir_step[d],
                                      dir_count[d], tops[d], par[P_IMP_X]) > par[P_IMP_F]
    # the replacement: the mean of the last two clean frames, or the one before the last
    # when the last stands twice above it in band power (it holds the click's start)
    # (with two directions only: in a mono recording what passes for an impulse is often
    # the heart's own sound or a systole's upstroke, and the frames beside it are flow)
    two = dir_count[0] > 0 and dir_count[1] > 0
    if broad:
        # one frame short of broadband inside a run does not end it; a run that starts
        # within an impulse's length of the last one is part of longer activity (a burst
        # of noise that the level is still following), no impulse
        if state[RUN] == 0.0:
            state[RUN_CLICK] = 0.0
            if state[QUIET] < par[P_MAX_RUN]:
                state[RUN] = par[P_MAX_RUN]
        if click:
            state[RUN_CLICK] = 1.0
        state[RUN] += 1.0 + state[GAP]
        state[GAP] = 0.0
        state[QUIET] = 0.0
        total = _masked_sum(p[lo:hi], inb[lo:hi])
        state[RUN_POWER] = total
        if state[RUN] <= par[P_MAX_RUN] and state[HAVE_LAST] > 0:
            _replace(power, last, lo, hi, inb, state, two, p)
            return np.float32(-1.0)
        # noise over the band is not read, nor the frames of the run that follow it
        # until one is broadband otherwise (a step of level, the window over the noise's
        # end, or a dip: slot RUN_UNREAD)
        if unread:
            state[RUN_UNREAD] = 1.0
        elif not step:
            state[RUN_UNREAD] = 0.0  # broadband, but not on both sides alike: read
        state[BROAD_NOW] = state[RUN_UNREAD]
        return total
    if state[RUN] > 0.0:
        state[GAP] += 1.0
        if state[GAP] < 2.0:
            # maybe a dip inside a longer run, or the window's tail over an impulse: the
            # last clean frames stay, and an impulse's tail is replaced (a frame that
            # holds less than half the band power of the run's last: what went on at
            # the same power, flow rising into systole, is no impulse's tail); a dip in
            # noise not read is not read either
            state[BROAD_NOW] = state[RUN_UNREAD]
            if two and state[RUN] <= par[P_MAX_RUN] and state[HAVE_LAST] > 0:
                total = _masked_sum(p[lo:hi], inb[lo:hi])
                if total < 0.5 * state[RUN_POWER]:
                    _replace(power, last, lo, hi, inb, state, two, p)
                    return np.float32(-1.0)
                return total
            return np.float32(-1.0)
        if state[RUN] <= par[P_MAX_RUN] and state[RUN_CLICK] > 0.0:
            state[IMPULSES] += 1.0
        state[RUN] = 0.0
        state[GAP] = 0.0
        state[UNREAD_N] = 0.0  # (the level, left as it was, goes on)
        state[UNREAD_SUM] = 0.0
        state[RUN_UNREAD] = 0.0
    state[QUIET] += 1.0
    state[PREV_ROW] = state[LAST_ROW]
    state[HAVE_PREV] = state[HAVE_LAST]
    state[PREV_POWER] = state[LAST_POWER]
    state[LAST_ROW] = i
    state[HAVE_LAST] = 1.0
    state[LAST_POWER] = -1.0  # summed when it is needed (:func:`_settle_powers`)
    return np.float32(-1.0)


@njit(**_JIT_PURE)
def _settle_powers(power, last, lo, hi, inb, state):
    """Sum the band power (:func:`_masked_sum`) of the last clean frame and the one
    before it where it is not yet summed (slots ``LAST_POWER``, ``PREV_POWER`` -1).

    A clean frame's band power is read only when an impulse's frame is replaced, so it
    is summed then, or with the frame's tracking, or before the band changes (a power is
    never negative): the same sum over the same bins as at the frame.
    """
    for have, row, slot in ((HAVE_LAST, LAST_ROW, LAST_POWER),
                            (HAVE_PREV, PREV_ROW, PREV_POWER)):
        if state[have] > 0 and state[slot] < 0.0:
            r = int(state[row])
            src = _kept_frame(power, r, last)
            state[slot] = _masked_sum(src[lo:hi], inb[lo:hi])


@njit(**_JIT_PURE)
def _replace(power, last, lo, hi, inb, state, two, out):
    """Replace an impulse's frame ``out`` (bins ``lo .. hi - 1``) by the clean frame
    :func:`_replacement` chooses; where that is the last and there is one before it, with
    two directions, by the mean of the two.  A row of the time-averaged spectrum averages
    three frames: three copies of one frame hold one frame's noise, not the average's, and
    its peaks passed the detection's threshold (at the start of noise over a 20 cm/s reflux,
    the first 25 ms read 87 cm/s); the mean of two holds half of it."""
    r = _replacement(power, last, lo, hi, inb, state, two)
    q = int(state[PREV_ROW])
    if not (two and state[HAVE_PREV] > 0 and r == int(state[LAST_ROW])):
        _clean_frame(power, r, last, lo, hi, out)
        return
    a = _kept_frame(power, r, last)
    b = _kept_frame(power, q, last)
    for k in range(lo, hi):
        out[k] = np.float32(0.5) * (a[k] + b[k])


@njit(**_JIT_PURE)
def _replacement(power, last, lo, hi, inb, state, two):
    """The clean frame that replaces an impulse's (:func:`_gate`): the last, or the one
    before it when the last stands twice above it in band power (it holds the click's
    start), with two directions only."""
    r = int(state[LAST_ROW])
    if two and state[HAVE_PREV] > 0:
        _settle_powers(power, last, lo, hi, inb, state)
        if state[LAST_POWER] > 2.0 * state[PREV_POWER]:
            r = int(state[PREV_ROW])
    return r


@njit(**_JIT_PURE)
def _track(power, valid, step, quant, frame0, start, resume, lo, hi, dir_start, dir_step,
           dir_count, par, state, smooth, smin, ssum, ring, inv, inb, band_noise, last, scratch,
           tops, ver_inv, mirror, pair, pair_ring, snap, before, out, fell, broad, quiet):
    """Track the per-bin noise floor over power frames (see :class:`NoiseFloor`), from
    frame ``start`` up to the end of a sub-window.

    Parameters
    ----------
    power : ndarray, shape (n, n_fft), float32
        Power frames; an impulse's frames are replaced in place.
    valid : ndarray, shape (n,), bool
        Frames to track (the others only receive the level).
    step : ndarray, shape (n,), bool
        Frames that hold a step of level: gated as broadband.
    quant : ndarray, shape (n,), float64
        The quantisation noise of a bin at each frame (:meth:`NoiseFloor._silence_rows`):
        with 16-bit quantisation noise at the frame's level (its strongest bin a
        full-scale tone's), where that lies higher, the reference of the tests of digital
        silence.  The least reference of the frames tracked since the last shape is kept in slot
        ``SILENT_REF`` for the band's and the lines' tests (:func:`_update_shape`).
    frame0 : int
        Stream index of ``power[0]``.
    start : int
        The first frame to track.
    resume : bool
        ``power[start]`` closed a sub-window and the new shape has been taken
        (:func:`_update_shape`): the frame's tracking goes on from there.
    lo, hi : int
        Tracked bins.
    dir_start, dir_step, dir_count
        From the ``SpectralConfig``.
    par : ndarray, float64
        Parameters (``P_*`` slots).
    state : ndarray, float64
        Counters and the level (slots ``LEVEL`` ...).
    smooth, smin, ssum, ring, inv, inb, band_noise, last
        Per-bin state: smoothed power, the sub-window's minimum and sum, the ring of
        sub-window minima, the shape's inverse, 1 in the band, the noise bins in the
        band (the first ``state[N_NOISE]``: :func:`_band_noise_bins`), the last two
        clean frames of the calls before (shape (2, n_fft): :func:`_clean_frame`).
    scratch
        Scratch.
    tops
        The band's top per direction (``SignalBand.tops``).
    ver_inv
        The shapes' inverses kept, on the band's bins (:func:`_new_version`): the
        newest is the impulses' test's (:func:`_gate`).
    mirror, pair, pair_ring
        Each bin's mirror (``SpectralConfig.mirror``, -1: none); the sub-window's sums
        of each bin's power times its mirror's and squared, and the ring of their means
        a sub-window (:func:`_mirror_coherent`).
    snap : ndarray, shape (5, n_fft), float32
        The sub-window's tracking at the last estimate of the level before a fall
        (:func:`_snapshot`).
    before : tuple
        The tracking kept as a quiet stretch becomes the recording's level, and the arrays
        of the shape and its versions (:func:`_before_stretch`).
    out : ndarray, shape (n,), float64
        The level in force at each frame, negative where it is near digital silence.
    fell : ndarray, shape (n,), bool
        Set where the level fell (:data:`FALL_RATIO`); left as it is elsewhere.
    broad : ndarray, shape (n,), bool
        Set at the frames of broadband noise not read (:func:`_gate`); left as it is
        elsewhere.
    quiet : ndarray, shape (n,), float64
        At a frame where the signal came back from a quiet stretch (the level taken back,
        :func:`_restore`, or a longer stretch's end, :func:`_back`), the stream index of
        the stretch's first frame; left as it is elsewhere.

    Returns
    -------
    int
        The frame whose tracking closed a sub-window (or made a warm-up shape, slot
        ``WARM``), whose new shape the caller takes with :func:`_update_shape` before
        it calls again with ``start`` at it and ``resume``; -1 once every frame is
        tracked.  The sub-window's shape update is not compiled into this kernel: it
        runs every few hundred frames, and apart it is compiled once instead of twice.
    """
    a = par[P_A]
    v_frames = int(par[P_V])
    stride = int(par[P_STRIDE])
    every = int(par[P_EVERY])
    # the shape's inverse on the band's bins, 0 elsewhere: the newest version's (the
    # shape changes between calls only)
    vinv = ver_inv[(int(state[N_VER]) - 1) % ver_inv.shape[0]]
    # the frames' phases in the tracking stride and the level's period, counted on (a
    # division a frame costs more than the rest of an untracked frame)
    phase = (frame0 + start) % stride
    phase_every = (frame0 + start) % every
    if resume and state[WARM] == 0.0:
        # a sub-window closed at frame ``start``: its mean is taken; the new one starts
        # from here, and so does the tracking a quiet stretch goes back to
        for k in range(lo, hi):
            ssum[k] = 0.0
        _snapshot(lo, hi, smooth, smin, ssum, pair, snap, state)
    for i in range(start, power.shape[0]):
        tracked = phase == 0
        levelled = phase_every == 0
        phase = phase + 1 if phase + 1 < stride else 0
        phase_every = phase_every + 1 if phase_every + 1 < every else 0
        if not valid[i]:
            out[i] = state[LEVEL]
            continue
        p = power[i]
        if not (resume and i == start):
            if state[FALL_FROM] > 0.0:
                if _restore(p, inv, band_noise[:int(state[N_NOISE])], par, scratch, state):
                    quiet[i] = state[QUIET_FROM]
                elif state[WATCH_FROM] > 0.0:
                    # the stretch is the recording's level from here: what it is tracked
                    # over is kept, to be put back where the signal comes back
                    _before_stretch(lo, hi, ring, pair_ring, smooth, smin, ssum, pair, inv,
                                    inb, band_noise, tops, state, before, False)
            elif state[WATCH_FROM] > 0.0 and _back(p, inv, band_noise[:int(state[N_NOISE])],
                                                   par, scratch, state):
                quiet[i] = state[WATCH_START]
                _before_stretch(lo, hi, ring, pair_ring, smooth, smin, ssum, pair, inv, inb,
                                band_noise, tops, state, before, True)
                (_, _, _, _, shape, code, _, _, _, ver_shape, ver_fill, ver_top,
                 ver_start) = before
                _new_version(frame0 + i, shape, inv, code, tops, ver_shape, ver_inv, ver_fill,
                             ver_top, ver_start, state)
                vinv = ver_inv[(int(state[N_VER]) - 1) % ver_inv.shape[0]]
            gated = _gate(power, i, step[i], lo, hi, dir_start, dir_step, dir_count, par,
                          state, vinv, inb, tops, last)
            if state[BROAD_NOW] > 0.0:
                broad[i] = True  # not read, nor tracked: the noise floor is not its
                tracked = False  # (nor the tonal lines: a sub-window's mean)
            state[N_VALID] += 1.0
            pp = p[lo:hi]
            # a quiet stretch's frames are not tracked (the noise of a probe off the skin
            # is no shape of the recording's, nor its mean a sub-window's): its silence is
            # told as anywhere
            kept = tracked and state[FALL_FROM] <= 0.0
            if kept:
                # frames ``stride`` apart share no sample: they hold all there is to track.
                # The cumulative mean until 1 / a frames, whose minimum is not yet taken (a
                # mean of few frames strays far below the noise); float32, without
                # branches, and the runs sliced so that their indices start at 0: the loops
                # vectorise
                state[N_TRACK] += 1.0
                n = state[N_TRACK]
                sm = smooth[lo:hi]
                mn = smin[lo:hi]
                su = ssum[lo:hi]
                sq = pair[1, lo:hi]  # (the squares for the mirror coherence)
                if n * a >= 1.0:
                    w = np.float32(a)
                    for k in range(hi - lo):
                        x = pp[k]
                        s = sm[k] + w * (x - sm[k])
                        sm[k] = s
                        m = mn[k]
                        mn[k] = s if s < m else m
                        su[k] += x
                        sq[k] += x * x
                else:
                    w = np.float32(1.0 / n)
                    for k in range(hi - lo):
                        x = pp[k]
                        sm[k] += w * (x - sm[k])
                        su[k] += x
                        sq[k] += x * x
                _mirror_products(p, mirror, dir_start[0], dir_count[0], int(par[P_TWIN]),
                                 pair[0])
            if tracked:
                n_in = state[N_INBAND]
                # (the band power the gate took of the frame, if it did: the same sum)
                total = gated if gated >= 0.0 else _masked_sum(pp, inb[lo:hi])
                if state[LAST_ROW] == i and state[LAST_POWER] < 0.0:
                    state[LAST_POWER] = total
                # digital silence: the samples' quantisation, or 16-bit quantisation with
                # the frame's strongest bin at full scale where that lies higher
                q = max(quant[i], _row_max(p) * par[P_AT_FULL])
                if kept:
                    state[SILENT_REF] = min(state[SILENT_REF], q)
                state[SILENT_NOW] = 1.0 if (n_in <= 0 or total <= par[P_SILENCE] * q * n_in) \
                    else 0.0
                state[MUTE_NOW] = 1.0 if (n_in <= 0 or total <= par[P_MUTE] * q * n_in) \
                    else 0.0
                state[SILENT_MEAN] = total / n_in if n_in > 0 else 0.0
            if kept:
                state[N_SUB_FRAMES] += 1.0
                nn = int(state[N_TRACK])
                warm = (state[N_SUBS] == 0 and state[N_SUB_FRAMES] < v_frames
                        and nn <= par[P_WARM] and nn & (nn - 1) == 0)
                # a sub-window waits while a fall is under way, or where this frame
                # starts one: the frames of a quiet stretch, tracked while its fall is
                # told, are undone before any shape is made of them
                if warm or (state[N_SUB_FRAMES] >= v_frames and state[FALL_RUN] == 0.0
                            and not _falls(p, inv, band_noise[:int(state[N_NOISE])], par,
                                           scratch, state)):
                    # (the band changes: the clean frames' band powers are summed before)
                    _settle_powers(power, last, lo, hi, inb, state)
                    state[WARM] = 1.0 if warm else 0.0
                    if not warm:
                        # the sub-window's minima and mean into the ring, its mean (for
                        # the tonal lines) in ssum
                        slot = int(state[N_SUBS]) % int(par[P_U])
                        inv_n = np.float32(1.0 / state[N_SUB_FRAMES])
                        for k in range(lo, hi):
                            ring[slot, k] = smin[k]
                            smin[k] = np.inf
                            ssum[k] *= inv_n
                            ring[int(par[P_U]) + slot, k] = ssum[k]
                            pair_ring[slot, k] = pair[0, k] * inv_n
                            pair_ring[int(par[P_U]) + slot, k] = pair[1, k] * inv_n
                            pair[0, k] = 0.0
                            pair[1, k] = 0.0
                        state[N_SUBS] += 1.0
                        state[N_SUB_FRAMES] = 0.0
                    return i
        # the level from the first band on (no flow is searched before); broadband noise
        # not read leaves it as it was, unless it lasts long enough to be a new level
        if state[N_VER] > 1 and (state[BROAD_NOW] > 0.0 or state[UNREAD_N] > 0.0):
            if state[BROAD_NOW] > 0.0:
                est = _estimate(p, inv, band_noise[:int(state[N_NOISE])], par, scratch, state)
                if est > 0.0:
                    state[UNREAD_N] += 1.0
                    state[UNREAD_SUM] += est
                if state[UNREAD_N] >= par[P_ADAPT]:
                    state[LEVEL] = state[UNREAD_SUM] / state[UNREAD_N]
                    state[UNREAD_N] = 0.0
                    state[UNREAD_SUM] = 0.0
                    _restart_subwindow(lo, hi, smin, ssum, pair, state)
        elif state[N_VER] > 1 and (levelled or state[N_LEVELS] < par[P_LEVEL_MEAN]):
            if state[FALL_RUN] == 0.0:
                # the frame after the last estimate: where a fall starting here began
                state[FALL_SINCE] = frame0 + i - every + 1
            fell[i] = _level_update(p, inv, band_noise[:int(state[N_NOISE])], par, scratch,
                                    state)
            if fell[i] and state[FALL_FROM] > 0.0 and state[FALL_AT] == state[N_VALID]:
                # a quiet stretch: its first frames, tracked while the fall was told, are
                # undone; one inside a longer one still watched is part of it
                _snapshot(lo, hi, smooth, smin, ssum, pair, snap, state, True)
                if state[WATCH_FROM] > 0.0:
                    state[QUIET_FROM] = state[WATCH_START]
                    state[WATCH_FROM] = 0.0
            elif state[FALL_RUN] == 0.0 and state[FALL_FROM] <= 0.0:
                _snapshot(lo, hi, smooth, smin, ssum, pair, snap, state)
        level = state[LEVEL]
        if state[SILENT_NOW] > 0.0:
            state[SILENT] += 1.0
            state[SILENT_POWER] += state[SILENT_MEAN]
        out[i] = -max(level, 1e-300) if state[MUTE_NOW] > 0.0 else level
    # the last two clean frames, for an impulse at the start of the next call (the one
    # before first: it may be the one kept in ``last[0]``)
    r = int(state[LAST_ROW])
    if r >= 0:
        q = int(state[PREV_ROW])
        if q != -2:
            _clean_frame(power, q, last, lo, hi, last[1])
        _clean_frame(power, r, last, lo, hi, last[0])
        state[LAST_ROW] = -1.0
        state[PREV_ROW] = -2.0
    return -1


@njit(**_JIT_PURE)
def _snapshot(lo, hi, smooth, smin, ssum, pair, snap, state, back=False):
    """Keep the sub-window's tracking (``smooth``, ``smin``, ``ssum`` and the two rows of
    ``pair`` on bins ``lo ... hi - 1``, and its frame counts) in ``snap`` (shape (5,
    n_fft)) and the ``SNAP_*`` slots of ``state``; ``back``: put the kept one back."""
    rows = (smooth, smin, ssum, pair[0], pair[1])
    for j in range(5):
        _move(rows[j][lo:hi], snap[j, lo:hi], back)
    if back:
        state[N_SUB_FRAMES] = state[SNAP_SUB_FRAMES]
        state[N_TRACK] = state[SNAP_TRACK]
        state[SILENT_REF] = state[SNAP_SILENT_REF]
    else:
        state[SNAP_SUB_FRAMES] = state[N_SUB_FRAMES]
        state[SNAP_TRACK] = state[N_TRACK]
        state[SNAP_SILENT_REF] = state[SILENT_REF]


@njit(**_JIT_PURE)
def _restart_subwindow(lo, hi, smin, ssum, pair, state):
    """Start the sub-window under way again from the next frame: at a new level taken
    after broadband noise (:data:`BURST_ADAPT_S`), its frames so far are of the level
    before.  A sub-window's mean of a few loud frames over many quiet ones is that of a
    few frames: where the signal first came on over a device's near-silent noise, its
    speckle stood like mirrored narrow peaks, held at once as two to six tonal lines."""
    for k in range(lo, hi):
        smin[k] = np.inf
        ssum[k] = 0.0
        pair[0, k] = 0.0
        pair[1, k] = 0.0
    state[N_SUB_FRAMES] = 0.0
    state[SILENT_REF] = np.inf


@njit(**_JIT_PURE)
def _before_stretch(lo, hi, ring, pair_ring, smooth, smin, ssum, pair, inv, inb, band_noise,
                    tops, state, before, back):
    """Keep the tracking and the shape in force as a quiet stretch becomes the recording's
    level (:func:`_restore`), or, ``back``, put them back where the signal comes back
    (:func:`_back`; the caller makes the shape the version in force from that frame).

    A probe's contact lost for longer than the floor's memory leaves the ring of sub-windows
    holding the stretch's noise: the shape made of it (its rounding, or a device's own
    white noise) read the recording's coloured noise coming back as broadband for half a
    second, and a mono recording's as flow at the band's top (the bundled artery 40 dB down
    for 4 s: 103 cm/s, and no heart rate found).  Put back, the frames of the return are
    read as after a shorter stretch.  ``before`` holds the arrays kept
    (:attr:`NoiseFloor._before` and the rest, in the order of ``_track_args``) and the
    arrays of the shape and its versions they are put back into."""
    (rows, codes, noise, vals, shape, code, line, coef, pending, _, _, _, _) = before
    u = ring.shape[0]
    for j in range(u):
        _move(ring[j, lo:hi], rows[j, lo:hi], back)
        _move(pair_ring[j, lo:hi], rows[u + j, lo:hi], back)
    live = (smooth, smin, ssum, pair[0], pair[1])
    for j in range(5):
        _move(live[j][lo:hi], rows[2 * u + j, lo:hi], back)
    _move(shape, rows[2 * u + 5], back)
    _move(inv, rows[2 * u + 6], back)
    _move(inb, rows[2 * u + 7], back)
    _move(code, codes[0], back)
    _move(line, codes[1], back)
    _move(band_noise, noise, back)
    slots = (N_SUBS, N_SUB_FRAMES, N_TRACK, N_INBAND, N_NOISE, N_UPPER, N_UPPER + 1,
             SILENT_REF, WARM)
    m = len(slots)
    for j in range(m):
        if back:
            state[slots[j]] = vals[j]
        else:
            vals[j] = state[slots[j]]
    _move(coef, vals[m:m + 2], back)
    for j in range(2):  # (integers, kept as floats)
        if back:
            tops[j] = np.int64(vals[m + 2 + j])
            pending[j] = np.int64(vals[m + 4 + j])
        else:
            vals[m + 2 + j] = tops[j]
            vals[m + 4 + j] = pending[j]


@njit(inline="always", **_JIT_PURE)
def _move(live, kept, back):
    """Copy ``kept`` into ``live`` (``back``) or ``live`` into ``kept`` (1-d, one length)."""
    for k in range(live.shape[0]):
        if back:
            live[k] = kept[k]
        else:
            kept[k] = live[k]


@njit(**_JIT_PURE)
def _row_max(p):
    """The largest of the power frame ``p`` (every bin, the wall band's too: the wall's
    echoes set a probe's level), as :func:`~.precision.precision_floor` takes it."""
    top = np.float32(0.0)
    for k in range(p.shape[0]):
        top = max(top, p[k])
    return np.float64(top)


@njit(**_JIT_PURE)
def _row_top(row, bits, scratch, scratch_bits):
    """The row's strongest bin (0 if none is above 0): ``max(0, row...)``.

    ``bits`` is the row as int32, ``scratch`` a float32 run to write and ``scratch_bits``
    the same run as int32 (views made by the caller in Python: a view in a kernel
    compiles numba's view for each pair of types).  The bits of a
    float32 at or above 0 order as the floats do, and a negative one (or -0.0) is a
    negative int32: the maximum over the bits is the float maximum, a loop that vectorises
    (the float one does not: its order of comparisons is that of the loop).  A NaN above
    them all is skipped as the float loop skips it, by the float loop.
    """
    t = np.int32(0)
    for k in range(bits.shape[0]):
        x = bits[k]
        t = x if x > t else t
    if t > 0x7F800000:  # a NaN
        top = np.float32(0.0)
        for k in range(row.shape[0]):
            top = max(top, row[k])
        return top
    scratch_bits[0] = t
    return scratch[0]


@njit(**_JIT_PURE)
def _whiten(rows, bits, noise, row0, first_row, ver_start, ver_inv, ver_fill, n_ver,
            least_ratio, quant, white, white_bits, slots):
    """Divide each row by the shape in force at its frame (at ``first_row`` for the rows
    before it); see :meth:`NoiseFloor.whiten`.

    ``ver_inv`` is 0 and ``ver_fill`` 1 on the bins out of the band (whose whitened value
    is the level), so each bin is one multiply-add.  ``bits`` and ``white_bits`` are
    ``rows`` and ``white`` as int32.  Returns False if a row's shape is no longer kept.
    """
    n_slots = ver_start.shape[0]
    v = n_ver - 1
    while v > 0 and ver_start[v % n_slots] > max(row0, first_row):
        v -= 1
    if v < n_ver - n_slots:
        return False
    for i in range(rows.shape[0]):
        r = max(row0 + i, first_row)
        while v + 1 < n_ver and ver_start[(v + 1) % n_slots] <= r:
            v += 1
        slot = v % n_slots
        slots[i] = slot
        nz = np.float32(abs(noise[i]))
        row = rows[i]
        w = white[i]
        vi = ver_inv[slot]
        vf = ver_fill[slot]
        # no bin's floor below the row's rounding, nor below the samples' quantisation
        # noise (precision.py): a bin whose shape puts it lower is whitened against that
        top = _row_top(row, bits[i], w, white_bits[i])
        least = max(np.float64(top) * least_ratio, np.float64(quant[i]))
        cap = nz / least if least > 0.0 else np.float32(np.inf)
        for k in range(row.shape[0]):
            w[k] = row[k] * min(np.float64(vi[k]), cap) + nz * vf[k]
    return True

