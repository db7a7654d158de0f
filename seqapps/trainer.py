"""Training under a ``tf.distribute`` strategy with resumable, reproducible runs.

``train(task, run_dir)`` writes into ``run_dir``:

- ``config.yaml``: the resolved config (a rerun with another config is refused);
- ``assets/``: the task's preprocessing state, fitted on the training split;
- ``best.keras``: the model at its best validation epoch;
- ``backup/``: ``BackupAndRestore`` state; rerunning the same command after a kill resumes;
- ``logs/``: TensorBoard; ``history.csv``: one row per epoch; ``history.png``;
- ``train_stats.json``: training throughput and wall time.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import keras
import tensorflow as tf
import yaml

from seqapps import config as config_lib
from seqapps.compat import enable_multi_worker_fit, mirrored_strategy
from seqapps.errors import ConfigError
from seqapps.plots import plot_history
from seqapps.task import Task

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}


def get_strategy(name: str, devices: str = "") -> tf.distribute.Strategy:
    """Return the ``tf.distribute`` strategy called ``name``.

    Args:
        name: ``auto`` (mirrored with >1 GPU, one_device with 1 GPU, default otherwise),
            ``default``, ``one_device``, ``mirrored`` or ``multi_worker`` (reads ``TF_CONFIG``).
        devices: comma-separated device names for ``one_device`` / ``mirrored``, e.g.
            ``"CPU:0,CPU:1"``; empty means the GPUs.

    Example:
        >>> get_strategy("default").num_replicas_in_sync
        1
    """
    if name == "multi_worker":
        # Must come first: listing devices would initialise the TF runtime, and collective
        # ops can only be configured before that.
        if "TF_CONFIG" not in os.environ:
            raise ConfigError("strategy=multi_worker needs the TF_CONFIG environment variable")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    wanted = [d.strip() for d in devices.split(",") if d.strip()]
    known = {d.name.split("device:")[-1] for d in tf.config.list_logical_devices()}
    for device in wanted:
        if device.upper().removeprefix("/DEVICE:") not in {k.upper() for k in known}:
            raise ConfigError(
                f"devices: no device {device!r}; available: {', '.join(sorted(known))}"
            )
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "one_device" if gpus else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(
            wanted[0] if wanted else "GPU:0" if gpus else "CPU:0"
        )
    if name == "mirrored":
        return mirrored_strategy(wanted or None)
    raise ConfigError(f"unknown strategy {name!r}")


def learning_rate(
    cfg: config_lib.TrainConfig, steps_per_epoch: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """``cfg.learning_rate``, or an inverse-time decay by ``cfg.lr_decay`` per epoch.

    Example:
        >>> cfg = config_lib.TrainConfig(learning_rate=0.1, lr_decay=1.0)
        >>> round(float(learning_rate(cfg, steps_per_epoch=10)(20)), 4)  # 2 epochs: 0.1 / 3
        0.0333
    """
    if not cfg.lr_decay:
        return cfg.learning_rate
    return keras.optimizers.schedules.InverseTimeDecay(
        cfg.learning_rate, decay_steps=steps_per_epoch, decay_rate=cfg.lr_decay
    )


def worker_index() -> int:
    """Return this process's index among the workers in ``TF_CONFIG`` (0 = chief, or no cluster)."""
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    return int(task.get("index", 0)) if task.get("type", "worker") in ("worker", "chief") else 0


@contextlib.contextmanager
def precision_policy(mode: str) -> Iterator[None]:
    """Set Keras' global dtype policy for the duration of the block (``off`` = float32)."""
    previous = keras.config.dtype_policy()
    policy = {"off": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}[mode]
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


class Throughput(keras.callbacks.Callback):
    """Measure training time per epoch (validation excluded) and samples per second."""

    def __init__(self, samples_per_epoch: int) -> None:
        super().__init__()
        self.samples_per_epoch = samples_per_epoch
        self.train_seconds = 0.0
        self.epochs = 0
        self._start: float | None = None

    def on_epoch_begin(self, epoch: int, logs=None) -> None:  # noqa: D102
        self._start = time.perf_counter()

    def on_test_begin(self, logs=None) -> None:  # noqa: D102
        if self._start is not None:  # validation inside fit: stop the training clock
            self.train_seconds += time.perf_counter() - self._start
            self.epochs += 1
            self._start = None

    def on_epoch_end(self, epoch: int, logs=None) -> None:  # noqa: D102
        self.on_test_begin()  # epochs without validation

    @property
    def samples_per_second(self) -> float:
        """Training samples per second over the epochs run in this process."""
        return self.epochs * self.samples_per_epoch / max(self.train_seconds, 1e-9)


def _best_so_far(history_csv: Path, monitor: str, mode: str) -> float | None:
    """Best monitored value in an earlier (interrupted) run's history, if any."""
    if not history_csv.exists():
        return None
    with history_csv.open(encoding="utf-8") as f:
        values = [float(r[monitor]) for r in csv.DictReader(f) if r.get(monitor)]
    if not values:
        return None
    return max(values) if mode == "max" else min(values)


def _check_same_config(run_dir: Path, cfg: object, task_name: str) -> None:
    """Refuse to resume a run directory that was started with different settings."""
    path = run_dir / "config.yaml"
    if not path.exists():
        return
    old = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    new = {"task": task_name, **dataclasses.asdict(cfg)}
    # Epochs may grow on resume (train longer); anything else changes the experiment.
    diff = sorted(k for k in set(old) | set(new) if k != "epochs" and old.get(k) != new.get(k))
    if diff:
        raise ConfigError(
            f"{path}: this run directory holds a run with different settings "
            f"({', '.join(f'{k}: {old.get(k)!r} -> {new.get(k)!r}' for k in diff)}); "
            "use a new --run-dir, or the same settings to resume"
        )


