"""Real-world degradations of a simulated recording: what real recorders and rooms add.

The simulator's plain recording has white noise, a full band and 16 or 24 bits.  Real
recordings of a Doppler's audio output differ in seven ways, each an option of
:class:`Degradations` (and of ``dopplerflow simulate``), each written into the truth
(``degradations``) and each drawn from the recording's seed.

In the complex baseband, beside the blood echo and the wall clutter
(:func:`dopplerflow.sim.synth.synthesize`):

* **Coloured noise** (``noise_slope_db_oct``): the additive noise falls (or rises) by
  this many dB per octave above :data:`NOISE_CORNER_HZ`, and is flat below it (a
  slope has to stop somewhere: a -3 dB/octave spectrum holds infinite power at 0 Hz).
  The in-band SNR keeps its definition, ``SNR = P_blood / (noise power from 0 to B)``
  on the side of the flow (:mod:`dopplerflow.sim.synth`): the slope moves noise power
  within that band (a falling slope puts more of it at slow flow, next to the wall
  filter, and less at the band's top, where the maximum-velocity envelope is read)
  without changing its total.  Above the band the noise keeps falling.
* **Tones** (``tones_hz``, ``tone_db``): fixed sinusoids picked up on the signal
  lines (a switching supply, a display, a neighbouring device).  Each is real on the
  channels, so it appears at both ``+f`` and ``-f`` (both flow directions); its power
  is ``tone_db`` against the blood echo's (``P_blood = 1``).
* **Clicks** (``clicks``, ``click_db``): taps on the probe.  Each is a burst of
  complex white noise across the whole band, 5 to 10 ms long (one or two 5 ms
  analysis frames), at ``click_db`` against the blood echo's power; one click is
  placed at random in each of ``clicks`` equal stretches of the recording, so that
  they never overlap.

On the channels as the recorder receives them (:func:`record`):

* **The recorder's audio band** (``lowpass_hz``): a steep low-pass (8th-order
  Butterworth, run forward and backward: no delay, so the truth's times stay exact;
  -6 dB at the cut-off) on the Doppler audio and its noise, as a pocket Doppler's
  audio stage or a recorder's input passes it.
* **Resampling** (``resample_hz``): the channels resampled to this rate with
  :func:`scipy.signal.resample_poly` and a steep anti-aliasing filter
  (:func:`resampling_filter`): an 8 kHz recording brought up to 44.1 kHz has nothing
  above 4 kHz; a 5 kHz band recorded at 44.1 kHz is near digital silence above it.
  Times in the truth are seconds from the first sample, whatever the rate; its
  ``sample_rate_hz`` and ``duration_s`` become the written file's.
* **A sound card's noise floor** (``floor_dbfs``): white Gaussian noise at this rms
  level on every channel, in dB of full scale once the recording is scaled as written,
  added at the written rate (what fills the band above a low-pass).
* **Channel gains apart** (``channel_gain_db``): the second channel of a two-channel
  recording amplified by this much against the first, noise and all, as a two-input
  sound card whose gain knobs are set apart records a toward/away pair.  Applied last,
  before the writer scales the recording to full scale.

The sample depth is the writer's: 8 bits (``PCM_U8`` in WAV, ``PCM_S8`` in FLAC) keeps
256 levels (:func:`dopplerflow.sim.synth.write_audio`).
"""

import math
from dataclasses import dataclass, fields
from fractions import Fraction

import numpy as np

from ..errors import SettingsError

__all__ = ["Degradations", "NOISE_CORNER_HZ", "LOWPASS_ORDER", "noise_shape",
           "noise_band_integral", "shape_noise", "baseband_parts", "tones", "clicks",
           "record", "resampling_filter", "stream"]

#: Below this frequency coloured noise is flat, Hz (the bottom of a Doppler's audio band).
NOISE_CORNER_HZ = 50.0
#: Order of the recorder's low-pass (Butterworth, run forward and backward).
LOWPASS_ORDER = 8
#: Click lengths, s: one or two 5 ms analysis frames.
CLICK_S = (0.005, 0.010)
#: Raised-cosine edges of a click, s.
CLICK_EDGE_S = 0.0005
#: Shortest stretch of the recording per click, s.
CLICK_SLOT_S = 0.05
#: Attenuation of the resampling filter from the lower Nyquist frequency up, dB, and its
#: pass band, as a fraction of the lower Nyquist frequency.
RESAMPLE_STOP_DB = 140.0
RESAMPLE_PASS = 0.9
#: Spawn keys of the random streams, after the synthesis's four (speckle, second
#: vessel, clutter, noise).
_TONE_STREAM, _CLICK_STREAM, _FLOOR_STREAM = 4, 5, 6


