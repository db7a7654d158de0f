"""Masked pooling over time: turn ``(batch, time, d)`` RNN outputs into ``(batch, d)``.

Keras' ``GlobalMaxPooling1D`` ignores masks, so padding would win the max; these layers
respect the mask that ``Embedding(mask_zero=True)`` starts. Every row must keep at least one
unmasked step (the data pipelines guarantee it).
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="seqapps")
class MaskedGlobalMaxPooling1D(keras.layers.Layer):
    """Maximum over the unmasked time steps of each feature.

    Example:
        >>> x = keras.ops.convert_to_tensor([[[1.0], [5.0], [9.0]]])
        >>> MaskedGlobalMaxPooling1D()(x, mask=keras.ops.convert_to_tensor([[True, True, False]]))
        ... # [[5.0]]: the padded 9.0 is ignored
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        """``(batch, time, d)`` -> ``(batch, d)``."""
        if mask is not None:
            inputs = ops.where(ops.expand_dims(mask, -1), inputs, float("-inf"))
        return ops.max(inputs, axis=1)

    def compute_mask(self, inputs, mask=None):
        """The time axis is gone, and so is the mask."""
        return None

    def compute_output_shape(self, input_shape):
        """``(batch, d)``."""
        return (input_shape[0], input_shape[2])


@keras.saving.register_keras_serializable(package="seqapps")
class AttentionPooling1D(keras.layers.Layer):
    """Attention-weighted sum over time (Yang et al. 2016; as in DataStories, SemEval-2017).

    ``score_t = v . tanh(W h_t + b)``, masked softmax over t, output ``sum_t a_t h_t``. The
    weights of the last call are kept in ``last_weights`` for inspection.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def build(self, input_shape) -> None:
        """Create the projection ``W, b`` and the context vector ``v``."""
        d = input_shape[-1]
        self.projection = keras.layers.Dense(d, activation="tanh", name="projection")
        self.projection.build(input_shape)
        self.context = keras.layers.Dense(1, use_bias=False, name="context")
        self.context.build((*input_shape[:-1], d))

    def call(self, inputs, mask=None):
        """``(batch, time, d)`` -> ``(batch, d)``."""
        scores = ops.squeeze(self.context(self.projection(inputs)), -1)  # (batch, time)
        if mask is not None:
            scores = ops.where(mask, scores, float("-inf"))
        weights = ops.softmax(scores, axis=-1)  # (batch, time)
        return ops.sum(inputs * ops.expand_dims(weights, -1), axis=1)

    def compute_mask(self, inputs, mask=None):
        """The time axis is gone, and so is the mask."""
        return None

    def compute_output_shape(self, input_shape):
        """``(batch, d)``."""
        return (input_shape[0], input_shape[2])


POOLINGS = {
    "max": MaskedGlobalMaxPooling1D,
    "mean": keras.layers.GlobalAveragePooling1D,  # mask-aware in Keras 3
    "attention": AttentionPooling1D,
}
