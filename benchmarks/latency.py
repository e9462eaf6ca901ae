"""Streaming latency: from the sample where a reflux passes its threshold to its confirmation.

A synthetic I/Q stream (48 kHz by default) holds antegrade flow (a +700 Hz
tone, toward the probe), then a reflux (-700 Hz) longer than the ``ijv``
threshold, then antegrade flow again, with weak complex noise.  It is fed
block by block through the same :class:`dopplerflow.Processor` that
``dopplerflow live`` uses, timing every ``push``.

Definitions (all times in ms)
-----------------------------
``t_cross``
    Stream time of the sample at which the reflux's duration crosses the
    threshold: the true sign flip plus the threshold (0.88 s for ``ijv``).
``k``
    The block during whose ``push`` the ``reflux_confirmed`` callback fired;
    it ends at stream time ``t_end = (k + 1) * block_size / fs``.
``audio_wait_ms = t_end - t_cross``
    How long after the crossing sample the audio that decided it was
    complete.  On a sound card a block is handed over when its last sample
    has been captured, so this is the buffering of the block plus the
    analysis's own look-ahead: half a window past the centre of the frame
    that passes the threshold, which lies up to a hop after the crossing
    (the hop grid).  The frame is judged from the time average of the
    frames it has, so the 3-frame average adds no hop.  Always >= 0:
    nothing is confirmed before the samples that prove it.
``processing_ms``
    Wall time from handing block ``k`` to ``push`` to the callback.
``latency_ms = audio_wait_ms + processing_ms``
    Crossing sample to confirmation in a real-time stream, assuming the
    block is handed over the moment it is complete (the queue between the
    PortAudio callback and the worker adds microseconds) and no backlog
    (checked: ``p99_block_ms`` is below the block's duration).
``decision_ms = time_s - t_cross``
    The stream time the processor reports for the decision, minus
    ``t_cross``: the algorithm's own delay, independent of blocks and CPU.

Each figure is the mean over onsets spread evenly over one hop (where an
onset falls on the frame grid moves everything by up to a hop); the worst
phase is reported too.

``p50_block_ms`` / ``p99_block_ms`` are the median and 99th percentile of
the wall time of one ``push`` over the whole stream (the first block, which
may still hit a cold cache, included).
"""

import time

import numpy as np

__all__ = ["measure_latency", "tone_stream"]

BLOCK_SIZES = (64, 128, 256, 1024, 4096)


def tone_stream(sample_rate_hz, segments, seed=0, noise=0.005):
    """I/Q tone stream, phase-continuous across segments.

    Parameters
    ----------
    sample_rate_hz : float
    segments : sequence of (duration_s, frequency_hz)
        Positive frequency = toward the probe.
    seed : int
    noise : float
        Standard deviation of each noise component (the tone's amplitude is 0.5).

    Returns
    -------
    ndarray, shape (frames, 2), float32
        Columns I, Q (layout ``iq``).
    """
    freq = np.concatenate([np.full(int(round(d * sample_rate_hz)), f) for d, f in segments])
    phase = 2 * np.pi * np.cumsum(freq) / sample_rate_hz
    rng = np.random.default_rng(seed)
    z = 0.5 * np.exp(1j * phase) + noise * (rng.standard_normal(len(freq))
                                            + 1j * rng.standard_normal(len(freq)))
    return np.stack((z.real, z.imag), axis=1).astype(np.float32)


