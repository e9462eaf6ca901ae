"""The Doppler equation: Doppler shift to blood velocity.

``v = c * f_d / (2 * f0 * cos(angle))`` with ``c`` the speed of sound in
tissue (1540 m/s by default), ``f0`` the carrier and ``angle`` the angle
between the beam and the flow.
"""

import math

from ..errors import SettingsError, option

__all__ = ["cm_s_per_hz", "doppler_shift_hz", "check_geometry", "ANGLE_WARN_DEG"]

#: Above this insonation angle, small angle errors give large velocity errors.
ANGLE_WARN_DEG = 70.0


def check_geometry(carrier_hz, angle_deg, sound_speed_m_s):
    """Validate the insonation geometry; return warnings (list of str).

    Raises
    ------
    SettingsError
        Angle outside [0, 90), carrier outside 1-20 MHz, sound speed outside
        1000-2000 m/s, or any of them not finite.
    """
    for name, flag, keyword, value in (
            ("carrier", "--carrier-mhz", "carrier_hz", carrier_hz),
            ("angle", "--angle", "angle_deg", angle_deg),
            ("sound speed", "--sound-speed", "sound_speed_m_s", sound_speed_m_s)):
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SettingsError(f"{name} {option(flag, keyword)} must be a finite number, "
                                f"got {value!r}")
    if not 0.0 <= angle_deg < 90.0:
        raise SettingsError(
            f"angle {option(f'--angle {angle_deg:g}', f'angle_deg={angle_deg:g}')} is outside "
            f"[0, 90) degrees; give the angle between the beam and the vessel (at 90 degrees "
            f"no Doppler shift is measurable)")
    if not 1e6 <= carrier_hz <= 20e6:
        raise SettingsError(
            f"carrier {option(f'--carrier-mhz {carrier_hz / 1e6:g}', f'carrier_hz={carrier_hz:g}')}"
            f" is outside 1-20 MHz; vascular CW probes use 2-10 MHz: a typical pencil probe "
            f"is {option('--carrier-mhz 8', 'carrier_hz=8e6, in Hz')}")
    if not 1000.0 <= sound_speed_m_s <= 2000.0:
        speed = option(f"--sound-speed {sound_speed_m_s:g}",
                       f"sound_speed_m_s={sound_speed_m_s:g}")
        raise SettingsError(f"sound speed {speed} is outside 1000-2000 m/s (soft tissue is "
                            f"about 1540 m/s)")
    if angle_deg > ANGLE_WARN_DEG:
        pct = _angle_error_pct(angle_deg)
        change = (f"by {pct:.0f}%" if pct is not None else
                  "without bound (at 90 degrees there is no Doppler shift)")
        return [f"angle {angle_deg:g} degrees is above {ANGLE_WARN_DEG:g}: a 5 degree angle "
                f"error changes velocities {change}"]
    return []


def _angle_error_pct(angle_deg, error_deg=5.0):
    """Velocity error in percent caused by an angle error of ``error_deg`` (the angle
    ``error_deg`` more than stated), or None where that reaches 90 degrees: no bound."""
    if angle_deg + error_deg >= 90.0:
        return None
    c0 = math.cos(math.radians(angle_deg))
    c1 = math.cos(math.radians(angle_deg + error_deg))
    return 100.0 * (c0 / c1 - 1.0)


def cm_s_per_hz(carrier_hz, angle_deg, sound_speed_m_s=1540.0):
    """Velocity in cm/s per hertz of Doppler shift.

    Parameters
    ----------
    carrier_hz : float
        Transmit frequency ``f0``, Hz.
    angle_deg : float
        Beam-to-flow angle, degrees, in [0, 90).
    sound_speed_m_s : float
        Speed of sound, m/s.

    Returns
    -------
    float
        ``100 * c / (2 * f0 * cos(angle))``.
    """
    return 100.0 * sound_speed_m_s / (2.0 * carrier_hz * math.cos(math.radians(angle_deg)))


def doppler_shift_hz(velocity_cm_s, carrier_hz, angle_deg, sound_speed_m_s=1540.0):
    """Doppler shift in Hz of a velocity in cm/s (the inverse of the equation)."""
    return velocity_cm_s / cm_s_per_hz(carrier_hz, angle_deg, sound_speed_m_s)
