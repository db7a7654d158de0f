"""Length-bucketed batching: batches of similar lengths waste less compute on padding."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
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


def bucket_batch_sizes(
    max_length: int, batch_size: int, batch_tokens: int = 0
) -> tuple[list[int], list[int]]:
    """Bucket edges and the examples per batch of each bucket.

    With ``batch_tokens`` 0 every bucket batches ``batch_size`` examples. Otherwise a bucket
    batches ``batch_tokens // L`` examples (at least 1), where ``L`` is the longest length
    it holds: batches of about ``batch_tokens`` padded tokens, as OpenNMT-py and fairseq
    batch by tokens, so that short sequences come in larger batches.

    Example:
        >>> bucket_batch_sizes(64, 64)
        ([8, 16, 32], [64, 64, 64, 64])
        >>> bucket_batch_sizes(64, 64, batch_tokens=2048)  # lengths <8, <16, <32, <=64
        ([8, 16, 32], [292, 136, 66, 32])
    """
    edges = bucket_boundaries(max_length)
    if batch_tokens <= 0:
        return edges, [batch_size] * (len(edges) + 1)
    longest = [edge - 1 for edge in edges] + [max(max_length, edges[-1] if edges else 1)]
    return edges, [max(1, batch_tokens // length) for length in longest]


def bucketed_batches(
    ds: tf.data.Dataset,
    *,
    batch_size: int,
    max_length: int,
    length_fn: Callable[..., tf.Tensor],
    padding_values: Any = None,
    batch_tokens: int = 0,
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
        batch_tokens: if > 0, batches of about this many padded tokens instead of
            ``batch_size`` examples (:func:`bucket_batch_sizes`).
    """
    edges, sizes = bucket_batch_sizes(max_length, batch_size, batch_tokens)
    return ds.bucket_by_sequence_length(
        element_length_func=length_fn,
        bucket_boundaries=edges,
        bucket_batch_sizes=sizes,
        padding_values=padding_values,
        drop_remainder=False,
    )


def batches_per_pass(
    lengths: np.ndarray, *, batch_size: int, max_length: int, batch_tokens: int = 0
) -> int:
    """Batches one pass over examples of these ``lengths`` makes (at least 1).

    Each bucket's examples over its batch size, rounded up once for the whole pass: the
    training stream repeats, so a bucket's last partial batch fills from the next pass.

    Example:
        >>> batches_per_pass(np.array([3, 3, 20, 40]), batch_size=2, max_length=64)
        2
    """
    edges, sizes = bucket_batch_sizes(max_length, batch_size, batch_tokens)
    counts = np.bincount(np.searchsorted(edges, lengths, side="right"), minlength=len(sizes))
    return max(1, math.ceil(sum(c / s for c, s in zip(counts, sizes, strict=True))))
