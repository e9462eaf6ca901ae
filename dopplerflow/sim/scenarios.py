"""Named scenarios: the centre-line velocity of a vessel over time, with its physiology.

Each :class:`Scenario` holds a signed velocity function ``v(t)`` in the vessel's
**anatomical** convention (cm/s, + antegrade = the normal direction, toward the
heart for veins and away from it for arteries), the probe direction of antegrade
flow (``"toward"`` or ``"away"``), the vessel preset of
:data:`dopplerflow.core.reflux.VESSELS` (which fixes the reflux threshold) and a
default duration and SNR.  :mod:`dopplerflow.sim.synth` turns a scenario into audio
and a truth record.

Reversals are brisk where physiology makes them brisk (a valve that fails under a
Valsalva reverses flow within a few tens of ms); ``femoral_reflux`` keeps slow
ramps of a few hundred ms so that a detector is also tested on transitions that
linger below the wall filter.

All velocity functions are vectorised (``t`` is an array of seconds) and return
exactly 0 where the vessel has no flow.
"""

from dataclasses import dataclass

import numpy as np

from ..core.vessels import VESSELS
from ..errors import SettingsError

__all__ = ["Scenario", "SecondVessel", "SCENARIOS", "REFLUX_THRESHOLD_S", "get_scenario",
           "list_scenarios"]

#: Reflux thresholds in seconds of the vessel presets (:data:`dopplerflow.core.reflux.VESSELS`:
#: Zamboni 2009 for the neck, Labropoulos 2003 for the leg); ``None``: no reflux rule.
REFLUX_THRESHOLD_S = {name: preset[0] for name, preset in VESSELS.items()}


@dataclass(frozen=True)
class SecondVessel:
    """A second vessel inside the beam, recorded but not under study.

    Attributes
    ----------
    vessel : str
        Preset name of the second vessel.
    antegrade : str
        Probe direction of its antegrade flow, ``"toward"`` or ``"away"``.
    velocity : callable
        ``velocity(t) -> v`` in cm/s, + antegrade, ``t`` in seconds.
    power_db : float
        Its backscattered power relative to the vessel under study, dB.
    profile_exponent : float
        Exponent of its velocity profile (see :class:`Scenario`).
    """

    vessel: str
    antegrade: str
    velocity: object
    power_db: float = 0.0
    profile_exponent: float = 2.0


@dataclass(frozen=True)
class Scenario:
    """One named recording situation.

    Attributes
    ----------
    name : str
        Identifier used on the command line.
    description : str
        One line for ``dopplerflow simulate --list``.
    vessel : str
        Preset of :data:`dopplerflow.core.reflux.VESSELS` for the vessel under study.
    antegrade : str
        Probe direction of antegrade flow, ``"toward"`` or ``"away"``.
    duration_s : float
        Default length, s.
    velocity : callable
        ``velocity(t) -> v``: signed centre-line velocity in cm/s (+ antegrade)
        at the times ``t`` (s, array); its docstring describes the physiology.
    snr_db : float
        Default in-band SNR, dB (definition in :mod:`dopplerflow.sim.synth`).
    profile_exponent : float
        ``n`` of the profile ``v(r) = v_c (1 - (r/R)^n)``: 2 is parabolic
        (uniform Doppler power from 0 to the edge), larger is blunter (power
        piled up near the edge).
    heart_rate_hz : float
        Cardiac rate driving the wall motion, Hz.
    clutter_db : float
        Wall clutter power above the blood power, dB.
    flow : bool
        False when the beam holds no moving blood at all.
    second : SecondVessel or None
        Another vessel in the beam; the truth describes the vessel under study.
    pulse : bool
        The vessel under study pulses with the heart all through the recording,
        one cycle every ``1 / heart_rate_hz`` from phase 0 (the foot of the
        systolic upstroke): the truth holds its beats
        (:func:`dopplerflow.sim.pulse.cycle_truth`).
    """

    name: str
    description: str
    vessel: str
    antegrade: str
    duration_s: float
    velocity: object
    snr_db: float = 12.0
    profile_exponent: float = 2.0
    heart_rate_hz: float = 1.1
    clutter_db: float = 50.0
    flow: bool = True
    second: SecondVessel | None = None
    pulse: bool = False

    @property
    def reflux_threshold_s(self):
        """Reflux threshold of :attr:`vessel`, s (``None`` for arteries)."""
        return REFLUX_THRESHOLD_S[self.vessel]

    @property
    def physiology(self):
        """The physiology behind :attr:`velocity`, as written in its docstring."""
        return " ".join((self.velocity.__doc__ or "").split())


