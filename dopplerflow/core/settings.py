"""Analysis settings: every choice of an analysis, validated once.

Units live in the names (``window_s``, ``carrier_hz``, ``angle_deg``); the
command line's flags map onto these fields (``dopplerflow.cli.settings_from_args``).
"""

import functools
import numbers
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from ..errors import SettingsError, UnknownSettingError, option
from .envelopes import DEFAULT_METHOD, METHODS, method_code
from .hum import MAINS_HZ
from .layouts import LAYOUT_CHOICES
from .spectrum import AVERAGE_CHOICES
from .velocity import check_geometry
from .vessels import SLOW_FLOW_VESSELS, VESSELS, reflux_threshold

__all__ = ["Settings", "SETTINGS_FIELDS", "RATE_RANGE_HZ", "ANTEGRADE", "WINDOW_S",
           "SLOW_FLOW_WINDOW_S", "RECORDING_LAYOUT", "preset_window_s", "settings_from",
           "recording_settings", "require_settings"]

#: Sample rates accepted, Hz.
RATE_RANGE_HZ = (4000.0, 384000.0)
ANTEGRADE = ("toward", "away", "auto")
#: The layout of a recording read whole where none is given (:func:`recording_settings`): a
#: layout that does not fit the channels gives results that do not look wrong (a mono probe
#: read as I/Q shows its flow both ways at once), and ``auto`` reads an I/Q pair, or
#: channels it cannot tell, as ``iq``.
RECORDING_LAYOUT = "auto"
#: STFT window, s: 100 Hz bins, 1.9 cm/s at 8 MHz and 60 degrees.
WINDOW_S = 0.010
#: STFT window of the slow-flow vessel presets (``dopplerflow.reflux.SLOW_FLOW_VESSELS``),
#: s.  Speckle leaves the maximum envelope uncertain by about half a bin; with 10 ms
#: bins that is some 10 % of a 15 cm/s peak, so these presets halve the bin (0.96 cm/s),
#: as a scanner's slow-flow preset lowers its velocity scale.  The hop stays 5 ms.
SLOW_FLOW_WINDOW_S = 0.020


def preset_window_s(vessel):
    """STFT window of a vessel preset (``None``: no preset), s."""
    return SLOW_FLOW_WINDOW_S if vessel in SLOW_FLOW_VESSELS else WINDOW_S


