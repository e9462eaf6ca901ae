"""A second vessel in the beam, from quieter to louder than the vein under study.

``python -m benchmarks.second_vessel [--quick]`` synthesises the
``jugular_with_carotid`` scenario (the internal jugular vein with a Valsalva
reflux, the carotid flowing the other way beside it) with the carotid's power
set from -6 to +6 dB against the vein (:func:`dopplerflow.sim.synth.synthesize`,
``second_db``), at several in-band SNRs, seeds and layouts, analyses each with
the vein's antegrade direction given, and scores it against the truth: how
many recordings are classified right, wrong or not assessable (the vein too
little louder than the carotid for its reflux to stand out, see
``dopplerflow.core.reflux.SEPARABLE_MARGIN``), with the median onset, end and peak
velocity errors of the refluxes found.  The table goes to
``benchmarks/results/second_vessel.md`` (``--quick``: ``second_vessel_quick.md``).
"""

import time

import numpy as np

from . import sweep_arguments, write_sweep

__all__ = ["POWERS_DB", "SNRS_DB", "sweep", "format_table", "main"]

POWERS_DB = (-6.0, -3.0, -2.0, -1.0, 0.0, 3.0, 6.0)
SNRS_DB = (20.0, 12.0, 7.0, 3.0)
SEEDS = (0, 1, 2, 3, 4)
LAYOUTS = ("iq", "toward-away")
SAMPLE_RATE_HZ = 16000


def sweep(powers_db=POWERS_DB, snrs_db=SNRS_DB, seeds=SEEDS, layouts=LAYOUTS):
    """Score every combination; return one row per carotid power and SNR.

    Returns
    -------
    list of dict
        ``power_db``, ``snr_db``, ``n``, ``right``, ``wrong``, ``not_assessable``,
        ``onset_ms``, ``end_ms`` (median absolute errors of the matched refluxes),
        ``peak_pct`` (median signed peak velocity error); None where nothing matched.
    """
    from dopplerflow.sim.evaluate import run_recording

    rows = []
    for power in powers_db:
        for snr in snrs_db:
            recs = [rec for seed in seeds
                    for rec in run_recording("jugular_with_carotid", snr, seed, layouts=layouts,
                                             sample_rate_hz=SAMPLE_RATE_HZ, auto=False,
                                             second_db=power)]
            onset = [e for r in recs for e in r["onset_errors_s"]]
            end = [e for r in recs for e in r["end_errors_s"]]
            peak = [e for r in recs for e in r["peak_errors_pct"]]
            rows.append({
                "power_db": float(power), "snr_db": float(snr), "n": len(recs),
                "right": sum(r["recording_correct"] is True for r in recs),
                "wrong": sum(r["recording_correct"] is False for r in recs),
                "not_assessable": sum(r["recording_correct"] is None for r in recs),
                "onset_ms": 1e3 * float(np.median(np.abs(onset))) if onset else None,
                "end_ms": 1e3 * float(np.median(np.abs(end))) if end else None,
                "peak_pct": float(np.median(peak)) if peak else None})
    return rows


def format_table(rows):
    """The rows as a markdown table."""
    def f(v, spec):
        return "-" if v is None else format(v, spec)

    out = ["| carotid vs vein | in-band SNR | recordings | right | wrong | not assessable "
           "| onset ms | end ms | peak % |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['power_db']:+g} dB | {r['snr_db']:g} dB | {r['n']} | {r['right']} | "
                   f"{r['wrong']} | {r['not_assessable']} | {f(r['onset_ms'], '.0f')} | "
                   f"{f(r['end_ms'], '.0f')} | {f(r['peak_pct'], '+.0f')} |")
    return "\n".join(out)


def main(argv=None):
    """Run the sweep and write its table; return the exit code."""
    args = sweep_arguments("python -m benchmarks.second_vessel", __doc__,
                           "two powers, two SNRs, one seed (a smoke run)").parse_args(argv)
    t0 = time.perf_counter()
    if args.quick:
        rows = sweep(powers_db=(-3.0, 6.0), snrs_db=(20.0, 7.0), seeds=(0,))
    else:
        rows = sweep()
    took = time.perf_counter() - t0
    n = sum(r["n"] for r in rows)
    text = (f"# A second vessel beside the vein (`python -m benchmarks.second_vessel"
            f"{' --quick' if args.quick else ''}`)\n\n"
            f"`jugular_with_carotid` with the carotid's power set against the vein's, "
            f"analysed with the vein's antegrade direction given (`--antegrade away`); "
            f"{n} recordings ({len(LAYOUTS)} layouts, {SAMPLE_RATE_HZ} Hz) in {took:.0f} s. "
            f"Onset and end: median absolute error of the refluxes found; peak: median "
            f"signed error of their peak velocity.\n\n{format_table(rows)}\n")
    write_sweep(text, args.out, "second_vessel", args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
