"""The one block/gap loop that files, arrays, replay and live input drive a processor with.

A *source* is an iterable of items, each either a ``(frames, channels)`` block of
samples or a :class:`Gap` (samples that were lost: a dropped block, a sound card's
overrun).  :func:`feed` pushes them, in order, into a
:class:`~dopplerflow.core.processor.Processor`; :func:`analyze` builds the source for a
file or an array and returns the finished :class:`~dopplerflow.core.result.Analysis`.
"""

import numbers
import os

import numpy as np

from ..errors import AudioFileError, DopplerflowError, InputError, SettingsError
from .io import Gap
from .layouts import channel_map
from .settings import _shown, settings_from

__all__ = ["Gap", "feed", "analyze", "array_blocks", "auto_layout", "check_block_size",
           "require_one_window", "take_encoding"]


#: An array with at most this many rows and more columns is taken for (channels, frames):
#: so few frames hold no analysis window (16 samples at least), and a recording of more
#: than a few channels is rare.
MAX_CHANNELS_FIRST = 8



def feed(processor, source, *, on_item=None):
    """Push every item of ``source`` into ``processor``, in order.

    Parameters
    ----------
    processor : Processor
    source : iterable of ndarray or Gap
        Blocks of samples, ``(frames, channels)``, and gaps.
    on_item : callable, optional
        Called after each item with ``(item, n_frames)``: a progress bar, a level
        meter, a live plot.

    Returns
    -------
    int
        Frames fed, gaps included.
    """
    n = 0
    for item in source:
        if isinstance(item, Gap):
            processor.mark_gap(item.n_samples, rows=False)
            frames = item.n_samples
        else:
            processor.push(item, rows=False)
            frames = len(item)
        n += frames
        if on_item is not None:
            on_item(item, frames)
    return n


def array_blocks(data, block_size):
    """The blocks of ``block_size`` frames of a ``(frames, channels)`` array."""
    for i in range(0, len(data), block_size):
        yield data[i:i + block_size]