@dataclass(frozen=True)
class Settings:
    """Analysis settings, validated once.

    Each field's type is checked as the settings are made: numpy scalars become
    Python numbers, and a value of another type (a string for a number, a float
    for ``average_frames``, ...) raises :class:`SettingsError` naming the field
    and what it takes; so does a name that is not known (``vessel='xx'``, a
    layout, antegrade direction or envelope method).  :meth:`validate` checks the
    ranges.

    Attributes
    ----------
    layout : str
        Channel layout (``dopplerflow.layouts.LAYOUTS``), or ``auto``: chosen from the
        recording by :func:`~dopplerflow.core.driver.analyze`
        (:mod:`~dopplerflow.core.layout_check`).
    invert : bool
        Swap toward and away (opposite quadrature convention).
    offset_hz : float or None
        Zero-velocity frequency of the ``offset`` layout, Hz.
    channels : tuple of int or None
        1-based channel numbers to use from a file with more channels.
    window_s : float or None
        STFT window, s, as given; None: the vessel preset's (:func:`preset_window_s`:
        10 ms, 20 ms for slow-flow veins).  :attr:`analysis_window_s` is the one in
        force (the JSON's ``settings.window_s``).
    hop_s : float
        STFT hop, s (5 ms).
    wall_hz : float
        Wall-filter cut-off, Hz.
    carrier_hz : float
        Probe transmit frequency, Hz.
    angle_deg : float
        Beam-to-flow angle, degrees, in [0, 90).
    sound_speed_m_s : float
        Speed of sound, m/s.
    vessel : str or None
        Vessel preset (``dopplerflow.reflux.VESSELS``).
    reflux_threshold_s : float or None
        Reflux threshold, s, as given: it overrides the vessel's; None: the vessel's.
        :attr:`threshold_s` is the one in force (the JSON's
        ``settings.reflux_threshold_s``).
    antegrade : {'toward', 'away', 'auto'}
        Normal flow direction relative to the probe; ``auto`` picks the
        direction with more time-integrated flow.
    envelope : str
        Maximum-frequency estimator (``dopplerflow.envelope.METHODS``).
    average_frames : {3, 1}
        Frames in the centred time average of the spectrum: 3 lowers the
        speckle variance (better at low SNR); 1 answers one hop sooner (live
        reflux confirmation).
    hum_hz : {None, 50, 60}
        Mains frequency whose hum (a ground loop's lines and harmonics) is
        removed before the spectra (:class:`dopplerflow.hum.HumCanceller`);
        None: none removed.
    """

    layout: str = "iq"
    invert: bool = False
    offset_hz: float | None = None
    channels: tuple | None = None
    window_s: float | None = None
    hop_s: float = 0.005
    wall_hz: float = 80.0
    carrier_hz: float = 8e6
    angle_deg: float = 60.0
    sound_speed_m_s: float = 1540.0
    vessel: str | None = None
    reflux_threshold_s: float | None = None
    antegrade: str = "auto"
    envelope: str = DEFAULT_METHOD
    average_frames: int = 3
    hum_hz: float | None = None

    def __post_init__(self):
        # the types, once: numpy scalars become Python numbers (JSON-ready), anything
        # else that is not what a field takes is refused, naming the field
        for name, (kind, takes) in _TAKES.items():
            object.__setattr__(self, name, _typed(name, getattr(self, name), kind, takes))
        self._check_names()

    def _check_names(self):
        """Raise :class:`SettingsError` for a layout, antegrade direction, envelope method
        or vessel that is not known (a typo is told where it is made, not at the analysis)."""
        if self.layout not in LAYOUT_CHOICES:
            raise SettingsError(
                f"layout '{self.layout}' is not known; use one of {', '.join(LAYOUT_CHOICES)}")
        if self.antegrade not in ANTEGRADE:
            raise SettingsError(
                f"antegrade '{self.antegrade}' is not known; use toward, away or auto")
        method_code(self.envelope)
        reflux_threshold(self.vessel, None)  # refuses a vessel that is not known

    def replace(self, **changes):
        """A copy with some fields changed."""
        return replace(self, **changes)

    @property
    def analysis_window_s(self):
        """The STFT window in force, s: :attr:`window_s`, else the vessel preset's."""
        return preset_window_s(self.vessel) if self.window_s is None else self.window_s

    @property
    def threshold_s(self):
        """The reflux threshold in force, s (None: no reflux rule)."""
        return reflux_threshold(self.vessel, self.reflux_threshold_s)

    def validate(self, sample_rate_hz=None):
        """Check every value; return a list of warnings.

        Raises
        ------
        SettingsError
            A value is out of range, or ``sample_rate_hz`` is not a number; the
            message says what is allowed.
        """
        if sample_rate_hz is not None and (not isinstance(sample_rate_hz, numbers.Real)
                                           or isinstance(sample_rate_hz, bool)):
            raise SettingsError(f"sample rate {_shown(sample_rate_hz)} is not a number of Hz "
                                f"(e.g. 48000)")
        self._check_names()
        if self.layout != "offset" and self.offset_hz is not None:
            offset = option("--layout offset", "layout='offset'")
            raise SettingsError(
                f"{option('--offset-hz', 'offset_hz')} applies to layout 'offset' only, not to "
                f"layout '{self.layout}'; give {offset} or leave the offset out")
        if self.average_frames not in AVERAGE_CHOICES:
            frames = option(f"--average-frames {self.average_frames!r}",
                            f"average_frames={self.average_frames!r}")
            raise SettingsError(f"{frames} must be 3 (default) or 1 (one hop less latency, "
                                f"noisier at low SNR)")
        if self.hum_hz is not None and self.hum_hz not in MAINS_HZ:
            hum = option(f"--hum {self.hum_hz:g}", f"hum_hz={self.hum_hz:g}")
            raise SettingsError(f"mains frequency {hum} for the hum is not 50 or 60 Hz")
        warnings = check_geometry(self.carrier_hz, self.angle_deg, self.sound_speed_m_s)
        self.threshold_s  # noqa: B018 - validates vessel and threshold
        window_s = self.analysis_window_s
        window = option(f"--window-ms {window_s * 1e3:g}", f"window_s={window_s:g}")
        hop = option(f"--hop-ms {self.hop_s * 1e3:g}", f"hop_s={self.hop_s:g}")
        if not 0.002 <= window_s <= 0.1:
            raise SettingsError(f"window {window} is outside 2-100 ms")
        if not 0 < self.hop_s <= window_s:
            raise SettingsError(f"hop {hop} must be positive and no longer than the window "
                                f"({window_s * 1e3:g} ms)")
        if self.channels is not None:
            listed = option(f"--channels {','.join(map(str, self.channels))}",
                            f"channels={self.channels!r}")
            example = option("--channels 1,2", "channels=(1, 2)")
            if not self.channels or min(self.channels) < 1:
                raise SettingsError(f"channels {listed} must name channels by their numbers "
                                    f"from 1 (e.g. {example})")
            if len(set(self.channels)) < len(self.channels):
                raise SettingsError(f"channels {listed} names a channel twice; give different "
                                    f"channels (e.g. {example})")
        wall = option(f"--wall-hz {self.wall_hz:g}", f"wall_hz={self.wall_hz:g}")
        if not self.wall_hz >= 5.0:
            raise SettingsError(f"wall filter cut-off {wall} must be at least 5 Hz")
        if sample_rate_hz is not None:
            fs = sample_rate_hz
            if not RATE_RANGE_HZ[0] <= fs <= RATE_RANGE_HZ[1]:
                raise SettingsError(
                    f"sample rate {fs:g} Hz is outside {RATE_RANGE_HZ[0]:g}-"
                    f"{RATE_RANGE_HZ[1]:g} Hz")
            if self.wall_hz >= fs / 8:
                raise SettingsError(f"wall filter cut-off {wall} is too high for {fs:g} Hz "
                                    f"audio (keep it below {fs / 8:g} Hz)")
            if self.layout == "offset":
                if self.offset_hz is None or not 0 < self.offset_hz < fs / 2:
                    raise SettingsError(
                        f"layout 'offset' needs {option('--offset-hz', 'offset_hz')} between "
                        f"0 and {fs / 2:g} Hz, the zero-velocity frequency; got "
                        f"{self.offset_hz!r}")
            if round(self.hop_s * fs) < 1:
                raise SettingsError(f"hop {hop} is under one sample at {fs:g} Hz; the least "
                                    f"hop at this sample rate is {1e3 / fs:.4g} ms (one "
                                    f"sample)")
            if round(window_s * fs) < 16:
                raise SettingsError(f"window {window} is under 16 samples at {fs:g} Hz")
        return warnings

    def to_dict(self):
        """JSON-ready settings, with the window and the threshold in force."""
        d = asdict(self)
        d["channels"] = list(self.channels) if self.channels else None
        d["window_s"] = self.analysis_window_s
        d["reflux_threshold_s"] = self.threshold_s
        return d


