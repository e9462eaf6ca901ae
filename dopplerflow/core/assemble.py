"""The final :class:`~dopplerflow.core.result.Analysis` of a finished stream.

:func:`assemble` reads the stages of a finished
:class:`~dopplerflow.core.processor.Processor` and decides the verdicts: the
antegrade direction, whether flow was detected, whether reflux is assessable and
which retrograde episodes are reflux events, the beats read for the antegrade
direction decided (:func:`~dopplerflow.core.beats.beat_result`), the summary and the
warnings, among them a layout that does not fit the channels
(:mod:`~dopplerflow.core.layout_check`) and an antegrade direction given that carries
clearly less flow than the other.
"""

import math

import numpy as np

from . import verdict
from .beats import beat_result
from .dropouts import DROPOUT_S
from .events import split_episodes
from .io import FIXED_ROUNDING
from .noise import SILENT_SHARE
from .processor import DIRECTIONS
from .result import Analysis, Summary
from .rows import empty_trace, final_trace
from .tones import LINE_REACH

__all__ = ["assemble", "MIN_FLOW_S", "WRONG_WAY_RATIO", "AUTO_MARGIN", "ONE_WAY_SHARE",
           "CODED_ECHO_DB"]

#: Least total duration of flow (in runs of at least ``processor.MIN_RUN_S``) for a
#: recording to count as having detectable flow.
MIN_FLOW_S = 0.25
#: The clean beats' PSV within this many bins of the band's top reaches it: the analysis
#: window spreads a spectrum cut at the top over two bins either side, and the envelope
#: ends on that slope, a bin or two under the top; one bin more for the speckle.
PEAK_AT_TOP_BINS = 3
#: With ``--antegrade`` given: the other direction's time-integrated flow (the
#: integral of the maximum envelope, what ``antegrade='auto'`` chooses by), as a
#: multiple of the given direction's, from which the direction given is called into
#: question.  A provoked reflux sends back about the blood the manoeuvre pushed
#: forward, and the vein flows antegrade the rest of the time: the simulator's
#: reflux-heavy scenarios reach 2.1 (at 3 dB SNR, where the slow antegrade flow sinks
#: under the noise); the competent femoral sample read the wrong way round gives 26.
WRONG_WAY_RATIO = 4.0
#: ``--antegrade auto`` takes the direction of more time-integrated flow; where it carries
#: less than this many times the other's, the choice is said to be uncertain
#: (:func:`_uncertain_auto_warning`): a vein's reflux can carry as much as its forward
#: flow.  On the simulator's scenarios, competent veins give 18-57, arteries 8 and over;
#: veins with reflux 1.1-2.5, and at 4 dB two of them (1.3 and 1.6) choose the wrong way.
AUTO_MARGIN = 3.0
#: ``--antegrade auto`` with the other direction's time-integrated flow under this share of
#: the direction taken: the choice rests on flow one way alone, which a vein's forward flow
#: and a reflux cut out on its own give alike (:func:`_one_way_auto_warning`).  The
#: simulator's competent veins carry 1.7-5.5 % the other way (valve-closure reversals,
#: a-waves); a clip of a perforator's reflux alone, none.
ONE_WAY_SHARE = 0.01
#: A lossy-coded file, or one of coarse samples, whose stationary echoes stand this far
#: over the noise floor, dB, has no reflux verdict (:func:`_coded_echoes`): the
#: simulator's raw probe audio (echoes 45-50 dB over the blood) stands 40-50 dB over it
#: coded lossily, 37-44 dB as 8-bit, mu-law or A-law samples; a device's audio output (20
#: dB over the blood) 17-21 dB coded lossily, 18-25 dB as 8 bits; echoes 35 dB over the
#: blood 26-31 dB; real device recordings have next to no mean at all.
CODED_ECHO_DB = 30.0
#: A lossy-coded file whose maximum envelope stands within :data:`CODED_TOP_BINS` bins of
#: the band's top in this share of the rows, in a direction, reads the codec's noise as
#: flow there (:func:`_coded_tops`).  Lossless recordings reach it in at most 1.7 % of
#: their rows (precordial_08's bursts; the fetal Interference recording, 11.6 %, is not
#: coded); simulated veins and arteries coded as MP3 whose trace follows their WAV's in
#: under 1 %; those whose codec noise reads as flow up to its cut-off in 5.7-26 %.
CODED_TOP_SHARE = 0.03
CODED_TOP_BINS = 2


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
    analysed = _rows_analysed(proc)
    analysed_s = analysed * cfg.hop_s
    flow_detected = proc.totals.flow_s(cfg.hop_s) >= MIN_FLOW_S if analysed else None
    # no flow in a recording mostly near digital silence says nothing of the vessel: the
    # probe was not on it, or the gain far too low (the noise stage's warning says which)
    silent = flow_detected is False and proc.noise.silent_fraction() >= SILENT_SHARE
    # nor does it in a span too short to judge: shorter than MIN_FLOW_S, which no flow can
    # fill, or with flow in most of it (only the span's length kept it under MIN_FLOW_S)
    short = (flow_detected is False and not silent
             and (analysed_s < MIN_FLOW_S or 2 * proc.totals.flow >= analysed))
    # nor does any flow read in a recording mostly saturated: what a channel pinned to full
    # scale cut off is not in it
    saturated = _saturated_share(proc)
    if silent or short or saturated >= SILENT_SHARE:
        flow_detected = None
    if not flow_detected and source == "auto":
        source = "unknown"  # no flow to choose the direction from
    hum_warning = proc.hum_probe.warning() if proc.hum_probe is not None else None
    full_scale = proc.glitches.gain in (None, 1.0)
    warnings = list(proc.warnings)
    layout_check = _layout_entry(proc, warnings)
    if flow_detected and source == "given":
        warnings += _wrong_way_warning(proc, ante)
    if flow_detected and source == "auto":
        warnings += _uncertain_auto_warning(proc, ante)
    warnings += proc.levels.warnings(hum_warning, full_scale, proc.glitches.damaged_beyond)
    warnings += _glitch_warnings(proc) + proc.noise.warnings()
    warnings += _dropout_warnings(proc)
    artefacts = _artefact_entries(proc)
    hum = _hum_entry(proc.hum) if proc.hum is not None else None
    unassessable, events, episodes, second = _verdicts(proc, ante, bool(flow_detected), warnings)
    spans = proc.timeline.gaps + [(a["start_s"], a["end_s"]) for a in artefacts or ()]
    for ev in events + episodes:
        ev.affected_by_gap = any(_near(proc, ev, span) for span in spans)
    if not analysed:
        unassessable = "nothing was analysed"
        warnings.append(_nothing_analysed(proc))
    elif silent:
        unassessable = "the recording is near digital silence"
    elif saturated >= SILENT_SHARE:
        unassessable = (f"the recording is saturated: a channel at full scale in "
                        f"{100 * saturated:.0f}% of it")
    elif short:
        unassessable = _too_short_for_flow(proc.totals.flow * cfg.hop_s, analysed_s, warnings)
    elif unassessable is None and not events and s.threshold_s and analysed_s < s.threshold_s:
        unassessable = _shorter_than_threshold(analysed_s, s.threshold_s, warnings)
    elif unassessable is None and flow_detected and not events and s.threshold_s:
        unassessable = _open_episode(proc, episodes, warnings)
    if analysed:
        _cut_by_end(proc, events, warnings)
    seen = flow_detected  # as the envelopes found it, before a codec's noise is ruled out
    coded = proc.codec is not None or proc.coarse in FIXED_ROUNDING
    if unassessable is None and coded and proc.cmap.direction_available:
        unassessable = _coded_echoes(proc, warnings)
        if unassessable is not None:
            # the coding's noise around the echoes reads as flow (14 of 18 MP3 and Vorbis
            # copies of the simulator's no_flow, and the mu-law and A-law ones, read "flow
            # detected") and it hides the faint flow under it: neither flow nor its absence
            # can be told
            flow_detected = None
    coded_tops = _coded_tops(proc) if proc.codec is not None and seen else {}
    voided = False
    if coded_tops:
        # (the codec's noise is why, whatever else its flow seemed to say: two vessels, a
        # direction)
        unassessable = _coded_tops_warning(proc, coded_tops, ante, warnings)
        if not direction or ante in coded_tops:
            # the vessel's own direction is the codec's noise: neither flow nor beats
            flow_detected, voided = None, True
            if source == "auto":
                source = "unknown"  # chosen by the codec's noise
    if unassessable is not None:
        reflux = None
    else:
        reflux = bool(events) if flow_detected else False
    if reflux is False and flow_detected and source == "auto" and s.threshold_s:
        warnings += _one_way_auto_warning(proc, ante)
    if flow_detected is False:
        warnings.append("no flow detected: only noise and wall clutter "
                        "(flow not Doppler-detectable)")
    gaps = proc.timeline.gaps
    if gaps:
        lost = sum(g1 - g0 for g0, g1 in gaps)
        warnings.append(f"{len(gaps)} gap(s) in the stream, {lost:.3f} s of audio lost; "
                        f"events overlapping them are marked affected_by_gap")
    gap_list = [{"start_s": round(g0, 4), "end_s": round(g1, 4)} for g0, g1 in gaps] or None
    kept = proc.spectrogram
    spec = kept.array() if kept is not None else None
    # a beat over a reflux is no clean beat: its end-diastole is the reflux's velocity
    reflux_rows = [[math.floor((e.start_s - cfg.t0_s) / cfg.hop_s),
                    math.ceil((e.end_s - cfg.t0_s) / cfg.hop_s)] for e in events]
    beats = None if voided else beat_result(proc.beats, ante, proc.scale,
                                            list(proc.timeline.unanalysed) + reflux_rows,
                                            s.vessel, proc.noise.tonal_lines_hz(),
                                            cfg.bin_hz, proc.timeline.unanalysed
                                            + proc.noise.quiet_rows())
    warnings += _cut_peak_warning(proc, beats)
    return Analysis(
        settings=s, sample_rate_hz=proc.sample_rate_hz, duration_s=proc.time_s,
        direction_available=direction, flow_detected=flow_detected,
        reflux=reflux, reflux_not_assessable=unassessable,
        antegrade=DIRECTIONS[ante] if direction and source != "unknown" else None,
        antegrade_source=source, reflux_events=events, episodes=episodes, trace=trace,
        warnings=warnings, summary=_summary(proc, ante, events, coded_tops, reflux is not None),
        file=proc.file, n_channels=proc.n_channels, spectrogram=spec,
        spectrogram_step=kept.step if kept is not None else 1,
        spectrogram_time_s=kept.times_s(cfg.t0_s, cfg.hop_s) if kept is not None else None,
        freqs_hz=cfg.freqs_hz, velocity_floor_cm_s=cfg.floor_hz * proc.scale, extra=extra,
        hum=hum, second_vessel=second, gaps=gap_list, artefacts=artefacts, beats=beats,
        signal_band_hz=proc.noise.band.band_hz(),
        tonal_lines_hz=[round(f, 1) for f in proc.noise.tonal_lines_hz()],
        impulses=proc.noise.impulses.count, layout_check=layout_check, cut=proc.cut,
        trace_kept=proc.stored is not None)


