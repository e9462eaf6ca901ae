"""The incremental processor shared by files, live input, replay and batch.

A :class:`Processor` is configured once and fed ``(frames, channels)`` blocks
(:func:`~dopplerflow.core.driver.feed` does that for every source).  It only
orchestrates the stages, in this order:

======================  =====================================================
sample stages           :class:`~.levels.Levels` (reads only),
                        :class:`~.dropouts.Dropouts` (reads only),
                        :class:`~.glitches.Glitches` (blanks, chooses the gain),
                        :class:`~.hum.HumProbe` (reads only),
                        :class:`~.layout_check.LayoutCheck` (reads only),
                        :class:`~.wall.WallFilter`, :class:`~.hum.HumCanceller`
spectrum                :class:`~.spectrum.Framer` (frames, FFT, power)
row stages              :class:`~.noise.NoiseFloor` (never under the
                        :func:`~.precision.precision_floor`),
                        :class:`~.spectrum.TimeAverager`,
                        :func:`~.envelopes.envelopes` (and the provisional
                        rows of :func:`~.envelopes.provisional_envelopes`),
                        :class:`~.second_vessel.SecondVessel` (on each piece,
                        where the spectra are at hand),
                        :class:`~.second_vessel.TwoVesselWatch`,
                        :class:`~.rows.Bridger` ->
                        :meth:`~.second_vessel.SecondVessel.release` ->
                        :class:`~.rows.Totals`, :class:`~.beats.BeatTracker`
                        and the stored trace,
                        :class:`~.reflux.RefluxTracker` ->
                        :class:`~.events.EventDispatcher`
result                  :func:`~.assemble.assemble`
======================  =====================================================

Whatever the block size, every stage sees the same samples and rows in the same
order, so the result is the same: every stage keeps its state between blocks, and
the FFT is computed frame by frame the same way whatever the batch.  Rows are
timed and marked analysed or not by one :class:`~.timeline.Timeline`.
"""

import math

import numpy as np

from ..errors import InputError, SettingsError, option
from ._ahead import compile_ahead
from ._numba import announce_compile
from .beats import BeatTracker
from .dropouts import Dropouts
from .envelopes import FlowReference, band_power, envelopes, provisional_envelopes
from .envelopes import edge_levels as _edge_levels
from .events import EventDispatcher
from .glitches import Glitches
from .hum import HumCanceller, HumProbe
from .layout_check import LayoutCheck, check_pair
from .layouts import channel_map
from .levels import Levels
from .noise import SILENCE_STEP, NoiseFloor, NoiseRecord
from .precision import SampleGrid, precision_floor
from .reflux import RefluxTracker
from .rows import (
    Bridger,
    Columns,
    RowBatch,
    Totals,
    _store_rows,
    empty_trace,
    trace_rows,
)
from .second_vessel import SecondVessel, TwoVesselWatch
from .settings import require_settings
from .sonogram import PooledSpectrogram, rows_kept
from .spectrum import QUANT_STEP, Framer, TimeAverager, spectral_config
from .timeline import Timeline
from .velocity import cm_s_per_hz
from .wall import WallFilter, settling_samples, wall_filter_sos

__all__ = ["Processor", "DIRECTIONS", "as_float_block"]

#: Direction names by index: 0 toward the probe, 1 away from it.
DIRECTIONS = ("toward", "away")
#: Least duration of a flow run that counts towards detectable flow, s.
MIN_RUN_S = 0.03
#: Longest gap of lost samples one call to :meth:`Processor.mark_gap` takes, s.
MAX_GAP_S = 3600.0


def _gap_samples(n_samples, sample_rate_hz):
    """``n_samples`` as a whole number of lost samples, checked."""
    try:
        n = float(n_samples)
    except (TypeError, ValueError):
        raise InputError(f"a gap of {n_samples!r} samples: give a whole number of "
                         f"samples") from None
    if not math.isfinite(n) or n < 0 or n != int(n):
        raise InputError(f"a gap of {n_samples!r} samples: give a whole number of samples, "
                         f"0 or more")
    if n > MAX_GAP_S * sample_rate_hz:
        raise InputError(f"a gap of {n / sample_rate_hz:.0f} s is longer than "
                         f"{MAX_GAP_S:.0f} s; finish this stream and start a new one")
    return int(n)


