"""Metrics: plain NumPy scorers for reports, plus Keras metrics used for model selection."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

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

    Takes tokenised text: ``hypotheses[i]`` is a token list and ``references[i]`` the token
    lists of its references (any number per hypothesis, as captioning data sets have).
    BLEU-n is the brevity penalty times the geometric mean of the clipped 1..n-gram
    precisions, summed over the corpus; the reference length of each hypothesis is the
    closest one (the shorter on a tie), as sacrebleu and the COCO caption evaluation count
    it. No smoothing: a precision of zero gives 0.

    Returns:
        ``[BLEU-1, ..., BLEU-max_order]`` on a 0..100 scale.
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference sets")
    matches = np.zeros(max_order)
    totals = np.zeros(max_order)
    hyp_len = ref_len = 0
    for hyp, refs in zip(hypotheses, references, strict=True):
        if not refs:
            raise ValueError("every hypothesis needs at least one reference")
        hyp_len += len(hyp)
        ref_len += min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1]
        for n in range(1, max_order + 1):
            counts = Counter(tuple(hyp[i : i + n]) for i in range(len(hyp) - n + 1))
            most: Counter = Counter()
            for ref in refs:  # clip each n-gram by its largest count in one reference
                most |= Counter(tuple(ref[i : i + n]) for i in range(len(ref) - n + 1))
            matches[n - 1] += sum(min(c, most[g]) for g, c in counts.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    if hyp_len == 0:
        return [0.0] * max_order
    brevity = 1.0 if hyp_len > ref_len else float(np.exp(1 - ref_len / hyp_len))
    with np.errstate(divide="ignore"):
        log_p = np.log(matches / np.maximum(totals, 1))
    scores = []
    for n in range(1, max_order + 1):
        mean = log_p[:n].mean()
        scores.append(100 * brevity * float(np.exp(mean)) if np.isfinite(mean) else 0.0)
    return scores


def teacher_forced_perplexity(model: keras.Model, batches: tf.data.Dataset) -> float:
    """Exp of the mean cross-entropy per real target token of a teacher-forced model.

    ``batches`` yields ``(inputs, targets)`` with targets ``(batch, steps)`` right-padded
    with 0; ``model(inputs)`` returns logits ``(batch, steps, vocab)``.
    """
    total, count = 0.0, 0
    for x, y in batches:
        logits = model(x, training=False)
        nll = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        mask = tf.cast(y > 0, tf.float32)
        total += float(tf.reduce_sum(nll * mask))
        count += int(tf.reduce_sum(mask))
    return float(np.exp(total / max(count, 1)))
