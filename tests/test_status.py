"""What a live session shows on the terminal: the status line and the event lines."""

import io
import math
import time
import types

from dopplerflow.live.status import STATUS_INTERVAL_S, StatusLine, format_event, format_status


def test_format_status_fields():
    line = format_status({"time_s": 12.345, "velocity_cm_s": -15.24, "direction": "retrograde",
                          "flow": True, "reflux_timer_s": 0.62, "level_dbfs": -12.0,
                          "clipped_samples": 3, "input_overflows": 2, "dropped_frames": 0})
    assert "\n" not in line and "\r" not in line
    assert "12.35 s" in line and "-15.2 cm/s retrograde" in line and "flow yes" in line
    assert "reflux  0.62 s" in line and "-12.0 dBFS |#######" in line  # (60-12)/6 = 8 cells
    assert "|########  |" in line
    assert "CLIP 3" in line and "OVERFLOW 2" in line
    quiet = format_status({"time_s": 1.0, "level_dbfs": -math.inf})
    assert "flow no" in quiet and "-inf dBFS |          |" in quiet
    assert "reflux" not in quiet and "CLIP" not in quiet and "OVERFLOW" not in quiet
    learning = format_status({"time_s": 1.0, "level_dbfs": -20.0, "learning": True})
    assert "learning the floor" in learning and "cm/s" not in learning
    assert len(learning) == len(format_status({"time_s": 1.0, "level_dbfs": -20.0}))


def test_format_event_lines():
    ev = {"type": "reflux_confirmed", "start_s": 9.02, "duration_s": 0.885,
          "peak_velocity_cm_s": 13.46, "time_s": 9.905}
    assert format_event(ev) == ("reflux confirmed at 9.90 s: started 9.02 s, 0.89 s so far, "
                                "peak 13.5 cm/s")
    ev.update(type="reflux_ended", duration_s=1.5, time_s=10.52)
    assert format_event(ev).startswith("reflux ended at 10.52 s: started 9.02 s, lasted 1.50 s")
    ev.update(type="reflux_withdrawn", duration_s=0.88, time_s=9.91)
    assert format_event(ev) == ("reflux withdrawn at 9.91 s: the retrograde flow from 9.02 s "
                                "lasted 0.880 s, not longer than the threshold")
    ev = {"type": "reflux_not_assessable", "time_s": 0.41,
          "reason": "two vessels flow opposite ways in the beam"}
    assert format_event(ev) == ("reflux not assessable from 0.41 s: two vessels flow opposite "
                                "ways in the beam; give the vein's direction with --antegrade "
                                "toward|away")


class Tty(io.StringIO):
    """A captured terminal: what is written to it, as a terminal would be given it."""

    def isatty(self):
        return True


def test_status_line_rewrites_one_line_at_most_ten_times_a_second():
    out = Tty()
    session = types.SimpleNamespace(status=lambda: {"time_s": 1.0, "flow": True,
                                                    "level_dbfs": -20.0})
    line = StatusLine(session, stream=out)
    t_end = time.monotonic() + 0.35
    while time.monotonic() < t_end:
        line()
    writes = out.getvalue().split("\r")[1:]
    # 0.35 s at one update per STATUS_INTERVAL_S (0.1 s): the first at once, then at most 3
    assert 1 <= len(writes) <= 1 + 0.35 / STATUS_INTERVAL_S
    assert all("\n" not in w and "flow yes" in w for w in writes)
    piped = io.StringIO()  # not a terminal: no status line at all
    StatusLine(session, stream=piped)()
    assert piped.getvalue() == ""


def screen(text):
    """The lines a terminal shows for ``text``: ``\\r`` returns to the line's start and
    what follows overwrites it, ``\\n`` starts a new line."""
    lines, line, col = [], [], 0
    for ch in text:
        if ch == "\r":
            col = 0
        elif ch == "\n":
            lines.append("".join(line).rstrip())
            line, col = [], 0
        else:
            line[col:col + 1] = [ch]
            col += 1
    return lines + ["".join(line).rstrip()]


