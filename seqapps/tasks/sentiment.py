"""Tweet sentiment: tweet text -> negative / neutral / positive (many-to-one).

Embedding -> recurrent stack -> softmax over the classes. Tokenisation is a
``TextVectorization`` with tweet-aware standardisation, adapted on the training split only;
the same layer runs in ``tf.data`` and inside the SavedModel, which takes raw strings.

Example:
    >>> from seqapps.tasks.sentiment import SentimentConfig, SentimentTask
    >>> task = SentimentTask(SentimentConfig(epochs=1, cell="gru"))
    >>> data = task.load_data()          # the packaged TweetEval sample
    >>> task.adapt(data)
    >>> model = task.build_model()
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar, Literal

import keras
import numpy as np
import tensorflow as tf

from seqapps.config import RecurrentConfig, TrainConfig
from seqapps.data.batching import bucket_boundaries, run_by_length
from seqapps.data.classification import (
    ClassificationData,
    LabeledRows,
    label_splits,
    load_delimited,
    load_split_dir,
    load_tfds,
    load_tweeteval,
    read_delimited,
)
from seqapps.data.io import SPLITS, read_lines, sample_dir
from seqapps.data.text import encode_texts, make_vectorizer, standardize_tweet
from seqapps.data_report import text_tokens
from seqapps.errors import ConfigError
from seqapps.layers.pooling import POOLINGS
from seqapps.layers.recurrent import recurrent_stack
from seqapps.metrics import (
    MacroF1,
    MacroRecall,
    classification_report,
    confusion_matrix,
    majority_baseline,
)
from seqapps.plots import plot_confusion_matrix
from seqapps.progress import progress_bar
from seqapps.space import Choice, FloatRange, IntRange
from seqapps.task import (
    Bucketing,
    DataSource,
    Task,
    read_json,
    write_json,
    write_lines,
)


@dataclasses.dataclass
class SentimentConfig(RecurrentConfig, TrainConfig):
    """Sentiment settings: the shared training and recurrent fields plus these.

    The defaults are the configuration selected on TweetEval's validation split
    (docs/BENCHMARKS.md): small and strongly regularised, because embeddings learnt from
    scratch on 48k tweets overfit within a few epochs.
    """

    # Overrides of shared defaults (see the note above).
    units: int = 64
    dropout: float = 0.5
    # 8 epochs with patience 2 on TweetEval's 48,152 tweets (753 steps of 64 each): the
    # benchmark's choice, in optimisation steps so a smaller set trains more epochs.
    train_steps: int | None = 6024
    patience_steps: int | None = 1506
    # Vocabulary size, counting padding (id 0) and [UNK] (id 1).
    max_tokens: int = 10000
    # Tokens kept per tweet; longer tweets are cut at the end.
    max_length: int = 64
    embedding_dim: int = 100
    # How the RNN outputs become one vector: the final state ("last"), or a masked pooling
    # over every step ("max", "mean", "attention").
    pooling: Literal["last", "max", "mean", "attention"] = "max"
    # Share of training tokens replaced by [UNK] each epoch: teaches the model to cope with
    # words it has not seen, which matter on a test set collected later than the training set.
    word_dropout: float = 0.0
    # "balanced" weights each training example's loss by n / (classes * n_class): inversely
    # to its class's frequency in the training split, so that every class adds the same
    # total weight to the loss and a rare class is not traded for a common one. It raises
    # the recall of rare classes (at some cost in their precision), which macro-averaged
    # scores reward; "none" trains on the plain loss. Validation metrics are not weighted.
    class_weight: Literal["none", "balanced"] = "balanced"
    search_space: ClassVar[dict[str, Any]] = {
        "embedding_dim": IntRange(32, 200, log=True),
        "word_dropout": FloatRange(0.0, 0.3),
        "pooling": Choice(("last", "max", "mean", "attention")),
        "train_steps": IntRange(3000, 9000),  # 4-12 TweetEval epochs
    }
    # Plain CSV/TSV files: column names (or 0-based numbers); val_fraction / test_fraction
    # say how much of such a file to hold out.
    text_column: str = "text"
    label_column: str = "label"
    # tfds:NAME data sets: the feature names of text and label.
    tfds_text_key: str = "text"
    tfds_label_key: str = "label"

    def check(self) -> None:
        """Raise :class:`ConfigError` for an out-of-range task setting."""
        if not 0.0 <= self.word_dropout < 1.0:
            raise ConfigError("word_dropout must be in [0, 1)")
        if self.max_tokens < 3 or self.max_length < 1 or self.embedding_dim < 1:
            raise ConfigError("max_tokens must be >= 3, max_length and embedding_dim >= 1")


class SentimentTask(Task[SentimentConfig, ClassificationData]):
    """Many-to-one text classification of tweets (TweetEval sentiment by default)."""

    name = "sentiment"
    config_class = SentimentConfig
    monitor = "val_macro_recall"  # TweetEval's official metric selects the epoch by default

    def validation_metrics(self) -> dict[str, Literal["min", "max"]]:
        """``val_loss``; ``val_accuracy``, ``val_macro_recall``, ``val_macro_f1`` (max)."""
        return {
            "val_loss": "min",
            "val_accuracy": "max",
            "val_macro_recall": "max",
            "val_macro_f1": "max",
        }

    def __init__(self, cfg: SentimentConfig) -> None:
        super().__init__(cfg)
        self.vectorizer: keras.layers.TextVectorization | None = None
        self.label_names: list[str] = []

    # --- data ------------------------------------------------------------------------
    def _load_tfds(self, name: str) -> ClassificationData:
        cfg = self.cfg
        return load_tfds(
            name,
            text_key=cfg.tfds_text_key,
            label_key=cfg.tfds_label_key,
            val_fraction=cfg.val_fraction,
            seed=cfg.seed,
        )

    def _load_delimited(self, path: str) -> ClassificationData:
        cfg = self.cfg
        return load_delimited(
            path,
            text_column=cfg.text_column,
            label_column=cfg.label_column,
            **cfg.split_args(),
        )

    def _load_dir(self, path: str) -> ClassificationData:
        """TweetEval (a folder with ``mapping.txt``), else one CSV/TSV file per split."""
        folder = Path(path)
        if (folder / "mapping.txt").is_file() or (folder / "sentiment").is_dir():
            return load_tweeteval(folder)
        return load_split_dir(
            folder, text_column=self.cfg.text_column, label_column=self.cfg.label_column
        )

    split_files_help = "CSV/TSV files (paths or globs)"

    def read_split(self, paths: list[str]) -> LabeledRows:
        """Rows of CSV/TSV files, concatenated (``train=`` / ``val=`` / ``test=``)."""
        cfg = self.cfg
        return read_delimited(paths, text_column=cfg.text_column, label_column=cfg.label_column)

    def join_splits(self, parts: dict[str, LabeledRows]) -> ClassificationData:
        """Label names from every split's labels (negative/neutral/positive keep order)."""
        return label_splits(parts)

    sources = (
        DataSource("sample", lambda task, _: load_tweeteval(sample_dir("sentiment")), "'sample'"),
        DataSource("dir", _load_dir, "a TweetEval directory (or one CSV/TSV per split)"),
        DataSource("file", _load_delimited, "a CSV/TSV file"),
        DataSource("tfds", _load_tfds, "tfds:NAME"),
    )

    def adapt(self, data: ClassificationData) -> None:
        """Build the vocabulary from the training tweets only."""
        self.label_names = list(data.label_names)
        self.vectorizer = make_vectorizer(self.cfg.max_tokens)
        self.vectorizer.adapt(tf.data.Dataset.from_tensor_slices(data.train.texts).batch(1024))

    def report_labels(self, data: ClassificationData, split: str) -> list[str]:
        """The class name of each tweet."""
        return [data.label_names[i] for i in data.split(split).labels]

    def report_vocabulary(self) -> dict[str, set[str]]:
        """The fitted vocabulary (padding and [UNK] left out)."""
        return {"text": set(self.vectorizer.get_vocabulary()[2:])}

    def report_tokens(self, data: ClassificationData, split: str) -> dict[str, list[list[str]]]:
        """Tweet tokens after the tweet standardisation."""
        return {"text": self._tokens(data.split(split).texts)}

    def _tokens(self, texts: Any) -> list[list[str]]:
        """``texts`` standardised and split, computed once for the data report.

        The report reads each split's tokens twice (coverage, then the cut tweets), 2.6 s a
        time on TweetEval; :meth:`dropped_items`, the last reader, empties the cache.
        """
        cache = self.__dict__.setdefault("_token_cache", {})
        hit = cache.get(id(texts))
        if hit is None or hit[0] is not texts:  # the object itself is kept: ids are reused
            hit = cache[id(texts)] = (texts, text_tokens(texts, standardize_tweet))
        return hit[1]

    def dropped_items(self, data: ClassificationData) -> list[dict]:
        """Tweets longer than ``max_length`` tokens, cut at the end (in every split)."""
        n = self.cfg.max_length
        out = []
        for split in SPLITS:
            tokens = self._tokens(data.split(split).texts)
            cut = sum(len(t) > n for t in tokens)
            out.append({"split": split, "count": cut, "reason": f"tweets cut to {n} tokens"})
        self.__dict__.pop("_token_cache", None)  # the report is done with them
        return out

    def save_assets(self, directory: Path) -> None:
        """Write ``vocabulary.txt`` and ``labels.json``."""
        write_lines(directory, "vocabulary.txt", self.vectorizer.get_vocabulary())
        write_json(directory, "labels.json", self.label_names)

    def load_assets(self, directory: Path) -> None:
        """Restore the vocabulary and label names written by :meth:`save_assets`."""
        vocab = read_lines(directory / "vocabulary.txt")
        self.vectorizer = make_vectorizer(self.cfg.max_tokens, vocabulary=vocab)
        self.label_names = read_json(directory, "labels.json")

    def make_dataset(
        self, data: ClassificationData, split: str, *, batch_size: int, training: bool
    ) -> tf.data.Dataset:
        """Batches of ``(token_ids (batch, time) int32, labels (batch,) int32)``.

        Tokenised once and cached; when training, reshuffled every epoch and repeated
        (the trainer sets ``steps_per_epoch``). Batches are bucketed by length and padded on
        the right.
        """
        part = data.split(split)
        ds = tf.data.Dataset.from_tensor_slices((part.texts, part.labels))
        # Tokenise in large vectorised batches, then go back to single examples to bucket.
        ds = ds.batch(1024).map(self._encode_batch, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.unbatch().map(lambda ids, length, label: (ids[:length], label))
        return self.batches(
            ds,
            len(part),
            batch_size=batch_size,
            training=training,
            bucketing=Bucketing(lambda ids, label: tf.shape(ids)[0], self.cfg.max_length),
            augment=self._drop_words if self.cfg.word_dropout > 0 else None,
        )

    def _drop_words(self, ids: tf.Tensor, label: tf.Tensor):
        """Replace a random ``word_dropout`` share of the ids ``(time,)`` by [UNK] (id 1)."""
        drop = tf.random.uniform(tf.shape(ids)) < self.cfg.word_dropout
        return tf.where(drop, tf.ones_like(ids), ids), label

    def _encode_batch(self, texts: tf.Tensor, labels: tf.Tensor):
        """``(batch,)`` strings -> padded ids ``(batch, time)``, lengths, labels."""
        ids = encode_texts(self.vectorizer, texts, self.cfg.max_length)
        # tf.data cannot unbatch ragged rows into dense elements; carry lengths instead.
        return ids.to_tensor(), tf.cast(ids.row_lengths(), tf.int32), labels

    # --- model -----------------------------------------------------------------------
    def build_model(self) -> keras.Model:
        """Embedding -> recurrent stack -> softmax; inputs are right-padded token ids."""
        cfg = self.cfg
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        x = keras.layers.Embedding(
            self.vectorizer.vocabulary_size(), cfg.embedding_dim, mask_zero=True, name="embedding"
        )(token_ids)  # (batch, time, embedding_dim)
        x = keras.layers.Dropout(cfg.dropout, name="embedding_dropout")(x)
        x = recurrent_stack(
            x, **cfg.stack_args(), return_sequences=cfg.pooling != "last", name="rnn"
        )  # (batch, d) for "last", else (batch, time, d); d = units or 2 * units
        if cfg.pooling != "last":
            x = POOLINGS[cfg.pooling](name="pooling")(x)  # (batch, d)
        # float32 output keeps softmax and loss stable under mixed precision.
        probs = keras.layers.Dense(
            len(self.label_names), activation="softmax", dtype="float32", name="classifier"
        )(x)
        return keras.Model(token_ids, probs, name=f"sentiment_{cfg.cell}")

    def compile_args(self, model: keras.Model) -> dict:
        """Sparse cross-entropy; accuracy, macro recall and macro F1 as metrics."""
        return {
            "loss": keras.losses.SparseCategoricalCrossentropy(),
            "metrics": [
                keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                MacroRecall(len(self.label_names)),
                MacroF1(len(self.label_names)),
            ],
        }

    def fit_args(self, data: ClassificationData) -> dict:
        """``class_weight`` by inverse training frequency when ``class_weight=balanced``."""
        if self.cfg.class_weight != "balanced":
            return {}
        counts = np.bincount(data.train.labels, minlength=len(self.label_names))
        weights = len(data.train.labels) / (len(counts) * np.maximum(counts, 1))
        return {"class_weight": {i: float(w) for i, w in enumerate(weights)}}

    # --- evaluation and serving ------------------------------------------------------
    def evaluate(
        self, model: keras.Model, data: ClassificationData, split: str, out_dir: Path
    ) -> dict[str, float]:
        """Macro recall, macro F1, accuracy, per-class scores and the majority baseline."""
        ds = self.make_dataset(data, split, batch_size=256, training=False)
        bar = progress_bar(self.num_examples(data, split), unit="tweet")
        y_true, y_pred = [], []
        for ids, labels in ds:
            y_pred.append(np.argmax(model(ids, training=False), axis=-1))
            y_true.append(labels.numpy())
            bar.add(len(labels))
        cm = confusion_matrix(np.concatenate(y_true), np.concatenate(y_pred), len(self.label_names))
        metrics = self._named(classification_report(cm))
        base = majority_baseline(data.train.labels, data.split(split).labels, len(self.label_names))
        for key in ("macro_recall", "macro_f1", "accuracy"):
            metrics[f"majority_baseline_{key}"] = base[key]
        metrics["examples"] = float(cm.sum())
        plot_confusion_matrix(
            cm,
            self.label_names,
            out_dir / f"confusion_matrix_{split}.png",
            title=f"{split}: macro recall {metrics['macro_recall']:.3f}",
        )
        return metrics

    def _named(self, report: dict[str, float]) -> dict[str, float]:
        """Replace class indices in per-class keys by label names (recall_0 -> recall_negative)."""
        out = {}
        for key, value in report.items():
            stem, _, index = key.rpartition("_")
            out[f"{stem}_{self.label_names[int(index)]}" if index.isdigit() else key] = value
        return out

    def serve(self, model: keras.Model, texts: tf.Tensor) -> dict[str, tf.Tensor]:
        """``texts (batch,) string -> {label (batch,) string, probabilities (batch, classes)}``."""
        ids = encode_texts(self.vectorizer, texts, self.cfg.max_length)
        # Rows grouped by length, each group right padded to its own longest: a batch does
        # not run every tweet for as many steps as its longest one.
        probs = run_by_length(
            lambda padded: model(padded, training=False),
            ids,
            bucket_boundaries(self.cfg.max_length),
            tf.TensorSpec([len(self.label_names)], tf.float32),
        )  # (batch, classes)
        label = tf.gather(tf.constant(self.label_names), tf.argmax(probs, axis=-1))
        return {"label": label, "probabilities": probs}

    def resources(self, model: keras.Model) -> list:
        """The vectorizer: its lookup table must travel with the SavedModel."""
        return [self.vectorizer]

    card_example = "what a great day for the final"

    def card_limits(self) -> list[str]:
        """Labels, vocabulary and length limits, besides the base class's."""
        cfg = self.cfg
        return [
            f"Assigns one of {', '.join(self.label_names)} to a text, as the training data "
            "labelled them; it has no 'none of these' answer.",
            f"Words outside the {cfg.max_tokens:,}-entry training vocabulary read as [UNK], "
            f"and only the first {cfg.max_length} tokens of a text are read.",
            "The probabilities are the softmax's, not calibrated: use them to rank, not as "
            "frequencies.",
            *super().card_limits(),
        ]

    def format_predictions(self, inputs: list[str], outputs: dict[str, tf.Tensor]) -> list[str]:
        """``label<TAB>negative=0.03 neutral=0.12 positive=0.85<TAB>text`` per tweet."""
        lines = []
        for text, label, probs in zip(
            inputs, outputs["label"].numpy(), outputs["probabilities"].numpy(), strict=True
        ):
            scores = " ".join(f"{n}={p:.3f}" for n, p in zip(self.label_names, probs, strict=True))
            lines.append(f"{label.decode()}\t{scores}\t{text}")
        return lines
