"""The translation task on the packaged Multi30k sample: data, loss, training, export."""

import csv
import json

import numpy as np
import pytest
import tensorflow as tf

from seqapps import config as config_lib
from seqapps.errors import ConfigError, DataError
from seqapps.export import predict
from seqapps.layers.decoding import beam_search, greedy_decode
from seqapps.layers.seq2seq import attentive_step_fn
from seqapps.metrics import teacher_forced_perplexity
from seqapps.runs import evaluate_run, load_run
from seqapps.tasks.translation import TranslationConfig, TranslationTask
from seqapps.trainer import train

from ..conftest import png_is_a_drawing

# Under pytest-xdist (make test), the tests of the session's translation run share a worker.
pytestmark = pytest.mark.xdist_group("translation")

TINY = ["cell=gru", "units=16", "embedding_dim=16", "batch_size=32", "epochs=2", "beam_width=3"]
SENTENCES = ["Ein Mann fährt Fahrrad.", "", "Zwei Hunde spielen im Schnee."]


def make_task(*overrides: str) -> TranslationTask:
    return TranslationTask(config_lib.resolve(TranslationConfig, None, [*TINY, *overrides]))


@pytest.fixture(scope="module")
def task_and_data():
    task = make_task()
    data = task.load_data()
    task.adapt(data)
    return task, data


def test_sample_and_vocabularies(task_and_data):
    task, data = task_and_data
    assert (len(data.train), len(data.val), len(data.test)) == (3000, 200, 200)
    assert data.train.sources[1].startswith("Mehrere Männer mit Schutzhelmen")
    assert task.target_words[:4] == ["", "[UNK]", "[start]", "[end]"]
    assert "man" in task.target_words and "mann" in task.source_vectorizer.get_vocabulary()
    assert task.dropped_long == 0


def test_batches_are_shifted_and_right_padded(task_and_data):
    task, data = task_and_data
    seen = 0
    for x, y in task.make_dataset(data, "val", batch_size=16, training=False):
        source, target_in, target_out = x["source"].numpy(), x["target_in"].numpy(), y.numpy()
        assert target_in.shape == target_out.shape
        for s, ti, to in zip(source, target_in, target_out, strict=True):
            n, m = (s > 0).sum(), (to > 0).sum()
            assert (s[:n] > 0).all() and (s[n:] == 0).all()
            assert ti[0] == 2 and to[m - 1] == 3  # [start] first in, [end] last out
            np.testing.assert_array_equal(ti[1:m], to[: m - 1])  # shifted by one
            assert (to[m:] == 0).all() and (ti[m:] == 0).all()
        seen += len(source)
    assert seen == len(data.val)


def test_tokeniser_eager_equals_dataset_map(task_and_data):
    from seqapps.data.text import encode_texts

    task, data = task_and_data
    texts = tf.constant(data.val.sources[:50])
    eager = encode_texts(task.source_vectorizer, texts, 50).to_tensor().numpy()
    mapped = tf.data.Dataset.from_tensors(texts).map(
        lambda t: encode_texts(task.source_vectorizer, t, 50).to_tensor()
    )
    np.testing.assert_array_equal(next(iter(mapped)).numpy(), eager)
    ids = tf.constant([[5, 6, 3, 0], [7, 3, 0, 0]])
    words = task.to_text(ids).numpy().tolist()
    assert words == next(iter(tf.data.Dataset.from_tensors(ids).map(task.to_text))).numpy().tolist()
    assert "[end]" not in words[0].decode()


def test_long_pairs_are_dropped_from_training_only(capsys):
    task = make_task("max_length=12")
    data = task.load_data()
    task.adapt(data)
    assert task.dropped_long > 100
    assert f"{task.dropped_long} of 3000 training pairs" in capsys.readouterr().out
    train_pairs = sum(1 for _ in task._pairs(data.train, training=True))
    assert train_pairs == 3000 - task.dropped_long
    test_ds = task.make_dataset(data, "test", batch_size=64, training=False)
    lengths = [y.shape[1] for _, y in test_ds]
    assert sum(len(y) for _, y in test_ds) == 200 and max(lengths) <= 12  # cut, not dropped


def test_loss_averages_over_real_tokens_only(task_and_data):
    task, data = task_and_data
    model = task.build_model()
    loss_fn = task.compile_args(model)["loss"]
    x, y = next(iter(task.make_dataset(data, "val", batch_size=8, training=False)))
    logits = model(x)
    batch_loss = float(loss_fn(y, logits))
    sums, counts = 0.0, 0
    for i in range(len(y)):
        n = int((y[i] > 0).numpy().sum())
        one = {k: v[i : i + 1, : max(n, int((v[i] > 0).numpy().sum()))] for k, v in x.items()}
        single = float(loss_fn(y[i : i + 1, :n], model(one)[:, :n]))
        sums, counts = sums + single * n, counts + n
    assert batch_loss == pytest.approx(sums / counts, rel=1e-4)


def test_config_checks():
    with pytest.raises(ConfigError, match="must differ"):
        make_task("source_lang=en", "target_lang=en")
    with pytest.raises(ConfigError, match="beam_width"):
        make_task("beam_width=0")


