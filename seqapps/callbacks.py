"""Keras callbacks of a training run: the standard list, throughput and gradient profiles.

:func:`standard_callbacks` is what :func:`seqapps.trainer.train` passes to ``fit`` (before
the caller's own): backup for resuming, best-model checkpoint, early stopping,
TensorBoard, ``history.csv``, stop on NaN, :class:`Throughput`, and with
``grad_profile_every`` a :class:`GradientProfileLogger`.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf

from seqapps.gradients import step_gradient_profile

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
        """Training samples per second over the epochs run in this process."""
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


def _best_so_far(history_csv: Path, monitor: str, mode: str) -> float | None:
    """Best ``monitor`` value (``mode`` ``max`` or ``min``) in an earlier run's history.

    Returns None when the file does not exist or has no value in that column.
    """
    if not history_csv.exists():
        return None
    with history_csv.open(encoding="utf-8") as f:
        values = [float(r[monitor]) for r in csv.DictReader(f) if r.get(monitor)]
    if not values:
        return None
    return max(values) if mode == "max" else min(values)


def standard_callbacks(
    task: Task,
    out: Path,
    samples_per_epoch: int,
    probe: tuple[Any, Any] | None = None,
) -> list[keras.callbacks.Callback]:
    """The callbacks every training run gets, writing into ``out``; one is a :class:`Throughput`.

    Args:
        task: the task (its ``monitor``, ``monitor_mode`` and ``cfg.patience``,
            ``cfg.grad_profile_every``).
        out: the run's output directory: ``backup/``, ``best.keras``, ``logs/`` and
            ``history.csv`` go there.
        samples_per_epoch: for :class:`Throughput`.
        probe: the fixed batch for :class:`GradientProfileLogger`; needed (and only used)
            when ``cfg.grad_profile_every`` > 0.

    Raises:
        ValueError: ``grad_profile_every`` is set but no ``probe`` is given.

    The checkpoint starts from the best value of an interrupted run's ``history.csv``, so a
    resumed run does not overwrite a better ``best.keras`` with a worse epoch.
    """
    history_csv = out / "history.csv"
    callbacks: list[keras.callbacks.Callback] = [
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
            patience=task.cfg.patience,
            restore_best_weights=True,
        ),
        keras.callbacks.TensorBoard(str(out / "logs")),
        keras.callbacks.CSVLogger(str(history_csv), append=True),
        keras.callbacks.TerminateOnNaN(),
        Throughput(samples_per_epoch),
    ]
    if task.cfg.grad_profile_every:
        if probe is None:
            raise ValueError("grad_profile_every is set: pass a probe batch")
        every = task.cfg.grad_profile_every
        callbacks.append(GradientProfileLogger(probe, out / "logs", every))
    return callbacks
