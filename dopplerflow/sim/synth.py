"""Synthetic Doppler audio with known truth.

The complex baseband ``z = I + jQ`` (positive frequency = flow **toward** the
probe, as :mod:`dopplerflow.core.layouts` reads it) is the sum of three parts:
the **blood** echo and the **wall clutter**, whose models
:mod:`dopplerflow.sim.signals` describes and builds, and noise.

**Noise.**  Complex white Gaussian noise at a chosen **in-band SNR**::

    SNR = P_blood / (N0 * B)

with ``P_blood = 1`` the mean power of the blood echo of the vessel under study
while it moves (a still column, ``v = 0``, gives a constant echo of random level,
which a wall filter removes), ``N0`` the noise power per hertz (two-sided complex PSD, so the total
noise power is ``N0 * fs``) and ``B`` the recording's peak ``|f_c|`` (the band
from 0 to the highest centre-line Doppler shift).  A recording without flow uses
the ``B`` of a 10 cm/s vessel, so its noise level equals that of a slow vein at
the same SNR.  With a noise slope (:mod:`dopplerflow.sim.degrade`) the noise is
coloured and ``N0 * B`` becomes the integral of its PSD from 0 to ``B``: the same
noise power in the band, spread otherwise.

Optional I/Q imbalance distorts the quadrature channel; :func:`to_layout` writes
every layout of :data:`dopplerflow.core.layouts.LAYOUTS`; real-world degradations
(:class:`~dopplerflow.sim.degrade.Degradations`: coloured noise, tones, clicks, a
recorder's low-pass, resampling, a sound card's floor) are applied on request;
:func:`write_scenario` peak-normalises, quantises to 8, 16 or 24 bits and writes the
audio and its ``.truth.json`` sidecar.
"""

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field

import numpy as np

from ..core.velocity import check_geometry, doppler_shift_hz
from ..errors import AudioFileError, SettingsError
from .degrade import Degradations, baseband_parts, noise_band_integral, record, shape_noise
from .scenarios import get_scenario, list_scenarios
from .signals import (
    HUM_DRIFT_HZ,
    WALL_VELOCITY_CM_S,
    blood_signal,
    mains_hum,
    profile_spectrum,
    to_layout,
    wall_clutter,
)

# the signal parts of .signals are part of this module's interface too
__all__ = ["Synthetic", "synthesize", "to_layout", "write_scenario", "write_audio",
           "full_scale_per_unit", "mains_hum", "blood_signal", "wall_clutter",
           "profile_spectrum", "truth_intervals", "truth_path", "list_scenarios",
           "TRACE_HOP_S", "WALL_VELOCITY_CM_S", "HUM_DRIFT_HZ", "HEADROOM_DB", "Degradations",
           "EIGHT_BIT_SUBTYPE"]

#: Hop of the truth velocity trace, s.
TRACE_HOP_S = 0.005
#: Velocity whose Doppler shift sets the noise band of a recording without flow, cm/s.
NO_FLOW_REFERENCE_CM_S = 10.0
#: Velocities smaller than this are exactly 0 (the tails of smooth waveforms), cm/s;
#: 0.001 cm/s is a Doppler shift of 0.05 Hz at 8 MHz and 60 degrees.
ZERO_VELOCITY_CM_S = 1e-3
_SUBTYPE_BITS = {"PCM_U8": 8, "PCM_S8": 8, "PCM_16": 16, "PCM_24": 24}
#: The 8-bit subtype of each format (WAV's 8 bits are unsigned, FLAC's signed).
EIGHT_BIT_SUBTYPE = {".wav": "PCM_U8", ".flac": "PCM_S8"}


