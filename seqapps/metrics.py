"""Metrics: plain NumPy scorers for reports, plus Keras metrics used for model selection.

The scores of every task in ``metrics.json``, with their scales (baselines carry a prefix
and the scale of the score they stand beside: ``majority_baseline_``, ``baseline_``,
``persistence_``, ``drift_``, ``moving_average_``; forecasting adds per-horizon ``_hN``
figures; NER's per-type ``support_TYPE`` counts gold entities):

- sentiment: ``macro_recall``, ``macro_f1``, ``accuracy``, per class ``recall_X``,
  ``precision_X``, ``f1_X``: fractions 0..1 (:func:`classification_report`).
- ner: entity-level ``f1``, ``precision``, ``recall`` (conlleval semantics) and token
  ``accuracy``: fractions 0..1 (:func:`entity_scores`).
- translation: ``bleu``, ``chrf`` (sacrebleu, 13a tokenisation, case-insensitive): 0..100.
- captioning: ``bleu1`` .. ``bleu4`` (:func:`corpus_bleu`): 0..100; ``distinct`` (share of
  distinct captions): fraction 0..1.
- translation and captioning: ``perplexity`` (:class:`Perplexity`): unitless, >= 1. Greedy
  decoding's scores carry a ``_greedy`` suffix.
- forecasting (:func:`forecast_scores`): ``mae``, ``rmse`` in price units; ``mape`` in
  percent (0..100); ``mase`` as a ratio to the in-sample one-step naive MAE (Hyndman &
  Koehler 2006); ``directional_accuracy`` and ``interval_coverage``: fractions 0..1.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Return ``(num_classes, num_classes)`` counts; rows are true classes, columns predicted.

    Example:
        >>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), 2).tolist()
        [[1, 0], [1, 1]]
    """
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def classification_report(cm: np.ndarray) -> dict[str, float]:
    """Accuracy, macro recall (TweetEval's official metric), macro F1 and per-class figures.

    A class with no true examples counts as recall 0 in the macro average only if it was
    predicted; otherwise it is left out (so 3-class macro scores stay 3-class on 3 classes).

    Args:
        cm: confusion matrix from :func:`confusion_matrix`.

    Returns:
        Flat dict: ``accuracy``, ``macro_recall``, ``macro_f1`` and, per class index ``k``,
        ``recall_k``, ``precision_k``, ``f1_k``.
    """
    cm = cm.astype(np.float64)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = (support > 0) | (predicted > 0)
    out = {
        "accuracy": float(tp.sum() / max(cm.sum(), 1)),
        "macro_recall": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
    }
    for k in range(len(tp)):
        out[f"recall_{k}"] = float(recall[k])
        out[f"precision_{k}"] = float(precision[k])
        out[f"f1_{k}"] = float(f1[k])
    return out


def majority_baseline(train_labels: np.ndarray, test_labels: np.ndarray, num_classes: int):
    """Scores of always predicting the most frequent training class on the test labels."""
    majority = int(np.bincount(train_labels, minlength=num_classes).argmax())
    cm = confusion_matrix(test_labels, np.full_like(test_labels, majority), num_classes)
    return classification_report(cm)


