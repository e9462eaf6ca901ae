"""The incremental processor shared by files, live input and replay, and ``analyze``.

A :class:`Processor` is configured once and fed ``(frames, channels)`` blocks.
Whatever the block size, it produces the same trace and events: every stage
keeps its state between blocks, and the FFT is computed frame by frame the
same way whatever the batch.
"""

import math
import os

import numpy as np

from ..errors import InputError, SettingsError
from .envelopes import MIN_RUN, _envelopes, edge_levels, envelopes, method_code
from .hum import HumCanceller, detect_hum
from .layouts import channel_map
from .levels import _block_stats
from .noise import NoiseFloor
from .reflux import (
    CARDIAC_PERIOD_S,
    ENTER_RATIO,
    PERSIST_OUTLIER,
    PERSIST_TAU_S,
    PULSATILE_SHARE,
    SEPARABLE_MARGIN,
    SHORTEST_CARDIAC_PERIOD_S,
    RefluxTracker,
    _reflux,
    is_reflux,
    split_episodes,
)
from .result import Analysis, Trace
from .rows import Bridger, Columns, Totals, _store_rows, _trace_columns, expand
from .second_vessel import _clear_rows, _second_vessel, _two_vessels
from .settings import Settings
from .spectrum import Framer, TimeAverager, spectral_config
from .velocity import cm_s_per_hz
from .wall import WallFilter, _wall_filter, settling_samples, wall_filter_sos

__all__ = ["Settings", "Processor", "Analysis", "Trace", "MIN_FLOW_S",
           "kernels_cached", "notify_first_compile"]

#: Least total duration of flow (in runs of at least ``_MIN_RUN_S``) for a
#: recording to count as having detectable flow.
MIN_FLOW_S = 0.25
_MIN_RUN_S = 0.03
#: Every so many frames the noise level is kept for the summary (it changes every
#: 16 frames at most: ``spectral._NOISE_EVERY``).
_NOISE_KEEP = 16
#: Sample values at or above this magnitude count as clipped (full scale).
CLIP_LEVEL = 0.999
#: Lanes per channel of the level statistics' running sums.
_STATS_LANES = 64
_DIRS = ("toward", "away")

#: Seconds of raw audio, from the start, searched for mains hum when none is removed.
_HUM_PROBE_S = 2.5
#: Called once, before the first block a process analyses, if the kernels are not cached
#: (:func:`notify_first_compile`); None: nobody to tell.
_compile_notice = None


def kernels_cached():
    """Whether numba's cache holds the analysis kernels: False on a machine's first run
    (or after an upgrade changed them), when they are compiled first, once."""
    try:
        return all(os.path.exists(k._cache._cache_file._index_path)
                   for k in (_wall_filter, _envelopes, _reflux))
    except AttributeError:  # a numba whose cache is laid out otherwise: say nothing
        return True


def notify_first_compile(callback):
    """Call ``callback()`` before the first block this process analyses if the kernels
    are not in numba's cache yet (about 20 s of compiling, once per machine): the
    command line says so on stderr, after the input has been checked."""
    global _compile_notice
    _compile_notice = callback


def _announce_compile():
    global _compile_notice
    callback, _compile_notice = _compile_notice, None
    if not kernels_cached():
        callback()


