"""``seqapps diagnose``: gradient flow per time step, for each cell, on a task's real data.

For every cell (``simple_rnn``, ``lstm``, ``gru``), with otherwise equal settings,
:func:`diagnose` builds the task's model, measures the per-time-step gradient profile
(:func:`seqapps.gradients.step_gradient_profile`: the norm of d(loss)/d(input of the
first recurrent layer at step t) by distance from the last real step) and per-layer
gradient norms on a few fixed training batches, trains a few hundred steps, and measures
again. A SimpleRNN's profile falls off quickly with distance (vanishing gradients); LSTM
and GRU keep it up. This is the picture behind the choice of cell.

It works for every task: the profiled layer is found by walking the model's layers,
nested ones included (translation's ``encoder/rnn_1``, captioning's ``decoder/rnn_1``); see
:mod:`seqapps.gradients` for which layer is chosen and how its input gradient is taken.
The model is compiled exactly as :func:`seqapps.trainer.train` compiles it
(:func:`seqapps.optim.compile_model`: the configured optimizer, ``learning_rate`` and
``lr_decay`` schedule, ``clipnorm``, under the ``mixed_precision`` dtype policy); it runs
on the default strategy, one replica.

The measuring functions and :class:`~seqapps.callbacks.GradientProfileLogger` are
re-exported here for older code; they live in :mod:`seqapps.gradients` and
:mod:`seqapps.callbacks`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from seqapps import config as config_lib
from seqapps.callbacks import GradientProfileLogger
from seqapps.gradients import (
    LAYER,
    input_gradients,
    layer_gradient_norms,
    loss_scale,
    profiled_layer,
    profiled_path,
    recurrent_layers,
    step_gradient_profile,
    vanishing_distance,
)
from seqapps.optim import compile_model, precision_policy

__all__ = [
    "LAYER",
    "GradientProfileLogger",
    "diagnose",
    "input_gradients",
    "layer_gradient_norms",
    "profiled_layer",
    "profiled_path",
    "recurrent_layers",
    "save_report",
    "step_gradient_profile",
    "summary",
    "vanishing_distance",
]

Batch = tuple[Any, Any]


def save_report(results: dict[str, dict], out_dir: str | Path, title: str) -> Path:
    """Write ``gradient_profile.json`` and ``gradient_profile.png`` (log scale, a line per cell).

    Args:
        results: per cell, at least ``init`` and ``trained`` profiles (lists of floats).
        out_dir: created if needed.
        title: the plot's title (the task name).

    Returns:
        The path of the JSON file. NaN profile entries are written as ``NaN``.
    """
    from seqapps.plots import plot_gradient_profiles

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "gradient_profile.json"
    path.write_text(json.dumps(results, indent=1), encoding="utf-8")
    plot_gradient_profiles(results, out_dir / "gradient_profile.png", title)
    return path


def _mean_profile(model: keras.Model, batches: list[Batch]) -> np.ndarray:
    """Average of :func:`step_gradient_profile` over batches of possibly different lengths."""
    profiles = [step_gradient_profile(model, x, y) for x, y in batches]
    longest = max(len(p) for p in profiles)
    stacked = np.full((len(profiles), longest), np.nan)
    for i, p in enumerate(profiles):
        stacked[i, : len(p)] = p
    with np.errstate(all="ignore"):
        return np.nanmean(stacked, axis=0)


def _mean_layer_norms(model: keras.Model, batches: list[Batch]) -> dict[str, float]:
    """Per-layer gradient norms (:func:`layer_gradient_norms`) averaged over ``batches``."""
    norms = [layer_gradient_norms(model, x, y) for x, y in batches]
    return {k: float(np.mean([n[k] for n in norms])) for k in norms[0]}


def _short_training(
    model: keras.Model, ds: tf.data.Dataset, steps: int, clipnorm: float | None
) -> float:
    """Train ``steps`` steps as Keras' ``train_step`` does; return the share clipped.

    A step counts as clipped when the global norm of its (unscaled) gradients exceeds
    ``clipnorm``; the optimizer clips by global norm itself.
    """
    clipped = 0
    for x, y in ds.take(steps):
        scale = loss_scale(model)  # mixed_float16 only; it changes as training goes
        with tf.GradientTape() as tape:
            loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True), training=True)
            loss = model.optimizer.scale_loss(loss)
        grads = tape.gradient(loss, model.trainable_weights)
        norm = float(tf.linalg.global_norm([tf.convert_to_tensor(g) for g in grads])) / scale
        clipped += int(clipnorm is not None and norm > clipnorm)
        model.optimizer.apply(grads, model.trainable_weights)  # unscales, then clips
    return clipped / max(steps, 1)


def _diagnose_cell(task: Any, batches: int, steps: int) -> dict[str, Any]:
    """Profile, train ``steps`` steps and profile again the model of one configured task."""
    cfg = task.cfg
    data = task.load_data()
    task.adapt(data)
    keras.utils.set_random_seed(cfg.seed)  # same weights' distribution, same batches
    ds = task.make_dataset(data, "train", batch_size=cfg.batch_size, training=True)
    probe = list(ds.take(batches))
    steps_per_epoch = task.steps_per_epoch(data, cfg.batch_size)
    with precision_policy(cfg.mixed_precision):
        model = compile_model(task, task.build_model(), steps_per_epoch)
        init = _mean_profile(model, probe)
        layers_init = _mean_layer_norms(model, probe)
        print(f"{cfg.cell}: training {steps} steps", flush=True)
        clipped = _short_training(model, ds, steps, cfg.clipnorm)
        trained = _mean_profile(model, probe)
        layers_trained = _mean_layer_norms(model, probe)
    return {
        "layer": profiled_path(model),
        "init": [float(v) for v in init],
        "trained": [float(v) for v in trained],
        "vanishing_distance_init": vanishing_distance(init),
        "vanishing_distance_trained": vanishing_distance(trained),
        "layer_grad_norms_init": layers_init,
        "layer_grad_norms_trained": layers_trained,
        "clipped_fraction": clipped,
        "train_steps": steps,
    }


def diagnose(
    task_name: str,
    overrides: list[str],
    cells: list[str],
    out_dir: str | Path,
    config_file: str | None = None,
    batches: int = 4,
    steps: int = 200,
) -> dict[str, dict[str, Any]]:
    """Compare the gradient profile of each cell on the task's real training batches.

    For every cell, with otherwise equal settings: build and compile the task's model as
    training does, measure the profile and per-layer gradient norms on ``batches`` fixed
    training batches at initialisation, train ``steps`` steps (counting clipped updates),
    measure again. Writes ``gradient_profile.json`` and ``.png`` into ``out_dir``.

    Args:
        task_name: a registered task (``sentiment``, ``ner``, ``translation``,
            ``captioning``, ``forecasting``).
        overrides: ``key=value`` config overrides (``cell`` is set per cell).
        cells: the cells to compare.
        out_dir: where the report goes.
        config_file: optional YAML config, applied before ``overrides``.
        batches: fixed training batches the profiles are averaged over.
        steps: training steps between the two measures.

    Returns:
        Per cell: ``layer`` (the profiled layer's path, e.g. ``"encoder/rnn_1"``), ``init``
        and ``trained`` (profiles by distance from the last real step, lists of floats, NaN
        where no probe row is that long), ``vanishing_distance_init`` / ``_trained`` (int or
        None), ``layer_grad_norms_init`` / ``_trained`` (per top-level layer),
        ``clipped_fraction`` (in [0, 1]) and ``train_steps``.

    Raises:
        ConfigError: an unknown task, key or value.
        ValueError: the task's model has no recurrent layer.
    """
    from seqapps.tasks import get_task_class

    cls = get_task_class(task_name)
    results: dict[str, dict[str, Any]] = {}
    for cell in cells:
        cfg = config_lib.resolve(cls.config_class, config_file, [*overrides, f"cell={cell}"])
        results[cell] = _diagnose_cell(cls(cfg), batches, steps)
    save_report(results, out_dir, task_name)
    return results


def summary(results: dict[str, dict]) -> list[str]:
    """One line per cell: where its gradient falls below 1e-3 of its last-step value.

    The profiled layer's path ends the line when ``results`` name it (as :func:`diagnose`'s
    do).
    """
    lines = []
    for cell, r in results.items():
        parts = []
        for phase in ("init", "trained"):
            d = r[f"vanishing_distance_{phase}"]
            profile = np.array(r[phase])
            far = profile[np.isfinite(profile)][-1] / profile[0]
            where = f"below 1e-3 at distance {d}" if d is not None else "never below 1e-3"
            parts.append(f"{phase}: {where}, farthest/last = {far:.1e}")
        line = f"{cell:<10} " + "; ".join(parts) + f"; clipped {r['clipped_fraction']:.0%}"
        lines.append(line + (f"; layer {r['layer']}" if "layer" in r else ""))
    return lines