def _layout_entry(proc, warnings):
    """The JSON's ``layout_check`` (None: no two channels were checked and the layout
    was given); adds the warning of a layout that does not fit the channels."""
    s = proc.settings
    verdict = proc.layout_result()
    chosen = proc.layout_chosen
    if verdict is None and chosen is None:
        return None
    entry = {}
    if verdict is not None:
        entry = verdict.to_dict()
        entry["finding"] = verdict.finding()
        entry["fits"] = verdict.fits(s.layout, s.channels)
        if not entry["fits"]:
            warnings.append(verdict.warning(s.layout, s.channels))
        gains = verdict.gain_warning(s.layout)
        if gains is not None:
            warnings.append(gains)
    entry["layout_asked"] = "auto" if chosen else s.layout
    entry["chosen_by"] = chosen
    return entry


def _wrong_way_warning(proc, ante):
    """The warning, in a list, when the antegrade direction given carries clearly less
    time-integrated flow than the other (an empty list: it does not)."""
    given, other = proc.integral[ante], proc.integral[1 - ante]
    if not other > WRONG_WAY_RATIO * given:
        return []
    words = verdict.PROBE_WORDS
    named, opposite = DIRECTIONS[ante], DIRECTIONS[1 - ante]
    share = f"{100 * other / (given + other):.0f}% of the time-integrated velocity"
    ratio = other / given if given > 0 else math.inf
    times = f"{ratio:.0f} times" if ratio < 100 else "over 100 times"
    how_much = (f"the flow {words[opposite]} is {times} the flow {words[named]} ({share})"
                if given > 0 else f"all the time-integrated velocity is {words[opposite]}")
    return [f"--antegrade {named}, but {how_much}: the direction given may be the wrong way "
            f"round, which counts the vessel's normal flow as reflux; check the probe's "
            f"orientation, or use --antegrade {opposite} (or auto)"]