def as_float_block(block, n_channels):
    """``block`` as the float32 ``(frames, n_channels)`` samples the stages take: integers
    scaled from their full range to [-1, 1), unsigned ones centred first (an unsigned
    sample's zero is the middle of its range: 128 of a uint8, as an 8-bit WAV stores it).

    Raises
    ------
    InputError
        A block of the wrong shape or type.
    """
    block = np.asarray(block)
    if block.ndim == 1 and n_channels == 1:
        block = block[:, None]
    if block.ndim != 2 or block.shape[1] != n_channels:
        turned = (" (it looks like (channels, frames): pass its transpose, block.T)"
                  if block.ndim == 2 and block.shape[0] == n_channels else "")
        raise InputError(f"block has shape {block.shape}; expected (frames, "
                         f"{n_channels}) to match the stream's channels{turned}")
    if not np.issubdtype(block.dtype, np.floating):
        if np.issubdtype(block.dtype, np.signedinteger):
            scale = float(np.iinfo(block.dtype).max) + 1.0
            return np.ascontiguousarray(block, np.float32) / np.float32(scale)
        if np.issubdtype(block.dtype, np.unsignedinteger):
            half = (float(np.iinfo(block.dtype).max) + 1.0) / 2.0
            # in float64: a uint32 less its offset is exact there, not in float32
            return ((block.astype(np.float64) - half) / half).astype(np.float32)
        raise InputError(f"block dtype {block.dtype} is not audio; give float or integer "
                         f"samples")
    return np.ascontiguousarray(block, dtype=np.float32)


