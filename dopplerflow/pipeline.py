"""The incremental processor shared by files, live input and replay, and ``analyze``.

A :class:`Processor` is configured once and fed ``(frames, channels)`` blocks.
Whatever the block size, it produces the same trace and events: every stage
keeps its state between blocks, and the FFT is computed frame by frame the
same way whatever the batch.
"""

import math
import os
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from . import _kernels as K
from . import spectral
from .envelope import DEFAULT_METHOD, envelopes, method_code
from .errors import InputError, SettingsError
from .layouts import LAYOUTS, channel_map
from .reflux import RefluxTracker, reflux_threshold, split_episodes
from .velocity import check_geometry, cm_s_per_hz

__all__ = ["Settings", "Processor", "Analysis", "Trace", "analyze", "MIN_FLOW_S"]

#: Least total duration of flow (in runs of at least ``_MIN_RUN_S``) for a
#: recording to count as having detectable flow.
MIN_FLOW_S = 0.25
_MIN_RUN_S = 0.03
#: Every so many frames the noise level is kept for the summary (it changes every
#: 16 frames at most: ``spectral._NOISE_EVERY``).
_NOISE_KEEP = 16
#: Sample values at or above this magnitude count as clipped (full scale).
CLIP_LEVEL = 0.999
#: Sample rates accepted, Hz.
RATE_RANGE_HZ = (4000.0, 384000.0)
ANTEGRADE = ("toward", "away", "auto")
_DIRS = ("toward", "away")


@dataclass(frozen=True)
class Settings:
    """Analysis settings, validated once.

    Attributes
    ----------
    layout : str
        Channel layout (``dopplerflow.layouts.LAYOUTS``).
    invert : bool
        Swap toward and away (opposite quadrature convention).
    offset_hz : float or None
        Zero-velocity frequency of the ``offset`` layout, Hz.
    channels : tuple of int or None
        1-based channel numbers to use from a file with more channels.
    window_s, hop_s : float
        STFT window and hop, s (10 ms and 5 ms).
    wall_hz : float
        Wall-filter cut-off, Hz.
    carrier_hz : float
        Probe transmit frequency, Hz.
    angle_deg : float
        Beam-to-flow angle, degrees, in [0, 90).
    sound_speed_m_s : float
        Speed of sound, m/s.
    vessel : str or None
        Vessel preset (``dopplerflow.reflux.VESSELS``).
    reflux_threshold_s : float or None
        Overrides the vessel's threshold.
    antegrade : {'toward', 'away', 'auto'}
        Normal flow direction relative to the probe; ``auto`` picks the
        direction with more time-integrated flow.
    envelope : str
        Maximum-frequency estimator (``dopplerflow.envelope.METHODS``).
    average_frames : {3, 1}
        Frames in the centred time average of the spectrum: 3 lowers the
        speckle variance (better at low SNR); 1 answers one hop sooner (live
        reflux confirmation).
    """

    layout: str = "iq"
    invert: bool = False
    offset_hz: float | None = None
    channels: tuple | None = None
    window_s: float = 0.010
    hop_s: float = 0.005
    wall_hz: float = 80.0
    carrier_hz: float = 8e6
    angle_deg: float = 60.0
    sound_speed_m_s: float = 1540.0
    vessel: str | None = None
    reflux_threshold_s: float | None = None
    antegrade: str = "auto"
    envelope: str = DEFAULT_METHOD
    average_frames: int = 3

    def replace(self, **changes):
        """A copy with some fields changed."""
        return replace(self, **changes)

    @property
    def threshold_s(self):
        """The reflux threshold in force, s (None: no reflux rule)."""
        return reflux_threshold(self.vessel, self.reflux_threshold_s)

    def validate(self, sample_rate_hz=None):
        """Check every value; return a list of warnings.

        Raises
        ------
        SettingsError
            A value is out of range; the message says what is allowed.
        """
        if self.layout not in LAYOUTS:
            raise SettingsError(
                f"layout '{self.layout}' is not known; use one of {', '.join(LAYOUTS)}")
        if self.antegrade not in ANTEGRADE:
            raise SettingsError(
                f"antegrade '{self.antegrade}' is not known; use toward, away or auto")
        method_code(self.envelope)
        if self.average_frames not in spectral.AVERAGE_CHOICES:
            raise SettingsError(f"average_frames {self.average_frames!r} must be 3 (default) or 1 "
                                f"(one hop less latency, noisier at low SNR)")
        warnings = check_geometry(self.carrier_hz, self.angle_deg, self.sound_speed_m_s)
        self.threshold_s  # noqa: B018 - validates vessel and threshold
        if not 0.002 <= self.window_s <= 0.1:
            raise SettingsError(f"window {self.window_s * 1e3:g} ms is outside 2-100 ms")
        if not 0 < self.hop_s <= self.window_s:
            raise SettingsError(f"hop {self.hop_s * 1e3:g} ms must be positive and no longer "
                                f"than the window ({self.window_s * 1e3:g} ms)")
        if not self.wall_hz >= 5.0:
            raise SettingsError(f"wall filter cut-off {self.wall_hz!r} Hz must be at least 5 Hz")
        if sample_rate_hz is not None:
            fs = sample_rate_hz
            if not RATE_RANGE_HZ[0] <= fs <= RATE_RANGE_HZ[1]:
                raise SettingsError(
                    f"sample rate {fs:g} Hz is outside {RATE_RANGE_HZ[0]:g}-"
                    f"{RATE_RANGE_HZ[1]:g} Hz")
            if self.wall_hz >= fs / 8:
                raise SettingsError(f"wall filter cut-off {self.wall_hz:g} Hz is too high for "
                                    f"{fs:g} Hz audio (keep it below {fs / 8:g} Hz)")
            if self.layout == "offset":
                if self.offset_hz is None or not 0 < self.offset_hz < fs / 2:
                    raise SettingsError(
                        f"layout 'offset' needs --offset-hz between 0 and {fs / 2:g} Hz "
                        f"(the zero-velocity frequency), got {self.offset_hz!r}")
            if round(self.window_s * fs) < 16:
                raise SettingsError(f"window {self.window_s * 1e3:g} ms is under 16 samples "
                                    f"at {fs:g} Hz")
        return warnings

    def to_dict(self):
        """JSON-ready settings, with the threshold in force."""
        d = asdict(self)
        d["channels"] = list(self.channels) if self.channels else None
        d["reflux_threshold_s"] = self.threshold_s
        return d


