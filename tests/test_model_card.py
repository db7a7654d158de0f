"""The model card (README.md) in every export's version directory (#18, outcome 4)."""

import json
import re
import shutil

import numpy as np
import pytest

from seqapps.model_card import metric_rows, signature
from seqapps.tasks import TASKS

# One xdist group per task: the worker that trained a task's tiny run for other tests reuses
# it. The slower cards (loading the bigger exports) run in make test-all.
FAST = ("sentiment", "forecasting")
NAMES = [
    pytest.param(
        name,
        id=name,
        marks=[pytest.mark.xdist_group(name), *([] if name in FAST else [pytest.mark.slow])],
    )
    for name in TASKS
]


def _blocks(card: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", card, flags=re.DOTALL)


def test_metric_rows_pair_each_score_with_its_baselines():
    rows = metric_rows(
        {
            "macro_recall": 0.6,
            "majority_baseline_macro_recall": 1 / 3,
            "recall_negative": 0.7,  # per class: no baseline, left to metrics.json
            "bleu": 35.2,
            "bleu_greedy": 33.1,
            "perplexity": 9.5,
            "mae": 1.2,
            "mae_h1": 0.8,
            "persistence_mae": 1.25,
            "drift_mae": 1.3,
            "counts": {"examples": 3},
        }
    )
    assert rows == [
        ("macro_recall", "0.6000", "majority class 0.3333"),
        ("bleu", "35.20", "greedy decoding 33.10"),
        ("perplexity", "9.5000", "-"),
        ("mae", "1.2000", "persistence 1.2500; drift 1.3000"),
    ]


@pytest.mark.parametrize("name", NAMES)
def test_every_export_has_a_card_that_matches_its_model(name, runs, tmp_path, monkeypatch):
    path = runs.export(name)
    card = (path / "README.md").read_text(encoding="utf-8")
    for heading in (
        "## Data",
        "## Settings",
        "## Test metrics",
        "## Intended use and known limits",
        "## How to call it",
    ):
        assert heading in card, heading
    # the test metrics are the run's own, beside a baseline where the task has one
    metrics = runs.metrics(name)
    for key, value, _ in metric_rows(metrics):
        assert f"| {key} | {value} |" in card
    # the signature table is the SavedModel's
    sig = signature(path)
    (input_name,) = sig["inputs"]
    assert f"| input | `{input_name}` |" in card
    for output in sig["outputs"]:
        assert f"| output | `{output}` |" in card
    # the data report's split sizes
    report = json.loads((runs.get(name).run_dir / "data_report.json").read_text())
    assert f"| train | {report['examples']['train']:,} |" in card

    # The Python example runs as written (the model path and an input file put in place).
    (python,) = _blocks(card, "python")
    python = python.replace(f'"saved_models/{path.parent.name}"', repr(str(path)))
    inputs = runs.get(name).inputs()
    monkeypatch.chdir(tmp_path)
    namespace = {}
    if name == "captioning":
        shutil.copy(inputs[0], tmp_path / "photo.jpg")
    if name == "forecasting":
        window = runs.get(name).task.cfg.window
        namespace["prices"] = np.full((1, window, 1), 100.0, np.float32)
    exec(python, namespace)  # noqa: S102
    outputs = namespace["outputs"]
    assert set(outputs) == set(sig["outputs"])
    # The REST example's JSON is valid for text tasks (files are shown as templates).
    (bash,) = [b for b in _blocks(card, "bash") if "curl" in b]
    if name in ("sentiment", "ner", "translation"):
        body = re.search(r"-d '(.*)'", bash).group(1)
        assert len(json.loads(body)["instances"]) == 1
