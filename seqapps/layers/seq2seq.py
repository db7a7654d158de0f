"""Encoder and attentive decoder of a recurrent sequence-to-sequence model.

:class:`RecurrentEncoder` reads right-padded source ids into one vector per token and a
summary (their masked mean). :class:`AttentiveDecoder` generates target tokens from them:

- its recurrent stack starts from states derived from the summary (one ``tanh`` dense
  layer per state, as Bahdanau et al. initialise theirs);
- after the stack, attention (additive or multiplicative) over the encoder outputs gives a
  context vector per step; ``tanh(W [output; context])`` is the "attentional hidden state"
  that predicts the next token (Luong et al. 2015, without input feeding, so that teacher
  forcing runs the whole target sequence through the fused recurrent kernel at once);
- with ``attention="none"`` the context is the encoder summary at every step: the plain
  encoder-decoder baseline, which must squeeze the sentence into one vector.

Teacher forcing calls the decoder on a whole target sequence (:meth:`AttentiveDecoder.call`);
inference calls :meth:`AttentiveDecoder.step` once per token with the same weights (the
recurrent layers' cells), which is what :mod:`seqapps.layers.decoding` drives.

Example:
    >>> enc = RecurrentEncoder(100, 16, cell="gru", units=8)
    >>> dec = AttentiveDecoder(120, 16, cell="gru", units=16, attention="bahdanau")
    >>> source = keras.ops.convert_to_tensor([[5, 6, 7, 0]])
    >>> outputs, summary = enc(source)
    >>> logits = dec(keras.ops.convert_to_tensor([[2, 9]]), outputs, source != 0, summary)
    >>> logits.shape
    TensorShape([1, 2, 120])
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf  # the decoding searches are TF code (tf.while_loop)
from keras import ops

from seqapps.layers.attention import ATTENTIONS
from seqapps.layers.decoding import beam_search, greedy_decode
from seqapps.layers.recurrent import CELLS, recurrent_layer

# Number of state tensors each cell carries: LSTM has (h, c), the others h.
_STATES = {"simple_rnn": 1, "lstm": 2, "gru": 1}


def masked_mean(x: Any, mask: Any) -> Any:
    """Mean of ``x`` ``(batch, time, d)`` over the steps where ``mask`` ``(batch, time)`` holds."""
    weights = ops.cast(mask, x.dtype)[:, :, None]
    return ops.sum(x * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)


@keras.saving.register_keras_serializable(package="seqapps")
class RecurrentEncoder(keras.layers.Layer):
    """Embedding -> dropout -> stacked (bidirectional) recurrent layers, with dropout between.

    Call it on ``(batch, time)`` int ids right-padded with 0. Returns the outputs
    ``(batch, time, output_dim)`` and their masked mean ``(batch, output_dim)``.

    Args:
        vocab_size: source vocabulary size, padding (0) included.
        embedding_dim: size of the token embedding.
        cell: ``simple_rnn``, ``lstm`` or ``gru``.
        units: hidden size per layer and direction.
        layers: stacked layers.
        bidirectional: read both ways (``output_dim = 2 * units``).
        dropout: rate after the embedding and after each layer.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        *,
        cell: str,
        units: int,
        layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.vocab_size, self.embedding_dim = vocab_size, embedding_dim
        self.cell, self.units, self.num_layers = cell, units, layers
        self.bidirectional, self.dropout_rate = bidirectional, dropout
        self.output_dim = units * (2 if bidirectional else 1)
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")
        self.rnns = [
            recurrent_layer(
                cell, units, return_sequences=True, bidirectional=bidirectional, name=f"rnn_{i}"
            )
            for i in range(1, layers + 1)
        ]
        self.dropout = keras.layers.Dropout(dropout)

    def build(self, tokens_shape: tuple) -> None:  # noqa: D102
        self.embedding.build(tokens_shape)
        size = self.embedding_dim
        for rnn in self.rnns:
            rnn.build((None, None, size))
            size = self.output_dim

    def call(self, tokens: Any, training: bool | None = None) -> tuple[Any, Any]:  # noqa: D102
        mask = ops.not_equal(tokens, 0)
        x = self.dropout(self.embedding(tokens), training=training)  # (batch, time, emb)
        for rnn in self.rnns:
            x = self.dropout(rnn(x, mask=mask, training=training), training=training)
        return x, masked_mean(x, mask)  # (batch, time, output_dim), (batch, output_dim)

    def compute_output_spec(self, tokens: Any, training: bool | None = None) -> tuple:  # noqa: D102
        batch, time = tokens.shape
        return (
            keras.KerasTensor((batch, time, self.output_dim)),
            keras.KerasTensor((batch, self.output_dim)),
        )

    def get_config(self) -> dict:  # noqa: D102
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "cell": self.cell,
            "units": self.units,
            "layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "dropout": self.dropout_rate,
        }


