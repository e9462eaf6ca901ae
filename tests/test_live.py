"""Live streaming: real PortAudio devices, recorded without loss.

The devices are real: a private PulseAudio daemon whose null sink is played
into with ``paplay`` and captured from its monitor through PortAudio's ALSA
``pulse`` device (real time), and an ALSA ``type file`` PCM that hands a raw
file to PortAudio with no clock at all (far faster than real time).  The
command under test is the real ``dopplerflow live`` in a child process, so
signals, exit codes and the files it leaves behave as they do for a user.

The test signal is an I/Q tone with the direction flipping: +700 Hz (toward
the probe = antegrade here) for 2 s, -700 Hz for 1.5 s (a reflux longer than
the 0.88 s ``ijv`` threshold), +700 Hz for 1 s, with weak seeded noise.
"""

import json
import math
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf
from audio_servers import alsa_file_pcm, pulse_server, require_portaudio, write_raw_f32

from dopplerflow import analyze
from dopplerflow.live import default_block_size

_ = pulse_server  # fixture, used by name

HOP_S = 0.005  # default STFT hop
REFLUX_AT_S, REFLUX_S = 2.0, 1.5
SEGMENTS = ((REFLUX_AT_S, 700.0), (REFLUX_S, -700.0), (1.0, 700.0))
LIVE = [sys.executable, "-m", "dopplerflow.cli", "live"]
ANALYSIS_FLAGS = ["--layout", "iq", "--vessel", "ijv", "--antegrade", "toward"]
SAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples")


def tone_iq(sample_rate_hz, segments=SEGMENTS, seed=0):
    """(frames, 2) float32 I/Q: phase-continuous tone per segment + complex noise (-40 dB)."""
    freq = np.concatenate([np.full(int(round(d * sample_rate_hz)), f) for d, f in segments])
    phase = 2 * np.pi * np.cumsum(freq) / sample_rate_hz
    rng = np.random.default_rng(seed)
    z = 0.5 * np.exp(1j * phase) + 0.005 * (rng.standard_normal(len(freq))
                                            + 1j * rng.standard_normal(len(freq)))
    return np.stack((z.real, z.imag), axis=1).astype(np.float32)


class _Child:
    """A ``dopplerflow live`` child process whose stdout/stderr lines are collected."""

    def __init__(self, args, env, preexec_fn=None):
        self.proc = subprocess.Popen(LIVE + args, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn)
        self.out, self.err = [], []
        self._threads = [threading.Thread(target=self._drain, args=(s, lines), daemon=True)
                         for s, lines in ((self.proc.stdout, self.out),
                                          (self.proc.stderr, self.err))]
        for t in self._threads:
            t.start()

    @staticmethod
    def _drain(stream, lines):
        for line in stream:
            lines.append(line.rstrip("\n"))

    def wait_for(self, lines, text, timeout_s):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in line for line in lines):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.proc.kill()
        pytest.fail(f"'{text}' not seen; stdout={self.out!r} stderr={self.err!r}")

    def finish(self, timeout_s=60):
        rc = self.proc.wait(timeout=timeout_s)
        for t in self._threads:
            t.join(timeout=5)
        return rc


def _lag(recording, played):
    """Lag (frames) of ``played`` inside ``recording`` and the normalised correlation there."""
    r = recording[:, 0] + 1j * recording[:, 1]
    p = played[:, 0] + 1j * played[:, 1]
    n = 1 << int(math.ceil(math.log2(len(r) + len(p))))
    xc = np.fft.ifft(np.fft.fft(r, n) * np.conj(np.fft.fft(p, n)))[: len(r)]
    lag = int(np.argmax(np.abs(xc)))
    seg = r[lag:lag + len(p)]
    rho = np.abs(np.vdot(p[: len(seg)], seg)) / (np.linalg.norm(p) * np.linalg.norm(seg))
    return lag, float(rho)


def _one_event(result):
    assert result["reflux"] is True, result
    assert len(result["reflux_events"]) == 1, result["reflux_events"]
    return result["reflux_events"][0]


# ---------------------------------------------------------------------- no device needed
def test_default_block_size_is_about_2_5_ms():
    assert [default_block_size(fs) for fs in (8000, 16000, 44100, 48000, 96000, 192000)] == \
        [16, 32, 128, 128, 256, 512]