@keras.saving.register_keras_serializable(package="seqapps")
class MacroRecall(keras.metrics.Metric):
    """Macro-averaged recall over ``num_classes`` from sparse labels and class scores.

    Keras has no multi-class macro recall; this one lets training monitor the TweetEval
    metric directly (``val_macro_recall``) for checkpoints and early stopping.
    """

    def __init__(self, num_classes: int, name: str = "macro_recall", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.num_classes = num_classes
        self.matrix = self.add_variable(
            shape=(num_classes, num_classes), initializer="zeros", name="matrix"
        )

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """Add a batch: ``y_true`` ``(batch,)`` ints, ``y_pred`` ``(batch, classes)``."""
        true = ops.one_hot(ops.reshape(ops.cast(y_true, "int32"), (-1,)), self.num_classes)
        pred = ops.one_hot(ops.argmax(y_pred, axis=-1), self.num_classes)
        # Class weights must not bend the metric: it reports plain recall.
        self.matrix.assign_add(ops.matmul(ops.transpose(true), pred))

    def result(self):
        """Mean over classes with examples of (correct / examples of that class)."""
        support = ops.sum(self.matrix, axis=1)
        recall = ops.diagonal(self.matrix) / ops.maximum(support, 1.0)
        present = ops.cast(support > 0, recall.dtype)
        return ops.sum(recall * present) / ops.maximum(ops.sum(present), 1.0)

    def reset_state(self) -> None:
        """Zero the confusion matrix."""
        self.matrix.assign(ops.zeros_like(self.matrix))

    def get_config(self) -> dict:
        """Return the constructor arguments."""
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="seqapps")
class MacroF1(MacroRecall):
    """Macro-averaged F1 over ``num_classes``, as :func:`classification_report` computes it.

    Logged each epoch (``val_macro_f1``) so that ``monitor=val_macro_f1`` can select the
    epoch of a data set scored by macro-F1. A class counts in the average when it has true
    examples or was predicted.
    """

    def __init__(self, num_classes: int, name: str = "macro_f1", **kwargs) -> None:
        super().__init__(num_classes, name=name, **kwargs)

    def result(self):
        """Mean over present classes of 2 * precision * recall / (precision + recall)."""
        tp = ops.diagonal(self.matrix)
        support = ops.sum(self.matrix, axis=1)
        predicted = ops.sum(self.matrix, axis=0)
        # F1 = 2 tp / (support + predicted); 0 for a class with neither.
        f1 = 2.0 * tp / ops.maximum(support + predicted, 1.0)
        present = ops.cast((support + predicted) > 0, f1.dtype)
        return ops.sum(f1 * present) / ops.maximum(ops.sum(present), 1.0)


# --- entity-level scores (NER) --------------------------------------------------------------


def entity_spans(tags: Sequence[str]) -> set[tuple[int, int, str]]:
    """Entities of one sentence as ``(first, last, type)`` token spans, conlleval style.

    An entity starts at ``B-X``, or at ``I-X`` when the previous token is not of type X
    (so IOB1 and malformed IOB2 read as conlleval reads them); it ends before ``O``, before
    any ``B-``, and before a token of another type.

    Example:
        >>> sorted(entity_spans(["B-PER", "I-PER", "O", "I-LOC", "B-LOC"]))
        [(0, 1, 'PER'), (3, 3, 'LOC'), (4, 4, 'LOC')]
    """
    spans, begin, kind = set(), None, ""
    for i, tag in enumerate([*tags, "O"]):  # the sentinel closes a final entity
        new_kind = tag[2:] if tag != "O" else ""
        if begin is not None and (tag.startswith("B-") or new_kind != kind):
            spans.add((begin, i - 1, kind))
            begin = None
        if new_kind and begin is None:
            begin, kind = i, new_kind
    return spans