@keras.saving.register_keras_serializable(package="seqapps")
class FeatureEncoder(keras.layers.Layer):
    """The "encoder" of an image captioner: spatial CNN features -> attention values.

    Call it on ``(batch, positions, channels)`` features (a backbone's ``h x w`` feature map,
    flattened). A ReLU dense layer projects every position to ``units`` (the annotation
    vectors of Show, Attend and Tell), then dropout. Returns the projected features
    ``(batch, positions, units)`` and their mean ``(batch, units)``, from which the decoder's
    initial state is computed.

    Args:
        units: size of each projected position.
        dropout: rate applied to the projected features while training.
    """

    def __init__(self, units: int, *, dropout: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units, self.dropout_rate = units, dropout
        self.output_dim = units
        self.project = keras.layers.Dense(units, activation="relu", name="project")
        self.dropout = keras.layers.Dropout(dropout)

    def build(self, features_shape: tuple) -> None:  # noqa: D102
        self.project.build(features_shape)

    def call(self, features: Any, training: bool | None = None) -> tuple[Any, Any]:  # noqa: D102
        x = self.dropout(self.project(features), training=training)
        return x, ops.mean(x, axis=1)

    def compute_output_spec(self, features: Any, training: bool | None = None) -> tuple:  # noqa: D102
        batch, positions, _ = features.shape
        return (
            keras.KerasTensor((batch, positions, self.units)),
            keras.KerasTensor((batch, self.units)),
        )

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "units": self.units, "dropout": self.dropout_rate}


