import numpy as np
import pytest
import tensorflow as tf

from seqapps.metrics import (
    EntityF1,
    MacroRecall,
    classification_report,
    confusion_matrix,
    corpus_bleu,
    entity_scores,
    entity_spans,
    majority_baseline,
)

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


# --- entity-level scores --------------------------------------------------------------------

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def _random_sentences(seed: int, n: int = 300) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    return [[str(t) for t in rng.choice(TAGS, size=rng.integers(1, 12))] for _ in range(n)]


def _corrupt(sentences: list[list[str]], seed: int, rate: float) -> list[list[str]]:
    """Replace a share ``rate`` of the tags by random ones: some entities survive."""
    rng = np.random.default_rng(seed)
    return [[str(rng.choice(TAGS)) if rng.random() < rate else t for t in s] for s in sentences]


def test_entity_spans_follow_conlleval():
    assert entity_spans(["O", "I-PER", "I-PER", "B-PER", "I-LOC"]) == {
        (1, 2, "PER"),
        (3, 3, "PER"),
        (4, 4, "LOC"),
    }
    assert entity_spans(["B-PER", "I-PER"]) == {(0, 1, "PER")}  # ends at the sentence end
    assert entity_spans(["O", "O"]) == set()


def test_entity_scores_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-PER"], ["B-ORG", "B-LOC"]]
    s = entity_scores(gold, pred)
    # gold: PER, LOC, ORG; predicted: PER, PER, ORG, LOC; right: PER(0-1), ORG.
    assert s["precision"] == pytest.approx(2 / 4)
    assert s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["f1_LOC"] == 0.0 and s["support_LOC"] == 1.0
    assert s["f1_ORG"] == 1.0


def test_entity_scores_match_seqeval_on_random_tag_sequences():
    """seqeval's default mode reproduces conlleval; random tags include invalid IOB2."""
    seqeval = pytest.importorskip("seqeval.metrics")
    gold = _random_sentences(0)
    pred = _corrupt(gold, 1, 0.3)
    ours = entity_scores(gold, pred)
    assert ours["precision"] == pytest.approx(seqeval.precision_score(gold, pred))
    assert ours["recall"] == pytest.approx(seqeval.recall_score(gold, pred))
    assert ours["f1"] == pytest.approx(seqeval.f1_score(gold, pred))
    report = seqeval.classification_report(gold, pred, output_dict=True)
    for kind in ("PER", "LOC", "MISC"):
        assert ours[f"f1_{kind}"] == pytest.approx(report[kind]["f1-score"])
        assert ours[f"support_{kind}"] == report[kind]["support"]


@pytest.mark.parametrize("run", ["eager", "graph"])
def test_entity_f1_metric_matches_the_python_scorer(run):
    gold = _random_sentences(2, 64)
    pred = _corrupt(gold, 3, 0.4)
    metric = EntityF1(TAGS)
    index = {t: i for i, t in enumerate(TAGS)}
    time = max(map(len, gold))
    for lo in range(0, 64, 16):  # several batches: counts accumulate
        rows = range(lo, lo + 16)
        y_true = np.full((16, time), -1, "int32")
        y_pred = np.zeros((16, time, len(TAGS)), "float32")
        for r, i in enumerate(rows):
            y_true[r, : len(gold[i])] = [index[t] for t in gold[i]]
            y_pred[r, np.arange(len(pred[i])), [index[t] for t in pred[i]]] = 1.0
            y_pred[r, len(pred[i]) :, 2] = 5.0  # padding predicts I-PER: must be ignored
        update = metric.update_state if run == "eager" else tf.function(metric.update_state)
        update(y_true, y_pred)
    assert float(metric.result()) == pytest.approx(entity_scores(gold, pred)["f1"], abs=1e-6)


def test_corpus_bleu_equals_sacrebleu_with_five_references():
    import random

    import sacrebleu

    rng = random.Random(0)
    words = "a b c d e f g h".split()

    def sentence() -> list[str]:
        return [rng.choice(words) for _ in range(rng.randint(3, 12))]

    hyps = [sentence() for _ in range(60)]
    refs = [[sentence() for _ in range(5)] for _ in range(60)]
    ours = corpus_bleu(hyps, refs)
    for n in range(1, 5):
        bleu = sacrebleu.BLEU(tokenize="none", smooth_method="none", max_ngram_order=n)
        streams = [[" ".join(r[k]) for r in refs] for k in range(5)]
        theirs = bleu.corpus_score([" ".join(h) for h in hyps], streams).score
        assert ours[n - 1] == pytest.approx(theirs, abs=1e-9)


def test_corpus_bleu_by_hand_with_uneven_references():
    hyps = [["the", "cat", "sat"], ["a", "dog"]]
    refs = [[["the", "cat", "sat", "down"]], [["a", "dog", "runs"], ["dog"]]]
    # unigrams 5/5, bigrams 3/3; closest reference lengths 4 (tie-free) and 3 (|3-2| = |1-2|:
    # the shorter, 1) -> r = 5 = c, no brevity penalty
    bleu1, bleu2, bleu3, _ = corpus_bleu(hyps, refs)
    assert bleu1 == pytest.approx(100.0) and bleu2 == pytest.approx(100.0)
    assert bleu3 == pytest.approx(100.0)  # one trigram, matched
    short = corpus_bleu([["the"]], [[["the", "cat"]]], max_order=1)[0]
    assert short == pytest.approx(100 * np.exp(1 - 2 / 1))  # brevity penalty
    with pytest.raises(ValueError, match="at least one reference"):
        corpus_bleu([["a"]], [[]])
