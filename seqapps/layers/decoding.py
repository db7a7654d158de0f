"""Greedy and beam-search decoding as traceable TF code, so they run inside a SavedModel.

Both drive a decoder through ``step_fn(tokens, state) -> (log_probs, state)``:

- ``tokens``: ``(n,)`` int32, the previous token of each hypothesis;
- ``state``: any nested structure of tensors whose first axis is ``n`` (RNN states, the
  encoder outputs and their mask for attention, ...);
- ``log_probs``: ``(n, vocab)`` float32 log-probabilities of the next token.

Outputs are ``(batch, time)`` int32 tokens without the start token, padded with 0 after the
end token (which is included), and their lengths counting the end token.

Beam search keeps the ``beam_width`` best unfinished hypotheses and the ``beam_width`` best
finished ones per input; a hypothesis finishes when its end token ranks among the
``beam_width`` best extensions, so at width 1 with ``alpha = 0`` it is greedy decoding. A
finished hypothesis scores ``log p / lp(length)`` with the GNMT length penalty
``lp(n) = ((5 + n) / 6) ** alpha`` (Wu et al. 2016; ``alpha = 0`` scores raw
log-probabilities, which favours short outputs). The search stops at ``max_length`` or once
no unfinished hypothesis can still beat the worst kept finished one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

StepFn = Callable[[tf.Tensor, Any], tuple[tf.Tensor, Any]]
_NEG_INF = -1e9


def greedy_decode(
    step_fn: StepFn,
    state: Any,
    *,
    batch_size: tf.Tensor,
    start_id: int,
    end_id: int,
    max_length: int,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Pick the most likely token at each step until every row has emitted ``end_id``.

    Returns:
        ``tokens`` ``(batch, time)`` int32 (0 after the end), ``lengths`` ``(batch,)`` int32.
    """
    tokens = tf.fill([batch_size], start_id)
    out = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=tf.TensorShape([None]))
    finished = tf.zeros([batch_size], tf.bool)
    lengths = tf.zeros([batch_size], tf.int32)

    def body(t, tokens, state, finished, lengths, out):
        log_probs, state = step_fn(tokens, state)
        nxt = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
        nxt = tf.where(finished, 0, nxt)  # 0 (padding) after the end
        lengths += tf.cast(~finished, tf.int32)
        finished |= tf.equal(nxt, end_id)
        return t + 1, nxt, state, finished, lengths, out.write(t, nxt)

    def cond(t, tokens, state, finished, lengths, out):
        return (t < max_length) & ~tf.reduce_all(finished)

    t, _, _, _, lengths, out = tf.while_loop(
        cond, body, (tf.constant(0), tokens, state, finished, lengths, out)
    )
    tokens = tf.transpose(tf.reshape(out.stack(), [t, batch_size]))  # (batch, t)
    return tokens, lengths


def length_penalty(length: tf.Tensor, alpha: float) -> tf.Tensor:
    """GNMT length penalty ``((5 + length) / 6) ** alpha``."""
    return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, alpha)


def _flat(x: tf.Tensor) -> tf.Tensor:
    """``(batch, beam, ...)`` -> ``(batch * beam, ...)``."""
    return tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))


def _gather_beams(x: tf.Tensor, index: tf.Tensor, batch: tf.Tensor, beam: int) -> tf.Tensor:
    """Pick, for each input, the hypotheses ``index`` ``(batch, k)`` of ``x`` (batch*beam, ...)."""
    x = tf.reshape(x, tf.concat([[batch, beam], tf.shape(x)[1:]], 0))
    return _flat(tf.gather(x, index, batch_dims=1))


