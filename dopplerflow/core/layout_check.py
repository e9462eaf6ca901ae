"""Layout check: what two channels hold, measured on the first seconds of a stream.

A two-channel recording is one of these, and each fits some layouts
(:mod:`~dopplerflow.core.layouts`):

==============  ===============================================  ======================
verdict         what the channels show where there is flow        fits
==============  ===============================================  ======================
``quadrature``  the spectrum of ``c1 + j c2`` is one-sided frame  ``iq``, ``qi``
                by frame: an I/Q pair
``separate``    two-sided, the channels uncorrelated and each     ``toward-away``,
                with flow: separate toward and away audio         ``away-toward``
``copy``        two-sided, and one channel a (filtered,           ``mono`` or ``offset``
                attenuated) copy of the other: a mono probe       on the louder channel
                recorded in stereo
``silent``      one channel more than 40 dB under the other       ``mono`` or ``offset``
                                                                  on the other channel
``single``      two-sided, uncorrelated, and flow in one channel  ``mono`` or ``offset``
                only: toward and away audio flowing one way, or   on that channel, or
                a mono probe beside an unrelated input            ``toward-away``
``unknown``     too little flow to tell (and no silent channel)   every layout
==============  ===============================================  ======================

Where several layouts fit, :meth:`LayoutVerdict.suggestion` names the one that cannot
give a wrong verdict: ``mono`` for ``single`` (reflux not assessable, never a false
"no").  Nothing in the audio tells ``iq`` from ``qi``, or toward from away: the check
suggests ``iq`` and ``toward-away``.

:class:`LayoutCheck` is a read-only stage: it takes the samples the analysis
takes (after the glitch stage), high-passes them with the wall filter, cuts the
first :data:`SPAN_S` seconds of the stream into frames of :data:`FRAME_S` at
fixed sample positions and keeps, up to :data:`TOP_HZ`, each frame's power in bands
of :data:`POOL` bins and each second's cross-spectra (under 1 MB at any sample rate);
at the end of the span, or of a shorter stream, it measures:

- **flow**: the cells (frame, band) whose power is :data:`FLOW_FACTOR` times both
  the frame's and the band's low quantile (:data:`FRAME_QUANTILE`,
  :data:`TIME_QUANTILE`), in the spectrum of ``c1 + j c2`` or of either channel
  alone: neither stationary noise, however coloured, nor hum reads as flow; a
  frame with :data:`MIN_BANDS` such cells has flow.
- **half-spectrum ratio**: in each frame with flow, the power of the flow cells
  of the stronger half of the spectrum of ``c1 + j c2`` over the weaker half, dB;
  the median over the frames.  An I/Q pair gives 13-20 dB (9 dB with two
  vessels of equal power flowing opposite ways), a copy or two real audio
  channels under 2 dB.
- **coherence**: the magnitude-squared coherence of the two channels per
  frequency over each second, averaged with the louder channel's power as weight:
  a filtered copy gives 0.5-1, independent channels about 0.03.
- **level**: the second channel's power relative to the first, dB.
- **noise level**: the second channel's noise relative to the first, dB: the median, over
  the upper quarter of the bands (above the flow, which rises from the wall filter), of
  the ratio of the two channels' floors over time (:data:`TIME_QUANTILE`).  Toward and
  away audio whose noise stands :data:`~dopplerflow.core.noise.SIDE_GAIN_DB` or more
  apart was recorded at different gains (:meth:`LayoutVerdict.gain_warning`).

Every frame is cut at the same samples whatever the blocks, so the verdict does
not depend on the block size.  :func:`measure` runs the check on the start of a
file or array before its analysis (``layout='auto'``); :func:`choose` turns the
verdict into the settings of that analysis.
"""

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft

from ..errors import LayoutError, option
from .hum import HumCanceller
from .layouts import channel_map
from .noise import SIDE_GAIN_DB
from .wall import WallFilter, settling_samples, wall_filter_sos

__all__ = ["LayoutCheck", "LayoutVerdict", "measure", "choose", "check_pair", "SPAN_S",
           "DEFAULT_LAYOUT"]