# ----------------------------------------------------------------------------- shapes
def _step(t, t0, rise_s):
    """Raised-cosine step: 0 before ``t0``, 1 after ``t0 + rise_s`` (exact 0 and 1)."""
    x = np.clip((np.asarray(t, dtype=float) - t0) / max(rise_s, 1e-9), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * x)


def _window(t, t_on, t_off, rise_s, fall_s):
    """1 between ``t_on + rise_s`` and ``t_off``, 0 outside ``[t_on, t_off + fall_s]``."""
    return _step(t, t_on, rise_s) * (1.0 - _step(t, t_off, fall_s))


def _gauss(x, mu, sigma):
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2)


def _cycle_phase(t, rate_hz):
    return np.mod(np.asarray(t, dtype=float) * rate_hz, 1.0)


def _respiration(t, rate_hz=0.25, depth=0.3):
    """Respiratory modulation around 1: venous return rises on inspiration."""
    return 1.0 + depth * np.sin(2.0 * np.pi * rate_hz * np.asarray(t, dtype=float))


def _venous_cardiac(t, rate_hz=1.1, a_wave=0.3):
    """Jugular/caval cardiac modulation: S wave, D wave and the a-wave dip.

    Mean close to 1.  The S wave (ventricular systole, atrial floor descent) is
    the largest antegrade peak, the D wave (tricuspid opening) the second; the
    a-wave (atrial contraction) pulls flow down to about ``-a_wave`` times the
    mean: a brief reversal when ``a_wave > 0``, a dip that stays antegrade when
    ``a_wave < 0``.
    """
    p = _cycle_phase(t, rate_hz)
    return (0.45 + 0.9 * _gauss(p, 0.30, 0.09) + 0.55 * _gauss(p, 0.64, 0.07)
            - (0.45 + a_wave) * _gauss(p, 0.93, 0.03))


def _arterial_triphasic(t, rate_hz=1.15, peak_cm_s=80.0):
    """Peripheral artery: systolic peak, early-diastolic reversal, late forward wave."""
    p = _cycle_phase(t, rate_hz)
    return peak_cm_s * (_gauss(p, 0.12, 0.045) - 0.2 * _gauss(p, 0.27, 0.04)
                        + 0.12 * _gauss(p, 0.42, 0.05))


# -------------------------------------------------------------------------- velocities
def _jugular_phasic(t):
    """Internal jugular vein at rest, supine: continuous antegrade flow toward the
    heart, about 18 cm/s on average, modulated by respiration (0.25 Hz, +-30%, more
    flow on inspiration) and by the cardiac cycle (S and D waves). The atrial a-wave
    briefly reverses flow for some 50-100 ms each beat, a normal finding far
    shorter than the 0.88 s IJV reflux threshold."""
    return 18.0 * _respiration(t) * _venous_cardiac(t, a_wave=0.3)


