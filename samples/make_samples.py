"""Regenerate the bundled sample recordings and their truth sidecars.

Every file is synthesised by :func:`dopplerflow.sim.synth.write_scenario` from a fixed
seed, so running this script again reproduces the same samples and truth bit for
bit (with the same numpy and libsndfile)::

    python samples/make_samples.py            # writes into samples/
    python samples/make_samples.py OUT_DIR    # writes elsewhere

All samples use an 8 MHz carrier at 60 degrees, FLAC PCM_16, and modest sample
rates to stay small.

``samples/exam/`` holds the recordings of the bundled examination (its manifest,
``samples/exam/exam.toml``, is written by hand): short 8 kHz I/Q recordings of neck,
cerebral and leg veins, each a scenario of the simulator under the name of the vein it
stands for (the deep cerebral vein is a slow jugular-like flow; there is no DCV
scenario).  Their truth sidecars are not kept, to keep the folder small.
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


#: The bundled examination: (file name, scenario, duration s, seed).  8 kHz I/Q.
EXAM = (
    ("ijv_left_supine.flac", "jugular_phasic", 6.0, 21),
    ("ijv_left_sitting.flac", "jugular_phasic", 6.0, 22),
    ("ijv_right_supine.flac", "jugular_phasic", 6.0, 23),
    ("ijv_right_sitting.flac", "no_flow", 5.0, 24),       # collapsed when upright
    ("ijv_right_valsalva.flac", "jugular_valsalva", 7.0, 25),
    ("vv_left_supine.flac", "vertebral_repeated", 6.0, 26),
    ("dcv_supine.flac", "jugular_phasic", 5.0, 27),
    ("gsv_left_release.flac", "gsv_squeeze_reflux", 6.0, 28),
    ("gsv_right_release.flac", "femoral_competent", 6.0, 29),
    ("femoral_left_valsalva.flac", "femoral_reflux", 7.0, 30),
    ("perforator_left_release.flac", "perforator_reflux", 5.0, 31),
)


def make_exam(out_dir):
    """Write the recordings of the bundled examination into ``out_dir`` (no truth files).

    Returns
    -------
    list of str
        Paths of the audio files written.
    """
    from dopplerflow.sim.synth import truth_path, write_scenario

    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for file_name, scenario, duration_s, seed in EXAM:
        path = os.path.join(os.fspath(out_dir), file_name)
        write_scenario(scenario, path, layout="iq", seed=seed, sample_rate_hz=8000,
                       duration_s=duration_s, carrier_hz=8e6, angle_deg=60.0,
                       subtype="PCM_16")
        os.remove(truth_path(path))
        paths.append(path)
    return paths


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
    out = sys.argv[1] if len(sys.argv) > 1 else here
    for p in make_samples(out) + make_exam(os.path.join(out, "exam")):
        print(p, os.path.getsize(p), "bytes")