def beam_search(
    step_fn: StepFn,
    state: Any,
    *,
    batch_size: tf.Tensor,
    start_id: int,
    end_id: int,
    max_length: int,
    beam_width: int,
    alpha: float = 0.6,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Beam search; see the module docstring.

    Args:
        step_fn: the decoder step.
        state: initial state, first axis ``batch``; it is repeated ``beam_width`` times.
        batch_size: number of inputs (a scalar tensor is fine).
        start_id: the start token, fed at the first step.
        end_id: the end token.
        max_length: most tokens generated, end token included.
        beam_width: hypotheses kept per input.
        alpha: length-penalty exponent.

    Returns:
        ``tokens`` ``(batch, time)`` int32 of the best finished hypothesis (the best
        unfinished one where none finished), ``lengths`` ``(batch,)`` int32, and its
        normalised ``scores`` ``(batch,)`` float32.
    """
    k = beam_width
    batch = tf.convert_to_tensor(batch_size, tf.int32)
    state = tf.nest.map_structure(lambda s: tf.repeat(s, k, axis=0), state)  # (batch*k, ...)
    # Only the first copy of each input is live at the start; the others would duplicate it.
    alive_scores = tf.tile(tf.constant([[0.0] + [_NEG_INF] * (k - 1)]), [batch, 1])
    alive_seqs = tf.zeros([batch, k, 0], tf.int32)
    done_seqs = tf.zeros([batch, k, max_length], tf.int32)
    done_scores = tf.fill([batch, k], _NEG_INF)  # normalised
    done_lengths = tf.zeros([batch, k], tf.int32)
    last = tf.fill([batch * k], start_id)

    def body(t, last, state, alive_seqs, alive_scores, done_seqs, done_scores, done_lengths):
        log_probs, state = step_fn(last, state)  # (batch*k, vocab)
        vocab = tf.shape(log_probs)[-1]
        total = alive_scores[:, :, None] + tf.reshape(log_probs, [batch, k, vocab])
        flat = tf.reshape(total, [batch, k * vocab])
        # 2k candidates: even if k of them end here, k can stay alive.
        scores, index = tf.math.top_k(flat, k=2 * k)
        parent, token = index // vocab, index % vocab  # (batch, 2k)
        seqs = tf.concat(
            [tf.gather(alive_seqs, parent, batch_dims=1), token[:, :, None]], axis=2
        )  # (batch, 2k, t + 1)
        ends = tf.equal(token, end_id)
        # Endings among the k best candidates join the finished pool (as in fairseq), which
        # keeps its k best; so at width 1 with alpha 0 this is exactly greedy decoding.
        length = t + 1
        in_top_k = tf.range(2 * k)[None, :] < k
        normed = tf.where(ends & in_top_k, scores / length_penalty(length, alpha), _NEG_INF)
        padded = tf.pad(seqs, [[0, 0], [0, 0], [0, max_length - length]])
        pool_scores = tf.concat([done_scores, normed], axis=1)
        pool_seqs = tf.concat([done_seqs, padded], axis=1)
        pool_lengths = tf.concat([done_lengths, tf.fill(tf.shape(token), length)], axis=1)
        done_scores, keep = tf.math.top_k(pool_scores, k=k)
        done_seqs = tf.gather(pool_seqs, keep, batch_dims=1)
        done_lengths = tf.gather(pool_lengths, keep, batch_dims=1)
        # The k best candidates that did not end stay alive (hence 2k candidates).
        alive_rank = tf.where(ends, _NEG_INF, scores)
        alive_scores, keep = tf.math.top_k(alive_rank, k=k)
        alive_seqs = tf.gather(seqs, keep, batch_dims=1)
        chosen_parent = tf.gather(parent, keep, batch_dims=1)
        state = tf.nest.map_structure(lambda s: _gather_beams(s, chosen_parent, batch, k), state)
        last = tf.reshape(alive_seqs[:, :, -1], [-1])
        return t + 1, last, state, alive_seqs, alive_scores, done_seqs, done_scores, done_lengths

    def cond(t, last, state, alive_seqs, alive_scores, done_seqs, done_scores, done_lengths):
        # Log-probabilities only fall as a hypothesis grows, and lp only grows, so the best
        # an unfinished hypothesis can reach is its score now over lp(max_length).
        best_possible = alive_scores[:, 0] / length_penalty(max_length, alpha)
        worst_kept = done_scores[:, -1]
        return (t < max_length) & ~tf.reduce_all(worst_kept >= best_possible)

    invariants = tf.nest.map_structure(
        lambda s: tf.TensorShape([None]).concatenate(s.shape[1:]), state
    )
    loop_vars = (
        tf.constant(0),
        last,
        state,
        alive_seqs,
        alive_scores,
        done_seqs,
        done_scores,
        done_lengths,
    )
    shapes = (
        tf.TensorShape([]),
        tf.TensorShape([None]),
        invariants,
        tf.TensorShape([None, k, None]),
        tf.TensorShape([None, k]),
        tf.TensorShape([None, k, max_length]),
        tf.TensorShape([None, k]),
        tf.TensorShape([None, k]),
    )
    t, _, _, alive_seqs, alive_scores, done_seqs, done_scores, done_lengths = tf.while_loop(
        cond, body, loop_vars, shape_invariants=shapes
    )
    # Inputs with no finished hypothesis (max_length reached) return their best live one.
    any_done = done_scores[:, 0] > _NEG_INF / 2
    alive_best = tf.pad(alive_seqs[:, 0], [[0, 0], [0, max_length - t]])
    tokens = tf.where(any_done[:, None], done_seqs[:, 0], alive_best)
    lengths = tf.where(any_done, done_lengths[:, 0], t)
    scores = tf.where(any_done, done_scores[:, 0], alive_scores[:, 0] / length_penalty(t, alpha))
    width = tf.reduce_max(tf.concat([lengths, [0]], 0))
    return tokens[:, :width], lengths, scores
