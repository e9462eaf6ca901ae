"""Write the expected results that ``tests/test_golden.py`` compares the analysis with.

Run it after a change that is meant to change results, and say why in the commit::

    python tests/golden/make_golden.py

Each case analyses a bundled sample (or a short ``evaluate`` run) and keeps its JSON,
with the trace's columns reduced to SHA-256 digests of their float32 bytes.
"""

import hashlib
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "..", "..", "samples")

#: name: (sample file, keyword arguments of dopplerflow.analyze)
CASES = {
    "jugular": ("jugular_valsalva_iq.flac", dict(layout="iq", vessel="ijv", antegrade="away")),
    "jugular_blocks_97": ("jugular_valsalva_iq.flac",
                          dict(layout="iq", vessel="ijv", antegrade="away", block_size=97)),
    "jugular_auto": ("jugular_valsalva_iq.flac", dict(layout="iq", vessel="ijv")),
    "jugular_hum": ("jugular_valsalva_iq.flac",
                    dict(layout="iq", vessel="ijv", antegrade="away", hum_hz=50)),
    "jugular_geometric": ("jugular_valsalva_iq.flac",
                          dict(layout="iq", vessel="ijv", antegrade="away", envelope="geometric",
                               average_frames=1)),
    "femoral": ("femoral_competent_iq.flac", dict(layout="iq", vessel="femoral")),
    "femoral_toward": ("femoral_competent_iq.flac",
                       dict(layout="iq", vessel="femoral", antegrade="toward")),
    "gsv": ("gsv_reflux_toward_away.flac", dict(layout="toward-away", vessel="gsv")),
    "artery": ("artery_mono.flac", dict(layout="mono", vessel="artery")),
}
#: The short evaluate run kept: scenarios, SNR, seed 0, layouts iq and toward-away.
EVALUATE = dict(scenarios=("jugular_valsalva", "femoral_competent", "artery_triphasic",
                           "jugular_with_carotid"), snr_db=(12.0,))


def digest(a):
    """SHA-256 of an array's float32 bytes (NaN included, bit for bit)."""
    return hashlib.sha256(np.ascontiguousarray(a, np.float32).tobytes()).hexdigest()


def analysis_case(name):
    """The JSON of case ``name``, its trace columns as digests."""
    import dopplerflow

    file, kwargs = CASES[name]
    result = dopplerflow.analyze(os.path.join(SAMPLES, file), **kwargs)
    d = result.to_dict()
    d.pop("file", None)
    d.pop("dopplerflow_version", None)
    tr = result.trace
    columns = ("time_s", "antegrade_max_cm_s", "retrograde_max_cm_s", "mean_velocity_cm_s",
               "velocity_cm_s", "flow")
    d["trace_digest"] = {k: digest(getattr(tr, k)) for k in columns}
    return json.loads(json.dumps(d))


def evaluate_case():
    """Rows of a short ``evaluate`` run (scores of every recording)."""
    import tempfile

    from dopplerflow.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "ev.json")
        main(["evaluate", "--quick", "--workers", "1",
              "--scenarios", ",".join(EVALUATE["scenarios"]),
              "--snr", ",".join(f"{s:g}" for s in EVALUATE["snr_db"]), "--json", out])
        with open(out) as f:
            return json.load(f)["rows"]


def main(argv=None):
    expected = {name: analysis_case(name) for name in CASES}
    expected["evaluate_rows"] = evaluate_case()
    path = os.path.join(HERE, "expected.json")
    with open(path, "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