def stream(seed, key):
    """The random stream ``key`` of a seed (the ``key``-th child of its SeedSequence)."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(key),)))


def _number(name, value, lo, hi, hint, unit=""):
    """``value`` as a float once it is a finite number from ``lo`` to ``hi`` (``hi`` may be
    infinite: no upper bound), else a SettingsError that names the range in ``unit``."""
    if not isinstance(value, (int, float, np.integer, np.floating)) \
            or isinstance(value, (bool, np.bool_)) or not math.isfinite(value) \
            or not lo <= value <= hi:
        unit = f" {unit}" if unit else ""
        allowed = (f"must be at least {lo:g}{unit}" if math.isinf(hi)
                   else f"is outside {lo:g} to {hi:g}{unit}")
        raise SettingsError(f"{name} {value!r} {allowed}; {hint}")
    return float(value)


@dataclass(frozen=True)
class Degradations:
    """The degradations of one recording (module docstring); the defaults add none.

    Attributes
    ----------
    noise_slope_db_oct : float
        Slope of the noise spectrum above :data:`NOISE_CORNER_HZ`, dB per octave,
        -12 to +12 (0: white; -3: pink; -6: falling as 1/f^2).
    tones_hz : tuple of float
        Frequencies of fixed tones, Hz, each between 0 and half the synthesis rate.
    tone_db : float
        Power of each tone against the blood echo's, dB, -60 to +40.
    clicks : int
        Number of clicks, 0 to one per 50 ms of recording.
    click_db : float
        Power of a click against the blood echo's, dB, -20 to +60.
    lowpass_hz : float or None
        Cut-off of the recorder's low-pass, Hz, 100 Hz up to below half the
        synthesis rate.
    resample_hz : float or None
        Rate the recording is resampled to and written at, 8000-192000 Hz (whole Hz).
    floor_dbfs : float or None
        rms level of the sound card's noise floor, dB full scale, -140 to -40.
    channel_gain_db : float
        Gain of a two-channel recording's second channel against its first, dB, -30 to
        +30.
    clutter_db : float or None
        Power of the wall echoes against the blood echo's as the recording carries them,
        dB, 0 to 60 (None: the scenario's, 45-50 dB).  A Doppler's audio output has been
        through the device's own wall filter, which leaves far less of them; their level
        sets the full scale, so it decides what a low sample depth leaves of the blood.
    """

    noise_slope_db_oct: float = 0.0
    tones_hz: tuple = ()
    tone_db: float = -10.0
    clicks: int = 0
    click_db: float = 30.0
    lowpass_hz: float | None = None
    resample_hz: float | None = None
    floor_dbfs: float | None = None
    clutter_db: float | None = None
    channel_gain_db: float = 0.0

    def __post_init__(self):
        # lists, numpy scalars and single numbers become a tuple of floats
        freqs = self.tones_hz
        freqs = (freqs,) if isinstance(freqs, (int, float, np.number)) else freqs
        try:
            freqs = tuple(float(f) for f in freqs)
        except (TypeError, ValueError):
            raise SettingsError(f"tone frequencies {self.tones_hz!r} must be numbers of Hz, "
                                f"e.g. (1000, 3150)") from None
        object.__setattr__(self, "tones_hz", freqs)

    @property
    def any(self):
        """True when at least one degradation is asked for."""
        return self != Degradations()

    @property
    def baseband(self):
        """True when one of the baseband degradations (noise slope, tones, clicks) is on."""
        return bool(self.noise_slope_db_oct or self.tones_hz or self.clicks)

    def check(self, sample_rate_hz, duration_s):
        """Raise SettingsError unless every value fits a recording of this rate and length.

        Parameters
        ----------
        sample_rate_hz : float
            Synthesis rate, Hz (before any resampling).
        duration_s : float
            Length of the recording, s.
        """
        nyquist = sample_rate_hz / 2.0
        _number("noise slope", self.noise_slope_db_oct, -12, 12,
                "give it in dB per octave, e.g. -3 (pink) or -6 (--noise-slope)")
        for f in self.tones_hz:
            if not (math.isfinite(f) and 0.0 < f < nyquist):
                raise SettingsError(f"tone {f:g} Hz is not between 0 and {nyquist:g} Hz, half "
                                    f"the sample rate of {sample_rate_hz:g} Hz (--tone-hz)")
        if len(self.tones_hz) > 16:
            raise SettingsError(f"{len(self.tones_hz)} tones: give 16 at the most (--tone-hz)")
        _number("tone level", self.tone_db, -60, 40,
                "give each tone's power against the blood echo's in dB (--tone-db)")
        most = int(duration_s / CLICK_SLOT_S)
        if not isinstance(self.clicks, (int, np.integer)) or isinstance(self.clicks, bool) \
                or not 0 <= self.clicks <= most:
            raise SettingsError(f"click count {self.clicks!r} must be a whole number from 0 to "
                                f"{most} (one per {CLICK_SLOT_S * 1e3:g} ms of a "
                                f"{duration_s:g} s recording) (--clicks)")
        _number("click level", self.click_db, -20, 60,
                "give a click's power against the blood echo's in dB (--click-db)")
        if self.lowpass_hz is not None:
            _number("low-pass", self.lowpass_hz, 100, math.inf,
                    "give the recorder's audio band in Hz, e.g. 4000 (--lowpass-hz)", "Hz")
            if self.lowpass_hz >= nyquist:
                raise SettingsError(
                    f"low-pass {self.lowpass_hz:g} Hz is not below {nyquist:g} Hz, half the "
                    f"sample rate of {sample_rate_hz:g} Hz; lower --lowpass-hz or raise "
                    f"--sample-rate")
        if self.resample_hz is not None:
            rate = _number("resampling rate", self.resample_hz, 8000, 192000,
                           "give the rate to write in Hz, e.g. 44100 (--resample)")
            if rate != round(rate):
                raise SettingsError(f"resampling rate {rate:g} Hz must be a whole number of Hz")
        if self.clutter_db is not None:
            _number("wall echo level", self.clutter_db, 0, 60,
                    "give the wall echoes' power against the blood echo's in dB, e.g. 20 "
                    "(--clutter-db)")
        if self.floor_dbfs is not None:
            _number("noise floor", self.floor_dbfs, -140, -40,
                    "give the sound card's noise floor as an rms level in dBFS, e.g. -90 "
                    "(--floor-dbfs)")
        _number("channel gain", self.channel_gain_db, -30, 30,
                "give the second channel's gain against the first in dB, e.g. 12 "
                "(--channel-gain-db)")
        return self

    def settings(self):
        """The options that differ from the defaults, as the truth records them (a dict).

        A level is given with what it is the level of (``tone_db`` with tones,
        ``click_db`` with clicks, default or not) and left out without it.
        """
        levels = {"tone_db": bool(self.tones_hz), "click_db": bool(self.clicks)}
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if levels.get(f.name, value != f.default):
                out[f.name] = (list(value) if isinstance(value, tuple)
                               else int(value) if f.name == "clicks" else float(value))
        return out


# ------------------------------------------------------------------------------- baseband
def _exponent(slope_db_oct):
    """Power-law exponent of a slope: PSD proportional to f**exponent."""
    return slope_db_oct / (10.0 * math.log10(2.0))


def noise_shape(freq_hz, slope_db_oct, corner_hz=NOISE_CORNER_HZ):
    """Relative noise PSD: 1 up to ``corner_hz``, then ``slope_db_oct`` dB per octave.

    Parameters
    ----------
    freq_hz : array_like
        Frequencies, Hz (either sign: the shape is even).
    slope_db_oct : float
        Slope above the corner, dB per octave.
    corner_hz : float
        Corner frequency, Hz.

    Returns
    -------
    ndarray
        The shape, same shape as ``freq_hz``.
    """
    f = np.maximum(np.abs(np.asarray(freq_hz, dtype=float)), corner_hz)
    return (f / corner_hz) ** _exponent(slope_db_oct)


def noise_band_integral(band_hz, slope_db_oct, corner_hz=NOISE_CORNER_HZ):
    """Integral of :func:`noise_shape` from 0 to ``band_hz``, Hz (``band_hz`` when white)."""
    a = _exponent(slope_db_oct)
    if band_hz <= corner_hz:
        return float(band_hz)
    ratio = band_hz / corner_hz
    tail = math.log(ratio) if abs(a + 1.0) < 1e-12 else (ratio ** (a + 1.0) - 1.0) / (a + 1.0)
    return corner_hz * (1.0 + tail)


def shape_noise(white, sample_rate_hz, slope_db_oct, corner_hz=NOISE_CORNER_HZ):
    """Colour white noise: its spectrum times ``sqrt(noise_shape)`` (FFT domain).

    Parameters
    ----------
    white : ndarray, shape (n,), complex
        White noise of power 1 per sample (PSD ``1 / fs`` per Hz, two-sided).
    sample_rate_hz, slope_db_oct, corner_hz : float
        As :func:`noise_shape`.

    Returns
    -------
    ndarray, shape (n,), complex128
        Noise whose PSD is ``noise_shape(f) / fs`` per Hz.
    """
    from scipy.fft import fft, fftfreq, ifft

    spec = fft(np.asarray(white, dtype=complex))
    spec *= np.sqrt(noise_shape(fftfreq(len(spec), 1.0 / sample_rate_hz), slope_db_oct,
                                corner_hz))
    return ifft(spec, overwrite_x=True)


def tones(time_s, tones_hz, tone_db, rng):
    """Fixed tones, real on every channel: each at ``+f`` and ``-f`` of the baseband.

    Tone ``k`` is ``sqrt(2 P) cos(2 pi f_k t + phi_k) exp(j psi_k)`` with
    ``P = 10**(tone_db / 10)`` and random phases: its power ``P`` is split evenly
    between the two directions, and between I and Q by ``psi_k``.

    Returns
    -------
    ndarray, shape (n,), complex128
    """
    t = np.asarray(time_s, dtype=float)
    amp = math.sqrt(2.0 * 10.0 ** (tone_db / 10.0))
    out = np.zeros(t.shape, dtype=complex)
    for f in tones_hz:
        phi, psi = rng.uniform(0.0, 2.0 * math.pi, 2)
        out += amp * np.cos(2.0 * math.pi * f * t + phi) * np.exp(1j * psi)
    return out


def baseband_parts(degradations, time_s, sample_rate_hz, seed):
    """The tones and clicks a recording asks for, and the truth's fields of the baseband.

    Parameters
    ----------
    degradations : Degradations
    time_s : ndarray, shape (n,)
        Sample times, s.
    sample_rate_hz : float
        Synthesis rate, Hz.
    seed : int
        Seed of the recording (the tones are its stream 4, the clicks its stream 5).

    Returns
    -------
    parts : dict of str to ndarray
        ``"tones"`` and ``"clicks"``, complex (n,), those asked for.
    truth : dict
        ``noise_corner_hz`` with a noise slope; ``click_start_s`` and
        ``click_duration_s`` with clicks.
    """
    deg = degradations
    parts, truth = {}, {}
    if deg.noise_slope_db_oct:
        truth["noise_corner_hz"] = NOISE_CORNER_HZ
    if deg.tones_hz:
        parts["tones"] = tones(time_s, deg.tones_hz, deg.tone_db, stream(seed, _TONE_STREAM))
    if deg.clicks:
        parts["clicks"], starts, lengths = clicks(len(time_s), sample_rate_hz, deg.clicks,
                                                  deg.click_db, stream(seed, _CLICK_STREAM))
        truth.update(click_start_s=starts, click_duration_s=lengths)
    return parts, truth


def clicks(n_samples, sample_rate_hz, count, click_db, rng):
    """Probe taps: bursts of complex white noise, one in each of ``count`` equal stretches.

    Each click lasts a random 5-10 ms with raised-cosine edges of 0.5 ms; its power
    over that time is ``10**(click_db / 10)``.

    Returns
    -------
    signal : ndarray, shape (n_samples,), complex128
    start_s, duration_s : list of float
        Each click's start and length, s (the truth's ``clicks``).
    """
    fs = float(sample_rate_hz)
    out = np.zeros(int(n_samples), dtype=complex)
    starts, lengths = [], []
    slot = n_samples / count if count else 0.0
    amp = math.sqrt(10.0 ** (click_db / 10.0) / 2.0)
    edge = max(1, int(round(CLICK_EDGE_S * fs)))
    for k in range(int(count)):
        m = int(round(rng.uniform(*CLICK_S) * fs))
        i0 = int(k * slot + rng.uniform(0.0, max(slot - m, 0.0)))
        m = min(m, n_samples - i0)
        env = np.ones(m)
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(min(edge, m // 2)) + 0.5) / edge)
        env[:len(ramp)] = ramp
        env[m - len(ramp):] = ramp[::-1]
        burst = rng.standard_normal(m) + 1j * rng.standard_normal(m)
        out[i0:i0 + m] += amp * env * burst
        starts.append(round(i0 / fs, 4))
        lengths.append(round(m / fs, 4))
    return out, starts, lengths


# ------------------------------------------------------------------------------- recorder
def resampling_filter(up, down):
    """FIR anti-aliasing filter of a resampling by ``up / down`` (for resample_poly).

    Linear phase (odd length, so that :func:`scipy.signal.resample_poly` keeps the
    first sample at time 0), pass band to :data:`RESAMPLE_PASS` of the lower Nyquist
    frequency, at least :data:`RESAMPLE_STOP_DB` down from that Nyquist frequency up
    (Kaiser window design).

    Parameters
    ----------
    up, down : int
        Coprime factors of the resampling.

    Returns
    -------
    ndarray, shape (taps,), float64
        Coefficients at the upsampled rate (Nyquist = ``up`` units of the input's).
    """
    from scipy.signal import firwin, kaiserord

    nyq = float(max(up, down))  # the lower Nyquist frequency is 1 / nyq of the filter's
    width = (1.0 - RESAMPLE_PASS) / nyq
    taps, beta = kaiserord(RESAMPLE_STOP_DB, width)
    taps += 1 - taps % 2
    return firwin(taps, (1.0 + RESAMPLE_PASS) / 2.0 / nyq, window=("kaiser", beta))


def record(data, sample_rate_hz, degradations, seed):
    """The channels as a recorder writes them: low-pass, resampling, noise floor, gains.

    Parameters
    ----------
    data : ndarray, shape (frames, channels), float
        The channels (:func:`dopplerflow.sim.synth.to_layout`), at the synthesis rate.
    sample_rate_hz : float
        Their rate, Hz.
    degradations : Degradations or None
        ``lowpass_hz``, ``resample_hz``, ``floor_dbfs`` and ``channel_gain_db`` are
        applied here, in that order (the others are in the baseband already).
    seed : int
        Seed of the recording (the floor is its stream 6).  The values are those
        :meth:`Degradations.check` let through (:func:`~dopplerflow.sim.synth.synthesize`
        checks them).

    Returns
    -------
    data : ndarray, shape (frames', channels), float64
        The channels as written, before peak normalisation and quantisation.
    sample_rate_hz : float
        Their rate, Hz.
    truth : dict
        What was done, for the truth's ``degradations``: ``lowpass_order`` and
        ``resampled_from_hz`` where they apply (empty without these degradations).
    """
    x = np.asarray(data, dtype=float)
    fs = float(sample_rate_hz)
    deg = degradations or Degradations()
    info = {}
    if deg.lowpass_hz is not None:
        from scipy.signal import butter, sosfiltfilt

        sos = butter(LOWPASS_ORDER, deg.lowpass_hz, fs=fs, output="sos")
        x = sosfiltfilt(sos, x, axis=0)
        info["lowpass_order"] = LOWPASS_ORDER
    if deg.resample_hz is not None and deg.resample_hz != fs:
        from scipy.signal import resample_poly

        ratio = Fraction(int(round(deg.resample_hz)), int(round(fs)))
        up, down = ratio.numerator, ratio.denominator
        x = resample_poly(x, up, down, axis=0, window=resampling_filter(up, down),
                          padtype="line")
        info["resampled_from_hz"] = fs
        fs = float(deg.resample_hz)
    if deg.floor_dbfs is not None:
        from .synth import full_scale_per_unit  # the writer's scale (synth imports this module)

        rms = 10.0 ** (deg.floor_dbfs / 20.0) / full_scale_per_unit(x)
        x = x + rms * stream(seed, _FLOOR_STREAM).standard_normal(x.shape)
    if deg.channel_gain_db:
        if x.shape[1] != 2:
            raise SettingsError(f"a channel gain applies to a two-channel recording; this "
                                f"layout writes {x.shape[1]} channel(s): leave out "
                                f"--channel-gain-db or write a two-channel layout")
        x = x * np.array([1.0, 10.0 ** (deg.channel_gain_db / 20.0)])
    return x, fs, info