def train(
    task: Task, run_dir: str | Path, callbacks: Sequence[keras.callbacks.Callback] = ()
) -> keras.Model:
    """Train ``task`` into ``run_dir``, resuming from its backup if one is there.

    Args:
        task: a Task with its config.
        run_dir: output directory (created if needed).
        callbacks: extra Keras callbacks, appended to the standard ones.

    Returns:
        The trained model with its best validation weights restored.
    """
    cfg = task.cfg
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _check_same_config(run_dir, cfg, task.name)
    config_lib.save(cfg, run_dir / "config.yaml", task.name)
    strategy = get_strategy(cfg.strategy, cfg.devices)  # first: see get_strategy
    keras.utils.set_random_seed(cfg.seed)
    # Under multi-worker training every worker runs this; only the chief (0) owns run_dir.
    index = worker_index() if cfg.strategy == "multi_worker" else 0
    out = run_dir if index == 0 else run_dir / "workers" / str(index)
    out.mkdir(parents=True, exist_ok=True)
    if (out / "train_stats.json").exists():
        raise ConfigError(
            f"{run_dir}: this run is complete; evaluate or export it, or train into a new --run-dir"
        )

    started = time.perf_counter()
    data = task.load_data()
    assets = run_dir / "assets"
    if (assets / "DONE").exists():  # a resumed run must see the very same vocabulary
        task.load_assets(assets)
    else:
        task.adapt(data)
        if index == 0:
            task.save_assets(assets)
            (assets / "DONE").touch()

    global_batch = cfg.batch_size * strategy.num_replicas_in_sync
    n_train = task.num_examples(data, "train")
    steps_per_epoch = max(1, math.ceil(n_train / global_batch))
    options = tf.data.Options()
    # Shard by element: in-memory data has no files to shard by.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    train_ds = task.make_dataset(data, "train", batch_size=global_batch, training=True)
    val_ds = task.make_dataset(data, "val", batch_size=global_batch, training=False)
    validation_steps = None
    if cfg.strategy == "multi_worker":
        # Workers must run equal step counts or collectives hang: repeat and count steps.
        val_ds = val_ds.repeat()
        validation_steps = max(1, math.ceil(task.num_examples(data, "val") / global_batch))

    with precision_policy(cfg.mixed_precision):
        with strategy.scope():
            model = task.build_model()
            optimizer = OPTIMIZERS[cfg.optimizer](
                learning_rate=learning_rate(cfg, steps_per_epoch), global_clipnorm=cfg.clipnorm
            )
            model.compile(optimizer=optimizer, **task.compile_args(model))
        enable_multi_worker_fit(model, strategy)  # no-op for the other strategies

        throughput = Throughput(steps_per_epoch * global_batch)
        history_csv = out / "history.csv"
        standard = [
            keras.callbacks.BackupAndRestore(str(out / "backup")),
            keras.callbacks.ModelCheckpoint(
                str(out / "best.keras"),
                monitor=task.monitor,
                mode=task.monitor_mode,
                save_best_only=True,
                initial_value_threshold=_best_so_far(history_csv, task.monitor, task.monitor_mode),
            ),
            keras.callbacks.EarlyStopping(
                monitor=task.monitor,
                mode=task.monitor_mode,
                patience=cfg.patience,
                restore_best_weights=True,
            ),
            keras.callbacks.TensorBoard(str(out / "logs")),
            keras.callbacks.CSVLogger(str(history_csv), append=True),
            keras.callbacks.TerminateOnNaN(),
            throughput,
        ]
        if cfg.grad_profile_every:
            from seqapps.diagnostics import GradientProfileLogger

            probe = next(
                iter(task.make_dataset(data, "train", batch_size=cfg.batch_size, training=True))
            )
            standard.append(GradientProfileLogger(probe, out / "logs", cfg.grad_profile_every))
        with warnings.catch_warnings():
            # Keras warns when a validation pass of unknown length ends, which is normal; the
            # training stream repeats forever, so the warning can mean nothing else here.
            warnings.filterwarnings("ignore", message="Your input ran out of data")
            model.fit(
                train_ds.with_options(options),
                validation_data=val_ds.with_options(options),
                epochs=cfg.epochs,
                steps_per_epoch=steps_per_epoch,
                validation_steps=validation_steps,
                callbacks=[*standard, *callbacks],
                # A live progress bar on a terminal; one line per epoch in logs and CI.
                verbose=1 if sys.stdout.isatty() else 2,
                shuffle=False,  # the datasets shuffle themselves
                **task.fit_args(data),
            )

    if not (out / "best.keras").exists():  # e.g. every epoch was already done before resume
        model.save(out / "best.keras")
    stats = {
        "train_samples_per_second": throughput.samples_per_second,
        "wall_seconds": time.perf_counter() - started,
        "epochs_run": throughput.epochs,
        "replicas": strategy.num_replicas_in_sync,
        "global_batch_size": global_batch,
    }
    (out / "train_stats.json").write_text(json.dumps(stats, indent=2), encoding="utf-8")
    if history_csv.exists():
        plot_history(history_csv, out / "history.png")
    return model