SETTINGS_FIELDS = tuple(f.name for f in fields(Settings))


@dataclass
class Trace:
    """Per-frame velocity trace (one row per STFT hop).

    Attributes
    ----------
    time_s : ndarray, shape (n,)
        Centre of each frame, s from the first sample.
    antegrade_max_cm_s, retrograde_max_cm_s : ndarray, shape (n,)
        Maximum-velocity envelopes, >= 0 (0 where that direction has no flow;
        for mono, ``antegrade_max_cm_s`` is the speed and retrograde is NaN).
    mean_velocity_cm_s : ndarray, shape (n,)
        Intensity-weighted mean velocity, signed (+ antegrade).
    velocity_cm_s : ndarray, shape (n,)
        Maximum velocity of the dominant direction, signed (+ antegrade).
    flow : ndarray, shape (n,), bool
    """

    time_s: np.ndarray
    antegrade_max_cm_s: np.ndarray
    retrograde_max_cm_s: np.ndarray
    mean_velocity_cm_s: np.ndarray
    velocity_cm_s: np.ndarray
    flow: np.ndarray

    COLUMNS = ("time_s", "antegrade_max_cm_s", "retrograde_max_cm_s", "mean_velocity_cm_s",
               "flow", "velocity_cm_s")

    def __len__(self):
        return len(self.time_s)