def entity_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, float]:
    """Entity-level precision / recall / F1 (conlleval semantics), overall and per type.

    A predicted entity counts only if its type and both boundaries match a gold one.
    Also token accuracy over every token (as conlleval's "accuracy"), and per type the
    number of gold entities (``support_TYPE``). Scores are fractions in [0, 1].

    Args:
        gold: sentences of gold tags.
        pred: sentences of predicted tags, the same lengths.

    Example:
        >>> entity_scores([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])["f1"]
        0.0
    """
    counts = {"tp": Counter(), "gold": Counter(), "pred": Counter()}
    correct_tokens = total_tokens = 0
    for g, p in zip(gold, pred, strict=True):
        if len(g) != len(p):
            raise ValueError(f"sentence lengths differ: {len(g)} gold tags, {len(p)} predicted")
        gs, ps = entity_spans(g), entity_spans(p)
        counts["gold"].update(s[2] for s in gs)
        counts["pred"].update(s[2] for s in ps)
        counts["tp"].update(s[2] for s in gs & ps)
        correct_tokens += sum(a == b for a, b in zip(g, p, strict=True))
        total_tokens += len(g)

    def prf(tp: int, n_gold: int, n_pred: int) -> tuple[float, float, float]:
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
        return precision, recall, f1

    out = {}
    totals = [sum(c.values()) for c in counts.values()]
    out["precision"], out["recall"], out["f1"] = prf(*totals)
    out["accuracy"] = correct_tokens / max(total_tokens, 1)
    for kind in sorted(set(counts["gold"]) | set(counts["pred"])):
        p, r, f = prf(counts["tp"][kind], counts["gold"][kind], counts["pred"][kind])
        out[f"precision_{kind}"], out[f"recall_{kind}"], out[f"f1_{kind}"] = p, r, f
        out[f"support_{kind}"] = float(counts["gold"][kind])
    return out


def _chunk_flags(tags, mask, kinds, begins):
    """Per token: entity type id (0 = none), entity starts here, entity ends here.

    ``tags`` ``(batch, time)`` tag ids; ``kinds`` / ``begins`` map a tag id to its type id
    and to whether it is a ``B-`` tag. Same semantics as :func:`entity_spans`.
    """
    kind = tf.where(mask, tf.gather(kinds, tags), 0)
    begin = tf.gather(begins, tags) & mask
    before = tf.pad(kind[:, :-1], [[0, 0], [1, 0]])  # type of the previous token
    start = (kind > 0) & (begin | (before != kind))
    after = tf.pad(kind[:, 1:], [[0, 0], [0, 1]])
    next_start = tf.pad(start[:, 1:], [[0, 0], [0, 1]])
    end = (kind > 0) & ((after != kind) | next_start)
    return kind, start, end