class Processor:
    """The one incremental analyser of a Doppler audio stream.

    Parameters
    ----------
    settings : Settings
    sample_rate_hz : float
    n_channels : int
        Channels of the blocks that will be pushed.
    keep_spectrogram : bool
        Keep the time-averaged power spectrum of every frame (for plots; it
        grows with the recording: ``4 * n_fft`` bytes a hop).
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
        flow runs both ways at once (two vessels, see below) a single
        ``type='reflux_not_assessable'`` with ``reason`` and ``time_s`` (when
        it was seen) follows and no more reflux events do.
    file : str, optional
        Name reported in the result.

    With the antegrade direction given, a persistent vessel flowing the
    retrograde way (an artery beside the vein under study) is separated from
    the vessel under study once it is established
    (``second_vessel._second_vessel``); the rows before that, within its time
    constant, show it in the rows :meth:`push` returns but not in the result:
    its trace, summary and retrograde episodes re-read them with its power.  A
    persistent vessel nearly as loud as the vessel under study, or louder,
    leaves the result's reflux not assessable (:meth:`_second_vessel_note`).  With
    ``antegrade='auto'`` such a vessel is watched for in both directions
    (``second_vessel._two_vessels``): once one is found, which flow is the vessel
    under study cannot be told from the recording, and the result's reflux is
    not assessable.

    Raises
    ------
    SettingsError, LayoutError
    """

    #: Samples the spectral stages take at a time: their buffers stay this size whatever
    #: the blocks pushed.
    PIECE = 65536

    def __init__(self, settings, sample_rate_hz, n_channels, *, keep_spectrogram=False,
                 keep_trace=True, on_event=None, file=None):
        self.settings = settings
        self.sample_rate_hz = float(sample_rate_hz)
        self._warnings = settings.validate(self.sample_rate_hz)
        self.n_channels = int(n_channels)
        self.file = file
        self.cmap = channel_map(settings.layout, self.n_channels, channels=settings.channels,
                                invert=settings.invert, offset_hz=settings.offset_hz)
        self.config = spectral_config(self.sample_rate_hz, self.cmap,
                                               window_s=settings.analysis_window_s,
                                               hop_s=settings.hop_s,
                                               wall_hz=settings.wall_hz,
                                               average_frames=settings.average_frames)
        sos = wall_filter_sos(settings.wall_hz, self.sample_rate_hz)
        self._wall = WallFilter(self.cmap, sos, self.sample_rate_hz)
        # mains hum: removed from the wall filter's output, where no strong clutter is left
        # to ring in its notches
        self._hum = None
        if settings.hum_hz is not None:
            if self.cmap.mix_hz:
                raise SettingsError("--hum works on every layout but offset, whose heterodyne "
                                    "moves the hum's lines off the mains harmonics; record "
                                    "I/Q or mono instead")
            self._hum = HumCanceller(settings.hum_hz, self.sample_rate_hz, 2)
        # the first seconds of raw audio, searched for hum when none is removed
        self._probe = [] if self._hum is None else None
        self._probe_n = 0
        self._probe_len = int(round(_HUM_PROBE_S * self.sample_rate_hz))
        self._framer = Framer(self.config)
        self._noise = NoiseFloor(self.config)
        self._avg = TimeAverager(settings.average_frames)
        self._noise_pending = np.zeros(0)
        self._scale = cm_s_per_hz(settings.carrier_hz, settings.angle_deg,
                                  settings.sound_speed_m_s)
        cfg = self.config
        # a step in flow spreads over the rows whose window and time average reach it
        edge_rows = 2 * -(-((cfg.average_frames - 1) * cfg.hop + cfg.n_window) // cfg.hop)
        floor_hz, shown_hz = edge_levels(cfg)
        self._tracker = RefluxTracker(cfg.hop_s, cfg.t0_s, self._scale, settings.threshold_s,
                                      edge_rows=edge_rows, floor_hz=floor_hz,
                                      shown_hz=shown_hz)
        # per frame and direction: fmax (0 = no flow), fmean, power; 24 bytes a frame
        self._env = Columns(6) if keep_trace else None
        self._bridger = Bridger(self._tracker.gap_rows)
        self._totals = Totals(max(1, int(round(_MIN_RUN_S / self.config.hop_s))))
        self._last = np.zeros((2, 4))  # the newest frame's envelope, for status()
        self._noise_kept = []  # the noise level of every _NOISE_KEEP-th frame
        self._rows = 0
        self._unanalysed = []  # [first, end) row ranges not analysed (settling, lost samples)
        self._spec = Columns(self.config.n_fft) if keep_spectrogram else None
        # level statistics of the raw samples, in lanes (see _block_stats)
        self._lanes = np.zeros((3, _STATS_LANES * self.n_channels), np.float64)
        self._n_in = 0  # samples received (gaps excluded)
        self._integral = np.zeros(2)  # time-integrated maximum frequency, per direction
        self._gaps = []
        self._n_samples = 0
        self._on_event = on_event
        # reflux confirmation from the provisional next row (a time average short of its
        # newest frame): only for a caller waiting for events
        self._lookahead = (on_event is not None and self.cmap.direction_available
                           and settings.threshold_s is not None and settings.average_frames > 1)
        self._confirmed = [None, None]  # start of the confirmed episode, per hypothesis
        self._told_unassessable = False  # on_event heard that reflux is not assessable
        # sample ranges whose frames are not analysed: the wall filter's settling after the
        # stream starts and after each gap of lost samples
        self._settle = settling_samples(sos, self.sample_rate_hz)
        # the hum's amplitudes are learnt over the first three time constants (after a gap
        # the hum goes on, and they stay right)
        first = self._settle if self._hum is None else max(self._settle, self._hum.settle)
        self._unsettled = [(0, first)]
        self._valid_buf = np.ones(0, bool)
        self._finished = None
        # a persistent vessel flowing the retrograde way (_second_vessel): only with the
        # antegrade direction given, which says which vessel is under study
        self._second = np.zeros(12)
        # stored rows held back for re-reading once it is established (see _reread), and
        # the stream index of the first; None once nothing more can be re-read
        self._held = np.zeros((0, 6), np.float32)
        self._held0 = 0
        self._reread_kept = []  # (first row, mask): rows re-read, retrograde flow left in them
        self._ceil = np.zeros(int(cfg.dir_count.max()))
        # a single vessel shows both directions only over the rows a reversal spreads
        # over, twice a beat at most: a larger share of such rows is a second vessel
        self._concurrent = min(1.0, 2 * edge_rows * cfg.hop_s / SHORTEST_CARDIAC_PERIOD_S)
        self._second_on = self.cmap.direction_available and settings.antegrade != "auto"
        # with the direction chosen from the flow, a second vessel is only watched for
        self._watch_on = self.cmap.direction_available and settings.antegrade == "auto"
        self._both = np.zeros(2)  # _two_vessels

    # ------------------------------------------------------------------ feeding
    def warn(self, message):
        """Add ``message`` to the result's warnings (the caller saw something wrong)."""
        self._warnings.append(message)

    @property
    def time_s(self):
        """Seconds of audio received so far (gaps included)."""
        return self._n_samples / self.sample_rate_hz

    def _check_block(self, block):
        block = np.asarray(block)
        if block.ndim == 1 and self.n_channels == 1:
            block = block[:, None]
        if block.ndim != 2 or block.shape[1] != self.n_channels:
            raise InputError(f"block has shape {block.shape}; expected (frames, "
                             f"{self.n_channels}) to match the stream's channels")
        if not np.issubdtype(block.dtype, np.floating):
            if np.issubdtype(block.dtype, np.integer):
                scale = float(np.iinfo(block.dtype).max) + 1.0
                return np.ascontiguousarray(block, np.float32) / np.float32(scale)
            raise InputError(f"block dtype {block.dtype} is not audio; give float or integer "
                             f"samples")
        return np.ascontiguousarray(block, dtype=np.float32)

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

        Raises
        ------
        InputError
            NaN or infinite samples (nothing of this block is analysed; what
            came before is kept), or a block of the wrong shape.
        """
        if self._finished is not None:
            raise RuntimeError("push() after finish()")
        block = self._check_block(block)
        # the running sums go on in stream order (the same whatever the blocks); they are
        # kept only if the block is clean
        lanes = self._lanes.copy()
        _block_stats(block.reshape(-1), self._n_in * self.n_channels, CLIP_LEVEL, lanes)
        if not np.isfinite(lanes[0]).all():
            bad = int(np.flatnonzero(~np.isfinite(block).all(axis=1))[0])
            t_bad = (self._n_samples + bad) / self.sample_rate_hz
            raise InputError(f"the audio holds NaN or infinite samples (first at {t_bad:.3f} s); "
                             f"repair or re-export the recording")
        self._lanes = lanes
        if _compile_notice is not None:
            _announce_compile()
        self._n_in += len(block)
        if self._probe is not None and self._probe_n < self._probe_len:
            self._probe.append(block[:self._probe_len - self._probe_n].copy())
            self._probe_n += len(self._probe[-1])
        return self._process(block, final=False, rows=rows)

    def mark_gap(self, n_samples, rows=True):
        """Record ``n_samples`` lost samples: time advances over silence.

        Events overlapping a gap are marked ``affected_by_gap``.  ``rows`` and
        the return value are those of :meth:`push`.
        """
        n = int(n_samples)
        if n <= 0:
            return self._empty_trace() if rows else None
        start = self.time_s
        self._gaps.append((start, start + n / self.sample_rate_hz))
        self._unsettled.append((self._n_samples, self._n_samples + n + self._settle))
        if self._hum is not None:
            self._hum.skip(n)
        return self._process(None, final=False, filtered=self._wall.skip(n), rows=rows)

    def _process(self, block, final, filtered=None, rows=False):
        """Run ``block`` (or already ``filtered`` samples) through every stage.

        The spectral stages take the samples in pieces of at most ``PIECE``
        (their buffers stay that size); the per-row stages take all the rows
        of the block at once.
        """
        parts = []
        n = len(block) if filtered is None else len(filtered)
        for i in range(0, n, self.PIECE):
            if filtered is None:
                piece = block[i:i + self.PIECE]
                dest = self._framer.space(len(piece))
                self._wall(piece, out=dest)
                if self._hum is not None:
                    self._hum(dest, out=dest)
                power = self._framer.commit(len(piece))
            else:
                power = self._framer(filtered[i:i + self.PIECE])
            self._spectral_rows(power, False, parts)
        if final:
            self._spectral_rows(np.zeros((0, self.config.n_fft), np.float32), True, parts)
        self._n_samples += n
        if not parts:
            return self._empty_trace() if rows else None
        noise = parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts])
        env = parts[0][1] if len(parts) == 1 else np.concatenate([p[1] for p in parts])
        n_rows = len(env)
        row0 = self._rows
        self._rows += n_rows
        valid = self._valid_rows(row0, n_rows)
        if valid is None:
            valid = self._all_valid(n_rows)
        else:
            env[~valid] = 0.0
            self._note_unanalysed(row0, valid)
        if self._watch_on:
            cfg = self.config
            _two_vessels(env, valid, cfg.hop_s / CARDIAC_PERIOD_S, self._concurrent,
                           cfg.dir_f0, cfg.bin_hz, row0, self._both)
        if self._lookahead:
            ahead = np.concatenate([p[2] for p in parts])
            ahead_ok = np.concatenate([p[3] for p in parts])
        self._last = env[-1]
        stored = np.empty((n_rows, 6), np.float32)  # fmax, fmean, power per direction
        _store_rows(env, self._integral, stored)
        self._keep(self._bridger(stored))
        self._noise_kept.append(noise[(-row0) % _NOISE_KEEP::_NOISE_KEEP].copy())
        if self._lookahead:
            next_valid = self._valid_rows(row0 + 1, n_rows)
            if next_valid is not None:
                ahead_ok &= next_valid
            actions = self._tracker.update(env, valid, ahead, ahead_ok)
        else:
            actions = self._tracker.update(env, valid)
        if self._on_event is not None and self.cmap.direction_available:
            self._dispatch(actions)
        if not rows:
            return None
        return self._make_trace(env, row0, self._current_antegrade(), valid)

    def _separate(self, env, spec, noise, ahead, row0):
        """Keep only the vessel under study in the retrograde direction of ``env`` (rows of
        the spectra ``spec`` with their ``noise``; and of the provisional rows ``ahead``)
        once a persistent vessel flows that way; see ``second_vessel._second_vessel``."""
        cfg = self.config
        r = 1 - _DIRS.index(self.settings.antegrade)
        _second_vessel(env, spec, noise, ahead, r, cfg.hop_s / PERSIST_TAU_S,
                         cfg.hop_s / CARDIAC_PERIOD_S, self._concurrent,
                         int(round(CARDIAC_PERIOD_S / cfg.hop_s)),
                         ENTER_RATIO, PERSIST_OUTLIER, self._tracker.gap_rows,
                         cfg.dir_start, cfg.dir_step, cfg.dir_count, cfg.dir_f0,
                         cfg.bin_hz, cfg.t_high, cfg.t_low, MIN_RUN,
                         method_code(self.settings.envelope), self._ceil[:cfg.dir_count[r]],
                         row0, self._second)

    def _note_unanalysed(self, row0, valid):
        """Add the row ranges where ``valid`` (rows from ``row0``) is False, merged."""
        edges = np.flatnonzero(np.diff(np.concatenate(([1], valid.view(np.int8), [1]))))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            a, b = row0 + int(a), row0 + int(b)
            if self._unanalysed and self._unanalysed[-1][1] == a:
                self._unanalysed[-1][1] = b
            else:
                self._unanalysed.append([a, b])

    def _spectral_rows(self, power, final, parts):
        """Noise floor, time average and envelopes of new power frames.

        Appends ``(noise, env)`` of the rows completed to ``parts`` (and the
        rows to the spectrogram); with the look-ahead, ``(noise, env, ahead,
        ahead_ok)`` (see :meth:`_ahead`).  A persistent vessel in the
        retrograde direction is separated here, where the spectra are at hand
        (:meth:`_separate`).
        """
        if len(power):
            self._noise_pending = np.concatenate((self._noise_pending, self._noise(power)))
        kept = self._avg.kept() if self._lookahead else None
        rows = self._avg(power, final=final)
        row0 = self._rows + sum(len(p[1]) for p in parts)  # stream index of rows[0]
        if self._lookahead:
            ahead = self._ahead(kept, power, row0, len(rows))
        if not len(rows):
            return
        noise = self._noise_pending[:len(rows)]
        self._noise_pending = self._noise_pending[len(rows):]
        env = envelopes(rows, noise, self.config, self.settings.envelope)
        if self._second_on:
            # the persistent-vessel separation needs the spectra: done piece by piece, on
            # the rows as analysed (those not analysed hold no flow)
            valid = self._valid_mask(self._unsettled, row0, len(rows))
            if valid is not None:
                env[~valid] = 0.0
            self._separate(env, rows, noise, ahead[0] if self._lookahead else env[:0], row0)
        parts.append((noise, env, *ahead) if self._lookahead else (noise, env))
        if self._spec is not None:
            self._spec.append(rows)

    def _ahead(self, kept, power, row0, n):
        """Provisional envelopes of row ``r + 1`` for each new row ``r``, and where they exist.

        Row ``r + 1`` as the audio so far gives it: the mean of frames ``r``
        and ``r + 1``, as the time average closes a stream.  ``kept`` are the
        frames the time average held before ``power``, the new power frames;
        ``row0`` is the index of the first of the ``n`` new rows.  Called
        before the new rows take their noise levels from ``_noise_pending``,
        which then holds those of frames ``row0``, ``row0 + 1``, ... up to the
        newest.
        """
        pending = self._noise_pending
        raw = power if kept is None else np.concatenate((kept, power))
        first = row0 + len(pending) - len(raw)  # frame index of raw[0]
        k = max(0, min(n, len(pending) - 1))  # rows whose next frame is in
        env = np.zeros((n, 2, 4))
        if k:
            i = row0 - first + np.arange(k)
            part = (raw[i] + raw[i + 1]) * np.float32(0.5)
            env[:k] = envelopes(part, pending[1:k + 1], self.config, self.settings.envelope)
        return env, np.arange(n) < k

    def _keep(self, rows, final=False):
        """Account for (and keep, with ``keep_trace``) stored rows whose bridging is final."""
        if self._second_on and self._held is not None:
            rows = self._reread(rows, final)
        if len(rows):
            self._totals.update(rows)
            if self._env is not None:
                self._env.append(rows)

    def _reread(self, rows, final):
        """Hold stored rows back until a persistent vessel can no longer be established
        with them as its evidence; return the rows released.

        The rows of the evidence, within its time constant before the row at which it
        was first established, are re-read with its power of then (the first beats of
        a stream no longer show it): in the final trace and in the summary alike.  A
        vessel is established at a row already analysed or a later one, so rows more
        than its time constant before the newest analysed row are released as they are.
        """
        held = np.concatenate((self._held, rows)) if len(self._held) else rows
        first = self._held0
        tau = int(round(PERSIST_TAU_S / self.config.hop_s))
        end = int(self._second[5])
        if end == 0 and not final:
            n_out = max(0, min(len(held), self._rows - tau - first))
            self._held, self._held0 = held[n_out:], first + n_out
            return held[:n_out]
        if end:
            a, b = max(end - tau - first, 0), min(end - first, len(held))
            if a < b:
                r = 1 - _DIRS.index(self.settings.antegrade)
                env = expand(held[a:b])
                _clear_rows(env, 0, b - a, r, env.dtype.type(self._second[6]), ENTER_RATIO)
                held[a:b, 3 * r:3 * r + 3] = env[:, r, 1:4]
                self._reread_kept.append((first + a, env[:, r, 0] > 0))
            if b < len(held) or final:
                self._held = None  # every row of the evidence is re-read: none held from now
            else:
                self._held, self._held0 = held[b:], first + b
                return held[:b]
        else:
            self._held = None
        return held

    def _all_valid(self, n):
        """A read-only array of ``n`` True values (kept and grown as needed)."""
        if len(self._valid_buf) < n:
            self._valid_buf = np.ones(max(n, 2 * len(self._valid_buf)), bool)
            self._valid_buf.setflags(write=False)
        return self._valid_buf[:n]

    def _valid_rows(self, row0, n):
        """False for rows whose averaged frames overlap lost samples or the wall filter's
        settling after the start of the stream or after a gap; None if every row is valid."""
        cfg = self.config
        half = (cfg.average_frames - 1) // 2  # the row averages frames r-half .. r+half
        first_sample = (row0 - half) * cfg.hop
        self._unsettled = [(g0, g1) for g0, g1 in self._unsettled if g1 > first_sample]
        return self._valid_mask(self._unsettled, row0, n)

    def _valid_mask(self, unsettled, row0, n):
        """:meth:`_valid_rows` for the sample ranges ``unsettled``, without forgetting any."""
        if not unsettled:
            return None
        cfg = self.config
        half = (cfg.average_frames - 1) // 2
        valid = np.ones(n, bool)
        rows = row0 + np.arange(n)
        first = (rows - half) * cfg.hop
        end = (rows + half) * cfg.hop + cfg.n_window
        for g0, g1 in unsettled:
            valid &= ~((first < g1) & (end > g0))
        return valid

    def _current_antegrade(self):
        a = self.settings.antegrade
        if a != "auto":
            return _DIRS.index(a)
        return 0 if self._integral[0] >= self._integral[1] else 1

    def _dispatch(self, actions):
        if self._watch_on and self._both[1] > 0:
            # two vessels with the direction chosen from the flow: no verdict to give
            if not self._told_unassessable:
                self._told_unassessable = True
                reason, _, second = self._second_vessel_note(self._current_antegrade())
                if reason is not None:
                    self._on_event({"type": "reflux_not_assessable", "reason": reason,
                                    "time_s": second["from_s"]})
            return
        retro = 1 - self._current_antegrade()
        thr = self.settings.threshold_s
        for kind, h, ev in actions:
            confirmed = self._confirmed[h]
            self._confirmed[h] = ev.start_s if kind == "reflux_confirmed" else None
            if h != retro:
                continue
            if kind == "reflux_confirmed":
                typ = "reflux_confirmed"
            elif is_reflux(ev.tested_s, thr):
                typ = "reflux_ended"
            elif confirmed == ev.start_s:
                # confirmed from a provisional row that the complete row did not bear out:
                # the episode ended within a hop of the threshold, not longer
                typ = "reflux_withdrawn"
            else:
                continue
            self._on_event({"type": typ, "start_s": round(ev.start_s, 4),
                            "duration_s": round(ev.duration_s, 4),
                            "peak_velocity_cm_s": round(ev.peak_velocity_cm_s, 2),
                            "time_s": round(ev.end_s, 4)})

    def status(self):
        """A snapshot for a live display.

        Returns
        -------
        dict
            ``time_s``, ``velocity_cm_s`` (signed, + antegrade),
            ``direction`` ('antegrade', 'retrograde' or 'none'), ``flow``,
            ``reflux_timer_s`` (duration of the retrograde episode under way,
            0 if none), ``level_dbfs``, ``clipped_samples``, ``antegrade``.
        """
        ante = self._current_antegrade()
        env = self._last
        det = env[:, 0] > 0
        v = 0.0
        direction = "none"
        if det.any():
            d = int(np.argmax(env[:, 3] * det))
            v = env[d, 1] * self._scale * (1 if d == ante else -1)
            direction = "antegrade" if d == ante else "retrograde"
        ep = self._tracker.open_episode(1 - ante)
        n, clipped, _, squares = self._levels()
        ms = squares.sum() / max(n * self.n_channels, 1)
        return {"time_s": self.time_s, "velocity_cm_s": float(v), "direction": direction,
                "flow": bool(det.any()), "reflux_timer_s": ep.duration_s if ep else 0.0,
                "level_dbfs": 10 * math.log10(ms) if ms > 0 else -math.inf,
                "clipped_samples": int(clipped), "antegrade": _DIRS[ante]}

    # ------------------------------------------------------------------ results
    def _empty_trace(self):
        z = np.zeros(0)
        return Trace(z, z, z, z, z, np.zeros(0, bool))

    def _make_trace(self, env, row0, ante, valid):
        """Trace rows from envelope rows (n, 2, 4) with ``ante`` as antegrade; rows not
        analysed (``valid`` False) have NaN velocities."""
        cfg = self.config
        time_s = cfg.t0_s + (row0 + np.arange(len(env))) * cfg.hop_s
        cols = self._columns(env, ante)
        if not valid.all():
            for c in cols[:4]:
                c[~valid] = np.nan
        return Trace(time_s, *cols)

    def _columns(self, env, ante, cols=None, flow=None):
        """The trace's columns after ``time_s``, from envelope rows (n, 2, 4).

        Computed in ``env``'s dtype, into ``cols`` (4, n) and ``flow`` (n,)
        when given.
        """
        n = len(env)
        if cols is None:
            cols = np.empty((4, n), env.dtype)
            flow = np.empty(n, bool)
        t = env.dtype.type
        _trace_columns(env, ante, t(self._scale), t(1), t(0), self.cmap.direction_available,
                         cols, flow)
        return cols[0], cols[1], cols[2], cols[3], flow

    def _final_trace(self, ante):
        """The whole trace with ``ante`` as antegrade, from the stored (bridged) rows.

        Built block by block; each stored block is released once converted,
        so the peak memory is about the size of the trace.
        """
        if self._env is None:
            return self._empty_trace()
        n = len(self._env)
        cols = np.empty((4, n), np.float32)
        flow = np.empty(n, bool)
        pos = 0
        for block in self._env.drain():
            k = len(block)
            env = expand(block)
            self._columns(env, ante, cols[:, pos:pos + k], flow[pos:pos + k])
            pos += k
        for a, b in self._unanalysed:
            cols[:, a:min(b, n)] = np.nan
        time_s = np.arange(n, dtype=np.float64)
        time_s *= self.config.hop_s
        time_s += self.config.t0_s
        return Trace(time_s, *cols, flow)

    def finish(self, **extra):
        """End the stream and return the :class:`Analysis`.

        Keyword arguments are added to the JSON as they are (for example
        ``input_overflows`` from a live session).
        """
        if self._finished is not None:
            return self._finished
        self._process(np.zeros((0, self.n_channels), np.float32), final=True)
        self._keep(self._bridger(np.zeros((0, 6), np.float32), final=True), final=True)
        self._tracker.close()
        s = self.settings
        if not self.cmap.direction_available:
            ante, source = 0, "unknown"
        elif s.antegrade == "auto":
            ante, source = self._current_antegrade(), "auto"
        else:
            ante, source = _DIRS.index(s.antegrade), "given"
        trace = self._final_trace(ante)
        noise = np.concatenate(self._noise_kept) if self._noise_kept else np.zeros(0)
        flow_detected = self._totals.flow_s(self.config.hop_s) >= MIN_FLOW_S
        warnings = list(self._warnings) + self._audio_warnings()
        if self._hum is not None:
            level = self._hum.level
            extra.setdefault("hum", {
                "mains_hz": self._hum.mains_hz,
                "frequency_hz": round(self._hum.frequency_hz, 3),
                "level_dbfs": [round(20 * math.log10(v), 1) if v > 0 else None
                               for v in level.tolist()]})
        if not self.cmap.direction_available:
            unassessable = "no direction in a mono recording"
            warnings.append("mono layout: flow direction cannot be told, so reflux is not "
                            "assessable (record I/Q or toward/away channels)")
        else:
            unassessable, note, second = self._second_vessel_note(ante)
            if note:
                warnings.append(note)
            if second:
                extra.setdefault("second_vessel", second)
            if not flow_detected:
                unassessable = None
        if unassessable is None and flow_detected:
            events, episodes = split_episodes(self._standing(self._tracker.episodes[1 - ante]),
                                              s.threshold_s)
        else:
            events, episodes = [], []
        margin = self.config.n_window / self.sample_rate_hz + self._tracker.gap_s
        for ev in events + episodes:
            ev.affected_by_gap = any(g0 - margin < ev.end_s and g1 + margin > ev.start_s
                                     for g0, g1 in self._gaps)
        if unassessable is not None:
            reflux = None
        else:
            reflux = bool(events) if flow_detected else False
        if not flow_detected:
            warnings.append("no flow detected: only noise and wall clutter "
                            "(flow not Doppler-detectable)")
        if self._gaps:
            lost = sum(g1 - g0 for g0, g1 in self._gaps)
            warnings.append(f"{len(self._gaps)} gap(s) in the stream, {lost:.3f} s of audio lost; "
                            f"events overlapping them are marked affected_by_gap")
            extra.setdefault("gaps", [{"start_s": round(g0, 4), "end_s": round(g1, 4)}
                                      for g0, g1 in self._gaps])
        spec = self._spec.array() if self._spec is not None else None
        self._finished = Analysis(
            settings=s, sample_rate_hz=self.sample_rate_hz, duration_s=self.time_s,
            direction_available=self.cmap.direction_available, flow_detected=flow_detected,
            reflux=reflux, reflux_not_assessable=unassessable,
            antegrade=_DIRS[ante] if self.cmap.direction_available else None,
            antegrade_source=source, reflux_events=events, episodes=episodes, trace=trace,
            warnings=warnings, summary=self._summary(ante, events, noise),
            file=self.file, n_channels=self.n_channels, spectrogram=spec,
            freqs_hz=self.config.freqs_hz,
            velocity_floor_cm_s=self.config.floor_hz * self._scale, extra=extra)
        return self._finished

    def _second_vessel_note(self, ante):
        """A second vessel flowing the retrograde way (``ante``: the antegrade direction).

        Returns ``(reason, warning, second_vessel)``: why reflux is not assessable
        (None: it is), the warning, and the JSON's ``second_vessel`` (None: no
        second vessel found).  With the direction chosen from the flow
        (``second_vessel._two_vessels``), which vessel is under study is unknown; with it
        given, the reflux stands out as a step over the persistent vessel, which
        the vessel under study makes only if it is louder than it: by the step
        less the persistent vessel's own power where that flows all the time,
        by the whole step where it falls silent between beats for a share of
        the rows (:data:`PULSATILE_SHARE`), each with the margin
        :data:`SEPARABLE_MARGIN`.
        """
        s = self.settings
        hop, t0 = self.config.hop_s, self.config.t0_s
        if self._watch_on and self._both[1] > 0:
            from_s = t0 + (self._both[1] - 1) * hop
            second = {"direction": None, "from_s": round(float(from_s), 4)}
            seen = f"from {from_s:.2f} s flow runs both ways at once: two vessels in the beam"
            if s.threshold_s is None:  # no reflux rule (an artery): nothing to assess
                return None, seen, second
            return ("two vessels flow opposite ways in the beam",
                    f"{seen} (an artery beside the vein?), and which one is under study cannot "
                    f"be told from the recording, so reflux is not assessable; give the vein's "
                    f"direction with --antegrade toward|away to separate them", second)
        if not (self._second_on and self._second[5] > 0):
            return None, None, None
        way = _DIRS[1 - ante]
        from_s = t0 + self._second[5] * hop
        second = {"direction": way, "from_s": round(float(from_s), 4)}
        where = (f"a second vessel flows {'toward' if way == 'toward' else 'away from'} the "
                 f"probe beside the {s.vessel or 'vessel under study'} (an artery?)")
        own, other = self._second[7], self._second[8]
        # a vessel silent in a share of the rows, for longer than a bridged gap (an
        # artery's diastole), leaves the reflux to make the whole step on its own there
        pulsatile = self._second[11] >= PULSATILE_SHARE * self._second[9] > 0
        need = SEPARABLE_MARGIN * (ENTER_RATIO if pulsatile else ENTER_RATIO - 1.0)
        step_db = 10 * math.log10(ENTER_RATIO)
        if own < need * other:
            rel_db = 10 * math.log10(other / own) if own > 0 else math.inf
            return ("a second vessel as loud as the vein flows the retrograde way",
                    f"{where}, {rel_db:+.1f} dB against it"
                    f"{' and silent between its beats' if pulsatile else ''}: the vein's reflux "
                    f"would not stand {step_db:.0f} dB above that vessel (it needs "
                    f"{10 * math.log10(need):.1f} dB over it), so reflux is not assessable; aim "
                    f"the beam at the vein alone", second)
        return (None, f"{where}: from {from_s:.2f} s retrograde flow counts only where it "
                f"stands {step_db:.0f} dB above it; aim the beam at the vein alone if you can",
                second)

    def _standing(self, episodes):
        """``episodes`` less those that lie within the rows re-read for a persistent vessel
        and keep fewer rows of retrograde flow there than the shortest episode reported
        (``RefluxTracker.min_rows``): its first beats, before it was established (see
        :meth:`_reread`)."""
        if not self._reread_kept:
            return episodes
        row0 = self._reread_kept[0][0]
        kept = np.concatenate([m for _, m in self._reread_kept])
        hop, t0 = self.config.hop_s, self.config.t0_s
        min_rows = self._tracker.min_rows
        out = []
        for ev in episodes:
            a = int(math.floor((ev.start_s - t0) / hop)) - row0
            b = int(math.ceil((ev.end_s - t0) / hop)) - row0
            if 0 <= a and b <= len(kept) and np.count_nonzero(kept[a:b]) < min_rows:
                continue
            out.append(ev)
        return out

    def _summary(self, ante, events, noise_per_frame):
        hop = self.config.hop_s
        noise = float(np.median(noise_per_frame)) if len(noise_per_frame) else 0.0
        # mean power of a noise bin = sigma^2 * sum(w^2): sigma^2 is the noise power per sample
        wsum = float(np.sum(self.config.window.astype(float) ** 2))
        noise_dbfs = 10 * math.log10(noise / wsum) if noise > 0 else None
        tot = self._totals
        peak = tot.peak_hz * np.float32(1.0)  # float32, as the trace's columns
        peak_ante = float(peak[ante] * self._scale)
        peak_retro = float(peak[1 - ante] * self._scale)
        return {
            "n_frames": tot.n,
            "hop_s": hop,
            "window_s": self.config.n_window / self.sample_rate_hz,
            "bin_hz": round(self.config.bin_hz, 4),
            "velocity_resolution_cm_s": round(self.config.bin_hz * self._scale, 4),
            "flow_fraction": round(tot.flow / tot.n if tot.n else 0.0, 4),
            "peak_antegrade_velocity_cm_s": round(peak_ante, 2),
            "peak_retrograde_velocity_cm_s": round(peak_retro, 2)
            if self.cmap.direction_available else None,
            "longest_reflux_s": round(max((e.duration_s for e in events), default=0.0), 4),
            "noise_floor_dbfs": None if noise_dbfs is None else round(noise_dbfs, 1),
        }

    def _levels(self):
        """Samples received, clipped values, and per channel the sum and sum of squares."""
        lanes = self._lanes
        nch = self.n_channels
        return (self._n_in, float(lanes[2].sum()), lanes[0].reshape(-1, nch).sum(axis=0),
                lanes[1].reshape(-1, nch).sum(axis=0))

    def _audio_warnings(self):
        n, clipped, sums, squares = self._levels()
        out = []
        if n == 0:
            return out
        nch = self.n_channels
        clipped = clipped / (n * nch)
        if clipped > 1e-4:
            out.append(f"clipping: {100 * clipped:.2f}% of samples at full scale; "
                       f"lower the input gain")
        means = sums / n
        rms = np.sqrt(squares / n)
        for c in range(nch):
            if abs(means[c]) > 0.01:
                out.append(f"mean level of {100 * means[c]:+.1f}% of full scale on channel "
                           f"{c + 1}: a DC offset or strong stationary echoes (removed by the "
                           f"wall filter)")
        if self._probe:
            found = detect_hum(np.concatenate(self._probe), self.sample_rate_hz)
            if found is not None:
                mains = f"{found['mains_hz']:g}"
                out.append(f"mains hum at {mains} Hz and its harmonics ({found['lines']} lines, "
                           f"{found['level_dbfs']:.0f} dBFS; a ground loop): it reads as flow "
                           f"both ways at fixed speeds; remove it with --hum {mains}")
        peak_rms = float(rms.max())
        if peak_rms == 0:
            out.append("the recording is silent: every sample is zero")
        elif 20 * math.log10(peak_rms) < -60:
            out.append(f"very low level: {20 * math.log10(peak_rms):.0f} dBFS RMS; raise the "
                       f"input gain or check the cable")
        return out
