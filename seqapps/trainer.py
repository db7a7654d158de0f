"""Training under a ``tf.distribute`` strategy with resumable, reproducible runs.

``train(task, run_dir)`` writes into ``run_dir``:

- ``config.yaml``: the resolved config, and ``inputs.json``: digests of the files it reads
  (:func:`seqapps.rundir.input_fingerprint`); once an epoch has finished, a rerun with
  another config or changed files is refused. A start that failed before its first epoch
  (a wrong data path) blocks nothing: the corrected command starts afresh;
- ``assets/``: the task's preprocessing state, fitted on the training split;
- ``best.keras``: the model at its best validation epoch (written atomically; never from an
  epoch with a NaN or infinite loss or metric);
- ``backup/``: the end-of-epoch backup (:class:`seqapps.callbacks.RunBackup`), removed when
  the run completes: rerunning the
  same command after a kill, even ``kill -9`` mid-write, resumes from the last whole epoch
  and continues bit-identically to an uninterrupted run (same weights, optimizer state,
  dropout draws and data order) on the same machine;
- ``logs/``: TensorBoard; ``history.csv``: one row per epoch; ``history.png``;
- ``train_stats.json``: training throughput and wall time over the whole run (every
  process of a resumed run).

One ``train`` at a time may use a run directory (:class:`seqapps.rundir.RunLock`). A loss
or metric that turns NaN or infinite stops training with a
:class:`~seqapps.errors.TrainingError` (non-zero exit in the CLI).

The optimizer and dtype policy come from :mod:`seqapps.optim`, the callbacks from
:mod:`seqapps.callbacks` (both shared with :mod:`seqapps.diagnostics`). ``learning_rate``,
``OPTIMIZERS``, ``precision_policy`` and ``Throughput`` are re-exported here for older code.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shutil
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf
import yaml

from seqapps import config as config_lib
from seqapps.callbacks import (
    StopOnNonFinite,
    Throughput,
    read_backup,
    restore_backup,
    rewrite_history,
    standard_callbacks,
)
from seqapps.compat import enable_multi_worker_fit, mirrored_strategy
from seqapps.data_report import format_report
from seqapps.errors import ConfigError, TrainingError
from seqapps.optim import OPTIMIZERS, compile_model, learning_rate, precision_policy
from seqapps.plots import plot_history
from seqapps.rundir import (
    RunLock,
    atomic_write,
    atomic_write_json,
    check_same_inputs,
    check_writable,
    input_fingerprint,
    remove_stale_temporaries,
)
from seqapps.task import Task

__all__ = [
    "OPTIMIZERS",
    "Throughput",
    "get_strategy",
    "learning_rate",
    "precision_policy",
    "train",
    "worker_index",
]


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


def worker_index() -> int:
    """Return this process's index among the workers in ``TF_CONFIG`` (0 = chief, or no cluster)."""
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    return int(task.get("index", 0)) if task.get("type", "worker") in ("worker", "chief") else 0


def _keep_run_length(run_dir: Path, cfg: Any) -> Any:
    """A resumed run keeps the length and patience it started with, unless given anew.

    A run started with ``epochs`` / ``patience`` set (every run before the step-based
    defaults of 2026-11-30, or one given ``epochs=``) resumed by a command that leaves them
    unset would otherwise switch to ``train_steps`` / ``patience_steps`` mid-run; a run
    resumed with ``epochs=`` given still trains longer as asked.
    """
    path = run_dir / "config.yaml"
    if not path.exists():
        return cfg
    old = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    changes: dict[str, Any] = {}
    for fixed, steps in (("epochs", "train_steps"), ("patience", "patience_steps")):
        if getattr(cfg, fixed) is None and old.get(fixed) is not None:
            changes[fixed] = old[fixed]
            changes[steps] = old.get(steps)
    return dataclasses.replace(cfg, **changes) if changes else cfg


def _check_same_config(run_dir: Path, cfg: object, task_name: str) -> None:
    """Refuse to resume a run directory that was started with different settings."""
    path = run_dir / "config.yaml"
    if not path.exists():
        return
    old = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    new = {"task": task_name, **dataclasses.asdict(cfg)}
    # Epochs (or train_steps) may grow on resume (train longer); anything else changes the
    # experiment.
    longer = ("epochs", "train_steps")
    # A setting added since the run started (absent from its config.yaml) had its default.
    defaults = {
        f.name: f.default
        for f in dataclasses.fields(cfg)  # type: ignore[arg-type]
        if f.default is not dataclasses.MISSING
    }
    old = {**{k: v for k, v in defaults.items() if k not in old}, **old}
    diff = sorted(k for k in set(old) | set(new) if k not in longer and old.get(k) != new.get(k))
    if diff:
        raise ConfigError(
            f"{path}: this run directory holds a run with different settings "
            f"({', '.join(f'{k}: {old.get(k)!r} -> {new.get(k)!r}' for k in diff)}); "
            "use a new --run-dir, or the same settings to resume"
        )


