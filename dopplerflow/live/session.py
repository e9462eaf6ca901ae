"""Live analysis of a sound card's input, recorded without loss.

Three threads share the work, so that nothing slow ever sits in the audio path:

* PortAudio's callback copies each block into a queue and counts the
  overflow flags; nothing else (the python-sounddevice pattern).
* The *recorder* thread takes blocks from that queue first: it writes them to
  the recording (FLAC or WAV, flushed every second) and forwards them to the
  worker.  Writing a file keeps up with any sound card, so the audio reaches
  the disk even when the analysis falls behind.
* The *worker* thread pushes the blocks into the same :class:`Processor` as
  ``analyze`` and ``replay``, so live results equal the file results for the
  same audio, and prints each reflux event the moment it is confirmed.

The calling thread waits, draws the status line (and the ``--plot`` window,
which matplotlib wants in the main thread) and watches the stream.  However
the session ends (``--duration``, Ctrl-C, the device failing or vanishing),
the recording is closed, the queued audio is analysed, and the result holds
everything up to that moment.

Lost audio is never silent: PortAudio's ``input_overflow`` flags are counted
(``input_overflows`` in the JSON); a block that finds the queue full (the
analysis and recording more than ``max_queue_s`` behind) is dropped, counted
(``dropped_frames``), written to the recording as silence of the same
length and marked as a gap in the analysis, so recording and trace keep the
device's timeline.
"""

import math
import queue
import sys
import threading
import time
from pathlib import Path

import numpy as np

from ..errors import DopplerflowError, SettingsError

__all__ = [
    "DeviceError",
    "LiveSession",
    "list_devices",
    "format_status",
    "format_event",
    "default_block_size",
    "add_arguments",
    "main",
    "add_devices_arguments",
    "devices_main",
]

#: Longest interval between two status updates, s (10 updates a second at most).
STATUS_INTERVAL_S = 0.1
#: Recording flushed to disk after this much audio, s.
FLUSH_INTERVAL_S = 1.0
#: Seconds of audio the input queue holds before blocks are dropped (and counted).
MAX_QUEUE_S = 60.0
#: Sound-card block length aimed at, s: about half a 5 ms hop, so a reflux
#: confirmation is not held back by the buffering of a long block.
BLOCK_S = 0.0025
#: Seconds without a block before the device counts as gone (unplugged, server died).
STALL_TIMEOUT_S = 2.0
#: Length of the noise block that compiles the kernels before the stream opens, s.
WARMUP_S = 0.25
#: Recording subtype by file extension: lossless for any 16/24-bit sound card.
RECORD_FORMATS = {".flac": ("FLAC", "PCM_24"), ".wav": ("WAV", "FLOAT")}
_FIND_DEVICES = "run 'dopplerflow devices' to list the input devices"


class DeviceError(DopplerflowError, OSError):
    """The sound card (or PortAudio) cannot be opened, or failed while streaming."""

    exit_code = 1


# ---------------------------------------------------------------------- devices
def _sounddevice():
    """Import sounddevice lazily, turning a missing PortAudio into a one-line error."""
    try:
        import sounddevice
    except OSError as exc:
        raise DeviceError(f"the PortAudio library cannot be loaded ({exc}); install it "
                          f"(Debian: apt install libportaudio2) to use sound cards") from None
    except ImportError:
        raise DeviceError("the sounddevice package is missing; install it with 'pip install "
                          "sounddevice' (or 'pip install dopplerflow[live]')") from None
    return sounddevice


def list_devices():
    """The input devices PortAudio offers.

    Returns
    -------
    list of dict
        One per device with at least one input channel: ``index`` (int, what
        ``--device`` accepts), ``name`` (str), ``hostapi`` (str),
        ``max_input_channels`` (int) and ``default_samplerate`` (float, Hz).

    Raises
    ------
    DeviceError
        PortAudio is not installed.
    """
    sd = _sounddevice()
    apis = sd.query_hostapis()
    out = []
    for dev in sd.query_devices():
        if dev["max_input_channels"] > 0:
            out.append({"index": int(dev["index"]), "name": dev["name"],
                        "hostapi": apis[dev["hostapi"]]["name"],
                        "max_input_channels": int(dev["max_input_channels"]),
                        "default_samplerate": float(dev["default_samplerate"])})
    return out


