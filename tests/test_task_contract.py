"""The contract every registered task keeps, checked over ``seqapps.tasks.TASKS``.

Modelled on keras-hub's ``run_task_test`` and Flair's ``BaseModelTest``: a sixth task gets
all of it by registering (with :data:`tests.conftest.TINY_TASKS` settings to keep it fast).
Each task is trained once, tiny, by the session's ``runs`` fixture (see conftest).

- bad settings raise ConfigError;
- batches are right padded (padding only at the end) with no all-masked row;
- serving preprocessing gives the same result eagerly and under ``tf.data`` ``map``;
- saved assets rebuild a task that makes the very same batches;
- training gives finite losses and saves the best model; one step under MirroredStrategy
  on two logical CPUs moves the weights (``slow``);
- the SavedModel on raw input serves one row per input, by name as TF Serving calls it,
  and equals the task's own Python path (``Task.serve`` eagerly, where the task has it);
- evaluation returns finite numbers, written to ``metrics.json``;
- ``seqapps predict`` prints one line per input.
"""

from __future__ import annotations

import csv
import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqapps import config as config_lib
from seqapps.cli import main
from seqapps.errors import ConfigError
from seqapps.export import predict
from seqapps.runs import load_task
from seqapps.tasks import TASKS
from seqapps.trainer import get_strategy

from .conftest import by_task

# Under pytest-xdist (make test), a task's tests share the worker that trains its run.
NAMES = by_task(TASKS)


def flat(structure) -> list:
    """Tensors of a (possibly nested dict) batch element, in a fixed order."""
    return tf.nest.flatten(structure)


def assert_same_outputs(got: dict, want: dict, what: str) -> None:
    assert sorted(got) == sorted(want), what
    for key in want:
        a, b = np.asarray(got[key]), np.asarray(want[key])
        assert a.shape == b.shape, f"{what}: {key} {a.shape} != {b.shape}"
        if a.dtype.kind in "OSU":
            np.testing.assert_array_equal(a, b, err_msg=f"{what}: {key}")
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=f"{what}: {key}")


def first_batches(task, data, n: int = 3) -> list:
    ds = task.make_dataset(data, "val", batch_size=16, training=False)
    return [tf.nest.map_structure(lambda t: t.numpy(), b) for b in ds.take(n)]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "override, message",
    [
        ("units=0", "units must be >= 1"),
        ("epochs=0", "epochs must be >= 1"),
        ("dropout=1.0", r"dropout must be in \[0, 1\)"),
        ("no_such_key=1", "unknown key no_such_key"),
    ],
)
def test_bad_settings_raise_config_error(name, override, message):
    cls = TASKS[name]
    with pytest.raises(ConfigError, match=message):
        cls(config_lib.resolve(cls.config_class, None, [override]))


@pytest.mark.parametrize("name", NAMES)
def test_batches_are_right_padded_without_all_masked_rows(name, runs):
    run = runs.get(name)
    for training in (False, True):
        split = "train" if training else "val"
        ds = run.task.make_dataset(run.data, split, batch_size=16, training=training)
        for inputs, targets in ds.take(3):
            rows = {int(t.shape[0]) for t in flat((inputs, targets))}
            assert len(rows) == 1, f"inputs and targets disagree on the batch size: {rows}"
            for key, t in inputs.items() if isinstance(inputs, dict) else [("inputs", inputs)]:
                if not t.dtype.is_integer or t.shape.rank < 2:
                    continue  # features, prices: nothing is padded
                present = t.numpy() != 0
                present = present.reshape(*present.shape[:2], -1).any(axis=-1)  # (batch, time)
                lengths = present.sum(axis=1)
                assert (lengths >= 1).all(), f"{key}: an all-masked row"
                for row, n in zip(present, lengths, strict=True):
                    assert row[:n].all() and not row[n:].any(), f"{key}: not right padded"