#: Seconds of stream, from the start, that the check measures.
SPAN_S = 10.0
#: Frame of the check's spectra, s (31 Hz bins), to the next length the FFT does fastest.
FRAME_S = 0.032
#: High-pass of the check (the default wall filter), Hz; bins under it are left out.
WALL_HZ = 80.0
#: Bins above this frequency are left out, Hz: 230 cm/s at 8 MHz and 60 degrees, and
#: a flow faster still fills the band under it too.
TOP_HZ = 12000.0
#: Bins pooled into one band (125 Hz), whose power is the cell the flow is sought in.
POOL = 4
#: A cell is flow when its power is this many times both of its floors: a band of noise
#: (four bins of one real channel, about two independent ones under the Hann window)
#: passes 3 times in a million (measured on white noise, copied or not).
FLOW_FACTOR = 16.0
#: Quantile of a frame's cells, and of a band's frames, taken as its floor.
FRAME_QUANTILE, TIME_QUANTILE = 0.2, 0.25
#: Flow cells a frame needs to count as a frame with flow.
MIN_BANDS = 2
#: Least time with flow for a verdict from the spectra, s.
MIN_FLOW_S = 0.5
#: Least time with flow in each channel for separate toward and away audio, s.
MIN_CHANNEL_FLOW_S = 0.1
#: Half-spectrum ratio from which the channels are in quadrature, dB: I/Q pairs measure
#: 9-19 dB, copies and toward/away audio under 2 dB.  Nearer the latter, since calling an
#: I/Q pair anything else is the costly mistake (``auto`` would read it so), and calling
#: other channels I/Q only keeps the default.
QUADRATURE_DB = 4.0
#: Frames of a segment over which the coherence is measured (about 1 s).
SEGMENT_FRAMES = 32
#: Coherence from which one channel is a copy of the other.
COPY_COHERENCE = 0.2
#: Level under which a channel is silent, dB relative to the other.
SILENT_DB = -40.0
#: The layout ``auto`` falls back to when the check cannot tell.
DEFAULT_LAYOUT = "iq"

_FITS = {"quadrature": ("iq", "qi"), "separate": ("toward-away", "away-toward"),
         "copy": ("mono", "offset"), "silent": ("mono", "offset"),
         "single": ("mono", "offset", "toward-away", "away-toward")}
_MONO = ("copy", "silent", "single")


def check_pair(n_channels, channels):
    """The two channels (1-based) the check measures, or None.

    Both channels of a stereo input; the two named by ``channels`` in an input of
    more; none for one channel, or one named of more than two.
    """
    if channels is not None and len(channels) == 2:
        return tuple(int(c) for c in channels)
    if n_channels == 2:
        return (1, 2)
    return None


