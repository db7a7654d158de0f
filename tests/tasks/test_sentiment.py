import numpy as np
import pytest

from seqapps import config as config_lib
from seqapps.tasks.sentiment import SentimentConfig, SentimentTask

from ..conftest import TINY

# Under pytest-xdist (make test), the tests of the session's sentiment run share a worker.
pytestmark = pytest.mark.xdist_group("sentiment")


@pytest.fixture(scope="module")
def task_and_data():
    task = SentimentTask(config_lib.resolve(SentimentConfig, None, TINY))
    data = task.load_data()
    task.adapt(data)
    return task, data


def test_dataset_is_right_padded_int_batches(task_and_data):
    task, data = task_and_data
    ds = task.make_dataset(data, "val", batch_size=16, training=False)
    seen = 0
    for ids, labels in ds:
        ids = ids.numpy()
        assert ids.dtype == np.int32 and labels.dtype == np.int32
        lengths = (ids != 0).sum(axis=1)
        assert (lengths >= 1).all()  # no all-masked rows
        # Right padding: every non-zero id comes before every zero in its row.
        for row, n in zip(ids, lengths, strict=True):
            assert (row[:n] != 0).all() and (row[n:] == 0).all()
        seen += len(labels)
    assert seen == len(data.val)


def rows(batches, n: int) -> list[tuple[int, ...]]:
    """The first ``n`` examples of a stream of batches, each as its tuple of token ids."""
    out: list[tuple[int, ...]] = []
    for ids, _ in batches:
        out += [tuple(row[row > 0]) for row in ids.numpy()]
        if len(out) >= n:
            break
    return out[:n]


def neighbours(seq: list, reference: list) -> float:
    """Share of consecutive pairs of ``seq`` that are also consecutive in ``reference``."""
    pairs = set(zip(reference, reference[1:], strict=False))
    return sum(p in pairs for p in zip(seq, seq[1:], strict=False)) / (len(seq) - 1)


def test_training_dataset_repeats_and_shuffles(task_and_data):
    task, data = task_and_data
    n = len(data.train)
    in_order = rows(task.make_dataset(data, "train", batch_size=50, training=False), n)
    assert len(in_order) == n
    ds = task.make_dataset(data, "train", batch_size=50, training=True)
    stream = rows(ds, 3 * n)  # the stream repeats: three epochs' worth of examples
    assert len(stream) == 3 * n
    assert set(stream) <= set(in_order)  # only training examples
    # ... and nearly all of them: a rare length's bucket may still be filling.
    assert len(set(stream)) > 0.95 * len(set(in_order))
    # Shuffled: few neighbours of the input order are neighbours in the stream ...
    assert neighbours(stream[:n], in_order) < 0.2
    # ... and reshuffled every epoch: epoch 2 does not repeat epoch 1's order.
    assert neighbours(stream[n : 2 * n], stream[:n]) < 0.2
    # Seeded: the same task makes the same stream.
    again = task.make_dataset(data, "train", batch_size=50, training=True)
    assert rows(again, n) == stream[:n]


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("pooling", ["last", "max", "attention"])
def test_model_outputs_probabilities(task_and_data, cell, pooling):
    task, data = task_and_data
    task.cfg.cell, task.cfg.pooling = cell, pooling
    model = task.build_model()
    ids, _ = next(iter(task.make_dataset(data, "val", batch_size=8, training=False)))
    probs = model(ids).numpy()
    assert probs.shape == (len(ids), 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    kinds = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
    rnn = model.get_layer("rnn_1")  # bidirectional by default
    assert type(rnn).__name__ == "Bidirectional"
    assert type(rnn.forward_layer).__name__ == kinds[cell]
    # "last" reads the final state; the other poolings read every step.
    assert rnn.forward_layer.return_sequences == (pooling != "last")
    assert model.get_layer("classifier").units == 3


def test_balanced_class_weights(task_and_data):
    task, data = task_and_data
    weights = task.fit_args(data)["class_weight"]
    counts = np.bincount(data.train.labels)
    # Weighted counts are equal across classes.
    np.testing.assert_allclose([weights[k] * counts[k] for k in range(3)], len(data.train) / 3)


def test_assets_round_trip(task_and_data, tmp_path):
    task, _ = task_and_data
    task.save_assets(tmp_path)
    other = SentimentTask(task.cfg)
    other.load_assets(tmp_path)
    assert other.vectorizer.get_vocabulary() == task.vectorizer.get_vocabulary()
    assert other.label_names == task.label_names


def test_max_train_samples():
    task = SentimentTask(config_lib.resolve(SentimentConfig, None, ["max_train_samples=100"]))
    assert len(task.load_data().train) == 100


def test_word_dropout_only_in_training(task_and_data):
    task, data = task_and_data
    task.cfg.word_dropout = 0.5
    try:
        train_ids = next(iter(task.make_dataset(data, "train", batch_size=64, training=True)))[0]
        val_ids = next(iter(task.make_dataset(data, "val", batch_size=64, training=False)))[0]
    finally:
        task.cfg.word_dropout = 0.0
    real = train_ids.numpy() > 0
    share_unk = ((train_ids.numpy() == 1) & real).sum() / real.sum()
    assert 0.35 < share_unk < 0.75  # about half, plus the genuinely unknown words
    assert ((val_ids.numpy() == 1).sum() / (val_ids.numpy() > 0).sum()) < 0.3


def test_serving_groups_rows_by_length_and_keeps_their_order(task_and_data):
    """Issue #17: a served batch runs per length group; each row's probabilities equal
    those of the row served alone (no padding of the others leaks in), in input order."""
    import tensorflow as tf

    task, _ = task_and_data
    model = task.build_model()
    texts = [
        "good",
        " ".join(["great"] * 40),  # the last group (>= 32 tokens)
        "what a bad day for the match",
        " ".join(["meh"] * 12),
        "",
        "love it",
    ]
    batch = task.serve(model, tf.constant(texts))["probabilities"].numpy()
    assert batch.shape == (len(texts), len(task.label_names))
    for row, text in zip(batch, texts, strict=True):
        alone = task.serve(model, tf.constant([text]))["probabilities"].numpy()[0]
        np.testing.assert_allclose(row, alone, atol=1e-6)
    # Grouping changes nothing against one batch padded to its longest row.
    from seqapps.data.text import encode_texts

    padded = encode_texts(task.vectorizer, tf.constant(texts), task.cfg.max_length).to_tensor()
    np.testing.assert_allclose(batch, model(padded).numpy(), atol=1e-6)
    # As exported (a graph over a (None,) string input): no rows, and rows all in one group.
    graph = tf.function(
        lambda t: task.serve(model, t), input_signature=[tf.TensorSpec([None], tf.string)]
    )
    assert graph(tf.constant([], tf.string))["probabilities"].shape == (0, len(task.label_names))
    one_group = tf.constant(["good", "love it", "bad"])
    np.testing.assert_allclose(
        graph(one_group)["probabilities"].numpy(),
        task.serve(model, one_group)["probabilities"].numpy(),
        atol=1e-6,
    )
    np.testing.assert_allclose(graph(tf.constant(texts))["probabilities"].numpy(), batch, atol=1e-6)
