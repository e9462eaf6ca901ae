"""Real audio servers for the live tests: a private PulseAudio daemon and ALSA file PCMs.

Nothing here imitates PortAudio.  :class:`PulseServer` starts a PulseAudio
daemon of its own (its own ``HOME`` and ``XDG_RUNTIME_DIR``, a float32
``module-null-sink``), so ``paplay`` into the sink can be captured from the
sink's monitor through PortAudio's ALSA ``pulse`` device, in real time.
:func:`alsa_file_pcm` writes an ``.asoundrc`` whose ``type file`` PCM reads
its capture samples from a raw file (``infile``) on top of the ``null`` PCM:
PortAudio sees an ordinary ALSA capture device that delivers the file as
fast as it is read, far faster than real time and with no pacing at all.

Both hand back an environment (a ``dict`` for ``subprocess``) in which the
child processes find these devices; the test process itself is left alone
(PortAudio reads the ALSA configuration once, when it initialises).

Requirements (Debian): ``pulseaudio``, ``pulseaudio-utils`` (``paplay``,
``pactl``), ``libasound2-plugins`` (the ALSA ``pulse`` PCM) and
``libportaudio2``.  A missing binary is an error, never a skip: the live
tests exist to run.
"""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

__all__ = [
    "PulseServer",
    "alsa_file_pcm",
    "pulse_server",
    "require_portaudio",
    "write_raw_f32",
]

#: Seconds to wait for the daemon to answer ``pactl info``.
START_TIMEOUT_S = 10.0


def require_portaudio():
    """Import sounddevice or skip the calling test if PortAudio itself is absent.

    Returns
    -------
    module
        The imported ``sounddevice`` module.
    """
    try:
        import sounddevice
    except OSError as exc:  # sounddevice raises OSError when libportaudio is missing
        pytest.skip(f"PortAudio library not available ({exc}); install libportaudio2")
    return sounddevice


def _need(binary):
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"'{binary}' not found on PATH; the live tests need the Debian packages "
                    f"pulseaudio and pulseaudio-utils")
    return path


def _alsa_pulse_plugin():
    """Whether ALSA's ``pulse`` PCM plugin (PortAudio's route to PulseAudio) is installed."""
    import glob

    name = "alsa-lib/libasound_module_pcm_pulse.so"
    return bool(glob.glob(f"/usr/lib*/*/{name}") or glob.glob(f"/usr/lib*/{name}"))


class PulseServer:
    """A private PulseAudio daemon with one null sink whose monitor is the default source.

    Parameters
    ----------
    root : pathlib.Path
        Empty directory that holds the daemon's ``HOME``, runtime dir and config.
    sample_rate_hz : int
        Rate of the null sink (and so of its monitor), Hz.
    channels : int
        Channels of the sink.
    sink_name : str
        Name of the null sink; the monitor source is ``<sink_name>.monitor``.

    Attributes
    ----------
    env : dict
        Environment for child processes: ``HOME``, ``XDG_RUNTIME_DIR``,
        ``PULSE_SERVER`` point at this daemon; client autospawn is off, so a
        killed daemon stays dead instead of being restarted by a client.
    """

    def __init__(self, root, sample_rate_hz=48000, channels=2, sink_name="df_sink"):
        self.root = Path(root)
        self.sample_rate_hz = int(sample_rate_hz)
        self.channels = int(channels)
        self.sink_name = sink_name
        self.process = None
        home = self.root / "home"
        runtime = self.root / "run"
        (home / ".config" / "pulse").mkdir(parents=True, exist_ok=True)
        runtime.mkdir(parents=True, exist_ok=True)
        runtime.chmod(0o700)
        # No autospawn: a client must not start a daemon of its own (and, as
        # root, the system-wide one would be refused anyway).
        (home / ".config" / "pulse" / "client.conf").write_text("autospawn = no\n")
        self.socket = runtime / "pulse" / "native"
        self.script = self.root / "default.pa"
        self.script.write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket}\n"
            f"load-module module-null-sink sink_name={sink_name} format=float32le "
            f"rate={self.sample_rate_hz} channels={self.channels}\n"
            f"set-default-sink {sink_name}\n"
            f"set-default-source {sink_name}.monitor\n"
        )
        self.log_path = self.root / "pulseaudio.log"
        self.env = dict(os.environ)
        self.env.update(
            HOME=str(home),
            XDG_RUNTIME_DIR=str(runtime),
            PULSE_SERVER=f"unix:{self.socket}",
        )
        for key in ("PULSE_SINK", "PULSE_SOURCE", "PULSE_COOKIE", "ALSA_CONFIG_PATH"):
            self.env.pop(key, None)

    def start(self):
        """Start the daemon and wait until it answers; return ``self``.

        Raises
        ------
        RuntimeError
            The daemon exited or did not answer within :data:`START_TIMEOUT_S`
            (the message holds the end of its log).
        """
        binary = _need("pulseaudio")
        _need("pactl")
        _need("paplay")
        if not _alsa_pulse_plugin():
            pytest.fail("the ALSA 'pulse' PCM plugin (libasound_module_pcm_pulse.so) is missing; "
                        "install the Debian package libasound2-plugins")
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        # -n: no default.pa; root needs no --system with a private HOME/runtime dir,
        # the daemon only warns.  --exit-idle-time=-1: never exit while idle.
        cmd = [binary, "-n", "-F", str(self.script), "--daemonize=no", "--use-pid-file=no",
               "--exit-idle-time=-1", "--disallow-exit", "--disable-shm=yes",
               "--log-target=stderr", "--log-level=info"]
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._log = log
        self.process = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=log,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            probe = subprocess.run(["pactl", "info"], env=self.env, capture_output=True,
                                   timeout=5)
            if probe.returncode == 0 and self.sink_name.encode() in probe.stdout:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"pulseaudio did not start; log: {self.log_tail()}")

    def log_tail(self, n_chars=2000):
        """Return the last ``n_chars`` characters of the daemon's log."""
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return ""

    def play(self, path, timeout_s=60.0):
        """Play an audio file into the null sink with ``paplay``; block until done.

        Returns
        -------
        subprocess.CompletedProcess
        """
        return subprocess.run(["paplay", f"--device={self.sink_name}", str(path)],
                              env=self.env, capture_output=True, timeout=timeout_s, check=True)

    def kill(self):
        """Kill the daemon abruptly (SIGKILL), as a device that vanishes mid-stream."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self):
        """Terminate the daemon (SIGTERM, then SIGKILL) and close its log."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None


