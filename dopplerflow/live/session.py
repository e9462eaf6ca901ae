"""Live analysis of a sound card's input, recorded without loss.

Three threads share the work, so that nothing slow ever sits in the audio path:

* PortAudio's callback copies each block into a queue and counts the
  overflow flags; nothing else (the python-sounddevice pattern).
* The *recorder* thread takes blocks from that queue first: it writes them to
  the recording (FLAC or WAV, flushed every second) and forwards them to the
  worker.  Writing a file keeps up with any sound card, so the audio reaches
  the disk even when the analysis falls behind.
* The *worker* thread feeds the blocks (and the gaps) into the same
  :class:`~dopplerflow.core.Processor` as ``analyze`` and ``replay``, through the
  same loop (:func:`dopplerflow.core.feed`), so live results equal the file results
  for the same audio, and hands each reflux event on the moment it is confirmed.

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

import contextlib
import math
import os
import queue
import threading
import time
from pathlib import Path

import numpy as np

from ..core import Gap, Processor, feed
from ..errors import SettingsError
from .devices import BLOCK_S, FIND_DEVICES, DeviceError, default_block_size, resolve_device
from .devices import sounddevice_module as _sounddevice
from .status import STATUS_INTERVAL_S

__all__ = ["LiveSession", "RECORD_FORMATS", "MAX_QUEUE_S", "STALL_TIMEOUT_S", "STALL_BLOCKS",
           "MAX_BLOCK_S"]

#: Recording flushed to disk after this much audio, s.
FLUSH_INTERVAL_S = 1.0
#: Seconds of audio the input queue holds before blocks are dropped (and counted).
MAX_QUEUE_S = 60.0
#: Seconds without a block before the device counts as gone (unplugged, server died),
#: over and above :data:`STALL_BLOCKS` blocks' duration.
STALL_TIMEOUT_S = 2.0
#: Blocks' duration added to the stall timeout: a device delivers a block once it is
#: full, so long blocks arrive seconds apart (and the first one a block late).
STALL_BLOCKS = 2
#: Longest block, s: a device hands over whole blocks only, and a stop (Ctrl-C) ends the
#: stream within one: the part of it captured and not yet delivered is lost.
MAX_BLOCK_S = 1.0
#: A stop with blocks this long or longer says, in a warning, how much may be lost so, s.
WARN_BLOCK_S = 0.05
#: Length of the noise block that compiles the kernels before the stream opens, s.
WARMUP_S = 0.25
#: Recording format and subtype by file extension: lossless for any 16/24-bit sound card.
#: A ``.wav`` is written as RF64 that closes as a plain WAV under 4 GiB (a plain WAV's
#: header states 4 GiB at most: 3.1 hours of 48 kHz stereo float, 47 minutes at 192 kHz).
RECORD_FORMATS = {".flac": ("FLAC", "PCM_24"), ".wav": ("RF64", "FLOAT")}
#: Full scale of a 24-bit recording: its samples are integers over this.
FULL_SCALE_24 = 2 ** 23


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
        ``.flac`` (24-bit) or ``.wav`` (32-bit float) file for the recording; a
        new file: an existing one is refused, a recording is never overwritten.
        A FLAC holds 24-bit samples up to full scale: each block is rounded to 24
        bits and clipped at full scale (the clipped samples counted in
        :attr:`clipped_samples` and a warning) before it is both recorded and
        analysed, so the analysis is that of the recording.  A WAV holds the
        float samples as they came.
    duration_s : float, optional
        Stop after this much audio, s (counted in samples, not wall time).
    on_event : callable, optional
        Called in the worker thread with every event dict of the Processor
        (``reflux_confirmed`` / ``reflux_ended``).
    keep_spectrogram : bool
        Keep the spectrogram in the result (at most 8192 rows, frames pooled in a long
        session: :mod:`dopplerflow.core.sonogram`).
    keep_trace : bool
        Keep the per-frame trace in the result (24 bytes a 5 ms hop, 17 MB an hour);
        without it the session runs in constant memory (``dopplerflow live`` keeps it
        for ``--csv`` only).
    max_queue_s : float
        Audio the input queue may hold, s, before blocks are dropped (counted).
    stall_timeout_s : float
        Seconds without a block before the device counts as failed, over and
        above :data:`STALL_BLOCKS` blocks' duration (:attr:`stall_timeout_s` is
        the sum).
    on_block : callable, optional
        Called in the worker thread with each ``(frames, channels)`` float32
        block after it was analysed (the live plot feeds on it).

    Notes
    -----
    Use :meth:`run` (start, wait, close) or ``with LiveSession(...) as s:
    s.wait()``; the result is :attr:`analysis` after :meth:`close`.  A session
    runs once: a second :meth:`start` (or :meth:`run`) raises RuntimeError.
    :attr:`end_reason` is ``'duration'``, ``'stopped'`` (Ctrl-C or
    :meth:`stop`), ``'device_error'``, ``'recording_error'`` or
    ``'analysis_error'``, with :attr:`error` the one-line message.

    Raises
    ------
    SettingsError
        ``record_path`` exists, is not a ``.flac``/``.wav`` name or lies in a
        folder that does not exist; a block size under 16 frames; a duration
        that is not positive.
    DeviceError
        No such input device, or not that many input channels.
    """

    def __init__(self, settings, *, device=None, sample_rate_hz=None, channels=None,
                 block_size=None, record_path=None, duration_s=None, on_event=None,
                 keep_spectrogram=False, keep_trace=True, max_queue_s=MAX_QUEUE_S,
                 stall_timeout_s=STALL_TIMEOUT_S, on_block=None):
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
            if os.path.lexists(self.record_path):
                raise SettingsError(_exists_message(self.record_path))
        info = resolve_device(device)
        self.device = info["index"]
        self.device_name = info["name"]
        self.sample_rate_hz = float(sample_rate_hz or info["default_samplerate"])
        self.block_size = (default_block_size(self.sample_rate_hz) if block_size is None
                           else int(block_size))
        longest = int(MAX_BLOCK_S * self.sample_rate_hz)
        if self.block_size > longest:
            raise SettingsError(f"block size {self.block_size} frames is more than "
                                f"{MAX_BLOCK_S:g} s at {self.sample_rate_hz:g} Hz: a stop ends "
                                f"the stream within a block, and the part of it not yet "
                                f"delivered is lost; give at most {longest}")
        self.channels = int(channels) if channels is not None else _default_channels(settings)
        if not 1 <= self.channels <= info["max_input_channels"]:
            mono = (" (a mono sound card: --layout mono)"
                    if info["max_input_channels"] == 1 and channels is None else "")
            raise DeviceError(f"device '{self.device_name}' has {info['max_input_channels']} "
                              f"input channel(s), {self.channels} requested{mono}; "
                              f"{FIND_DEVICES}")
        self.duration_s = duration_s
        self._limit = None if duration_s is None else int(round(duration_s * self.sample_rate_hz))
        self._user_on_event = on_event
        #: Called in the worker thread with each analysed block (the live plot feeds on it).
        self.on_block = on_block
        self.events = []
        self.processor = Processor(settings, self.sample_rate_hz, self.channels,
                                   keep_spectrogram=keep_spectrogram, keep_trace=keep_trace,
                                   on_event=self._event,
                                   file=str(self.record_path) if self.record_path else None)
        self.max_queue_s = float(max_queue_s)
        #: Seconds without a block before the device counts as failed.
        self.stall_timeout_s = (float(stall_timeout_s)
                                + STALL_BLOCKS * self.block_size / self.sample_rate_hz)
        #: Whether blocks are rounded to 24 bits and clipped at full scale (a FLAC recording).
        self._quantise = (self.record_path is not None
                            and RECORD_FORMATS[self.record_path.suffix.lower()][1] == "PCM_24")
        n_blocks = max(2, int(math.ceil(max_queue_s * self.sample_rate_hz / self.block_size)))
        self._q = queue.Queue(maxsize=n_blocks)  # callback -> recorder
        self._work = queue.Queue()  # recorder -> worker (bounded by the input queue's pace)
        self._done = threading.Event()  # set when the session must end
        self._stream = None
        self._threads = []
        self._closed = False
        self._started = False
        # counters written by one thread each
        self.input_overflows = 0  # callback
        self._drop_pending = 0  # callback
        self.dropped_frames = 0  # recorder
        self.dropped_blocks = 0  # recorder
        self.frames_recorded = 0  # recorder
        self.clipped_samples = 0  # recorder: samples beyond full scale clipped for a FLAC
        self.frames_analysed = 0  # worker
        self.max_lag_s = 0.0  # worker: most audio recorded but not yet analysed, s
        self.blocks_received = 0  # callback
        self._watch_count, self._watch_t = 0, 0.0  # main thread: stall watchdog
        self._peak = 0.0  # worker: peak |sample| since the last status
        self._last_status = 0.0  # worker: when the status snapshot was last refreshed
        self._status = {}
        self.end_reason = None
        self.error = None
        self.analysis = None
        self._recording = None
        self._write_failed = False  # recorder: writing the recording failed; no more is kept
        self._failed_block = np.zeros((0, 1), np.float32)  # recorder: the block it failed on

    # -------------------------------------------------------------- lifecycle
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def warm_up(self):
        """Compile the kernels on a short noise block before any audio is at stake."""
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
        SettingsError
            A file appeared at ``record_path`` since the session was made.
        RuntimeError
            The session was started before: a session runs once.
        """
        if self._started:
            raise RuntimeError("this LiveSession has already run (a session runs once); "
                               "create a new LiveSession for another session")
        self._started = True
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
                              f"({msg}); {FIND_DEVICES} and their rates") from None
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
                                       f"({str(exc).splitlines()[0]}); {FIND_DEVICES}")
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
                                       f"{self.stall_timeout_s:.1f} s (unplugged or stalled)")

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
        on_disk = self._frames_on_disk() if self._write_failed else None
        if on_disk is not None:
            extra["live"]["frames_recorded"] = on_disk
            part = self._failed_block[: max(0, on_disk - self.frames_analysed)]
            if len(part) and self.end_reason != "analysis_error":
                self.processor.push(part, rows=False)  # the failed block's part on disk
                self.frames_analysed += len(part)
        self.analysis = self.processor.finish(**extra)
        if on_disk is not None and on_disk < self.frames_analysed:
            self.analysis.warnings.append(
                f"the recording '{self.record_path}' holds {on_disk / self.sample_rate_hz:.2f} "
                f"s, the analysis {self.frames_analysed / self.sample_rate_hz:.2f} s: the last "
                f"{(self.frames_analysed - on_disk) / self.sample_rate_hz:.2f} s analysed did "
                f"not reach the disk (its writing failed)")
        if self.input_overflows:
            self.analysis.warnings.append(
                f"{self.input_overflows} input overflow(s): the sound card's buffer overran and "
                f"samples were lost there; use a larger --block-size or lower the system load")
        if self.clipped_samples:
            self.analysis.warnings.append(
                f"{self.clipped_samples} sample(s) beyond full scale were clipped in the FLAC "
                f"recording, and analysed as recorded; a .wav recording keeps float samples "
                f"as they come")
        block_s = self.block_size / self.sample_rate_hz
        if self.end_reason == "stopped" and block_s >= WARN_BLOCK_S:
            self.analysis.warnings.append(
                f"stopped within a block of {block_s:.2f} s: the device hands over whole "
                f"blocks only, so up to {block_s:.2f} s captured after the last one is in "
                f"neither the recording nor the analysis; shorter blocks lose less")
        if self.dropped_frames:
            self.analysis.warnings.append(
                f"{self.dropped_frames} frames dropped in {self.dropped_blocks} block(s): the "
                f"recording and the analysis, which share the computer, fell more than "
                f"{self.max_queue_s:g} s behind the device; the recording holds silence "
                f"there")
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
                if self._write_failed or (self._limit is not None
                                          and self.frames_recorded >= self._limit):
                    # past --duration, or the recording failed: the stream is being
                    # stopped; the rest is taken off the queue (the callback never waits)
                    if block is None:
                        break
                    continue
                if dropped:
                    dropped = self._take(dropped)
                    self.dropped_frames += dropped
                    self.dropped_blocks += 1
                    silence = np.zeros((dropped, self.channels), np.float32)
                    rec = self._keep(rec, silence, silence, Gap(dropped))
                if block is None:
                    break
                if self._write_failed:
                    continue
                block = block[: self._take(len(block))]
                if self._quantise:
                    # the recording's samples, recorded and analysed alike
                    samples, block, clipped = _to_24_bits(block)
                    self.clipped_samples += clipped
                    rec = self._keep(rec, samples, block, block)
                else:
                    rec = self._keep(rec, block, block, block)
                since_flush += len(block)
                if rec is not None and since_flush >= flush_every:
                    _flush_recording(rec)
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

    def _keep(self, rec, samples, analysed, item):
        """Record ``samples`` and hand ``item`` (``analysed``, or its gap) to the worker;
        the recording, or None once writing it failed.  The analysis is that of the
        recording: it ends where the file does, and of the block the writing failed on
        (``analysed``), :meth:`close` analyses the part the file holds."""
        rec = self._record(rec, samples)
        if self._write_failed:
            self._failed_block = analysed
        else:
            self._work.put(item)
        return rec

    def _take(self, n):
        """Frames of the next ``n`` that fit before --duration; counts them as recorded."""
        if self._limit is not None:
            n = min(n, self._limit - self.frames_recorded)
        self.frames_recorded += n
        return n

    def _record(self, rec, block):
        """Write ``block`` (float32, or int32 for a 24-bit file) to the recording ``rec``;
        the recording, or None once writing it failed."""
        if rec is None or not len(block):
            return rec
        try:
            rec.write(block)
        except Exception as exc:  # noqa: BLE001 - disk full, file removed, ...
            self._write_failed = True
            self.frames_recorded -= len(block)  # this block is in neither file nor analysis
            self._fail("recording_error", f"writing the recording '{self.record_path}' failed "
                                          f"after {self.frames_recorded / self.sample_rate_hz:.2f}"
                                          f" s ({_write_cause(self.record_path, exc)}); the "
                                          f"audio analysed ends there and the part on disk is "
                                          f"kept: free some space or record elsewhere")
            try:
                rec.close()
            except Exception:  # noqa: BLE001
                pass
            return None
        return rec

    def _frames_on_disk(self):
        """Frames the recording holds as ``analyze`` reads it back, up to its last frame
        that decodes (a FLAC whose writing stopped ends in a part-written frame); None
        where it cannot be read."""
        from ..core.io import iter_blocks

        try:
            return sum(getattr(block, "n_samples", None) or len(block)
                       for block in iter_blocks(str(self.record_path), 1 << 16))
        except Exception:  # noqa: BLE001 - a recording cut short by a full disk
            return None

    def _worker_loop(self):
        """Analyse the forwarded blocks and gaps (:func:`~dopplerflow.core.feed`).

        After a failure of the analysis the rest of the stream is taken off the
        queue unanalysed, so the recorder never waits for the worker.
        """
        try:
            feed(self.processor, self._forwarded(), on_item=self._analysed)
        except Exception as exc:  # noqa: BLE001 - keep recording whatever happens here
            self._fail("analysis_error", f"analysis failed at "
                                         f"{self.processor.time_s:.2f} s ({exc}); the recording "
                                         f"goes on to the end")
            while self._work.get() is not None:
                pass

    def _forwarded(self):
        """Yield what the recorder forwards (blocks and gaps) until its end mark.

        Notes, before each item is analysed, how far the analysis lags behind the
        recording (``max_lag_s``).
        """
        while (item := self._work.get()) is not None:
            self.max_lag_s = max(self.max_lag_s, (self.frames_recorded - self.frames_analysed)
                                 / self.sample_rate_hz)
            yield item

    def _analysed(self, item, frames):
        """After each item: count it, follow the level, feed ``on_block``, refresh the status."""
        self.frames_analysed += frames
        if not isinstance(item, Gap):
            if frames:
                self._peak = max(self._peak, float(np.abs(item).max()))
            if self.on_block is not None:
                self.on_block(item)
        now = time.monotonic()
        if now - self._last_status >= STATUS_INTERVAL_S or self._work.empty():
            self._last_status = now
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


def _write_cause(path, exc):
    """Why writing the recording at ``path`` failed: the disk being full where it is
    (libsndfile says only "System error."), else the error's own words."""
    import shutil

    try:
        if shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free < 1 << 20:
            return "no space left on the disk"
    except OSError:
        pass
    return str(exc) or type(exc).__name__


