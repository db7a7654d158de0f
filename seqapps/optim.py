"""The optimizer, learning-rate schedule and dtype policy of a run, built in one place.

:func:`train <seqapps.trainer.train>` and :func:`diagnose <seqapps.diagnostics.diagnose>`
both compile through :func:`compile_model`, so a diagnosis sees the optimizer training
would use: the same ``optimizer`` class, ``learning_rate`` / ``lr_decay`` schedule,
``clipnorm`` and, under :func:`precision_policy`, the same mixed-precision loss scaling.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import keras

from seqapps import config as config_lib
from seqapps.errors import ConfigError

if TYPE_CHECKING:  # the task module imports nothing from here; keep it a type-only import
    from seqapps.task import Task

OPTIMIZERS: dict[str, type[keras.optimizers.Optimizer]] = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}

POLICIES: dict[str, str] = {
    "off": "float32",
    "float16": "mixed_float16",
    "bfloat16": "mixed_bfloat16",
}


def learning_rate(
    cfg: config_lib.TrainConfig, steps_per_epoch: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """``cfg.learning_rate``, or an inverse-time decay by ``cfg.lr_decay`` per epoch.

    Args:
        cfg: the run's settings (``learning_rate``, ``lr_decay``).
        steps_per_epoch: optimizer steps per epoch; the decay's time unit.

    Returns:
        A float when ``lr_decay`` is 0, else an ``InverseTimeDecay`` schedule
        ``lr / (1 + lr_decay * step / steps_per_epoch)``.

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


def build_optimizer(
    cfg: config_lib.TrainConfig, steps_per_epoch: int
) -> keras.optimizers.Optimizer:
    """A fresh ``cfg.optimizer`` with the run's learning rate and global-norm clipping.

    Create it inside the strategy scope that will hold the model. Under a ``mixed_float16``
    policy ``model.compile`` wraps it in a ``LossScaleOptimizer`` itself.

    Args:
        cfg: the run's settings (``optimizer``, ``learning_rate``, ``lr_decay``, ``clipnorm``).
        steps_per_epoch: optimizer steps per epoch, for the ``lr_decay`` schedule.

    Raises:
        ConfigError: ``cfg.optimizer`` is not a key of :data:`OPTIMIZERS`.

    Example:
        >>> cfg = config_lib.TrainConfig(optimizer="sgd", clipnorm=1.0)
        >>> opt = build_optimizer(cfg, steps_per_epoch=10)
        >>> type(opt).__name__, opt.global_clipnorm
        ('SGD', 1.0)
    """
    if cfg.optimizer not in OPTIMIZERS:
        raise ConfigError(
            f"unknown optimizer {cfg.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
        )
    return OPTIMIZERS[cfg.optimizer](
        learning_rate=learning_rate(cfg, steps_per_epoch), global_clipnorm=cfg.clipnorm
    )


def compile_model(task: Task, model: keras.Model, steps_per_epoch: int) -> keras.Model:
    """Compile ``model`` (from ``task.build_model()``) as training does; return it.

    Call it inside :func:`precision_policy` and the strategy scope the model was built in.
    The optimizer comes from :func:`build_optimizer`; loss, metrics and any other
    ``compile`` arguments from ``task.compile_args(model)``.
    """
    args = {
        "jit_compile": task.cfg.jit_compile,
        "steps_per_execution": task.cfg.steps_per_execution,
        **task.compile_args(model),  # a task's own limits win (e.g. no XLA for a CRF metric)
    }
    model.compile(optimizer=build_optimizer(task.cfg, steps_per_epoch), **args)
    return model


@contextlib.contextmanager
def precision_policy(mode: str) -> Iterator[None]:
    """Set Keras' global dtype policy for the duration of the block.

    Args:
        mode: ``off`` (float32), ``float16`` (``mixed_float16``: float16 compute, float32
            variables, loss scaling) or ``bfloat16`` (``mixed_bfloat16``).

    Raises:
        ConfigError: ``mode`` is none of the above.
    """
    if mode not in POLICIES:
        raise ConfigError(f"unknown mixed_precision {mode!r}; choose one of {', '.join(POLICIES)}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(POLICIES[mode])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