def analyze(source, *, sample_rate_hz=None, settings=None, block_size=65536,
            keep_spectrogram=False, keep_trace=True, on_event=None, progress=None, **kwargs):
    """Analyse a recording: velocity trace, flow and reflux events.

    Parameters
    ----------
    source : str, bytes, os.PathLike, or ndarray
        An audio file's path (anything libsndfile reads), a ``(frames, channels)``
        array of samples, or a complex 1-D array ``I + jQ`` (read as layout ``iq``,
        whether the layout asked is ``iq`` or ``auto``).  An open file object is not
        taken: give its path.
    sample_rate_hz : float, optional
        Required for arrays; for files it is read from the file.
    settings : Settings, optional
        Base settings; keyword arguments override single fields
        (``layout='iq'``, ``carrier_hz=8e6``, ``angle_deg=60.0``,
        ``vessel=None``, ``antegrade='auto'``, ...; see :class:`Settings`).
        Without it, the defaults are
        :func:`~dopplerflow.core.settings.recording_settings`': the layout ``auto``,
        chosen from what the channels hold, as the command line does.
    block_size : int
        Frames per block fed to the processor (the result does not depend
        on it).
    keep_spectrogram : bool or (float, float)
        Keep the spectrogram for plotting (at most 8192 rows: frames pooled in a
        recording over 41 s; :mod:`~dopplerflow.core.sonogram`); ``(start_s, end_s)``
        keeps that span of the recording alone, for a figure of it
        (``analysis_figure(analysis, span=...)``).
    keep_trace : bool
        Keep the per-frame trace (``Analysis.trace``).  Without it the memory
        used does not grow with the recording's length; events, verdicts and
        the summary are the same.
    on_event : callable, optional
        See :class:`~dopplerflow.core.processor.Processor`.
    progress : callable, optional
        Called with the fraction done after each block of a file.

    Returns
    -------
    Analysis

    Raises
    ------
    AudioFileError
        The file is missing, empty or not audio, or ``source`` is an open file.
    InputError, LayoutError
        The audio cannot be analysed as asked (too short, NaN samples, wrong
        channel count for the layout).
    SettingsError
        A setting is out of range.
    """
    from . import io
    from .processor import Processor, as_float_block

    settings = settings_from(settings, dict(kwargs), recording=True)
    check_block_size(block_size)
    if isinstance(source, (str, bytes, os.PathLike)):
        info = io.open_audio(source)
        if sample_rate_hz is not None and sample_rate_hz != info.samplerate:
            raise SettingsError(f"sample rate {sample_rate_hz:g} Hz given, but the file is "
                                f"{info.samplerate} Hz; leave it out for files")
        name = os.fsdecode(source)
        _hand_over(settings, info.samplerate, info.channels, keep_spectrogram=keep_spectrogram,
                   keep_trace=keep_trace, on_event=on_event)
        settings, layout = auto_layout(settings, info.samplerate, info.channels,
                                       lambda: io.iter_blocks(source, block_size))
        proc = Processor(settings, info.samplerate, info.channels,
                         keep_spectrogram=keep_spectrogram, keep_trace=keep_trace,
                         on_event=on_event, file=name, **layout)
        take_encoding(proc, info)
        require_one_window(info.frames, info.samplerate, settings, name)
        done = [0]

        def tell(_item, frames):
            done[0] += frames
            progress(done[0] / max(info.frames, 1))

        reader = io.iter_blocks(source, block_size)
        read = feed(proc, reader, on_item=None if progress is None else tell)
        proc.cut_short(reader.report)
        require_one_window(read, info.samplerate, settings, name)
        return proc.finish()
    data = _samples(source)
    if sample_rate_hz is None:
        raise SettingsError("sample_rate_hz is needed when the source is an array")
    if np.iscomplexobj(data):
        if data.ndim != 1:
            raise InputError(f"a complex source must be 1-D (I + jQ), got shape {data.shape}")
        if settings.layout not in ("iq", "auto"):
            raise SettingsError("a complex source is I + jQ: use layout 'iq' "
                                "(invert=True for the opposite convention)")
        settings = settings.replace(layout="iq")  # what it is: nothing to choose
        data = np.stack((data.real, data.imag), axis=1)
    elif data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2:
        raise InputError(f"source array must be (frames, channels), got shape {data.shape}")
    if data.shape[0] <= MAX_CHANNELS_FIRST < data.shape[1]:
        raise InputError(f"source array of shape {data.shape} looks like (channels, frames); "
                         f"pass its transpose (x.T), whose rows are the frames")
    _hand_over(settings, sample_rate_hz, data.shape[1], keep_spectrogram=keep_spectrogram,
               keep_trace=keep_trace, on_event=on_event)
    settings, layout = auto_layout(settings, sample_rate_hz, data.shape[1],
                                   lambda: (as_float_block(b, data.shape[1])
                                            for b in array_blocks(data, block_size)))
    proc = Processor(settings, sample_rate_hz, data.shape[1], keep_spectrogram=keep_spectrogram,
                     keep_trace=keep_trace, on_event=on_event, **layout)
    if data.dtype.kind in "iu" and data.dtype.itemsize == 1:  # as an 8-bit file is warned of
        proc.warn(io.coarse_warning("the array's", "8-bit", str(data.dtype)))
        proc.coarse = "8-bit"
    require_one_window(len(data), sample_rate_hz, settings, "the audio")
    feed(proc, array_blocks(data, block_size))
    return proc.finish()


def take_encoding(proc, info):
    """Tell the processor ``proc`` how the file's samples were stored (``info``, its
    :class:`~.io.AudioInfo`): the lossy codec or the coarse samples, and their warning."""
    from . import io

    warning = io.encoding_warning(info)
    if warning:
        proc.warn(warning)
    proc.codec = info.codec
    proc.coarse = io.COARSE_SUBTYPES.get(info.subtype)