def _uncertain_auto_warning(proc, ante):
    """The warning, in a list, when ``--antegrade auto`` chose direction ``ante`` by a
    margin under :data:`AUTO_MARGIN` (an empty list: a clear choice)."""
    chosen, other = proc.integral[ante], proc.integral[1 - ante]
    if not chosen < AUTO_MARGIN * other:
        return []
    words = verdict.PROBE_WORDS
    named, opposite = DIRECTIONS[ante], DIRECTIONS[1 - ante]
    return [f"antegrade chosen {named} by a small margin (auto): the flow {words[named]} is "
            f"{chosen / other:.1f} times the flow {words[opposite]} (time-integrated); where a "
            f"reflux carries nearly as much as the vein's forward flow the choice can be the "
            f"wrong way round, which swaps reflux and forward flow: give --antegrade toward "
            f"or away if the vein's normal direction is known"]


def _one_way_auto_warning(proc, ante):
    """The warning, in a list, when ``--antegrade auto`` took as forward flow a direction
    that carried next to all the flow (the other's under :data:`ONE_WAY_SHARE` of it) and
    the reflux verdict, "no", would be "yes" the other way round: a reflux recorded alone
    reads as a vein's forward flow (an empty list: it would not, or flow ran both ways)."""
    chosen, other = proc.integral[ante], proc.integral[1 - ante]
    if not other < ONE_WAY_SHARE * chosen:
        return []
    threshold_s = proc.settings.threshold_s
    swapped, _ = split_episodes(proc.tracker.episodes[ante], threshold_s)
    if not swapped:
        return []
    words = verdict.PROBE_WORDS
    named, opposite = DIRECTIONS[ante], DIRECTIONS[1 - ante]
    longest = max(swapped, key=lambda e: e.duration_s)
    runs = (f"its run from {longest.start_s:.2f} s, {longest.duration_s:.2f} s long, is"
            if len(swapped) == 1 else
            f"{len(swapped)} runs of it (the longest {longest.duration_s:.2f} s, from "
            f"{longest.start_s:.2f} s) are")
    flow = (f"all the flow ran {words[named]}" if other == 0 else
            f"next to all the flow ran {words[named]} (the flow {words[opposite]}: "
            f"{100 * other / chosen:.1f}% of it, time-integrated)")
    return [f"{flow}, and --antegrade auto took it as the vein's forward flow: read the other "
            f"way round, {runs} over the {threshold_s:g} s reflux threshold; if this "
            f"recording may hold a reflux alone (a clip cut from one, or a vein whose flow "
            f"runs backwards throughout), give --antegrade {opposite}"]