@pytest.mark.parametrize(
    "name",
    # captioning retraces its backbone and beam search under Dataset.map: about 30 s on 2
    # cores, so in make test-all
    by_task(TASKS, slow={"captioning"}),
)
def test_serving_is_equal_eagerly_and_under_dataset_map(name, runs):
    run = runs.get(name)
    x = run.task.predict_inputs(run.inputs())
    loaded = runs.loaded(name)
    eager = loaded.serving_default(x)
    mapped = next(iter(tf.data.Dataset.from_tensors(x).map(loaded.serving_default)))
    assert_same_outputs(mapped, eager, "SavedModel under Dataset.map")
    python = run.task.serve(run.model, x)
    in_map = next(iter(tf.data.Dataset.from_tensors(x).map(lambda t: run.task.serve(run.model, t))))
    assert_same_outputs(in_map, python, "Task.serve under Dataset.map")


@pytest.mark.parametrize("name", NAMES)
def test_assets_round_trip_to_the_same_batches(name, runs, tmp_path):
    run = runs.get(name)
    run.task.save_assets(tmp_path / "assets")
    assert any((tmp_path / "assets").iterdir())
    other = TASKS[name](run.task.cfg)
    other.load_assets(tmp_path / "assets")
    want = first_batches(run.task, run.data)
    for rebuilt in (other, load_task(run.run_dir)):  # and as evaluate/export rebuild it
        got = first_batches(rebuilt, run.data)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            for a, b in zip(flat(g), flat(w), strict=True):
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_trained_run_has_finite_losses_and_saved_its_best_model(name, runs):
    """The session's run: a few steps of ``seqapps.trainer.train``."""
    run = runs.get(name)
    with (run.run_dir / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == run.task.cfg.epochs
    for row in rows:
        assert math.isfinite(float(row["loss"])) and math.isfinite(float(row["val_loss"]))
    # EarlyStopping restored the best weights: the returned model is the saved one.
    best = keras.models.load_model(run.run_dir / "best.keras", compile=False)
    for a, b in zip(best.get_weights(), run.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_one_training_step_under_mirrored_strategy(name, runs):
    """One ``fit`` step on two logical CPUs: finite loss, and the weights move.

    Slow (5-40 s a task on 2 busy cores: tracing per replica); the sentiment run under
    ``strategy=mirrored`` through ``train`` is in the default suite (test_trainer).
    """
    run = runs.get(name)
    task = TASKS[name](run.task.cfg)
    task.load_assets(run.run_dir / "assets")
    strategy = get_strategy("mirrored", "CPU:0,CPU:1")
    assert strategy.num_replicas_in_sync == 2
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = task.build_model()
        model.compile(optimizer=keras.optimizers.Adam(1e-3), **task.compile_args(model))
    before = [w.numpy().copy() for w in model.trainable_weights]
    ds = task.make_dataset(run.data, "train", batch_size=2 * task.cfg.batch_size, training=True)
    history = model.fit(ds, epochs=1, steps_per_epoch=1, verbose=0, **task.fit_args(run.data))
    assert math.isfinite(history.history["loss"][0])
    moved = [
        not np.array_equal(b, w.numpy())
        for b, w in zip(before, model.trainable_weights, strict=True)
    ]
    assert any(moved), "one step changed no weight"


@pytest.mark.parametrize("name", NAMES)
def test_saved_model_serves_one_row_per_input(name, runs):
    run = runs.get(name)
    inputs = run.inputs()
    x = run.task.predict_inputs(inputs)
    loaded = runs.loaded(name)
    out = loaded.serving_default(x)
    assert out, "serving_default returned no outputs"
    for key, value in out.items():
        assert value.shape[0] == len(inputs), f"{key}: {value.shape[0]} rows for {len(inputs)}"
    # TF Serving calls the signature with its input by name.
    signature = loaded.signatures["serving_default"]
    (arg,) = signature.structured_input_signature[1]
    assert_same_outputs(signature(**{arg: x}), out, "signature by name")
    assert_same_outputs(out, run.task.serve(run.model, x), "SavedModel vs Task.serve")
    lines = run.task.format_predictions(inputs, out)
    assert len(lines) == len(inputs) and all("\n" not in line for line in lines)


@pytest.mark.parametrize("name", NAMES)
def test_empty_batch_serves_zero_rows_of_each_output(name, runs):
    """``serving_default`` on a batch of nothing: every output, zero rows, the same dtype."""
    run = runs.get(name)
    loaded = runs.loaded(name)
    full = loaded.serving_default(run.task.predict_inputs(run.inputs()))
    x = run.task.predict_inputs(run.inputs())
    empty = loaded.serving_default(x[:0])
    assert sorted(empty) == sorted(full)
    for key, value in empty.items():
        assert value.shape[0] == 0 and value.dtype == full[key].dtype, key
        assert value.shape[2:] == full[key].shape[2:], key  # e.g. (0, classes) probabilities


@pytest.mark.parametrize("name", NAMES)
def test_evaluate_writes_finite_metrics(name, runs):
    """Scores are finite numbers (grouped sub-dicts such as counts or settings allowed;
    settings may name things: the monitored metric)."""
    metrics = runs.metrics(name)
    assert metrics
    assert metrics["settings"]["monitor"] == runs.get(name).task.monitored()[0]
    numbers = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            numbers.update({f"{key}.{k}": v for k, v in value.items() if not isinstance(v, str)})
        else:
            numbers[key] = value
    assert all(isinstance(v, (int, float)) for v in numbers.values()), numbers
    bad = [k for k, v in numbers.items() if not math.isfinite(v)]
    assert not bad, f"not finite: {bad}"
    written = json.loads((runs.get(name).run_dir / "metrics.json").read_text())
    assert written == metrics


@pytest.mark.parametrize("name", NAMES)
def test_predict_prints_one_line_per_input(name, runs, capsys):
    inputs = runs.get(name).inputs()
    root = runs.export(name)
    lines = predict(root, inputs)
    assert len(lines) == len(inputs)
    capsys.readouterr()
    assert main(["predict", str(root), *inputs]) == 0
    assert capsys.readouterr().out.splitlines() == lines


@pytest.mark.parametrize("name", NAMES)
def test_declared_validation_metrics_are_logged(name, runs):
    """Every metric a task offers to ``monitor=`` is a column of its ``history.csv``."""
    run = runs.get(name)
    with (run.run_dir / "history.csv").open() as f:
        columns = set(next(csv.reader(f)))
    declared = run.task.validation_metrics()
    assert set(declared) <= columns, sorted(set(declared) - columns)
    assert set(declared.values()) <= {"min", "max"}
    assert run.task.monitored()[0] == run.task.monitor  # no monitor=: the task's default


@pytest.mark.parametrize("name", NAMES)
def test_data_report_is_written_with_consistent_counts(name, runs):
    run = runs.get(name)
    report = json.loads((run.run_dir / "data_report.json").read_text())
    assert report["task"] == name
    for key in ("examples", "dropped", "subsets", "warnings"):
        assert key in report, key
    for split in ("train", "val", "test"):
        assert report["examples"][split] == len(run.data.split(split)) > 0
        labels = run.task.report_labels(run.data, split)
        if labels is not None:
            counts = report["counts_by_label"][split]
            assert sum(counts.values()) == len(labels)
            assert all(v > 0 for v in counts.values())
    if "counts_by_label" in report:
        tvd = report["label_shift"]["val_test_total_variation"]
        assert 0 <= tvd <= 1
        assert (tvd > report["label_shift"]["threshold"]) == bool(report["warnings"])
    for by_split in report.get("vocabulary_coverage", {}).values():
        for split in ("train", "val", "test"):
            assert 0 <= by_split[split]["types"] <= 1 and 0 <= by_split[split]["tokens"] <= 1
    for item in report["dropped"]:
        assert set(item) == {"split", "count", "reason"} and item["count"] > 0