def _hand_over(settings, sample_rate_hz, n_channels, **kwargs):
    """On a machine's first run, hand the second process that compiles the row stages'
    kernels (:mod:`._ahead`) its settings now, before the layout check: a processor is
    built with the layout the check chooses when it cannot tell (the row stages' kernels
    are those of any layout that tells the directions apart).  Building it compiles the
    few kernels of a processor's construction, before the second process builds its own.
    Settings that cannot be analysed are left to be refused as they always are."""
    from . import _ahead
    from . import layout_check as lc
    from .processor import Processor

    if not _ahead.pending():
        return
    try:
        if settings.layout == "auto":
            if n_channels == 1 or (settings.channels is not None and len(settings.channels) == 1):
                settings = lc.choose(settings, None, n_channels)[0]
            else:
                settings = settings.replace(layout=lc.DEFAULT_LAYOUT)
        Processor(settings, sample_rate_hz, n_channels, **kwargs)
    except DopplerflowError:
        pass


def auto_layout(settings, sample_rate_hz, n_channels, blocks):
    """With ``settings.layout == 'auto'``: check the start of the stream and choose.

    Parameters
    ----------
    settings : Settings
    sample_rate_hz : float
    n_channels : int
    blocks : callable
        Returns an iterable of the stream's ``(frames, n_channels)`` float32 blocks
        from its start (only the first seconds are read).

    Returns
    -------
    settings : Settings
        With the layout chosen (unchanged unless it was ``auto``).
    layout : dict
        Keyword arguments of :class:`~dopplerflow.core.processor.Processor`: the
        check made and how the layout was chosen (empty unless ``auto``).

    Raises
    ------
    LayoutError
        More than two channels and none named (:func:`~.layout_check.choose`).
    """
    from . import layout_check as lc

    if settings.layout != "auto":
        return settings, {}
    settings.validate(sample_rate_hz)
    pair = lc.check_pair(n_channels, settings.channels)
    if settings.channels is not None and len(settings.channels) == 1:
        pair = None  # one channel named: it is read as mono, whatever the channel count
    verdict = None
    if pair is not None:
        channel_map("iq", n_channels, channels=pair)  # refuses a channel that is not there
        verdict = lc.measure(blocks(), sample_rate_hz, n_channels, pair,
                             hum_hz=settings.hum_hz)
    chosen, how = lc.choose(settings, verdict, n_channels)
    return chosen, {"layout_check": verdict, "layout_chosen": how}


def _samples(source):
    """``source`` as an array of samples; AudioFileError for an open file, InputError for
    anything else that is neither a path nor numbers."""
    if hasattr(source, "read"):
        raise AudioFileError(f"{_shown(source)} is an open file; give its path instead "
                             f"(the recording is read by name, and more than once)")
    try:
        data = np.asarray(source)
    except (TypeError, ValueError):  # ragged nesting, objects that are no arrays
        data = None
    if data is None or data.dtype.kind not in "biufc":
        raise InputError(f"source {_shown(source)} is neither the path of an audio file nor "
                         f"an array of samples (frames, channels)")
    return data


def check_block_size(block_size):
    """Raise :class:`SettingsError` unless ``block_size`` is a whole number of frames >= 1."""
    if (not isinstance(block_size, numbers.Integral) or isinstance(block_size, (bool, np.bool_))
            or block_size < 1):
        raise SettingsError(f"block size {block_size!r} must be a whole number of frames, 1 or "
                            f"more")


def require_one_window(n_frames, sample_rate_hz, settings, name):
    """Raise :class:`InputError` unless ``n_frames`` hold one analysis window."""
    from .io import _name

    window_s = settings.analysis_window_s
    need = int(round(window_s * sample_rate_hz))
    name = _name(name)
    if n_frames < need:
        raise InputError(f"{name} is {_length(n_frames, sample_rate_hz)} long; at least one "
                         f"{window_s * 1e3:g} ms analysis window ({need} samples) is "
                         f"needed")


def _length(n_frames, sample_rate_hz):
    """A length too short to analyse, as a message says it: ``'5.0 ms'``, or in samples
    when under a tenth of a millisecond would round to nothing (``'1 sample (0.021 ms)'``)."""
    ms = 1e3 * n_frames / sample_rate_hz
    if ms >= 0.1:
        return f"{ms:.1f} ms"
    return f"{n_frames} sample{'s' if n_frames != 1 else ''} ({ms:.2g} ms)"
