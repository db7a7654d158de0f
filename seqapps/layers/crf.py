"""A linear-chain conditional random field (CRF) in Keras ops.

Keras 3 has no CRF and tensorflow-addons is gone, so this is written from the textbook
(Lafferty et al. 2001; Lample et al. 2016, section 2.2). For tag scores ``U`` (the
"potentials" a Dense layer emits per token), transition scores ``A[i, j]`` (tag i then tag j),
and start / end scores ``s`` / ``e``, a tag path ``y`` of length ``n`` scores::

    score(y) = s[y_1] + sum_t U[t, y_t] + sum_{t>1} A[y_{t-1}, y_t] + e[y_n]

and has probability ``exp(score(y)) / Z`` with ``Z`` summed over every path. Training
minimises ``log Z - score(gold)`` (the forward algorithm gives ``log Z`` in
``O(n K^2)``); prediction takes the best path (Viterbi). Masks must be right-padded with at
least one real step per row; padded steps change neither the likelihood nor the path.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


def _steps(potentials: Any, mask: Any) -> Any:
    """Steps 2..n and one masked step after them, time-major: ``(time, batch, tags + 1)``.

    The mask rides along as the last channel: Keras' TF ``scan`` fails on several ``xs``
    whose time dimension is unknown (keras/src/backend/tensorflow/core.py, ``n_static``).
    The extra masked step (it changes nothing: masked steps carry the state through) keeps
    the scans at one step or more, since TF's scan cannot stack the outputs of zero steps
    (a batch of one-token sentences failed with "Tried to stack elements of an empty list").
    """
    x = ops.concatenate([potentials, ops.cast(mask, potentials.dtype)[..., None]], axis=-1)
    x = ops.concatenate([x[:, 1:], ops.zeros_like(x[:, :1])], axis=1)
    return ops.moveaxis(x, 1, 0)


def _split(x: Any) -> tuple[Any, Any]:
    """Inverse of one step of :func:`_steps`: ``(batch, tags)`` potentials, ``(batch,)`` mask."""
    return x[:, :-1], x[:, -1] > 0.5


def crf_log_likelihood(
    potentials: Any, tags: Any, mask: Any, transitions: Any, start: Any, end: Any
) -> Any:
    """Log-probability of each gold tag path.

    Args:
        potentials: ``(batch, time, tags)`` float unary scores.
        tags: ``(batch, time)`` int gold tags (any value where masked).
        mask: ``(batch, time)`` bool, right-padded, at least one True per row.
        transitions: ``(tags, tags)`` scores, ``[from, to]``.
        start: ``(tags,)`` scores of starting in each tag.
        end: ``(tags,)`` scores of ending in each tag.

    Returns:
        ``(batch,)`` float log-likelihoods (<= 0).
    """
    return _path_score(potentials, tags, mask, transitions, start, end) - crf_log_norm(
        potentials, mask, transitions, start, end
    )


def _path_score(potentials, tags, mask, transitions, start, end):
    """``score(y)`` of the given paths, ``(batch,)``."""
    num_tags = ops.shape(potentials)[-1]
    maskf = ops.cast(mask, potentials.dtype)
    tags = ops.where(mask, tags, 0)  # padded tags may be -1; any valid index will do
    one_hot = ops.one_hot(tags, num_tags, dtype=potentials.dtype)  # (batch, time, tags)
    unary = ops.sum(ops.sum(potentials * one_hot, axis=-1) * maskf, axis=1)
    # Transition t-1 -> t counts where step t is real (then t-1 is real too: right padding).
    pair = ops.take(ops.reshape(transitions, [-1]), tags[:, :-1] * num_tags + tags[:, 1:])
    binary = ops.sum(pair * maskf[:, 1:], axis=1)
    lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
    first = ops.take(start, tags[:, 0])
    last_tag = ops.take_along_axis(tags, ops.expand_dims(lengths - 1, 1), axis=1)[:, 0]
    return unary + binary + first + ops.take(end, last_tag)


def crf_log_norm(potentials: Any, mask: Any, transitions: Any, start: Any, end: Any) -> Any:
    """``log Z`` by the forward algorithm, ``(batch,)``; arguments as in crf_log_likelihood."""
    alpha0 = start[None, :] + potentials[:, 0]  # (batch, tags)

    def step(alpha, x):
        u, m = _split(x)  # (batch, tags), (batch,)
        # (batch, from, 1) + (from, to) -> logsumexp over "from".
        nxt = ops.logsumexp(alpha[:, :, None] + transitions[None], axis=1) + u
        alpha = ops.where(m[:, None], nxt, alpha)  # padded steps carry alpha through
        return alpha, alpha  # scan stacks the second value; unused

    alpha, _ = ops.scan(step, alpha0, _steps(potentials, mask))
    return ops.logsumexp(alpha + end[None, :], axis=1)


def viterbi_decode(potentials: Any, mask: Any, transitions: Any, start: Any, end: Any) -> Any:
    """Best tag path of each row, ``(batch, time)`` int32; 0 at masked steps.

    Arguments as in :func:`crf_log_likelihood`.
    """
    delta0 = start[None, :] + potentials[:, 0]  # (batch, tags)
    num_tags = ops.shape(potentials)[-1]
    stay = ops.arange(num_tags, dtype="int32")

    # Keras' TF scan stacks outputs shaped like the carry, so the carry holds the
    # back-pointers too.
    def forward(carry, x):
        delta, _ = carry
        u, m = _split(x)
        scores = delta[:, :, None] + transitions[None]  # (batch, from, to)
        best_prev = ops.cast(ops.argmax(scores, axis=1), "int32")  # (batch, to)
        nxt = ops.max(scores, axis=1) + u
        # A padded step keeps delta and points every tag back to itself.
        delta = ops.where(m[:, None], nxt, delta)
        pointers = ops.where(m[:, None], best_prev, stay[None, :])
        return (delta, pointers), (delta, pointers)

    init = (delta0, ops.zeros_like(delta0, dtype="int32"))
    (delta, _), (_, pointers) = ops.scan(
        forward, init, _steps(potentials, mask)
    )  # pointers: (time, batch, tags); the last step, masked, points every tag to itself
    last = ops.cast(ops.argmax(delta + end[None, :], axis=1), "int32")  # (batch,)

    def backward(tag, back):
        prev = ops.take_along_axis(back, tag[:, None], axis=1)[:, 0]
        return prev, prev

    _, earlier = ops.scan(backward, last, pointers, reverse=True)  # (time, batch)
    path = ops.moveaxis(earlier, 0, 1)  # the tag at every real step, then padding
    return ops.where(mask, path, 0)


@keras.saving.register_keras_serializable(package="seqapps")
class CRF(keras.layers.Layer):
    """Linear-chain CRF head: holds the transition scores, passes the potentials through.

    The layer is the identity on its input so that the model's output stays the
    ``(batch, time, tags)`` potentials; :class:`CRFLoss` reads them with the layer's
    transitions, and :meth:`decode` turns them into tag paths. It consumes the Keras mask
    (so that losses and metrics, which get ``-1``-padded targets, see no mask) and stores
    it: :meth:`decode` needs the same mask, so pass it explicitly there.

    Args:
        num_tags: number of tags.

    Example:
        >>> crf = CRF(5)
        >>> potentials = crf(keras.ops.zeros((2, 7, 5)))
        >>> crf.decode(potentials, keras.ops.ones((2, 7), dtype="bool")).shape
        (2, 7)
    """

    def __init__(self, num_tags: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_tags = num_tags
        self.supports_masking = True

    def build(self, input_shape: tuple) -> None:  # noqa: D102
        init = keras.initializers.Zeros()
        k = self.num_tags
        self.transitions = self.add_weight(shape=(k, k), initializer=init, name="transitions")
        self.start = self.add_weight(shape=(k,), initializer=init, name="start")
        self.end = self.add_weight(shape=(k,), initializer=init, name="end")

    def call(self, potentials: Any, mask: Any = None) -> Any:  # noqa: D102
        # float32: scores summed over a sentence want it. A copy: a float32 input would come
        # back as the same tensor, still carrying its Keras mask into the loss.
        return ops.copy(ops.cast(potentials, "float32"))

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:  # noqa: D102
        return None  # the loss and metrics mask by the -1 padding of the targets

    def compute_output_shape(self, input_shape: tuple) -> tuple:  # noqa: D102
        return input_shape

    def log_likelihood(self, potentials: Any, tags: Any, mask: Any) -> Any:
        """``(batch,)`` log-probabilities of the gold paths ``tags`` under ``mask``."""
        return crf_log_likelihood(potentials, tags, mask, self.transitions, self.start, self.end)

    def decode(self, potentials: Any, mask: Any) -> Any:
        """Viterbi paths ``(batch, time)`` int32, 0 where ``mask`` is False."""
        return viterbi_decode(potentials, mask, self.transitions, self.start, self.end)

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "num_tags": self.num_tags}


class CRFLoss(keras.losses.Loss):
    """Negative log-likelihood of the gold tag paths under a :class:`CRF` layer.

    Targets are ``(batch, time)`` tag ids padded with ``-1``; the padding is the mask.
    The loss is per sentence (summed over its tokens), averaged over the batch.

    Args:
        crf: the model's CRF layer, whose transition scores the loss reads.
    """

    def __init__(self, crf: CRF, name: str = "crf_loss") -> None:
        super().__init__(name=name)
        self.crf = crf

    def call(self, y_true: Any, y_pred: Any) -> Any:  # noqa: D102
        tags = ops.cast(y_true, "int32")
        return -self.crf.log_likelihood(ops.cast(y_pred, "float32"), tags, tags >= 0)

    def get_config(self) -> dict:  # noqa: D102
        # The CRF layer is not serialisable here; models are saved for inference and
        # reloaded with compile=False, then recompiled by the task.
        return {"name": self.name}