@dataclass
class Analysis:
    """The result of analysing one recording or stream.

    ``to_dict()`` gives the JSON of DESIGN.md.  ``antegrade`` is the direction
    (relative to the probe) taken as antegrade, chosen or given.
    """

    settings: Settings
    sample_rate_hz: float
    duration_s: float
    direction_available: bool
    flow_detected: bool
    reflux: bool | None
    antegrade: str | None
    antegrade_source: str
    reflux_events: list
    episodes: list
    trace: Trace
    warnings: list
    summary: dict
    file: str | None = None
    n_channels: int = 2
    spectrogram: np.ndarray | None = None
    freqs_hz: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    @property
    def velocity_per_hz_cm_s(self):
        """Doppler scale: cm/s per Hz of shift."""
        s = self.settings
        return cm_s_per_hz(s.carrier_hz, s.angle_deg, s.sound_speed_m_s)

    def to_dict(self, trace=False):
        """The JSON-ready dict; ``trace=True`` adds the per-frame trace."""
        from . import __version__

        d = {
            "file": self.file,
            "sample_rate_hz": self.sample_rate_hz,
            "duration_s": round(self.duration_s, 6),
            "layout": self.settings.layout,
            "channels": self.n_channels,
            "settings": self.settings.to_dict(),
            "direction_available": self.direction_available,
            "antegrade": self.antegrade,
            "antegrade_source": self.antegrade_source,
            "flow_detected": self.flow_detected,
            "reflux": self.reflux,
            "reflux_events": [e.to_dict() for e in self.reflux_events],
            "retrograde_episodes": [e.to_dict() for e in self.episodes],
            "summary": self.summary,
            "warnings": list(self.warnings),
            "dopplerflow_version": __version__,
        }
        d.update(self.extra)
        if trace:
            t = self.trace
            d["trace"] = {c: _jsonable(getattr(t, c)) for c in Trace.COLUMNS}
        return d


def _jsonable(a):
    a = np.asarray(a)
    if a.dtype == bool:
        return a.astype(int).tolist()
    return [None if not math.isfinite(v) else round(v, 4) for v in a.astype(float).tolist()]