def _rows_analysed(proc):
    """Rows of the stream that were analysed (not settling, not lost, not blanked)."""
    tl = proc.timeline
    return tl.rows - sum(min(b, tl.rows) - a for a, b in tl.unanalysed if a < tl.rows)


def _cut_peak_warning(proc, beats):
    """The warning, in a list, when the clean beats' PSV (their median) reaches the top of
    the recording's band: faster flow is cut off there (the sample rate, or a recorder's
    low-pass), and the PSV and the indices read low (an empty list: it does not)."""
    top_hz = proc.noise.band.top_hz()
    if top_hz is None or beats is None or not beats.summary.get("psv_cm_s"):
        return []
    cfg = proc.config
    top = (top_hz - PEAK_AT_TOP_BINS * cfg.bin_hz) * proc.scale
    if beats.summary["psv_cm_s"] < top:
        return []
    fastest = top_hz * proc.scale
    return [f"the systolic peaks reach the top of the recording's band ({top_hz / 1e3:.2f} kHz, "
            f"{fastest:.1f} cm/s at this geometry): faster flow is cut off there, so the PSV "
            f"and the indices read low; record at a higher sample rate (or with a probe of a "
            f"lower carrier frequency)"]


def _near(proc, ev, span):
    """Whether the event or episode ``ev`` lies within a window plus a bridged gap of the
    stretch ``span`` ((start, end) s: lost samples, an artefact)."""
    margin = proc.config.n_window / proc.sample_rate_hz + proc.tracker.gap_s
    return span[0] - margin < ev.end_s and span[1] + margin > ev.start_s