@dataclasses.dataclass
class _Streams:
    """The training and validation streams of a run, and their step counts."""

    train: tf.data.Dataset  # repeats forever; fit draws steps_per_epoch batches an epoch
    val: tf.data.Dataset
    global_batch: int  # batch_size * replicas
    steps_per_epoch: int
    validation_steps: int | None  # None: the whole validation split each epoch


def _has_progress(out: Path) -> bool:
    """Whether a run directory holds a finished epoch (else a rerun may start afresh)."""
    return any((out / name).exists() for name in ("backup/state.json", "history.csv", "best.keras"))


def _prepare_run_dir(task: Task, run_dir: Path, out: Path, index: int) -> None:
    """Check the run directory against the config and inputs, or (re)start it.

    Only the chief (``index`` 0) writes ``run_dir``'s files; the other workers of a
    multi-worker run write ``run_dir/workers/<index>``.

    Raises:
        ConfigError: ``run_dir`` holds a finished run, or a started run with other
            settings or other input files; or it is not writable.
    """
    if (out / "train_stats.json").exists():
        raise ConfigError(
            f"{run_dir}: this run is complete; evaluate or export it, or train into a new --run-dir"
        )
    check_writable(out)
    remove_stale_temporaries(out)
    if (out / "backup").is_dir():
        remove_stale_temporaries(out / "backup")
    inputs = input_fingerprint(task.input_paths())
    if _has_progress(run_dir):
        task.cfg = _keep_run_length(run_dir, task.cfg)
        _check_same_config(run_dir, task.cfg, task.name)
        check_same_inputs(run_dir / "inputs.json", inputs)
    elif index == 0:
        # Nothing finished: whatever an earlier, failed start left (config, assets fitted on
        # other data) must not block or leak into this one.
        (run_dir / "assets" / "DONE").unlink(missing_ok=True)
        atomic_write_json(run_dir / "inputs.json", inputs)
    if index == 0:
        config_lib.save(task.cfg, run_dir / "config.yaml", task.name)


def _output_dir(task: Task, run_dir: Path) -> tuple[Path, int]:
    """The output directory of this process and its worker index (see _prepare_run_dir)."""
    index = worker_index() if task.cfg.strategy == "multi_worker" else 0
    out = run_dir if index == 0 else run_dir / "workers" / str(index)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{out}: cannot create the run directory ({e.strerror})") from None
    return out, index


def _load_and_adapt(task: Task, assets: Path, index: int) -> Any:
    """Load the task's data and fit its preprocessing, or reload it when resuming.

    A resumed run (``assets/DONE`` present) must see the very same vocabulary, so the
    assets are loaded, not refitted. Only the chief (``index`` 0) writes them.
    """
    data = task.load_data()
    if (assets / "DONE").exists():
        task.load_assets(assets)
    else:
        task.adapt(data)
        if index == 0:
            task.save_assets(assets)
            (assets / "DONE").touch()
    return data