@dataclass
class Synthetic:
    """A synthesised recording.

    Attributes
    ----------
    baseband : ndarray, shape (n,), complex128
        ``z = I + jQ`` with toward-probe flow at positive frequency.
    truth : dict
        The truth record (fields in :func:`synthesize`).
    sample_rate_hz : float
        Sample rate, Hz.
    parts : dict of str to ndarray
        ``"blood"`` (vessel under study), ``"other_blood"`` (second vessel or
        zeros), ``"clutter"``, ``"noise"`` and, when asked for, ``"tones"`` and
        ``"clicks"`` (:func:`~dopplerflow.sim.degrade.baseband_parts`): complex (n,)
        parts before any I/Q imbalance; ``baseband`` is their sum (then imbalanced).
    """

    baseband: np.ndarray
    truth: dict
    sample_rate_hz: float
    parts: dict = field(default_factory=dict, repr=False)


def truth_intervals(time_s, velocity_cm_s, threshold_s):
    """Retrograde intervals of a velocity trace, split at the reflux threshold.

    An interval is a contiguous run of ``v < 0``; its start and end are the zero
    crossings (linear interpolation between samples, or the ends of the record).

    Parameters
    ----------
    time_s : ndarray, shape (n,)
        Increasing sample times, s.
    velocity_cm_s : ndarray, shape (n,)
        Signed velocity, cm/s, + antegrade.
    threshold_s : float or None
        Reflux threshold; ``None`` (arteries) makes every interval an episode.

    Returns
    -------
    reflux_events, retrograde_episodes : list of dict
        ``{"start_s", "end_s", "duration_s", "peak_velocity_cm_s"}`` (peak > 0);
        events last longer than ``threshold_s``, episodes the rest.
    """
    t = np.asarray(time_s, dtype=float)
    v = np.asarray(velocity_cm_s, dtype=float)
    neg = np.concatenate(([False], v < 0.0, [False]))
    edges = np.flatnonzero(np.diff(neg.astype(np.int8)))
    events, episodes = [], []
    for i0, i1 in zip(edges[::2], edges[1::2], strict=True):  # v[i0:i1] < 0
        start = t[0] if i0 == 0 else _crossing(t, v, i0 - 1)
        end = t[-1] if i1 == len(v) else _crossing(t, v, i1 - 1)
        item = {"start_s": round(float(start), 4), "end_s": round(float(end), 4),
                "duration_s": round(float(end - start), 4),
                "peak_velocity_cm_s": round(float(-v[i0:i1].min()), 3)}
        is_reflux = threshold_s is not None and end - start > threshold_s
        (events if is_reflux else episodes).append(item)
    return events, episodes


def _crossing(t, v, i):
    """Time where ``v`` crosses zero between samples ``i`` and ``i + 1``."""
    return t[i] + (t[i + 1] - t[i]) * v[i] / (v[i] - v[i + 1])


# ---------------------------------------------------------------------------- synthesis
def _probe_sign(antegrade):
    if antegrade not in ("toward", "away"):
        raise SettingsError(f"antegrade {antegrade!r} must be 'toward' or 'away'")
    return 1.0 if antegrade == "toward" else -1.0


def _check_number(name, value, lo, hi, hint):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
            or not lo <= value <= hi:
        span = f"{lo:g} to {hi:g}" if lo < 0 else f"{lo:g}-{hi:g}"
        raise SettingsError(f"{name} {value!r} is outside {span}; {hint}")
    return float(value)


#: Headroom of the written audio, dB (the peak sits this far below full scale).
HEADROOM_DB = 3.0