def _resolve_device(device):
    """Return PortAudio's info dict of the input device ``device`` (index, name or None)."""
    sd = _sounddevice()
    if isinstance(device, str) and device.strip().isdigit():
        device = int(device)
    try:
        info = sd.query_devices(device, "input")
    except (ValueError, sd.PortAudioError) as exc:
        raise DeviceError(f"no input device {device!r} ({str(exc).splitlines()[0]}); "
                          f"{_FIND_DEVICES}") from None
    if info["max_input_channels"] < 1:
        raise DeviceError(f"device {device!r} ({info['name']}) has no input channels; "
                          f"{_FIND_DEVICES}")
    return info


# ---------------------------------------------------------------------- text output
def format_status(status):
    """One status line for the terminal.

    Parameters
    ----------
    status : dict
        From :meth:`LiveSession.status`: ``time_s``, ``velocity_cm_s``
        (signed, + antegrade), ``direction``, ``flow``, ``reflux_timer_s``,
        ``level_dbfs`` (peak of the last update interval), ``clipped_samples``,
        ``input_overflows``, ``dropped_frames`` and ``lag_s`` (audio queued
        but not yet analysed).

    Returns
    -------
    str
        Fixed-width fields, no newline, e.g.
        ``"  12.34 s  -15.2 cm/s retrograde  flow yes  reflux 0.62 s  -12.0 dBFS |######   |"``.
    """
    level = status.get("level_dbfs", -math.inf)
    # meter: 10 cells over -60..0 dBFS
    cells = 0 if not math.isfinite(level) else int(np.clip((level + 60.0) / 6.0, 0, 10))
    level_txt = " -inf" if not math.isfinite(level) else f"{max(level, -99.9):5.1f}"
    parts = [
        f"{status.get('time_s', 0.0):8.2f} s",
        f"{status.get('velocity_cm_s', 0.0):+6.1f} cm/s {status.get('direction', 'none'):<10}",
        f"flow {'yes' if status.get('flow') else 'no '}",
    ]
    timer = status.get("reflux_timer_s", 0.0)
    parts.append(f"reflux {timer:5.2f} s" if timer > 0 else " " * 14)
    parts.append(f"{level_txt} dBFS |{'#' * cells}{' ' * (10 - cells)}|")
    if status.get("clipped_samples"):
        parts.append(f"CLIP {status['clipped_samples']}")
    lost = status.get("input_overflows", 0)
    if lost or status.get("dropped_frames"):
        parts.append(f"OVERFLOW {lost}+{status.get('dropped_frames', 0)} frames dropped")
    if status.get("lag_s", 0.0) >= 1.0:
        parts.append(f"analysis {status['lag_s']:.1f} s behind")
    return "  ".join(parts)


def format_event(event):
    """One stdout line for an ``on_event`` dict of the :class:`Processor`.

    Returns
    -------
    str
        ``"reflux confirmed at 9.90 s: started 9.02 s, 0.88 s so far, peak 13.5 cm/s"`` or
        ``"reflux ended at 10.52 s: started 9.02 s, lasted 1.50 s, peak 13.5 cm/s"``, or
        ``"reflux not assessable from 0.41 s: two vessels flow ..."``.
    """
    if event["type"] == "reflux_not_assessable":
        return (f"reflux not assessable from {event['time_s']:.2f} s: {event['reason']}; "
                f"give the vein's direction with --antegrade toward|away")
    if event["type"] == "reflux_confirmed":
        what, dur = "confirmed", f"{event['duration_s']:.2f} s so far"
    elif event["type"] == "reflux_withdrawn":
        return (f"reflux withdrawn at {event['time_s']:.2f} s: the retrograde flow from "
                f"{event['start_s']:.2f} s lasted {event['duration_s']:.3f} s, not longer "
                f"than the threshold")
    else:
        what, dur = "ended", f"lasted {event['duration_s']:.2f} s"
    return (f"reflux {what} at {event['time_s']:.2f} s: started {event['start_s']:.2f} s, "
            f"{dur}, peak {event['peak_velocity_cm_s']:.1f} cm/s")


def default_block_size(sample_rate_hz):
    """Frames per sound-card block: the power of two nearest ``BLOCK_S`` (at least 16)."""
    return max(16, 2 ** int(round(math.log2(BLOCK_S * float(sample_rate_hz)))))


