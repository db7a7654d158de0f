"""Gradient-flow diagnostics: how strongly the loss depends on each time step's input.

For a batch, :func:`step_gradient_profile` returns the norm of d(loss)/d(input of the first
recurrent layer at step t), averaged over the batch, indexed by the *distance* of t from the
sequence's last real step (0 = the last step; padding excluded). A SimpleRNN's profile falls
off quickly with distance (vanishing gradients); LSTM and GRU keep it up. This is the picture
behind the choice of cell.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

LAYER = "rnn_1"  # every task names its first recurrent layer so


def _split(model: keras.Model, layer: str) -> tuple[keras.Model, keras.Model]:
    """``front``: model inputs -> the layer's inputs; ``back``: those -> model outputs.

    When the layer is masked, Keras records the mask as a second input of the call, so the
    layer's inputs are ``[sequence, mask]``.
    """
    inputs = model.get_layer(layer).input
    model_inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    outputs = model.outputs[0] if len(model.outputs) == 1 else model.output
    return keras.Model(model_inputs, inputs), keras.Model(inputs, outputs)


def step_gradient_profile(model: keras.Model, x: Any, y: Any, layer: str = LAYER) -> np.ndarray:
    """Mean gradient norm at each distance from the last real step, ``(max_time,)``.

    Args:
        model: a compiled model whose first recurrent layer is called ``layer``.
        x: one batch of model inputs; padding (if the model masks) is on the right.
        y: its targets.
        layer: the recurrent layer whose input steps are measured.

    Returns:
        ``profile[d]`` = mean over the rows with at least ``d + 1`` real steps of
        ``|| d loss / d input[b, lengths[b] - 1 - d] ||``; NaN where no row is that long.
    """
    front, back = _split(model, layer)
    with warnings.catch_warnings():
        # The mask travels explicitly as back's second input; Keras warns that the one also
        # attached to the tensor is dropped, which is intended.
        warnings.filterwarnings("ignore", message=".*input with a mask attached")
        outs = front(x, training=False)
        seq, extra = (outs[0], outs[1:]) if isinstance(outs, list) else (outs, [])
        with tf.GradientTape() as tape:
            tape.watch(seq)  # (batch, time, features)
            y_pred = back([seq, *extra] if extra else seq, training=False)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred)
    norms = tf.norm(tape.gradient(loss, seq), axis=-1).numpy()  # (batch, time)
    batch, time = norms.shape
    real = np.asarray(extra[0], bool) if extra else np.ones((batch, time), bool)
    lengths = real.sum(axis=1)
    profile = np.full(time, np.nan)
    for d in range(time):
        rows = np.flatnonzero(lengths > d)
        if len(rows):
            profile[d] = norms[rows, lengths[rows] - 1 - d].mean()
    return profile


def layer_gradient_norms(model: keras.Model, x: tf.Tensor, y: Any) -> dict[str, float]:
    """Norm of the loss gradient for each layer's trainable weights together."""
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=False))
    weights = model.trainable_weights
    grads = tape.gradient(loss, weights)
    per_layer: dict[str, float] = {}
    for w, g in zip(weights, grads, strict=True):
        name = w.path.split("/")[0]
        if g is not None:
            g = tf.convert_to_tensor(g)  # embeddings give IndexedSlices
            per_layer[name] = per_layer.get(name, 0.0) + float(tf.reduce_sum(g * g))
    return {k: v**0.5 for k, v in per_layer.items()}


def vanishing_distance(profile: np.ndarray, ratio: float = 1e-3) -> int | None:
    """First distance where the profile falls below ``ratio`` times its value at distance 0."""
    below = np.flatnonzero(profile < ratio * profile[0])
    return int(below[0]) if len(below) else None


class GradientProfileLogger(keras.callbacks.Callback):
    """Log the per-step gradient profile of a fixed batch to TensorBoard every ``every`` steps.

    Writes scalars ``grad_profile/distance_<d>`` for d = 0, 1, 2, 4, 8, ... and the ratio of
    the farthest logged distance to distance 0.

    Example:
        >>> batch = next(iter(train_ds))   # doctest: +SKIP
        >>> model.fit(train_ds, callbacks=[GradientProfileLogger(batch, "runs/x/logs")])
    """

    def __init__(self, batch: tuple, log_dir: str | Path, every: int = 100, mask_fn=None) -> None:
        super().__init__()
        self.x, self.y = batch
        self.mask = mask_fn(self.x) if mask_fn else None
        self.every = every
        self.writer = tf.summary.create_file_writer(str(Path(log_dir) / "grad_profile"))
        self.step = 0

    def on_train_batch_end(self, batch: int, logs=None) -> None:  # noqa: D102
        self.step += 1
        if self.step % self.every:
            return
        profile = step_gradient_profile(self.model, self.x, self.y)
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


