"""Character-level word features: each token's characters -> one vector per token.

Words never seen in training still have characters, and capitalisation, suffixes and
digits are strong entity cues; both encoders below read the character ids of every token
in a ``(batch, time, chars)`` tensor (0 = padding) and return ``(batch, time, features)``.

- :class:`CharCNN` (Ma & Hovy 2016): embedding -> 1-D convolution -> max over characters.
  Cheap: one convolution over all tokens at once.
- :class:`CharRNN` (Lample et al. 2016): embedding -> bidirectional recurrent layer, the
  final states of both directions. Sequential over characters, so slower on CPU.

Both give the same vector for a token whatever the padding around it.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from seqapps.layers.recurrent import recurrent_layer


def _flatten_tokens(chars: Any) -> tuple[Any, Any]:
    """``(batch, time, chars)`` -> ``(batch * time, chars)`` ids and the char mask."""
    flat = ops.reshape(chars, (-1, ops.shape(chars)[-1]))
    return flat, flat > 0


@keras.saving.register_keras_serializable(package="seqapps")
class CharCNN(keras.layers.Layer):
    """Character CNN over each token, max-pooled over its characters.

    Args:
        vocab_size: number of character ids, counting padding (0) and unknown (1).
        embedding_dim: size of each character's embedding.
        filters: output features per token.
        width: convolution window, in characters.

    Example:
        >>> CharCNN(40, filters=16)(keras.ops.ones((2, 5, 7), dtype="int32")).shape
        (2, 5, 16)
    """

    def __init__(
        self, vocab_size: int, embedding_dim: int = 25, filters: int = 50, width: int = 3, **kw
    ) -> None:
        super().__init__(**kw)
        self.vocab_size, self.embedding_dim = vocab_size, embedding_dim
        self.filters, self.width = filters, width
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="char_embedding")
        self.conv = keras.layers.Conv1D(
            filters, width, padding="same", activation="tanh", name="char_conv"
        )

    def build(self, input_shape: tuple) -> None:  # noqa: D102
        self.embedding.build((None, None))
        self.conv.build((None, None, self.embedding_dim))

    def call(self, chars: Any) -> Any:  # noqa: D102
        flat, mask = _flatten_tokens(chars)  # (tokens, chars)
        # expand_dims, not [..., None]: TFLite has no built-in op for a strided slice that
        # adds an axis to a tensor of unknown shape (the --format tflite export failed on it).
        maskf = ops.expand_dims(ops.cast(mask, self.compute_dtype), -1)
        # Zero vectors at padded characters equal the convolution's own zero padding, so a
        # token's features do not depend on how long the longest token in the batch is.
        x = self.conv(self.embedding(flat) * maskf)  # (tokens, chars, filters)
        x = ops.max(ops.where(ops.expand_dims(mask, -1), x, -1e4), axis=1)  # padding never wins
        x = ops.where(ops.expand_dims(ops.any(mask, axis=1), -1), x, 0.0)  # padding tokens -> 0
        shape = ops.shape(chars)
        return ops.reshape(x, (shape[0], shape[1], self.filters))

    def compute_output_shape(self, input_shape: tuple) -> tuple:  # noqa: D102
        return (*input_shape[:2], self.filters)

    def get_config(self) -> dict:  # noqa: D102
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "filters": self.filters,
            "width": self.width,
        }


@keras.saving.register_keras_serializable(package="seqapps")
class CharRNN(keras.layers.Layer):
    """Bidirectional recurrent layer over each token's characters; final states concatenated.

    Args:
        vocab_size: number of character ids, counting padding (0) and unknown (1).
        embedding_dim: size of each character's embedding.
        units: units per direction; the output has ``2 * units`` features.
        cell: ``simple_rnn``, ``lstm`` or ``gru``.

    Example:
        >>> CharRNN(40, units=8)(keras.ops.ones((2, 5, 7), dtype="int32")).shape
        (2, 5, 16)
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 25,
        units: int = 25,
        cell: str = "lstm",
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.vocab_size, self.embedding_dim = vocab_size, embedding_dim
        self.units, self.cell = units, cell
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="char_embedding")
        self.rnn = recurrent_layer(cell, units, bidirectional=True, name="char_rnn")

    def build(self, input_shape: tuple) -> None:  # noqa: D102
        self.embedding.build((None, None))
        self.rnn.build((None, None, self.embedding_dim))

    def call(self, chars: Any) -> Any:  # noqa: D102
        flat, mask = _flatten_tokens(chars)
        # Padding tokens have no characters; an all-masked row would leave cuDNN, so every
        # row reads at least its first step (their outputs are never used).
        first = ops.arange(ops.shape(flat)[1]) == 0
        mask = ops.logical_or(mask, first[None, :])
        x = self.rnn(self.embedding(flat), mask=mask)  # (tokens, 2 * units)
        shape = ops.shape(chars)
        return ops.reshape(x, (shape[0], shape[1], 2 * self.units))

    def compute_output_shape(self, input_shape: tuple) -> tuple:  # noqa: D102
        return (*input_shape[:2], 2 * self.units)

    def get_config(self) -> dict:  # noqa: D102
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "cell": self.cell,
        }


CHAR_ENCODERS = {"cnn": CharCNN, "rnn": CharRNN}
