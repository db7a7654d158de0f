"""Length buckets and token budgets (issue #17): sizes, pass counts, padded tokens."""

import math

import numpy as np
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from seqapps.data.batching import batches_per_pass, bucket_batch_sizes, bucketed_batches


def test_token_budgets_give_short_buckets_larger_batches():
    assert bucket_batch_sizes(64, 64) == ([8, 16, 32], [64, 64, 64, 64])
    # Longest lengths of the buckets: 7, 15, 31, 64.
    assert bucket_batch_sizes(64, 64, 2048) == ([8, 16, 32], [292, 136, 66, 32])
    assert bucket_batch_sizes(64, 64, 10) == ([8, 16, 32], [1, 1, 1, 1])  # at least one
    assert bucket_batch_sizes(5, 16, 100) == ([], [20])  # one bucket up to max_length


def one_pass(lengths, batch_size, max_length, batch_tokens):
    ds = tf.data.Dataset.from_tensor_slices(tf.ragged.constant([[1] * n for n in lengths]))
    ds = ds.map(lambda x: x)  # ragged rows -> tensors
    return list(
        bucketed_batches(
            ds,
            batch_size=batch_size,
            max_length=max_length,
            length_fn=lambda x: tf.shape(x)[0],
            batch_tokens=batch_tokens,
        ).as_numpy_iterator()
    )


@settings(max_examples=20, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 40), min_size=1, max_size=60),
    batch_size=st.integers(1, 8),
    batch_tokens=st.sampled_from([0, 16, 50, 200]),
)
def test_batches_hold_at_most_the_token_budget_and_are_counted(lengths, batch_size, batch_tokens):
    batches = one_pass(lengths, batch_size, 40, batch_tokens)
    assert sum(len(b) for b in batches) == len(lengths)  # every example once
    for b in batches:
        if batch_tokens:
            # The padded batch fits the budget, or is one example over it.
            assert b.size <= batch_tokens or len(b) == 1
        else:
            assert len(b) <= batch_size
    counted = batches_per_pass(
        np.array(lengths), batch_size=batch_size, max_length=40, batch_tokens=batch_tokens
    )
    # One pass of a finite stream ends each bucket with a partial batch; the repeating
    # training stream fills them from the next pass, which the count assumes.
    full = sum(1 for b in batches if b.size)
    assert counted <= full
    edges, sizes = bucket_batch_sizes(40, batch_size, batch_tokens)
    assert counted >= full - len(sizes) + 1 or counted == 1
    # Exactly: bucket b holds the lengths in [edge_{b-1}, edge_b), as TF assigns them.
    bounds = [0, *edges, 10**9]
    ranges = zip(bounds[:-1], bounds[1:], strict=True)
    counts = [sum(lo <= n < hi for n in lengths) for lo, hi in ranges]
    assert len(batches) == sum(-(-c // s) for c, s in zip(counts, sizes, strict=True))
    assert counted == max(1, math.ceil(sum(c / s for c, s in zip(counts, sizes, strict=True))))


def test_rounding_up_pads_only_the_varying_dimensions_with_their_pad_values():
    from seqapps.data.batching import round_up_shapes

    spec = (
        {"ids": tf.TensorSpec([None], tf.int32), "feats": tf.TensorSpec([None, 3], tf.float32)},
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([], tf.int32),
    )
    batch = (
        {"ids": tf.ones((2, 9), tf.int32), "feats": tf.ones((2, 5, 3))},
        tf.fill((2, 9), 4),
        tf.constant([1, 2]),
    )
    out = round_up_shapes(batch, spec, ({"ids": 0, "feats": 0.0}, -1, 0))
    assert out[0]["ids"].shape == (2, 16) and out[0]["feats"].shape == (2, 8, 3)
    assert out[1].shape == (2, 16) and out[2].shape == (2,)
    np.testing.assert_array_equal(out[1].numpy()[0], [4] * 9 + [-1] * 7)
    np.testing.assert_array_equal(out[0]["ids"].numpy()[:, :9], 1)
    assert int(tf.reduce_sum(out[0]["ids"])) == 18  # the rest is padding


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 300))
def test_rounded_lengths_are_the_next_power_of_two_from_eight(n):
    from seqapps.data.batching import round_up_shapes

    out = round_up_shapes(tf.ones((1, n)), tf.TensorSpec([None], tf.float32))
    assert out.shape[1] == max(8, 1 << (n - 1).bit_length())
