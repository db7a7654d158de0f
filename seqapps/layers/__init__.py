"""Reusable Keras layers and layer builders for the seqapps tasks."""

from seqapps.layers.recurrent import CELLS, recurrent_layer, recurrent_stack

__all__ = ["CELLS", "recurrent_layer", "recurrent_stack"]