def test_import_is_light():
    code = ("import sys, dopplerflow, dopplerflow.live; "
            "print('sounddevice' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_unknown_device_is_one_line_error(tmp_path):
    require_portaudio()
    res = subprocess.run(LIVE + ["--device", "no-such-card-xyz", "--duration", "1"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "no-such-card-xyz" in lines[0] and "dopplerflow devices" in lines[0]


def test_no_default_device_is_one_line_error(tmp_path):
    """``live`` without --device where ALSA's default PCM is a card the machine lacks
    (PortAudio then names no default input): one line that says so, where it said "no input
    device None (Error querying device -1)"."""
    require_portaudio()
    (tmp_path / ".asoundrc").write_text("pcm.!default {\n    type hw\n    card 9\n}\n")
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("PULSE_SERVER", None)
    res = subprocess.run(LIVE + ["--duration", "1"], capture_output=True, text=True,
                         timeout=60, env=env)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "dopplerflow: error: no default input device (PortAudio names none: is a sound card "
        "connected?); give one with --device; run 'dopplerflow devices' to list the input "
        "devices"], res.stderr


def test_bad_recording_name_is_usage_error(tmp_path):
    require_portaudio()
    from dopplerflow import Settings
    from dopplerflow.errors import SettingsError
    from dopplerflow.live import LiveSession

    with pytest.raises(SettingsError, match=r"must end in \.flac or \.wav"):
        LiveSession(Settings(), record_path=tmp_path / "rec.mp3")
    with pytest.raises(SettingsError, match="duration"):
        LiveSession(Settings(), duration_s=-1.0)


def test_plot_without_display_is_refused_before_streaming(tmp_path):
    require_portaudio()
    env = alsa_file_pcm(tmp_path / "home", tmp_path / "none.raw")
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env["MPLBACKEND"] = "Agg"
    rec = tmp_path / "rec.wav"
    res = subprocess.run(LIVE + ["--device", "df_file", "--plot", "--record", str(rec)],
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stderr
    assert "--plot needs a display" in res.stderr
    assert not rec.exists()  # refused before anything was opened


# ---------------------------------------------------------------------- ALSA file PCM
def test_devices_lists_alsa_pcm(tmp_path):
    require_portaudio()
    raw = tmp_path / "in.raw"
    write_raw_f32(raw, tone_iq(8000, segments=((0.1, 700.0),)))  # PortAudio probes the device
    env = alsa_file_pcm(tmp_path / "home", raw, name="df_listed")
    res = subprocess.run([sys.executable, "-m", "dopplerflow.cli", "devices", "--json"], env=env,
                         capture_output=True, text=True, timeout=60, check=True)
    names = {d["name"]: d for d in json.loads(res.stdout)}
    assert "df_listed" in names
    assert names["df_listed"]["max_input_channels"] >= 2


def test_unpaced_source_is_recorded_and_analysed_completely(tmp_path):
    """Input far faster than real time, analysis slower than the input: nothing lost.

    The ``null`` PCM has no clock, so the device delivers the file as fast as
    the callback returns (measured below against the audio duration); the
    queue absorbs the difference and the worker catches up.  The recording
    must equal the first ``--duration`` seconds of the file bit for bit
    (float32 in a float WAV), which any lost, repeated or reordered block
    would break, and the live events must equal ``analyze`` of the same audio.
    """
    require_portaudio()
    fs, duration_s = 48000, 4.0
    x = tone_iq(fs)  # 4.5 s: more than --duration (the PCM repeats stale data after the end)
    raw = tmp_path / "in.raw"
    write_raw_f32(raw, x)
    env = alsa_file_pcm(tmp_path / "home", raw)
    rec, out = tmp_path / "rec.wav", tmp_path / "out.json"
    t0 = time.monotonic()
    child = _Child(["--device", "df_file", "--sample-rate", str(fs), "--duration",
                    str(duration_s), "--record", str(rec), "--json", str(out), "--block-size",
                    "1024", *ANALYSIS_FLAGS], env)
    rc = child.finish()
    elapsed = time.monotonic() - t0
    assert rc == 0, child.err
    y, rate = sf.read(rec, dtype="float32")
    n = int(duration_s * fs)
    assert rate == fs and y.shape == (n, 2)
    assert rec.read_bytes()[:4] == b"RIFF"  # RF64 closed under 4 GiB: a plain WAV
    assert np.array_equal(y, x[:n])
    result = json.loads(out.read_text())
    assert result["input_overflows"] == 0 and result["dropped_frames"] == 0
    assert result["duration_s"] == duration_s
    assert result["live"]["end_reason"] == "duration"
    # the analysis fell behind the unpaced input: the queue, not luck, kept every sample
    assert result["live"]["max_analysis_lag_s"] > 0.5
    ref = analyze(x[:n], sample_rate_hz=fs, vessel="ijv", antegrade="toward").to_dict()
    assert result["reflux_events"] == ref["reflux_events"]
    ev = _one_event(result)
    assert any(line.startswith("reflux confirmed") for line in child.out)
    assert any(line.startswith("reflux ended") for line in child.out)
    print(f"unpaced: {duration_s} s of audio in {elapsed:.2f} s wall time (with start-up), "
          f"analysis up to {result['live']['max_analysis_lag_s']} s behind, event {ev}")


def test_live_hum_removal_equals_analyze(tmp_path):
    """A recording with mains hum through a real device with --hum 50: the live result is
    analyze's with hum_hz=50, the reflux is found, and the recording keeps the hum."""
    require_portaudio()
    from dopplerflow.sim import synth

    fs, duration_s = 48000, 7.0
    syn = synth.synthesize("jugular_valsalva", sample_rate_hz=fs, duration_s=7.5, seed=1)
    audio = synth.to_layout(syn.baseband, "iq", fs)
    audio = 0.5 * audio / np.abs(audio).max()
    x = (audio + synth.mains_hum(len(audio), fs, 2, 10 ** (-30 / 20), seed=1)).astype(np.float32)
    raw = tmp_path / "in.raw"
    write_raw_f32(raw, x)
    env = alsa_file_pcm(tmp_path / "home", raw)
    rec, out = tmp_path / "rec.wav", tmp_path / "out.json"
    flags = ["--layout", "iq", "--vessel", "ijv", "--antegrade", "away"]
    child = _Child(["--device", "df_file", "--sample-rate", str(fs), "--duration",
                    str(duration_s), "--record", str(rec), "--json", str(out), "--block-size",
                    "1024", "--hum", "50", *flags], env)
    assert child.finish() == 0, child.err
    n = int(duration_s * fs)
    y, _ = sf.read(rec, dtype="float32")
    assert np.array_equal(y, x[:n])  # the recording is the input, hum and all
    result = json.loads(out.read_text())
    ref = analyze(x[:n], sample_rate_hz=fs, vessel="ijv", antegrade="away", hum_hz=50.0)
    assert result["reflux_events"] == ref.to_dict()["reflux_events"]
    assert result["reflux"] is True and len(result["reflux_events"]) == 1
    assert result["hum"]["mains_hz"] == 50.0
    truth = syn.truth["reflux_events"][0]
    # within the rows a step spreads over at the start; the end may read late by up to the
    # notches' time constant (see the README)
    assert abs(result["reflux_events"][0]["start_s"] - truth["start_s"]) <= 0.02
    assert -0.02 <= result["reflux_events"][0]["end_s"] - truth["end_s"] <= 0.1


def test_a_layout_that_does_not_fit_is_told(tmp_path):
    """A mono probe in both channels read as I/Q: a line on stderr once its first seconds are
    checked, and the JSON's check, as ``analyze`` gives them."""
    require_portaudio()
    from dopplerflow.sim import synth

    fs = 8000
    syn = synth.synthesize("jugular_valsalva", sample_rate_hz=fs, seed=1)  # 12 s
    m = synth.to_layout(syn.baseband, "mono", fs)[:, 0]
    x = np.stack((m, m), axis=1).astype(np.float32) * np.float32(0.5 / np.abs(m).max())
    raw = tmp_path / "in.raw"
    write_raw_f32(raw, x)
    env = alsa_file_pcm(tmp_path / "home", raw)
    out = tmp_path / "out.json"
    child = _Child(["--device", "df_file", "--sample-rate", str(fs), "--duration", "11",
                    "--json", str(out), "--block-size", "256", *ANALYSIS_FLAGS], env)
    assert child.finish() == 0, child.err
    told = [line for line in child.err if line.startswith("dopplerflow live: warning: ")]
    assert len(told) == 1 and told[0].endswith("use --layout mono --channels 1")
    result = json.loads(out.read_text())
    ref = analyze(x[:11 * fs], sample_rate_hz=fs, layout="iq", vessel="ijv",
                  antegrade="toward").to_dict()
    assert result["layout_check"] == ref["layout_check"]
    assert told[0] == f"dopplerflow live: warning: {ref['warnings'][0]}"
    assert result["layout_check"]["verdict"] == "copy" and not result["layout_check"]["fits"]


def test_toward_away_inputs_at_different_gains_are_told(tmp_path):
    """The bundled toward/away recording with its right channel 12 dB up, through a real
    device: once its first seconds are checked, a line names the louder input (to set the
    gains alike while recording), and the result is analyze's: the two true refluxes."""
    require_portaudio()
    x, fs = sf.read(os.path.join(SAMPLES, "gsv_reflux_toward_away.flac"), dtype="float32")
    x[:, 1] *= np.float32(10.0 ** (12.0 / 20.0))
    x *= np.float32(0.5 / np.abs(x).max())
    raw = tmp_path / "in.raw"
    write_raw_f32(raw, x)
    env = alsa_file_pcm(tmp_path / "home", raw)
    out = tmp_path / "out.json"
    flags = ["--layout", "toward-away", "--vessel", "gsv", "--antegrade", "toward"]
    child = _Child(["--device", "df_file", "--sample-rate", str(fs), "--duration", "11.5",
                    "--json", str(out), "--block-size", "256", *flags], env)
    assert child.finish() == 0, child.err
    told = [line for line in child.err if line.startswith("dopplerflow live: warning: ")]
    ref = analyze(x[:int(11.5 * fs)], sample_rate_hz=fs, layout="toward-away", vessel="gsv",
                  antegrade="toward").to_dict()
    gains = [w for w in ref["warnings"] if "recorded at different gains" in w]
    assert len(gains) == 1 and gains[0].startswith("the right channel's noise stands 1")
    assert told == [f"dopplerflow live: warning: {gains[0]}"]
    result = json.loads(out.read_text())
    assert result["layout_check"] == ref["layout_check"]
    assert result["reflux_events"] == ref["reflux_events"] and len(ref["reflux_events"]) == 2


KEEPS_TRACE = """
import sys
from dopplerflow.cli import main
from dopplerflow.live import session
kept = []
close = session.LiveSession.close
def closing(self):
    kept.append(self.processor.stored is not None)
    return close(self)
session.LiveSession.close = closing
rc = main(["live", "--device", "df_file", "--sample-rate", "48000", "--duration", "2", "-q",
           "--layout", "iq", "--vessel", "ijv", *sys.argv[1:]])
print(rc, kept)
"""


def test_live_keeps_the_trace_for_csv_only(tmp_path):
    """The per-frame trace (24 bytes a 5 ms hop: 17 MB an hour) is kept where --csv writes
    it, and not for the JSON or the beats CSV, which do not read it: a session ran in
    memory that grew by that much whatever its outputs."""
    require_portaudio()
    raw = tmp_path / "in.raw"
    write_raw_f32(raw, tone_iq(48000))
    env = alsa_file_pcm(tmp_path / "home", raw)
    for name, flags, kept in (("json", ["--json", "a.json", "--beats-csv", "b.csv"], False),
                              ("csv", ["--csv", "t.csv"], True)):
        r = subprocess.run([sys.executable, "-c", KEEPS_TRACE, *flags], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
        assert r.stdout.split("\n")[-2] == f"0 [{kept}]", (name, r.stdout, r.stderr)
    assert json.loads((tmp_path / "a.json").read_text())["duration_s"] == 2.0
    assert (tmp_path / "b.csv").read_text().startswith("onset_s")
    assert len((tmp_path / "t.csv").read_text().splitlines()) > 300  # a row every 5 ms


OVERLOAD = """
import json, sys
from dopplerflow import Settings
from dopplerflow.live import LiveSession
s = LiveSession(Settings(vessel="ijv", antegrade="toward"), device="df_file",
                sample_rate_hz=48000, block_size=64, duration_s=float(sys.argv[2]),
                record_path=sys.argv[1], max_queue_s=0.003)
a = s.run()
print(json.dumps({"dropped_frames": s.dropped_frames, "dropped_blocks": s.dropped_blocks,
                  "input_overflows": s.input_overflows, "end_reason": s.end_reason,
                  "duration_s": a.duration_s, "gaps": a.to_dict().get("gaps", []),
                  "warnings": a.warnings}))
"""


def test_overload_is_counted_and_keeps_the_timeline(tmp_path):
    """A queue of 3 ms (two 64-frame blocks) overflows against an unpaced source.

    PortAudio does not flag overflows for this device (the ``null`` PCM never
    overruns), so this proves the other half: when the consumers fall behind
    the queue drops blocks, and every drop is counted, reported, written as
    silence of the same length and marked as a gap, so each recorded sample
    stays at its true time.  The input is a counter that is never zero, so
    the silent frames are exactly the dropped ones.
    """
    require_portaudio()
    fs, duration_s = 48000, 3.0
    n_file = int((duration_s + 1) * fs)
    i = np.arange(n_file)
    counter = np.stack(((i % 32767) + 1, (i // 32767) + 1), axis=1) / 32768.0
    raw = tmp_path / "counter.raw"
    write_raw_f32(raw, counter)
    env = alsa_file_pcm(tmp_path / "home", raw)
    rec = tmp_path / "rec.wav"
    res = subprocess.run([sys.executable, "-c", OVERLOAD, str(rec), str(duration_s)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"overload: {info['dropped_frames']} frames dropped in {info['dropped_blocks']} blocks")
    assert info["end_reason"] == "duration"
    assert info["dropped_frames"] > 0 and info["dropped_blocks"] > 0
    assert any("frames dropped" in w for w in info["warnings"])
    assert info["gaps"] and info["duration_s"] == duration_s
    y, _ = sf.read(rec, dtype="float32")
    n = int(duration_s * fs)
    assert y.shape == (n, 2)
    silent = (y == 0).all(axis=1)
    assert silent.sum() == info["dropped_frames"]
    assert np.array_equal(y[~silent], counter[:n][~silent].astype(np.float32))
    lost_s = sum(g["end_s"] - g["start_s"] for g in info["gaps"])
    # each gap's start and end are rounded to 0.1 ms in the JSON: up to 0.1 ms per gap
    assert lost_s == pytest.approx(info["dropped_frames"] / fs, abs=1e-4 * len(info["gaps"]))


# ---------------------------------------------------------------------- PulseAudio
def test_pulse_capture_finds_the_reflux_and_records_the_audio(tmp_path, pulse_server):
    """paplay -> null sink -> monitor -> PortAudio 'pulse' -> dopplerflow live (Ctrl-C)."""
    require_portaudio()
    fs = pulse_server.sample_rate_hz
    played = tone_iq(fs)
    wav = tmp_path / "tone.wav"
    sf.write(wav, played, fs, subtype="PCM_16")
    played = sf.read(wav, dtype="float32")[0]  # what paplay actually sends: 16-bit values
    rec, out, csv = tmp_path / "rec.flac", tmp_path / "out.json", tmp_path / "trace.csv"
    child = _Child(["--device", "pulse", "--sample-rate", str(fs), "--record", str(rec),
                    "--json", str(out), "--csv", str(csv), *ANALYSIS_FLAGS],
                   pulse_server.env)
    child.wait_for(child.err, "Ctrl-C to stop", timeout_s=60)
    pulse_server.play(wav)
    time.sleep(0.5)
    child.proc.send_signal(2)  # SIGINT, as Ctrl-C
    assert child.finish() == 0, child.err
    y, rate = sf.read(rec, dtype="float32")
    assert rate == fs
    lag, rho = _lag(y, played)
    assert len(y) >= lag + len(played)  # the recording covers the whole playback
    # The null sink drops the first few ms of a stream that joins it (the sink has already
    # rendered silence that far ahead); losing k of N frames gives rho = sqrt(1 - k / N),
    # 0.994 for 50 ms of 4.5 s.
    assert rho > 0.99
    seg = y[lag:lag + len(played)]
    k = int(np.argmax(np.any(seg != 0, axis=1)))
    assert k <= 0.05 * fs
    # 16-bit samples through a float32 null sink at 100 % volume come back unchanged, and a
    # 24-bit FLAC holds them exactly: every sample after the join is there, in place
    assert np.array_equal(seg[k:], played[k:])
    result = json.loads(out.read_text())
    ev = _one_event(result)
    # Onset and end sit at the tone's sign flips, shifted by the measured lag.  The frame grid
    # (hop 5 ms) falls anywhere relative to the flips and a 10 ms frame straddling one holds both
    # tones, so the boundaries are good to one hop plus half a window.
    tol_s = HOP_S + 0.005
    assert ev["start_s"] == pytest.approx(lag / fs + REFLUX_AT_S, abs=tol_s)
    assert ev["duration_s"] == pytest.approx(REFLUX_S, abs=2 * tol_s)
    # live = file: the same processor on the recorded audio gives the same event
    ref = analyze(str(rec), vessel="ijv", antegrade="toward").to_dict()
    assert result["reflux_events"] == ref["reflux_events"]
    confirmed = [line for line in child.out if line.startswith("reflux confirmed")]
    ended = [line for line in child.out if line.startswith("reflux ended")]
    assert len(confirmed) == 1 and len(ended) == 1, child.out
    assert f"lasted {ev['duration_s']:.2f} s" in ended[0]
    assert "input_overflows" in result and result["live"]["end_reason"] == "stopped"
    assert result["live"]["block_size"] == default_block_size(fs)  # short blocks by default
    assert csv.read_text().splitlines()[0].startswith("time_s")


def test_device_failure_keeps_recording_and_json(tmp_path, pulse_server):
    """The PulseAudio daemon is killed mid-stream: exit 1, one line, files intact."""
    require_portaudio()
    fs = pulse_server.sample_rate_hz
    wav = tmp_path / "tone.wav"
    sf.write(wav, tone_iq(fs, segments=((1.0, 700.0), (1.2, -700.0), (3.0, 700.0))), fs,
             subtype="PCM_16")
    rec, out = tmp_path / "rec.wav", tmp_path / "out.json"
    child = _Child(["--device", "pulse", "--sample-rate", str(fs), "--record", str(rec),
                    "--json", str(out), *ANALYSIS_FLAGS], pulse_server.env)
    child.wait_for(child.err, "Ctrl-C to stop", timeout_s=60)
    player = subprocess.Popen(["paplay", f"--device={pulse_server.sink_name}", str(wav)],
                              env=pulse_server.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    child.wait_for(child.out, "reflux ended", timeout_s=30)
    pulse_server.kill()
    player.wait(timeout=10)
    rc = child.finish()
    assert rc == 1, child.err
    # PortAudio's ALSA host API prints its own diagnostics ("Expression ... failed") to
    # stderr from C as the server goes; they are kept off the terminal, and dopplerflow's
    # message is the last line, and one line
    assert not [line for line in child.err if "Expression '" in line], child.err
    last = child.err[-1]
    assert last.startswith("dopplerflow: error: ") and "input device 'pulse'" in last
    assert "saved" in last
    y, rate = sf.read(rec, dtype="float32")
    assert rate == fs and len(y) > fs  # more than a second was captured before the kill
    result = json.loads(out.read_text())
    assert result["live"]["end_reason"] == "device_error"
    assert result["duration_s"] == pytest.approx(len(y) / fs, abs=1e-6)
    ev = _one_event(result)
    assert ev["duration_s"] == pytest.approx(1.2, abs=2 * (HOP_S + 0.005))


def test_a_live_wav_recording_cut_off_keeps_its_audio_in_any_program(tmp_path, pulse_server):
    """``dopplerflow live`` killed (SIGKILL) while it records a WAV: the header it left
    states the audio up to its last flush, which a program reading WAV headers reads
    (libsndfile, so soundfile, does), and dopplerflow reads all of it, with its reflux."""
    import os
    import signal

    from dopplerflow.core import io
    from dopplerflow.core.damage import unfinished_wav
    from dopplerflow.live.session import FLUSH_INTERVAL_S

    require_portaudio()
    fs = pulse_server.sample_rate_hz
    wav = tmp_path / "tone.wav"
    sf.write(wav, tone_iq(fs, segments=((1.0, 700.0), (1.2, -700.0), (3.0, 700.0))), fs,
             subtype="PCM_16")
    rec = tmp_path / "rec.wav"
    child = _Child(["--device", "pulse", "--sample-rate", str(fs), "--record", str(rec),
                    *ANALYSIS_FLAGS], pulse_server.env)
    child.wait_for(child.err, "Ctrl-C to stop", timeout_s=60)
    player = subprocess.Popen(["paplay", f"--device={pulse_server.sink_name}", str(wav)],
                              env=pulse_server.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        child.wait_for(child.out, "reflux ended", timeout_s=30)
        time.sleep(1.5 * FLUSH_INTERVAL_S)  # a flush after the reflux's end
        child.proc.send_signal(signal.SIGKILL)
        child.finish()
    finally:
        player.kill()
        player.wait(timeout=10)
    with open(rec, "rb") as fh:
        found = unfinished_wav(fh, os.path.getsize(rec))
    assert found is not None  # the header was never finished: the process died
    info = io.open_audio(rec)
    assert info.frames == found.frames and info.unfinished == found
    # the last flush wrote the header: all but at most a flush interval (and the blocks
    # queued behind it) is stated
    assert found.stated > 2.2 * fs
    assert found.frames - found.stated <= 2 * FLUSH_INTERVAL_S * fs
    assert sf.info(rec).frames == found.stated
    stated = sf.read(rec, dtype="float32")[0]
    whole = np.concatenate([b.copy() for b in io.iter_blocks(rec)])
    assert len(whole) == found.frames and np.array_equal(whole[:found.stated], stated)
    a = analyze(rec, layout="iq", vessel="ijv", antegrade="toward")
    assert a.duration_s == found.frames / fs and a.audio_complete
    assert a.reflux is True and len(a.reflux_events) == 1
    assert a.reflux_events[0].duration_s == pytest.approx(1.2, abs=2 * (HOP_S + 0.005))
    assert any(w.startswith("the file's header was never finished") for w in a.warnings)


# ---------------------------------------------------------------------- live plot, latency
def test_live_plot_draws_sonogram_and_shades_reflux():
    """The plot's own drawing path, headless (Agg): sonogram rows and a shaded reflux.

    The session is replaced by the four attributes the plot reads, with a real
    Processor behind them; no device is involved.
    """
    import types

    import matplotlib

    matplotlib.use("Agg")
    from dopplerflow import Processor, Settings
    from dopplerflow.live import LivePlot

    fs = 8000
    settings = Settings(vessel="ijv", antegrade="toward")
    events = []
    proc = Processor(settings, fs, 2, on_event=events.append)
    session = types.SimpleNamespace(processor=proc, settings=settings, sample_rate_hz=fs,
                                    events=events, status=proc.status)
    plot = LivePlot(session, span_s=5.0)
    try:
        x = tone_iq(fs, segments=((1.0, 700.0), (1.2, -700.0)))
        for i in range(0, len(x), 400):  # 50 ms blocks, one update each
            proc.push(x[i:i + 400])
            plot.feed(x[i:i + 400])
            plot.update()
        sono = plot.image.get_array()
        # the newest column's peak sits at the -700 Hz bin (bins ascend from -fs/2)
        col = np.asarray(sono[:, -1])
        f_peak = proc.config.freqs_hz[int(np.argmax(col))]
        assert abs(f_peak + 700.0) <= proc.config.bin_hz  # within one FFT bin
        assert plot.shades, "the running reflux is shaded"
    finally:
        plot.close()


def test_latency_benchmark_is_consistent():
    from benchmarks.latency import measure_latency

    fs, block = 16000, 256
    r = measure_latency(block, fs, phases=2)
    window_ms, hop_ms = 10.0, r["hop_ms"]
    assert r["audio_wait_ms"] >= 0 and r["processing_ms"] > 0
    # the frame that passes the threshold ends within the onset's placement on the hop grid
    # (half a hop either way) plus one hop after the crossing...
    assert -hop_ms / 2 <= r["decision_ms"] <= r["decision_max_ms"] <= 1.5 * hop_ms + 1e-9
    # ...its window's audio ends half a window less half a hop later, and the block holding
    # that sample is handed over at most a block after it
    look = window_ms / 2 - hop_ms / 2
    assert r["decision_ms"] + look <= r["audio_wait_ms"] + 1e-9
    assert r["audio_wait_ms"] <= r["decision_ms"] + look + r["block_ms"] + 1e-9
    assert r["latency_ms"] == pytest.approx(r["audio_wait_ms"] + r["processing_ms"])


# ---------------------------------------------------------------------- recordings, outputs
SESSION = """
import json, sys
from dopplerflow import Settings
from dopplerflow.errors import SettingsError
from dopplerflow.live import LiveSession
kw = dict(device="df_file", sample_rate_hz=8000, duration_s=0.5, block_size=256)
try:
    LiveSession(Settings(vessel="ijv"), record_path=sys.argv[1], **kw).run()
    refused = None
except SettingsError as exc:
    refused = str(exc)
s = LiveSession(Settings(vessel="ijv"), **kw)
first = s.run()
try:
    s.run()
    again = None
except RuntimeError as exc:
    again = str(exc)
print(json.dumps({"refused": refused, "again": again, "first": first.duration_s}))
"""


def test_python_session_refuses_an_existing_recording_and_runs_once(tmp_path):
    """``LiveSession`` with a real device: an existing ``record_path`` is refused before the
    stream opens, the file left as it was; a second ``run()`` is a RuntimeError, not the
    first result again."""
    require_portaudio()
    raw = tmp_path / "in.raw"
    write_raw_f32(raw, tone_iq(8000, segments=((3.0, 700.0),)))
    env = alsa_file_pcm(tmp_path / "home", raw)
    rec = tmp_path / "precious.flac"
    sf.write(rec, tone_iq(8000, segments=((2.0, -700.0),)), 8000, subtype="PCM_24")
    before = rec.read_bytes()
    res = subprocess.run([sys.executable, "-c", SESSION, str(rec)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout.strip().splitlines()[-1])
    assert info["refused"] == (f"recording '{rec}' exists; a recording is never overwritten: "
                               f"give a new file name")
    assert rec.read_bytes() == before
    assert info["first"] == 0.5
    assert info["again"] is not None and "already run" in info["again"]


def test_flac_recording_clips_and_the_analysis_sees_the_recording(tmp_path):
    """A float stream beyond full scale recorded to FLAC: the recording holds the samples
    clipped at full scale (24-bit), the live analysis is that of those samples (the JSON
    equals ``analyze`` of the recording, apart from the live fields and the clipping
    warning), and one warning counts the samples clipped."""
    require_portaudio()
    fs, duration_s = 8000, 4.0
    x = tone_iq(fs) * np.float32(2.6)  # |I|, |Q| up to 1.3: a third of the samples beyond 1
    raw = tmp_path / "in.raw"
    write_raw_f32(raw, x)
    env = alsa_file_pcm(tmp_path / "home", raw)
    rec, out = tmp_path / "rec.flac", tmp_path / "out.json"
    child = _Child(["--device", "df_file", "--sample-rate", str(fs), "--duration",
                    str(duration_s), "--record", str(rec), "--json", str(out), "--block-size",
                    "512", *ANALYSIS_FLAGS], env)
    assert child.finish() == 0, child.err
    n = int(duration_s * fs)
    y, _ = sf.read(rec, dtype="float32")
    q = np.clip(np.rint(x[:n] * 2.0 ** 23), -2 ** 23, 2 ** 23 - 1) / 2.0 ** 23
    assert np.array_equal(y, q.astype(np.float32))
    beyond = int(np.count_nonzero(np.abs(x[:n]) > 1.0))
    assert beyond > 0.1 * x[:n].size
    live = json.loads(out.read_text())
    ref = analyze(str(rec), layout="iq", vessel="ijv", antegrade="toward").to_dict()
    told = [w for w in live["warnings"] if "clipped in the FLAC recording" in w]
    assert told == [f"{beyond} sample(s) beyond full scale were clipped in the FLAC recording, "
                    f"and analysed as recorded; a .wav recording keeps float samples as they "
                    f"come"]
    for key in ("live", "input_overflows", "dropped_frames", "geometry_assumed"):
        del live[key]
    live["warnings"].remove(told[0])
    assert live == ref
    assert not any("beyond full scale: float values" in w for w in live["warnings"])


def test_blocks_of_a_second_run_and_longer_ones_are_refused(tmp_path, pulse_server):
    """A real-time device at 16 kHz in blocks of 16000 frames (1 s, the longest): the blocks
    come a second apart (the first one a block late), and the session runs to --duration
    instead of ending as a device error.  Longer blocks are refused in one line: a device
    hands over whole blocks only, and a stop loses what it captured of the last one."""
    require_portaudio()
    fs = pulse_server.sample_rate_hz
    out = tmp_path / "out.json"
    run = [*LIVE, "--device", "pulse", "--sample-rate", str(fs), "--duration", "5", "--json",
           str(out), "--quiet", *ANALYSIS_FLAGS, "--block-size"]
    res = subprocess.run([*run, str(int(fs))], env=pulse_server.env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    result = json.loads(out.read_text())
    assert result["live"]["end_reason"] == "duration" and result["live"]["error"] is None
    assert result["duration_s"] == 5.0
    res = subprocess.run([*run, str(int(fs) + 1)], env=pulse_server.env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert f"block size {int(fs) + 1} frames is more than 1 s" in res.stderr


def test_a_mono_sound_card_is_read_as_mono(tmp_path):
    """A device with one input channel and no --layout (a maker's mono USB sound card) is
    read as mono, and the opening line says so; ``--layout iq`` on it is refused in one line
    that names ``--layout mono`` (it said only that 2 channels were asked of 1)."""
    require_portaudio()
    fs = 8000
    raw = tmp_path / "in.raw"
    write_raw_f32(raw, np.zeros((3 * fs, 1), np.float32))
    env = alsa_file_pcm(tmp_path / "home", raw, mono_name="df_mono")
    out = tmp_path / "out.json"
    run = LIVE + ["--device", "df_mono", "--sample-rate", str(fs), "--duration", "1", "-q"]
    res = subprocess.run(run + ["--json", str(out)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert ("'df_mono' at 8000 Hz, 1 channel(s), layout mono (the device has one input "
            "channel: no flow direction)") in res.stderr
    result = json.loads(out.read_text())
    assert result["settings"]["layout"] == "mono" and result["direction_available"] is False
    res = subprocess.run(run + ["--layout", "iq"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr
    assert ("device 'df_mono' has 1 input channel(s), 2 requested (a mono sound card: "
            "--layout mono)") in res.stderr
    # a device with more channels stays iq
    res = subprocess.run(LIVE + ["--device", "df_file", "--sample-rate", str(fs), "--duration",
                                 "0.5", "-q", "--json", str(out)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(out.read_text())["settings"]["layout"] == "iq"


def test_quiet_and_one_channel_named_is_mono(tmp_path):
    """``live -q --channels 1`` (no --layout): one channel named is read as mono on it, as
    ``analyze`` reads it, and ``-q`` is taken as ``--quiet``."""
    require_portaudio()
    fs = 8000
    x = tone_iq(fs, segments=((3.0, 700.0),))[:, :1]  # one channel: a mono probe
    raw = tmp_path / "in.raw"
    write_raw_f32(raw, x)
    env = alsa_file_pcm(tmp_path / "home", raw)
    out, rec = tmp_path / "out.json", tmp_path / "rec.wav"
    res = subprocess.run(LIVE + ["--device", "df_file", "--sample-rate", str(fs), "--duration",
                                 "2", "--channels", "1", "-q", "--json", str(out), "--record",
                                 str(rec), "--vessel", "ijv"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    result = json.loads(out.read_text())
    assert result["settings"]["layout"] == "mono" and result["settings"]["channels"] == [1]
    assert result["direction_available"] is False
    ref = analyze(str(rec), layout="mono", vessel="ijv").to_dict()
    assert result["reflux_not_assessable"] == ref["reflux_not_assessable"]
    assert result["summary"] == ref["summary"]


def test_a_session_too_short_to_analyse_says_so_in_its_closing_line(tmp_path):
    """``--duration 0.05``: the closing line says nothing was analysed, as the JSON does."""
    require_portaudio()
    fs = 8000
    raw = tmp_path / "in.raw"
    write_raw_f32(raw, tone_iq(fs, segments=((1.0, 700.0),)))
    env = alsa_file_pcm(tmp_path / "home", raw)
    out = tmp_path / "out.json"
    res = subprocess.run(LIVE + ["--device", "df_file", "--sample-rate", str(fs), "--duration",
                                 "0.05", "--json", str(out), "--quiet", *ANALYSIS_FLAGS],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(out.read_text())["reflux_not_assessable"] == "nothing was analysed"
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("dopplerflow live: duration reached: 0.05 s of audio, none of it "
                           "analysed, 0 reflux event(s)"), last


def test_an_output_that_cannot_be_written_is_refused_before_the_stream_opens(tmp_path):
    """``--json`` in a folder where no file can be made: exit 1, one line, before anything is
    recorded (the recording is not even created)."""
    require_portaudio()
    raw = tmp_path / "in.raw"
    write_raw_f32(raw, tone_iq(8000, segments=((1.0, 700.0),)))
    env = alsa_file_pcm(tmp_path / "home", raw)
    rec = tmp_path / "rec.flac"
    t0 = time.monotonic()
    res = subprocess.run(LIVE + ["--device", "df_file", "--sample-rate", "8000", "--duration",
                                 "30", "--record", str(rec), "--json", "/proc/df_a.json",
                                 "--csv", str(tmp_path / "t.csv")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "--json /proc/df_a.json: no file can be made" in lines[0]
    assert not rec.exists() and not (tmp_path / "t.csv").exists()
    assert "Ctrl-C to stop" not in res.stderr
    print(f"refused in {time.monotonic() - t0:.1f} s")


def test_an_output_failing_at_the_end_keeps_the_others(tmp_path, pulse_server):
    """The folder of ``--json`` vanishes during the session: the recording, the CSV and the
    beats CSV are written all the same, the closing line is printed, and one line names
    the JSON that failed, with exit status 1."""
    require_portaudio()
    fs = pulse_server.sample_rate_hz
    gone = tmp_path / "gone"
    gone.mkdir()
    rec, csv, beats = tmp_path / "rec.flac", tmp_path / "t.csv", tmp_path / "b.csv"
    child = _Child(["--device", "pulse", "--sample-rate", str(fs), "--record", str(rec),
                    "--json", str(gone / "a.json"), "--csv", str(csv), "--beats-csv",
                    str(beats), "--quiet", *ANALYSIS_FLAGS], pulse_server.env)
    child.wait_for(child.err, "Ctrl-C to stop", timeout_s=60)
    time.sleep(1.0)
    gone.rmdir()
    child.proc.send_signal(2)  # SIGINT, as Ctrl-C
    assert child.finish() == 1, child.err
    assert child.err[-2].startswith("dopplerflow live: stopped: ")
    last = child.err[-1]
    assert last.startswith(f"dopplerflow: error: cannot write {gone / 'a.json'}: ")
    assert last.endswith("; the other outputs (--csv, --beats-csv) were written")
    assert csv.read_text().startswith("time_s") and beats.read_text()
    assert sf.info(str(rec)).duration > 0.5


def test_a_session_stopped_during_a_reflux_marks_it_cut_by_the_end(tmp_path):
    """``--duration`` ends the session 1 s into a 1.5 s reflux: the event is marked
    ``cut_by_end``, with a warning giving the least duration, as ``analyze`` marks it."""
    require_portaudio()
    fs, duration_s = 8000, 3.0
    x = tone_iq(fs)
    raw = tmp_path / "in.raw"
    write_raw_f32(raw, x)
    env = alsa_file_pcm(tmp_path / "home", raw)
    out = tmp_path / "out.json"
    res = subprocess.run(LIVE + ["--device", "df_file", "--sample-rate", str(fs), "--duration",
                                 str(duration_s), "--json", str(out), "--quiet", *ANALYSIS_FLAGS],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    result = json.loads(out.read_text())
    ev = _one_event(result)
    assert ev["cut_by_end"] is True
    assert ev["duration_s"] == pytest.approx(duration_s - REFLUX_AT_S, abs=2 * (HOP_S + 0.005))
    told = [w for w in result["warnings"] if w.startswith("reflux still running at the end")]
    assert len(told) == 1
    least = float(told[0].split("it lasted at least ")[1].split(" s")[0])
    assert least == pytest.approx(ev["duration_s"], abs=0.005 + 1e-9)  # printed to 10 ms
    ref = analyze(x[:int(duration_s * fs)], sample_rate_hz=fs, vessel="ijv",
                  antegrade="toward").to_dict()
    assert result["reflux_events"] == ref["reflux_events"]


def _file_size_limit(n_bytes):
    """A child's ``preexec_fn``: no file it writes may grow past ``n_bytes`` (a write past it
    fails as on a full disk, rather than the process being killed)."""
    import resource
    import signal

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (n_bytes, n_bytes))
    return limit


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_a_recording_that_cannot_be_written_on_ends_the_analysis_with_it(tmp_path, suffix):
    """Writing the recording fails part-way (a full disk; here a file-size limit): the
    session ends with one line that says so, the analysis ends where the recording does,
    and what the file holds is what was analysed (or a warning says how much less)."""
    require_portaudio()
    fs, duration_s = 8000, 4.0
    raw = tmp_path / "in.raw"
    write_raw_f32(raw, tone_iq(fs))
    env = alsa_file_pcm(tmp_path / "home", raw)
    rec, out = tmp_path / f"rec{suffix}", tmp_path / "out.json"
    limit = 40_000  # about 0.6 s of a float WAV, 1 s or more of this FLAC
    child = _Child(["--device", "df_file", "--sample-rate", str(fs), "--duration",
                    str(duration_s), "--record", str(rec), "--json", str(out), "--block-size",
                    "512", "-q", *ANALYSIS_FLAGS], env, preexec_fn=_file_size_limit(limit))
    assert child.finish() == 1, child.err
    failed = [line for line in child.err if "writing the recording" in line]
    assert len(failed) == 1 and len(child.err) == 2, child.err  # the start line, then it
    print(failed[0])
    live = json.loads(out.read_text())
    assert live["live"]["end_reason"] == "recording_error"
    ref = analyze(str(rec), vessel="ijv", antegrade="toward").to_dict()
    held = round(ref["duration_s"] * fs)  # read up to its last frame that decodes
    assert live["live"]["frames_recorded"] == held
    analysed = round(live["duration_s"] * fs)
    assert analysed < duration_s * fs
    short = [w for w in live["warnings"] if "did not reach the disk" in w]
    if held < analysed:  # a FLAC encoder's frame never written out
        assert len(short) == 1, live["warnings"]
    else:  # the file holds what was analysed
        assert held == analysed and not short
        assert live["summary"] == ref["summary"]