def _open_episode(proc, episodes, warnings):
    """Why reflux is not assessable when a retrograde episode under the threshold runs
    into the recording's first or last row analysed, into a quiet stretch
    (:attr:`.NoiseFloor.quiet`: the probe's contact lost) or into a dropout or a saturated
    stretch (:mod:`.dropouts`: samples lost or cut off), (None: none does); adds its
    warning.  The recording does not say how long it lasted: it may have been reflux."""
    tl = proc.timeline
    first = tl.unanalysed[0][1] if tl.unanalysed and tl.unanalysed[0][0] == 0 else 0
    last = _last_row_analysed(proc)
    thr = proc.settings.threshold_s
    quiet_hint = "keep the probe's contact through the manoeuvre"
    stretches = ([(a, b, "a quiet stretch", quiet_hint) for a, b in proc.noise.quiet_spans_s()]
                 + [(a, b, _LOST[kind][0], _LOST[kind][1])
                    for a, b, kind in _dropout_spans_s(proc)])
    for ep in episodes:
        if ep.start_s < tl.row_time_s(first):
            where, hint = "already running at the start of the recording", \
                "start recording before it"
        elif ep.end_s > tl.row_time_s(last):
            where, hint = "still running at the end of the recording", "record on past it"
        else:
            near = [q for q in stretches if _near(proc, ep, q[:2])]
            if not near:
                continue
            a, b, what, hint = min(near)
            where = f"running into {what} at {a:.2f}-{b:.2f} s"
        warnings.append(f"retrograde flow {where} ({ep.duration_s:.2f} s of it recorded, "
                        f"under the {thr:g} s threshold): it may have lasted longer, so reflux "
                        f"is not assessable; {hint} to time it")
        return f"retrograde flow {where}, {ep.duration_s:.2f} s of it recorded"
    return None


def _too_short_for_flow(flow_s, analysed_s, warnings):
    """Why flow and reflux are not assessable in a span analysed too short to judge flow
    (shorter than :data:`MIN_FLOW_S`, or with flow in most of it): its "no flow" would be
    no finding of the vessel (Zamboni's "flow not Doppler-detectable" least of all), as
    the flow in it could not reach the rule's duration; adds the warning."""
    warnings.append(f"only {analysed_s:.2f} s analysed: too short to judge flow, which needs "
                    f"{MIN_FLOW_S:g} s of it (flow in {flow_s:.2f} s), so flow and reflux are "
                    f"not assessable; record longer")
    return (f"the recording is too short to judge flow, with flow in {flow_s:.2f} s of the "
            f"{analysed_s:.2f} s analysed and {MIN_FLOW_S:g} s needed")


def _shorter_than_threshold(analysed_s, threshold_s, warnings):
    """Why reflux is not assessable in a span analysed shorter than the reflux threshold
    in force (and no reflux event found, as one across a gap can be): no retrograde flow
    in it can last long enough to count, so its "no reflux" would be no finding; adds the
    warning."""
    warnings.append(f"only {analysed_s:.2f} s analysed, shorter than the reflux threshold of "
                    f"{threshold_s:g} s: no retrograde flow in it could last long enough to "
                    f"count, so reflux is not assessable; record for longer than the threshold")
    return f"{analysed_s:.2f} s analysed, shorter than the reflux threshold of {threshold_s:g} s"


def _last_row_analysed(proc):
    """The stream's last row analysed (the rows the wall filter settles in after a gap
    at the end are not)."""
    tl = proc.timeline
    if tl.unanalysed and tl.unanalysed[-1][1] >= tl.rows:
        return tl.unanalysed[-1][0] - 1
    return tl.rows - 1


def _cut_by_end(proc, events, warnings):
    """Mark the reflux events still running at the last row analysed ``cut_by_end``, with
    a warning each: the recording ended before them, so they lasted at least as long as
    recorded."""
    end_s = proc.timeline.row_time_s(_last_row_analysed(proc))
    for ev in events:
        if ev.end_s > end_s:
            ev.cut_by_end = True
            warnings.append(f"reflux still running at the end of the recording: it lasted at "
                            f"least {ev.duration_s:.2f} s (from {ev.start_s:.2f} s); record on "
                            f"past it to time it")


