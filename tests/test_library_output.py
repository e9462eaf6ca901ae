"""The sound-card libraries' own lines are kept off stderr; everything else passes, in order."""

import ctypes.util
import subprocess
import sys
import textwrap

import pytest

from dopplerflow.cli.library_output import LIBRARY_LINE, LibraryOutputFilter


def _stderr_of(body):
    """The stderr of a child process that runs ``body`` inside a LibraryOutputFilter and
    then writes "after" to stderr itself."""
    code = textwrap.dedent("""
        import os, sys, time
        from dopplerflow.cli.library_output import LibraryOutputFilter
        with LibraryOutputFilter() as f:
        {body}
        sys.stderr.write(f"after: {{f.dropped}} dropped\\n")
    """).format(body=textwrap.indent(textwrap.dedent(body), "    "))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    return out.stderr.decode()


def test_library_lines_are_dropped_and_the_rest_passes_in_order():
    """Written straight to the file descriptor as C writes it, a library's line split over
    two writes included, one begun where a status line redrawn with \\r left its line open,
    between other lines; then Python's own line, which goes to stderr straight."""
    err = _stderr_of(r'''
        os.write(2, b"portaudio: opening 'pulse'\n")
        os.write(2, b"Expression 'alsa_snd_pcm_poll_descriptors_revents( self->pcm )' failed "
                    b"in 'src/hostapi/alsa/pa_linux_alsa.c', line: 3665\n")
        os.write(2, b"\r 1.0 s  flow 80%")
        os.write(2, b"ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unkn")
        time.sleep(0.05)
        os.write(2, b"own PCM cards.pcm.rear\n")
        os.write(2, b"\r 2.0 s  flow 81%")
        os.write(2, b"Cannot connect to server socket err = No such file or directory\n")
        os.write(2, b"ALSA is fine here, and so is an Expression in the middle\n")
        time.sleep(0.2)
        print("dopplerflow: error: input device 'pulse' stopped streaming", file=sys.stderr)
    ''')
    assert err == ("portaudio: opening 'pulse'\n"
                   "\r 1.0 s  flow 80%"
                   "\r 2.0 s  flow 81%"
                   "ALSA is fine here, and so is an Expression in the middle\n"
                   "dopplerflow: error: input device 'pulse' stopped streaming\n"
                   "after: 3 dropped\n")


def test_python_writes_to_the_terminal_it_had():
    """On a terminal (a pseudo-terminal here) sys.stderr is still one inside the filter, so
    the live status line is drawn, and its text reaches the terminal; descriptor 2 is the
    pipe, and a library's line written to it does not."""
    import os
    import pty

    code = textwrap.dedent("""
        import os, sys
        from dopplerflow.cli.library_output import LibraryOutputFilter
        print("before", sys.stderr.isatty(), os.isatty(2), file=sys.stderr)
        with LibraryOutputFilter():
            print("inside", sys.stderr.isatty(), os.isatty(2), file=sys.stderr)
            sys.stderr.write("\\r 3.0 s  flow 82%"); sys.stderr.flush()
            os.write(2, b"ALSA lib confmisc.c:767:(parse_card) cannot find card '0'\\n")
        print("after", sys.stderr.isatty(), file=sys.stderr)
    """)
    master, slave = pty.openpty()
    try:
        child = subprocess.Popen([sys.executable, "-c", code], stderr=slave,
                                 stdout=subprocess.DEVNULL)
        os.close(slave)
        got = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            got += chunk
        assert child.wait(timeout=60) == 0, got
    finally:
        os.close(master)
    text = got.decode().replace("\r\n", "\n")
    assert text == ("before True True\ninside True False\n\r 3.0 s  flow 82%after True\n"), text


def test_a_real_alsa_error_line_is_dropped():
    """alsa-lib's own error print, from C (an unknown PCM opened through ctypes): on
    stderr without the filter, not with it."""
    body = r'''
        import ctypes, ctypes.util
        lib = ctypes.CDLL(ctypes.util.find_library("asound") or "libasound.so.2")
        pcm = ctypes.c_void_p()
        rc = lib.snd_pcm_open(ctypes.byref(pcm), b"dopplerflow_no_such_pcm", 1, 0)
        print(f"rc {rc}", file=sys.stderr)
    '''
    if not ctypes.util.find_library("asound"):
        pytest.fail("libasound (Debian: libasound2) is needed; PortAudio's ALSA host API "
                    "loads it")
    err = _stderr_of(body)
    assert "ALSA lib" not in err and err.startswith("rc -") and "1 dropped" in err, err
    # the same without the filter: the line is there
    raw = subprocess.run([sys.executable, "-c", textwrap.dedent(body).replace(
        "import ctypes, ctypes.util", "import ctypes, ctypes.util, sys")],
        capture_output=True, timeout=60).stderr.decode()
    assert "ALSA lib" in raw and "dopplerflow_no_such_pcm" in raw, raw


def test_a_library_line_is_known_by_its_start():
    assert LIBRARY_LINE.match(b"Expression 'x' failed in 'src/hostapi/alsa/y.c', line: 1\n")
    assert LIBRARY_LINE.match(b"ALSA lib confmisc.c:767:(parse_card) cannot find card '0'\n")
    assert LIBRARY_LINE.match(b"jack server is not running or cannot be started\n")
    assert not LIBRARY_LINE.match(b"dopplerflow: error: ALSA lib missing\n")
    assert LibraryOutputFilter().dropped == 0


def test_a_closed_stderr_is_left_alone():
    """``dopplerflow live 2>&-``: nothing shows, so nothing is filtered, and the command
    runs (a pipe made then would take descriptor 2 itself)."""
    import os

    code = textwrap.dedent("""
        from dopplerflow.cli.library_output import LibraryOutputFilter
        with LibraryOutputFilter() as f:
            print("inside", f._saved)
        print("after")
    """)
    out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                         preexec_fn=lambda: os.close(2), timeout=60)  # noqa: PLW1509
    assert out.returncode == 0 and out.stdout.decode() == "inside None\nafter\n"