@keras.saving.register_keras_serializable(package="seqapps")
class EntityF1(keras.metrics.Metric):
    """Entity-level F1 (conlleval semantics) as a Keras metric, to select epochs by it.

    Targets are ``(batch, time)`` tag ids padded with ``-1``; predictions are the model's
    ``(batch, time, tags)`` scores, turned into tag ids by ``decode(scores, mask)`` (argmax
    by default; a CRF's Viterbi decoding for a CRF head). Counts are summed over batches, so
    the result is the corpus-level micro F1 that :func:`entity_scores` computes. TF ops
    only (not XLA): compile models using it with ``jit_compile=False``.

    Args:
        tag_names: IOB2 tag of each id, e.g. ``["O", "B-PER", "I-PER"]``.
        decode: ``(scores, mask) -> (batch, time)`` int tag ids.
    """

    def __init__(
        self,
        tag_names: Sequence[str],
        decode: Callable | None = None,
        name: str = "f1",
        **kwargs,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.tag_names = list(tag_names)
        types = sorted({t[2:] for t in self.tag_names if t != "O"})
        self._kinds = tf.constant(
            [types.index(t[2:]) + 1 if t != "O" else 0 for t in self.tag_names], tf.int32
        )
        self._begins = tf.constant([t.startswith("B-") for t in self.tag_names])
        self.decode = decode
        self.counts = self.add_variable(shape=(3,), initializer="zeros", name="counts")

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """Add a batch: -1-padded ``y_true`` ``(batch, time)``, ``y_pred`` ``(b, t, tags)``."""
        gold = tf.cast(y_true, tf.int32)
        mask = gold >= 0
        if self.decode is None:
            pred = tf.cast(tf.argmax(y_pred, axis=-1), tf.int32)
        else:
            pred = tf.cast(self.decode(y_pred, mask), tf.int32)
        gold = tf.where(mask, gold, 0)
        pred = tf.where(mask, pred, 0)
        g_kind, g_start, g_end = _chunk_flags(gold, mask, self._kinds, self._begins)
        p_kind, p_start, p_end = _chunk_flags(pred, mask, self._kinds, self._begins)
        # A gold entity is found iff at each of its tokens the prediction has the same type,
        # the same start flag and the same end flag.
        inside = tf.reshape(g_kind > 0, [-1])
        differs = (g_kind != p_kind) | (g_start != p_start) | (g_end != p_end)
        chunk = tf.reshape(tf.cumsum(tf.cast(g_start, tf.int32), axis=1), [-1])
        # Number entities across the batch: offset each row by the starts of earlier rows.
        n_starts = tf.reduce_sum(tf.cast(g_start, tf.int32), axis=1)
        offsets = tf.cumsum(n_starts, exclusive=True)
        time = tf.shape(gold)[1]
        chunk = chunk + tf.repeat(offsets, time)
        chunk = tf.where(inside, chunk, 0)  # segment 0 collects the non-entity tokens
        n_gold = tf.reduce_sum(n_starts)
        bad = tf.math.unsorted_segment_max(
            tf.cast(tf.reshape(differs, [-1]) & inside, tf.int32), chunk, n_gold + 1
        )[1:]
        tp = tf.reduce_sum(1 - bad)
        n_pred = tf.reduce_sum(tf.cast(p_start, tf.int32))
        self.counts.assign_add(tf.cast(tf.stack([tp, n_gold, n_pred]), self.counts.dtype))

    def result(self):
        """Micro F1 over every entity seen since the last reset."""
        tp, n_gold, n_pred = self.counts[0], self.counts[1], self.counts[2]
        return 2.0 * tp / tf.maximum(n_gold + n_pred, 1.0)

    def reset_state(self) -> None:
        """Zero the counts."""
        self.counts.assign(tf.zeros_like(self.counts))

    def get_config(self) -> dict:
        """Return the constructor arguments (``decode`` is not serialisable and is dropped)."""
        return {**super().get_config(), "tag_names": self.tag_names}


def corpus_bleu(
    hypotheses: Sequence[Sequence[str]],
    references: Sequence[Sequence[Sequence[str]]],
    max_order: int = 4,
) -> list[float]:
    """Corpus BLEU-1 .. BLEU-``max_order`` (Papineni et al. 2002) against several references.

    Computed by sacrebleu on the given tokens (``tokenize="none"``, no smoothing), which
    takes a variable number of references per hypothesis. Takes tokenised text:
    ``hypotheses[i]`` is a token list and ``references[i]`` the token lists of its
    references (any number, as captioning data sets have). BLEU-n is the brevity penalty
    times the geometric mean of the clipped 1..n-gram precisions summed over the corpus; the
    reference length of each hypothesis is the closest one (the shorter on a tie), as the
    COCO caption evaluation counts it. A precision of zero gives 0.

    Returns:
        ``[BLEU-1, ..., BLEU-max_order]`` on a 0..100 scale.

    Raises:
        ValueError: lengths differ, or a hypothesis has no reference.
    """
    import sacrebleu  # imported here: only evaluation needs it

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference sets")
    if any(not refs for refs in references):
        raise ValueError("every hypothesis needs at least one reference")
    if not any(hypotheses):
        return [0.0] * max_order
    most = max(len(refs) for refs in references)
    # Reference streams, one per reference slot; None where a hypothesis has fewer.
    streams = [
        [" ".join(refs[k]) if k < len(refs) else None for refs in references] for k in range(most)
    ]
    hyps = [" ".join(h) for h in hypotheses]
    return [
        sacrebleu.BLEU(tokenize="none", smooth_method="none", max_ngram_order=n)
        .corpus_score(hyps, streams)
        .score
        for n in range(1, max_order + 1)
    ]


@keras.saving.register_keras_serializable(package="seqapps")
class Perplexity(keras.metrics.Metric):
    """Exp of the mean cross-entropy per real target token (teacher forcing).

    ``y_true`` ``(batch, steps)`` int ids right-padded with 0 (padding is left out);
    ``y_pred`` ``(batch, steps, vocab)`` logits. Compiled into the seq2seq tasks, so
    ``perplexity`` and ``val_perplexity`` appear in ``history.csv``; unitless, >= 1.
    """

    def __init__(self, name: str = "perplexity", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable((), initializer="zeros", name="total")
        self.count = self.add_variable((), initializer="zeros", name="count")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add a batch's summed negative log-likelihood and its number of real tokens."""
        y_pred = keras.ops.cast(y_pred, "float32")
        nll = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        mask = keras.ops.cast(keras.ops.greater(y_true, 0), "float32")
        self.total.assign_add(keras.ops.sum(nll * mask))
        self.count.assign_add(keras.ops.sum(mask))

    def result(self) -> Any:
        """``exp(total / count)`` (1 before any token)."""
        return keras.ops.exp(self.total / keras.ops.maximum(self.count, 1.0))

    def reset_state(self) -> None:
        """Start counting anew."""
        self.total.assign(0.0)
        self.count.assign(0.0)


def teacher_forced_perplexity(model: keras.Model, batches: tf.data.Dataset) -> float:
    """Exp of the mean cross-entropy per real target token of a teacher-forced model.

    ``batches`` yields ``(inputs, targets)`` with targets ``(batch, steps)`` right-padded
    with 0; ``model(inputs)`` returns logits ``(batch, steps, vocab)``.
    """
    metric = Perplexity()
    for x, y in batches:
        metric.update_state(y, model(x, training=False))
    return float(metric.result())


@keras.saving.register_keras_serializable(package="seqapps")
class PinballLoss(keras.losses.Loss):
    """Quantile (pinball) loss averaged over the levels: ``y_pred`` is ``(batch, H, Q)``.

    For level q, under-forecasts cost ``q * error`` and over-forecasts ``(1 - q) * error``,
    so its minimiser is the q-quantile of the target.
    """

    def __init__(self, levels: list[float], name: str = "pinball", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.levels = list(levels)

    def call(self, y_true, y_pred):
        """``y_true`` ``(batch, H)``; returns ``(batch,)``."""
        levels = keras.ops.convert_to_tensor(self.levels, dtype=y_pred.dtype)
        error = keras.ops.expand_dims(y_true, -1) - y_pred  # (batch, H, Q)
        loss = keras.ops.maximum(levels * error, (levels - 1.0) * error)
        return keras.ops.mean(loss, axis=(1, 2))

    def get_config(self) -> dict:
        """Constructor arguments."""
        return {**super().get_config(), "levels": self.levels}


def forecast_scores(
    actual: np.ndarray, forecast: np.ndarray, last: np.ndarray, scale: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-horizon scores of ``forecast`` against ``actual``, both ``(windows, horizon)``.

    Args:
        actual: realised closes.
        forecast: forecast closes.
        last: each window's last observed close ``(windows,)``.
        scale: each window's ticker's in-sample one-step naive MAE ``(windows,)`` (MASE).

    Returns:
        ``mae``, ``rmse``, ``mape`` (percent), ``mase`` and ``directional_accuracy`` (share of
        windows where the forecast moves the same way as the price, from ``last``), each a
        ``(horizon,)`` array.
    """
    err = forecast - actual
    move, predicted_move = np.sign(actual - last[:, None]), np.sign(forecast - last[:, None])
    valid = ~np.isnan(scale)
    return {
        "mae": np.abs(err).mean(axis=0),
        "rmse": np.sqrt((err**2).mean(axis=0)),
        "mape": 100 * np.abs(err / actual).mean(axis=0),
        "mase": (np.abs(err[valid]) / scale[valid, None]).mean(axis=0)
        if valid.any()
        else np.full(err.shape[1], math.nan),
        "directional_accuracy": (move == predicted_move).mean(axis=0),
    }
