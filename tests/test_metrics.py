import numpy as np
import pytest

from seqapps.metrics import MacroRecall, classification_report, confusion_matrix, majority_baseline

Y_TRUE = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
Y_PRED = np.array([0, 1, 2, 1, 1, 2, 2, 0, 2, 1])


def test_report_by_hand():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    assert cm.tolist() == [[1, 1, 1], [0, 2, 0], [1, 1, 3]]
    r = classification_report(cm)
    recalls = [1 / 3, 1.0, 3 / 5]
    precisions = [1 / 2, 2 / 4, 3 / 4]
    f1s = [2 * p * q / (p + q) for p, q in zip(precisions, recalls, strict=True)]
    assert r["accuracy"] == pytest.approx(6 / 10)
    assert r["macro_recall"] == pytest.approx(np.mean(recalls))
    assert r["macro_f1"] == pytest.approx(np.mean(f1s))
    assert r["precision_1"] == pytest.approx(0.5)


def test_absent_class_left_out_of_macro_average():
    r = classification_report(confusion_matrix(np.array([0, 1]), np.array([0, 1]), 3))
    assert r["macro_recall"] == 1.0 and r["macro_f1"] == 1.0


def test_majority_baseline():
    base = majority_baseline(np.array([2, 2, 1]), Y_TRUE, 3)
    assert base["accuracy"] == pytest.approx(0.5)
    assert base["macro_recall"] == pytest.approx(1 / 3)


def test_keras_macro_recall_matches_numpy():
    metric = MacroRecall(3)
    scores = np.eye(3, dtype="float32")[Y_PRED]
    metric.update_state(Y_TRUE[:4], scores[:4])
    metric.update_state(Y_TRUE[4:], scores[4:])
    expected = classification_report(confusion_matrix(Y_TRUE, Y_PRED, 3))["macro_recall"]
    assert float(metric.result()) == pytest.approx(expected, rel=1e-6)
    metric.reset_state()
    assert float(metric.result()) == 0.0