def save_report(results: dict[str, dict], out_dir: str | Path, title: str) -> Path:
    """Write ``gradient_profile.json`` and ``gradient_profile.png`` (log scale, a line per cell)."""
    from seqapps.plots import plot_gradient_profiles

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "gradient_profile.json"
    path.write_text(json.dumps(results, indent=1), encoding="utf-8")
    plot_gradient_profiles(results, out_dir / "gradient_profile.png", title)
    return path


def _mean_profile(model: keras.Model, batches: list) -> np.ndarray:
    """Average of :func:`step_gradient_profile` over batches of possibly different lengths."""
    profiles = [step_gradient_profile(model, x, y) for x, y in batches]
    longest = max(len(p) for p in profiles)
    stacked = np.full((len(profiles), longest), np.nan)
    for i, p in enumerate(profiles):
        stacked[i, : len(p)] = p
    with np.errstate(all="ignore"):
        return np.nanmean(stacked, axis=0)


def _mean_layer_norms(model: keras.Model, batches: list) -> dict[str, float]:
    norms = [layer_gradient_norms(model, x, y) for x, y in batches]
    return {k: float(np.mean([n[k] for n in norms])) for k in norms[0]}


def _short_training(
    model: keras.Model, ds: tf.data.Dataset, steps: int, clipnorm: float | None
) -> float:
    """Train ``steps`` steps; return the share of steps whose gradient norm was clipped."""
    clipped = 0
    for x, y in ds.take(steps):
        with tf.GradientTape() as tape:
            loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True), training=True)
        grads = tape.gradient(loss, model.trainable_weights)
        norm = tf.linalg.global_norm([tf.convert_to_tensor(g) for g in grads])
        clipped += int(clipnorm is not None and float(norm) > clipnorm)
        model.optimizer.apply(grads, model.trainable_weights)  # clips by global norm itself
    return clipped / max(steps, 1)


def diagnose(
    task_name: str,
    overrides: list[str],
    cells: list[str],
    out_dir: str | Path,
    config_file: str | None = None,
    batches: int = 4,
    steps: int = 200,
) -> dict:
    """Compare the gradient profile of each cell on the task's real training batches.

    For every cell, with otherwise equal settings: build the task's model, measure the
    profile and per-layer gradient norms on ``batches`` fixed training batches at
    initialisation, train ``steps`` steps (counting clipped updates), measure again.
    Writes ``gradient_profile.json`` and ``.png`` into ``out_dir`` and returns the results.
    """
    from seqapps import config as config_lib
    from seqapps.tasks import get_task_class
    from seqapps.trainer import OPTIMIZERS

    cls = get_task_class(task_name)
    results: dict[str, dict] = {}
    for cell in cells:
        cfg = config_lib.resolve(cls.config_class, config_file, [*overrides, f"cell={cell}"])
        task = cls(cfg)
        data = task.load_data()
        task.adapt(data)
        keras.utils.set_random_seed(cfg.seed)  # same weights' distribution, same batches
        ds = task.make_dataset(data, "train", batch_size=cfg.batch_size, training=True)
        probe = list(ds.take(batches))
        model = task.build_model()
        model.compile(
            optimizer=OPTIMIZERS[cfg.optimizer](
                learning_rate=cfg.learning_rate, global_clipnorm=cfg.clipnorm
            ),
            **task.compile_args(model),
        )
        init = _mean_profile(model, probe)
        layers_init = _mean_layer_norms(model, probe)
        print(f"{cell}: training {steps} steps", flush=True)
        clipped = _short_training(model, ds, steps, cfg.clipnorm)
        trained = _mean_profile(model, probe)
        results[cell] = {
            "init": [float(v) for v in init],
            "trained": [float(v) for v in trained],
            "vanishing_distance_init": vanishing_distance(init),
            "vanishing_distance_trained": vanishing_distance(trained),
            "layer_grad_norms_init": layers_init,
            "layer_grad_norms_trained": _mean_layer_norms(model, probe),
            "clipped_fraction": clipped,
            "train_steps": steps,
        }
    save_report(results, out_dir, task_name)
    return results


def summary(results: dict[str, dict]) -> list[str]:
    """One line per cell: where its gradient falls below 1e-3 of its last-step value."""
    lines = []
    for cell, r in results.items():
        parts = []
        for phase in ("init", "trained"):
            d = r[f"vanishing_distance_{phase}"]
            profile = np.array(r[phase])
            far = profile[np.isfinite(profile)][-1] / profile[0]
            where = f"below 1e-3 at distance {d}" if d is not None else "never below 1e-3"
            parts.append(f"{phase}: {where}, farthest/last = {far:.1e}")
        lines.append(f"{cell:<10} " + "; ".join(parts) + f"; clipped {r['clipped_fraction']:.0%}")
    return lines
