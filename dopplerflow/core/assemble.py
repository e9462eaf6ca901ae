"""The final :class:`~dopplerflow.core.result.Analysis` of a finished stream.

:func:`assemble` reads the stages of a finished
:class:`~dopplerflow.core.processor.Processor` and decides the verdicts: the
antegrade direction, whether flow was detected, whether reflux is assessable and
which retrograde episodes are reflux events, the summary and the warnings.
"""

import math

import numpy as np

from .processor import DIRECTIONS
from .reflux import split_episodes
from .result import Analysis
from .rows import empty_trace, final_trace

__all__ = ["assemble", "MIN_FLOW_S"]

#: Least total duration of flow (in runs of at least ``processor.MIN_RUN_S``) for a
#: recording to count as having detectable flow.
MIN_FLOW_S = 0.25


def assemble(proc, extra):
    """The :class:`Analysis` of the finished processor ``proc``; ``extra`` entries go
    into the JSON as they are."""
    s = proc.settings
    cfg = proc.config
    direction = proc.cmap.direction_available
    if not direction:
        ante, source = 0, "unknown"
    elif s.antegrade == "auto":
        ante, source = proc.antegrade(), "auto"
    else:
        ante, source = DIRECTIONS.index(s.antegrade), "given"
    trace = empty_trace() if proc.stored is None else final_trace(
        proc.stored, ante, proc.scale, direction, proc.timeline.unanalysed, cfg.hop_s, cfg.t0_s)
    flow_detected = proc.totals.flow_s(cfg.hop_s) >= MIN_FLOW_S
    hum_warning = proc.hum_probe.warning() if proc.hum_probe is not None else None
    warnings = list(proc.warnings) + proc.levels.warnings(hum_warning) + proc.noise.warnings()
    extra.setdefault("tonal_lines_hz", [round(f, 1) for f in proc.noise.tonal_lines_hz()])
    extra.setdefault("impulses", proc.noise.impulses.count)
    if proc.hum is not None:
        extra.setdefault("hum", _hum_entry(proc.hum))
    unassessable, events, episodes = _verdicts(proc, ante, flow_detected, warnings, extra)
    margin = cfg.n_window / proc.sample_rate_hz + proc.tracker.gap_s
    for ev in events + episodes:
        ev.affected_by_gap = proc.timeline.near_gap(ev.start_s, ev.end_s, margin)
    if unassessable is not None:
        reflux = None
    else:
        reflux = bool(events) if flow_detected else False
    if not flow_detected:
        warnings.append("no flow detected: only noise and wall clutter "
                        "(flow not Doppler-detectable)")
    gaps = proc.timeline.gaps
    if gaps:
        lost = sum(g1 - g0 for g0, g1 in gaps)
        warnings.append(f"{len(gaps)} gap(s) in the stream, {lost:.3f} s of audio lost; "
                        f"events overlapping them are marked affected_by_gap")
        extra.setdefault("gaps", [{"start_s": round(g0, 4), "end_s": round(g1, 4)}
                                  for g0, g1 in gaps])
    spec = proc.spectrogram.array() if proc.spectrogram is not None else None
    return Analysis(
        settings=s, sample_rate_hz=proc.sample_rate_hz, duration_s=proc.time_s,
        direction_available=direction, flow_detected=flow_detected,
        reflux=reflux, reflux_not_assessable=unassessable,
        antegrade=DIRECTIONS[ante] if direction else None,
        antegrade_source=source, reflux_events=events, episodes=episodes, trace=trace,
        warnings=warnings, summary=_summary(proc, ante, events),
        file=proc.file, n_channels=proc.n_channels, spectrogram=spec,
        freqs_hz=cfg.freqs_hz, velocity_floor_cm_s=cfg.floor_hz * proc.scale,
        signal_band_hz=proc.noise.band.band_hz(), extra=extra)


def _verdicts(proc, ante, flow_detected, warnings, extra):
    """Why reflux is not assessable (None: it is), the reflux events and the shorter
    retrograde episodes; adds the second vessel's warning and JSON entry."""
    s = proc.settings
    if not proc.cmap.direction_available:
        unassessable = "no direction in a mono recording"
        warnings.append("mono layout: flow direction cannot be told, so reflux is not "
                        "assessable (record I/Q or toward/away channels)")
    else:
        if proc.watch is not None:
            unassessable, note, second = proc.watch.note(s.threshold_s)
        elif proc.second is not None:
            unassessable, note, second = proc.second.note(s.vessel)
        else:
            unassessable, note, second = None, None, None
        if note:
            warnings.append(note)
        if second:
            extra.setdefault("second_vessel", second)
        if not flow_detected:
            unassessable = None
    if unassessable is not None or not flow_detected:
        return unassessable, [], []
    episodes = proc.tracker.episodes[1 - ante]
    if proc.second is not None:
        episodes = proc.second.standing(episodes, proc.timeline, proc.tracker.min_rows)
    events, episodes = split_episodes(episodes, s.threshold_s)
    return unassessable, events, episodes


def _hum_entry(hum):
    """The JSON's ``hum`` entry: what the canceller locked on to and what it removed."""
    level = hum.level
    return {"mains_hz": hum.mains_hz, "frequency_hz": round(hum.frequency_hz, 3),
            "level_dbfs": [round(20 * math.log10(v), 1) if v > 0 else None
                           for v in level.tolist()]}


def _summary(proc, ante, events):
    """The summary figures of the result."""
    cfg = proc.config
    noise_levels = proc.noise_record.levels()
    noise = float(np.median(noise_levels)) if len(noise_levels) else 0.0
    # mean power of a noise bin = sigma^2 * sum(w^2): sigma^2 is the noise power per sample
    wsum = float(np.sum(cfg.window.astype(float) ** 2))
    noise_dbfs = 10 * math.log10(noise / wsum) if noise > 0 else None
    tot = proc.totals
    peak = tot.peak_hz * np.float32(1.0)  # float32, as the trace's columns
    peak_ante = float(peak[ante] * proc.scale)
    peak_retro = float(peak[1 - ante] * proc.scale)
    return {
        "n_frames": tot.n,
        "hop_s": cfg.hop_s,
        "window_s": cfg.n_window / proc.sample_rate_hz,
        "bin_hz": round(cfg.bin_hz, 4),
        "velocity_resolution_cm_s": round(cfg.bin_hz * proc.scale, 4),
        "flow_fraction": round(tot.flow / tot.n if tot.n else 0.0, 4),
        "peak_antegrade_velocity_cm_s": round(peak_ante, 2),
        "peak_retrograde_velocity_cm_s": round(peak_retro, 2)
        if proc.cmap.direction_available else None,
        "longest_reflux_s": round(max((e.duration_s for e in events), default=0.0), 4),
        "noise_floor_dbfs": None if noise_dbfs is None else round(noise_dbfs, 1),
    }
