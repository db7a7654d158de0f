"""Metrics: plain NumPy scorers for reports, plus Keras metrics used for model selection."""

from __future__ import annotations

import keras
import numpy as np
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