def _nothing_analysed(proc):
    """Why no row was analysed."""
    settle_ms = 1e3 * proc.timeline.settle / proc.sample_rate_hz
    if proc.timeline.gaps or proc.glitches.artefacts or proc.noise.impulses.bursts:
        return ("nothing was analysed: every stretch of audio was lost, blanked, broadband "
                "noise or within "
                f"the {settle_ms:.0f} ms the wall filter settles after a gap, so flow and "
                "reflux are not assessable")
    return (f"nothing was analysed: {1e3 * proc.time_s:.0f} ms of audio is shorter than the "
            f"{settle_ms:.0f} ms the wall filter settles at the start plus one analysis "
            f"window, so flow and reflux are not assessable; record longer")


def _artefact_entries(proc):
    """The JSON's ``artefacts``: stretches blanked by the glitch stage, of broadband noise
    not read (:mod:`.impulses`), quiet stretches (:attr:`.NoiseFloor.quiet`), dropouts and
    saturated stretches (:mod:`.dropouts`), in time order (None: none)."""
    fs = proc.sample_rate_hz
    out = [(a / fs, b / fs, kind) for a, b, kind in proc.glitches.artefacts]
    out += [(a, b, "broadband") for a, b in proc.noise.impulses.burst_spans_s()]
    out += [(a, b, "quiet") for a, b in proc.noise.quiet_spans_s()]
    out += _dropout_spans_s(proc)
    return [{"start_s": round(a, 4), "end_s": round(b, 4), "kind": kind}
            for a, b, kind in sorted(out)] or None


#: Per kind of :func:`_dropout_spans_s`: what a retrograde episode runs into, and the hint.
_LOST = {"dropout": ("a dropout", "record it again without dropouts (a larger buffer, "
                                  "another USB port)"),
         "saturated": ("a saturated stretch", "lower the input gain")}


def _dropout_spans_s(proc):
    """Start and end, s, and kind of each stretch whose samples hold no signal
    (:mod:`.dropouts`): ``"dropout"`` (digital zeros on every channel after the recording
    began) and ``"saturated"`` (a channel held at full scale), in time order."""
    fs = proc.sample_rate_hz
    d = proc.dropouts
    return sorted([(a / fs, b / fs, "dropout") for a, b in d.zero_spans()]
                  + [(a / fs, b / fs, "saturated") for a, b in d.saturated_spans()])


def _saturated_share(proc):
    """The share of the recording's time in saturated stretches (:mod:`.dropouts`)."""
    total = sum(b - a for a, b in proc.dropouts.saturated_spans())
    return total / max(proc.time_s * proc.sample_rate_hz, 1.0)


def _dropout_warnings(proc):
    """The result's warnings about the dropouts and saturated stretches."""
    out = []
    spans = _dropout_spans_s(proc)
    for kind, what, why in (
            ("dropout", "dropout(s) of digital silence",
             "every channel exactly zero after the recording had begun (samples lost by the "
             "recorder or the sound card, or its output muted); the flow in them is not "
             "known"),
            ("saturated", "saturated stretch(es)",
             f"a channel held at full scale for {1e3 * DROPOUT_S:g} ms or more (the input gain "
             f"too high for the echoes): the flow in them is cut off; lower the input gain")):
        mine = [(a, b) for a, b, k in spans if k == kind]
        if mine:
            total = sum(b - a for a, b in mine)
            out.append(f"{len(mine)} {what} ({1e3 * total:.0f} ms in all, first at "
                       f"{mine[0][0]:.3f} s): {why}, and events near them are marked "
                       f"affected_by_gap")
    return out


def _glitch_warnings(proc):
    """What the glitch stage took out, and the gain it chose."""
    out = []
    g = proc.glitches
    if g.artefacts:
        n = sum(b - a for a, b, _ in g.artefacts)
        kinds = sorted({k for _, _, k in g.artefacts})
        what = " and ".join({"burst": "far beyond the recording's level",
                             "damaged": "damaged (far beyond the recording's level, NaN or "
                                        "infinite among them)",
                             "non-finite": "not finite (NaN or infinite)"}[k] for k in kinds)
        out.append(f"{len(g.artefacts)} glitch(es), {1e3 * n / proc.sample_rate_hz:.1f} ms of "
                   f"samples {what} (first at {g.artefacts[0][0] / proc.sample_rate_hz:.3f} s), "
                   f"were left out and bridged like lost samples; events near them are marked "
                   f"affected_by_gap")
    if g.gain is not None and g.gain != 1.0:
        out.append(f"the recording's values lie far outside the usual range (their median "
                   f"magnitude about 2^{g.median_log2} of full scale); it was analysed scaled "
                   f"by 2^{math.log2(g.gain):.0f}, which changes no result")
    return out