def _jugular_valsalva(t):
    """Internal jugular vein with an incompetent valve under a Valsalva manoeuvre:
    phasic antegrade flow (~16 cm/s) for 4 s; on straining the intrathoracic pressure
    rises, antegrade flow stops within 0.3 s and flow reverses briskly (40 ms) at
    about 15 cm/s for about 2 s (reflux, longer than 0.88 s); the column then stands
    still until release at 7.2 s, when a 30 cm/s antegrade surge decays over ~1 s
    back into phasic flow."""
    phasic = 16.0 * _respiration(t) * _venous_cardiac(t, a_wave=-0.15)
    strain = _window(t, 4.0, 7.2, 0.3, 0.05)
    reflux = -15.0 * _window(t, 4.35, 6.3, 0.04, 0.06) * (1.0 + 0.1 * np.sin(2 * np.pi * 1.3 * t))
    surge = 30.0 * np.exp(-np.clip(t - 7.2, 0.0, None) / 0.8) * _step(t, 7.2, 0.05)
    return phasic * (1.0 - strain) + reflux + surge


def _jugular_valve_closure(t):
    """Internal jugular vein with a competent valve under a Valsalva manoeuvre: at
    strain onset (4 s) a brief reversal of ~12 cm/s lasting about 0.45 s closes the
    valve (shorter than the 0.88 s threshold: not reflux); flow then stays at zero
    while the valve holds, and a surge follows the release at 7 s."""
    phasic = 16.0 * _respiration(t) * _venous_cardiac(t, a_wave=-0.15)
    strain = _window(t, 4.0, 7.0, 0.25, 0.05)
    closure = -12.0 * _window(t, 4.25, 4.65, 0.04, 0.05)
    surge = 28.0 * np.exp(-np.clip(t - 7.0, 0.0, None) / 0.7) * _step(t, 7.0, 0.05)
    return phasic * (1.0 - strain) + closure + surge


def _vertebral_repeated(t):
    """Vertebral vein with repeated reflux: slow antegrade flow of ~9 cm/s with mild
    respiratory modulation, interrupted three times (at 2.0, 6.0 and 10.5 s) by
    reversals of 8-11 cm/s lasting 1.1-1.6 s (each longer than the 0.88 s
    threshold), as seen with venous outflow obstruction and posture changes."""
    base = 9.0 * _respiration(t, 0.22, 0.25) * (1.0 + 0.15 * np.sin(2 * np.pi * 1.1 * t))
    out = np.array(base, dtype=float)
    for t_on, dur, peak in ((2.0, 1.1, 9.0), (6.0, 1.6, 11.0), (10.5, 1.2, 8.0)):
        w = _window(t, t_on, t_on + dur, 0.06, 0.06)
        out = out * (1.0 - w) - peak * w
    return out


def _gsv_squeeze_reflux(t):
    """Great saphenous vein, patient standing, incompetent saphenofemoral junction:
    resting flow of ~3 cm/s; a calf squeeze (1.5 s and 7.5 s) drives a 30 cm/s
    antegrade surge over ~0.8 s; on release the column falls back, reversing
    briskly to ~20 cm/s and decaying over 1.5-2 s (reflux, longer than 0.5 s)."""
    out = 3.0 * (1.0 + 0.2 * np.sin(2 * np.pi * 0.25 * t))
    for t0 in (1.5, 7.5):
        squeeze = _window(t, t0, t0 + 0.6, 0.15, 0.2)
        release = _window(t, t0 + 0.85, t0 + 2.6, 0.04, 0.3)
        decay = np.exp(-np.clip(t - (t0 + 0.85), 0.0, None) / 1.2)
        out = out * (1.0 - squeeze) * (1.0 - release) + 30.0 * squeeze - 20.0 * release * decay
    return out