@keras.saving.register_keras_serializable(package="seqapps")
class AttentiveDecoder(keras.layers.Layer):
    """Recurrent decoder with attention over the encoder outputs; see the module docstring.

    Args:
        vocab_size: target vocabulary size, padding (0) included.
        embedding_dim: size of the token embedding.
        cell: ``simple_rnn``, ``lstm`` or ``gru``.
        units: hidden size of each recurrent layer and of the attentional hidden state.
        context_dim: size of the encoder outputs.
        layers: stacked recurrent layers.
        attention: ``bahdanau`` (additive), ``luong`` (multiplicative, "general") or ``none``.
        attention_units: hidden size of additive attention (default ``units``).
        dropout: rate after the embedding, between layers and before the output layer.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        *,
        cell: str,
        units: int,
        context_dim: int,
        layers: int = 1,
        attention: str = "bahdanau",
        attention_units: int | None = None,
        dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if attention not in (*ATTENTIONS, "none"):
            raise ValueError(f"attention must be one of {', '.join(ATTENTIONS)}, none")
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
        self.vocab_size, self.embedding_dim = vocab_size, embedding_dim
        self.cell, self.units, self.context_dim, self.num_layers = cell, units, context_dim, layers
        self.attention_kind, self.attention_units = attention, attention_units
        self.dropout_rate = dropout
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")
        # One tanh projection of the encoder summary per state tensor (h, and c for LSTM);
        # every layer of the stack starts from it.
        self.bridges = [
            keras.layers.Dense(units, activation="tanh", name=f"bridge_{i}")
            for i in range(_STATES[cell])
        ]
        self.rnns = [
            CELLS[cell](units, return_sequences=True, return_state=True, name=f"rnn_{i}")
            for i in range(1, layers + 1)
        ]
        self.attention = None
        if attention == "bahdanau":
            self.attention = ATTENTIONS[attention](attention_units or units, name="attention")
        elif attention == "luong":
            self.attention = ATTENTIONS[attention]("general", name="attention")
        self.combine = keras.layers.Dense(units, activation="tanh", name="combine")
        self.dropout = keras.layers.Dropout(dropout)
        # float32 logits keep the softmax and the loss stable under mixed precision.
        self.logits = keras.layers.Dense(vocab_size, dtype="float32", name="logits")

    def build(self, tokens_shape: tuple, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        self.embedding.build(tokens_shape)
        for bridge in self.bridges:
            bridge.build((None, self.context_dim))
        size = self.embedding_dim
        for rnn in self.rnns:
            rnn.build((None, None, size))
            size = self.units
        if self.attention is not None:
            self.attention.build((None, None, self.units), (None, None, self.context_dim))
        self.combine.build((None, None, self.units + self.context_dim))
        self.logits.build((None, None, self.units))

    def _ensure_built(self) -> None:
        """Build on first use: inference may call :meth:`step` before any teacher forcing."""
        if not self.built:
            self.build((None, None))

    def initial_state(self, summary: Any) -> list[list[Any]]:
        """Start states of every recurrent layer, from the encoder summary ``(batch, context)``."""
        self._ensure_built()
        states = [bridge(summary) for bridge in self.bridges]  # each (batch, units)
        return [list(states) for _ in self.rnns]

    def keys(self, encoder_outputs: Any) -> Any:
        """The attention keys of ``encoder_outputs``: compute once, pass to every :meth:`step`."""
        self._ensure_built()
        return encoder_outputs if self.attention is None else self.attention.keys(encoder_outputs)

    def _predict(
        self,
        x: Any,
        encoder_outputs: Any,
        encoder_mask: Any,
        summary: Any,
        keys: Any | None,
        training: bool | None,
    ) -> tuple[Any, Any | None]:
        """Recurrent outputs ``x`` ``(batch, [steps,] units)`` -> logits and attention weights."""
        if self.attention is None:
            context, weights = summary, None
            if len(x.shape) == 3:  # the same context at every step
                context = ops.broadcast_to(
                    summary[:, None, :], (ops.shape(x)[0], ops.shape(x)[1], self.context_dim)
                )
        else:
            context, weights = self.attention(
                x, encoder_outputs, values_mask=encoder_mask, keys=keys
            )
        hidden = self.combine(ops.concatenate([x, ops.cast(context, x.dtype)], axis=-1))
        return self.logits(self.dropout(hidden, training=training)), weights

    def call(
        self,
        tokens: Any,
        encoder_outputs: Any,
        encoder_mask: Any,
        summary: Any,
        training: bool | None = None,
        return_attention: bool = False,
    ) -> Any:
        """Teacher forcing: ``tokens`` ``(batch, steps)`` (start token first, right-padded with 0).

        Returns logits ``(batch, steps, vocab)`` float32, and with ``return_attention`` the
        attention weights ``(batch, steps, source time)`` too (None for ``attention=none``).
        """
        mask = ops.not_equal(tokens, 0)
        x = self.dropout(self.embedding(tokens), training=training)  # (batch, steps, emb)
        for i, (rnn, state) in enumerate(zip(self.rnns, self.initial_state(summary), strict=True)):
            x = rnn(x, initial_state=state, mask=mask, training=training)[
                0
            ]  # (batch, steps, units)
            if i < len(self.rnns) - 1:
                x = self.dropout(x, training=training)
        logits, weights = self._predict(x, encoder_outputs, encoder_mask, summary, None, training)
        return (logits, weights) if return_attention else logits

    def compute_output_spec(  # noqa: D102
        self, tokens: Any, *args: Any, return_attention: bool = False, **kwargs: Any
    ):
        batch, steps = tokens.shape
        logits = keras.KerasTensor((batch, steps, self.vocab_size), dtype="float32")
        if return_attention:
            return logits, keras.KerasTensor((batch, steps, None))
        return logits

    def step(
        self,
        tokens: Any,
        states: list[list[Any]],
        encoder_outputs: Any,
        keys: Any,
        encoder_mask: Any,
        summary: Any,
    ) -> tuple[Any, list[list[Any]], Any | None]:
        """One inference step from the previous tokens ``(n,)``.

        Returns logits ``(n, vocab)``, the new states and the attention weights
        ``(n, source time)`` (None without attention).
        """
        self._ensure_built()
        x = self.embedding(tokens)  # (n, emb)
        new_states = []
        for rnn, state in zip(self.rnns, states, strict=True):
            x, state = rnn.cell(x, list(state), training=False)
            new_states.append(list(state) if isinstance(state, list | tuple) else [state])
        logits, weights = self._predict(x, encoder_outputs, encoder_mask, summary, keys, False)
        return logits, new_states, weights

    def get_config(self) -> dict:  # noqa: D102
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "cell": self.cell,
            "units": self.units,
            "context_dim": self.context_dim,
            "layers": self.num_layers,
            "attention": self.attention_kind,
            "attention_units": self.attention_units,
            "dropout": self.dropout_rate,
        }


def attentive_step_fn(
    decoder: AttentiveDecoder,
    encoder_outputs: Any,
    encoder_mask: Any,
    summary: Any,
    *,
    start_id: int,
    end_id: int,
) -> tuple[Any, dict]:
    """The ``(step_fn, state)`` pair that :mod:`seqapps.layers.decoding` drives for ``decoder``.

    ``step_fn(tokens, state) -> (log_probs, state)``. Padding (0) and ``start_id`` are never
    proposed, nor is ``end_id`` first: an undertrained model would otherwise rank the empty
    output best. Shared by the translation and captioning tasks.
    """
    state = {
        "rnn": decoder.initial_state(summary),
        "values": encoder_outputs,
        "keys": decoder.keys(encoder_outputs),
        "mask": encoder_mask,
        "summary": summary,
    }
    ids = tf.range(decoder.vocab_size)
    never = (ids == 0) | (ids == start_id)

    def step_fn(tokens: Any, state: dict) -> tuple[Any, dict]:
        logits, rnn, _ = decoder.step(
            tokens, state["rnn"], state["values"], state["keys"], state["mask"], state["summary"]
        )
        first = (tokens == start_id)[:, None]  # (n, 1)
        banned = never[None, :] | (first & (ids == end_id)[None, :])  # (n, vocab)
        logits = tf.where(banned, tf.constant(-1e9, logits.dtype), logits)
        return tf.nn.log_softmax(logits), {**state, "rnn": rnn}

    return step_fn, state


def attentive_decode(
    decoder: AttentiveDecoder,
    encoder_outputs: Any,
    encoder_mask: Any,
    summary: Any,
    *,
    start_id: int,
    end_id: int,
    max_length: int,
    beam_width: int,
    alpha: float,
) -> tuple[Any, Any]:
    """Greedy (``beam_width`` 1) or beam-search decoding of ``decoder``; traceable.

    Returns ``tokens`` ``(batch, steps)`` int32 (end token included, 0 after it) and
    ``lengths`` ``(batch,)`` int32 counting the end token.
    """
    step_fn, state = attentive_step_fn(
        decoder, encoder_outputs, encoder_mask, summary, start_id=start_id, end_id=end_id
    )
    common = {
        "batch_size": tf.shape(encoder_outputs)[0],
        "start_id": start_id,
        "end_id": end_id,
        "max_length": max_length,
    }
    if beam_width == 1:
        return greedy_decode(step_fn, state, **common)
    tokens, lengths, _ = beam_search(step_fn, state, **common, beam_width=beam_width, alpha=alpha)
    return tokens, lengths


@keras.saving.register_keras_serializable(package="seqapps")
class AttentionPenalty(keras.layers.Layer):
    """Adds ``weight * mean_batch sum_positions (1 - sum_steps alpha)^2`` to the model's loss.

    The doubly-stochastic regularisation of Show, Attend and Tell: it pushes the decoder to
    look at every part of the image over the whole caption. Padding steps do not count.
    Returns the logits unchanged.
    """

    def __init__(self, weight: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.weight = weight

    def call(self, logits: Any, attention: Any, tokens: Any) -> Any:  # noqa: D102
        steps = keras.ops.cast(keras.ops.not_equal(tokens, 0), attention.dtype)[:, :, None]
        total = keras.ops.sum(attention * steps, axis=1)  # (batch, positions)
        self.add_loss(self.weight * keras.ops.mean(keras.ops.sum((1.0 - total) ** 2, axis=-1)))
        return logits

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "weight": self.weight}
