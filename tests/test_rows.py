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