def _femoral_competent(t):
    """Common femoral vein with competent valves, supine: phasic flow of ~12 cm/s
    with respiration (it stops on deep inspiration); a Valsalva at 3 s causes the
    normal brief reversal of ~10 cm/s for ~0.45 s while the valve closes (under the
    1.0 s femoral threshold), then no flow until release at 6 s and an augmented
    antegrade surge."""
    phasic = 12.0 * _respiration(t, 0.2, 0.5)
    strain = _window(t, 3.0, 6.0, 0.2, 0.05)
    closure = -10.0 * _window(t, 3.2, 3.6, 0.04, 0.05)
    surge = 25.0 * np.exp(-np.clip(t - 6.0, 0.0, None) / 0.8) * _step(t, 6.0, 0.05)
    return phasic * (1.0 - strain) + closure + surge


def _femoral_reflux(t):
    """Common femoral vein with deep venous reflux, with SLOW transitions: phasic
    flow of ~12 cm/s; during a Valsalva from 3 s flow decays over 0.4 s and
    reverses over a further 0.4 s ramp to ~14 cm/s, lasting about 3.2 s between
    the zero crossings (longer than the 1.0 s threshold), returning slowly (0.5 s)
    to zero; release at 7.5 s
    brings back antegrade flow over 0.3 s. The slow ramps keep |v| below a typical
    wall filter for a few hundred ms around each zero crossing."""
    phasic = 12.0 * _respiration(t, 0.2, 0.4)
    strain = _window(t, 3.0, 7.5, 0.4, 0.3)
    reflux = -14.0 * _window(t, 3.4, 6.1, 0.4, 0.5)
    return phasic * (1.0 - strain) + reflux


def _perforator_reflux(t):
    """Incompetent calf perforator: little flow at rest (~2 cm/s inward); a
    distal squeeze (2 s and 6 s) drives ~15 cm/s inward flow (antegrade: superficial
    to deep); on release blood flows outward at ~12 cm/s for about 0.6 s, longer
    than the 0.35 s perforator threshold (reflux)."""
    out = np.full(np.shape(t), 2.0)
    for t0 in (2.0, 6.0):
        squeeze = _window(t, t0, t0 + 0.5, 0.1, 0.15)
        release = _window(t, t0 + 0.7, t0 + 1.3, 0.03, 0.1)
        out = out * (1.0 - squeeze) * (1.0 - release) + 15.0 * squeeze - 12.0 * release
    return out


def _artery_triphasic(t):
    """Peripheral (femoral) artery at 69 beats/min: triphasic waveform with an 80
    cm/s systolic peak, an early-diastolic reversal of ~11 cm/s lasting ~0.1 s and
    a small late forward wave, then near-zero late diastole. Reversal is normal
    here: arteries have no reflux rule."""
    return _arterial_triphasic(t)


def _carotid_pulse(t):
    """Common carotid artery at 66 beats/min, as a sonographer insonates it: low-resistance
    pulsatile flow with a systolic peak of ~70 cm/s 0.18 s after the foot of the
    upstroke, a small dicrotic wave, and ~20 cm/s forward flow all through diastole (no
    reversal): the end-diastolic velocity that a high-resistance triphasic artery lacks,
    for the pulsatility indices."""
    p = _cycle_phase(t, 1.1)
    return 20.0 + 50.0 * _gauss(p, 0.2, 0.06) + 8.0 * _gauss(p, 0.42, 0.05)


def _no_flow(t):
    """No moving blood in the beam (probe over tissue, or a thrombosed or
    compressed vein): only wall/tissue clutter and noise."""
    return np.zeros(np.shape(t))


def _carotid(t):
    """Common carotid artery: low-resistance pulsatile flow, systolic ~70 cm/s,
    diastolic ~20 cm/s, no reversal."""
    p = _cycle_phase(t, 1.1)
    return 20.0 + 50.0 * _gauss(p, 0.13, 0.06) + 8.0 * _gauss(p, 0.35, 0.05)


def _jugular_with_carotid(t):
    """Internal jugular vein (under study, antegrade away from the probe) with the
    common carotid artery beside it in the beam, flowing the other way (toward the
    probe, cranially). The vein has a Valsalva reflux of ~2 s as in
    jugular_valsalva; its reflux travels in the carotid's direction. The truth
    describes the vein only; an analyser that reads direction alone will see the
    carotid as continuous retrograde flow."""
    return _jugular_valsalva(t)