SETTINGS_FIELDS = tuple(f.name for f in fields(Settings))


def _unknown_names(kwargs):
    """Raise :class:`UnknownSettingError` (a TypeError too) naming the keywords of
    ``kwargs`` that are no setting, and the known ones."""
    unknown = set(kwargs) - set(SETTINGS_FIELDS)
    if unknown:
        raise UnknownSettingError(f"unknown setting(s) "
                                  f"{', '.join(_with_nearest(n) for n in sorted(unknown))}; "
                                  f"known: {', '.join(SETTINGS_FIELDS)}")


def _with_nearest(name):
    """An unknown setting's name, with the setting nearest it where one is near."""
    import difflib

    near = difflib.get_close_matches(name, SETTINGS_FIELDS, 1)
    return f"{name} (did you mean {near[0]}?)" if near else name


def _settings_init(init):
    """``Settings.__init__`` that names an unknown keyword and the known ones (Python's own
    message names only the first, as an unexpected argument)."""
    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        _unknown_names(kwargs)
        init(self, *args, **kwargs)
    return __init__


Settings.__init__ = _settings_init(Settings.__init__)

#: What each field takes: (kind, words for the message).  The ranges are checked
#: by :meth:`Settings.validate`.
_TAKES = {
    "layout": ("name", f"one of {', '.join(LAYOUT_CHOICES)}"),
    "invert": ("bool", "True or False"),
    "offset_hz": ("number?", "a number of Hz, or None"),
    "channels": ("channels?", "channel numbers from 1, e.g. (1, 2), or None"),
    "window_s": ("number?", "a number of seconds (e.g. 0.01), or None for the vessel "
                            "preset's"),
    "hop_s": ("number", "a number of seconds (e.g. 0.005)"),
    "wall_hz": ("number", "a number of Hz (e.g. 80)"),
    "carrier_hz": ("number", "a number of Hz (e.g. 8e6)"),
    "angle_deg": ("number", "a number of degrees in [0, 90)"),
    "sound_speed_m_s": ("number", "a number of m/s (e.g. 1540)"),
    "vessel": ("name?", f"one of {', '.join(VESSELS)}, or None"),
    "reflux_threshold_s": ("number?", "a number of seconds, or None for the vessel's"),
    "antegrade": ("name", f"one of {', '.join(ANTEGRADE)}"),
    "envelope": ("name", f"one of {', '.join(METHODS)}"),
    "average_frames": ("count", "the whole number 3 or 1"),
    "hum_hz": ("number?", "50, 60 or None"),
}


