"""Vessel presets and their reflux thresholds.

Reflux is retrograde flow that lasts longer than the vessel's threshold: Labropoulos
(2003) for leg veins (> 0.5 s superficial, > 1.0 s femoral and popliteal, > 0.35 s
perforators) and Zamboni (2009) for neck and cerebral veins (> 0.88 s jugular and
vertebral, > 0.5 s deep cerebral veins).
"""

import numpy as np

from ..errors import SettingsError

__all__ = ["VESSELS", "SLOW_FLOW_VESSELS", "DEFAULT_THRESHOLD_S", "reflux_threshold"]

#: Vessel presets: reflux threshold in seconds (None: no reflux rule) and source.
VESSELS = {
    "ijv": (0.88, "internal jugular vein, Zamboni 2009"),
    "vv": (0.88, "vertebral vein, Zamboni 2009"),
    "dcv": (0.5, "deep cerebral veins, Zamboni 2009"),
    "gsv": (0.5, "great saphenous vein, Labropoulos 2003"),
    "ssv": (0.5, "small saphenous vein, Labropoulos 2003"),
    "deep-femoral": (0.5, "deep femoral vein, Labropoulos 2003"),
    "calf": (0.5, "calf veins, Labropoulos 2003"),
    "femoral": (1.0, "femoral vein, Labropoulos 2003"),
    "popliteal": (1.0, "popliteal vein, Labropoulos 2003"),
    "perforator": (0.35, "perforator veins, Labropoulos 2003"),
    "artery": (None, "artery: no reflux rule"),
}
#: Presets of slow-flow veins, whose peak velocities stay under about 20 cm/s (1 kHz
#: at 8 MHz and 60 degrees): their spectra need a finer frequency resolution
#: (:data:`dopplerflow.settings.SLOW_FLOW_WINDOW_S`).
SLOW_FLOW_VESSELS = ("vv", "dcv", "calf", "perforator")
#: Threshold used when neither a vessel nor a threshold is given.
DEFAULT_THRESHOLD_S = 0.5


def reflux_threshold(vessel, threshold_s):
    """Resolve the reflux threshold in seconds (None for ``artery``).

    Raises
    ------
    SettingsError
        Unknown vessel or a non-positive threshold.
    """
    if vessel is not None and vessel not in VESSELS:
        raise SettingsError(f"vessel '{vessel}' is not known; use one of {', '.join(VESSELS)}")
    if threshold_s is not None:
        if not threshold_s > 0 or not np.isfinite(threshold_s):
            raise SettingsError(f"reflux threshold {threshold_s!r} s must be a positive number "
                                f"of seconds (e.g. 0.5)")
        return float(threshold_s)
    if vessel is None:
        return DEFAULT_THRESHOLD_S
    return VESSELS[vessel][0]