def _make_streams(task: Task, data: Any, replicas: int, done_epochs: int = 0) -> _Streams:
    """Batched training and validation datasets with the global batch of ``replicas``.

    A run resumed after ``done_epochs`` epochs skips the batches those epochs drew, so its
    stream continues where the interrupted one stopped (the shuffle order and any random
    augmentation are replayed from the seed, not redrawn).
    """
    cfg = task.cfg
    global_batch = cfg.batch_size * replicas
    train_ds = task.make_dataset(data, "train", batch_size=global_batch, training=True)
    steps_per_epoch = task.steps_per_epoch(data, global_batch)
    # Keras runs whole executions of steps_per_execution steps, also at an epoch's end: a
    # multiple keeps the batches an epoch draws equal to the batches it counts (resume).
    run = cfg.steps_per_execution
    steps_per_epoch = -(-steps_per_epoch // run) * run
    options = tf.data.Options()
    # Shard by element: in-memory data has no files to shard by.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    if done_epochs:
        train_ds = train_ds.skip(done_epochs * steps_per_epoch)
    val_ds = task.make_dataset(data, "val", batch_size=global_batch, training=False)
    validation_steps = None
    if cfg.strategy == "multi_worker":
        # Workers must run equal step counts or collectives hang: repeat and count steps.
        val_ds = val_ds.repeat()
        validation_steps = max(1, math.ceil(task.num_examples(data, "val") / global_batch))
    return _Streams(
        train_ds.with_options(options),
        val_ds.with_options(options),
        global_batch,
        steps_per_epoch,
        validation_steps,
    )


def _plan(cfg: Any, epochs: int, patience: int, steps_per_epoch: int) -> str:
    """The line saying how long the run trains and why: from epochs, or from steps."""
    length = f"epochs={cfg.epochs}" if cfg.epochs is not None else f"train_steps={cfg.train_steps}"
    wait = (
        f"patience={cfg.patience}"
        if cfg.patience is not None
        else f"patience_steps={cfg.patience_steps}"
    )
    return (
        f"training for up to {epochs} epochs of {steps_per_epoch} steps ({length}), "
        f"early-stopping patience {patience} epochs ({wait})"
    )


def _write_data_report(task: Task, data: Any, run_dir: Path) -> None:
    """Print the data report (a compact table) and write ``data_report.json``."""
    report = task.data_report(data)
    print(format_report(report), flush=True)
    atomic_write_json(run_dir / "data_report.json", report)


def _best_epoch(history_csv: Path, monitor: str, mode: str) -> tuple[int, float] | None:
    """The 1-based epoch with the best ``monitor`` in ``history.csv`` and its value."""
    if not history_csv.exists():
        return None
    with history_csv.open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r.get(monitor) not in (None, "")]
    if not rows:
        return None
    pick = max if mode == "max" else min
    row = pick(rows, key=lambda r: float(r[monitor]))
    return int(row["epoch"]) + 1, float(row[monitor])


def _build_model(task: Task, strategy: tf.distribute.Strategy, steps_per_epoch: int) -> keras.Model:
    """Build and compile the task's model in ``strategy``'s scope (under the dtype policy)."""
    with strategy.scope():
        model = compile_model(task, task.build_model(), steps_per_epoch)
    enable_multi_worker_fit(model, strategy)  # no-op for the other strategies
    return model


def _fit(
    model: keras.Model,
    streams: _Streams,
    epochs: int,
    callbacks: Sequence[keras.callbacks.Callback],
    fit_args: dict[str, Any],
    initial_epoch: int = 0,
) -> None:
    """``model.fit`` on the streams; the datasets shuffle themselves."""
    with warnings.catch_warnings():
        # Keras warns when a validation pass of unknown length ends, which is normal; the
        # training stream repeats forever, so the warning can mean nothing else here.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        model.fit(
            streams.train,
            validation_data=streams.val,
            epochs=epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=streams.steps_per_epoch,
            validation_steps=streams.validation_steps,
            callbacks=list(callbacks),
            # A live progress bar on a terminal; one line per epoch in logs and CI.
            verbose=1 if sys.stdout.isatty() else 2,
            shuffle=False,
            **fit_args,
        )


def _write_outputs(model: keras.Model, out: Path, stats: dict[str, Any]) -> None:
    """``best.keras`` if no epoch saved one, ``train_stats.json`` and ``history.png``."""
    if not (out / "best.keras").exists():  # e.g. the task has no validation score
        atomic_write(out / "best.keras", model.save, suffix=".keras")
    atomic_write_json(out / "train_stats.json", stats)
    if (out / "history.csv").exists():
        plot_history(out / "history.csv", out / "history.png")


def _model_bytes(model: keras.Model) -> int:
    """Disk a run needs for its model files: weights, optimizer slots, a backup and a copy.

    float32 weights; Adam keeps two slots per weight; the backup holds weights and slots
    and, while a new one is written, the previous one too; ``best.keras`` (which
    ``model.save`` writes with the optimizer) and its temporary copy the same. 10 MB on top
    for logs and assets.
    """
    weights = 4 * model.count_params()
    return 3 * weights * 2 * 2 + 10_000_000


def _fail_on_non_finite(guard: StopOnNonFinite, out: Path) -> None:
    """Raise :class:`TrainingError` when the guard saw a NaN or infinite value."""
    if guard.problem is None:
        return
    kept = (
        "best.keras holds the best earlier epoch"
        if (out / "best.keras").exists()
        else "no best.keras was saved"
    )
    raise TrainingError(
        f"{out}: training stopped, {guard.problem} ({kept}). Check the data for NaN, "
        "infinite or extreme values, or lower learning_rate, and train into a new --run-dir"
    )


