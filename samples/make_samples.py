"""Regenerate the bundled sample recordings and their truth sidecars.

Every file is synthesised by :func:`dopplerflow.sim.synth.write_scenario` from a fixed
seed, so running this script again reproduces the same samples and truth bit for
bit (with the same numpy and libsndfile)::

    python samples/make_samples.py            # writes into samples/
    python samples/make_samples.py OUT_DIR    # writes elsewhere

All samples use an 8 MHz carrier at 60 degrees, FLAC PCM_16, and modest sample
rates to stay small.
"""

import os
import sys

#: (file name, scenario, keyword arguments of write_scenario)
SAMPLES = (
    # IJV Valsalva with ~2 s reflux; I/Q stereo, antegrade away from the probe.
    ("jugular_valsalva_iq.flac", "jugular_valsalva",
     dict(layout="iq", snr_db=12.0, seed=1, sample_rate_hz=8000)),
    # Common femoral vein, competent: 0.45 s valve-closure reversal, no reflux.
    ("femoral_competent_iq.flac", "femoral_competent",
     dict(layout="iq", snr_db=15.0, seed=2, sample_rate_hz=8000)),
    # Great saphenous squeeze-release reflux written as separate toward/away audio.
    ("gsv_reflux_toward_away.flac", "gsv_squeeze_reflux",
     dict(layout="toward-away", snr_db=12.0, seed=3, sample_rate_hz=8000)),
    # Triphasic artery from a one-channel (speed only) device.
    ("artery_mono.flac", "artery_triphasic",
     dict(layout="mono", snr_db=15.0, seed=4, sample_rate_hz=11025)),
)


def make_samples(out_dir):
    """Write every sample and its ``.truth.json`` into ``out_dir``.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Existing or new directory.

    Returns
    -------
    list of str
        Paths of the audio files written.
    """
    from dopplerflow.sim.synth import write_scenario

    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for file_name, scenario, kwargs in SAMPLES:
        path = os.path.join(os.fspath(out_dir), file_name)
        write_scenario(scenario, path, carrier_hz=8e6, angle_deg=60.0, subtype="PCM_16",
                       **kwargs)
        paths.append(path)
    return paths


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.dirname(here))
    for p in make_samples(sys.argv[1] if len(sys.argv) > 1 else here):
        print(p, os.path.getsize(p), "bytes")