def _low_snr_gsv(t):
    """Great saphenous vein squeeze-release with reflux (as gsv_squeeze_reflux)
    recorded with poor coupling: default in-band SNR 4 dB."""
    return _gsv_squeeze_reflux(t)


# ---------------------------------------------------------------------------- library
_LIST = (
    Scenario("jugular_phasic", "IJV at rest: respiratory and cardiac phasic flow, short a-wave "
             "reversals, no reflux", "ijv", "away", 12.0, _jugular_phasic, profile_exponent=4.0,
             pulse=True),
    Scenario("jugular_valsalva", "IJV Valsalva with an incompetent valve: ~2 s reflux",
             "ijv", "away", 12.0, _jugular_valsalva, profile_exponent=4.0),
    Scenario("jugular_valve_closure", "IJV Valsalva, competent valve: 0.45 s closure reversal, "
             "no reflux", "ijv", "away", 10.0, _jugular_valve_closure, profile_exponent=4.0),
    Scenario("vertebral_repeated", "vertebral vein with three reflux episodes of 1.1-1.6 s",
             "vv", "toward", 14.0, _vertebral_repeated, profile_exponent=3.0),
    Scenario("gsv_squeeze_reflux", "great saphenous vein, two squeeze-releases each followed "
             "by reflux", "gsv", "toward", 12.0, _gsv_squeeze_reflux),
    Scenario("femoral_competent", "common femoral vein, Valsalva with a 0.45 s valve-closure "
             "reversal, no reflux", "femoral", "away", 10.0, _femoral_competent,
             profile_exponent=4.0),
    Scenario("femoral_reflux", "common femoral vein reflux of ~3.2 s with slow (0.4-0.5 s) "
             "transitions", "femoral", "away", 10.0, _femoral_reflux, profile_exponent=4.0),
    Scenario("perforator_reflux", "calf perforator: outward flow of 0.6 s after each release",
             "perforator", "toward", 9.0, _perforator_reflux, clutter_db=45.0),
    Scenario("artery_triphasic", "femoral artery, triphasic pulsatile flow, no reflux rule",
             "artery", "toward", 8.0, _artery_triphasic, heart_rate_hz=1.15, pulse=True),
    Scenario("carotid", "common carotid artery, low-resistance pulsatile flow, forward all "
             "through diastole", "artery", "toward", 8.0, _carotid_pulse, pulse=True),
    Scenario("no_flow", "no moving blood: wall clutter and noise only", "gsv", "toward", 8.0,
             _no_flow, flow=False),
    Scenario("jugular_with_carotid", "IJV Valsalva reflux with the carotid in the beam, "
             "flowing the other way", "ijv", "away", 12.0, _jugular_with_carotid,
             profile_exponent=4.0,
             second=SecondVessel("artery", "toward", _carotid, power_db=-3.0)),
    Scenario("low_snr_gsv", "great saphenous squeeze-release reflux at 4 dB in-band SNR",
             "gsv", "toward", 12.0, _low_snr_gsv, snr_db=4.0),
)

#: Every scenario by name.
SCENARIOS = {s.name: s for s in _LIST}


def list_scenarios():
    """Names and one-line descriptions of every scenario.

    Returns
    -------
    list of (str, str)
        ``(name, description)`` in library order.
    """
    return [(s.name, s.description) for s in _LIST]


def get_scenario(name):
    """Look a scenario up by name.

    Raises
    ------
    SettingsError
        ``name`` is not in the library.
    """
    try:
        return SCENARIOS[name]
    except (KeyError, TypeError):
        raise SettingsError(
            f"scenario {name!r} is not known; use one of {', '.join(SCENARIOS)} "
            f"(dopplerflow simulate --list describes them)") from None
