"""Replay harness: stream a recording through the live block path.

A producer thread reads the file in blocks and hands them over a queue, as
a sound-card callback would, optionally paced in real time, with timing
jitter and with blocks dropped on purpose; a consumer feeds the same
:class:`~dopplerflow.core.Processor` that ``analyze`` and ``live`` use, through
the same loop (:func:`dopplerflow.core.feed`).
With no faults injected the result equals ``analyze``'s exactly; dropped
blocks become gaps that are counted, reported and marked on the events
around them.
"""

import math
import numbers
import os
import queue
import threading
import time

import numpy as np

from ..errors import SettingsError

__all__ = ["replay"]

_END = object()
#: Largest timing jitter, ms: a sound card's blocks come a few ms early or late, and a
#: second of it is already a stalled stream.
MAX_JITTER_MS = 1000.0


def _producer(path, block_size, q, realtime, jitter_s, drop_every, rng, fs, stop, readers):
    """Read blocks and queue ``(block, dropped)``; pace them if asked.  The reader goes to
    ``readers``: its report says where a damaged file stopped."""
    from ..core import io
    from ..core.io import Gap

    t_start = time.perf_counter()
    sent = 0
    index = 0
    reader = io.iter_blocks(path, block_size)
    readers.append(reader)
    try:
        for block in reader:
            if isinstance(block, Gap):  # damage inside the file: its frames are a gap
                q.put(block)
                sent += block.n_samples
                continue
            index += 1
            if stop.is_set():
                break
            if realtime:
                due = t_start + (sent + len(block)) / fs
                if jitter_s:
                    due += rng.uniform(-jitter_s, jitter_s)
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            elif jitter_s:
                time.sleep(rng.uniform(0, jitter_s))
            dropped = bool(drop_every) and index % drop_every == 0
            q.put((None if dropped else block.copy(), len(block)))
            sent += len(block)
    except BaseException as e:  # noqa: BLE001 - handed to the consumer, re-raised there
        q.put(e)
    q.put(_END)


def _check_faults(jitter_ms, drop_every, seed):
    """Raise a one-line SettingsError for fault settings replay cannot use."""
    if (not isinstance(jitter_ms, numbers.Real) or isinstance(jitter_ms, bool)
            or not math.isfinite(jitter_ms) or not 0 <= jitter_ms <= MAX_JITTER_MS):
        raise SettingsError(f"--jitter-ms {jitter_ms!r} must be a finite number of milliseconds, "
                            f"0 to {MAX_JITTER_MS:g}")
    for name, value in (("--drop-every", drop_every), ("--seed", seed)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
            raise SettingsError(f"{name} {value!r} must be a whole number, 0 or more")


def replay(path, settings, *, block_size=4096, realtime=False, jitter_ms=0.0, drop_every=0,
           seed=0, on_event=None, keep_spectrogram=False, keep_trace=True):
    """Stream ``path`` block by block through a :class:`Processor`.

    Parameters
    ----------
    path : str or os.PathLike
        Recording to replay.
    settings : Settings
    block_size : int
        Frames per block, as a sound card would deliver them.
    realtime : bool
        Pace the blocks at the recording's sample rate.
    jitter_ms : float
        Random delay (uniform, +-) added to each block's delivery, ms, 0 to
        :data:`MAX_JITTER_MS`.
    drop_every : int
        Drop every ``drop_every``-th block (0: none).  Dropped blocks become
        gaps.
    seed : int
        Seed of the jitter.
    on_event : callable, optional
        Passed to the Processor (reflux confirmations as they happen).
    keep_spectrogram : bool or (float, float)
        Passed to the Processor (a pair: that span alone).
    keep_trace : bool
        Passed to the Processor.

    Returns
    -------
    Analysis
        Equal to ``analyze(path, settings=settings)`` when nothing is dropped;
        otherwise with ``dropped_blocks``, ``dropped_samples`` and ``gaps``.
    """
    from ..core import Gap, Processor, feed, io
    from ..core.driver import auto_layout, check_block_size, require_one_window, take_encoding

    check_block_size(block_size)
    _check_faults(jitter_ms, drop_every, seed)
    info = io.open_audio(path)
    name = os.fsdecode(path)
    require_one_window(info.frames, info.samplerate, settings, name)
    # layout 'auto': chosen from the file's first seconds before the replay starts
    settings, layout = auto_layout(settings, info.samplerate, info.channels,
                                   lambda: io.iter_blocks(path, block_size))
    proc = Processor(settings, info.samplerate, info.channels, on_event=on_event,
                     keep_spectrogram=keep_spectrogram, keep_trace=keep_trace, file=name,
                     **layout)
    take_encoding(proc, info)
    q = queue.Queue(maxsize=64)
    stop = threading.Event()
    rng = np.random.default_rng(seed)
    readers = []
    th = threading.Thread(target=_producer, daemon=True, args=(
        path, block_size, q, realtime, jitter_ms / 1e3, drop_every, rng, info.samplerate, stop,
        readers))
    th.start()
    dropped = []  # the sizes of the blocks dropped

    def received():
        while (item := q.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, Gap):
                yield item
                continue
            block, n = item
            if block is None:
                dropped.append(n)
                yield Gap(n)
            else:
                yield block

    try:
        feed(proc, received())
    finally:
        stop.set()
        while th.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                th.join(0.05)
    extra = {}
    if dropped:
        extra = {"dropped_blocks": len(dropped), "dropped_samples": sum(dropped)}
    if readers:
        proc.cut_short(readers[0].report)
    return proc.finish(**extra)