def synthesize(name, *, sample_rate_hz=48000, duration_s=None, snr_db=None, seed=0,
               carrier_hz=8e6, angle_deg=60.0, sound_speed_m_s=1540.0, iq_imbalance=None,
               second_db=None, degradations=None):
    """Synthesise a scenario of the library as complex baseband with its truth.

    Parameters
    ----------
    name : str
        Scenario name (:func:`list_scenarios`).
    sample_rate_hz : float
        8000-192000 Hz.
    duration_s : float, optional
        Length, 0.1-600 s; the scenario's default if None.
    snr_db : float, optional
        In-band SNR, dB (module docstring); the scenario's default if None.
    seed : int
        Seed of the speckle, clutter and noise (same seed, same signal).
    carrier_hz, angle_deg, sound_speed_m_s : float
        Insonation geometry.
    iq_imbalance : (float, float), optional
        ``(gain_db, phase_deg)``: Q is scaled by the gain and rotated toward I
        by the phase, ``Q' = g (Q cos(phi) + I sin(phi))``.
    second_db : float, optional
        Power of the second vessel against the vessel under study, dB, -30 to
        +30 (two-vessel scenarios only; the scenario's own if None).
    degradations : Degradations, optional
        Real-world degradations (:class:`~dopplerflow.sim.degrade.Degradations`), all
        checked here.  The noise slope, the tones and the clicks are applied here; the
        low-pass, the resampling and the noise floor act on the channels
        (:func:`~dopplerflow.sim.degrade.record`, which :func:`write_scenario` calls).

    Returns
    -------
    Synthetic
        ``truth`` holds sample_rate_hz, carrier_hz, angle_deg, sound_speed_m_s,
        antegrade, vessel, reflux_threshold_s, reflux, flow, reflux_events,
        retrograde_episodes, snr_db, seed, scenario, duration_s, trace
        ``{"time_s", "velocity_cm_s"}`` every 5 ms (vessel under study, + antegrade),
        for two-vessel scenarios ``second_vessel``, and for scenarios that pulse
        (:attr:`~dopplerflow.sim.scenarios.Scenario.pulse`) their beats:
        ``beat_times_s`` (the start of each cycle whose systolic peak is in the
        recording), ``heart_rate_bpm`` and, per complete cycle, ``psv_cm_s``,
        ``edv_cm_s``, ``tamv_cm_s``, ``ri`` and ``pi``
        (:func:`~dopplerflow.sim.pulse.cycle_truth`); with degradations,
        ``degradations``: the options that differ from the defaults
        (:meth:`~dopplerflow.sim.degrade.Degradations.settings`), plus
        ``noise_corner_hz`` with a noise slope and ``click_start_s`` and
        ``click_duration_s`` with clicks.

    Raises
    ------
    SettingsError
        Unknown scenario, values out of range, or a sample rate too low for the
        scenario's Doppler shifts.
    """
    sc = _scenario(name, second_db)
    fs = _check_number("sample rate", sample_rate_hz, 8000, 192000,
                       "use 8000-192000 Hz (--sample-rate)")
    duration = sc.duration_s if duration_s is None else _check_number(
        "duration", duration_s, 0.1, 600, "give the length in seconds (--duration)")
    snr = sc.snr_db if snr_db is None else _check_number(
        "SNR", snr_db, -30, 80, "give the in-band SNR in dB (--snr-db)")
    check_geometry(carrier_hz, angle_deg, sound_speed_m_s)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SettingsError(f"seed {seed!r} must be a non-negative integer")
    deg = _degradations(degradations, fs, duration)
    if deg is not None and deg.clutter_db is not None:
        sc = dataclasses.replace(sc, clutter_db=deg.clutter_db)
    n = int(round(duration * fs))
    t = np.arange(n) / fs
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(4)]

    def hz(v_cm_s):
        return doppler_shift_hz(v_cm_s, carrier_hz, angle_deg, sound_speed_m_s)

    v = _velocity(sc.velocity, t) * (1.0 if sc.flow else 0.0)
    v2 = None if sc.second is None else _velocity(sc.second.velocity, t)
    peak_hz = hz(float(np.abs(v).max()))
    all_peak_hz = peak_hz if v2 is None else max(peak_hz, hz(float(np.abs(v2).max())))
    if 1.15 * all_peak_hz >= fs / 2:  # edge plus transit-time broadening below Nyquist
        raise SettingsError(
            f"scenario {name!r} reaches a Doppler shift of {all_peak_hz:.0f} Hz, which needs a "
            f"sample rate above {2.3 * all_peak_hz:.0f} Hz; raise --sample-rate or lower "
            f"--carrier-mhz")
    parts = _blood_and_clutter(sc, t, v, v2, fs, streams, hz,
                               (carrier_hz, angle_deg, sound_speed_m_s))
    band_hz = peak_hz if sc.flow and peak_hz > 0 else hz(NO_FLOW_REFERENCE_CM_S)
    white = streams[3].standard_normal(n) + 1j * streams[3].standard_normal(n)
    if deg is None or not deg.noise_slope_db_oct:
        noise_power = fs / band_hz * 10.0 ** (-snr / 10.0)
        parts["noise"] = math.sqrt(noise_power / 2.0) * white
    else:  # the same noise power from 0 to B as white noise (degrade's docstring)
        n0 = 10.0 ** (-snr / 10.0) / noise_band_integral(band_hz, deg.noise_slope_db_oct)
        parts["noise"] = math.sqrt(n0 * fs / 2.0) * shape_noise(white, fs,
                                                                  deg.noise_slope_db_oct)
    z = parts["blood"] + parts["other_blood"] + parts["clutter"] + parts["noise"]
    extra = {}
    if deg is not None:
        added, extra = baseband_parts(deg, t, fs, seed)
        parts.update(added)
        for part in added.values():
            z = z + part
    if iq_imbalance is not None:
        z = _imbalance(z, iq_imbalance)
    truth = _truth(sc, t, v, fs, duration, snr, seed, carrier_hz, angle_deg, sound_speed_m_s,
                   band_hz, hz)
    if deg is not None:
        truth["degradations"] = dict(deg.settings(), **extra)
    return Synthetic(baseband=z, truth=truth, sample_rate_hz=fs, parts=parts)