def _verdicts(proc, ante, flow_detected, warnings):
    """Why reflux is not assessable (None: it is), the reflux events, the shorter
    retrograde episodes and the second vessel found (None: none); adds the second
    vessel's warning."""
    s = proc.settings
    second = None
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
        if not flow_detected:
            unassessable = None
    if unassessable is not None or not flow_detected:
        return unassessable, [], [], second
    episodes = proc.tracker.episodes[1 - ante]
    if proc.second is not None:
        episodes = proc.second.standing(episodes, proc.timeline, proc.tracker.min_rows)
    events, episodes = split_episodes(episodes, s.threshold_s)
    return unassessable, events, episodes, second


def _hum_entry(hum):
    """The JSON's ``hum`` entry: what the canceller locked on to and what it removed."""
    level = hum.level
    return {"mains_hz": hum.mains_hz, "frequency_hz": round(hum.frequency_hz, 3),
            "level_dbfs": [round(20 * math.log10(v), 1) if v > 0 else None
                           for v in level.tolist()]}


def _noise_dbfs(proc):
    """The noise floor: the noise power a sample of the frames not near digital silence (a
    stretch of it has no noise to measure: its level is only the rounding of the frame),
    dBFS; None without such frames."""
    levels = proc.noise_record.levels()
    heard = levels[levels > 0]
    noise = float(np.median(heard)) if len(heard) else 0.0
    # mean power of a noise bin = sigma^2 * sum(w^2): sigma^2 is the noise power per sample
    wsum = float(np.sum(proc.config.window.astype(float) ** 2))
    gain = proc.glitches.gain or 1.0  # the noise floor was measured on the scaled samples
    return 10 * math.log10(noise / wsum) - 20 * math.log10(gain) if noise > 0 else None


def _coded_tops(proc):
    """The directions (0 toward, 1 away: their share of the rows) of a lossy-coded file
    whose maximum envelope stands within :data:`CODED_TOP_BINS` bins of the band's top in
    :data:`CODED_TOP_SHARE` or more of the rows.

    A codec codes the top of its band coarsest: at a low bitrate its noise there comes in
    clumps, switched on and off, that pass the detection's threshold in bin after bin, so
    the envelope climbs to the codec's cut-off, far over any blood (289 cm/s at 15 kHz, 8
    MHz and 60 degrees), frame after frame, in the flow's pauses too.  A mono file or a
    toward-away pair has no mirror to tell such clumps (:mod:`.noise`).
    """
    cfg = proc.config
    n = proc.totals.n
    widest = proc.noise.band.widest()
    out = {}
    for d in range(2):
        if n and cfg.dir_count[d] and widest[d] >= 0:
            share = proc.totals.rows_from(d, int(widest[d]) - CODED_TOP_BINS) / n
            if share >= CODED_TOP_SHARE:
                out[d] = share
    return out


def _coded_tops_warning(proc, coded_tops, ante, warnings):
    """Add the warning of :func:`_coded_tops` (``ante`` the antegrade direction); return
    the reason reflux (and, in the vessel's direction, flow) is not assessable."""
    top = proc.noise.band.top_hz()
    where, what = "", "flow, speeds and beats are"
    if proc.cmap.direction_available:
        where = " " + " and ".join(verdict.PROBE_WORDS[DIRECTIONS[d]]
                                   for d in sorted(coded_tops))
        what = ("flow, speeds, beats and reflux are" if ante in coded_tops else
                "the speeds that way and the reflux verdict are")
    share = max(coded_tops.values())
    warnings.append(
        f"the maximum velocity{where} stands at the band's top (the lossy codec's cut-off, "
        f"{top / 1e3:.2f} kHz = {top * proc.scale:.0f} cm/s) in {100 * share:.0f}% of the "
        f"frames: the codec's noise there reads as flow, so {what} not assessable; record "
        f"lossless audio (WAV, FLAC), or code at a higher bitrate")
    return "the lossy codec's noise reads as flow up to the band's top"