def measure_latency(block_size=128, sample_rate_hz=48000, vessel="ijv", flip_s=1.0,
                    reflux_s=2.0, phases=8, average_frames=3):
    """Time reflux confirmation and per-block processing for one block size.

    The reflux starts at ``phases`` different offsets within one hop (the
    onset's position on the frame grid moves the decision by up to a hop),
    one stream each.

    Parameters
    ----------
    block_size : int
        Frames per pushed block.
    sample_rate_hz : float
    vessel : str
        Vessel preset; sets the threshold.
    flip_s : float
        Antegrade flow before the reflux starts (first phase), s.
    reflux_s : float
        Length of the reflux, s (longer than the threshold).
    phases : int
        Streams run, with the onset moved by ``hop / phases`` each time.
    average_frames : int
        The analysis setting (3, the default, or 1).

    Returns
    -------
    dict
        ``block_size``, ``block_ms``, ``hop_ms``, ``threshold_s``, ``phases``;
        ``audio_wait_ms``, ``processing_ms``, ``latency_ms``, ``decision_ms``
        (means over the phases) and ``latency_max_ms``, ``decision_max_ms``
        (the worst phase); ``p50_block_ms``, ``p99_block_ms`` (pooled push
        times) and ``realtime_factor`` (audio time / processing time).
    """
    from dopplerflow import Processor, Settings

    settings = Settings(vessel=vessel, antegrade="toward", average_frames=average_frames)
    fs = float(sample_rate_hz)
    thr = settings.threshold_s
    hop_s = settings.hop_s
    Processor(settings, fs, 2).push(tone_stream(fs, ((0.2, 700.0),)))  # compile before timing
    rows, block_times = [], []
    audio_s = 0.0
    for j in range(phases):
        flip = flip_s + j * hop_s / phases
        x = tone_stream(fs, ((flip, 700.0), (reflux_s, -700.0), (1.0, 700.0)), seed=j)
        t_cross = round(flip * fs) / fs + thr
        fired = []
        proc = Processor(settings, fs, 2,
                         on_event=lambda ev, fired=fired: fired.append((time.perf_counter(), ev)))
        k_fire = t_hand = None
        for k, i in enumerate(range(0, len(x), block_size)):
            t0 = time.perf_counter()
            proc.push(x[i:i + block_size], rows=False)
            block_times.append(time.perf_counter() - t0)
            if k_fire is None and any(ev["type"] == "reflux_confirmed" for _, ev in fired):
                k_fire, t_hand = k, t0
        proc.finish()
        audio_s += len(x) / fs
        t_conf, ev = next((t, e) for t, e in fired if e["type"] == "reflux_confirmed")
        t_end = min((k_fire + 1) * block_size, len(x)) / fs
        audio_wait = t_end - t_cross
        processing = t_conf - t_hand
        rows.append((audio_wait, processing, audio_wait + processing, ev["time_s"] - t_cross))
    rows = np.array(rows) * 1e3
    mean = rows.mean(axis=0)
    bt = np.array(block_times) * 1e3
    return {
        "block_size": int(block_size),
        "average_frames": int(average_frames),
        "block_ms": 1e3 * block_size / fs,
        "hop_ms": 1e3 * hop_s,
        "threshold_s": thr,
        "phases": int(phases),
        "audio_wait_ms": float(mean[0]),
        "processing_ms": float(mean[1]),
        "latency_ms": float(mean[2]),
        "decision_ms": float(mean[3]),
        "latency_max_ms": float(rows[:, 2].max()),
        "decision_max_ms": float(rows[:, 3].max()),
        "p50_block_ms": float(np.percentile(bt, 50)),
        "p99_block_ms": float(np.percentile(bt, 99)),
        "realtime_factor": float(audio_s / (bt.sum() / 1e3)),
    }


def main(block_sizes=BLOCK_SIZES, sample_rate_hz=48000):
    """Print the latency table for several block sizes; return the rows."""
    rows = [measure_latency(b, sample_rate_hz, average_frames=n)
            for n in (3, 1) for b in block_sizes]
    print(f"reflux confirmation latency, {sample_rate_hz / 1e3:g} kHz I/Q, ijv threshold "
          f"{rows[0]['threshold_s']:g} s, hop {rows[0]['hop_ms']:g} ms, "
          f"{rows[0]['phases']} onset phases (mean, and max over phases)")
    head = ("avg frames", "block", "block ms", "decision ms", "decision max", "audio wait ms",
            "processing ms", "latency ms", "latency max", "p50 block ms", "p99 block ms",
            "x realtime")
    print("  ".join(f"{h:>13}" for h in head))
    for r in rows:
        vals = (r["average_frames"], r["block_size"], r["block_ms"], r["decision_ms"],
                r["decision_max_ms"], r["audio_wait_ms"], r["processing_ms"], r["latency_ms"],
                r["latency_max_ms"], r["p50_block_ms"], r["p99_block_ms"], r["realtime_factor"])
        print("  ".join(f"{v:>13d}" if isinstance(v, int) else f"{v:>13.2f}" for v in vals))
    return rows


if __name__ == "__main__":
    main()
