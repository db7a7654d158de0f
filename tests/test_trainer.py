import csv
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqapps import config as config_lib
from seqapps.errors import ConfigError
from seqapps.tasks import get_task_class
from seqapps.tasks.sentiment import SentimentConfig, SentimentTask
from seqapps.trainer import get_strategy, train

from .conftest import TINY


def make_task(*overrides: str) -> SentimentTask:
    # 96 of the sample's tweets: three batches an epoch keep each run a few seconds.
    settings = [*TINY, "max_train_samples=96", *overrides]
    return SentimentTask(config_lib.resolve(SentimentConfig, None, settings))


def history_epochs(run_dir) -> list[int]:
    with (run_dir / "history.csv").open() as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


class Interrupt(keras.callbacks.Callback):
    """Simulates a kill right after epoch ``at`` was written out."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            raise RuntimeError("killed")


class EpochRecorder(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[int] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_strategies():
    assert get_strategy("default").num_replicas_in_sync == 1
    assert get_strategy("auto").num_replicas_in_sync == 1  # no GPU here
    assert get_strategy("one_device", "CPU:1").num_replicas_in_sync == 1
    assert get_strategy("mirrored", "CPU:0,CPU:1").num_replicas_in_sync == 2
    with pytest.raises(ConfigError, match="no device 'GPU:7'"):
        get_strategy("mirrored", "GPU:7")


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        get_strategy("multi_worker")


def test_train_writes_the_run_directory(tmp_path):
    model = train(make_task(), tmp_path)
    for name in [
        "config.yaml",
        "best.keras",
        "history.csv",
        "history.png",
        "train_stats.json",
        "assets/vocabulary.txt",
        "assets/labels.json",
    ]:
        assert (tmp_path / name).exists(), name
    assert any((tmp_path / "logs").rglob("events.out.tfevents.*"))
    assert history_epochs(tmp_path) == [0, 1]
    stats = json.loads((tmp_path / "train_stats.json").read_text())
    assert stats["train_samples_per_second"] > 0 and stats["epochs_run"] == 2
    assert stats["global_batch_size"] == 32
    best = keras.models.load_model(tmp_path / "best.keras", compile=False)
    ids = np.array([[5, 6, 7, 0]], "int32")
    # EarlyStopping restored the best weights, so the returned model is the saved best one.
    np.testing.assert_allclose(model(ids), best(ids), rtol=1e-5)


@pytest.mark.slow  # over 10 s on 2 cores; kept in make test-all
def test_mirrored_on_two_logical_cpus(tmp_path):
    train(make_task("strategy=mirrored", "devices=CPU:0,CPU:1", "epochs=1"), tmp_path)
    stats = json.loads((tmp_path / "train_stats.json").read_text())
    assert stats["replicas"] == 2 and stats["global_batch_size"] == 64
    assert (tmp_path / "best.keras").exists()


def test_resume_after_interruption(tmp_path):
    with pytest.raises(RuntimeError, match="killed"):
        train(make_task("epochs=3"), tmp_path, callbacks=[Interrupt(at=1)])
    assert history_epochs(tmp_path) == [0, 1]
    assert not (tmp_path / "train_stats.json").exists()
    recorder = EpochRecorder()
    train(make_task("epochs=3"), tmp_path, callbacks=[recorder])
    assert recorder.epochs == [2]  # continued from the backup, not from scratch
    assert history_epochs(tmp_path) == [0, 1, 2]


@pytest.mark.slow  # trains twice: make test-all
def test_refuses_other_settings_and_finished_runs(tmp_path):
    with pytest.raises(RuntimeError):
        train(make_task("epochs=2"), tmp_path, callbacks=[Interrupt(at=0)])
    with pytest.raises(ConfigError, match=r"different settings \(cell: 'lstm' -> 'gru'\)"):
        train(make_task("cell=gru"), tmp_path)
    train(make_task("epochs=2"), tmp_path)
    with pytest.raises(ConfigError, match="this run is complete"):
        train(make_task("epochs=2"), tmp_path)


@pytest.mark.slow  # over 10 s on 2 cores; kept in make test-all
def test_same_seed_same_model(tmp_path):
    a = train(make_task("epochs=1", "seed=3"), tmp_path / "a")
    b = train(make_task("epochs=1", "seed=3"), tmp_path / "b")
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # trains its own model: over 10 s on 2 cores (make test-all)
def test_mixed_precision_trains_and_restores_policy(tmp_path):
    model = train(make_task("epochs=1", "mixed_precision=bfloat16"), tmp_path)
    assert model.get_layer("rnn_1").dtype_policy.name == "mixed_bfloat16"
    assert model.get_layer("classifier").dtype_policy.name == "float32"  # stable softmax
    assert keras.config.dtype_policy().name == "float32"  # global state put back


@pytest.mark.slow  # trains its own model: over 10 s on 2 cores (make test-all)
def test_gradient_profile_logging_from_the_config(tmp_path):
    # 96 tweets in batches of 32: 3 steps, so every=2 logs once, at step 2.
    train(make_task("epochs=1", "grad_profile_every=2"), tmp_path)
    (events,) = (tmp_path / "logs" / "grad_profile").glob("events.out.tfevents.*")
    logged = {
        (value.tag, event.step)
        for event in tf.compat.v1.train.summary_iterator(str(events))
        for value in event.summary.value
    }
    assert ("grad_profile/distance_0", 2) in logged and all(step == 2 for _, step in logged)


@pytest.mark.slow  # over 10 s on 2 cores; kept in make test-all
def test_learning_rate_decays_per_epoch(tmp_path):
    from seqapps.trainer import learning_rate

    assert learning_rate(config_lib.TrainConfig(learning_rate=0.01), 7) == 0.01
    schedule = learning_rate(config_lib.TrainConfig(learning_rate=0.1, lr_decay=0.5), 10)
    assert [round(float(schedule(step)), 5) for step in (0, 10, 40)] == [0.1, 0.06667, 0.03333]
    train(make_task("epochs=2", "lr_decay=1.0", "learning_rate=0.01"), tmp_path)
    assert "lr_decay: 1.0" in (tmp_path / "config.yaml").read_text()


def test_train_steps_and_patience_steps_convert_to_epochs():
    cfg = make_task("epochs=none", "patience=none", "train_steps=7", "patience_steps=4").cfg
    assert (cfg.epochs_for(3), cfg.patience_for(3)) == (3, 2)
    assert (cfg.epochs_for(1000), cfg.patience_for(1000)) == (1, 1)
    # epochs / patience, when set, win over the step counts
    both = make_task("epochs=5", "patience=4", "train_steps=7", "patience_steps=4").cfg
    assert (both.epochs_for(3), both.patience_for(3)) == (5, 4)
    with pytest.raises(ConfigError, match="train_steps must be >= 1"):
        make_task("train_steps=0")
    with pytest.raises(ConfigError, match="set epochs or train_steps"):
        make_task("epochs=none", "train_steps=none")
    with pytest.raises(ConfigError, match="set patience or patience_steps"):
        make_task("patience=none", "patience_steps=none")


def test_every_task_defaults_to_its_benchmark_length_in_steps():
    """The step defaults are the benchmark's epochs times its steps per epoch: the benchmark
    trains exactly as many epochs as before, and a smaller set more (outcome 5 of #16)."""
    benchmark = {  # task: (steps per epoch on its benchmark data, epochs, patience)
        "sentiment": (753, 8, 2),  # 48,152 tweets / 64
        "ner": (439, 30, 5),  # 14,041 sentences / 32
        "translation": (227, 12, 3),  # 29,000 pairs / 128
        "captioning": (469, 10, 2),  # 29,975 captions / 64
        "forecasting": (782, 4, 2),  # 200,000 windows / 256
    }
    for name, (steps, epochs, patience) in benchmark.items():
        cfg = get_task_class(name).config_class()
        assert cfg.epochs is None and cfg.patience is None, name
        assert (cfg.epochs_for(steps), cfg.patience_for(steps)) == (epochs, patience), name
    ner = get_task_class("ner").config_class()
    assert (ner.epochs_for(94), ner.patience_for(94)) == (141, 24)  # 3,000 sentences


@pytest.mark.slow  # trains: make test-all
def test_train_steps_and_patience_steps_set_epochs_from_the_data_size(tmp_path):
    """96 examples in batches of 32: 3 steps an epoch; 7 steps -> 3 epochs, 4 -> patience 2."""
    train(make_task("epochs=none", "train_steps=7", "patience_steps=4"), tmp_path)
    stats = json.loads((tmp_path / "train_stats.json").read_text())
    assert stats["epochs_planned"] == 3 and stats["steps_per_epoch"] == 3
    assert history_epochs(tmp_path) == [0, 1, 2]


def test_a_resumed_run_keeps_the_length_it_started_with(tmp_path):
    """A run started with epochs/patience (every run before the step defaults) resumes with
    them, not with train_steps/patience_steps; epochs= given anew still wins."""
    import dataclasses

    import yaml

    from seqapps.trainer import _check_same_config, _keep_run_length

    started = make_task("epochs=3", "patience=2", "train_steps=none", "patience_steps=none")
    old = {"task": "sentiment", **dataclasses.asdict(started.cfg)}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    again = make_task("epochs=none", "patience=none")  # the step defaults
    cfg = _keep_run_length(tmp_path, again.cfg)
    assert (cfg.epochs, cfg.patience, cfg.train_steps, cfg.patience_steps) == (3, 2, None, None)
    _check_same_config(tmp_path, cfg, "sentiment")  # the same run: no error
    longer = _keep_run_length(tmp_path, make_task("epochs=5", "patience=none").cfg)
    assert (longer.epochs, longer.patience) == (5, 2)


@pytest.mark.slow  # trains its own model: over 10 s on 2 cores (make test-all)
def test_token_budget_batches_and_steps_per_execution_count_the_epoch(tmp_path):
    """Issue #17 levers: an epoch is one pass of token-budget batches, rounded up to whole
    executions of steps_per_execution steps (so a resumed stream skips what was drawn)."""
    from seqapps.data.batching import batches_per_pass

    task = make_task("epochs=1", "batch_tokens=300", "steps_per_execution=2")
    data = task.load_data()
    task.adapt(data)
    lengths = [
        len(ids)
        for ids, _ in task.make_dataset(data, "train", batch_size=32, training=False)
        .unbatch()
        .as_numpy_iterator()
    ]
    passes = batches_per_pass(
        np.array(lengths), batch_size=32, max_length=task.cfg.max_length, batch_tokens=300
    )
    train(task, tmp_path)
    stats = json.loads((tmp_path / "train_stats.json").read_text())
    assert stats["steps_per_epoch"] == -(-passes // 2) * 2
    assert history_epochs(tmp_path) == [0]


def test_token_budgets_that_cannot_work_are_refused_before_training():
    """A budget below max_length leaves no room for the longest sequences; multi-worker
    validation counts its steps from batch_size."""
    from seqapps.errors import ConfigError

    task = make_task("batch_tokens=10", "max_length=40")
    data = task.load_data()
    task.adapt(data)
    with pytest.raises(ConfigError, match="batch_tokens=10 is below max_length=40"):
        task.make_dataset(data, "train", batch_size=32, training=True)
    with pytest.raises(ConfigError, match="not supported with strategy=multi_worker"):
        make_task("batch_tokens=100", "strategy=multi_worker")


@pytest.mark.slow  # XLA compiles each batch shape: over 10 s on 2 cores
def test_jit_compile_trains_and_a_task_that_cannot_turns_it_off(tmp_path):
    train(make_task("epochs=1", "jit_compile=true"), tmp_path / "sentiment")
    assert history_epochs(tmp_path / "sentiment") == [0]
    from .conftest import make_tiny_task

    ner = make_tiny_task("ner", "epochs=1", "jit_compile=true")
    model = train(ner, tmp_path / "ner")
    assert model.jit_compile is False  # the CRF metric's ops have no XLA kernels


def test_a_run_started_before_a_setting_existed_resumes(tmp_path):
    """config.yaml of an older run lacks settings added since: they count as defaults."""
    import dataclasses

    import yaml

    from seqapps.trainer import _check_same_config

    task = make_task("epochs=3")
    old = {"task": "sentiment", **dataclasses.asdict(task.cfg)}
    for key in ("batch_tokens", "jit_compile", "steps_per_execution"):
        del old[key]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    _check_same_config(tmp_path, task.cfg, "sentiment")  # no error
    with pytest.raises(ConfigError, match=r"batch_tokens: 0 -> 100"):
        _check_same_config(tmp_path, make_task("epochs=3", "batch_tokens=100").cfg, "sentiment")
