"""Reusable Keras layers and layer builders for the seqapps tasks."""

from seqapps.layers.pooling import POOLINGS, AttentionPooling1D, MaskedGlobalMaxPooling1D
from seqapps.layers.recurrent import CELLS, recurrent_layer, recurrent_stack

__all__ = [
    "CELLS",
    "POOLINGS",
    "AttentionPooling1D",
    "MaskedGlobalMaxPooling1D",
    "recurrent_layer",
    "recurrent_stack",
]
