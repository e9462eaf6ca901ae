"""Accuracy of dopplerflow on the simulator's scenarios: ``dopplerflow evaluate``.

Every scenario of :mod:`dopplerflow.sim.scenarios` is synthesised at each in-band
SNR and seed (:func:`dopplerflow.sim.synth.synthesize`, in memory), written in each
channel layout (:func:`dopplerflow.sim.synth.to_layout`), peak-normalised and
quantised to 16 bits as :func:`dopplerflow.sim.synth.write_audio` would write it,
analysed with :func:`dopplerflow.analyze` and scored against its truth
(:func:`dopplerflow.sim.score.score`).

Each recording is analysed with the antegrade direction of the truth (what a
sonographer sets with ``--antegrade``) and, in a layout that carries direction,
once more with ``antegrade='auto'``; the automatic choice is reported as a
separate classification column.  With two vessels flowing opposite ways in the
beam the automatic choice cannot tell which is under study: its reflux is
*not assessable* there.

Per scenario and SNR the scores are pooled over layouts and seeds: recordings
classified right (flow yes/no and reflux yes/no; a mono recording's reflux is
*not assessable* and counts neither way), event sensitivity and PPV (matched
over true / detected events), the median absolute onset and end errors of the
matched events and the median error of their peak velocity (signed, % of the
true peak; no target), the velocity-trace rms error and bias (frame-weighted, as % of
the truth's peak), the sign agreement and the trace coverage (the share of the
frames with flow at or above the analysis's measurement floor that it measured;
flow below the floor lies inside the wall filter's band and is not scored, see
:mod:`dopplerflow.sim.score`).  One overall row per SNR checks the
accuracy the project must reach (:data:`TARGETS`); the pooling, the checks and the
text report are in :mod:`dopplerflow.sim.aggregate`.

The scenarios that pulse are also scored beat by beat (:mod:`dopplerflow.sim.beats`):
beat sensitivity, PPV and onset error, the heart rate and, on the arteries, PSV, EDV,
RI and PI against the truth, pooled per scenario and SNR in a beats table with the
simulator's beat targets (:data:`~dopplerflow.sim.beats.BEAT_TARGETS`) checked per SNR.

Scenarios defined by their SNR (:data:`OWN_SNR_SCENARIOS`) run at their own
SNR only: at the common levels they would repeat the scenario they are built on.

The degraded table (:mod:`dopplerflow.sim.degraded`) scores the scenarios at 12 dB
in-band under each real-world degradation of :mod:`dopplerflow.sim.degrade` (coloured
noise, a recorder's band and rate, resampling, tones, clicks, 8 bits); a full run
includes it.
"""

import math
import time

import numpy as np

from ..errors import DopplerflowError, SettingsError
from .aggregate import TARGETS, aggregate, format_report, targets_for
from .beats import aggregate_beats
from .degraded import CASES, aggregate_degraded, degraded_tasks, get_case

__all__ = ["evaluate", "run_recording", "aggregate", "targets_for", "format_report",
           "quantise", "sample_rate_for", "SNRS_DB", "LAYOUTS", "TARGETS"]

#: In-band SNR levels of a full evaluation, dB.
SNRS_DB = (20.0, 12.0, 7.0, 3.0)
#: Layouts of a full evaluation.
LAYOUTS = ("iq", "toward-away", "qi")
#: Layouts of a quick evaluation.
QUICK_LAYOUTS = ("iq", "toward-away")
#: Seeds of a full and of a quick evaluation.
FULL_SEEDS = tuple(range(20))
QUICK_SEEDS = (0,)
#: Lowest sample rate used, Hz: the fastest scenario (the artery, 80 cm/s) peaks
#: near 4.2 kHz of Doppler shift at 8 MHz and 60 degrees, inside +-8 kHz.
SAMPLE_RATE_HZ = 16000
#: Sample rates a scenario may be raised to when it needs more band, Hz.
_RATES_HZ = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 96000, 192000)
#: Scenarios whose point is their own SNR: run at that SNR only.
OWN_SNR_SCENARIOS = ("low_snr_gsv",)
#: Headroom of the written audio, dB (the default of ``synth.write_audio``).
HEADROOM_DB = 3.0
#: Keys of a score kept in each recording's record.
_KEPT = ("flow_correct", "reflux_correct", "reflux_assessable", "recording_correct",
         "n_true_events", "n_detected_events", "n_matched", "trace_frames",
         "trace_measurable_frames", "trace_coverage", "trace_below_floor_pct",
         "trace_rms_error_pct", "trace_bias_pct", "sign_agreement_pct")


