"""Keras callbacks of a training run: the standard list, backups, throughput, profiles.

:func:`standard_callbacks` is what :func:`seqapps.trainer.train` passes to ``fit`` (before
the caller's own): :class:`Throughput`, :class:`StopOnNonFinite`, :class:`BestModel`,
early stopping (:class:`ResumableEarlyStopping`), TensorBoard, ``history.csv``, with
``grad_profile_every`` a :class:`GradientProfileLogger`, and last :class:`RunBackup`, so a
backup is taken only once everything else of the epoch is on disk.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf

from seqapps.errors import ConfigError
from seqapps.gradients import step_gradient_profile
from seqapps.rundir import atomic_write, atomic_write_json

if TYPE_CHECKING:
    from seqapps.task import Task


class Throughput(keras.callbacks.Callback):
    """Measure training time per epoch (validation excluded) and samples per second.

    Args:
        samples_per_epoch: training samples one epoch sees (steps times global batch).
    """

    def __init__(self, samples_per_epoch: int) -> None:
        super().__init__()
        self.samples_per_epoch = samples_per_epoch
        self.train_seconds = 0.0
        self.epochs = 0
        self._start: float | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:  # noqa: D102
        self._start = time.perf_counter()

    def on_test_begin(self, logs: dict | None = None) -> None:  # noqa: D102
        if self._start is not None:  # validation inside fit: stop the training clock
            self.train_seconds += time.perf_counter() - self._start
            self.epochs += 1
            self._start = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:  # noqa: D102
        self.on_test_begin()  # epochs without validation

    @property
    def samples_per_second(self) -> float:
        """Training samples per second over the run's epochs (resumed: with the backup's)."""
        return self.epochs * self.samples_per_epoch / max(self.train_seconds, 1e-9)


class GradientProfileLogger(keras.callbacks.Callback):
    """Log the per-step gradient profile of a fixed batch to TensorBoard every ``every`` steps.

    Writes scalars ``grad_profile/distance_<d>`` for d = 0, 1, 2, 4, 8, ... and the ratio of
    the farthest logged distance to distance 0, under ``log_dir/grad_profile``. The profile
    is :func:`seqapps.gradients.step_gradient_profile` of the model's first recurrent layer
    (nested ones included: a translation model's ``encoder/rnn_1``).

    Args:
        batch: ``(x, y)``, one batch of model inputs and targets.
        log_dir: TensorBoard directory.
        every: training steps between two measures.
        layer: the recurrent layer to profile (name or layer); None = the default choice.

    Example:
        >>> batch = next(iter(train_ds))  # doctest: +SKIP
        >>> logger = GradientProfileLogger(batch, "runs/x/logs", every=50)  # doctest: +SKIP
        >>> model.fit(train_ds, callbacks=[logger])  # doctest: +SKIP
    """

    def __init__(
        self,
        batch: tuple[Any, Any],
        log_dir: str | Path,
        every: int = 100,
        layer: str | None = None,
    ) -> None:
        super().__init__()
        self.x, self.y = batch
        self.every = every
        self.layer = layer
        self.writer = tf.summary.create_file_writer(str(Path(log_dir) / "grad_profile"))
        self.step = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:  # noqa: D102
        self.step += 1
        if self.step % self.every:
            return
        profile = step_gradient_profile(self.model, self.x, self.y, self.layer)
        distances = [0] + [2**k for k in range(int(np.log2(max(len(profile) - 1, 1))) + 1)]
        with self.writer.as_default():
            for d in distances:
                if d < len(profile) and np.isfinite(profile[d]):
                    tf.summary.scalar(f"grad_profile/distance_{d}", profile[d], step=self.step)
            far = distances[-1] if distances[-1] < len(profile) else len(profile) - 1
            tf.summary.scalar(
                "grad_profile/far_over_near", profile[far] / profile[0], step=self.step
            )
        self.writer.flush()


def _finite(logs: dict | None) -> bool:
    return all(math.isfinite(float(v)) for v in (logs or {}).values())


class StopOnNonFinite(keras.callbacks.Callback):
    """Stop training at the first NaN or infinite batch loss or epoch metric, and say where.

    Unlike ``keras.callbacks.TerminateOnNaN`` it records what went wrong in :attr:`problem`
    (``None`` while all is finite), which :func:`seqapps.trainer.train` turns into a
    :class:`seqapps.errors.TrainingError`, so the run fails loudly instead of saving a NaN
    model and exiting 0.
    """

    def __init__(self) -> None:
        super().__init__()
        self.problem: str | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:  # noqa: D102
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:  # noqa: D102
        loss = (logs or {}).get("loss")
        if self.problem is None and loss is not None and not math.isfinite(float(loss)):
            self.problem = f"epoch {self._epoch + 1}, batch {batch + 1}: the loss is {loss}"
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:  # noqa: D102
        if self.problem is None and not _finite(logs):
            bad = sorted(k for k, v in (logs or {}).items() if not math.isfinite(float(v)))
            self.problem = f"epoch {epoch + 1}: {', '.join(bad)} not finite"
            self.model.stop_training = True


@dataclasses.dataclass
class RunState:
    """What a backup holds besides the weights: enough to continue bit-identically.

    Attributes:
        epoch: epochs finished (the next one to run, 0-based).
        weights: file name of the weights (model and optimizer) in the backup directory.
        seeds: state of every ``SeedGenerator`` of the model (dropout draws), in order.
        logs: one dict per finished epoch (``epoch`` and Keras's epoch logs): the history.
        train_seconds: training time so far, validation excluded, over every process.
        wall_seconds: wall time of the run so far, over every process.
        stopped: early stopping ended the run at ``epoch``.
    """

    epoch: int
    weights: str
    seeds: list[list[int]]
    logs: list[dict[str, float]]
    train_seconds: float = 0.0
    wall_seconds: float = 0.0
    stopped: bool = False


STATE_FILE = "state.json"


def read_backup(directory: Path) -> RunState | None:
    """The newest whole backup in ``directory``, or None when there is none.

    Raises:
        ConfigError: ``state.json`` is not a backup state (written by something else).
    """
    path = directory / STATE_FILE
    if not path.is_file():
        return None
    try:
        state = RunState(**json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{path}: not a seqapps backup ({e}); use a new --run-dir") from None
    if not (directory / state.weights).is_file():
        raise ConfigError(f"{path}: names {state.weights}, which is missing; use a new --run-dir")
    return state


def seed_variables(model: keras.Model) -> list:
    """The state variables of the model's ``SeedGenerator`` objects (dropout masks).

    ``save_weights`` leaves them out, so without them a resumed run would draw its dropout
    masks from the start of the sequence again.
    """
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def restore_backup(model: keras.Model, directory: Path, state: RunState) -> None:
    """Load a :class:`RunState`'s weights, optimizer state and seed states into ``model``."""
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(directory / state.weights)
    for variable, value in zip(seed_variables(model), state.seeds, strict=True):
        variable.assign(np.asarray(value, variable.dtype))


class RunBackup(keras.callbacks.Callback):
    """End-of-epoch backup that a kill at any moment cannot spoil.

    Each epoch writes ``epoch-<n>.weights.h5`` (model and optimizer) and then, as the switch,
    ``state.json`` (:class:`RunState`), both through :func:`seqapps.rundir.atomic_write`;
    only then is the previous weights file removed. A kill or a full disk during the write
    leaves the previous backup whole and in use. An epoch whose logs are not finite is not
    backed up.

    Args:
        directory: the backup directory.
        throughput: the run's :class:`Throughput`, whose totals go into the state.
        wall_seconds: returns the run's wall time so far (all processes).
        state: the state this process resumed from, or None for a new run.
    """

    def __init__(
        self,
        directory: Path,
        throughput: Throughput,
        wall_seconds: Callable[[], float],
        state: RunState | None = None,
    ) -> None:
        super().__init__()
        self.directory = directory
        self.throughput = throughput
        self.wall_seconds = wall_seconds
        self.logs: list[dict[str, float]] = list(state.logs) if state else []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:  # noqa: D102
        if not _finite(logs):
            return
        self.logs.append({"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}})
        name = f"epoch-{epoch + 1:04d}.weights.h5"
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write(
            self.directory / name,
            lambda tmp: self.model.save_weights(tmp),
            suffix=".weights.h5",  # Keras insists on it
        )
        state = RunState(
            epoch=epoch + 1,
            weights=name,
            seeds=[np.asarray(v).tolist() for v in seed_variables(self.model)],
            logs=self.logs,
            train_seconds=self.throughput.train_seconds,
            wall_seconds=self.wall_seconds(),
            stopped=bool(self.model.stop_training),
        )
        atomic_write_json(self.directory / STATE_FILE, dataclasses.asdict(state))
        for old in self.directory.glob("epoch-*.weights.h5"):
            if old.name != name:
                old.unlink(missing_ok=True)


class BestModel(keras.callbacks.Callback):
    """Save the model whenever ``monitor`` improves, atomically; never a non-finite epoch.

    Args:
        path: the ``.keras`` file.
        monitor: the epoch log to watch (e.g. ``val_loss``).
        mode: ``min`` or ``max``.
        best: the best value of earlier epochs (a resumed run), or None.
    """

    def __init__(self, path: Path, monitor: str, mode: str, best: float | None = None) -> None:
        super().__init__()
        self.path = path
        self.monitor = monitor
        self.better = np.less if mode == "min" else np.greater
        self.best = best

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:  # noqa: D102
        value = (logs or {}).get(self.monitor)
        if value is None or not _finite(logs):
            return
        if self.best is None or self.better(float(value), self.best):
            self.best = float(value)
            atomic_write(self.path, lambda tmp: self.model.save(tmp), suffix=".keras")


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """``EarlyStopping`` that starts from the epochs of the run it resumes.

    Args:
        history: the earlier epochs' logs (:attr:`RunState.logs`); the patience counter and
            the best value continue from them, so a resumed run stops where an
            uninterrupted one would.
        **kwargs: for ``keras.callbacks.EarlyStopping`` (``restore_best_weights`` stays off:
            the trainer reloads ``best.keras``, which a resumed process has and memory has not).
    """

    def __init__(self, history: list[dict[str, float]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.history = history

    def on_train_begin(self, logs: dict | None = None) -> None:  # noqa: D102
        super().on_train_begin(logs)
        if self.history and self.monitor_op is None:
            self._set_monitor_op()  # Keras defers this to the first epoch's end
        for row in self.history:  # Keras's own counting, replayed
            current = row.get(self.monitor)
            if current is None:
                continue
            self.wait += 1
            if self._is_improvement(current, self.best):
                self.best, self.best_epoch, self.wait = current, int(row["epoch"]), 0


def best_value(history: list[dict[str, float]], monitor: str, mode: str) -> float | None:
    """Best ``monitor`` value (``mode`` ``max`` or ``min``) over logged epochs, or None."""
    values = [row[monitor] for row in history if monitor in row]
    if not values:
        return None
    return max(values) if mode == "max" else min(values)


def rewrite_history(history_csv: Path, history: list[dict[str, float]]) -> None:
    """Write ``history.csv`` as ``CSVLogger`` does, from a backup's logs.

    A kill between the CSV row and the backup of an epoch would otherwise leave a row for
    an epoch the resumed run then repeats.
    """
    if not history:
        history_csv.unlink(missing_ok=True)
        return
    keys = sorted({k for row in history for k in row} - {"epoch"})

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["epoch", *keys])
            writer.writeheader()
            for row in history:
                writer.writerow({"epoch": int(row["epoch"]), **{k: row.get(k, "") for k in keys}})

    atomic_write(history_csv, write)


def standard_callbacks(
    task: Task,
    out: Path,
    samples_per_epoch: int,
    probe: tuple[Any, Any] | None = None,
    *,
    state: RunState | None = None,
    wall_seconds: Callable[[], float] = lambda: 0.0,
    patience: int | None = None,
) -> list[keras.callbacks.Callback]:
    """The callbacks every training run gets, writing into ``out``.

    Among them are one :class:`Throughput` and one :class:`StopOnNonFinite`, which the
    trainer reads after ``fit``; :class:`RunBackup` comes last.

    Args:
        task: the task (:meth:`~seqapps.task.Task.monitored`: the metric that selects the
            epoch and its mode; ``cfg.patience`` or ``cfg.patience_steps``,
            ``cfg.grad_profile_every``).
        out: the run's output directory: ``backup/``, ``best.keras``, ``logs/`` and
            ``history.csv`` go there.
        samples_per_epoch: for :class:`Throughput`.
        probe: the fixed batch for :class:`GradientProfileLogger`; needed (and only used)
            when ``cfg.grad_profile_every`` > 0.
        state: the backup a resumed run starts from: the best value, the patience counter
            and the throughput totals continue from it.
        wall_seconds: the run's wall time so far, for the backup.
        patience: early-stopping patience in epochs (None = ``cfg.patience_for`` the steps
            of ``samples_per_epoch`` / ``cfg.batch_size``; the trainer passes
            ``cfg.patience_for(steps_per_epoch)`` of the global batch).

    Raises:
        ValueError: ``grad_profile_every`` is set but no ``probe`` is given.
    """
    history = state.logs if state else []
    monitor, mode = task.monitored()
    throughput = Throughput(samples_per_epoch)
    if state:
        throughput.train_seconds, throughput.epochs = state.train_seconds, state.epoch
    callbacks: list[keras.callbacks.Callback] = [
        throughput,
        StopOnNonFinite(),
        BestModel(out / "best.keras", monitor, mode, best_value(history, monitor, mode)),
        ResumableEarlyStopping(
            history,
            monitor=monitor,
            mode=mode,
            patience=patience
            or task.cfg.patience_for(-(-samples_per_epoch // task.cfg.batch_size)),
        ),
        keras.callbacks.TensorBoard(str(out / "logs")),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
    ]
    if task.cfg.grad_profile_every:
        if probe is None:
            raise ValueError("grad_profile_every is set: pass a probe batch")
        every = task.cfg.grad_profile_every
        callbacks.append(GradientProfileLogger(probe, out / "logs", every))
    callbacks.append(RunBackup(out / "backup", throughput, wall_seconds, state))
    return callbacks