def _default_channels(settings):
    if settings.channels:
        return max(settings.channels)
    return 1 if settings.layout in ("mono", "offset") else 2


def _exists_message(path):
    """The one line that refuses a recording at ``path``, where a file already is."""
    return (f"recording '{path}' exists; a recording is never overwritten: give a new file "
            f"name")


def _to_24_bits(block):
    """``block`` as a 24-bit recording holds it.

    Parameters
    ----------
    block : numpy.ndarray, shape (frames, channels), float32

    Returns
    -------
    samples : numpy.ndarray, shape (frames, channels), int32
        The 24-bit samples in the top three bytes (what libsndfile writes as they are).
    block : numpy.ndarray, shape (frames, channels), float32
        The same samples over full scale: what the file gives back when read.
    clipped : int
        Samples beyond full scale (magnitude over 1.0, or not finite), clipped there
        (NaN becomes 0).
    """
    q = np.rint(block * np.float32(FULL_SCALE_24))
    beyond = ~(np.abs(block) <= 1.0)  # NaN counts too
    clipped = int(np.count_nonzero(beyond))
    if clipped:
        q = np.nan_to_num(q, nan=0.0)
    np.clip(q, -FULL_SCALE_24, FULL_SCALE_24 - 1, out=q)
    return ((q.astype(np.int32) << 8), (q / np.float32(FULL_SCALE_24)).astype(np.float32),
            clipped)