class _Columns:
    """Growing float32 rows, stored in blocks of about 1 MB.

    Blocks that large are memory mappings of their own, returned to the
    system as soon as they are released; many small arrays would leave the
    heap fragmented and the process as large as it ever was.
    """

    BLOCK_BYTES = 1 << 20

    def __init__(self, width):
        self.width = width
        self._rows_per_block = max(1, self.BLOCK_BYTES // (4 * width))
        self._full = []
        self._cur = None
        self._fill = 0

    def __len__(self):
        return len(self._full) * self._rows_per_block + self._fill

    def append(self, rows):
        rows = np.asarray(rows, np.float32).reshape(-1, self.width)
        while len(rows):
            if self._cur is None or self._fill == len(self._cur):
                if self._cur is not None:
                    self._full.append(self._cur)
                self._cur = np.empty((self._rows_per_block, self.width), np.float32)
                self._fill = 0
            k = min(len(rows), len(self._cur) - self._fill)
            self._cur[self._fill:self._fill + k] = rows[:k]
            self._fill += k
            rows = rows[k:]

    def last(self):
        """The last row appended, or None."""
        return self._cur[self._fill - 1] if self._fill else None

    def drain(self):
        """Yield the rows block by block, releasing each block once it is yielded."""
        while self._full:
            yield self._full.pop(0)
        if self._fill:
            cur, fill = self._cur, self._fill
            self._cur, self._fill = None, 0
            yield cur[:fill]

    def array(self):
        """All rows as one array (keeps them)."""
        parts = self._full + ([self._cur[:self._fill]] if self._fill else [])
        if not parts:
            return np.zeros((0, self.width), np.float32)
        return np.concatenate(parts)


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
        ``peak_velocity_cm_s`` and ``time_s`` (the frame that decided it).
        With ``antegrade='auto'`` the direction is the provisional choice.
    file : str, optional
        Name reported in the result.

    Raises
    ------
    SettingsError, LayoutError
    """

    def __init__(self, settings, sample_rate_hz, n_channels, *, keep_spectrogram=False,
                 keep_trace=True, on_event=None, file=None):
        self.settings = settings
        self.sample_rate_hz = float(sample_rate_hz)
        self._warnings = settings.validate(self.sample_rate_hz)
        self.n_channels = int(n_channels)
        self.file = file
        self.cmap = channel_map(settings.layout, self.n_channels, channels=settings.channels,
                                invert=settings.invert, offset_hz=settings.offset_hz)
        self.config = spectral.spectral_config(self.sample_rate_hz, self.cmap,
                                               window_s=settings.window_s, hop_s=settings.hop_s,
                                               wall_hz=settings.wall_hz,
                                               average_frames=settings.average_frames)
        sos = spectral.wall_filter_sos(settings.wall_hz, self.sample_rate_hz)
        self._wall = spectral.WallFilter(self.cmap, sos, self.sample_rate_hz)
        self._framer = spectral.Framer(self.config)
        self._noise = spectral.NoiseFloor(self.config)
        self._avg = spectral.TimeAverager(settings.average_frames)
        self._noise_pending = np.zeros(0)
        self._scale = cm_s_per_hz(settings.carrier_hz, settings.angle_deg,
                                  settings.sound_speed_m_s)
        self._tracker = RefluxTracker(self.config.hop_s, self.config.t0_s, self._scale,
                                      settings.threshold_s)
        # per frame and direction: fmax (0 = no flow), fmean, power; 24 bytes a frame
        self._env = _Columns(6) if keep_trace else None
        self._bridger = _Bridger(int(round(self._tracker.gap_s / self.config.hop_s)))
        self._totals = _Totals(max(1, int(round(_MIN_RUN_S / self.config.hop_s))))
        self._last = np.zeros((2, 4))  # the newest frame's envelope, for status()
        self._noise_kept = []  # the noise level of every _NOISE_KEEP-th frame
        self._rows = 0
        self._spec = _Columns(self.config.n_fft) if keep_spectrogram else None
        self._stats = np.zeros(4 + 2 * self.n_channels, np.float64)
        self._integral = np.zeros(2)  # time-integrated maximum frequency, per direction
        self._gaps = []
        self._n_samples = 0
        self._on_event = on_event
        # sample ranges whose frames are not analysed: the wall filter's settling after the
        # stream starts and after each gap of lost samples
        self._settle = spectral.settling_samples(sos, self.sample_rate_hz)
        self._unsettled = [(0, self._settle)]
        self._finished = None

    # ------------------------------------------------------------------ feeding
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

    def push(self, block):
        """Analyse the next block of audio.

        Parameters
        ----------
        block : array_like, shape (frames, channels)
            Float samples in [-1, 1] (integers are scaled from their full range).

        Returns
        -------
        Trace
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
        acc = self._stats.copy()
        acc[3] = -1
        K._block_stats(block, CLIP_LEVEL, acc)
        if acc[2]:
            t_bad = (self._n_samples + int(acc[3])) / self.sample_rate_hz
            raise InputError(f"the audio holds NaN or infinite samples (first at {t_bad:.3f} s); "
                             f"repair or re-export the recording")
        acc[3] = 0
        self._stats = acc
        return self._process(block, final=False)

    def mark_gap(self, n_samples):
        """Record ``n_samples`` lost samples: time advances over silence.

        Events overlapping a gap are marked ``affected_by_gap``.
        """
        n = int(n_samples)
        if n <= 0:
            return self._empty_trace()
        start = self.time_s
        self._gaps.append((start, start + n / self.sample_rate_hz))
        self._unsettled.append((self._n_samples, self._n_samples + n + self._settle))
        return self._process(None, final=False, filtered=self._wall.skip(n))

    def _process(self, block, final, filtered=None):
        if filtered is None:
            filtered = self._wall(block)
        self._n_samples += len(filtered)
        power = self._framer(filtered)
        if len(power):
            self._noise_pending = np.concatenate((self._noise_pending, self._noise(power)))
        rows = self._avg(power, final=final)
        if not len(rows):
            return self._empty_trace()
        noise = self._noise_pending[:len(rows)]
        self._noise_pending = self._noise_pending[len(rows):]
        env = envelopes(rows, noise, self.config, self.settings.envelope)
        row0 = self._rows
        self._rows += len(rows)
        valid = self._valid_rows(row0, len(rows))
        env[~valid] = 0.0
        self._last = env[-1]
        self._keep(self._bridger(env[:, :, 1:].reshape(len(env), 6)))
        self._noise_kept.append(noise[(row0 + np.arange(len(rows))) % _NOISE_KEEP == 0])
        if self._spec is not None:
            self._spec.append(rows)
        self._integral += (env[:, :, 0] * env[:, :, 1]).sum(axis=0)
        actions = self._tracker.update(env, valid)
        if self._on_event is not None and self.cmap.direction_available:
            self._dispatch(actions)
        return self._make_trace(env, row0, self._current_antegrade())

    def _keep(self, rows):
        """Account for (and keep, with ``keep_trace``) stored rows whose bridging is final."""
        if len(rows):
            self._totals.update(rows)
            if self._env is not None:
                self._env.append(rows)

    def _valid_rows(self, row0, n):
        """False for rows whose averaged frames overlap lost samples or the wall filter's
        settling after the start of the stream or after a gap."""
        valid = np.ones(n, bool)
        cfg = self.config
        half = (cfg.average_frames - 1) // 2  # the row averages frames r-half .. r+half
        first_sample = (row0 - half) * cfg.hop
        self._unsettled = [(g0, g1) for g0, g1 in self._unsettled if g1 > first_sample]
        if not self._unsettled:
            return valid
        rows = row0 + np.arange(n)
        first = (rows - half) * cfg.hop
        end = (rows + half) * cfg.hop + cfg.n_window
        for g0, g1 in self._unsettled:
            valid &= ~((first < g1) & (end > g0))
        return valid

    def _current_antegrade(self):
        a = self.settings.antegrade
        if a != "auto":
            return _DIRS.index(a)
        return 0 if self._integral[0] >= self._integral[1] else 1

    def _dispatch(self, actions):
        retro = 1 - self._current_antegrade()
        thr = self.settings.threshold_s
        for kind, h, ev in actions:
            if h != retro:
                continue
            if kind == "reflux_confirmed":
                typ = "reflux_confirmed"
            elif thr is not None and ev.duration_s > thr:
                typ = "reflux_ended"
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
        n = max(self._stats[0] * self.n_channels, 1)
        ms = self._stats[5::2].sum() / n
        return {"time_s": self.time_s, "velocity_cm_s": float(v), "direction": direction,
                "flow": bool(det.any()), "reflux_timer_s": ep.duration_s if ep else 0.0,
                "level_dbfs": 10 * math.log10(ms) if ms > 0 else -math.inf,
                "clipped_samples": int(self._stats[1]), "antegrade": _DIRS[ante]}

    # ------------------------------------------------------------------ results
    def _empty_trace(self):
        z = np.zeros(0)
        return Trace(z, z, z, z, z, np.zeros(0, bool))

    def _make_trace(self, env, row0, ante):
        """Trace rows from envelope rows (n, 2, 4) with ``ante`` as antegrade."""
        n = len(env)
        cfg = self.config
        time_s = cfg.t0_s + (row0 + np.arange(n)) * cfg.hop_s
        det = env[:, :, 0] > 0
        fmax = env[:, :, 1] * det * self._scale
        fmean = env[:, :, 2] * self._scale
        pw = env[:, :, 3] * det
        flow = det.any(axis=1)
        if not self.cmap.direction_available:
            return Trace(time_s, fmax[:, 0], np.full(n, np.nan), fmean[:, 0] * det[:, 0],
                         fmax[:, 0], flow)
        r = 1 - ante
        total = pw[:, 0] + pw[:, 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(total > 0, (fmean[:, ante] * pw[:, ante] - fmean[:, r] * pw[:, r])
                            / total, 0.0)
        dominant_retro = pw[:, r] > pw[:, ante]
        vel = np.where(dominant_retro, -fmax[:, r], fmax[:, ante])
        return Trace(time_s, fmax[:, ante], fmax[:, r], mean, vel, flow)

    def _final_trace(self, ante):
        """The whole trace with ``ante`` as antegrade, from the stored (bridged) rows.

        Built block by block; each stored block is released once converted,
        so the peak memory is about the size of the trace.
        """
        if self._env is None:
            return self._empty_trace()
        n = len(self._env)
        cols = [np.empty(n, np.float32) for _ in range(4)]
        flow = np.empty(n, bool)
        pos = 0
        for block in self._env.drain():
            part = self._make_trace(_expand(block), pos, ante)
            k = len(block)
            for col, src in zip(cols, (part.antegrade_max_cm_s, part.retrograde_max_cm_s,
                                       part.mean_velocity_cm_s, part.velocity_cm_s), strict=True):
                col[pos:pos + k] = src
            flow[pos:pos + k] = part.flow
            pos += k
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
        self._keep(self._bridger(np.zeros((0, 6), np.float32), final=True))
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
        if self.cmap.direction_available and flow_detected:
            events, episodes = split_episodes(self._tracker.episodes[1 - ante], s.threshold_s)
        else:
            events, episodes = [], []
        margin = self.config.n_window / self.sample_rate_hz + self._tracker.gap_s
        for ev in events + episodes:
            ev.affected_by_gap = any(g0 - margin < ev.end_s and g1 + margin > ev.start_s
                                     for g0, g1 in self._gaps)
        if not self.cmap.direction_available:
            reflux = None
            warnings.append("mono layout: flow direction cannot be told, so reflux is not "
                            "assessable (record I/Q or toward/away channels)")
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
            reflux=reflux, antegrade=_DIRS[ante] if self.cmap.direction_available else None,
            antegrade_source=source, reflux_events=events, episodes=episodes, trace=trace,
            warnings=warnings, summary=self._summary(ante, events, noise),
            file=self.file, n_channels=self.n_channels, spectrogram=spec,
            freqs_hz=self.config.freqs_hz, extra=extra)
        return self._finished

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

    def _audio_warnings(self):
        st = self._stats
        n = st[0]
        out = []
        if n == 0:
            return out
        nch = self.n_channels
        clipped = st[1] / (n * nch)
        if clipped > 1e-4:
            out.append(f"clipping: {100 * clipped:.2f}% of samples at full scale; "
                       f"lower the input gain")
        means = st[4::2] / n
        rms = np.sqrt(st[5::2] / n)
        for c in range(nch):
            if abs(means[c]) > 0.01:
                out.append(f"mean level of {100 * means[c]:+.1f}% of full scale on channel "
                           f"{c + 1}: a DC offset or strong stationary echoes (removed by the "
                           f"wall filter)")
        peak_rms = float(rms.max())
        if peak_rms == 0:
            out.append("the recording is silent: every sample is zero")
        elif 20 * math.log10(peak_rms) < -60:
            out.append(f"very low level: {20 * math.log10(peak_rms):.0f} dBFS RMS; raise the "
                       f"input gain or check the cable")
        return out


def _expand(rows):
    """Stored rows (n, 6) -> envelope rows (n, 2, 4): detected, fmax, fmean, power."""
    env = np.empty((len(rows), 2, 4), rows.dtype)
    env[:, :, 1:] = rows.reshape(len(rows), 2, 3)
    env[:, :, 0] = env[:, :, 1] > 0
    return env


def _bridge_dropouts(rows, max_gap):
    """Fill brief detection dropouts of each direction, in place, for the final trace.

    At low SNR the speckle of a few frames can fall below the detection
    threshold inside a stretch of flow.  Gaps of at most ``max_gap`` frames
    with flow in the same direction on both sides are filled by linear
    interpolation of the envelope (the events are tracked separately and
    bridge such gaps on their own).

    Parameters
    ----------
    rows : ndarray, shape (n, 6), float32
        Stored rows: fmax (0 where no flow), fmean and power of each direction.
    max_gap : int
        Longest gap filled, frames.
    """
    n = len(rows)
    for d in range(2):
        c = 3 * d
        det = np.concatenate(([1], (rows[:, c] > 0).astype(np.int8), [1]))
        edges = np.flatnonzero(np.diff(det))
        for g0, g1 in zip(edges[0::2], edges[1::2], strict=True):  # gap rows g0 .. g1-1
            if g0 == 0 or g1 == n or g1 - g0 > max_gap:
                continue
            w = ((np.arange(g0, g1) - (g0 - 1)) / (g1 - g0 + 1)).astype(np.float32)[:, None]
            rows[g0:g1, c:c + 3] = (1 - w) * rows[g0 - 1, c:c + 3] + w * rows[g1, c:c + 3]


class _Bridger:
    """:func:`_bridge_dropouts` over a stream of stored rows, block by block.

    The last ``max_gap + 1`` rows are held back until the next block (or the
    end), since a gap reaching into them may still be closed; the row before
    the first new one is kept as context.  The result is the same as
    bridging the whole recording at once, whatever the blocks.
    """

    def __init__(self, max_gap):
        self.max_gap = max_gap
        self._work = np.zeros((0, 6), np.float32)
        self._ctx = 0  # leading rows of ``_work`` already handed out (context)

    def __call__(self, rows, final=False):
        """Add stored rows (n, 6); return the rows whose bridging is now final."""
        work = np.concatenate((self._work, rows)).astype(np.float32, copy=False)
        _bridge_dropouts(work, self.max_gap)
        ctx = self._ctx
        n_out = len(work) - ctx if final else max(0, len(work) - ctx - self.max_gap - 1)
        out = _median_envelope(work, ctx, n_out)
        if n_out:
            keep = min(SMOOTH_HALF, ctx + n_out)
            self._work = work[ctx + n_out - keep:].copy()
            self._ctx = keep
        else:
            self._work = work
        return out


#: Half-width, in frames, of the running median applied to the maximum-frequency envelope of
#: the final trace (5 frames, 25 ms at the default hop: much shorter than venous velocity
#: changes, long enough to halve the speckle scatter of single frames).
SMOOTH_HALF = 2


def _median_envelope(work, start, n):
    """Rows ``work[start:start + n]`` with each direction's fmax replaced by a running median.

    The median is taken over the frames within ``SMOOTH_HALF`` that have flow in
    that direction (frames without flow keep fmax 0); ``work`` itself is not
    changed, so neighbours always enter with their own values.
    """
    out = np.empty((n, 6), np.float32)
    K._median_envelope(np.ascontiguousarray(work, np.float32), start, n, SMOOTH_HALF, out)
    return out


class _Totals:
    """Running totals of the bridged rows: frames, flow frames, peak envelopes, flow runs.

    ``flow_s`` is the time in runs of flow at least ``min_run`` frames long:
    a recording has detectable flow when it reaches ``MIN_FLOW_S``.
    """

    def __init__(self, min_run):
        self.min_run = min_run
        self.n = 0
        self.flow = 0
        self.peak_hz = np.zeros(2, np.float32)
        self._run = 0  # length of the flow run still open
        self._in_runs = 0  # frames in closed runs of at least min_run

    def update(self, rows):
        """Add stored rows (n, 6)."""
        fmax = rows[:, 0::3]
        self.peak_hz = np.maximum(self.peak_hz, fmax.max(axis=0))
        flow = (fmax > 0).any(axis=1)
        self.n += len(rows)
        self.flow += int(flow.sum())
        f = np.concatenate(([0], flow.astype(np.int8), [0]))
        edges = np.flatnonzero(np.diff(f))
        starts, ends = edges[0::2], edges[1::2]
        if not len(starts):
            self._close()
            return
        lengths = ends - starts
        if starts[0] == 0:  # the first run continues the open one
            lengths[0] += self._run
        else:
            self._close()
        self._run = 0
        if ends[-1] == len(flow):  # the last run stays open
            self._run = int(lengths[-1])
            lengths = lengths[:-1]
        self._in_runs += int(lengths[lengths >= self.min_run].sum())

    def _close(self):
        if self._run >= self.min_run:
            self._in_runs += self._run
        self._run = 0

    def flow_s(self, hop_s):
        """Seconds of flow in runs of at least ``min_run`` frames (open run included)."""
        open_run = self._run if self._run >= self.min_run else 0
        return (self._in_runs + open_run) * hop_s


def _settings_from(settings, kwargs):
    unknown = set(kwargs) - set(SETTINGS_FIELDS)
    if unknown:
        raise TypeError(f"unknown setting(s) {', '.join(sorted(unknown))}; known: "
                        f"{', '.join(SETTINGS_FIELDS)}")
    if "channels" in kwargs and kwargs["channels"] is not None:
        kwargs["channels"] = tuple(kwargs["channels"])
    return (settings or Settings()).replace(**kwargs)


def analyze(source, *, sample_rate_hz=None, settings=None, block_size=65536,
            keep_spectrogram=False, keep_trace=True, on_event=None, progress=None, **kwargs):
    """Analyse a recording: velocity trace, flow and reflux events.

    Parameters
    ----------
    source : str, os.PathLike, or ndarray
        An audio file (anything libsndfile reads), a ``(frames, channels)``
        array of samples, or a complex 1-D array ``I + jQ`` (layout ``iq``).
    sample_rate_hz : float, optional
        Required for arrays; for files it is read from the file.
    settings : Settings, optional
        Base settings; keyword arguments override single fields
        (``layout='iq'``, ``carrier_hz=8e6``, ``angle_deg=60.0``,
        ``vessel=None``, ``antegrade='auto'``, ...; see :class:`Settings`).
    block_size : int
        Frames per block fed to the processor (the result does not depend
        on it).
    keep_spectrogram : bool
        Keep the spectrogram for plotting.
    keep_trace : bool
        Keep the per-frame trace (``Analysis.trace``).  Without it the memory
        used does not grow with the recording's length; events, verdicts and
        the summary are the same.
    on_event : callable, optional
        See :class:`Processor`.
    progress : callable, optional
        Called with the fraction done after each block of a file.

    Returns
    -------
    Analysis

    Raises
    ------
    AudioFileError
        The file is missing, empty or not audio.
    InputError, LayoutError
        The audio cannot be analysed as asked (too short, NaN samples, wrong
        channel count for the layout).
    SettingsError
        A setting is out of range.
    """
    from . import io

    settings = _settings_from(settings, dict(kwargs))
    if block_size < 1:
        raise SettingsError(f"block size {block_size} must be a positive number of frames")
    if isinstance(source, (str, os.PathLike)):
        info = io.open_audio(source)
        if sample_rate_hz is not None and sample_rate_hz != info.samplerate:
            raise SettingsError(f"sample rate {sample_rate_hz:g} Hz given, but the file is "
                                f"{info.samplerate} Hz; leave it out for files")
        proc = Processor(settings, info.samplerate, info.channels,
                         keep_spectrogram=keep_spectrogram, keep_trace=keep_trace,
                         on_event=on_event, file=str(source))
        _require_one_window(info.frames, info.samplerate, settings, str(source))
        read = 0
        for block in io.iter_blocks(source, block_size):
            proc.push(block)
            read += len(block)
            if progress is not None:
                progress(read / max(info.frames, 1))
        extra = {}
        if read < info.frames:
            proc._warnings.append(f"the file is truncated: its header promises {info.frames} "
                                  f"frames, {read} could be read")
        _require_one_window(read, info.samplerate, settings, str(source))
        return proc.finish(**extra)
    data = np.asarray(source)
    if sample_rate_hz is None:
        raise SettingsError("sample_rate_hz is needed when the source is an array")
    if np.iscomplexobj(data):
        if data.ndim != 1:
            raise InputError(f"a complex source must be 1-D (I + jQ), got shape {data.shape}")
        if settings.layout != "iq":
            raise SettingsError("a complex source is I + jQ: use layout 'iq' "
                                "(invert=True for the opposite convention)")
        data = np.stack((data.real, data.imag), axis=1)
    elif data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2:
        raise InputError(f"source array must be (frames, channels), got shape {data.shape}")
    proc = Processor(settings, sample_rate_hz, data.shape[1], keep_spectrogram=keep_spectrogram,
                     keep_trace=keep_trace, on_event=on_event)
    _require_one_window(len(data), sample_rate_hz, settings, "the audio")
    for i in range(0, len(data), block_size):
        proc.push(data[i:i + block_size])
    return proc.finish()


def _require_one_window(n_frames, sample_rate_hz, settings, name):
    need = int(round(settings.window_s * sample_rate_hz))
    if n_frames < need:
        raise InputError(f"{name} is {1e3 * n_frames / sample_rate_hz:.1f} ms long; at least one "
                         f"{settings.window_s * 1e3:g} ms analysis window ({need} samples) is "
                         f"needed")

