"""Fuzzing: whatever a file, a setting, a score file or an argument holds, dopplerflow gives
a result or one of its own errors (a one-line message at the command line), never another
exception, and a damaged file gives the same samples whatever the block size.

Sized for CI (a few hundred examples, deterministic, some 30 s once the kernels are
compiled); ``pytest --slow`` tries 20 times as many, at random, for release checks.
"""

import io as bytes_io
import json

import conftest
import numpy as np
import pytest
import soundfile as sf
from common import read_blocks
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dopplerflow as df
from dopplerflow.core import io
from dopplerflow.core.envelopes import METHODS
from dopplerflow.core.layouts import LAYOUTS
from dopplerflow.core.settings import ANTEGRADE, SETTINGS_FIELDS
from dopplerflow.core.vessels import VESSELS
from dopplerflow.errors import (
    AudioFileError,
    DopplerflowError,
    InputError,
    LayoutError,
    SettingsError,
)
from dopplerflow.sim import score as sc

FS = 8000


def fuzz(n):
    """Hypothesis settings: ``n`` examples, the same ones every run; with ``--slow``
    ``20 n`` random ones.  No deadline: the first example may compile the kernels."""
    return settings(max_examples=20 * n if conftest.SLOW else n, derandomize=not conftest.SLOW,
                    deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def audio():
    """0.6 s of stereo I/Q (a tone flowing one way, then the other), 16-bit exact."""
    t = np.arange(int(0.6 * FS)) / FS
    f = np.where(t < 0.3, 700.0, -700.0)
    z = 0.4 * np.exp(2j * np.pi * np.cumsum(f) / FS)
    x = np.stack((z.real, z.imag), axis=1)
    x += np.random.default_rng(5).normal(0.0, 0.01, x.shape)
    x = (np.round(x * 32767) / 32768).astype(np.float32)
    df.analyze(x, sample_rate_hz=FS)  # the kernels compiled (or loaded) once, up front
    return x


@pytest.fixture(scope="module")
def encoded(audio):
    """The audio as the bytes of a WAV, FLAC and Ogg/Vorbis file, and their samples."""
    out = {}
    for fmt, subtype in (("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("OGG", "VORBIS")):
        buf = bytes_io.BytesIO()
        sf.write(buf, audio, FS, format=fmt, subtype=subtype)
        data = buf.getvalue()
        out[fmt] = data, sf.read(bytes_io.BytesIO(data), dtype="float32")[0]
    return out


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


# ------------------------------------------------------------------ damaged files
#: Leading bytes flipped: the WAV header (44 bytes) and a little data; FLAC's marker,
#: STREAMINFO, Vorbis comment and the first frame's header.
HEADER_BYTES = {"WAV": 64, "FLAC": 128}


@fuzz(200)
@given(fmt=st.sampled_from(sorted(HEADER_BYTES)), data=st.data())
def test_a_damaged_header_gives_a_result_or_a_file_error(encoded, folder, fmt, data):
    raw = bytearray(encoded[fmt][0])
    flips = data.draw(st.lists(st.tuples(st.integers(0, HEADER_BYTES[fmt] - 1),
                                         st.integers(1, 255)), min_size=1, max_size=4))
    for at, mask in flips:
        raw[at] ^= mask
    path = folder / f"flipped.{fmt.lower()}"
    path.write_bytes(bytes(raw))
    try:
        a = df.analyze(path)
    except (AudioFileError, InputError) as e:  # LayoutError is an InputError
        assert "\n" not in str(e)
        return
    assert a.duration_s > 0 and json.dumps(a.to_dict())
    first, _ = read_blocks(path, 65536)
    np.testing.assert_array_equal(read_blocks(path, 333)[0], first)


@fuzz(200)
@given(data_size=st.one_of(st.sampled_from([0, 2, 4, 2 ** 32 - 1]), st.integers(0, 2 ** 32 - 1)),
       riff_size=st.one_of(st.sampled_from([0, 8, 36, 2 ** 32 - 1]), st.integers(0, 2 ** 32 - 1)),
       tail=st.binary(max_size=40), cut=st.integers(0, 400))
def test_any_wav_sizes_give_the_audio_from_its_start(encoded, folder, data_size, riff_size,
                                                     tail, cut):
    """A WAV's sizes as a recorder that never finished them may leave them (any value),
    bytes after its data and a cut: a result or a file error; the samples read, the same
    for every block size, are the file's own from its start."""
    raw = bytearray(encoded["WAV"][0])
    samples = encoded["WAV"][1]
    at = raw.index(b"data") + 4
    raw[at:at + 4] = data_size.to_bytes(4, "little")
    raw[4:8] = riff_size.to_bytes(4, "little")
    raw = bytes(raw[:len(raw) - cut]) + tail
    path = folder / "sizes.wav"
    path.write_bytes(raw)
    try:
        a = df.analyze(path)
    except (AudioFileError, InputError) as e:
        assert "\n" not in str(e)
        return
    assert a.duration_s > 0 and json.dumps(a.to_dict())
    first, _ = read_blocks(path, 65536)
    np.testing.assert_array_equal(read_blocks(path, 333)[0], first)
    n = min(len(first), len(samples) - (cut + 3) // 4)  # the frames the cut left whole
    np.testing.assert_array_equal(first[:n], samples[:n])


@fuzz(200)
@given(fmt=st.sampled_from(["WAV", "FLAC", "OGG"]), data=st.data(),
       block_size=st.integers(1, 70000))
def test_a_cut_file_gives_the_same_samples_for_every_block_size(encoded, folder, fmt, data,
                                                                 block_size):
    raw, clean = encoded[fmt]
    cut = data.draw(st.integers(0, len(raw)))
    path = folder / f"cut.{fmt.lower()}"
    path.write_bytes(raw[:cut])
    try:
        first, report = read_blocks(path, 65536)
    except AudioFileError:  # empty, or cut inside the header: nothing to read
        with pytest.raises(AudioFileError):
            io.open_audio(path)
        return
    again, other = read_blocks(path, block_size)
    np.testing.assert_array_equal(again, first)
    assert (other.frames_read, other.reason) == (report.frames_read, report.reason)
    np.testing.assert_array_equal(first, clean[:len(first)])  # what is read is the file's
    if cut == len(raw):
        assert report.complete and len(first) == len(clean)
        return
    try:
        io.open_audio(path)
    except AudioFileError as e:  # cut in the header: nothing to analyse
        assert len(first) == 0 or "no audio frames" in str(e)
        return
    assert not report.complete and report.warning()


# ------------------------------------------------------------------ settings
def _numpy(value):
    """The same number as a numpy scalar, of a type chosen by its value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return np.int64(value) if isinstance(value, int) else np.float64(value)


ODD = st.one_of(
    st.none(), st.booleans(), st.text(max_size=4), st.binary(max_size=3),
    st.integers(-10 ** 6, 10 ** 6), st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=2),
                                                             st.integers(), max_size=2),
    st.just(object()), st.complex_numbers(max_magnitude=10),
    st.floats(-1e9, 1e9).map(np.float32))
#: Values in and around each field's range (the odd ones come from ODD).
NEAR = {
    "layout": st.sampled_from(LAYOUTS),
    "invert": st.booleans(),
    "offset_hz": st.floats(-10.0, 5000.0),
    "channels": st.sampled_from([(1, 2), (2, 1), (1,), (1, 1), (0, 1), (1, 3), [2, 1], ()]),
    "window_s": st.floats(0.001, 0.12),
    "hop_s": st.floats(1e-6, 0.12),
    "wall_hz": st.floats(0.0, 1500.0),
    "carrier_hz": st.floats(0.5e6, 25e6),
    "angle_deg": st.floats(-5.0, 95.0),
    "sound_speed_m_s": st.floats(800.0, 2200.0),
    "vessel": st.sampled_from(list(VESSELS) + ["aorta"]),
    "reflux_threshold_s": st.floats(-1.0, 5.0),
    "antegrade": st.sampled_from(ANTEGRADE + ("up",)),
    "envelope": st.sampled_from(list(METHODS) + ["max"]),
    "average_frames": st.sampled_from([1, 3, 2, 3.0]),
    "hum_hz": st.sampled_from([50, 60, 50.0, 55.0]),
}
SETTING = {name: st.one_of(NEAR[name], NEAR[name].map(_numpy), ODD) for name in SETTINGS_FIELDS}


@fuzz(300)
@given(changes=st.fixed_dictionaries({}, optional=SETTING))
def test_any_setting_gives_a_result_or_a_settings_error(audio, changes):
    try:
        a = df.analyze(audio, sample_rate_hz=FS, keep_trace=False, **changes)
    except LayoutError as e:  # channels or layout that do not fit the stereo input
        assert "channel" in str(e)
        return
    except SettingsError as e:
        assert "\n" not in str(e)
        return
    d = a.to_dict()
    json.dumps(d)  # numpy scalars became Python numbers
    for name, value in changes.items():
        if isinstance(value, (np.floating, np.integer)):
            assert type(d["settings"][name]) in (int, float) and d["settings"][name] == value


NUMERIC = sorted(name for name in NEAR if name not in ("layout", "vessel", "antegrade",
                                                        "envelope", "channels", "invert"))


def _outcome(settings):
    """What validating ``settings`` at FS gives: its warnings, or its error's message."""
    try:
        return settings.validate(FS)
    except SettingsError as e:
        return str(e)


@fuzz(100)
@given(name=st.sampled_from(NUMERIC), data=st.data())
def test_a_numpy_number_is_the_same_setting_as_a_python_number(name, data):
    value = data.draw(NEAR[name])
    try:
        python = df.Settings(**{name: value})
    except SettingsError:  # a float where a whole number belongs: so is its numpy twin
        with pytest.raises(SettingsError, match=f"{name}=.* is not valid: {name} takes"):
            df.Settings(**{name: _numpy(value)})
        return
    for twin in (_numpy(value), np.float32(value) if isinstance(value, float)
                 else np.int32(value)):
        numpy = df.Settings(**{name: twin})
        assert type(getattr(numpy, name)) is type(getattr(python, name)) in (int, float)
        if isinstance(twin, np.float32):  # rounded to single precision, and only that
            python = df.Settings(**{name: twin.item()})
        assert numpy == python and _outcome(numpy) == _outcome(python)


# ------------------------------------------------------------------ score files
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12)


@pytest.fixture(scope="module")
def pair():
    """A real result (trace included) and the truth of its recording, 1 s long."""
    from dopplerflow.sim.synth import synthesize

    syn = synthesize("jugular_valsalva", sample_rate_hz=FS, duration_s=1.0, seed=2)
    truth = json.loads(json.dumps(dict(syn.truth, sample_rate_hz=float(FS))))
    result = df.analyze(syn.baseband, sample_rate_hz=FS, vessel="ijv").to_dict(trace=True)
    return json.loads(json.dumps(result)), truth


def _mutated(record, data):
    """``record`` with one of its fields (or a field of a nested object) replaced by any JSON,
    or deleted."""
    record = json.loads(json.dumps(record))
    target = record
    key = data.draw(st.sampled_from(sorted(record)))
    if isinstance(record[key], dict) and record[key] and data.draw(st.booleans()):
        target, key = record[key], data.draw(st.sampled_from(sorted(record[key])))
    if data.draw(st.booleans()):
        del target[key]
    else:
        target[key] = data.draw(JSON)
    return record


def _score_files(folder, result_text, truth_text):
    (folder / "r.json").write_bytes(result_text)
    (folder / "t.json").write_bytes(truth_text)
    try:
        s = sc.score_files(folder / "r.json", folder / "t.json")
    except DopplerflowError as e:
        assert "\n" not in str(e)
        return None
    assert sc.format_score(s)
    json.dumps(s)
    return s


@fuzz(300)
@given(data=st.data())
def test_a_damaged_score_file_gives_a_score_or_an_error(pair, folder, data):
    result, truth = pair
    which = data.draw(st.sampled_from(["result", "truth", "both", "swapped"]))
    if which in ("result", "both"):
        result = _mutated(result, data)
    if which in ("truth", "both"):
        truth = _mutated(truth, data)
    if which == "swapped":
        result, truth = truth, result
    s = _score_files(folder, json.dumps(result).encode(), json.dumps(truth).encode())
    if which == "swapped":
        assert s is None


@fuzz(200)
@given(result=JSON | st.binary(max_size=40).map(lambda b: b"\x00" + b), truth=JSON)
def test_any_json_as_a_score_file_gives_a_score_or_an_error(folder, result, truth):
    text = result if isinstance(result, bytes) else json.dumps(result).encode()
    _score_files(folder, text, json.dumps(truth).encode())
    try:
        sc.score(result, truth)
    except DopplerflowError:
        pass


# ------------------------------------------------------------------ odd arguments
ODD_ARGUMENT = st.one_of(
    ODD, st.text(max_size=8).map(lambda s: f"/nonexistent/{s}.wav"),
    st.lists(st.floats(-1, 1), max_size=40),
    st.lists(st.tuples(st.floats(-1, 1), st.floats(-1, 1)), max_size=40),
    st.sampled_from([np.zeros((0, 2)), np.zeros((3, 2, 2)), np.array(["a", "b"]),
                     np.ones((100, 2), bool), np.ones((100, 2), object), np.zeros(50, complex),
                     np.full((200, 2), np.nan), np.zeros((200, 3), np.int16)]))


@fuzz(200)
@given(value=ODD_ARGUMENT)
def test_odd_arguments_give_a_dopplerflow_error(encoded, folder, value):
    wav = folder / "ok.wav"
    if not wav.exists():
        wav.write_bytes(encoded["WAV"][0])
    calls = [
        lambda: io.open_audio(value),
        lambda: list(io.iter_blocks(value, 1024)),
        lambda: list(io.iter_blocks(wav, value)),
        lambda: df.analyze(value, sample_rate_hz=FS),
        lambda: df.Settings().validate(value),
        lambda: df.analyze(wav, settings=value),
        lambda: df.Processor(df.Settings(), FS, 2).push(value),
        lambda: sc.score(value, {"flow": True}),
        lambda: sc.check_pair(value, value),
    ]
    for call in calls:
        try:
            call()
        except DopplerflowError as e:
            assert "\n" not in str(e)