@dataclass(frozen=True)
class LayoutVerdict:
    """What the check found.

    Attributes
    ----------
    kind : str
        ``quadrature``, ``separate``, ``copy``, ``silent``, ``single`` or ``unknown``.
    channels : tuple of int
        The two channels measured, 1-based.
    span_s : float
        Audio measured, s (the first :data:`SPAN_S`, or less of a shorter stream).
    flow_s : float
        Time with flow within it, s.
    ratio_db : float or None
        Median half-spectrum ratio over the frames with flow, dB (None: no flow).
    coherence : float or None
        Power-weighted coherence of the channels (None: no signal).
    level_db : float or None
        Power of the second channel relative to the first, dB (None: a channel of
        zeros, or both).
    channel_flow_s : tuple of float
        Time with flow in each channel on its own, s.
    signal_channel : int or None
        ``copy``, ``silent`` and ``single``: the channel that carries the audio (the
        flow), 1-based.
    noise_level_db : float or None
        Noise of the second channel relative to the first, above the flow, dB (None: no
        band with noise in both).
    """

    kind: str
    channels: tuple
    span_s: float
    flow_s: float
    ratio_db: float | None
    coherence: float | None
    level_db: float | None
    channel_flow_s: tuple = (0.0, 0.0)
    signal_channel: int | None = None
    noise_level_db: float | None = None

    def fits(self, layout, channels=None):
        """Whether ``layout`` (with the 1-based ``channels`` picked) reads these channels
        right; always True for ``unknown``."""
        if self.kind == "unknown":
            return True
        if layout not in _FITS[self.kind]:
            return False
        if self.kind in _MONO and layout in ("mono", "offset"):
            return channels is not None and tuple(channels) == (self.signal_channel,)
        return True

    def suggestion(self):
        """``(layout, channels)`` that fits, channels as 1-based numbers (None: those of
        the input as they are); None for ``unknown``."""
        if self.kind == "unknown":
            return None
        if self.kind in _MONO:
            return "mono", (self.signal_channel,)
        layout = _FITS[self.kind][0]
        return layout, None if self.channels == (1, 2) else self.channels

    def flags(self):
        """The suggestion as command-line flags, e.g. ``--layout mono --channels 1``."""
        layout, channels = self.suggestion()
        text = f"--layout {layout}"
        if channels is not None:
            text += f" --channels {','.join(str(c) for c in channels)}"
        return text

    def _names(self):
        """How the sentences name the channels: the first and second (``left``,
        ``right`` of a stereo input, else ``channel N``), the one carrying the signal as
        an object (``the left``) and the other as a subject (``the right channel``)."""
        if self.channels == (1, 2):
            first, second = names = ("left", "right")
            objects, subjects = ("the left", "the right"), ("the left channel",
                                                            "the right channel")
        else:
            first, second = names = tuple(f"channel {c}" for c in self.channels)
            objects = subjects = names
        loud = 1 if self.signal_channel == self.channels[1] else 0
        return first, second, objects[loud], subjects[1 - loud]

    def finding(self):
        """What the channels are, as a clause (None for ``unknown``)."""
        if self.kind == "unknown":
            return None
        first, second, loud, quiet = self._names()
        level = abs(self.level_db) if self.level_db is not None else None
        if self.kind == "quadrature":
            return (f"the channels are in quadrature (the spectrum of {first} + j {second} is "
                    f"one-sided where there is flow: {self.ratio_db:.1f} dB between its halves): "
                    f"an I/Q recording")
        if self.kind == "separate":
            return (f"the channels are separate toward and away audio (both halves of the "
                    f"spectrum of {first} + j {second} alike, {self.ratio_db:.1f} dB apart, "
                    f"and the channels uncorrelated, coherence {self.coherence:.2f})")
        if self.kind == "silent":
            under = "all zeros" if level is None else f"{level:.0f} dB under {loud}"
            return f"{quiet} is silent ({under}): a mono recording in stereo"
        if self.kind == "single":
            return (f"only {loud} carries flow, and {quiet} is no copy of it (coherence "
                    f"{self.coherence:.2f}): toward and away audio with flow one way only, or "
                    f"a mono probe beside an unrelated input")
        weaker = f", {level:.0f} dB weaker" if level is not None and level >= 1 else ""
        return (f"{quiet} is a filtered copy of {loud}{weaker} (coherence "
                f"{self.coherence:.2f}, both halves of the spectrum alike): a mono probe "
                f"recorded in stereo")

    def warning(self, layout, channels=None):
        """The warning when ``layout`` does not fit (None when it does)."""
        if self.fits(layout, channels):
            return None
        if self.kind in ("quadrature", "separate") and layout in ("mono", "offset"):
            return (f"{self.finding()}; they carry the flow direction, which layout "
                    f"'{layout}' leaves out: use {self.flags()}")
        other = {"quadrature": " (qi, or --invert, for the other sign convention)",
                 "separate": " (or away-toward)",
                 "single": " (or --layout toward-away if they are toward and away audio)",
                 }.get(self.kind, "")
        return f"{self.finding()}; use {self.flags()}{other}"

    def gain_warning(self, layout):
        """The warning when ``layout`` reads the channels as toward and away audio and
        their noise stands :data:`~dopplerflow.core.noise.SIDE_GAIN_DB` or more apart (None
        when not): two inputs recorded at different gains."""
        level = self.noise_level_db
        if layout not in _FITS["separate"] or level is None or abs(level) < SIDE_GAIN_DB:
            return None
        names = [f"the {n} channel" if n in ("left", "right") else n
                 for n in self._names()[:2]]
        louder, quieter = (names[1], names[0]) if level > 0 else names
        return (f"{louder}'s noise stands {abs(level):.1f} dB over {quieter}'s (above the "
                f"flow, in the first {self.span_s:.0f} s): the two inputs were recorded at "
                f"different gains; each direction is read against its own noise, but set the "
                f"gains alike (20 dB apart, reflux timing suffers)")

    def to_dict(self):
        """The figures and the verdict, for the JSON's ``layout_check``."""
        layout, channels = self.suggestion() or (None, None)
        return {
            "channels": list(self.channels),
            "span_s": round(self.span_s, 3),
            "flow_s": round(self.flow_s, 3),
            "half_spectrum_ratio_db": _rounded(self.ratio_db, 1),
            "coherence": _rounded(self.coherence, 3),
            "level_db": _rounded(self.level_db, 1),
            "noise_level_db": _rounded(self.noise_level_db, 1),
            "channel_flow_s": [round(t, 3) for t in self.channel_flow_s],
            "verdict": self.kind,
            "signal_channel": self.signal_channel,
            "suggested_layout": layout,
            "suggested_channels": None if channels is None else list(channels),
        }