class Processor:
    """The one incremental analyser of a Doppler audio stream.

    Parameters
    ----------
    settings : Settings
    sample_rate_hz : float
    n_channels : int
        Channels of the blocks that will be pushed.
    keep_spectrogram : bool or (float, float)
        Keep the time-averaged power spectrum of the frames, for the figures
        (:class:`~.sonogram.PooledSpectrogram`): every frame of a short stream,
        means of groups of frames in a long one, at most
        :data:`~.sonogram.MAX_ROWS` rows whatever its length.  A pair
        ``(start_s, end_s)`` keeps the frames of that span of the stream alone
        (a figure of a few seconds of a long recording, drawn from all of them).
    keep_trace : bool
        Keep the per-frame trace for the result (24 bytes a hop while
        streaming).  Without it the result has the events, the summary and
        the verdicts but an empty ``trace``, and memory does not grow with
        the length of the stream.
    on_event : callable, optional
        Called with a dict as soon as a reflux is confirmed (its duration just
        passed the threshold: ``type='reflux_confirmed'``) and when it ends
        (``type='reflux_ended'``), with ``start_s``, ``duration_s``,
        ``peak_velocity_cm_s`` and ``time_s`` (the end of the frame that
        decided it).  The confirmation comes as soon as the audio so far
        shows the threshold passed: the frame that passes it is judged from
        the time average of the frames it has, without waiting one more hop
        for its last frame.  In the rare case that the complete average
        ends the episode within that hop, under the threshold, a
        ``type='reflux_withdrawn'`` follows with the final duration.  With
        ``antegrade='auto'`` the direction is the provisional choice, and once
        flow runs both ways at once (two vessels) a single
        ``type='reflux_not_assessable'`` with ``reason`` and ``time_s`` (when
        it was seen) follows and no more reflux events do.
    file : str, optional
        Name reported in the result.
    hum_probe_s : float
        Seconds of raw audio, from the start, searched for mains hum when none
        is removed (:data:`~dopplerflow.core.hum.PROBE_S`; 0: no search).
    layout_check : LayoutVerdict, optional
        The check of the channels already made, when the layout was chosen from it
        (``layout='auto'``: :func:`~dopplerflow.core.driver.analyze`); without it
        the processor checks the first seconds of a two-channel stream itself
        (:class:`~.layout_check.LayoutCheck`).  The result carries the verdict
        and, when the layout does not fit, a warning.
    layout_chosen : str, optional
        How ``settings.layout`` was chosen with ``layout='auto'``: ``"measured"``,
        ``"default"`` (the check could not tell) or ``"one channel"``; None when it
        was given.

    With the antegrade direction given, a persistent vessel flowing the retrograde
    way is separated from the vessel under study (:class:`~.second_vessel.SecondVessel`);
    with ``antegrade='auto'`` two vessels are only watched for
    (:class:`~.second_vessel.TwoVesselWatch`).

    Raises
    ------
    SettingsError, LayoutError
    """

    #: Samples the spectral stages take at a time: their buffers stay this size whatever
    #: the blocks pushed.
    PIECE = 65536

    def __init__(self, settings, sample_rate_hz, n_channels, *, keep_spectrogram=False,
                 keep_trace=True, on_event=None, file=None, hum_probe_s=None,
                 layout_check=None, layout_chosen=None):
        require_settings(settings)
        s = self.settings = settings
        self.warnings = settings.validate(sample_rate_hz)  # refuses a rate that is no number
        self.sample_rate_hz = float(sample_rate_hz)
        self.n_channels = int(n_channels)
        self.file = file
        self.cut = None  # a file read up to damage, or cut short: see cut_short
        self._codec = None
        #: The kind of coarse samples the recording was stored as (a value of
        #: :data:`.io.COARSE_SUBTYPES`, e.g. ``'A-law (8-bit)'``), or None; set by the reader.
        self.coarse = None
        self.cmap = channel_map(s.layout, self.n_channels, channels=s.channels,
                                invert=s.invert, offset_hz=s.offset_hz)
        cfg = self.config = spectral_config(self.sample_rate_hz, self.cmap,
                                            window_s=s.analysis_window_s, hop_s=s.hop_s,
                                            wall_hz=s.wall_hz, average_frames=s.average_frames)
        self.scale = cm_s_per_hz(s.carrier_hz, s.angle_deg, s.sound_speed_m_s)
        direction = self.cmap.direction_available
        # sample stages
        self.levels = Levels(self.n_channels, self.sample_rate_hz)
        self.dropouts = Dropouts(self.n_channels, self.sample_rate_hz)
        self.glitches = Glitches(self.n_channels, self.sample_rate_hz)
        self._no_samples = np.zeros((0, self.n_channels), np.float32)
        sos = wall_filter_sos(s.wall_hz, self.sample_rate_hz)
        self.wall = WallFilter(self.cmap, sos, self.sample_rate_hz)
        self.hum = self._hum_canceller()
        self.hum_probe = None
        if self.hum is None:
            self.hum_probe = (HumProbe(self.sample_rate_hz) if hum_probe_s is None
                              else HumProbe(self.sample_rate_hz, hum_probe_s))
        self.layout_verdict = layout_check
        self.layout_chosen = layout_chosen
        self.layout_check = None
        pair = check_pair(self.n_channels, s.channels)
        if layout_check is None and pair is not None:
            self.layout_check = LayoutCheck(self.sample_rate_hz, self.n_channels, pair,
                                            hum_hz=s.hum_hz)
        # the check reads the analysis's filtered samples where they are the ones it would
        # filter itself (an I/Q layout of its two channels, its wall filter)
        self._check_shares = (self.layout_check is not None
                              and self.layout_check.filters_as(self.cmap, sos))
        settle = settling_samples(sos, self.sample_rate_hz)
        # the hum's amplitudes are learnt over the first three time constants (after a gap
        # the hum goes on, and they stay right)
        first = settle if self.hum is None else max(settle, self.hum.settle)
        self.timeline = Timeline(cfg, settle, first)
        # spectrum and row stages
        self.framer = Framer(cfg)
        self.grid = SampleGrid()  # the samples' quantisation step
        self.noise = NoiseFloor(cfg, self.grid)
        self.average = TimeAverager(s.average_frames)
        self.reference = FlowReference(cfg.hop_s)  # the strongest recent flow
        self._noise_pending = np.zeros(0)
        self._loud_pending = np.zeros(0, np.float32)  # band power of rows not yet kept
        self._unread_pending = np.zeros((0, 2), bool)  # rows the second vessel holds back
        # a mono stream's first rows wait for the shape of the sub-window by which a tonal
        # line there from the start is held (its warm-up's shapes cannot be checked against
        # a mirror, nor can a line): ``_first_shape`` is the frame that shape is in force
        # from, None until then; ``_held`` the rows waiting (None: none wait)
        self._first_shape = None
        self._held = None if direction else []
        self.noise_record = NoiseRecord()
        # a step in flow spreads over the rows whose window and time average reach it
        edge_rows = 2 * -(-((cfg.average_frames - 1) * cfg.hop + cfg.n_window) // cfg.hop)
        floor_hz, shown_hz = _edge_levels(cfg)
        self.tracker = RefluxTracker(cfg.hop_s, cfg.t0_s, self.scale, s.threshold_s,
                                     edge_rows=edge_rows, floor_hz=floor_hz, shown_hz=shown_hz)
        given = direction and s.antegrade != "auto"
        self.second = (SecondVessel(cfg, 1 - DIRECTIONS.index(s.antegrade), s.envelope,
                                    self.tracker.gap_rows, edge_rows) if given else None)
        self.watch = (TwoVesselWatch(cfg, edge_rows)
                      if direction and s.antegrade == "auto" else None)
        self.bridger = Bridger(self.tracker.gap_rows)
        self.totals = Totals(max(1, int(round(MIN_RUN_S / cfg.hop_s))), cfg)
        self.stored = Columns(6) if keep_trace else None  # bridged rows, for the trace
        self.beats = BeatTracker(cfg.hop_s, cfg.t0_s, direction, None if s.antegrade == "auto"
                                 else DIRECTIONS.index(s.antegrade))  # the heart's beats
        kept = rows_kept(keep_spectrogram, cfg)
        self.spectrogram = PooledSpectrogram(cfg.n_fft, rows=kept) if kept else None
        self.integral = np.zeros(2)  # time-integrated maximum frequency, per direction
        self.last_env = np.zeros((2, 4))  # the newest row's envelope, for status()
        self.events = None
        if on_event is not None and direction:
            self.events = EventDispatcher(on_event, s.threshold_s)
        # reflux confirmation from the provisional next row (a time average short of its
        # newest frame): only for a caller waiting for events
        self._lookahead = (self.events is not None and s.threshold_s is not None
                           and s.average_frames > 1)
        self.result = None
        # on a machine's first run, a second process compiles the row stages' kernels
        self._ahead = compile_ahead(self)

    def _hum_canceller(self):
        if self.settings.hum_hz is None:
            return None
        if self.cmap.mix_hz:
            raise SettingsError(f"{option('--hum', 'hum_hz')} works on every layout but "
                                f"offset, whose heterodyne moves the hum's lines off the "
                                f"mains harmonics; record I/Q or mono instead")
        return HumCanceller(self.settings.hum_hz, self.sample_rate_hz, 2)

    @property
    def codec(self):
        """The lossy codec the samples were coded with (:attr:`.io.AudioInfo.codec`, e.g.
        ``'MP3'``), or None; set by the file's reader (:func:`~.driver.analyze`, replay)
        before the first sample.  Its decoded floats are judged for digital silence
        against 16-bit quantisation (:attr:`.NoiseFloor.least_step`)."""
        return self._codec

    @codec.setter
    def codec(self, name):
        self._codec = name
        self.noise.least_step = QUANT_STEP if name is not None else SILENCE_STEP

    # ------------------------------------------------------------------ feeding
    def warn(self, message):
        """Add ``message`` to the result's warnings (the caller saw something wrong)."""
        self.warnings.append(message)

    def cut_short(self, report):
        """Note that the file fed stopped before its end: ``report`` is its reader's
        :class:`~dopplerflow.core.io.ReadReport`.  The result's ``cut`` says where and its
        warnings why; nothing is noted when the file was read whole."""
        self.cut = report.cut()
        for damage in (report.gap_warning(), report.warning()):
            if damage:
                self.warn(damage)

    @property
    def time_s(self):
        """Seconds of audio received so far (gaps included)."""
        return self.timeline.time_s

    def push(self, block, rows=True):
        """Analyse the next block of audio.

        Parameters
        ----------
        block : array_like, shape (frames, channels)
            Float samples in [-1, 1] (integers are scaled from their full range).
        rows : bool
            Build and return the trace rows this block completed; without it
            (for callers that only read the result, ``status()`` or the
            events) nothing is returned.

        Returns
        -------
        Trace or None
            The trace rows completed by this block (direction as known so far).

        Non-finite samples and short bursts far above the recording's level are
        blanked (:mod:`~dopplerflow.core.glitches`): counted, reported and
        bridged like lost samples.  From a loud sample on, the glitch stage
        holds the samples back until it knows whether the burst is short (4 ms
        at most).

        Raises
        ------
        InputError
            A block of the wrong shape or type.
        """
        if self.result is not None:
            raise RuntimeError("push() after finish(); start a new Processor")
        block = as_float_block(block, self.n_channels)
        self.levels.add(block)
        self.dropouts.add(block)
        announce_compile()
        if self.hum_probe is not None:
            self.hum_probe.add(block)
        batches = []
        self._release(self.glitches(block), batches)
        return self._row_stages(batches, rows)

    def mark_gap(self, n_samples, rows=True):
        """Record ``n_samples`` lost samples: time advances over silence.

        Events overlapping a gap are marked ``affected_by_gap``.  ``rows`` and
        the return value are those of :meth:`push`.

        Raises
        ------
        InputError
            ``n_samples`` is not a whole number of samples, or more than
            :data:`MAX_GAP_S` of them.
        """
        if self.result is not None:
            raise RuntimeError("mark_gap() after finish(); start a new Processor")
        n = _gap_samples(n_samples, self.sample_rate_hz)
        if n == 0:
            return empty_trace() if rows else None
        # what the glitch stage held back came before the gap
        batches = []
        self._release(self.glitches(self._no_samples, final=True), batches)
        self.timeline.mark_gap(n)
        self.dropouts.skip(n)
        self._skip(n, batches)
        return self._row_stages(batches, rows)

    def _release(self, segments, batches):
        """Run what the glitch stage released (samples, and blanked runs) through the
        sample stages and the spectrum; their rows go to ``batches``."""
        for kind, item in segments:
            if kind == "samples":
                if self.layout_check is not None and not self._check_shares:
                    self.layout_check.add(item)
                self._to_rows(item, None, batches)
            else:
                self.timeline.mark_blanked(item)
                self._skip(item, batches)

    def _skip(self, n, batches):
        """Samples lost or blanked: the stages go on over silence, a piece at a time."""
        if self.layout_check is not None:
            self.layout_check.skip(n)
        if self.hum is not None:
            self.hum.skip(n)
        for i in range(0, n, self.PIECE):
            k = min(self.PIECE, n - i)
            self._to_rows(None, self.wall.skip(k), batches)

    def _to_rows(self, block, filtered, batches, final=False):
        """Run ``block`` (or already ``filtered`` samples) through the sample stages and
        the spectrum, in pieces of at most ``PIECE`` (their buffers stay that size);
        append the :class:`RowBatch` of the rows completed to ``batches``."""
        n = len(block) if filtered is None else len(filtered)
        for i in range(0, n, self.PIECE):
            if filtered is None:
                piece = block[i:i + self.PIECE]
                self.grid.add(piece)
                dest = self.framer.space(len(piece))
                self.wall(piece, out=dest)
                if self.hum is not None:
                    self.hum(dest, out=dest)
                if self._check_shares:
                    self.layout_check.add(piece, dest)
                power = self.framer.commit(len(piece))
            else:
                self.grid.skip(len(filtered[i:i + self.PIECE]))
                power = self.framer(filtered[i:i + self.PIECE])
            self._spectral_rows(power, False, batches)
        if final:
            self._spectral_rows(np.zeros((0, self.config.n_fft), np.float32), True, batches)
        self.timeline.advance(n)

    def _spectral_rows(self, power, final, batches):
        """Noise floor, time average and envelopes of new power frames; appends the
        :class:`RowBatch` of the rows completed to ``batches`` (and the rows to the
        spectrogram).  The envelopes and a persistent vessel read the rows whitened by the
        per-bin noise floor; the spectrogram keeps them as they are."""
        if len(power):
            settled = self.timeline.frames_settled(self.framer.n_frames - len(power), len(power))
            level = self.noise(power, settled, self.framer.halves)
            self.timeline.mark_unread(self.noise.unread)
            # never under the float32 rounding of the frame (a recording without noise);
            # the sign marks frames near digital silence
            level = np.copysign(np.maximum(np.abs(level), precision_floor(power)), level)
            self._noise_pending = np.concatenate((self._noise_pending, level))
        kept = self.average.kept() if self._lookahead else None
        smooth = self.average(power, final=final)
        row0 = self.timeline.rows + sum(len(b.env) for b in batches)  # index of smooth[0]
        ahead = ahead_ok = None
        if self._lookahead:
            self._join_ahead()
            ahead, ahead_ok = provisional_envelopes(kept, power, self._noise_pending, row0,
                                                    len(smooth), self.config,
                                                    self.settings.envelope, self.noise,
                                                    self.reference)
        if self._held is not None:
            row0 += sum(len(h[0]) for h in self._held)
        if len(smooth):
            noise = self._noise_pending[:len(smooth)]
            self._noise_pending = self._noise_pending[len(smooth):]
            if self._held is None:
                white, floor = self.noise.whiten(smooth, noise, row0, self._first_shape or 0)
                self._row_batch(smooth, white, floor, noise, row0, ahead, ahead_ok, batches)
                return
            self._held.append((smooth, noise, row0))
        if self._held is not None:
            self._release_held(final, batches)

    def _release_held(self, final, batches):
        """A mono stream's first rows, once the noise shape they take is known
        (:meth:`.NoiseFloor.first_rows_shape`): whitened with it, in order, into
        ``batches``."""
        self._first_shape = self.noise.first_rows_shape(final)
        if self._first_shape is None:
            return
        held, self._held = self._held, None
        for smooth, levels, row0 in held:
            white, floor = self.noise.whiten(smooth, levels, row0, self._first_shape)
            self._row_batch(smooth, white, floor, levels, row0, None, None, batches)

    def _join_ahead(self):
        """Wait for the second process that compiles the row stages' kernels, if there is
        one (a machine's first run: :mod:`._ahead`), before the first of them is called."""
        if self._ahead is not None:
            self._ahead.wait()
            self._ahead = None

    def _row_batch(self, smooth, white, floor, noise, row0, ahead, ahead_ok, batches):
        """The envelopes of whitened rows (``white`` from ``row0``, with their ``floor``
        and ``noise`` levels), a persistent vessel separated, and their band power (from
        the time-averaged rows ``smooth``): appends their :class:`RowBatch` to
        ``batches`` (and ``smooth`` to the spectrogram).  ``ahead`` and ``ahead_ok``: the
        provisional next rows (None: none)."""
        self._join_ahead()
        unread = self.timeline.unread_mask(row0, len(white))
        if unread.any():
            # broadband noise, not read: no flow there, nor its power for the strongest
            # recent flow (the envelopes' range) or a second vessel
            white[unread] = np.abs(noise[unread]).astype(np.float32)[:, None]
        env = envelopes(white, noise, self.config, self.settings.envelope, floor,
                        self.reference, self.noise.take_falls(row0, len(white)))
        if self.second is not None:
            # on the rows as analysed (those not analysed hold no flow)
            valid = self.timeline.valid_mask(row0, len(smooth))
            if valid is not None:
                env[~valid] = 0.0
            self.second.separate(env, white, noise, floor,
                                 env[:0] if ahead is None else ahead, row0)
        batches.append(RowBatch(row0, noise, env, ahead, ahead_ok,
                                band_power(smooth, noise, self.config)))
        if self.spectrogram is not None:
            self.spectrogram.append(smooth)

    def _row_stages(self, batches, rows):
        """The stages after the envelopes, on the rows of ``batches`` at once."""
        if not batches:
            return empty_trace() if rows else None
        batch = RowBatch.join(batches)
        tl = self.timeline
        env, n_rows = batch.env, len(batch.env)
        row0 = tl.take_rows(n_rows)
        valid = tl.valid_rows(row0, n_rows)
        if valid is None:
            valid = tl.all_valid(n_rows)
        else:
            env[~valid] = 0.0
            tl.note_unanalysed(row0, valid)
        if self.watch is not None:
            self.watch.update(env, valid, row0)
        self.last_env = env[-1]
        loud = batch.loud
        muted = batch.noise < 0  # rows near digital silence: no signal, no flow
        if valid is not None or muted.any():
            # a row not analysed holds no power; one in a gap inside the stream, or near
            # digital silence, carries NaN to the beat stage: its step holds no signal
            # (BeatTracker.update)
            loud = loud.copy() if valid is None else np.where(valid, loud, np.float32(0))
            if valid is not None:
                muted |= tl.interrupted(row0, valid)
            loud[muted] = np.nan
        self._loud_pending = np.concatenate((self._loud_pending, loud))
        stored = np.empty((n_rows, 6), np.float32)
        _store_rows(env, self.integral, stored)
        self._keep(*self.bridger(stored))
        self.noise_record.add(batch.noise, row0)
        if self._lookahead:
            ahead_ok = batch.ahead_ok
            next_valid = tl.valid_rows(row0 + 1, n_rows)
            if next_valid is not None:
                ahead_ok &= next_valid
            actions = self.tracker.update(env, valid, batch.ahead, ahead_ok)
        else:
            actions = self.tracker.update(env, valid)
        if self.events is not None:
            self._dispatch(actions)
        if not rows:
            return None
        return trace_rows(env, tl.row_times_s(row0, n_rows), self.antegrade(), self.scale,
                          self.cmap.direction_available, valid)

    def _keep(self, rows, unread, final=False):
        """Account for (and keep, with ``keep_trace``) stored rows whose bridging is final
        (``unread``: each direction's rows whose maximum no frame read, :class:`Bridger`)."""
        if self.second is not None:
            # (the second vessel's watch holds rows back; they leave in stream order)
            self._unread_pending = np.concatenate((self._unread_pending, unread))
            rows = self.second.release(rows, final, self.timeline.rows)
            unread, self._unread_pending = np.split(self._unread_pending, [len(rows)])
        # the beat stage's power channel reads the band power (rows leave in stream order)
        loud, self._loud_pending = np.split(self._loud_pending, [len(rows)])
        self.beats.update(rows, final, loud)
        if len(rows):
            self.totals.update(rows, unread)
            if self.stored is not None:
                self.stored.append(rows)

    def _dispatch(self, actions):
        if self.watch is not None and self.watch.found:
            # two vessels with the direction chosen from the flow: no verdict to give
            reason, _, second = self.watch.note(self.settings.threshold_s)
            self.events.not_assessable(reason, second["from_s"])
            return
        self.events.dispatch(actions, 1 - self.antegrade())

    def layout_result(self):
        """The layout check's :class:`~.layout_check.LayoutVerdict`: given, or once the
        first seconds are measured (None before then, and with no two channels to
        check)."""
        if self.layout_verdict is None and self.layout_check is not None \
                and self.layout_check.done:
            self.layout_verdict = self.layout_check.result()
        return self.layout_verdict

    def antegrade(self):
        """The antegrade direction (0 toward, 1 away) as known so far: given, or the one
        that has carried the most flow."""
        a = self.settings.antegrade
        if a != "auto":
            return DIRECTIONS.index(a)
        return 0 if self.integral[0] >= self.integral[1] else 1

    def status(self):
        """A snapshot for a live display.

        Returns
        -------
        dict
            ``time_s``, ``velocity_cm_s`` (signed, + antegrade; a speed without
            direction), ``direction`` ('antegrade', 'retrograde', 'speed' where flow has
            no direction (mono) or 'none' without flow), ``flow``,
            ``reflux_timer_s`` (duration of the retrograde episode under way,
            0 if none), ``level_dbfs``, ``clipped_samples``, ``antegrade``,
            ``heart_rate_bpm`` (median of the last beats decided,
            :meth:`~dopplerflow.core.beats.BeatTracker.heart_rate_bpm`), ``learning`` (a
            mono stream's first rows wait for its noise floor: nothing is analysed yet),
            ``quiet`` (a quiet stretch is under way: the signal 10 dB or more under the
            recording's noise, the probe's contact lost?).
        """
        ante = self.antegrade()
        env = self.last_env
        det = env[:, 0] > 0
        v = 0.0
        direction = "none"
        if det.any():
            d = int(np.argmax(env[:, 3] * det))
            if self.cmap.direction_available:
                v = env[d, 1] * self.scale * (1 if d == ante else -1)
                direction = "antegrade" if d == ante else "retrograde"
            else:
                v, direction = env[d, 1] * self.scale, "speed"
        ep = self.tracker.open_episode(1 - ante)
        return {"time_s": self.time_s, "velocity_cm_s": float(v), "direction": direction,
                "flow": bool(det.any()), "reflux_timer_s": ep.duration_s if ep else 0.0,
                "level_dbfs": self.levels.level_dbfs(),
                "clipped_samples": int(self.levels.clipped), "antegrade": DIRECTIONS[ante],
                "heart_rate_bpm": self.beats.heart_rate_bpm(ante),
                "learning": self._held is not None, "quiet": self.noise.in_quiet}

    # ------------------------------------------------------------------ result
    def finish(self, **extra):
        """End the stream and return the :class:`~dopplerflow.core.result.Analysis`.

        Keyword arguments are added to the JSON as they are (for example
        ``input_overflows`` from a live session).
        """
        if self.result is not None:
            return self.result
        batches = []
        self._release(self.glitches(self._no_samples, final=True), batches)
        self._to_rows(self._no_samples, None, batches, final=True)
        self.result = self._close(batches, extra)
        return self.result

    def _close(self, batches, extra):
        """The row stages' last rows (``batches``) and the end of the stream: the
        :class:`~dopplerflow.core.result.Analysis`."""
        from .assemble import assemble

        self._join_ahead()
        self._row_stages(batches, False)
        self._keep(*self.bridger(np.zeros((0, 6), np.float32), final=True), final=True)
        self.tracker.close()
        if self.layout_check is not None:
            self.layout_check.result()  # a stream shorter than the span: what there is
        return assemble(self, extra)

    def warm_up(self, n_rows=64):
        """Run the row stages (the envelopes and those after) once over ``n_rows``
        whitened rows without flow, and end the stream: their kernels are compiled (or
        loaded from numba's cache).

        :mod:`~dopplerflow.core._ahead` does this in a second process on a machine's
        first run, with the settings of the analysis the first process runs, which
        meanwhile compiles the stages before.  The processor is spent.
        """
        smooth = np.zeros((n_rows, self.config.n_fft), np.float32)
        ahead = ahead_ok = None
        if self._lookahead:
            ahead, ahead_ok = np.zeros((n_rows, 2, 4)), np.zeros(n_rows, bool)
        batches = []
        self._row_batch(smooth, smooth, self.noise.floor_rows(np.zeros(n_rows, np.int64)),
                        np.ones(n_rows), 0, ahead, ahead_ok, batches)
        self.result = self._close(batches, {})
        return self.result