# ------------------------------------------------------------------------------ one recording
def quantise(data, bits=16, headroom_db=HEADROOM_DB):
    """Audio as a file written by ``synth.write_audio`` and read back holds it.

    Peak-normalised to ``headroom_db`` below full scale, rounded to ``bits``
    bits and divided by the full scale ``2**(bits-1)`` (how soundfile returns
    integer samples as floats).

    Parameters
    ----------
    data : ndarray, shape (frames, channels), float
        Audio in any units.
    bits : int
        Sample depth.
    headroom_db : float
        Peak below full scale, dB.

    Returns
    -------
    ndarray, shape (frames, channels), float64
        Samples in [-1, 1).
    """
    from .synth import full_scale_per_unit

    x = np.asarray(data, dtype=float)
    scale = full_scale_per_unit(x, headroom_db)
    full = 2.0 ** (bits - 1)
    return np.clip(np.round(x * scale * full), -full, full - 1) / full


def _peak_doppler_hz(scenario, carrier_hz=8e6, angle_deg=60.0):
    """Largest Doppler shift of a scenario's vessels at the default geometry, Hz."""
    from ..core.velocity import doppler_shift_hz
    from .synth import TRACE_HOP_S

    t = np.arange(0.0, scenario.duration_s, TRACE_HOP_S / 4)
    peak = float(np.abs(scenario.velocity(t)).max()) if scenario.flow else 0.0
    if scenario.second is not None:
        peak = max(peak, float(np.abs(scenario.second.velocity(t)).max()))
    return doppler_shift_hz(peak, carrier_hz, angle_deg)


def sample_rate_for(name, layouts, base_rate_hz=SAMPLE_RATE_HZ):
    """Lowest common sample rate, at least ``base_rate_hz``, that holds a scenario.

    Quadrature layouts need ``fs / 2`` above 1.15 times the peak Doppler shift;
    ``offset`` needs the same margin on each side of ``fs / 4``.

    Parameters
    ----------
    name : str
        Scenario name.
    layouts : sequence of str
        Layouts the recording will be written in.
    base_rate_hz : float
        Least sample rate, Hz.

    Returns
    -------
    float
        Sample rate, Hz.
    """
    from .scenarios import get_scenario

    need = 1.15 * _peak_doppler_hz(get_scenario(name)) * (4.0 if "offset" in layouts else 2.0)
    for rate in _RATES_HZ:
        if rate >= base_rate_hz and rate > need:
            return float(rate)
    return float(max(base_rate_hz, _RATES_HZ[-1]))


def _record(base, sc, analysis):
    rec = dict(base)
    rec.update({k: sc[k] for k in _KEPT})
    rec["beats"] = sc["beats"]
    rec["onset_errors_s"] = [m["onset_error_s"] for m in sc["matches"]]
    rec["end_errors_s"] = [m["end_error_s"] for m in sc["matches"]]
    rec["peak_errors_pct"] = [m["peak_error_pct"] for m in sc["matches"]
                              if m["peak_error_pct"] is not None]
    rec["antegrade_chosen"] = analysis.antegrade
    return rec