def _degradations(degradations, fs, duration):
    """``degradations`` checked for this rate and length; None when it asks for none."""
    if degradations is None:
        return None
    if not isinstance(degradations, Degradations):
        raise SettingsError(f"degradations {degradations!r} must be a "
                            f"dopplerflow.sim.degrade.Degradations")
    return degradations.check(fs, duration) if degradations.any else None


def _blood_and_clutter(sc, t, v, v2, fs, streams, hz, geometry):
    """The ``blood``, ``other_blood`` and ``clutter`` parts, each from its own stream."""
    n = len(t)
    parts = {"blood": np.zeros(n, complex), "other_blood": np.zeros(n, complex)}
    if sc.flow:
        parts["blood"] = blood_signal(_probe_sign(sc.antegrade) * hz(v), fs, streams[0],
                                      profile_exponent=sc.profile_exponent)
    if v2 is not None:
        parts["other_blood"] = 10.0 ** (sc.second.power_db / 20.0) * blood_signal(
            _probe_sign(sc.second.antegrade) * hz(v2), fs, streams[1],
            profile_exponent=sc.second.profile_exponent)
    parts["clutter"] = 10.0 ** (sc.clutter_db / 20.0) * wall_clutter(
        t, sc.heart_rate_hz, *geometry, streams[2])
    return parts


def _scenario(name, second_db):
    """The scenario ``name``, its second vessel at ``second_db`` if given."""
    sc = get_scenario(name)
    if second_db is None:
        return sc
    if sc.second is None:
        raise SettingsError(f"scenario {name!r} has one vessel in the beam: the second "
                            f"vessel's power applies to two-vessel scenarios (e.g. "
                            f"jugular_with_carotid)")
    power = _check_number("second vessel's power", second_db, -30, 30,
                          "give it in dB against the vessel under study (--second-db)")
    return dataclasses.replace(sc, second=dataclasses.replace(sc.second, power_db=power))


def _velocity(func, t):
    """Evaluate a scenario velocity (cm/s) at ``t``, flushing negligible values to 0."""
    v = np.asarray(func(t), dtype=float)
    return np.where(np.abs(v) < ZERO_VELOCITY_CM_S, 0.0, v)


def _imbalance(z, iq_imbalance):
    try:
        gain_db, phase_deg = (float(x) for x in iq_imbalance)
    except (TypeError, ValueError):
        raise SettingsError(
            f"iq_imbalance {iq_imbalance!r} must be (gain_db, phase_deg)") from None
    g, phi = 10.0 ** (gain_db / 20.0), math.radians(phase_deg)
    return z.real + 1j * g * (z.imag * math.cos(phi) + z.real * math.sin(phi))


