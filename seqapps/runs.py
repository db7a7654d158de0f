"""Run directories: reopen a trained run (task, assets, best model) and evaluate it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np

from seqapps import config as config_lib
from seqapps.errors import ConfigError, TrainingError
from seqapps.task import Task


def load_task(run_dir: str | Path) -> Task:
    """Rebuild the Task of a run from its ``config.yaml`` and ``assets/``."""
    from seqapps.tasks import get_task_class  # late import: tasks import this package

    run_dir = Path(run_dir)
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no config.yaml); train one first")
    values = config_lib.read_yaml(path)
    cls = get_task_class(str(values.pop("task", "")))
    task = cls(config_lib.from_dict(cls.config_class, values, source=str(path)))
    task.load_assets(run_dir / "assets")
    return task


def load_run(run_dir: str | Path) -> tuple[Task, keras.Model]:
    """Return the run's Task (assets loaded) and its best model.

    Raises:
        ConfigError: no ``config.yaml`` or no ``best.keras``.
        TrainingError: ``best.keras`` holds NaN or infinite weights (a diverged model, e.g.
            saved by an older version or by hand): evaluating it would print NaN scores or,
            worse, finite but meaningless ones (an argmax over NaN picks class 0).
    """
    run_dir = Path(run_dir)
    task = load_task(run_dir)
    best = run_dir / "best.keras"
    if not best.is_file():
        raise ConfigError(f"{run_dir}: no best.keras; the run has not finished an epoch yet")
    model = keras.models.load_model(best, compile=False)
    bad = [w.path for w in model.weights if not np.isfinite(np.asarray(w)).all()]
    if bad:
        raise TrainingError(
            f"{best}: {len(bad)} weight tensors hold NaN or infinite values ({bad[0]}, ...); "
            "the model diverged: retrain into a new --run-dir"
        )
    return task, model


def metrics_path(run_dir: str | Path, split: str) -> Path:
    """``metrics.json`` for the test split, ``metrics-<split>.json`` for the others."""
    return Path(run_dir) / ("metrics.json" if split == "test" else f"metrics-{split}.json")


def evaluate_run(run_dir: str | Path, split: str = "test") -> dict[str, Any]:
    """Score a run's best model on ``split`` and write the metrics file.

    The file (and the returned dict) holds the scores at the top level (metric name ->
    number, scales in :mod:`seqapps.metrics`), the run's training throughput and wall time
    (``train_samples_per_second``, ``wall_seconds``, from ``train_stats.json``), and two
    sub-dicts: ``counts`` (examples, tokens, images, windows, ... scored) and ``settings``
    (evaluation settings such as ``beam_width``, and ``monitor``: the validation metric
    that selected the epoch of ``best.keras``).
    """
    run_dir = Path(run_dir)
    task, model = load_run(run_dir)
    data = task.load_data()
    metrics = task.arrange_metrics(task.evaluate(model, data, split, run_dir))
    metrics["settings"]["monitor"] = task.monitored()[0]  # what selected best.keras's epoch
    stats_path = run_dir / "train_stats.json"
    if stats_path.exists():
        stats = json.loads(stats_path.read_text(encoding="utf-8"))
        for key in ("train_samples_per_second", "wall_seconds"):
            metrics[key] = float(stats[key])
    metrics_path(run_dir, split).write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    return metrics