def _error_record(base, exc, truth):
    """A recording the analysis refused counts as classified wrong, and as finding none of
    its beats."""
    from .beats import beat_score

    return dict(base, error=str(exc), flow_correct=False, reflux_correct=None,
                beats=beat_score({"beat_table": {"onset_s": []}}, truth),
                reflux_assessable=False, recording_correct=False, n_true_events=0,
                n_detected_events=0, n_matched=0, trace_frames=0, trace_measurable_frames=0,
                trace_coverage=0.0, trace_below_floor_pct=None,
                trace_rms_error_pct=None, trace_bias_pct=None, sign_agreement_pct=None,
                onset_errors_s=[], end_errors_s=[], antegrade_chosen=None)


def run_recording(name, snr_db, seed, *, layouts=LAYOUTS, sample_rate_hz=SAMPLE_RATE_HZ,
                  envelope=None, auto=True, second_db=None, degradations=None, bits=16):
    """Synthesise one scenario once and score its analysis in every layout.

    Parameters
    ----------
    name : str
        Scenario name.
    snr_db : float
        In-band SNR, dB.
    seed : int
        Seed of the synthesis.
    layouts : sequence of str
        Layouts to write and analyse.
    sample_rate_hz : float
        Sample rate, Hz.
    envelope : str, optional
        Maximum-frequency estimator (the analysis default if None).
    auto : bool
        Also analyse with ``antegrade='auto'`` (layouts with direction).
    second_db : float, optional
        Power of a two-vessel scenario's second vessel against the vessel under
        study, dB (:func:`dopplerflow.sim.synth.synthesize`).
    degradations : Degradations, optional
        Real-world degradations (:mod:`dopplerflow.sim.degrade`), applied as
        :func:`~dopplerflow.sim.synth.write_scenario` applies them.
    bits : int
        Sample depth of the audio analysed (:func:`quantise`).

    Returns
    -------
    list of dict
        One record per analysis: ``scenario``, ``snr_db``, ``layout``, ``seed``,
        ``antegrade`` (``"given"`` or ``"auto"``), ``sample_rate_hz`` (the rate
        analysed, after any resampling), the
        recording, event and trace fields of :func:`dopplerflow.sim.score.score`,
        ``onset_errors_s`` and ``end_errors_s`` (detected minus true, s, of the
        matched events), ``peak_errors_pct`` (their peak velocity's error, % of the
        true peak), ``beats`` (:func:`dopplerflow.sim.beats.beat_score`: None for a
        scenario that does not pulse), ``antegrade_chosen`` and, if the analysis
        raised, ``error`` (counted as classified wrong).
    """
    from ..core.driver import analyze
    from ..core.layouts import channel_map
    from .degrade import record
    from .score import score
    from .synth import synthesize, to_layout

    fs = float(sample_rate_hz)
    syn = synthesize(name, sample_rate_hz=fs, snr_db=snr_db, seed=seed, second_db=second_db,
                     degradations=degradations)
    truth = syn.truth
    records = []
    for layout in layouts:
        offset_hz = fs / 4.0 if layout == "offset" else None
        channels, fs_out, _ = record(to_layout(syn.baseband, layout, fs, offset_hz=offset_hz),
                                     fs, degradations, seed)
        audio = quantise(channels, bits)
        modes = [("given", truth["antegrade"])]
        directional = channel_map(layout, audio.shape[1], offset_hz=offset_hz).direction_available
        if auto and directional:
            modes.append(("auto", "auto"))
        for mode, antegrade in modes:
            base = {"scenario": name, "snr_db": float(snr_db), "layout": layout,
                    "seed": int(seed), "antegrade": mode, "sample_rate_hz": fs_out}
            kw = {"layout": layout, "vessel": truth["vessel"], "antegrade": antegrade,
                  "offset_hz": offset_hz}
            if envelope is not None:
                kw["envelope"] = envelope
            try:
                analysis = analyze(audio, sample_rate_hz=fs_out, **kw)
            except DopplerflowError as exc:
                records.append(_error_record(base, exc, truth))
                continue
            records.append(_record(base, score(analysis.to_dict(trace=True), truth), analysis))
    return records


