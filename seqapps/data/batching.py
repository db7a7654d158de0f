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


def round_up_shapes(
    batch: Any, element_spec: Any, padding_values: Any = None, smallest: int = 8
) -> Any:
    """Pad a batch's variable-length dimensions up to a power of two (at least ``smallest``).

    XLA compiles one program per input shape; bucketed batches padded to their longest
    member come in every length, so a compiled training step would recompile for most
    batches. Rounded up, the lengths take a handful of values (8, 16, 32, 64, ...) at the
    cost of some padding. Only dimensions of unknown size in ``element_spec`` (the ones the
    batching padded, which the model masks) are padded; fixed ones (feature channels) never.

    Args:
        batch: a batch's structure of tensors.
        element_spec: the unbatched elements' ``tf.TensorSpec`` structure (as
            ``dataset.element_spec`` before batching): which dimensions vary.
        padding_values: pad value per component, structured like ``batch`` (None: zeros);
            the same values the batch was padded with.
        smallest: the least length a padded dimension is rounded up to.

    Example:
        >>> spec = tf.TensorSpec([None], tf.int32)
        >>> round_up_shapes(tf.ones((2, 9), tf.int32), spec).shape
        TensorShape([2, 16])
    """
    flat = tf.nest.flatten(batch)
    specs = tf.nest.flatten(element_spec)
    pads = [None] * len(flat) if padding_values is None else tf.nest.flatten(padding_values)

    def pad(x: tf.Tensor, spec: tf.TensorSpec, value: Any) -> tf.Tensor:
        varies = [d is None for d in spec.shape.as_list()] if spec.shape.rank else []
        if not any(varies):
            return x
        shape = tf.shape(x)[1:]
        # The next power of two in integers: smear the highest bit of n - 1 down, add one.
        v = tf.maximum(shape, 1) - 1
        for shift in (1, 2, 4, 8, 16):
            v = tf.bitwise.bitwise_or(v, tf.bitwise.right_shift(v, shift))
        target = tf.where(tf.constant(varies), tf.maximum(v + 1, smallest), shape)
        paddings = tf.stack([tf.zeros_like(target), target - shape], axis=1)
        paddings = tf.concat([tf.zeros((1, 2), tf.int32), paddings], axis=0)
        fill = tf.cast(0 if value is None else value, x.dtype)
        return tf.pad(x, paddings, constant_values=fill)

    padded = [pad(x, spec, v) for x, spec, v in zip(flat, specs, pads, strict=True)]
    return tf.nest.pack_sequence_as(batch, padded)


def run_by_length(
    fn: Callable[[tf.Tensor], tf.Tensor],
    ids: tf.RaggedTensor,
    edges: list[int],
    row_spec: tf.TensorSpec,
) -> tf.Tensor:
    """``fn`` over the rows of ``ids`` grouped by length; results in the rows' order.

    A recurrent network runs every step up to the batch's longest row, so one long tweet in
    a batch of 256 makes all 256 pay for its length. Served batches are therefore cut into
    the training buckets' length ranges (``[0, e1)``, ``[e1, e2)``, ..., ``[e_k, inf)``),
    each padded only to its own longest row, and the rows' results put back in order.
    Empty groups are skipped (a recurrent layer cannot run over no rows).

    Args:
        fn: right-padded ``(n, time)`` ids -> ``(n, *row_spec.shape)`` results; traced
            once per group.
        ids: ``(batch, None)`` ragged token ids.
        edges: the group boundaries, e.g. :func:`bucket_boundaries` of the max length.
        row_spec: shape and dtype of one row's result (e.g. ``(classes,)`` float32).

    Returns:
        ``(batch, *row_spec.shape)`` results, row ``i`` for ``ids[i]``.
    """
    lengths = ids.row_lengths()
    bounds = [0, *edges, np.iinfo(np.int64).max]
    indices, parts = [], []
    for low, high in zip(bounds[:-1], bounds[1:], strict=False):
        keep = (lengths >= low) & (lengths < high)
        group = tf.ragged.boolean_mask(ids, keep).to_tensor()  # padded to its own longest
        indices.append(tf.cast(tf.where(keep)[:, 0], tf.int32))
        empty = tf.zeros([0, *row_spec.shape], row_spec.dtype)
        parts.append(
            tf.cond(
                tf.shape(group)[0] > 0,
                lambda g=group: tf.cast(fn(g), row_spec.dtype),
                lambda e=empty: e,
            )
        )
    return tf.dynamic_stitch(indices, parts)
