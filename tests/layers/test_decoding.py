"""Greedy and beam search on hand-built Markov-chain "decoders" with known answers."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from seqapps.layers.decoding import beam_search, greedy_decode, length_penalty

START, END = 0, 1  # token 0 doubles as the start token here; outputs pad with 0 too


def markov_step(table: np.ndarray):
    """step_fn whose next-token log-probabilities depend only on the previous token.

    The state carries a per-row offset (batch, 1) to check that beams keep their state.
    """
    log_table = tf.constant(np.log(table), tf.float32)

    def step(tokens, state):
        return tf.gather(log_table, tokens) + 0.0 * state["offset"], state

    return step


# From the start, token 2 (p 0.6) looks best, but every continuation after it is poor;
# token 3 (p 0.4) is followed by the end with certainty. Greedy: 2 2 ...; beam: 3 END.
TABLE = np.array(
    [
        [0.0, 0.0, 0.6, 0.4],  # start
        [1.0, 0.0, 0.0, 0.0],  # after END (never used)
        [0.0, 0.3, 0.35, 0.35],  # after 2
        [0.0, 1.0, 0.0, 0.0],  # after 3
    ]
)
TABLE = np.maximum(TABLE, 1e-9)
TABLE /= TABLE.sum(axis=1, keepdims=True)
STATE = {"offset": tf.zeros([2, 1])}


def _decode(fn, **kwargs):
    return fn(markov_step(TABLE), STATE, batch_size=2, start_id=START, end_id=END, **kwargs)


def test_greedy_takes_the_locally_best_token():
    tokens, lengths = _decode(greedy_decode, max_length=4)
    assert tokens.numpy()[0].tolist() == [2, 2, 2, 2] and lengths.numpy().tolist() == [4, 4]


def test_beam_finds_the_best_path_that_greedy_misses():
    tokens, lengths, scores = _decode(beam_search, max_length=4, beam_width=2, alpha=0.0)
    assert tokens.numpy().tolist() == [[3, END], [3, END]]
    assert lengths.numpy().tolist() == [2, 2]
    np.testing.assert_allclose(scores.numpy(), np.log(0.4), rtol=1e-5)


def test_beam_width_one_equals_greedy():
    table = np.random.default_rng(0).dirichlet(np.ones(6) * 0.5, size=6)
    step = markov_step(table)
    state = {"offset": tf.zeros([3, 1])}
    g_tokens, g_lengths = greedy_decode(
        step, state, batch_size=3, start_id=0, end_id=END, max_length=7
    )
    b_tokens, b_lengths, _ = beam_search(
        step, state, batch_size=3, start_id=0, end_id=END, max_length=7, beam_width=1, alpha=0.0
    )
    np.testing.assert_array_equal(b_tokens.numpy(), g_tokens.numpy())
    np.testing.assert_array_equal(b_lengths.numpy(), g_lengths.numpy())


def _brute_force_best(table, max_length, alpha):
    """Best normalised score over every finished sequence up to max_length."""
    log = np.log(table)
    best = -np.inf
    for n in range(1, max_length + 1):
        for body in itertools.product(range(2, len(table)), repeat=n - 1):
            seq = [*body, END]
            prev, score = START, 0.0
            for tok in seq:
                score += log[prev, tok]
                prev = tok
            lp = ((5 + n) / 6) ** alpha
            best = max(best, score / lp)
    return best


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_wide_beam_matches_brute_force(alpha):
    table = np.random.default_rng(1).dirichlet(np.ones(5), size=5)
    _, _, scores = beam_search(
        markov_step(table),
        {"offset": tf.zeros([1, 1])},
        batch_size=1,
        start_id=START,
        end_id=END,
        max_length=5,
        beam_width=25,
        alpha=alpha,
    )
    assert float(scores[0]) == pytest.approx(_brute_force_best(table, 5, alpha), rel=1e-4)


def test_traceable_with_unknown_batch_size():
    @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32)])
    def decode(offset):
        batch = tf.shape(offset)[0]
        state = {"offset": offset}
        greedy = greedy_decode(
            markov_step(TABLE), state, batch_size=batch, start_id=START, end_id=END, max_length=4
        )
        beam = beam_search(
            markov_step(TABLE),
            state,
            batch_size=batch,
            start_id=START,
            end_id=END,
            max_length=4,
            beam_width=3,
        )
        return greedy[0], beam[0]

    greedy, beam = decode(tf.zeros([2, 1]))
    assert greedy.numpy().tolist() == [[2, 2, 2, 2]] * 2
    assert beam.numpy().tolist() == [[3, END]] * 2


def test_length_penalty():
    assert float(length_penalty(1, 0.0)) == 1.0
    assert float(length_penalty(7, 1.0)) == pytest.approx(2.0)