def _run_task(task):
    """Worker entry point: :func:`run_recording` on a dict of its arguments (a task of the
    degraded table names its case in ``degradation``, and its records say so too)."""
    kw = {}
    if task.get("degradation") is not None:
        case = get_case(task["degradation"])
        kw = {"degradations": case.degradations, "bits": case.bits}
    records = run_recording(task["scenario"], task["snr_db"], task["seed"],
                            layouts=task["layouts"], sample_rate_hz=task["sample_rate_hz"],
                            envelope=task["envelope"], auto=task["auto"], **kw)
    if kw:
        for rec in records:
            rec["degradation"] = task["degradation"]
    return records


# -------------------------------------------------------------------------------- evaluation
def _tasks(names, snrs, seeds, layouts, sample_rate_hz, envelope, auto):
    from .scenarios import get_scenario

    tasks = []
    for name in names:
        sc = get_scenario(name)
        levels = (sc.snr_db,) if name in OWN_SNR_SCENARIOS else snrs
        fs = sample_rate_for(name, layouts, sample_rate_hz)
        for snr in levels:
            for seed in seeds:
                tasks.append({"scenario": name, "snr_db": float(snr), "seed": int(seed),
                              "layouts": tuple(layouts), "sample_rate_hz": fs,
                              "envelope": envelope, "auto": auto})
    return tasks


def _check_args(snrs, layouts, seeds, workers, envelope):
    """Validate the arguments of :func:`evaluate`; return the SNR levels as floats."""
    from ..core.envelopes import method_code
    from ..core.layouts import LAYOUTS as KNOWN

    try:
        levels = tuple(float(s) for s in snrs)
    except (TypeError, ValueError):
        levels = ()
    if not levels or not all(math.isfinite(s) for s in levels):
        raise SettingsError(f"SNR levels {snrs!r} must be finite numbers of dB, e.g. 20,12,7,3")
    bad = [x for x in layouts if x not in KNOWN]
    if not layouts or bad:
        raise SettingsError(f"layouts {list(layouts)!r}: use one or more of {', '.join(KNOWN)}")
    if not seeds or any(not isinstance(s, (int, np.integer)) or s < 0 for s in seeds):
        raise SettingsError(f"seeds {list(seeds)!r} must be non-negative integers")
    if not isinstance(workers, int) or workers < 1:
        raise SettingsError(f"workers {workers!r} must be a positive integer (2 on two cores)")
    if envelope is not None:
        method_code(envelope)
    return levels


def _run_all(tasks, workers, progress):
    """Run the tasks (in a pool when ``workers > 1``); results in task order."""
    results = [None] * len(tasks)
    if workers == 1 or len(tasks) == 1:
        for i, task in enumerate(tasks):
            results[i] = _run_task(task)
            if progress is not None:
                progress((i + 1) / len(tasks))
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn: workers start clean, whatever threads the calling process runs
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx) as pool:
        futures = {pool.submit(_run_task, task): i for i, task in enumerate(tasks)}
        try:
            for done, fut in enumerate(as_completed(futures), 1):
                results[futures[fut]] = fut.result()
                if progress is not None:
                    progress(done / len(tasks))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return results


