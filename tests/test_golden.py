"""The results of the bundled samples and of a short evaluate run, bit for bit.

``tests/golden/expected.json`` holds what the analysis gave when it was last changed on
purpose (``python tests/golden/make_golden.py`` writes it).  A restructuring, a faster
kernel or a new output must leave every value here as it was: the JSON of each case,
the digests of its trace's float32 columns, and the scores of each evaluate row.
"""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "golden"))
import make_golden  # noqa: E402

with open(os.path.join(os.path.dirname(__file__), "golden", "expected.json")) as _f:
    EXPECTED = json.load(_f)


def _differences(got, want, path=""):
    """Paths where ``got`` and ``want`` differ (nested dicts and lists)."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{path}.{k}: missing" for k in want if k not in got]
        out += [f"{path}.{k}: new" for k in got if k not in want]
        for k in want:
            if k in got:
                out += _differences(got[k], want[k], f"{path}.{k}")
        return out
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        return [d for i, (g, w) in enumerate(zip(got, want, strict=True)) for d in
                _differences(g, w, f"{path}[{i}]")]
    return [] if got == want else [f"{path}: {got!r} != {want!r}"]


@pytest.mark.parametrize("name", sorted(make_golden.CASES))
def test_sample_result_unchanged(name):
    diff = _differences(make_golden.analysis_case(name), EXPECTED[name])
    assert not diff, "\n".join(diff[:20])


def test_evaluate_rows_unchanged(capsys):
    diff = _differences(make_golden.evaluate_case(), EXPECTED["evaluate_rows"])
    assert not diff, "\n".join(diff[:20])
