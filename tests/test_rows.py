"""The row stages after the envelopes: flow totals and the bridged, smoothed rows."""


import numpy as np


def test_flow_runs_total_matches_a_plain_count(rng):
    from dopplerflow.core.rows import Totals

    flow = np.repeat(rng.random(400) < 0.5, rng.integers(1, 12, 400))
    rows = np.zeros((len(flow), 6), np.float32)
    rows[flow, 0] = 300.0
    tot = Totals(min_run=6)
    for i in range(0, len(rows), 37):
        tot.update(rows[i:i + 37])
    f = np.concatenate(([0], flow.astype(int), [0]))
    edges = np.flatnonzero(np.diff(f))
    runs = edges[1::2] - edges[0::2]
    assert tot.flow_s(1.0) == runs[runs >= 6].sum()
    assert tot.flow == flow.sum() and tot.n == len(flow)


def test_peaks_come_from_runs_of_flow_not_from_a_row_or_two(rng):
    """A direction's peak is the largest maximum frequency in its runs of at least
    ``min_run`` rows, whatever the blocks: a click's or a step's row or two is no peak."""
    from dopplerflow.core.rows import Totals

    fmax = np.zeros((200, 2), np.float32)
    fmax[20:60, 0] = rng.uniform(100, 300, 40)  # a run of flow toward the probe
    fmax[30, 0] = 500.0  # a spike inside it: part of the run
    fmax[100:102, 0] = 900.0  # two rows alone
    fmax[120:125, 1] = 700.0  # five rows away: one short of a run
    fmax[150:156, 1] = 400.0  # six: a run
    fmax[198:200, 1] = 800.0  # a short run left open at the end
    rows = np.zeros((200, 6), np.float32)
    rows[:, 0], rows[:, 3] = fmax[:, 0], fmax[:, 1]
    rows[:, 1], rows[:, 4] = fmax[:, 0] / 2, fmax[:, 1] / 2  # a parabolic profile's mean
    for block in (1, 7, 200):
        tot = Totals(min_run=6)
        for i in range(0, len(rows), block):
            tot.update(rows[i:i + block])
        np.testing.assert_array_equal(tot.peak_hz, [500.0, 400.0])


def test_a_row_whose_maximum_stands_far_over_its_mean_is_flow_but_no_peak(rng):
    """The top of a faint broadband transient over slow flow (a maximum frequency more than
    ``PEAK_MEAN_X`` times the row's mean) is no peak; the row still counts as flow, and a
    maximum just within that many times its mean is a peak."""
    from dopplerflow.core.rows import PEAK_MEAN_X, Totals

    rows = np.zeros((100, 6), np.float32)
    rows[10:60, 0] = rng.uniform(200, 300, 50)
    rows[10:60, 1] = rows[10:60, 0] / 2
    rows[30:33, 0] = 2000.0  # the transient: the flow's mean under it
    rows[70:80, 3] = 600.0
    rows[70:80, 4] = np.float32(600.0 / PEAK_MEAN_X)  # blood at the bound: a peak
    for block in (1, 7, 100):
        tot = Totals(min_run=6)
        for i in range(0, len(rows), block):
            tot.update(rows[i:i + block])
        np.testing.assert_array_equal(tot.peak_hz, [rows[10:60, 0][rows[10:60, 0] < 2000].max(),
                                                    600.0])
        assert tot.flow == 60 and tot.flow_s(1.0) == 60


def test_bridged_median_rows_do_not_depend_on_the_blocks(rng):
    # a dropout that is bridged only once the row after it arrives: the running median of
    # the rows handed out before must already count the bridged values, as in one pass
    from dopplerflow.core.rows import SMOOTH_HALF, Bridger

    max_gap = 12
    rows = np.zeros((400, 6), np.float32)
    rows[:, 0] = 100.0 + 10.0 * rng.random(400).astype(np.float32)
    rows[:, 1:3] = 1.0
    for g0, n in ((50, 3), (137, max_gap - 1), (230, max_gap), (311, max_gap + 1)):
        rows[g0:g0 + n, 0:3] = 0.0  # bridged but the last
    whole = Bridger(max_gap)(rows.copy(), final=True)
    for block in (1, 2, SMOOTH_HALF + 1, max_gap, max_gap + 1, 97):
        b = Bridger(max_gap)
        parts = [b(rows[i:i + block].copy()) for i in range(0, len(rows), block)]
        parts.append(b(np.zeros((0, 6), np.float32), final=True))
        np.testing.assert_array_equal(np.concatenate(parts), whole)