@pytest.fixture
def pulse_server(tmp_path):
    """A started :class:`PulseServer` at 16 kHz stereo; stopped after the test."""
    server = PulseServer(tmp_path / "pulse", sample_rate_hz=16000, channels=2)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def write_raw_f32(path, samples):
    """Write ``(frames, channels)`` samples as raw interleaved little-endian float32.

    Parameters
    ----------
    path : str or pathlib.Path
    samples : numpy.ndarray, shape (frames, channels)
        Values in [-1, 1]; stored as float32 (exact for 16/24-bit sample values).
    """
    samples = np.asarray(samples)
    if samples.ndim != 2:
        raise ValueError("samples must be a (frames, channels) array")
    np.ascontiguousarray(samples, dtype="<f4").tofile(str(path))


def alsa_file_pcm(root, infile, *, name="df_file", mono_name=None):
    """Configure an unpaced ALSA capture device that reads ``infile``.

    ``pcm.<name>`` is a ``type file`` PCM over the ``null`` PCM whose capture
    data come from ``infile``, raw interleaved float32 little-endian (see
    :func:`write_raw_f32`).  The ``null`` PCM accepts any rate, channel count
    and format, and has no clock: the device delivers samples as fast as they
    are consumed, at whatever rate is asked for.  PortAudio opens it in
    float32 (its first choice when the device offers it, and dopplerflow asks
    for float32), so the raw bytes are read as they were written.  Past the
    end of ``infile`` the plugin keeps handing out stale buffer contents:
    read less than the file holds.

    A ``plug`` in front (to read 16-bit raw files) is not used on purpose:
    with alsa-lib 1.2.8, ``plug`` converting S16 to float over a ``file``
    PCM skips every other period of the ``infile`` after the third one,
    which would look like lost samples.

    Parameters
    ----------
    root : pathlib.Path
        Directory that becomes ``HOME`` (the ``.asoundrc`` is written there).
    infile : str or pathlib.Path
        Raw float32 interleaved samples.
    name : str
        ALSA PCM name, also the PortAudio device name.
    mono_name : str, optional
        Also configure ``pcm.<mono_name>``: a device with one input channel, as a mono
        sound card has (a ``type multi`` PCM of one binding over the file PCM, which
        PortAudio sees with one input channel).  It delivers digital silence: the
        ``multi`` plugin does not pass the ``infile``'s samples through.

    Returns
    -------
    dict
        Environment for child processes (``HOME`` set to ``root``).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / ".asoundrc").write_text(
        f'pcm.{name} {{\n'
        f'    type file\n'
        f'    slave.pcm "null"\n'
        f'    file "/dev/null"\n'
        f'    infile "{Path(infile).resolve()}"\n'
        f'    format "raw"\n'
        f'}}\n'
        + (f'pcm.{mono_name} {{\n'
           f'    type multi\n'
           f'    slaves.a {{ pcm "{name}"; channels 1 }}\n'
           f'    bindings.0 {{ slave a; channel 0 }}\n'
           f'}}\n' if mono_name else "")
    )
    env = dict(os.environ)
    env["HOME"] = str(root)
    env.pop("ALSA_CONFIG_PATH", None)
    return env