def _truth(sc, t, v, fs, duration, snr, seed, carrier_hz, angle_deg, sound_speed_m_s,
           band_hz, hz):
    threshold = sc.reflux_threshold_s
    events, episodes = truth_intervals(t, v, threshold)
    trace_t = np.arange(0.0, duration - 1e-9, TRACE_HOP_S)
    trace_v = _velocity(sc.velocity, trace_t) * (1.0 if sc.flow else 0.0)
    truth = {
        "scenario": sc.name, "description": sc.description, "physiology": sc.physiology,
        "sample_rate_hz": fs, "duration_s": round(len(t) / fs, 6),
        "carrier_hz": float(carrier_hz), "angle_deg": float(angle_deg),
        "sound_speed_m_s": float(sound_speed_m_s), "antegrade": sc.antegrade,
        "vessel": sc.vessel, "reflux_threshold_s": threshold,
        "flow": bool(sc.flow and np.abs(v).max() > 0.0),
        "reflux": bool(events), "reflux_events": events, "retrograde_episodes": episodes,
        "peak_velocity_cm_s": round(float(np.abs(v).max()), 3),
        "peak_doppler_hz": round(float(hz(np.abs(v).max())), 3),
        "snr_db": float(snr), "snr_band_hz": round(float(band_hz), 3), "seed": int(seed),
        "profile_exponent": sc.profile_exponent, "clutter_db": sc.clutter_db,
        "trace": {"time_s": [round(float(x), 4) for x in trace_t],
                  "velocity_cm_s": [round(float(x), 3) for x in trace_v]},
    }
    if sc.pulse and sc.flow:
        truth.update(_beat_truth(sc, truth["duration_s"]))
    if sc.second is not None:
        truth["second_vessel"] = {
            "vessel": sc.second.vessel, "antegrade": sc.second.antegrade,
            "power_db": sc.second.power_db,
            "velocity_cm_s": [round(float(x), 3) for x in _velocity(sc.second.velocity,
                                                                     trace_t)]}
    return truth


def _beat_truth(sc, duration_s):
    """The truth's beat fields of a scenario that pulses, rounded as its other fields."""
    from .pulse import cycle_truth, scenario_pulse

    b = cycle_truth(scenario_pulse(sc.heart_rate_hz, duration_s), duration_s,
                    lambda t: _velocity(sc.velocity, t))
    hr = b["heart_rate_bpm"]
    return {"beat_times_s": [round(x, 4) for x in b["beat_times_s"]],
            "heart_rate_bpm": None if hr is None else round(hr, 3),
            **{k: [round(x, 3) for x in b[k]] for k in ("psv_cm_s", "edv_cm_s", "tamv_cm_s")},
            **{k: [round(x, 4) for x in b[k]] for k in ("ri", "pi")}}


# ---------------------------------------------------------------------------------- files
def full_scale_per_unit(data, headroom_db=HEADROOM_DB):
    """Scale that puts the peak of ``data`` ``headroom_db`` below full scale (1 if silent)."""
    peak = float(np.abs(data).max()) if np.size(data) else 0.0
    return 10.0 ** (-headroom_db / 20.0) / peak if peak > 0 else 1.0


