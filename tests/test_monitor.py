"""``monitor=`` (the validation metric that selects the epoch) and the data report."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from seqapps import config as config_lib
from seqapps.callbacks import BestModel, ResumableEarlyStopping, standard_callbacks
from seqapps.data.classification import ClassificationData, LabeledTexts
from seqapps.data_report import LABEL_SHIFT_THRESHOLD, format_report, total_variation
from seqapps.errors import ConfigError
from seqapps.metrics import MacroF1, classification_report, confusion_matrix
from seqapps.runs import evaluate_run
from seqapps.trainer import _check_same_config, train
from tests.conftest import make_tiny_task


@pytest.mark.parametrize("name", ["sentiment", "ner", "translation", "forecasting"])
def test_unknown_monitor_is_a_one_line_config_error_listing_the_valid_ones(name):
    with pytest.raises(ConfigError) as e:
        make_tiny_task(name, "monitor=val_nonsense")
    message = str(e.value)
    assert "\n" not in message and "monitor='val_nonsense'" in message
    valid = make_tiny_task(name).validation_metrics()
    assert all(metric in message for metric in valid)


@pytest.mark.parametrize(
    "name, monitor, mode",
    [
        ("sentiment", "", "max"),  # the task's default: val_macro_recall
        ("sentiment", "val_macro_f1", "max"),
        ("sentiment", "val_loss", "min"),
        ("ner", "val_f1", "max"),
        ("translation", "val_perplexity", "min"),
        ("forecasting", "val_mae", "min"),
    ],
)
def test_mode_follows_the_metric_and_reaches_the_callbacks(name, monitor, mode, tmp_path):
    task = make_tiny_task(name, f"monitor={monitor}")
    chosen, got = task.monitored()
    assert chosen == (monitor or task.monitor) and got == mode
    callbacks = standard_callbacks(task, tmp_path, 32)
    best = next(c for c in callbacks if isinstance(c, BestModel))
    stop = next(c for c in callbacks if isinstance(c, ResumableEarlyStopping))
    assert best.monitor == stop.monitor == chosen
    assert stop.mode == mode
    assert best.better(1.0, 2.0) == (mode == "min")


def test_forecasting_quantile_metrics_are_offered():
    task = make_tiny_task("forecasting", "quantiles=0.1,0.9", "monitor=val_forecast_mae")
    assert task.monitored() == ("val_forecast_mae", "min")
    with pytest.raises(ConfigError, match="val_quantiles_loss"):
        make_tiny_task("forecasting", "quantiles=0.1,0.9", "monitor=val_mae")


def test_a_changed_monitor_is_a_changed_config(tmp_path):
    old = make_tiny_task("sentiment").cfg
    config_lib.save(old, tmp_path / "config.yaml", "sentiment")
    new = make_tiny_task("sentiment", "monitor=val_macro_f1").cfg
    with pytest.raises(ConfigError, match="monitor"):
        _check_same_config(tmp_path, new, "sentiment")


def test_macro_f1_metric_equals_the_report():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 200)
    y_true[y_true == 2] = 1  # class 2 never true, but predicted: counts as F1 0
    probs = rng.random((200, 3)).astype("float32")
    metric = MacroF1(3)
    metric.update_state(y_true, probs)
    want = classification_report(confusion_matrix(y_true, probs.argmax(-1), 3))["macro_f1"]
    assert float(metric.result()) == pytest.approx(want, abs=1e-6)


@pytest.mark.slow  # trains its own model: over 10 s on 2 cores (make test-all)
def test_monitor_val_macro_f1_selects_the_epoch(tmp_path):
    task = make_tiny_task("sentiment", "monitor=val_macro_f1", "epochs=3", "patience=5")
    train(task, tmp_path)
    with (tmp_path / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    f1 = [float(r["val_macro_f1"]) for r in rows]
    stats = json.loads((tmp_path / "train_stats.json").read_text())
    assert stats["monitor"] == "val_macro_f1"
    assert stats["best_epoch"] == int(np.argmax(f1)) + 1
    # best.keras is that epoch's model: its validation macro-F1 is the best logged one.
    metrics = evaluate_run(tmp_path, "val")
    assert metrics["macro_f1"] == pytest.approx(max(f1), abs=1e-5)
    assert metrics["settings"]["monitor"] == "val_macro_f1"


def _texts(labels: list[int]) -> LabeledTexts:
    words = ["bad awful", "fine okay", "good great"]
    return LabeledTexts([words[i] for i in labels], np.array(labels, "int32"), "crafted")


def _crafted(val: list[int], test: list[int]) -> ClassificationData:
    train = _texts([0, 1, 2] * 4)
    return ClassificationData(train, _texts(val), _texts(test), ["negative", "neutral", "positive"])


def test_data_report_warns_when_val_and_test_label_shares_differ():
    task = make_tiny_task("sentiment", "max_length=1")
    data = _crafted(val=[0] * 8 + [2] * 2, test=[2] * 8 + [0] * 2 + [1])
    task.adapt(data)
    report = task.data_report(data)
    assert report["counts_by_label"]["val"] == {"negative": 8, "positive": 2}
    assert report["counts_by_label"]["test"] == {"positive": 8, "negative": 2, "neutral": 1}
    tvd = report["label_shift"]["val_test_total_variation"]
    assert tvd == pytest.approx(total_variation({"n": 8, "p": 2}, {"p": 8, "n": 2, "u": 1}), 1e-3)
    assert tvd > LABEL_SHIFT_THRESHOLD
    assert len(report["warnings"]) == 1 and "val and test" in report["warnings"][0]
    assert "warning:" in format_report(report)
    # Every crafted text has two tokens: all of them are cut at max_length=1.
    cut = {d["split"]: d["count"] for d in report["dropped"]}
    assert cut == {"train": 12, "val": 10, "test": 11}
    assert report["vocabulary_coverage"]["text"]["test"] == {"tokens": 1.0, "types": 1.0}


def test_data_report_is_quiet_when_shares_match():
    task = make_tiny_task("sentiment")
    data = _crafted(val=[0, 1, 2, 2], test=[0, 1, 2, 2, 0, 1, 2, 2])
    data.test.texts[0] = "bad unseen"
    task.adapt(data)
    report = task.data_report(data)
    assert report["label_shift"]["val_test_total_variation"] == 0
    assert report["warnings"] == [] and report["dropped"] == []
    test = report["vocabulary_coverage"]["text"]["test"]
    assert test["tokens"] == pytest.approx(15 / 16, abs=1e-4)
    assert test["types"] == pytest.approx(6 / 7, abs=1e-4)
