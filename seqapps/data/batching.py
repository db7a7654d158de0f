"""Length-bucketed batching: batches of similar lengths waste less compute on padding."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf


def bucket_boundaries(max_length: int, smallest: int = 8) -> list[int]:
    """Return doubling bucket edges ``[8, 16, 32, ...]`` below ``max_length``.

    Example:
        >>> bucket_boundaries(50)
        [8, 16, 32]
    """
    edges = []
    edge = smallest
    while edge < max_length:
        edges.append(edge)
        edge *= 2
    return edges


def bucketed_batches(
    ds: tf.data.Dataset,
    *,
    batch_size: int,
    max_length: int,
    length_fn: Callable[..., tf.Tensor],
    padding_values: Any = None,
) -> tf.data.Dataset:
    """Batch ``ds`` by length bucket, padding each batch at the end (right) with zeros.

    Right padding keeps masks cuDNN-compatible; Keras' ``pad_sequences`` would pad in front.

    Args:
        ds: dataset of unbatched elements, e.g. ``(token_ids, label)``.
        batch_size: examples per batch (the global batch under a distribution strategy).
        max_length: longest sequence; sets the bucket edges.
        length_fn: maps one element to its scalar length.
        padding_values: pad value of each component, structured like an element
            (None: zeros), e.g. ``-1`` for targets whose padding marks the mask.
    """
    edges = bucket_boundaries(max_length)
    return ds.bucket_by_sequence_length(
        element_length_func=length_fn,
        bucket_boundaries=edges,
        bucket_batch_sizes=[batch_size] * (len(edges) + 1),
        padding_values=padding_values,
        drop_remainder=False,
    )