def _rounded(value, digits):
    return None if value is None else round(float(value), digits) + 0.0  # no -0.0


class LayoutCheck:
    """The check as a stage: fed the samples of a stream, it measures its first seconds.

    Parameters
    ----------
    sample_rate_hz : float
    n_channels : int
        Channels of the blocks.
    channels : tuple of int
        The two channels to measure, 1-based (:func:`check_pair`).
    span_s : float
        Seconds of stream measured, from its start.
    hum_hz : float, optional
        Mains frequency whose hum is removed first, as the analysis removes it
        (``Settings.hum_hz``).
    """

    def __init__(self, sample_rate_hz, n_channels, channels, span_s=SPAN_S, hum_hz=None):
        fs = self.sample_rate_hz = float(sample_rate_hz)
        self.channels = tuple(channels)
        sos = wall_filter_sos(WALL_HZ, fs)
        self._wall = WallFilter(channel_map("iq", n_channels, channels=self.channels), sos, fs)
        self._settle = settling_samples(sos, fs)
        self._hum = None if hum_hz is None else HumCanceller(hum_hz, fs, 2)
        self._n = scipy.fft.next_fast_len(max(16, int(round(FRAME_S * fs))))  # samples of a frame
        # the window of a frame's interleaved samples (each value twice: both channels)
        self._window = np.repeat(np.hanning(self._n).astype(np.float32), 2)
        f = np.fft.rfftfreq(self._n, 1.0 / fs)
        bins = np.flatnonzero((f >= WALL_HZ) & (f < min(fs / 2, TOP_HZ)))
        self._bins = slice(bins[0], bins[0] + len(bins) // POOL * POOL)  # the band kept
        n_bins = self._bins.stop - self._bins.start
        self._span = int(round(span_s * fs))
        n_max = self._span // self._n + 1
        #: per frame and band: the power of each channel, and 2 Im(X1 conj(X2)), the
        #: difference between the two halves of the spectrum of c1 + j c2
        self._bands = np.empty((n_max, n_bins // POOL, 3), np.float32)
        self._frames = 0
        #: the frames of the segment under way: |X1|^2, |X2|^2, X1 conj(X2) per bin
        self._segment = np.empty((SEGMENT_FRAMES, 4, n_bins), np.float32)
        self._sums = []  # per segment: (s11, s22, |s12|^2) per bin, float64
        self._time = 0  # samples of stream seen (lost and blanked ones included)
        # samples still to drop while the filter settles (and the hum's amplitudes are learnt)
        self._wait = self._settle if self._hum is None else max(self._settle, self._hum.settle)
        self._tail = np.zeros((0, 2), np.float32)  # filtered samples short of a frame
        self._verdict = None

    @property
    def done(self):
        """Whether the span is measured (no more samples are taken)."""
        return self._verdict is not None

    def filters_as(self, cmap, sos):
        """Whether a wall filter of channel map ``cmap`` and sections ``sos`` (and the same
        hum removal) gives the samples this check filters: then :meth:`add` can take
        them filtered."""
        return cmap == self._wall.cmap and np.array_equal(sos, self._wall.sos)

    def add(self, samples, filtered=None):
        """Take the next samples of the stream, ``(frames, channels)`` float32; with
        ``filtered``, the same samples through the wall filter (and hum removal) of
        :meth:`filters_as` (read only), and the check does not filter them again."""
        if self.done:
            return
        samples = samples[:self._span - self._time]
        self._time += len(samples)
        if filtered is None:
            y = self._wall(np.ascontiguousarray(samples, np.float32))
            if self._hum is not None:
                self._hum(y, out=y)
        else:
            y = filtered[:len(samples)]
        drop = min(self._wait, len(y))
        self._wait -= drop
        y = np.concatenate((self._tail, y[drop:]))
        k = len(y) // self._n
        if k:
            self._store(y[:k * self._n].reshape(k, self._n, 2))
        self._tail = y[k * self._n:].copy()
        if self._time >= self._span:
            self.result()

    def skip(self, n_samples):
        """``n_samples`` lost or blanked: the frames start afresh after them."""
        if self.done:
            return
        n = min(int(n_samples), self._span - self._time)
        self._time += n
        self._wall.skip(n)
        if self._hum is not None:
            self._hum.skip(n)
        self._tail = self._tail[:0]
        self._wait = self._settle
        if self._time >= self._span:
            self.result()

    def _store(self, frames):
        """Keep what the verdict needs of the filtered ``frames`` (k, n, 2), windowed in
        place: the band powers of each frame, and the cross-spectra of each segment
        (summed once it is complete, so the sums are the same whatever the blocks)."""
        # in place (the filtered samples are not needed after this), over rows of a frame's
        # samples as they lie
        k, n = frames.shape[:2]
        frames = frames.reshape(k, 2 * n)
        frames *= self._window
        spec = scipy.fft.rfft(frames.reshape(k, n, 2), axis=1, workers=1)[:, self._bins, :]
        x1, x2 = spec[..., 0], spec[..., 1]
        per_bin = np.empty((4,) + x1.shape, np.float32)
        per_bin[0] = np.abs(x1) ** 2
        per_bin[1] = np.abs(x2) ** 2
        cross = x1 * np.conj(x2)
        per_bin[2], per_bin[3] = cross.real, cross.imag
        bands = self._bands[self._frames:self._frames + k]
        for i, (c, scale) in enumerate(((0, 1), (1, 1), (3, 2))):
            pooled = sum(per_bin[c][:, j::POOL] for j in range(POOL))
            bands[..., i] = pooled * np.float32(scale)
        per_bin = per_bin.transpose(1, 0, 2)
        while len(per_bin):
            at = self._frames % SEGMENT_FRAMES
            take = min(SEGMENT_FRAMES - at, len(per_bin))
            self._segment[at:at + take] = per_bin[:take]
            per_bin = per_bin[take:]
            self._frames += take
            if at + take == SEGMENT_FRAMES:
                self._close_segment(SEGMENT_FRAMES)

    def _close_segment(self, n):
        """Sum the ``n`` frames of the segment under way into its cross-spectral sums."""
        total = self._segment[:n].sum(axis=0, dtype=np.float64)
        self._sums.append((total[0], total[1], total[2] ** 2 + total[3] ** 2))

    def result(self):
        """The :class:`LayoutVerdict` of what was measured (the span ends here)."""
        if self._verdict is None:
            if not self._sums and self._frames:  # under a segment: all there is
                self._close_segment(self._frames)
            self._verdict = _judge(self._bands[:self._frames], self._sums,
                                   self._n / self.sample_rate_hz, self.channels,
                                   self._time / self.sample_rate_hz)
            self._bands = self._segment = self._sums = None
        return self._verdict


def _judge(bands, sums, frame_s, channels, span_s):
    """The verdict of the band powers ``(frames, bands, 3)`` and the segments'
    cross-spectral sums of the two channels."""
    p1 = float(np.sum(bands[..., 0], dtype=np.float64))
    p2 = float(np.sum(bands[..., 1], dtype=np.float64))
    level_db = 10 * math.log10(p2 / p1) if p1 > 0 and p2 > 0 else None
    ratio_db, flow_frames, each = _half_spectrum_ratio(bands)
    coherence = _coherence(sums) if p1 > 0 or p2 > 0 else None
    figures = dict(channels=tuple(channels), span_s=span_s, flow_s=flow_frames * frame_s,
                   ratio_db=ratio_db, coherence=coherence, level_db=level_db,
                   channel_flow_s=tuple(n * frame_s for n in each),
                   noise_level_db=_noise_level(bands))
    louder = channels[1] if p2 > p1 else channels[0]
    if (p1 > 0) != (p2 > 0) or (level_db is not None and abs(level_db) > -SILENT_DB):
        return LayoutVerdict("silent", signal_channel=louder, **figures)
    if ratio_db is None or figures["flow_s"] < MIN_FLOW_S:
        return LayoutVerdict("unknown", **figures)
    if ratio_db >= QUADRATURE_DB:
        return LayoutVerdict("quadrature", **figures)
    if coherence >= COPY_COHERENCE:
        return LayoutVerdict("copy", signal_channel=louder, **figures)
    if min(each) * frame_s < MIN_CHANNEL_FLOW_S:
        flowing = channels[1] if each[1] > each[0] else channels[0]
        return LayoutVerdict("single", signal_channel=flowing, **figures)
    return LayoutVerdict("separate", **figures)


def _noise_level(bands):
    """Noise of the second channel over the first's, dB: the median over the upper quarter
    of the bands of the ratio of their floors over time (None: no frame, or no band of the
    quarter with a floor in both channels).

    A gain raises every band of its channel, flow the bands it fills, from the wall filter
    up: the upper bands hold the gain alone.  Where they are near digital silence (a
    recorder's band under the sample rate) both channels' floors are the converters', and
    the ratio is near 0 dB whatever the gains.
    """
    if not len(bands):
        return None
    k = int(TIME_QUANTILE * (len(bands) - 1))
    floors = np.partition(bands[..., :2], k, axis=0)[k]  # (bands, 2)
    upper = floors[len(floors) - max(1, len(floors) // 4):]
    ok = (upper > 0).all(axis=1)
    if not ok.any():
        return None
    return float(np.median(10 * np.log10(upper[ok, 1] / upper[ok, 0])))


def _flow_cells(power, peak):
    """The flow cells of ``peak`` (frames, bands): over :data:`FLOW_FACTOR` times both
    floors of ``power`` (none in a frame whose floors are 0: digital silence)."""
    k = int(FRAME_QUANTILE * (power.shape[1] - 1))
    by_frame = np.partition(power, k, axis=1)[:, k:k + 1]
    k = int(TIME_QUANTILE * (power.shape[0] - 1))
    by_band = np.partition(power, k, axis=0)[k:k + 1]
    floor = np.maximum(by_frame, by_band)
    return (peak > FLOW_FACTOR * floor) & (floor.max(axis=1, keepdims=True) > 0)


def _half_spectrum_ratio(bands):
    """Median half-spectrum ratio (dB) over the frames with flow (None: none), the
    number of those frames, and of the frames with flow in each channel on its own.

    Of the spectrum of ``c1 + j c2``, a band's positive half holds
    ``|X1|^2 + |X2|^2 + 2 Im(X1 conj(X2))`` and its negative half the same less that
    difference.  Flow is sought both there and in each channel's own spectrum (where flow
    in one real channel stands out over that channel's noise alone); a cell found in
    either counts in both halves.
    """
    if not len(bands):
        return None, 0, (0, 0)
    one, two = (_flow_cells(bands[..., c], bands[..., c]) for c in (0, 1))
    both = bands[..., 0] + bands[..., 1]
    diff = bands[..., 2]
    cells = _flow_cells(both, both + np.abs(diff)) | one | two
    flow = cells.sum(axis=1) >= MIN_BANDS
    each = tuple(int(np.sum(c.sum(axis=1) >= MIN_BANDS)) for c in (one, two))
    if not flow.any():
        return None, 0, each
    total = np.where(cells, both, 0.0)[flow].sum(axis=1, dtype=np.float64)
    lead = np.abs(np.where(cells, diff, 0.0)[flow].sum(axis=1, dtype=np.float64))
    hi, lo = total + lead, np.maximum(total - lead, 0.0)
    ratio = 10 * np.log10(hi / np.maximum(lo, hi * 1e-12))  # 120 dB when one half is empty
    return float(np.median(ratio)), int(flow.sum()), each


def _coherence(sums):
    """Magnitude-squared coherence per bin over each segment, averaged with the louder
    channel's power per bin and segment as weight.

    Over a segment of about a second the relation of a copy holds even when it drifts
    slowly (two converters' clocks: the real precordial recordings measure 0.16-0.79 over
    10 s at once, 0.70-0.84 by the second); independent channels give about
    ``1 / SEGMENT_FRAMES``.
    """
    s11, s22, s12 = (np.array(column) for column in zip(*sums, strict=True))
    denom = s11 * s22
    coh = np.divide(s12, denom, out=np.zeros_like(s12), where=denom > 0)
    weight = s11 if s11.sum() >= s22.sum() else s22
    return float(np.sum(coh * weight) / np.sum(weight))


# ------------------------------------------------------------------ before an analysis
def measure(blocks, sample_rate_hz, n_channels, channels, span_s=SPAN_S, hum_hz=None):
    """Run the check on the start of a stream, as the analysis would see it.

    Parameters
    ----------
    blocks : iterable of ndarray
        ``(frames, n_channels)`` float32 blocks from the start of the stream; no more
        are read than the span needs.
    sample_rate_hz : float
    n_channels : int
    channels : tuple of int
        The two channels to measure, 1-based.
    span_s : float
    hum_hz : float, optional
        See :class:`LayoutCheck`.

    Returns
    -------
    LayoutVerdict
    """
    from .glitches import Glitches
    from .io import Gap

    glitches = Glitches(n_channels, sample_rate_hz)
    check = LayoutCheck(sample_rate_hz, n_channels, channels, span_s, hum_hz)
    for block in blocks:
        if isinstance(block, Gap):  # damage inside a file: the check reads what decodes
            continue
        _release(check, glitches(block))
        if check.done:
            return check.result()
    _release(check, glitches(np.zeros((0, n_channels), np.float32), final=True))
    return check.result()


def _release(check, segments):
    """Feed what the glitch stage released to ``check``."""
    for kind, item in segments:
        if kind == "samples":
            check.add(item)
        else:
            check.skip(item)


def choose(settings, verdict, n_channels):
    """The settings of an analysis with ``layout='auto'``, and what was chosen.

    Parameters
    ----------
    settings : Settings
        With ``layout='auto'``.
    verdict : LayoutVerdict or None
        The check of the input's two channels; None when there is no pair to check.
    n_channels : int

    Returns
    -------
    settings : Settings
        With the layout (and channels) chosen.
    how : str
        ``"one channel"``, ``"measured"`` or ``"default"``.

    Raises
    ------
    LayoutError
        More than two channels and no channel, or pair of channels, named.
    """
    chosen = settings.channels
    if verdict is None:
        if n_channels == 1 or (chosen is not None and len(chosen) == 1):
            return _mono(settings, chosen), "one channel"
        auto = option("--layout auto", "layout='auto'")
        pair = option("--channels 1,2", "channels=(1, 2)")
        raise LayoutError(f"input has {n_channels} channels; {auto} checks two of them: name "
                          f"them (e.g. {pair}), or one channel for mono")
    suggestion = verdict.suggestion()
    if suggestion is None:
        return settings.replace(layout=DEFAULT_LAYOUT), "default"
    layout, channels = suggestion
    if layout == "mono":
        return _mono(settings, channels), "measured"
    return settings.replace(layout=layout, channels=channels or chosen), "measured"


def _mono(settings, channels):
    """``settings`` as a mono analysis of ``channels`` (no direction to invert or name)."""
    return settings.replace(layout="mono", channels=channels, invert=False, antegrade="auto")