def evaluate(*, quick=False, snrs=SNRS_DB, layouts=None, seeds=None, envelope=None,
             sample_rate_hz=SAMPLE_RATE_HZ, scenarios=None, workers=2, auto=True,
             progress=None, degraded=None, degradations=None):
    """Score dopplerflow on every scenario across SNR levels, layouts and seeds.

    Parameters
    ----------
    quick : bool
        Smoke-test size: seed 0 only and the layouts :data:`QUICK_LAYOUTS`
        (unless ``seeds`` or ``layouts`` are given).
    snrs : sequence of float
        In-band SNR levels, dB.
    layouts : sequence of str, optional
        Layouts (:data:`LAYOUTS` if None, :data:`QUICK_LAYOUTS` when quick).
    seeds : sequence of int, optional
        Synthesis seeds (:data:`FULL_SEEDS` if None, :data:`QUICK_SEEDS` when quick).
    envelope : str, optional
        Maximum-frequency estimator (``threshold`` or ``geometric``; the
        analysis default if None).
    sample_rate_hz : float
        Least sample rate, Hz; raised per scenario where its band needs more
        (:func:`sample_rate_for`).
    scenarios : sequence of str, optional
        Scenario names (all of the library if None).
    workers : int
        Worker processes.
    auto : bool
        Also score ``antegrade='auto'``.
    progress : callable, optional
        Called with the fraction of recordings done (0-1).
    degraded : bool or "only", optional
        Also run the degraded table (:mod:`dopplerflow.sim.degraded`); ``"only"``
        runs it alone.  None: with a full run, not with ``quick``.
    degradations : sequence of str, optional
        Names of the degradations of that table
        (:data:`~dopplerflow.sim.degraded.CASES`; all if None).

    Returns
    -------
    dict
        ``config`` (the arguments as run), ``records`` (:func:`run_recording`),
        ``rows``, ``overall`` and ``passed`` (:func:`aggregate`), ``beats``
        (:func:`~dopplerflow.sim.beats.aggregate_beats`: the beats table of the
        scenarios that pulse and its checks), ``elapsed_s``; with the degraded
        table, ``degraded`` (:func:`~dopplerflow.sim.degraded.aggregate_degraded`).
        With ``degraded="only"`` the clean fields are empty.

    Raises
    ------
    SettingsError
        Unknown scenario, layout, envelope or degradation; empty or invalid levels,
        seeds or worker count.
    """
    from .scenarios import SCENARIOS, get_scenario

    layouts = tuple(layouts if layouts is not None else QUICK_LAYOUTS if quick else LAYOUTS)
    seeds = tuple(seeds if seeds is not None else QUICK_SEEDS if quick else FULL_SEEDS)
    names = tuple(SCENARIOS) if scenarios is None else tuple(scenarios)
    for name in names:
        get_scenario(name)
    snrs = _check_args(snrs, layouts, seeds, workers, envelope)
    cases = _cases(not quick if degraded is None else degraded, degradations)
    t0 = time.perf_counter()
    tasks = [] if degraded == "only" else _tasks(names, snrs, seeds, layouts, sample_rate_hz,
                                                   envelope, auto)
    more, left_out = degraded_tasks(names, seeds, layouts, sample_rate_hz, envelope, auto,
                                    cases)
    results = _run_all(tasks + more, workers, progress) if tasks or more else []
    records = [rec for recs in results[:len(tasks)] for rec in recs]
    out = {"config": {"quick": bool(quick), "snrs_db": list(snrs), "layouts": list(layouts),
                      "seeds": list(seeds), "envelope": envelope, "scenarios": list(names),
                      "sample_rate_hz": float(sample_rate_hz), "workers": workers,
                      "auto": bool(auto), "own_snr_scenarios": [
                          n for n in names if n in OWN_SNR_SCENARIOS],
                      "degradations": [c.name for c in cases]},
           "records": records}
    out.update(aggregate(records))
    out["beats"] = aggregate_beats(records)
    if cases:
        out["degraded"] = aggregate_degraded(
            [rec for recs in results[len(tasks):] for rec in recs], cases, left_out, seeds,
            layouts)
    out["elapsed_s"] = round(time.perf_counter() - t0, 2)
    return out


def _cases(degraded, names):
    """The cases of the degraded table to run: none unless ``degraded``."""
    if degraded not in (True, False, "only"):
        raise SettingsError(f"degraded {degraded!r} must be True, False or 'only'")
    if not degraded:
        return ()
    if names is None:
        return CASES
    cases = tuple(get_case(n) for n in names)
    if not cases:
        raise SettingsError(f"degradations {list(names)!r}: name one or more of "
                            f"{', '.join(c.name for c in CASES)}")
    return cases