def _typed(name, value, kind, takes):
    """``value`` as the Python type field ``name`` takes; SettingsError if it is not one."""
    if value is None and kind.endswith("?"):
        return None
    kind = kind.rstrip("?")
    if kind == "name" and isinstance(value, str):
        return str(value)
    if kind == "bool" and isinstance(value, (bool, np.bool_)):
        return bool(value)
    if not isinstance(value, (bool, np.bool_)):
        if kind == "number" and isinstance(value, numbers.Real):
            return float(value)
        if kind == "count" and isinstance(value, numbers.Integral):
            return int(value)
        if (kind == "channels" and isinstance(value, (tuple, list, np.ndarray))
                and np.ndim(value) == 1 and all(isinstance(c, numbers.Integral)
                                                and not isinstance(c, (bool, np.bool_))
                                                for c in value)):
            return tuple(int(c) for c in value)
    raise SettingsError(f"{name}={_shown(value)} is not valid: {name} takes {takes}")


def _shown(value):
    """``repr(value)`` on one line, at most 60 characters."""
    shown = " ".join(repr(value).split())
    return shown if len(shown) <= 60 else shown[:57] + "..."


def settings_from(settings, kwargs, *, recording=False):
    """``settings`` (or the defaults) with the fields named in ``kwargs`` changed.

    ``recording``: the settings are those of a recording read whole, whose defaults are
    :func:`recording_settings`' (the layout chosen from its channels), where ``settings``
    is None."""
    _unknown_names(kwargs)
    if settings is not None:
        require_settings(settings, "or None")
    base = settings or (recording_settings() if recording else Settings())
    return base.replace(**kwargs)


def recording_settings():
    """The default settings of a recording read whole (a file or an array given to
    :func:`~dopplerflow.core.driver.analyze`, a batch, an examination): those of
    :class:`Settings` but the layout, :data:`RECORDING_LAYOUT` (``auto``: chosen from what
    the channels hold, as the command line's recording commands do).  A stream analysed
    as it arrives (:class:`~dopplerflow.core.processor.Processor`, live input) cannot look
    ahead, and keeps :class:`Settings`' ``iq``."""
    return Settings(layout=RECORDING_LAYOUT)


def require_settings(settings, alternative=""):
    """Raise :class:`SettingsError` unless ``settings`` is a :class:`Settings` (a vessel's
    name, a dict or None would fail later, far from the slip); ``alternative`` adds what
    else the caller takes to the message (``"or None"``)."""
    if not isinstance(settings, Settings):
        also = f" {alternative}" if alternative else ""
        raise SettingsError(f"settings={_shown(settings)} is not valid: give a Settings "
                            f"(dopplerflow.Settings(...)){also}")
