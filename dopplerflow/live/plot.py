"""The live window: a scrolling sonogram and velocity trace, reflux shaded as it happens."""

import os
import queue
import sys

import numpy as np

from ..errors import SettingsError

__all__ = ["LivePlot", "check_gui"]


class LivePlot:
    """A scrolling sonogram and velocity trace, reflux shaded as it happens.

    Runs in the main thread (matplotlib's GUI loop lives there); the worker
    only hands it blocks through a small queue that drops (display only)
    when the window is slow, so drawing never delays the audio or the analysis.

    Parameters
    ----------
    session : LiveSession
        Read through ``processor``, ``settings``, ``sample_rate_hz``, ``events`` and
        ``status()``.
    span_s : float
        Seconds shown.

    Attributes
    ----------
    fig : matplotlib.figure.Figure
    image : matplotlib.image.AxesImage
        The sonogram, newest column on the right.
    shades : list
        The spans shading reflux (ended events and the one running) on the trace.
    closed : bool
        The window was closed.
    """

    def __init__(self, session, span_s=10.0):
        import matplotlib.pyplot as plt

        from ..core.spectrum import Framer
        from ..core.velocity import cm_s_per_hz
        from ..core.wall import WallFilter, wall_filter_sos

        self.session = session
        proc = session.processor
        self._plt = plt
        self._wall = WallFilter(
            proc.cmap, wall_filter_sos(session.settings.wall_hz,
                                                session.sample_rate_hz),
            session.sample_rate_hz)
        self._framer = Framer(proc.config)
        self._q = queue.Queue(maxsize=256)
        n_rows = int(round(span_s / proc.config.hop_s))
        self._hop_s = proc.config.hop_s
        self._span_s = span_s
        self._sono = np.full((proc.config.n_fft, n_rows), -120.0, np.float32)
        freqs = proc.config.freqs_hz
        st = session.settings
        scale = cm_s_per_hz(st.carrier_hz, st.angle_deg, st.sound_speed_m_s)
        self.fig, (self.ax_s, self.ax_v) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
        self.fig.canvas.manager.set_window_title("dopplerflow live")
        self.image = self.ax_s.imshow(self._sono, aspect="auto", origin="lower", cmap="gray",
                                      extent=(-span_s, 0, freqs[0] * scale, freqs[-1] * scale),
                                      vmin=-100, vmax=-20, interpolation="nearest")
        self.ax_s.set_ylabel("velocity, cm/s (+ toward probe)")
        self._t = np.linspace(-span_s, 0, n_rows)
        self._v = np.full(n_rows, np.nan)
        (self._line,) = self.ax_v.plot(self._t, self._v, lw=1)
        self.ax_v.axhline(0, color="k", lw=0.5)
        self.ax_v.set_xlabel("time, s (0 = now)")
        self.ax_v.set_ylabel("velocity, cm/s (+ antegrade)")
        self.ax_v.set_xlim(-span_s, 0)
        self.shades = []
        self.closed = False
        self.fig.canvas.mpl_connect("close_event", self._on_close)
        plt.show(block=False)

    def _on_close(self, _event):
        self.closed = True

    def feed(self, block):
        """Queue a block for display (worker thread); dropped if the window lags."""
        try:
            self._q.put_nowait(block)
        except queue.Full:
            pass

    def update(self):
        """Draw what arrived since the last call (main thread)."""
        if self.closed:
            return
        rows = []
        while True:
            try:
                block = self._q.get_nowait()
            except queue.Empty:
                break
            power = self._framer(self._wall(block))
            if len(power):
                rows.append(power)
        if rows:
            power = np.concatenate(rows)[-self._sono.shape[1]:]
            n = len(power)
            self._sono = np.roll(self._sono, -n, axis=1)
            self._sono[:, -n:] = 10 * np.log10(power.T + 1e-12)
            self.image.set_data(self._sono)
        st = self.session.status()
        self._v = np.roll(self._v, -1)
        self._v[-1] = st.get("velocity_cm_s", np.nan)
        self._line.set_ydata(self._v)
        finite = self._v[np.isfinite(self._v)]
        if finite.size:
            lim = max(5.0, float(np.abs(finite).max()) * 1.1)
            self.ax_v.set_ylim(-lim, lim)
        self._shade(st)
        self.fig.canvas.draw_idle()
        self.fig.canvas.flush_events()

    def _shade(self, st):
        for s in self.shades:
            s.remove()
        self.shades = []
        now = st.get("time_s", 0.0)
        spans = [(e["start_s"], e["start_s"] + e["duration_s"]) for e in self.session.events
                 if e["type"] == "reflux_ended"]
        if st.get("reflux_timer_s", 0.0) > 0:
            spans.append((now - st["reflux_timer_s"], now))
        for t0, t1 in spans:
            if t1 > now - self._span_s:
                self.shades.append(self.ax_v.axvspan(t0 - now, t1 - now, color="r",
                                                     alpha=0.2))

    def close(self):
        """Close the window."""
        self._plt.close(self.fig)


def check_gui():
    """Raise SettingsError unless matplotlib can open a window here."""
    import matplotlib

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        raise SettingsError("--plot needs a display, and there is none (DISPLAY is not set); "
                            "run without --plot and plot the recording afterwards with "
                            "'dopplerflow analyze FILE --plot OUT.png'")
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend().lower()
    if backend in ("agg", "pdf", "ps", "svg", "cairo", "template") or "inline" in backend:
        raise SettingsError(f"--plot needs an interactive matplotlib backend, but '{backend}' "
                            f"is in use (install a GUI toolkit such as python3-tk); run without "
                            f"--plot and plot the recording afterwards")
    del plt

