"""The sound-card libraries' own diagnostics, kept off the terminal of ``live`` and ``devices``.

PortAudio, ALSA and JACK print diagnostics of their own to the process's stderr from
C, out of reach of Python: PortAudio's ALSA host API prints ``Expression '...' failed
in 'src/hostapi/alsa/pa_linux_alsa.c', line: ...`` as a device vanishes mid-stream,
alsa-lib ``ALSA lib pcm.c:...`` for every card its configuration names but the machine
lacks, as PortAudio starts, and libjack ``Cannot connect to server socket`` where no
JACK server runs.  dopplerflow says what went wrong in its own line; these lines only
bury it.  :class:`LibraryOutputFilter` puts a pipe in place of the stderr file
descriptor while a command runs and copies through everything but those lines; Python's
own ``sys.stderr`` writes to the terminal (or file) it was, as before, so the live status
line still sees a terminal.
"""

import os
import re
import sys
import threading

__all__ = ["LibraryOutputFilter", "LIBRARY_LINE"]

#: The starts of the lines the sound-card libraries print of themselves.
_STARTS = (b"Expression '", b"ALSA lib ", b"Cannot connect to server ",
           b"jack server is not running", b"JackShmReadWritePtr")
#: A whole such line (PortAudio's ``Expression`` lines by their ``failed in``).
LIBRARY_LINE = re.compile(rb"(Expression '.*' failed in '|ALSA lib |Cannot connect to server |"
                          rb"jack server is not running|JackShmReadWritePtr)")


def _first_start(data):
    """Where the first library line's start lies in ``data`` (-1: none)."""
    found = [i for i in (data.find(s) for s in _STARTS) if i >= 0]
    return min(found) if found else -1


def _fileno(stream):
    """``stream``'s file descriptor, or None (no stream, or one without a descriptor)."""
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _held_tail(data):
    """The length of the longest end of ``data`` that begins a library line's start (held
    back until the next bytes tell)."""
    for n in range(min(len(data), max(map(len, _STARTS)) - 1), 0, -1):
        if any(s.startswith(data[-n:]) for s in _STARTS):
            return n
    return 0


class LibraryOutputFilter:
    """Context manager: the sound-card libraries' lines (:data:`LIBRARY_LINE`) written to
    file descriptor ``fd`` while it is entered are dropped, everything else is passed on
    as it comes (a status line redrawn with ``\\r`` included).

    Parameters
    ----------
    fd : int
        The file descriptor filtered (2: stderr).

    Attributes
    ----------
    dropped : int
        Lines dropped so far.
    """

    def __init__(self, fd=2):
        self.fd = fd
        self.dropped = 0
        self._saved = None
        self._thread = None
        self._stderr = None  # sys.stderr as it was, while another stands in for it

    def __enter__(self):
        try:
            os.fstat(self.fd)
        except OSError:  # closed (2>&-): nothing shows, nothing to filter
            return self
        sys.stderr.flush()
        read, write = os.pipe()
        self._saved = os.dup(self.fd)
        os.dup2(write, self.fd)
        os.close(write)
        self._thread = threading.Thread(target=self._pump, args=(read,), daemon=True,
                                        name="dopplerflow-stderr")
        self._thread.start()
        if self.fd == 2 and _fileno(sys.stderr) == 2:
            # Python's own lines go where stderr went, straight (a terminal stays one)
            self._stderr = sys.stderr
            sys.stderr = open(self._saved, "w", buffering=1, closefd=False,  # noqa: SIM115
                              encoding=self._stderr.encoding, errors=self._stderr.errors)
        return self

    def __exit__(self, *exc):
        if self._saved is None:
            return False
        try:
            sys.stderr.flush()
        finally:
            if self._stderr is not None:
                sys.stderr.close()  # (closefd=False: the saved descriptor stays open)
                sys.stderr, self._stderr = self._stderr, None
            # the pipe's last writer closed: the pump reads to its end and stops
            os.dup2(self._saved, self.fd)
            self._thread.join(timeout=5.0)
            os.close(self._saved)
            self._saved = None
        return False

    def _pump(self, read):
        """Copy the pipe to the saved stderr as it comes, without the libraries' lines.

        A library's line may begin where other output left its line open (a status line
        redrawn in place: C prints after it on the same line), so its start is looked for
        anywhere; from there to the end of the line is held until the line is whole."""
        pending = b""
        try:
            while chunk := os.read(read, 65536):
                pending += chunk
                out = []
                while (i := _first_start(pending)) >= 0:
                    out.append(pending[:i])
                    end = pending.find(b"\n", i)
                    if end < 0:
                        pending = pending[i:]  # the line goes on: held
                        break
                    line, pending = pending[i:end + 1], pending[end + 1:]
                    if LIBRARY_LINE.match(line):
                        self.dropped += 1
                    else:
                        out.append(line)
                else:
                    keep = _held_tail(pending)
                    out.append(pending[:len(pending) - keep])
                    pending = pending[len(pending) - keep:]
                self._write(b"".join(out))
            if pending and not LIBRARY_LINE.match(pending):
                self._write(pending)
        finally:
            os.close(read)

    def _write(self, data):
        try:
            while data:
                data = data[os.write(self._saved, data):]
        except OSError:  # stderr closed (a pipe whose reader left): nothing to tell
            pass