def train(
    task: Task, run_dir: str | Path, callbacks: Sequence[keras.callbacks.Callback] = ()
) -> keras.Model:
    """Train ``task`` into ``run_dir``, resuming from its backup if one is there.

    Args:
        task: a Task with its config.
        run_dir: output directory (created if needed); see the module docstring.
        callbacks: extra Keras callbacks, appended to the standard ones.

    Returns:
        The trained model with the weights of ``best.keras`` (its best validation epoch).

    Raises:
        ConfigError: ``run_dir`` holds a run with other settings or inputs, or a finished
            run; another ``train`` is using it; it is not writable or the disk is too full;
            or a setting is invalid (strategy, devices).
        TrainingError: a loss or metric became NaN or infinite.
        DataError: from the task's loaders.
    """
    run_dir = Path(run_dir)
    out, index = _output_dir(task, run_dir)
    with RunLock(out):
        return _train_locked(task, run_dir, out, index, callbacks)


def _train_locked(
    task: Task,
    run_dir: Path,
    out: Path,
    index: int,
    callbacks: Sequence[keras.callbacks.Callback],
) -> keras.Model:
    cfg = task.cfg
    started = time.perf_counter()
    strategy = get_strategy(cfg.strategy, cfg.devices)  # first: see get_strategy
    _prepare_run_dir(task, run_dir, out, index)
    cfg = task.cfg  # a resumed run may keep the length it started with (_keep_run_length)
    keras.utils.set_random_seed(cfg.seed)
    data = _load_and_adapt(task, run_dir / "assets", index)
    if index == 0:  # the chief only: workers read the same data
        _write_data_report(task, data, run_dir)
    state = read_backup(out / "backup")
    done = state.epoch if state else 0
    streams = _make_streams(task, data, strategy.num_replicas_in_sync, done)
    with precision_policy(cfg.mixed_precision):
        model = _build_model(task, strategy, streams.steps_per_epoch)
        check_writable(out, _model_bytes(model))
        if state:
            with strategy.scope():
                restore_backup(model, out / "backup", state)
        # Always: a kill after an epoch's CSV row but before its backup leaves a row for an
        # epoch this process repeats (with no backup at all, every row is such a row).
        rewrite_history(out / "history.csv", state.logs if state else [])
        previous_wall = state.wall_seconds if state else 0.0
        epochs = cfg.epochs_for(streams.steps_per_epoch)
        patience = cfg.patience_for(streams.steps_per_epoch)
        if index == 0:
            print(_plan(cfg, epochs, patience, streams.steps_per_epoch), flush=True)
        probe = None
        if cfg.grad_profile_every:  # a fixed batch of the per-replica size
            ds = task.make_dataset(data, "train", batch_size=cfg.batch_size, training=True)
            probe = next(iter(ds))
        standard = standard_callbacks(
            task,
            out,
            # Token-budget batches vary in size: an epoch is then one pass of the examples.
            task.num_examples(data, "train")
            if cfg.batch_tokens
            else streams.steps_per_epoch * streams.global_batch,
            probe,
            state=state,
            wall_seconds=lambda: previous_wall + time.perf_counter() - started,
            patience=patience,
        )
        if not (state and (state.stopped or state.epoch >= epochs)):
            fit_args = task.fit_args(data)
            _fit(model, streams, epochs, [*standard, *callbacks], fit_args, done)
    _fail_on_non_finite(next(c for c in standard if isinstance(c, StopOnNonFinite)), out)
    if (out / "best.keras").exists():  # the best epoch's weights, resumed or not
        best = keras.models.load_model(out / "best.keras", compile=False)
        model.set_weights(best.get_weights())
    throughput = next(c for c in standard if isinstance(c, Throughput))
    monitor, mode = task.monitored()
    best_row = _best_epoch(out / "history.csv", monitor, mode)
    if best_row and index == 0:
        print(f"best epoch {best_row[0]} by {monitor} ({mode}imised): {best_row[1]:.4f}")
    stats = {
        "train_samples_per_second": throughput.samples_per_second,
        "wall_seconds": previous_wall + time.perf_counter() - started,
        "epochs_run": throughput.epochs,
        "epochs_planned": epochs,
        "steps_per_epoch": streams.steps_per_epoch,
        "replicas": strategy.num_replicas_in_sync,
        "global_batch_size": streams.global_batch,
        "monitor": monitor,  # the validation metric that selected best.keras's epoch
        "best_epoch": best_row[0] if best_row else None,
    }
    _write_outputs(model, out, stats)
    shutil.rmtree(out / "backup", ignore_errors=True)  # the run is complete: nothing to resume
    return model