def _coded_echoes(proc, warnings):
    """Why reflux is not assessable in a lossy-coded file, or one of coarse samples
    (:data:`.io.FIXED_ROUNDING`), whose stationary echoes (the samples' mean, their power
    summed over the channels) stand :data:`CODED_ECHO_DB` or more over the noise floor,
    with the warning; None where they do not.

    The echoes of raw probe audio (before a device's own wall filter) stand 40-50 dB over
    the blood.  A codec codes each band some tens of dB under its strongest signal, and
    the echoes are the strongest: the codec's noise around them lies over the slow flow and
    reads as flow both ways.  Of 54 MP3 and Vorbis copies of three simulated veins with
    their echoes 45-50 dB over the blood (40-50 dB over this noise floor), 23 gave a reflux
    verdict other than their WAV's; with the echoes of a device's audio output, 20 dB over
    the blood (17-21 dB over the floor), none did.  Coarse samples round the echoes some
    40-50 dB under full scale (8 bits) or under the echoes (the companded mu-law and
    A-law): that rounding is then the noise floor, the blood lies under it, and the
    rounding of the echoes' slow motion reads as flow.  Of 81 such copies (8-bit, mu-law,
    A-law) of nine simulated veins at 8 kHz with raw echoes (37-44 dB over the floor), 30
    read "no reflux" where their 16-bit copy read a reflux, and the mu-law and A-law ones
    of no flow read flow; their 8-bit copies of a device's audio (18-25 dB) and their
    ADPCM copies (whose step follows the signal: the floor stays the recording's own,
    45-55 dB under the echoes) all read as the 16-bit one.
    """
    lv = proc.levels
    noise = _noise_dbfs(proc)
    if lv.n <= 0 or noise is None:
        return None
    dc = float(np.sum((lv.sums / lv.n) ** 2))
    over = 10 * math.log10(dc) - noise if dc > 0 else -math.inf
    if over < CODED_ECHO_DB:
        return None
    if proc.codec is not None:
        warnings.append(f"a lossy-coded file ({proc.codec}) whose stationary echoes stand "
                        f"{over:.0f} dB over the noise (raw probe audio): the codec's noise "
                        f"around them reads as slow flow both ways, so reflux is not "
                        f"assessable; record lossless audio (WAV, FLAC)")
        return (f"a lossy codec ({proc.codec}) codes the noise around stationary echoes "
                f"{over:.0f} dB over the noise, where slow flow lies")
    warnings.append(f"{proc.coarse} samples under stationary echoes {over:.0f} dB over the "
                    f"noise (raw probe audio): the noise is the samples' rounding, the blood "
                    f"40-50 dB under the echoes lies under it, and the rounding of the echoes "
                    f"reads as flow both ways, so flow and reflux are not assessable; record "
                    f"16-bit PCM")
    return (f"the {proc.coarse} samples' rounding of stationary echoes {over:.0f} dB over "
            f"the noise hides the blood")


def _summary(proc, ante, events, coded_tops=(), assessed=True):
    """The summary figures of the result (no peak velocity in the directions of
    ``coded_tops``, whose envelope is a codec's noise; no longest reflux where reflux is
    not ``assessed``: 0 would read as none found)."""
    cfg = proc.config
    noise_dbfs = _noise_dbfs(proc)
    tot = proc.totals
    # not on a tonal line the recording was found to hold: the envelope stood on a weak
    # line until it was known
    peak = tot.peak_off_lines_hz(proc.noise.tonal_lines_hz(), LINE_REACH)  # float32
    peak_ante = float(peak[ante] * proc.scale)
    peak_retro = float(peak[1 - ante] * proc.scale)
    return Summary(
        n_frames=tot.n,
        hop_s=cfg.hop_s,
        window_s=cfg.n_window / proc.sample_rate_hz,
        bin_hz=round(cfg.bin_hz, 4),
        velocity_resolution_cm_s=round(cfg.bin_hz * proc.scale, 4),
        flow_fraction=round(tot.flow / tot.n if tot.n else 0.0, 4),
        peak_antegrade_velocity_cm_s=None if ante in coded_tops else round(peak_ante, 2),
        peak_retrograde_velocity_cm_s=(round(peak_retro, 2) if proc.cmap.direction_available
                                       and 1 - ante not in coded_tops else None),
        longest_reflux_s=(round(max((e.duration_s for e in events), default=0.0), 4)
                          if assessed else None),
        noise_floor_dbfs=None if noise_dbfs is None else round(noise_dbfs, 1),
    )
