"""Accuracy against SNR on the simulator's scenarios with known truth.

For each scenario, SNR and seed, :func:`dopplerflow.sim.synth.synthesize` makes a
recording with its truth; ``dopplerflow.analyze`` runs with each envelope
estimator (``threshold``, ``geometric``), and two fixed-threshold estimators
of the kind existing MATLAB scripts use are computed on dopplerflow's own
time-averaged spectrogram (so they differ from dopplerflow only in the
envelope rule):

``peak-20dB``
    per frame, the highest frequency whose power is within 20 dB of the
    frame's peak (both directions; no flow detection: a noise-only frame still
    gives a value, as in those scripts);
``fixed-20dB``
    one threshold for the whole recording, 20 dB below the strongest frame
    peak (a fixed grey level on a normalised sonogram).

The velocity trace of each is signed like dopplerflow's (the direction with
more power above threshold wins, + antegrade) and scored with
:func:`dopplerflow.sim.score.score`: envelope bias and rms error in % of the true
peak velocity over the frames with true flow.  Reflux events (dopplerflow's
estimators only) give sensitivity, PPV and onset/end errors.
"""

import numpy as np

__all__ = ["METHODS", "FIXED_METHODS", "fixed_threshold_trace", "measure", "run"]

#: dopplerflow envelope estimators compared.
METHODS = ("threshold", "geometric")
#: Fixed-threshold estimators computed on the spectrogram.
FIXED_METHODS = ("peak-20dB", "fixed-20dB")
#: Scenarios with flow that run at 8 kHz (the artery and carotid ones need more).
FULL_SCENARIOS = ("jugular_phasic", "jugular_valsalva", "jugular_valve_closure",
                  "vertebral_repeated", "gsv_squeeze_reflux", "femoral_competent",
                  "femoral_reflux", "perforator_reflux")
QUICK_SCENARIOS = ("gsv_squeeze_reflux",)
FULL_SNR_DB = (-5.0, 0.0, 5.0, 10.0, 15.0, 20.0, 30.0)
QUICK_SNR_DB = (0.0, 20.0)
SAMPLE_RATE_HZ = 8000


def fixed_threshold_trace(analysis, method, drop_db=20.0):
    """Signed maximum-velocity trace by a fixed-threshold rule on the spectrogram.

    Parameters
    ----------
    analysis : dopplerflow.Analysis
        Analysed with ``keep_spectrogram=True``.
    method : {'peak-20dB', 'fixed-20dB'}
        Threshold relative to each frame's peak, or to the recording's
        strongest frame peak.
    drop_db : float
        Threshold below the reference peak, dB.

    Returns
    -------
    time_s, velocity_cm_s : ndarray, shape (n_rows,)
        Velocity signed + antegrade, cm/s, for each row of the spectrogram (a frame,
        or a group of frames in a recording over 41 s); 0 where no bin passes.
    """
    spec = np.asarray(analysis.spectrogram, np.float64)
    f = np.asarray(analysis.freqs_hz, np.float64)
    s = analysis.settings
    bin_hz = abs(f[1] - f[0])
    lo = s.wall_hz + 0.5 * bin_hz
    peak = spec.max(axis=1)
    ref = peak if method == "peak-20dB" else np.full_like(peak, peak.max())
    above = spec > (ref * 10.0 ** (-drop_db / 10.0))[:, None]
    out = {}
    for name, sel in (("toward", f >= lo), ("away", f <= -lo)):
        a = above[:, sel]
        mag = np.abs(f[sel])
        any_above = a.any(axis=1)
        # highest |f| above threshold
        order = np.argsort(mag)
        a_sorted = a[:, order]
        top = a_sorted.shape[1] - 1 - np.argmax(a_sorted[:, ::-1], axis=1)
        fmax = np.where(any_above, mag[order][top], 0.0)
        power = np.where(a, spec[:, sel], 0.0).sum(axis=1)
        out[name] = (fmax, power)
    ante = analysis.antegrade or "toward"
    retro = "away" if ante == "toward" else "toward"
    retro_dom = out[retro][1] > out[ante][1]
    v = np.where(retro_dom, -out[retro][0], out[ante][0]) * analysis.velocity_per_hz_cm_s
    return np.asarray(analysis.spectrogram_time_s), v


def _score_trace(time_s, velocity, truth):
    from dopplerflow.sim.score import score

    res = {"trace": {"time_s": np.asarray(time_s).tolist(),
                     "velocity_cm_s": np.asarray(velocity).tolist()},
           "direction_available": True, "reflux_events": []}
    return score(res, truth)


