"""Per-time-step input gradients of a model's first recurrent layer, for any task's model.

For a batch, :func:`step_gradient_profile` returns the norm of d(loss)/d(input of the
profiled recurrent layer at step t), averaged over the batch, indexed by the *distance* of t
from the sequence's last real step (0 = the last step; padding excluded). A SimpleRNN's
profile falls off quickly with distance (vanishing gradients); LSTM and GRU keep it up.

Which layer is profiled (:func:`profiled_layer`): the models' layers are walked depth
first, in the order the model holds them, descending into custom layers (a translation
model's ``encoder`` and ``decoder``) but not into recurrent layers themselves (a
``Bidirectional`` counts as one layer). The first recurrent layer (a ``keras.layers.RNN`` or
``Bidirectional``) called ``rnn_1`` is chosen, as every task names the first layer of its
main recurrent stack so; failing that, the first recurrent layer. So sentiment, NER and
forecasting profile their top-level ``rnn_1``; translation the ``encoder``'s ``rnn_1`` (it
comes before the decoder); captioning, whose encoder has no recurrence, the ``decoder``'s
``rnn_1`` over caption tokens. NER's character encoder (``char_rnn``, whose time axis
is characters, not words) is not chosen, because the preference for ``rnn_1`` comes first.

How the gradient is taken (:func:`input_gradients`): a nested layer's input is no tensor of
the functional graph, so the model cannot be split there into two models. Instead, for the
duration of one eager forward pass the profiled layer's ``call`` is wrapped: the wrapper
asks the ``GradientTape`` to watch the sequence the layer receives (after Keras' dtype
conversion, so exactly what the recurrence reads) and records it with its ``mask``
argument; the loss is then differentiated with respect to that recorded tensor. This needs
no change to the tasks' layers and works the same for top-level and nested layers. The
loss is scaled by the model's optimizer as its ``train_step`` does (``mixed_float16``'s loss
scale) and the gradients unscaled, so small gradients do not underflow in float16.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
import tensorflow as tf

LAYER = "rnn_1"  # every task names the first layer of its main recurrent stack so

RECURRENT = (keras.layers.RNN, keras.layers.Bidirectional)


def recurrent_layers(model: keras.layers.Layer) -> list[tuple[str, keras.layers.Layer]]:
    """Every recurrent layer inside ``model``, depth first, as ``(path, layer)`` pairs.

    ``path`` joins the names of the enclosing layers with ``/``, e.g. ``"encoder/rnn_1"``.
    Recurrent layers are not descended into (a ``Bidirectional``'s forward and backward
    layers are not listed); a layer object reached twice is listed once.

    Example:
        >>> [path for path, _ in recurrent_layers(translation_model)]  # doctest: +SKIP
        ['encoder/rnn_1', 'decoder/rnn_1']
    """
    found: list[tuple[str, keras.layers.Layer]] = []
    seen: set[int] = set()

    def walk(layer: keras.layers.Layer, prefix: str) -> None:
        # _flatten_layers (non-recursive) lists a layer's direct sublayers in attribute order;
        # for a functional model, its layers in graph order. Keras has no public equivalent
        # for plain layers.
        for sub in layer._flatten_layers(include_self=False, recursive=False):
            if id(sub) in seen:
                continue
            seen.add(id(sub))
            path = f"{prefix}{sub.name}"
            if isinstance(sub, RECURRENT):
                found.append((path, sub))
            else:
                walk(sub, path + "/")

    walk(model, "")
    return found


def _find(
    model: keras.Model, layer: str | keras.layers.Layer | None
) -> tuple[str, keras.layers.Layer]:
    """``(path, layer)`` of the profiled layer; see :func:`profiled_layer`."""
    found = recurrent_layers(model)
    if isinstance(layer, keras.layers.Layer):
        return next((p for p, c in found if c is layer), layer.name), layer
    if not found:
        raise ValueError(f"model {model.name!r} has no recurrent layer to profile")
    wanted = layer or LAYER
    for path, candidate in found:
        if path == wanted or path.endswith("/" + wanted):
            return path, candidate
    if layer is None:
        return found[0]
    raise ValueError(
        f"model {model.name!r} has no recurrent layer {layer!r}; "
        f"it has {', '.join(p for p, _ in found)}"
    )


def profiled_layer(
    model: keras.Model, layer: str | keras.layers.Layer | None = None
) -> keras.layers.Layer:
    """The recurrent layer whose input steps are measured; see the module docstring.

    Args:
        model: a built Keras model.
        layer: a layer object (returned as is), a name (the first recurrent layer of that
            name, or whose path ends with it, e.g. ``"decoder/rnn_1"``), or None for the
            default choice: the first ``rnn_1``, else the first recurrent layer.

    Raises:
        ValueError: the model holds no (matching) recurrent layer.
    """
    return _find(model, layer)[1]


def profiled_path(model: keras.Model, layer: str | keras.layers.Layer | None = None) -> str:
    """Path of :func:`profiled_layer` within ``model``, e.g. ``"encoder/rnn_1"``.

    Raises:
        ValueError: as :func:`profiled_layer`.
    """
    return _find(model, layer)[0]


@contextlib.contextmanager
def _recording_input(layer: keras.layers.Layer, tape: tf.GradientTape) -> Iterator[dict[str, Any]]:
    """Within the block, the first eager call of ``layer`` watches and records its input.

    Yields a dict that receives ``"sequence"`` (the layer's first positional argument) and
    ``"mask"`` (its ``mask`` keyword argument, or None).
    """
    record: dict[str, Any] = {}
    original = layer.call

    def call(sequence: Any, *args: Any, **kwargs: Any) -> Any:
        if "sequence" not in record:
            tape.watch(sequence)
            record["sequence"], record["mask"] = sequence, kwargs.get("mask")
        return original(sequence, *args, **kwargs)

    # object.__setattr__: bypass Keras' attribute tracking; the instance attribute shadows
    # the class's ``call`` for Layer.__call__, which looks it up on every call.
    object.__setattr__(layer, "call", call)
    try:
        yield record
    finally:
        object.__delattr__(layer, "call")


def loss_scale(model: keras.Model) -> float:
    """The factor ``model.optimizer`` multiplies the loss by in its next step (1 if none).

    Not 1 only under a ``mixed_float16`` policy, where ``compile`` wraps the optimizer in a
    ``LossScaleOptimizer`` whose scale changes as training goes.
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return 1.0
    return float(optimizer.scale_loss(tf.constant(1.0)))


def input_gradients(
    model: keras.Model, x: Any, y: Any, layer: str | keras.layers.Layer | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of the loss with respect to every input step of the profiled layer.

    Args:
        model: a compiled model (its ``compute_loss`` gives the loss).
        x: one batch of model inputs (a tensor, array or dict of them), right-padded.
        y: its targets.
        layer: which recurrent layer, as for :func:`profiled_layer`.

    Returns:
        ``grads`` ``(batch, time, features)`` float32, and ``real`` ``(batch, time)`` bool:
        the layer's mask (True = a real step), all True when the layer gets no mask.

    Raises:
        ValueError: no such recurrent layer, or the forward pass never calls it.
    """
    target = profiled_layer(model, layer)
    scale = loss_scale(model)
    with warnings.catch_warnings():
        # Functional models warn when a mask travels both attached and explicitly.
        warnings.filterwarnings("ignore", message=".*input with a mask attached")
        with tf.GradientTape() as tape, _recording_input(target, tape) as record:
            y_pred = model(x, training=False)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred) * scale
    if "sequence" not in record:
        raise ValueError(f"layer {target.name!r} was not called by model {model.name!r}")
    seq = record["sequence"]  # (batch, time, features)
    grads = tf.cast(tape.gradient(loss, seq), tf.float32).numpy() / scale
    mask = record["mask"]
    real = np.ones(grads.shape[:2], bool) if mask is None else np.asarray(mask, bool)
    return grads, real


def step_gradient_profile(
    model: keras.Model, x: Any, y: Any, layer: str | keras.layers.Layer | None = None
) -> np.ndarray:
    """Mean gradient norm at each distance from the last real step, ``(max_time,)`` float64.

    Args:
        model: a compiled model holding a recurrent layer (see :func:`profiled_layer`).
        x: one batch of model inputs; padding (if the layer is masked) is on the right.
        y: its targets.
        layer: the recurrent layer whose input steps are measured; None = the default.

    Returns:
        ``profile[d]`` = mean over the rows with at least ``d + 1`` real steps of
        ``|| d loss / d input[b, lengths[b] - 1 - d] ||``; NaN where no row is that long.

    Raises:
        ValueError: as :func:`input_gradients`.
    """
    grads, real = input_gradients(model, x, y, layer)
    norms = np.linalg.norm(grads, axis=-1)  # (batch, time)
    lengths = real.sum(axis=1)
    profile = np.full(norms.shape[1], np.nan)
    for d in range(norms.shape[1]):
        rows = np.flatnonzero(lengths > d)
        if len(rows):
            profile[d] = norms[rows, lengths[rows] - 1 - d].mean()
    return profile


def layer_gradient_norms(model: keras.Model, x: Any, y: Any) -> dict[str, float]:
    """Norm of the loss gradient for each top-level layer's trainable weights together.

    Keys are the first component of the weights' paths (a top-level layer's name, e.g.
    ``"embedding"``, ``"rnn_1"`` or ``"encoder"``); weights without a gradient are skipped.
    """
    scale = loss_scale(model)
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=False)) * scale
    weights = model.trainable_weights
    grads = tape.gradient(loss, weights)
    per_layer: dict[str, float] = {}
    for w, g in zip(weights, grads, strict=True):
        name = w.path.split("/")[0]
        if g is not None:
            g = tf.cast(tf.convert_to_tensor(g), tf.float32) / scale  # embeddings: IndexedSlices
            per_layer[name] = per_layer.get(name, 0.0) + float(tf.reduce_sum(g * g))
    return {k: v**0.5 for k, v in per_layer.items()}


def vanishing_distance(profile: np.ndarray, ratio: float = 1e-3) -> int | None:
    """First distance where ``profile`` ``(time,)`` falls below ``ratio`` times ``profile[0]``.

    Returns None when it never does (NaN entries never count as below).
    """
    below = np.flatnonzero(profile < ratio * profile[0])
    return int(below[0]) if len(below) else None
