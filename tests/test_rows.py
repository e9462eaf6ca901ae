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


def test_the_peak_off_a_line_is_the_peak_of_the_other_bins(rng):
    """Each direction's peak at each outward bin, whatever the blocks: their largest is the
    peak; leaving out the bins within the reach of a line on that side gives the largest of
    the rest (a line on the other side, or none, leaves the peak as it is).  The rows with
    flow at each bin are counted too."""
    from types import SimpleNamespace

    from dopplerflow.core.rows import PEAK_MEAN_X, Totals

    cfg = SimpleNamespace(dir_f0=np.array([150.0, 150.0]), bin_hz=100.0,
                          dir_count=np.array([30, 30]))
    flow = np.repeat(rng.random(300) < 0.6, rng.integers(1, 12, 300))
    rows = np.zeros((len(flow), 6), np.float32)
    for d in range(2):
        rows[flow, 3 * d] = rng.uniform(150.0, 3000.0, flow.sum())
        rows[flow, 3 * d + 1] = rows[flow, 3 * d] / rng.uniform(1.5, 1.2 * PEAK_MEAN_X,
                                                                flow.sum())
    ref = Totals(min_run=6)
    ref.update(rows)
    for block in (1, 7, len(rows)):
        tot = Totals(min_run=6, config=cfg)
        for i in range(0, len(rows), block):
            tot.update(rows[i:i + block])
        np.testing.assert_array_equal(tot.peak_hz, ref.peak_hz)
        np.testing.assert_array_equal(tot.peak_off_lines_hz([], 3), ref.peak_hz)
        # a line on the toward side's peak: the away side's stands
        f = float(ref.peak_hz[0])
        off = tot.peak_off_lines_hz([f], 3)
        assert off[1] == ref.peak_hz[1] and off[0] < f
        # the largest peak of the runs' rows more than 3 bins from the line: the runs of at
        # least 6 rows with flow, each row's maximum where it is at most PEAK_MEAN_X times
        # its mean
        v, m = rows[:, 0], rows[:, 1]
        edges = np.flatnonzero(np.diff(np.r_[0, (v > 0).astype(int), 0]))
        runs = [slice(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= 6]
        top = np.concatenate([v[r][v[r] <= PEAK_MEAN_X * m[r]] for r in runs])
        j = np.rint((top - 150.0) / 100.0)
        assert off[0] == top[np.abs(j - np.rint((f - 150.0) / 100.0)) > 3].max()
        assert tot.peak_off_lines_hz([-f], 3)[0] == f  # the line away: toward as it was
        # the rows with flow at each outward bin and beyond, as numpy counts them
        for d in range(2):
            g = rows[:, 3 * d][rows[:, 3 * d] > 0]
            j = np.clip(np.rint((g - 150.0) / 100.0), 0, 30)
            assert [tot.rows_from(d, k) for k in range(-1, 33)] == [
                int(np.count_nonzero(j >= max(k, 0))) for k in range(-1, 33)]


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


def test_rows_a_bridge_filled_are_flow_but_no_peak(rng):
    """A transient's row (2000 Hz, its mean too low for a peak: the top of a faint
    transient over the flow), a dropout, then flow at 200-300 Hz: the bridge fills the
    dropout from the transient's maximum and mean down to the flow's, and some rows filled
    (a maximum 4 times their mean or less) would be peaks over the flow's.  Rows filled are
    no peak, whatever the blocks: the peak is the flow's; they count as flow."""
    from dopplerflow.core.rows import Bridger, Totals

    rows = np.zeros((80, 6), np.float32)
    rows[10:30, 0] = rng.uniform(200, 300, 20)  # flow before
    rows[30, 0:2] = 2000.0, 450.0  # the transient's row: no peak (over 4 times its mean)
    rows[38:70, 0] = rng.uniform(200, 300, 32)  # the flow, after 7 rows of dropout
    for a, b in ((10, 30), (38, 70)):
        rows[a:b, 1] = rows[a:b, 0] / 2
    rows[:, 2] = np.where(rows[:, 0] > 0, 1.0, 0.0)
    bridged, unread = Bridger(max_gap=12)(rows, final=True)
    assert unread[31:38, 0].all()
    top = bridged[:, 0] <= 4 * bridged[:, 1]
    assert (bridged[31:38, 0][top[31:38]] > 500).any()  # filled rows that would be peaks
    for block in (1, 7, 80):
        tot, unmarked = Totals(min_run=6), Totals(min_run=6)
        for i in range(0, len(rows), block):
            tot.update(bridged[i:i + block], unread[i:i + block])
            unmarked.update(bridged[i:i + block])
        read = ~unread[:, 0] & top
        assert tot.peak_hz[0] == bridged[read, 0].max() < 400
        assert unmarked.peak_hz[0] > 500
        assert tot.flow == unmarked.flow == 60


def test_a_row_whose_median_is_a_value_filled_is_no_peak():
    """Flow at 1000 Hz; one row at 5000 Hz (the envelope on a line for a frame), then a
    dropout of five rows and the flow again.  The bridge fills the dropout from 5000 down
    to 1000 Hz, and the running median draws the row at 5000 Hz at 3667 Hz, a value filled
    (no frame held it): that row, as the rows filled, draws no value read and is no peak.
    The rows whose median is a value read are."""
    from dopplerflow.core.rows import Bridger, Totals

    rows = np.zeros((60, 6), np.float32)
    rows[:, 0:3] = 1000.0, 500.0, 1.0
    rows[20, 0:2] = 5000.0, 2500.0
    rows[21:26] = 0.0
    rows[40:43, 0:2] = 1200.0, 600.0  # three rows read: the median of the rows around
    out, unread = Bridger(max_gap=12)(rows, final=True)
    work = rows[:, 0].astype(np.float64)
    work[21:26] = 5000.0 - (5000.0 - 1000.0) / 6 * np.arange(1, 6)  # filled: 4333 to 1667
    np.testing.assert_allclose(out[:, 0], [np.median(work[max(i - 2, 0):i + 3])
                                           for i in range(60)], rtol=1e-6)
    assert out[20, 0] == out[22, 0]  # 3667 Hz: filled
    # rows 19 and 26 draw 1000 Hz, which rows read hold; 20 to 25 do not
    np.testing.assert_array_equal(np.flatnonzero(unread[:, 0]), np.arange(20, 26))
    assert not unread[:, 1].any()
    tot = Totals(min_run=6)
    tot.update(out, unread)
    assert tot.peak_hz[0] == 1200.0
    unmarked = Totals(min_run=6)
    unmarked.update(out)
    assert unmarked.peak_hz[0] == out[20:26, 0].max() > 3000.0


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
    whole, filled = Bridger(max_gap)(rows.copy(), final=True)
    # the gaps bridged draw no value read, in the first direction (the second has no flow)
    for g0, n in ((50, 3), (137, max_gap - 1), (230, max_gap)):
        assert filled[g0:g0 + n, 0].all()
    assert not filled[311:311 + max_gap + 1, 0].any()  # (not bridged: no flow)
    assert not filled[:, 1].any()
    for block in (1, 2, SMOOTH_HALF + 1, max_gap, max_gap + 1, 97):
        b = Bridger(max_gap)
        parts = [b(rows[i:i + block].copy()) for i in range(0, len(rows), block)]
        parts.append(b(np.zeros((0, 6), np.float32), final=True))
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), whole)
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), filled)