def measure(scenarios, snrs_db, seeds=(0,), sample_rate_hz=SAMPLE_RATE_HZ, log=None):
    """Score every estimator on every (scenario, SNR, seed).

    Returns
    -------
    list of dict
        One row per (scenario, snr_db, seed, method): ``trace_bias_pct``,
        ``trace_rms_error_pct``, ``sign_agreement_pct`` and, for dopplerflow's
        estimators, ``n_true_events``, ``n_detected_events``, ``n_matched``,
        ``onset_errors_s``, ``end_errors_s``, ``recording_correct``.
    """
    import dopplerflow
    from dopplerflow.sim import synth
    from dopplerflow.sim.score import score

    rows = []
    for name in scenarios:
        for snr in snrs_db:
            for seed in seeds:
                syn = synth.synthesize(name, sample_rate_hz=sample_rate_hz, snr_db=snr,
                                       seed=seed)
                truth = syn.truth
                common = dict(sample_rate_hz=sample_rate_hz, vessel=truth["vessel"],
                              antegrade=truth["antegrade"],
                              carrier_hz=truth["carrier_hz"], angle_deg=truth["angle_deg"])
                base = {"scenario": name, "snr_db": snr, "seed": seed}
                for method in METHODS:
                    a = dopplerflow.analyze(syn.baseband, envelope=method,
                                            keep_spectrogram=method == METHODS[0], **common)
                    sc = score(a.to_dict(trace=True), truth)
                    rows.append(dict(base, method=method,
                                     trace_bias_pct=sc["trace_bias_pct"],
                                     trace_rms_error_pct=sc["trace_rms_error_pct"],
                                     sign_agreement_pct=sc["sign_agreement_pct"],
                                     n_true_events=sc["n_true_events"],
                                     n_detected_events=sc["n_detected_events"],
                                     n_matched=sc["n_matched"],
                                     onset_errors_s=[m["onset_error_s"] for m in sc["matches"]],
                                     end_errors_s=[m["end_error_s"] for m in sc["matches"]],
                                     recording_correct=sc["recording_correct"]))
                    if method == METHODS[0]:
                        for fixed in FIXED_METHODS:
                            t, v = fixed_threshold_trace(a, fixed)
                            sc = _score_trace(t, v, truth)
                            rows.append(dict(base, method=fixed,
                                             trace_bias_pct=sc["trace_bias_pct"],
                                             trace_rms_error_pct=sc["trace_rms_error_pct"],
                                             sign_agreement_pct=sc["sign_agreement_pct"]))
        if log:
            log(f"accuracy: {name} done")
    return rows


def _mean(values):
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def summarize(rows):
    """Aggregate rows per (method, SNR).

    Envelope bias and rms error are averaged over scenarios and seeds.
    Sensitivity = matched / true events and PPV = matched / detected events,
    pooled; onset and end errors are the median absolute error of the pooled
    matches, s.

    Returns
    -------
    list of dict
        ``method``, ``snr_db``, ``n``, ``bias_pct``, ``rms_pct``, ``sign_pct``
        and for dopplerflow's estimators ``sensitivity``, ``ppv``,
        ``onset_error_s``, ``end_error_s``, ``recordings_correct_pct``.
    """
    out = []
    present = {r["method"] for r in rows}
    methods = [m for m in METHODS + FIXED_METHODS if m in present]
    for method in methods:
        for snr in sorted({r["snr_db"] for r in rows}):
            sel = [r for r in rows if r["method"] == method and r["snr_db"] == snr]
            if not sel:
                continue
            row = {"method": method, "snr_db": snr, "n": len(sel),
                   "bias_pct": _mean(r["trace_bias_pct"] for r in sel),
                   "rms_pct": _mean(r["trace_rms_error_pct"] for r in sel),
                   "sign_pct": _mean(r["sign_agreement_pct"] for r in sel)}
            if "n_true_events" in sel[0]:
                true = sum(r["n_true_events"] for r in sel)
                det = sum(r["n_detected_events"] for r in sel)
                hit = sum(r["n_matched"] for r in sel)
                onset = [abs(e) for r in sel for e in r["onset_errors_s"]]
                end = [abs(e) for r in sel for e in r["end_errors_s"]]
                verdicts = [r["recording_correct"] for r in sel
                            if r["recording_correct"] is not None]
                row.update(sensitivity=hit / true if true else None,
                           ppv=hit / det if det else None,
                           onset_error_s=float(np.median(onset)) if onset else None,
                           end_error_s=float(np.median(end)) if end else None,
                           recordings_correct_pct=(100.0 * float(np.mean(verdicts))
                                                   if verdicts else None))
            out.append(row)
    return out


def run(quick=False, log=print):
    """Accuracy for the suite (quick: one scenario at 0 and 20 dB; full: 8 x 7 SNRs x 2 seeds).

    Returns
    -------
    dict
        ``scenarios``, ``snr_db``, ``seeds``, ``sample_rate_hz``, ``rows``,
        ``summary`` (:func:`summarize`).
    """
    scen = QUICK_SCENARIOS if quick else FULL_SCENARIOS
    snrs = QUICK_SNR_DB if quick else FULL_SNR_DB
    seeds = (0,) if quick else (0, 1)
    log(f"accuracy: {len(scen)} scenario(s) x {len(snrs)} SNRs x {len(seeds)} seed(s)")
    rows = measure(scen, snrs, seeds, log=None if quick else log)
    return {"scenarios": list(scen), "snr_db": list(snrs), "seeds": list(seeds),
            "sample_rate_hz": SAMPLE_RATE_HZ, "rows": rows, "summary": summarize(rows)}
