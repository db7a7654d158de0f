"""Attention over encoder outputs for RNN decoders: additive and multiplicative.

Both layers take a decoder ``query`` (one step ``(batch, q)`` or a whole teacher-forced
sequence ``(batch, steps, q)``), the encoder outputs ``values`` ``(batch, time, d)`` and
their mask ``values_mask`` ``(batch, time)``. They return the context vectors
``(batch, [steps,] d)``, weighted sums of the values, and the attention weights
``(batch, [steps,] time)``: zero at masked positions, summing to one. ``keys(values)``
projects the values once, so a decoding loop can pass the projection to every step instead
of recomputing it.

- :class:`BahdanauAttention` (Bahdanau et al. 2015): ``v . tanh(W_q q + W_k k)``.
- :class:`LuongAttention` (Luong et al. 2015): ``q . W k`` ("general") or ``q . k`` ("dot").
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


def masked_softmax(scores: Any, mask: Any | None) -> Any:
    """Softmax over the last axis, with exactly zero weight where ``mask`` is False.

    ``mask`` ``(batch, time)`` broadcasts over the middle axes of ``scores``
    ``(batch, ..., time)``; each row must have at least one True.
    """
    if mask is None:
        return ops.softmax(scores, axis=-1)
    while len(mask.shape) < len(scores.shape):
        mask = ops.expand_dims(mask, axis=1)
    # A large negative (not -inf) keeps the gradient finite; the where() makes it exact.
    scores = ops.where(mask, scores, ops.cast(-1e9, scores.dtype))
    weights = ops.softmax(scores, axis=-1)
    return ops.where(mask, weights, ops.zeros_like(weights))


class _Attention(keras.layers.Layer):
    """Shared call logic: score, masked softmax, weighted sum."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # A query from a masked recurrent layer carries a Keras mask; let it pass through
        # (padded decoder steps are masked by the loss) instead of warning that it is lost.
        self.supports_masking = True

    def keys(self, values: Any) -> Any:
        """Project ``values`` ``(batch, time, d)`` once for :meth:`call`'s ``keys``."""
        raise NotImplementedError

    def score(self, query: Any, keys: Any) -> Any:
        """``(batch, steps, q)`` x ``(batch, time, k)`` -> ``(batch, steps, time)``."""
        raise NotImplementedError

    def call(
        self, query: Any, values: Any, values_mask: Any | None = None, keys: Any | None = None
    ) -> tuple[Any, Any]:
        """Return ``(context, weights)``; see the module docstring for shapes.

        ``values_mask`` is not called ``mask``: Keras would treat that as the query's mask.
        """
        single_step = len(query.shape) == 2
        if single_step:
            query = ops.expand_dims(query, 1)  # (batch, 1, q)
        if keys is None:
            keys = self.keys(values)
        weights = masked_softmax(self.score(query, keys), values_mask)  # (batch, steps, time)
        context = ops.matmul(weights, ops.cast(values, weights.dtype))  # (batch, steps, d)
        if single_step:
            return context[:, 0], weights[:, 0]
        return context, weights


@keras.saving.register_keras_serializable(package="seqapps")
class BahdanauAttention(_Attention):
    """Additive attention: ``score(q, k) = v . tanh(W_q q + W_k k)``.

    Args:
        units: size of the hidden layer in which query and key are added.

    Example:
        >>> att = BahdanauAttention(8)
        >>> context, weights = att(keras.ops.ones((2, 5)), keras.ops.ones((2, 7, 6)))
        >>> context.shape, weights.shape
        ((2, 6), (2, 7))
    """

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.query_dense = keras.layers.Dense(units, use_bias=False, name="query")
        self.key_dense = keras.layers.Dense(units, use_bias=False, name="key")
        self.v = keras.layers.Dense(1, use_bias=False, name="v")

    def build(self, query_shape: tuple, values_shape: tuple | None = None) -> None:  # noqa: D102
        self.query_dense.build((None, query_shape[-1]))
        if values_shape is not None:
            self.key_dense.build((None, values_shape[-1]))
        self.v.build((None, self.units))

    def keys(self, values: Any) -> Any:  # noqa: D102
        return self.key_dense(values)  # (batch, time, units)

    def score(self, query: Any, keys: Any) -> Any:  # noqa: D102
        q = self.query_dense(query)  # (batch, steps, units)
        hidden = ops.tanh(q[:, :, None, :] + keys[:, None, :, :])  # (batch, steps, time, units)
        return self.v(hidden)[..., 0]

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="seqapps")
class LuongAttention(_Attention):
    """Multiplicative attention: ``q . W k`` (``mode="general"``) or ``q . k`` (``"dot"``).

    ``dot`` needs query and values of the same size; ``general`` learns ``W``.

    Example:
        >>> att = LuongAttention()
        >>> context, weights = att(keras.ops.ones((2, 3, 5)), keras.ops.ones((2, 7, 6)))
        >>> context.shape, weights.shape
        ((2, 3, 6), (2, 3, 7))
    """

    def __init__(self, mode: str = "general", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in ("general", "dot"):
            raise ValueError(f"mode must be 'general' or 'dot', not {mode!r}")
        self.mode = mode
        self.key_dense: keras.layers.Dense | None = None

    def build(self, query_shape: tuple, values_shape: tuple | None = None) -> None:  # noqa: D102
        if self.mode == "general":
            self.key_dense = keras.layers.Dense(query_shape[-1], use_bias=False, name="key")
            if values_shape is not None:
                self.key_dense.build((None, values_shape[-1]))

    def keys(self, values: Any) -> Any:  # noqa: D102
        return values if self.mode == "dot" else self.key_dense(values)  # (batch, time, q)

    def score(self, query: Any, keys: Any) -> Any:  # noqa: D102
        return ops.matmul(query, ops.transpose(keys, (0, 2, 1)))  # (batch, steps, time)

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "mode": self.mode}


ATTENTIONS = {"bahdanau": BahdanauAttention, "luong": LuongAttention}