def test_event_lines_never_share_the_status_line():
    """Status and events written to one terminal (as stderr and stdout are): each event
    stands on a line of its own, and the status line is drawn again under it."""
    import threading

    tty = Tty()
    t = [0.0]
    session = types.SimpleNamespace(status=lambda: {"time_s": t[0], "flow": True,
                                                    "level_dbfs": -20.0})
    status = StatusLine(session, stream=tty)
    events = [{"type": "reflux_confirmed", "start_s": 2.0 + i, "duration_s": 0.86,
               "peak_velocity_cm_s": 14.0, "time_s": 2.86 + i} for i in range(20)]

    def worker():  # the session's worker thread, as on_event is called from it
        for ev in events:
            status.event(ev, file=tty)
            time.sleep(0.013)

    thread = threading.Thread(target=worker)
    thread.start()
    while thread.is_alive():
        t[0] += 0.05
        status()
        time.sleep(0.005)
    thread.join()
    status()
    lines = screen(tty.getvalue())
    expected = [format_event(ev) for ev in events]
    assert [ln for ln in lines if "reflux" in ln] == expected
    assert all("dBFS" not in ln for ln in lines if "reflux" in ln)
    assert "dBFS" in lines[-1]  # the status line, under the last event
    status.clear()
    assert screen(tty.getvalue())[-1] == ""


def test_event_lines_without_a_status_line():
    """--quiet, or stderr not a terminal: the events are printed all the same."""
    out = io.StringIO()
    status = StatusLine(types.SimpleNamespace(status=dict), stream=Tty(), enabled=False)
    ev = {"type": "reflux_ended", "start_s": 9.02, "duration_s": 1.5,
          "peak_velocity_cm_s": 13.46, "time_s": 10.52}
    status()
    status.event(ev, file=out)
    assert out.getvalue() == format_event(ev) + "\n"
    assert status.stream.getvalue() == ""


def test_a_lost_contact_shows_on_the_status_line():
    """The contact lost for 0.8 s inside a reflux (16-bit ``gsv_squeeze_reflux``, the
    device's own noise alone at 2.8-3.6 s), streamed in 10 ms blocks as a live session
    feeds it: the status says ``quiet`` from 0.32 s into the stretch (four estimates of the
    level, 80 ms apart, and the frames' latency) to its end, and the line shows it; never
    elsewhere."""
    import numpy as np
    from test_noise import _gsv_16bit

    import dopplerflow as df

    x, fs = _gsv_16bit([(2.8, 3.6)], dither=True)
    proc = df.Processor(df.Settings(vessel="gsv", antegrade="toward", layout="iq"), fs, 2)
    block = fs // 100
    times, quiet = [], []
    for i in range(0, len(x), block):
        proc.push(x[i:i + block], rows=False)
        st = proc.status()
        times.append((i + block) / fs)
        quiet.append(st["quiet"])
        assert ("QUIET: contact lost?" in format_status(st)) == st["quiet"]
    t = np.asarray(times)[np.asarray(quiet)]
    assert t.size and 2.8 + 0.32 <= t.min() <= 2.8 + 0.32 + 0.1 and 3.6 <= t.max() <= 3.7
    assert t.size == round((t.max() - t.min()) * 100) + 1  # one stretch, no break


def test_a_mono_stream_shows_a_speed_without_direction():
    """Mono audio has no flow direction: the status gives the speed, unsigned, as
    ``speed``, where an I/Q stream gives a signed velocity and its direction."""
    import numpy as np

    import dopplerflow as df

    fs, n = 8000, 8000 * 5
    t = np.arange(n) / fs
    rng = np.random.default_rng(0)
    tone = np.cos(2 * np.pi * 700 * t) + 0.01 * rng.standard_normal(n)
    mono = df.Processor(df.Settings(layout="mono"), fs, 1)
    mono.push(tone[:, None].astype(np.float32), rows=False)
    st = mono.status()
    assert st["flow"] and st["direction"] == "speed" and st["velocity_cm_s"] > 0
    assert format_status(st).split()[2:5] == [f"{st['velocity_cm_s']:.1f}", "cm/s", "speed"]
    iq = df.Processor(df.Settings(layout="iq", antegrade="away"), fs, 2)
    iq.push(np.stack((np.cos(2 * np.pi * 700 * t), np.sin(2 * np.pi * 700 * t)),
                     axis=1).astype(np.float32), rows=False)
    st = iq.status()
    assert st["direction"] == "retrograde" and st["velocity_cm_s"] < 0
    assert format_status(st).split()[2] == f"{st['velocity_cm_s']:+.1f}"