def write_audio(path, data, sample_rate_hz, *, subtype="PCM_16", headroom_db=HEADROOM_DB):
    """Peak-normalise, quantise and write audio; return the scale applied.

    Parameters
    ----------
    path : str or os.PathLike
        ``.wav`` or ``.flac``.
    data : ndarray, shape (frames, channels), float
        Audio in any units.
    sample_rate_hz : float
        Sample rate, Hz (rounded to an integer for the file header).
    subtype : str
        ``PCM_16`` or ``PCM_24`` (quantised here, by rounding), 8 bits as
        ``PCM_U8`` (WAV) or ``PCM_S8`` (FLAC), or ``FLOAT`` (WAV only,
        unquantised).
    headroom_db : float
        The peak sits this far below full scale, dB (no clipping).

    Returns
    -------
    float
        Full-scale units per input unit.

    Raises
    ------
    SettingsError
        Unsupported extension or subtype.
    AudioFileError
        The file cannot be written.
    """
    import soundfile as sf

    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in (".wav", ".flac"):
        raise SettingsError(f"output {os.fspath(path)!r} must end in .wav or .flac "
                            f"(lossless formats keep the Doppler spectrum intact)")
    allowed = ("PCM_16", "PCM_24", EIGHT_BIT_SUBTYPE[ext]) + (("FLOAT",) if ext == ".wav" else ())
    if subtype not in allowed:
        raise SettingsError(f"subtype {subtype!r} is not supported for {ext}; use "
                            f"{', '.join(allowed)}")
    if not (math.isfinite(headroom_db) and headroom_db >= 0.0):
        raise SettingsError(f"headroom {headroom_db!r} dB must be a non-negative number")
    x = np.asarray(data, dtype=float)
    scale = full_scale_per_unit(x, headroom_db)
    if subtype == "FLOAT":
        out = (x * scale).astype(np.float32)
    else:
        bits = _SUBTYPE_BITS[subtype]
        # full scale 2**(bits-1), as soundfile reads integers back; the headroom keeps
        # the peak well inside the positive limit 2**(bits-1) - 1
        full = 2.0 ** (bits - 1)
        q = np.clip(np.round(x * scale * full), -full, full - 1)  # clips only at 0 dB headroom
        if bits == 8:  # soundfile keeps the top 8 bits of 16 (and adds 128 for PCM_U8)
            out = q.astype(np.int16) * 256
        else:
            out = q.astype(np.int16) if bits == 16 else q.astype(np.int32) * 256  # top 24 bits
    try:
        sf.write(os.fspath(path), out, int(round(sample_rate_hz)), subtype=subtype)
    except (sf.LibsndfileError, OSError) as exc:
        raise AudioFileError(f"cannot write {os.fspath(path)!r}: {exc}") from None
    return scale


def truth_path(audio_path):
    """Sidecar path of an audio file: ``OUT.wav`` -> ``OUT.truth.json``."""
    return os.path.splitext(os.fspath(audio_path))[0] + ".truth.json"