#: libsndfile's command that writes a file's header with the sizes written so far.
_SFC_UPDATE_HEADER_NOW = 0x1060
#: libsndfile's command that makes an RF64 file a plain WAV when it closes under 4 GiB.
_SFC_RF64_AUTO_DOWNGRADE = 0x1210


def _flush_recording(rec):
    """Write the recording's samples through to the disk, and a WAV's header with the
    sizes written so far: a recording cut off (the process killed, the power lost) keeps
    all but its last :data:`FLUSH_INTERVAL_S` in any program that reads WAV, and all of it
    in dopplerflow.  (libsndfile writes the sizes only as it closes a WAV, and the header
    it leaves until then states no audio: most programs read none.)"""
    if rec.format == "RF64":
        _sf_command(rec, _SFC_UPDATE_HEADER_NOW, 0)
    rec.flush()


def _sf_command(rec, command, value):
    """libsndfile's ``sf_command(command)`` with the integer ``value`` on the open
    recording ``rec``, through soundfile's binding; nothing with another soundfile (without
    that binding): the header is then written only as the file closes, and a ``.wav``
    stays RF64."""
    import soundfile

    try:
        soundfile._snd.sf_command(rec._file, command, soundfile._ffi.NULL, value)
    except AttributeError:
        pass


def _open_recording(path, sample_rate_hz, channels):
    """Create the recording at ``path``, a new file: a file there is never overwritten."""
    import soundfile

    from ..errors import AudioFileError

    fmt, subtype = RECORD_FORMATS[path.suffix.lower()]
    try:
        # made here first, exclusively: a file that appeared since the check stays as it is
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except FileExistsError:
        raise SettingsError(_exists_message(path)) from None
    except OSError as exc:
        raise AudioFileError(f"cannot create the recording '{path}' ({exc.strerror or exc}); "
                             f"choose a writable .flac or .wav path") from None
    try:
        rec = soundfile.SoundFile(str(path), "w", samplerate=int(round(sample_rate_hz)),
                                  channels=channels, format=fmt, subtype=subtype)
        if fmt == "RF64":
            _sf_command(rec, _SFC_RF64_AUTO_DOWNGRADE, 1)
        return rec
    except (soundfile.LibsndfileError, OSError) as exc:
        with contextlib.suppress(OSError):
            os.unlink(path)  # the empty file made above
        raise AudioFileError(f"cannot create the recording '{path}' ({exc}); choose a "
                             f"writable .flac or .wav path") from None