def test_reads_tsv_pairs_and_aligned_files(tmp_path, capsys):
    lines = [f"Satz {i} hier.\tSentence {i} here.\tCC-BY attribution" for i in range(40)]
    (tmp_path / "pairs.tsv").write_text("\n".join([*lines, ""]) + "\n\n", encoding="utf-8")
    data = make_task(f"data={tmp_path / 'pairs.tsv'}").load_data()
    assert len(data.train) + len(data.val) + len(data.test) == 40
    assert "skipped 2 pairs blank on both sides" in capsys.readouterr().out
    assert data.train.sources[0].startswith("Satz") and data.train.targets[0].startswith("Sentence")
    (tmp_path / "corpus.de").write_text("Hallo Welt.\nGuten Tag.\n" * 10, encoding="utf-8")
    (tmp_path / "corpus.en").write_text("Hello world.\nGood day.\n" * 10, encoding="utf-8")
    data = make_task(f"data={tmp_path / 'corpus'}").load_data()
    assert sum(len(data.split(s)) for s in ("train", "val", "test")) == 20
    with pytest.raises(DataError, match="aligned files P.de / P.en"):
        make_task(f"data={tmp_path / 'nothing'}").load_data()


@pytest.fixture
def run_dir(runs):
    """The session's tiny translation run (one epoch, 128 pairs, beam 2); read only."""
    return runs.get("translation").run_dir


def test_val_perplexity_in_history_is_the_best_models_perplexity(run_dir):
    # Perplexity is compiled: the best epoch's val_perplexity is the best model's perplexity
    # per real validation token (the loss averages per batch, so it is not exp(val_loss)).
    with (run_dir / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    best = min(rows, key=lambda r: float(r["val_loss"]))
    task, model = load_run(run_dir)
    val = task.make_dataset(task.load_data(), "val", batch_size=64, training=False)
    assert float(best["val_perplexity"]) == pytest.approx(
        teacher_forced_perplexity(model, val), rel=1e-4
    )


def test_evaluates_into_metrics_report_and_attention_plot(runs, run_dir):
    metrics = runs.metrics("translation")
    for key in ("bleu", "chrf", "bleu_greedy", "chrf_greedy"):
        assert 0.0 <= metrics[key] <= 100.0
    assert metrics["perplexity"] > 1.0
    report = (run_dir / "translation_report_test.md").read_text()
    assert (
        "| beam (width 2) |" in report and "- source: Ein Mann mit einem orangefarbenen" in report
    )
    png_is_a_drawing(run_dir / "attention_test.png")
    assert json.loads((run_dir / "metrics.json").read_text())["bleu"] == metrics["bleu"]


@pytest.mark.slow
def test_learns_in_four_small_epochs(tmp_path):
    # Small, but big enough to get past the unigram stage ("a a a a ...") in 4 epochs.
    overrides = ["units=64", "embedding_dim=64", "dropout=0", "learning_rate=0.003"]
    train(make_task(*overrides, "epochs=4", "max_train_samples=1500"), tmp_path)
    with (tmp_path / "history.csv").open() as f:
        val_loss = [float(r["val_loss"]) for r in csv.DictReader(f)]
    assert val_loss[-1] < val_loss[0] - 0.3  # it learns something in 4 small epochs
    metrics = evaluate_run(tmp_path, "test")
    # An untrained "A a a a ..." scores chrF 1.9 here.
    assert metrics["chrf"] > 4.0 and 1.0 < metrics["perplexity"] < 200


@pytest.mark.slow  # over 10 s on 2 cores; kept in make test-all
def test_export_round_trip_on_raw_strings(runs, run_dir):
    task, model = load_run(run_dir)
    path = runs.export("translation")
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    got = [t.decode() for t in serve(sentences=tf.constant(SENTENCES))["translations"].numpy()]
    assert got == task.translate(model, SENTENCES, beam_width=task.cfg.beam_width)
    assert all(t and t[0] == t[0].upper() for t in got)  # capitalised, even for ""
    assert predict(path, SENTENCES[:1]) == got[:1]


def test_beam_of_width_one_equals_greedy_on_the_trained_decoder(run_dir):
    task, model = load_run(run_dir)
    source = tf.constant([[5, 6, 7, 8], [9, 10, 0, 0], [11, 0, 0, 0]])
    common = {"batch_size": 3, "start_id": 2, "end_id": 3, "max_length": 20}
    outputs, summary = model.get_layer("encoder")(source)
    step_fn, state = attentive_step_fn(
        model.get_layer("decoder"), outputs, source != 0, summary, start_id=2, end_id=3
    )
    greedy, lengths = greedy_decode(step_fn, state, **common)
    beam, beam_lengths, _ = beam_search(step_fn, state, **common, beam_width=1, alpha=0.0)
    np.testing.assert_array_equal(beam_lengths, lengths)
    np.testing.assert_array_equal(beam, greedy)
    wide, _ = task.decode(model, source, beam_width=4)
    assert wide.shape[0] == 3 and (wide[:, 0] != 3).numpy().all()  # never empty
