"""The beats of a pulsing vessel: the truth that beat scoring reads.

A pulsing vessel's velocity repeats one cardiac cycle after another.  Given the
times the cycles start (the foot of each systolic upstroke) and the velocity,
:func:`cycle_truth` gives what a beat detector is scored against: the beats in the
recording, and per complete cycle its peak systolic velocity (the highest
velocity), its end-diastolic velocity (the velocity at its end), its time-averaged
maximum velocity (the mean over the cycle), RI and PI, and the heart rate.
:func:`scenario_pulse` gives the cycle starts of a scenario that pulses
(:attr:`~dopplerflow.sim.scenarios.Scenario.pulse`).
"""

import numpy as np

__all__ = ["cycle_truth", "scenario_pulse", "TRUTH_STEP_S", "PEAK_MARGIN_S"]

#: Time step the velocity is read at, s.
TRUTH_STEP_S = 0.001
#: A beat is in the recording when its systolic peak is at least this long before the end,
#: s (the spectra's window, time average and running median spread it by about that much).
PEAK_MARGIN_S = 0.025


def cycle_truth(starts_s, duration_s, velocity):
    """The beats of a recording whose cycles start at ``starts_s``.

    Parameters
    ----------
    starts_s : array_like
        Start of each cycle, s, increasing (it may run past either end of the
        recording).
    duration_s : float
        Length of the recording, s.
    velocity : callable
        ``velocity(t) -> v``: the velocity (cm/s, + antegrade) at the times ``t``
        (s, array).

    Returns
    -------
    dict
        ``beat_times_s``: the starts of the cycles whose systolic peak (highest
        velocity) lies in the recording, :data:`PEAK_MARGIN_S` before its end;
        ``complete_s``: the starts of the cycles wholly in it, and for each
        ``psv_cm_s`` (highest velocity), ``edv_cm_s`` (velocity at its end),
        ``tamv_cm_s`` (mean velocity), ``ri`` ``(PSV - EDV) / PSV`` and ``pi``
        ``(PSV - EDV) / TAMV``; ``heart_rate_bpm``: 60 over the median interval of
        the beats (None under two).  Lists of floats.
    """
    starts = np.asarray(starts_s, float)
    t = np.arange(0.0, duration_s, TRUTH_STEP_S)
    v = np.asarray(velocity(t), float)
    cycles = []
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        if a < 0 or b > duration_s:
            continue
        sel = (t >= a) & (t < b)
        cycles.append((a, float(v[sel].max()), float(v[sel][-1]), float(v[sel].mean())))
    c = np.array(cycles).reshape(-1, 4)
    inside = []
    for start, end in zip(starts, np.r_[starts[1:], np.inf], strict=True):
        sel = (t >= start) & (t < end)
        if 0 <= start < duration_s and sel.any() and \
                t[sel][np.argmax(v[sel])] < duration_s - PEAK_MARGIN_S:
            inside.append(start)
    rr = np.diff(inside)
    return {"beat_times_s": [float(x) for x in inside], "complete_s": c[:, 0].tolist(),
            "psv_cm_s": c[:, 1].tolist(), "edv_cm_s": c[:, 2].tolist(),
            "tamv_cm_s": c[:, 3].tolist(), "ri": ((c[:, 1] - c[:, 2]) / c[:, 1]).tolist(),
            "pi": ((c[:, 1] - c[:, 2]) / c[:, 3]).tolist(),
            "heart_rate_bpm": 60.0 / float(np.median(rr)) if len(rr) else None}


def scenario_pulse(rate_hz, duration_s):
    """Cycle starts of a scenario that pulses at ``rate_hz``: every ``1 / rate_hz`` from 0
    (phase 0 of its cardiac cycle is the foot of the systolic upstroke), one past the
    end of the recording."""
    return np.arange(int(np.ceil(duration_s * rate_hz)) + 2) / rate_hz