# ---------------------------------------------------------------------- session
class LiveSession:
    """Analyse (and optionally record) a sound card's input as it arrives.

    Parameters
    ----------
    settings : Settings
        Analysis settings (layout, carrier, angle, vessel, ...).
    device : int or str or None
        PortAudio input device: index, name (or unique part of it), or None
        for the default input.
    sample_rate_hz : float, optional
        Default: the device's default rate.
    channels : int, optional
        Channels to open.  Default: 1 for the ``mono``/``offset`` layouts,
        else 2 (or the highest channel named in ``settings.channels``).
    block_size : int, optional
        Frames per PortAudio callback.  Default: :func:`default_block_size`
        (128 at 48 kHz, 2.7 ms): a reflux confirmation waits for the block
        that completes its frame, so short blocks keep it prompt; the
        analysis of a block takes about 0.1 ms.
    record_path : str or os.PathLike, optional
        ``.flac`` (24-bit) or ``.wav`` (32-bit float) file for the recording.
    duration_s : float, optional
        Stop after this much audio, s (counted in samples, not wall time).
    on_event : callable, optional
        Called in the worker thread with every event dict of the Processor
        (``reflux_confirmed`` / ``reflux_ended``).
    keep_spectrogram : bool
        Keep the spectrogram in the result (it grows 4 x n_fft bytes a hop).
    max_queue_s : float
        Audio the input queue may hold, s, before blocks are dropped (counted).
    stall_timeout_s : float
        Seconds without a block before the device counts as failed.
    on_block : callable, optional
        Called in the worker thread with each ``(frames, channels)`` float32
        block after it was analysed (the live plot feeds on it).

    Notes
    -----
    Use :meth:`run` (start, wait, close) or ``with LiveSession(...) as s:
    s.wait()``; the result is :attr:`analysis` after :meth:`close`.
    :attr:`end_reason` is ``'duration'``, ``'stopped'`` (Ctrl-C or
    :meth:`stop`), ``'device_error'``, ``'recording_error'`` or
    ``'analysis_error'``, with :attr:`error` the one-line message.
    """

    def __init__(self, settings, *, device=None, sample_rate_hz=None, channels=None,
                 block_size=None, record_path=None, duration_s=None, on_event=None,
                 keep_spectrogram=False, max_queue_s=MAX_QUEUE_S,
                 stall_timeout_s=STALL_TIMEOUT_S, on_block=None):
        from ..core.pipeline import Processor

        self.settings = settings
        if block_size is not None and int(block_size) < 16:
            raise SettingsError(f"block size {block_size} must be at least 16 frames "
                                f"(leave it out for the default, about {1e3 * BLOCK_S:g} ms)")
        if duration_s is not None and not duration_s > 0:
            raise SettingsError(f"duration {duration_s!r} s must be a positive number of "
                                f"seconds")
        self.record_path = None if record_path is None else Path(record_path)
        if self.record_path is not None:
            if self.record_path.suffix.lower() not in RECORD_FORMATS:
                raise SettingsError(f"recording '{self.record_path}' must end in .flac or "
                                    f".wav")
            if not self.record_path.parent.is_dir():
                raise SettingsError(f"folder of the recording '{self.record_path}' does not "
                                    f"exist; create it first")
        info = _resolve_device(device)
        self.device = info["index"]
        self.device_name = info["name"]
        self.sample_rate_hz = float(sample_rate_hz or info["default_samplerate"])
        self.block_size = (default_block_size(self.sample_rate_hz) if block_size is None
                           else int(block_size))
        self.channels = int(channels) if channels else _default_channels(settings)
        if not 1 <= self.channels <= info["max_input_channels"]:
            raise DeviceError(f"device '{self.device_name}' has {info['max_input_channels']} "
                              f"input channel(s), {self.channels} requested; {_FIND_DEVICES}")
        self.duration_s = duration_s
        self._limit = None if duration_s is None else int(round(duration_s * self.sample_rate_hz))
        self._user_on_event = on_event
        self._on_block = on_block
        self.events = []
        self.processor = Processor(settings, self.sample_rate_hz, self.channels,
                                   keep_spectrogram=keep_spectrogram, on_event=self._event,
                                   file=str(self.record_path) if self.record_path else None)
        self.max_queue_s = float(max_queue_s)
        self.stall_timeout_s = float(stall_timeout_s)
        n_blocks = max(2, int(math.ceil(max_queue_s * self.sample_rate_hz / self.block_size)))
        self._q = queue.Queue(maxsize=n_blocks)  # callback -> recorder
        self._work = queue.Queue()  # recorder -> worker (bounded by the input queue's pace)
        self._done = threading.Event()  # set when the session must end
        self._stream = None
        self._threads = []
        self._closed = False
        # counters written by one thread each
        self.input_overflows = 0  # callback
        self._drop_pending = 0  # callback
        self.dropped_frames = 0  # recorder
        self.dropped_blocks = 0  # recorder
        self.frames_recorded = 0  # recorder
        self.frames_analysed = 0  # worker
        self.max_lag_s = 0.0  # worker: most audio recorded but not yet analysed, s
        self.blocks_received = 0  # callback
        self._watch_count, self._watch_t = 0, 0.0  # main thread: stall watchdog
        self._peak = 0.0  # worker: peak |sample| since the last status
        self._status = {}
        self.end_reason = None
        self.error = None
        self.analysis = None
        self._recording = None

    # -------------------------------------------------------------- lifecycle
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def warm_up(self):
        """Compile the kernels on a short noise block before any audio is at stake."""
        from ..core.pipeline import Processor

        rng = np.random.default_rng(0)
        n = max(int(WARMUP_S * self.sample_rate_hz), 1)
        # with an event callback, as the session's own processor: the same code paths
        proc = Processor(self.settings, self.sample_rate_hz, self.channels,
                         on_event=lambda event: None)
        noise = (0.01 * rng.standard_normal((n, self.channels))).astype(np.float32)
        proc.push(noise[: n // 2], rows=False)
        proc.push(noise[n // 2:], rows=False)
        proc.status()
        proc.finish()

    def start(self):
        """Warm up, open the recording and the stream, start the threads.

        Raises
        ------
        DeviceError
            The device cannot be opened at this rate and channel count.
        AudioFileError
            The recording cannot be created.
        """
        sd = _sounddevice()
        self.warm_up()
        try:
            # Opening the device first: a device that cannot be opened leaves no file behind.
            self._stream = sd.InputStream(device=self.device, samplerate=self.sample_rate_hz,
                                          channels=self.channels, dtype="float32",
                                          blocksize=self.block_size, callback=self._callback)
        except (sd.PortAudioError, ValueError) as exc:
            self._stream = None
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DeviceError(f"cannot open input device '{self.device_name}' at "
                              f"{self.sample_rate_hz:g} Hz with {self.channels} channel(s) "
                              f"({msg}); {_FIND_DEVICES} and their rates") from None
        self._recording = None
        try:
            if self.record_path is not None:
                self._recording = _open_recording(self.record_path, self.sample_rate_hz,
                                                  self.channels)
        except BaseException:
            self._stream.close(ignore_errors=True)
            self._stream = None
            raise
        self._threads = [threading.Thread(target=self._recorder_loop, name="df-recorder",
                                          daemon=True),
                         threading.Thread(target=self._worker_loop, name="df-worker",
                                          daemon=True)]
        for t in self._threads:
            t.start()
        self._watch_count, self._watch_t = 0, time.monotonic()
        try:
            self._stream.start()
        except sd.PortAudioError as exc:
            self._fail("device_error", f"input device '{self.device_name}' would not start "
                                       f"({str(exc).splitlines()[0]}); {_FIND_DEVICES}")
        return self

    def _callback(self, indata, frames, time_info, status):
        # Only copy, queue and count; everything else happens in other threads.
        self.blocks_received += 1
        if status.input_overflow:
            self.input_overflows += 1
        try:
            self._q.put_nowait((indata.copy(), self._drop_pending))
            self._drop_pending = 0
        except queue.Full:
            self._drop_pending += frames

    def stop(self):
        """Ask the session to end (thread-safe); :meth:`wait` returns soon after."""
        if self.end_reason is None:
            self.end_reason = "stopped"
        self._done.set()

    def _fail(self, reason, message):
        if self.end_reason in (None, "stopped", "duration"):
            self.end_reason, self.error = reason, message
        self._done.set()

    def wait(self, timeout_s=None, tick=None):
        """Block until the session ends (duration, :meth:`stop`, device failure).

        Parameters
        ----------
        timeout_s : float, optional
            Return after this long even if the session goes on.
        tick : callable, optional
            Called about every 50 ms in this thread (status line, plot).

        Returns
        -------
        bool
            True if the session has ended.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self._done.wait(0.05):
            self._watch()
            if tick is not None:
                tick()
            if deadline is not None and time.monotonic() > deadline:
                return False
        return True

    def _watch(self):
        """Detect a stream that stopped or stalled without being asked to."""
        stream = self._stream
        if stream is None or self._done.is_set():
            return
        if not stream.active:
            self._fail("device_error", f"input device '{self.device_name}' stopped streaming "
                                       f"after {self.frames_recorded / self.sample_rate_hz:.2f} s "
                                       f"(disconnected or its server ended)")
            return
        now = time.monotonic()
        if self.blocks_received != self._watch_count:
            self._watch_count, self._watch_t = self.blocks_received, now
        elif now - self._watch_t > self.stall_timeout_s:
            self._fail("device_error", f"no audio from input device '{self.device_name}' for "
                                       f"{self.stall_timeout_s:g} s (unplugged or stalled)")

    def run(self, tick=None):
        """Start, wait until the end (Ctrl-C ends it too), close; return the Analysis."""
        self.start()
        try:
            self.wait(tick=tick)
        except KeyboardInterrupt:
            self.stop()
        finally:
            self.close()
        return self.analysis

    def close(self):
        """Stop the stream, finish the recording, analyse what is queued; return the Analysis.

        Safe to call more than once; the recording is closed and readable
        whatever happened before.
        """
        if self._closed:
            return self.analysis
        self._closed = True
        if self.end_reason is None:
            self.end_reason = "stopped"
        self._done.set()
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()  # waits for the buffers already captured
            except Exception:  # noqa: BLE001 - a dead device may refuse; abort then
                try:
                    stream.abort()
                except Exception:  # noqa: BLE001
                    pass
            try:
                stream.close(ignore_errors=True)
            except Exception:  # noqa: BLE001
                pass
        self._shutdown_threads()
        extra = {"input_overflows": int(self.input_overflows),
                 "dropped_frames": int(self.dropped_frames),
                 "live": {"device": self.device_name, "block_size": self.block_size,
                          "end_reason": self.end_reason, "error": self.error,
                          "recording": str(self.record_path) if self.record_path else None,
                          "frames_recorded": int(self.frames_recorded),
                          "max_analysis_lag_s": round(self.max_lag_s, 4)}}
        self.analysis = self.processor.finish(**extra)
        if self.input_overflows:
            self.analysis.warnings.append(
                f"{self.input_overflows} input overflow(s): the sound card's buffer overran and "
                f"samples were lost there; use a larger --block-size or lower the system load")
        if self.dropped_frames:
            self.analysis.warnings.append(
                f"{self.dropped_frames} frames dropped in {self.dropped_blocks} block(s): the "
                f"analysis fell more than {self.max_queue_s:g} s behind; the recording holds "
                f"silence there")
        return self.analysis

    def _shutdown_threads(self):
        # The sentinel carries the drops counted after the last queued block.
        self._q.put((None, self._drop_pending))
        for t in self._threads:
            t.join()
        self._threads = []

    # -------------------------------------------------------------- threads
    def _recorder_loop(self):
        """Take blocks off the input queue: record, forward to the worker."""
        rec = self._recording
        since_flush = 0
        flush_every = int(FLUSH_INTERVAL_S * self.sample_rate_hz)
        try:
            while True:
                block, dropped = self._q.get()
                if self._limit is not None and self.frames_recorded >= self._limit:
                    if block is None:
                        break
                    continue  # past --duration: the stream is being stopped
                if dropped:
                    dropped = self._take(dropped)
                    self.dropped_frames += dropped
                    self.dropped_blocks += 1
                    rec = self._record(rec, np.zeros((dropped, self.channels), np.float32))
                    self._work.put(("gap", dropped))
                if block is None:
                    break
                block = block[: self._take(len(block))]
                rec = self._record(rec, block)
                self._work.put(("audio", block))
                since_flush += len(block)
                if rec is not None and since_flush >= flush_every:
                    rec.flush()
                    since_flush = 0
                if self._limit is not None and self.frames_recorded >= self._limit:
                    if self.end_reason is None:
                        self.end_reason = "duration"
                    self._done.set()
        finally:
            if rec is not None:
                try:
                    rec.close()
                except Exception as exc:  # noqa: BLE001
                    self._fail("recording_error", f"recording '{self.record_path}' could not be "
                                                  f"finished ({exc})")
            self._work.put(None)

    def _take(self, n):
        """Frames of the next ``n`` that fit before --duration; counts them as recorded."""
        if self._limit is not None:
            n = min(n, self._limit - self.frames_recorded)
        self.frames_recorded += n
        return n

    def _record(self, rec, block):
        if rec is None or not len(block):
            return rec
        try:
            rec.write(block)
        except Exception as exc:  # noqa: BLE001 - disk full, file removed, ...
            self._fail("recording_error", f"writing the recording '{self.record_path}' failed "
                                          f"after {self.frames_recorded / self.sample_rate_hz:.2f}"
                                          f" s ({exc}); the part written so far is kept")
            try:
                rec.close()
            except Exception:  # noqa: BLE001
                pass
            return None
        return rec

    def _worker_loop(self):
        """Analyse forwarded blocks; keep the status snapshot fresh."""
        proc = self.processor
        failed = False
        last_status = 0.0
        while True:
            item = self._work.get()
            if item is None:
                break
            if failed:
                continue
            kind, data = item
            self.max_lag_s = max(self.max_lag_s, (self.frames_recorded - self.frames_analysed)
                                 / self.sample_rate_hz)
            try:
                if kind == "gap":
                    proc.mark_gap(data, rows=False)
                    self.frames_analysed += data
                else:
                    proc.push(data, rows=False)
                    self.frames_analysed += len(data)
                    if len(data):
                        self._peak = max(self._peak, float(np.abs(data).max()))
                    if self._on_block is not None:
                        self._on_block(data)
            except Exception as exc:  # noqa: BLE001 - keep recording whatever happens here
                failed = True
                self._fail("analysis_error", f"analysis failed at "
                                             f"{proc.time_s:.2f} s ({exc}); the recording goes on "
                                             f"to the end")
                continue
            now = time.monotonic()
            if now - last_status >= STATUS_INTERVAL_S or self._work.empty():
                last_status = now
                self._snapshot()

    def _snapshot(self):
        st = dict(self.processor.status())
        peak, self._peak = self._peak, 0.0
        st["level_dbfs"] = 20 * math.log10(peak) if peak > 0 else -math.inf
        self._status = st

    def _event(self, event):
        self.events.append(event)
        if self._user_on_event is not None:
            self._user_on_event(event)

    def status(self):
        """Snapshot for a live display (thread-safe, refreshed by the worker).

        Returns
        -------
        dict
            :meth:`Processor.status` fields (``time_s``, ``velocity_cm_s``,
            ``direction``, ``flow``, ``reflux_timer_s``, ``clipped_samples``,
            ...) with ``level_dbfs`` the peak level since the previous
            snapshot, plus ``input_overflows``, ``dropped_frames`` and
            ``lag_s`` (audio received but not yet analysed, s).
        """
        st = dict(self._status)
        st.setdefault("time_s", 0.0)
        st["input_overflows"] = self.input_overflows
        st["dropped_frames"] = self.dropped_frames
        st["lag_s"] = (self.frames_recorded - self.frames_analysed) / self.sample_rate_hz
        return st


def _default_channels(settings):
    if settings.channels:
        return max(settings.channels)
    return 1 if settings.layout in ("mono", "offset") else 2


def _open_recording(path, sample_rate_hz, channels):
    import soundfile

    from ..errors import AudioFileError

    fmt, subtype = RECORD_FORMATS[path.suffix.lower()]
    try:
        return soundfile.SoundFile(str(path), "w", samplerate=int(round(sample_rate_hz)),
                                   channels=channels, format=fmt, subtype=subtype)
    except (soundfile.LibsndfileError, OSError) as exc:
        raise AudioFileError(f"cannot create the recording '{path}' ({exc}); choose a "
                             f"writable .flac or .wav path") from None


# ---------------------------------------------------------------------- live plot
class LivePlot:
    """A scrolling sonogram and velocity trace, reflux shaded as it happens.

    Runs in the main thread (matplotlib's GUI loop lives there); the worker
    only hands it blocks through a small queue that drops (display only)
    when the window is slow, so drawing never delays the audio or the analysis.

    Parameters
    ----------
    session : LiveSession
    span_s : float
        Seconds shown.
    """

    def __init__(self, session, span_s=10.0):
        import matplotlib.pyplot as plt

        from ..core import spectral
        from ..core.velocity import cm_s_per_hz

        self.session = session
        proc = session.processor
        self._plt = plt
        self._wall = spectral.WallFilter(
            proc.cmap, spectral.wall_filter_sos(session.settings.wall_hz,
                                                session.sample_rate_hz),
            session.sample_rate_hz)
        self._framer = spectral.Framer(proc.config)
        self._q = queue.Queue(maxsize=256)
        n_rows = int(round(span_s / proc.config.hop_s))
        self._hop_s = proc.config.hop_s
        self._span_s = span_s
        self._sono = np.full((proc.config.n_fft, n_rows), -120.0, np.float32)
        freqs = proc.config.freqs_hz
        st = session.settings
        scale = cm_s_per_hz(st.carrier_hz, st.angle_deg, st.sound_speed_m_s)
        self.fig, (self.ax_s, self.ax_v) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
        self.fig.canvas.manager.set_window_title("dopplerflow live")
        self._img = self.ax_s.imshow(self._sono, aspect="auto", origin="lower", cmap="gray",
                                     extent=(-span_s, 0, freqs[0] * scale, freqs[-1] * scale),
                                     vmin=-100, vmax=-20, interpolation="nearest")
        self.ax_s.set_ylabel("velocity, cm/s (+ toward probe)")
        self._t = np.linspace(-span_s, 0, n_rows)
        self._v = np.full(n_rows, np.nan)
        (self._line,) = self.ax_v.plot(self._t, self._v, lw=1)
        self.ax_v.axhline(0, color="k", lw=0.5)
        self.ax_v.set_xlabel("time, s (0 = now)")
        self.ax_v.set_ylabel("velocity, cm/s (+ antegrade)")
        self.ax_v.set_xlim(-span_s, 0)
        self._shades = []
        self.closed = False
        self.fig.canvas.mpl_connect("close_event", self._on_close)
        plt.show(block=False)

    def _on_close(self, _event):
        self.closed = True

    def feed(self, block):
        """Queue a block for display (worker thread); dropped if the window lags."""
        try:
            self._q.put_nowait(block)
        except queue.Full:
            pass

    def update(self):
        """Draw what arrived since the last call (main thread)."""
        if self.closed:
            return
        rows = []
        while True:
            try:
                block = self._q.get_nowait()
            except queue.Empty:
                break
            power = self._framer(self._wall(block))
            if len(power):
                rows.append(power)
        if rows:
            power = np.concatenate(rows)[-self._sono.shape[1]:]
            n = len(power)
            self._sono = np.roll(self._sono, -n, axis=1)
            self._sono[:, -n:] = 10 * np.log10(power.T + 1e-12)
            self._img.set_data(self._sono)
        st = self.session.status()
        self._v = np.roll(self._v, -1)
        self._v[-1] = st.get("velocity_cm_s", np.nan)
        self._line.set_ydata(self._v)
        finite = self._v[np.isfinite(self._v)]
        if finite.size:
            lim = max(5.0, float(np.abs(finite).max()) * 1.1)
            self.ax_v.set_ylim(-lim, lim)
        self._shade(st)
        self.fig.canvas.draw_idle()
        self.fig.canvas.flush_events()

    def _shade(self, st):
        for s in self._shades:
            s.remove()
        self._shades = []
        now = st.get("time_s", 0.0)
        spans = [(e["start_s"], e["start_s"] + e["duration_s"]) for e in self.session.events
                 if e["type"] == "reflux_ended"]
        if st.get("reflux_timer_s", 0.0) > 0:
            spans.append((now - st["reflux_timer_s"], now))
        for t0, t1 in spans:
            if t1 > now - self._span_s:
                self._shades.append(self.ax_v.axvspan(t0 - now, t1 - now, color="r",
                                                      alpha=0.2))

    def close(self):
        """Close the window."""
        self._plt.close(self.fig)


def _check_gui():
    """Raise SettingsError unless matplotlib can open a window here."""
    import os

    import matplotlib

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        raise SettingsError("--plot needs a display, and there is none (DISPLAY is not set); "
                            "run without --plot and plot the recording afterwards with "
                            "'dopplerflow analyze FILE --plot OUT.png'")
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend().lower()
    if backend in ("agg", "pdf", "ps", "svg", "cairo", "template") or "inline" in backend:
        raise SettingsError(f"--plot needs an interactive matplotlib backend, but '{backend}' "
                            f"is in use (install a GUI toolkit such as python3-tk); run without "
                            f"--plot and plot the recording afterwards")
    del plt


# ---------------------------------------------------------------------- command line
def add_devices_arguments(parser):
    """Flags of ``dopplerflow devices``."""
    parser.add_argument("--json", action="store_true",
                        help="print the device list as JSON instead of a table")


def devices_main(args):
    """``dopplerflow devices``: print the input devices; return the exit code."""
    import json

    devices = list_devices()
    if getattr(args, "json", False):
        print(json.dumps(devices, indent=2))
        return 0
    if not devices:
        print("no input devices found (is a sound card connected and PortAudio able to see "
              "it?)", file=sys.stderr)
        return 1
    print(f"{'index':>5}  {'channels':>8}  {'rate, Hz':>9}  {'host API':<10}  name")
    for d in devices:
        print(f"{d['index']:>5}  {d['max_input_channels']:>8}  {d['default_samplerate']:>9.0f}"
              f"  {d['hostapi']:<10}  {d['name']}")
    return 0


def _positive_float(text):
    import argparse

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not v > 0 or not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return v


def add_arguments(parser):
    """Flags of ``dopplerflow live``, with the shared analysis flags (``--layout`` ...)."""
    from .. import cli

    if "--layout" not in parser._option_string_actions:
        cli.add_analysis_arguments(parser)
    parser.add_argument("--device", default=None,
                        help="input device: index or (part of) its name; default: the system "
                             "default input ('dopplerflow devices' lists them)")
    parser.add_argument("--sample-rate", type=_positive_float, default=None, metavar="HZ",
                        help="sample rate, Hz (default: the device's default rate)")
    parser.add_argument("--input-channels", type=int, default=None, metavar="N",
                        help="channels to open (default: 2, or 1 for mono/offset layouts)")
    parser.add_argument("--duration", type=_positive_float, default=None, metavar="S",
                        help="stop after S seconds of audio (default: until Ctrl-C)")
    parser.add_argument("--record", default=None, metavar="FILE",
                        help="record the input to FILE.flac (24-bit) or FILE.wav (32-bit float)")
    parser.add_argument("--json", default=None, metavar="OUT",
                        help="write the analysis (events, settings, input_overflows) as JSON")
    parser.add_argument("--csv", default=None, metavar="OUT", help="write the trace as CSV")
    parser.add_argument("--plot", action="store_true",
                        help="show a live window (needs a display; refused before the stream "
                             "opens if there is none)")
    parser.add_argument("--block-size", type=int, default=None, metavar="N",
                        help=f"frames per sound-card block (default: the power of two nearest "
                             f"{1e3 * BLOCK_S:g} ms, 128 at 48 kHz)")
    parser.add_argument("--quiet", action="store_true", help="no status line")


class _StatusLine:
    """Rewrites one stderr line at most every STATUS_INTERVAL_S (only on a terminal)."""

    def __init__(self, session, stream=None, enabled=True):
        self.session = session
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self._last = 0.0
        self._width = 0

    def __call__(self):
        now = time.monotonic()
        if not self.enabled or now - self._last < STATUS_INTERVAL_S:
            return
        self._last = now
        line = format_status(self.session.status())
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def clear(self):
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()


def main(args):
    """``dopplerflow live``: stream, print events, write the outputs; return the exit code.

    Ends with exit code 0 after ``--duration`` or Ctrl-C.  A device,
    recording or analysis failure raises :class:`DeviceError` (exit 1) after
    the recording is closed and the JSON/CSV are written.
    """
    import signal

    from .. import cli
    from ..core import io

    settings = cli.settings_from_args(args)
    if args.plot:
        _check_gui()
    session = LiveSession(settings, device=args.device, sample_rate_hz=args.sample_rate,
                          channels=args.input_channels, block_size=args.block_size,
                          record_path=args.record, duration_s=args.duration,
                          on_event=lambda ev: print(format_event(ev), flush=True))
    plot = None
    if args.plot:
        plot = LivePlot(session)
        session._on_block = plot.feed
    status = _StatusLine(session, enabled=not args.quiet)

    def tick():
        status()
        if plot is not None:
            plot.update()

    # Ctrl-C (and SIGTERM) end the session in order instead of interrupting it.
    def _stop(signum, frame):
        session.stop()

    old = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        session.start()
        # "listening" only once audio flows: sources such as PulseAudio start capturing a
        # few tens of ms after the stream starts
        while session.blocks_received == 0 and not session.wait(timeout_s=0.02):
            pass
        print(f"dopplerflow live: '{session.device_name}' at {session.sample_rate_hz:g} Hz, "
              f"{session.channels} channel(s)"
              + (f", recording to {session.record_path}" if session.record_path else "")
              + "; Ctrl-C to stop", file=sys.stderr, flush=True)
        session.wait(tick=tick)
    finally:
        try:
            analysis = session.close()
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            status.clear()
            if plot is not None:
                plot.close()
    if args.json:
        io.write_json(analysis, args.json)
    if args.csv:
        io.write_csv(analysis, args.csv)
    seconds = session.frames_recorded / session.sample_rate_hz
    n = len(analysis.reflux_events)
    summary = (f"{seconds:.2f} s analysed, {n} reflux event(s), "
               f"{session.input_overflows} input overflow(s)")
    if session.end_reason in ("duration", "stopped"):
        how = "duration reached" if session.end_reason == "duration" else "stopped"
        print(f"dopplerflow live: {how}: {summary}", file=sys.stderr, flush=True)
        return 0
    raise DeviceError(f"{session.error}; {summary}, recording and results up to then were "
                      f"saved")