def write_scenario(name, path, *, layout="iq", snr_db=None, seed=0, sample_rate_hz=48000,
                   duration_s=None, carrier_hz=8e6, angle_deg=60.0, offset_hz=None,
                   subtype=None, invert=False, iq_imbalance=None, sound_speed_m_s=1540.0,
                   second_db=None, hum_dbfs=None, mains_hz=50.0, degradations=None):
    """Synthesise a scenario and write ``path`` plus its ``.truth.json`` sidecar.

    Parameters
    ----------
    name : str
        Scenario name.
    path : str or os.PathLike
        Output audio, ``.wav`` or ``.flac``.
    layout : str
        Channel layout, one of :data:`dopplerflow.core.layouts.LAYOUTS`.
    snr_db, seed, sample_rate_hz, duration_s, carrier_hz, angle_deg, iq_imbalance
    sound_speed_m_s, second_db
        As :func:`synthesize`.
    offset_hz : float, optional
        Zero-velocity frequency for ``layout="offset"`` (``fs / 4`` if None).
    subtype : str, optional
        ``PCM_16`` (default) or ``PCM_24``, 8 bits (``PCM_U8`` for WAV, ``PCM_S8``
        for FLAC), or ``FLOAT`` for WAV.
    invert : bool
        Write with the opposite quadrature convention.
    hum_dbfs : float, optional
        Add mains hum (:func:`mains_hum`) at this rms level on the first
        channel, dB full scale, -100 to -6.
    mains_hz : float
        Its mains frequency, 50 or 60.
    degradations : Degradations, optional
        Real-world degradations (:mod:`dopplerflow.sim.degrade`): the baseband ones
        in :func:`synthesize`, then the low-pass, the resampling and the noise floor
        on the channels (:func:`~dopplerflow.sim.degrade.record`); the hum is added
        at the rate written.

    Returns
    -------
    dict
        The truth record as written, plus ``layout``, ``invert``, ``offset_hz``,
        ``subtype``, ``audio_file``, ``full_scale_per_unit`` and, with hum,
        ``hum`` (``mains_hz``, ``drift_hz``, ``level_dbfs`` as written).  Resampled,
        its ``sample_rate_hz`` and ``duration_s`` are the file's, and
        ``degradations`` also holds ``resampled_from_hz``; low-passed,
        ``lowpass_order``; written in 8 bits, ``bits: 8``.

    Raises
    ------
    SettingsError
        Unknown scenario or layout, values out of range.
    AudioFileError
        The files cannot be written.
    """
    syn = synthesize(name, sample_rate_hz=sample_rate_hz, duration_s=duration_s, snr_db=snr_db,
                     seed=seed, carrier_hz=carrier_hz, angle_deg=angle_deg,
                     sound_speed_m_s=sound_speed_m_s, iq_imbalance=iq_imbalance,
                     second_db=second_db, degradations=degradations)
    offset_hz = _offset(syn, offset_hz) if layout == "offset" else None
    data = to_layout(syn.baseband, layout, syn.sample_rate_hz, offset_hz=offset_hz,
                     invert=invert)
    data, fs, recorded = record(data, syn.sample_rate_hz, degradations, seed)
    hum = None
    if hum_dbfs is not None:
        _check_number("hum level", hum_dbfs, -100.0, -6.0, "give an rms level in dBFS, e.g. -40")
        if mains_hz not in (50.0, 60.0):
            raise SettingsError(f"mains frequency {mains_hz!r} Hz is not 50 or 60")
        # at the level asked for once the recording is scaled to full scale (as below)
        hum = mains_hum(len(data), fs, data.shape[1],
                        10.0 ** (hum_dbfs / 20.0) / full_scale_per_unit(data),
                        mains_hz=mains_hz, seed=seed)
        data = data + hum
    subtype = "PCM_16" if subtype is None else subtype
    scale = write_audio(path, data, fs, subtype=subtype)
    truth = dict(syn.truth, layout=layout, invert=bool(invert), offset_hz=offset_hz,
                 subtype=subtype, audio_file=os.path.basename(os.fspath(path)),
                 full_scale_per_unit=scale)
    _recorded_truth(truth, recorded, fs, len(data), subtype)
    if hum is not None:
        level = 20.0 * np.log10(scale * float(np.sqrt(np.mean(hum[:, 0] ** 2))))
        truth["hum"] = {"mains_hz": float(mains_hz), "drift_hz": HUM_DRIFT_HZ,
                        "level_dbfs": round(float(level), 2)}
    try:
        with open(truth_path(path), "w", encoding="utf-8") as fh:
            json.dump(truth, fh, indent=1)
            fh.write("\n")
    except OSError as exc:
        raise AudioFileError(f"cannot write {truth_path(path)!r}: {exc.strerror}") from None
    return truth


def _recorded_truth(truth, recorded, sample_rate_hz, n_frames, subtype):
    """Update a truth record for what the recorder and the writer did to the channels."""
    extra = dict(recorded)
    if _SUBTYPE_BITS.get(subtype) == 8:
        extra["bits"] = 8
    if not extra:
        return
    truth["degradations"] = dict(truth.get("degradations", {}), **extra)
    if "resampled_from_hz" in extra:  # times stay seconds from the first sample
        truth["sample_rate_hz"] = sample_rate_hz
        truth["duration_s"] = round(n_frames / sample_rate_hz, 6)


def _offset(syn, offset_hz):
    """The zero-velocity frequency of the ``offset`` layout, checked against the flow."""
    fs = syn.sample_rate_hz
    offset_hz = fs / 4.0 if offset_hz is None else float(offset_hz)
    room = min(offset_hz, fs / 2.0 - offset_hz)
    if 1.15 * syn.truth["peak_doppler_hz"] >= room:
        raise SettingsError(
            f"offset {offset_hz:g} Hz leaves {room:.0f} Hz each side, less than the "
            f"scenario's Doppler shift of {syn.truth['peak_doppler_hz']:.0f} Hz; raise "
            f"--sample-rate or put --offset-hz near fs/4")
    return offset_hz
