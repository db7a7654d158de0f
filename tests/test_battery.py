"""The input battery (benchmarks/battery.py) still runs: a few loader cases, no training."""

from __future__ import annotations

import pytest

from benchmarks import battery


@pytest.fixture(scope="module")
def loader_cases(tmp_path_factory):
    return battery.loader_cases(tmp_path_factory.mktemp("battery"))


@pytest.mark.parametrize(
    "task, name, outcome",
    [
        ("conll", "BOM", "right"),
        ("csv", "CRLF", "right"),
        ("tweeteval text", "NFD text", "right"),
        ("prices long", "non-UTF-8 line", "clear_error"),
        ("prices", "wide late ticker, fill=ffill", "right"),
        ("captions caption tsv", "truncated JPEG, skip_missing", "right"),
    ],
)
def test_loader_cases_classify(loader_cases, task, name, outcome):
    (case,) = [c for c in loader_cases if (c.task, c.name) == (task, name)]
    got, detail = battery.classify(case)
    assert got == outcome, detail


def test_classification_rules():
    def boom():
        raise KeyError("x")

    def refused():
        raise battery_error("bad input")

    from seqapps.errors import SeqappsError as battery_error

    case = battery.Case("loader", "t", "n", "i", "e", boom)
    assert battery.classify(case)[0] == "crash"
    case = battery.Case("loader", "t", "n", "i", "e", refused)
    assert battery.classify(case)[0] == "refused_valid"
    case = battery.Case("loader", "t", "n", "i", "e", refused, valid=False)
    assert battery.classify(case)[0] == "clear_error"
    case = battery.Case("loader", "t", "n", "i", "e", lambda: 1, lambda r: "wrong")
    assert battery.classify(case) == ("silent_misread", "wrong")
    case = battery.Case("cli", "t", "n", "i", "e", lambda: (2, "", "Traceback\n  x\nKeyError\n"))
    assert battery.classify(case)[0] == "crash"
    case = battery.Case(
        "cli", "t", "n", "i", "e", lambda: (2, "", "seqapps: error: x\n"), error="x", valid=False
    )
    assert battery.classify(case)[0] == "clear_error"


@pytest.mark.slow
def test_battery_serving_runs(tmp_path):
    """Trains the tiny forecasting run and serves it the battery's cases."""
    cases, _ = battery.all_cases(["serving"], ["forecasting"], tmp_path)
    results = battery.run_cases(cases)
    assert results and all(r["outcome"] != "crash" for r in results), results
