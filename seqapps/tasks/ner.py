"""Named-entity recognition: sentence -> one IOB2 tag per token (many-to-many, aligned).

Each token is a word embedding (lower-cased vocabulary, digits folded), a case-class
embedding and character features (char CNN or char BiRNN); a bidirectional recurrent stack
reads the sentence, and a linear-chain CRF (or a per-token softmax) picks the tags. While
training, words seen once are read as the unknown word half of the time (Lample et al.
2016), so that the unknown-word vector is trained for test-time unknowns, and any word with
probability ``word_dropout``, so that the model learns to tag from characters and context:
46 % of CoNLL-2003's test entities never occur in its training split (32 % of its
validation entities).

Entity-level F1 with conlleval semantics selects the epoch (``val_f1``) and is the
reported metric. The SavedModel takes raw sentences, splits them on whitespace in the
graph, and returns tokens, tags and lengths.

Example:
    >>> from seqapps.tasks.ner import NerConfig, NerTask
    >>> task = NerTask(NerConfig(epochs=1, cell="gru"))
    >>> data = task.load_data()          # the packaged CoNLL-2003 sample
    >>> task.adapt(data)
    >>> model = task.build_model()
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, ClassVar, Literal

import keras
import numpy as np
import tensorflow as tf

from seqapps.config import RecurrentConfig, TrainConfig
from seqapps.data.conll import (
    NerData,
    TaggedSentences,
    entity_type,
    load_conll_dir,
    load_conll_file,
    load_tfds_conll,
    read_conll_files,
)
from seqapps.data.io import SPLITS, sample_dir
from seqapps.data.text import split_words
from seqapps.data.tokens import CASES, TokenEncoder, normalize_words
from seqapps.errors import ConfigError
from seqapps.layers.chars import CHAR_ENCODERS
from seqapps.layers.crf import CRF, CRFLoss
from seqapps.layers.recurrent import recurrent_stack
from seqapps.metrics import EntityF1, confusion_matrix, entity_scores, entity_spans
from seqapps.plots import plot_confusion_matrix
from seqapps.progress import progress_bar
from seqapps.space import Choice, FloatRange, IntRange
from seqapps.task import Bucketing, DataSource, Task, read_json, write_json

# Bucket edges only: sentences are never cut (CoNLL-2003's longest has 124 tokens).
_BUCKET_LENGTH = 128


@dataclasses.dataclass
class NerConfig(RecurrentConfig, TrainConfig):
    """NER settings: the shared training and recurrent fields plus these.

    The defaults are the configuration measured on CoNLL-2003 in docs/BENCHMARKS.md.
    """

    # Overrides of shared defaults.
    units: int = 100
    dropout: float = 0.5
    batch_size: int = 32
    # 30 epochs with patience 5 on CoNLL-2003's 14,041 sentences (439 steps of 32 each): the
    # benchmark's choice, in optimisation steps so that a 3,000-sentence set trains 141
    # epochs (patience 24), not 30 (docs/BENCHMARKS.md, "Defaults that scale").
    train_steps: int | None = 13170
    patience_steps: int | None = 2195
    clipnorm: float | None = 5.0
    # Tag scheme of the input files: iob1, iob2, or auto (IOB1 if some entity starts with
    # I-). Tags are converted to IOB2 inside.
    tag_scheme: Literal["auto", "iob1", "iob2"] = "auto"
    # Output layer: a linear-chain CRF (scores whole tag paths) or a per-token softmax.
    head: Literal["crf", "softmax"] = "crf"
    # Character features of each token: a CNN, a bidirectional RNN (of `cell`), or none.
    char_encoder: Literal["cnn", "rnn", "none"] = "cnn"
    char_embedding_dim: int = 25
    # Features per token from the character encoder (the RNN uses half per direction).
    char_features: int = 50
    # Characters kept per token.
    max_word_length: int = 20
    word_embedding_dim: int = 100
    # Size of the case-class embedding (lower, upper, title, ...); 0 = no case feature.
    case_embedding_dim: int = 8
    # Word vocabulary cap (None = every training word).
    max_words: int | None = None
    # Probability that a word seen once in training is read as unknown, per occurrence.
    unk_replace: float = 0.5
    # Probability that any training word is read as unknown: leans the model on characters
    # and context, which is all it has for the many test entities never seen in training.
    word_dropout: float = 0.3
    search_space: ClassVar[dict[str, Any]] = {
        "batch_size": Choice((16, 32, 64)),
        "word_embedding_dim": IntRange(50, 200, log=True),
        "char_encoder": Choice(("cnn", "rnn", "none")),
        "char_embedding_dim": IntRange(16, 50),
        "head": Choice(("crf", "softmax")),
        "word_dropout": FloatRange(0.0, 0.4),
        "train_steps": IntRange(4400, 17600),  # 10-40 CoNLL-2003 epochs
    }
    # tfds:NAME data sets: the feature that holds the tags.
    tfds_tag_key: str = "ner"

    def check(self) -> None:
        """Raise :class:`ConfigError` for an out-of-range task setting."""
        if not (0.0 <= self.unk_replace <= 1.0 and 0.0 <= self.word_dropout < 1.0):
            raise ConfigError("unk_replace must be in [0, 1] and word_dropout in [0, 1)")
        if min(self.char_embedding_dim, self.char_features, self.word_embedding_dim) < 1:
            raise ConfigError("char_embedding_dim, char_features, word_embedding_dim must be >= 1")
        if self.char_encoder == "rnn" and self.char_features % 2:
            raise ConfigError("char_encoder=rnn needs an even char_features (half per direction)")
        if self.case_embedding_dim < 0 or self.max_word_length < 1:
            raise ConfigError("case_embedding_dim must be >= 0 and max_word_length >= 1")


class NerTask(Task[NerConfig, NerData]):
    """Aligned sequence tagging of CoNLL-style named entities (CoNLL-2003 by default)."""

    name = "ner"
    config_class = NerConfig
    monitor = "val_f1"  # entity-level F1, as conlleval scores it

    def validation_metrics(self) -> dict[str, Literal["min", "max"]]:
        """``val_loss`` (CRF negative log-likelihood or cross-entropy) and ``val_f1`` (max)."""
        return {"val_loss": "min", "val_f1": "max"}

    count_keys = ("examples", "tokens")

    def __init__(self, cfg: NerConfig) -> None:
        super().__init__(cfg)
        self.encoder: TokenEncoder | None = None
        self.tag_names: list[str] = []

    # --- data ------------------------------------------------------------------------
    def _load_file(self, path: str) -> NerData:
        cfg = self.cfg
        return load_conll_file(
            path,
            cfg.tag_scheme,
            **cfg.split_args(),
        )

    split_files_help = "CoNLL files (paths or globs)"

    def read_split(self, paths: list[str]) -> TaggedSentences:
        """The sentences of CoNLL files, concatenated (``train=`` / ``val=`` / ``test=``)."""
        return read_conll_files(paths, self.cfg.tag_scheme)

    def join_splits(self, parts: dict[str, TaggedSentences]) -> NerData:
        """:class:`NerData` of the three splits."""
        return NerData(**parts)

    sources = (
        DataSource(
            "sample",
            lambda task, _: load_conll_dir(sample_dir("ner"), task.cfg.tag_scheme),
            "'sample'",
        ),
        DataSource(
            "dir", lambda task, path: load_conll_dir(path, task.cfg.tag_scheme), "a CoNLL directory"
        ),
        DataSource("file", _load_file, "a CoNLL file"),
        DataSource(
            "tfds", lambda task, name: load_tfds_conll(name, task.cfg.tfds_tag_key), "tfds:NAME"
        ),
    )

    def adapt(self, data: NerData) -> None:
        """Fit the word and character vocabularies and the tag set on the training split."""
        cfg = self.cfg
        self.encoder = TokenEncoder.fit(
            data.train.tokens, max_words=cfg.max_words, max_word_length=cfg.max_word_length
        )
        tags = {t for sentence in data.train.tags for t in sentence}
        # "O" first: it is what a tag unknown to the model maps to.
        self.tag_names = ["O", *sorted(tags - {"O"}, key=lambda t: (entity_type(t), t))]

    def report_labels(self, data: NerData, split: str) -> list[str]:
        """The type of each entity (conlleval spans): counts are entities, not tokens."""
        return [kind for tags in data.split(split).tags for _, _, kind in entity_spans(tags)]

    def report_vocabulary(self) -> dict[str, set[str]]:
        """The word vocabulary (lower-cased, digits folded to 0)."""
        return {"words": set(self.encoder.words)}

    def report_tokens(self, data: NerData, split: str) -> dict[str, list[list[str]]]:
        """Each sentence's words in the vocabulary's form."""
        sentences = data.split(split).tokens
        flat = [t for s in sentences for t in s]
        if not flat:
            return {"words": [[] for _ in sentences]}
        words = [w.decode("utf-8") for w in normalize_words(tf.constant(flat)).numpy()]
        out, at = [], 0
        for s in sentences:
            out.append(words[at : at + len(s)])
            at += len(s)
        return {"words": out}

    def dropped_items(self, data: NerData) -> list[dict]:
        """Sentences are never cut; words longer than ``max_word_length`` lose characters."""
        n = self.cfg.max_word_length
        return [
            {
                "split": split,
                "count": sum(len(t) > n for s in data.split(split).tokens for t in s),
                "reason": f"words whose characters are cut at max_word_length={n}",
            }
            for split in SPLITS
        ]

    def save_assets(self, directory: Path) -> None:
        """Write ``encoder.json`` (vocabularies) and ``tags.json``."""
        write_json(directory, "encoder.json", self.encoder.to_dict())
        write_json(directory, "tags.json", self.tag_names)

    def load_assets(self, directory: Path) -> None:
        """Restore what :meth:`save_assets` wrote."""
        self.encoder = TokenEncoder.from_dict(read_json(directory, "encoder.json"))
        self.tag_names = read_json(directory, "tags.json")

    @property
    def feature_keys(self) -> list[str]:
        """The model's inputs, as keys of the encoder's feature dict."""
        keys = ["words"]
        if self.cfg.case_embedding_dim:
            keys.append("case")
        if self.cfg.char_encoder != "none":
            keys.append("chars")
        return keys

    def _sentences(self, part: TaggedSentences) -> tf.data.Dataset:
        """Unbatched ``(features, tag ids)`` per sentence, in order, encoded once."""
        lengths = [len(s) for s in part.tokens]
        index = {t: i for i, t in enumerate(self.tag_names)}
        tokens = tf.RaggedTensor.from_row_lengths(
            tf.constant([t for s in part.tokens for t in s] or [""])[: sum(lengths)], lengths
        )
        # A tag the training split never had cannot be predicted; it reads as O (id 0).
        tags = tf.RaggedTensor.from_row_lengths(
            tf.constant([index.get(t, 0) for s in part.tags for t in s], tf.int32), lengths
        )
        keys = self.feature_keys

        def encode(tokens: tf.RaggedTensor, tags: tf.RaggedTensor):
            features = self.encoder(tokens)
            return {k: features[k] for k in keys}, tags.to_tensor(-1), tokens.row_lengths()

        def trim(features: dict, tags: tf.Tensor, length: tf.Tensor):
            return {k: v[:length] for k, v in features.items()}, tags[:length]

        ds = tf.data.Dataset.from_tensor_slices((tokens, tags)).ragged_batch(1024)
        return ds.map(encode, num_parallel_calls=tf.data.AUTOTUNE).unbatch().map(trim)

    @property
    def _bucketing(self) -> Bucketing:
        """Right padding: features with 0, tags with -1 (the mask of loss and metric)."""
        pad = ({k: 0 for k in self.feature_keys}, -1)
        return Bucketing(lambda features, tags: tf.shape(tags)[0], _BUCKET_LENGTH, pad)

    def make_dataset(
        self, data: NerData, split: str, *, batch_size: int, training: bool
    ) -> tf.data.Dataset:
        """Batches of ``(features, tags)``, bucketed by length.

        ``features``: ``words`` / ``case`` ``(batch, time)`` and ``chars``
        ``(batch, time, chars)`` int32 (those the config uses); ``tags`` ``(batch, time)``
        int32 padded with -1. When training: reshuffled each epoch, repeated, singleton
        words swapped for unknown with probability ``unk_replace`` and any word with
        probability ``word_dropout``.
        """
        part = data.split(split)
        augment = self.cfg.unk_replace > 0 or self.cfg.word_dropout > 0
        return self.batches(
            self._sentences(part),
            len(part),
            batch_size=batch_size,
            training=training,
            bucketing=self._bucketing,
            augment=self._unknown_words if augment else None,
        )

    def _unknown_words(self, features: dict, tags: tf.Tensor):
        """Swap words for unknown (id 1): singletons (ids >= singleton_start) and any word."""
        words = features["words"]
        draw = tf.random.uniform(tf.shape(words))
        singleton = words >= self.encoder.singleton_start
        swap = (singleton & (draw < self.cfg.unk_replace)) | (
            tf.random.uniform(tf.shape(words)) < self.cfg.word_dropout
        )
        return {**features, "words": tf.where(swap, tf.ones_like(words), words)}, tags

    # --- model -----------------------------------------------------------------------
    def build_model(self) -> keras.Model:
        """Word + case + character features -> recurrent stack -> CRF or softmax."""
        cfg = self.cfg
        inputs = {
            "words": keras.Input((None,), dtype="int32", name="words"),
            "case": keras.Input((None,), dtype="int32", name="case"),
            "chars": keras.Input((None, None), dtype="int32", name="chars"),
        }
        inputs = {k: inputs[k] for k in self.feature_keys}
        # mask_zero: padding (word id 0) masks the recurrent layers and the CRF.
        parts = [
            keras.layers.Embedding(
                self.encoder.word_vocab_size,
                cfg.word_embedding_dim,
                mask_zero=True,
                name="word_embedding",
            )(inputs["words"])
        ]  # (batch, time, word_embedding_dim)
        if "case" in inputs:
            parts.append(
                keras.layers.Embedding(
                    len(CASES) + 1, cfg.case_embedding_dim, name="case_embedding"
                )(inputs["case"])
            )
        if "chars" in inputs:
            size = cfg.char_features
            kwargs = {"filters": size} if cfg.char_encoder == "cnn" else {"units": size // 2}
            if cfg.char_encoder == "rnn":
                kwargs["cell"] = cfg.cell
            parts.append(
                CHAR_ENCODERS[cfg.char_encoder](
                    self.encoder.char_vocab_size,
                    embedding_dim=cfg.char_embedding_dim,
                    name="char_encoder",
                    **kwargs,
                )(inputs["chars"])
            )  # (batch, time, char_features)
        x = keras.layers.Concatenate(name="token_features")(parts) if len(parts) > 1 else parts[0]
        x = keras.layers.Dropout(cfg.dropout, name="feature_dropout")(x)
        x = recurrent_stack(x, **cfg.stack_args(), return_sequences=True, name="rnn")
        x = keras.layers.Dropout(cfg.dropout, name="rnn_dropout")(x)  # (batch, time, d)
        num_tags = len(self.tag_names)
        if cfg.head == "crf":
            potentials = keras.layers.Dense(num_tags, name="potentials")(x)
            out = CRF(num_tags, name="crf")(potentials)  # (batch, time, tags), float32
        else:
            out = keras.layers.Dense(
                num_tags, activation="softmax", dtype="float32", name="classifier"
            )(x)
        return keras.Model(inputs, out, name=f"ner_{cfg.cell}_{cfg.head}")

    def decoder(self, model: keras.Model):
        """``(scores, mask) -> tag ids``: the CRF's Viterbi path, or the per-token argmax."""
        if self.cfg.head == "crf":
            return model.get_layer("crf").decode
        return lambda scores, mask: tf.where(mask, tf.argmax(scores, -1, output_type=tf.int32), 0)

    def compile_args(self, model: keras.Model) -> dict:
        """CRF negative log-likelihood or masked cross-entropy; entity F1 as the metric."""
        if self.cfg.head == "crf":
            loss = CRFLoss(model.get_layer("crf"))
        else:
            loss = keras.losses.SparseCategoricalCrossentropy(ignore_class=-1)
        return {
            "loss": loss,
            "metrics": [EntityF1(self.tag_names, decode=self.decoder(model))],
            # The metric's segment ops are not XLA ops. Only matters on GPUs: Keras never
            # compiles with XLA on CPU-only machines.
            "jit_compile": False,
        }

    # --- evaluation and serving ------------------------------------------------------
    def predict_tags(self, model: keras.Model, part: TaggedSentences) -> list[list[str]]:
        """Predicted IOB2 tags of every sentence in ``part``, in order."""
        decode = self.decoder(model)
        names = np.array(self.tag_names)

        @tf.function(reduce_retracing=True)
        def step(features: dict, tags: tf.Tensor) -> tf.Tensor:
            return decode(model(features, training=False), tags >= 0)

        bar = progress_bar(len(part), unit="sentence")
        out: list[list[str]] = []
        ordered = self._sentences(part).padded_batch(
            256, padding_values=self._bucketing.padding_values
        )
        for features, tags in ordered.prefetch(tf.data.AUTOTUNE):
            ids = step(features, tags).numpy()
            for row, length in zip(ids, (tags.numpy() >= 0).sum(axis=1), strict=True):
                out.append(names[row[:length]].tolist())
            bar.add(len(ids))
        return out

    def evaluate(
        self, model: keras.Model, data: NerData, split: str, out_dir: Path
    ) -> dict[str, float]:
        """Entity-level P/R/F1 overall and per type, token accuracy, and a baseline.

        The baseline tags the test sentences with every entity string seen in training,
        as CoNLL-2003's own baseline does (longest match first, its most frequent type).
        Writes ``ner_report_<split>.md`` (per-type table) and ``type_confusion_<split>.png``
        (entity type of each token, gold against predicted, O included) into ``out_dir``.
        """
        part = data.split(split)
        pred = self.predict_tags(model, part)
        metrics = entity_scores(part.tags, pred)
        base = entity_scores(part.tags, memorized_entity_tags(data.train, part.tokens))
        for key in ("precision", "recall", "f1"):
            metrics[f"baseline_{key}"] = base[key]
        metrics["examples"] = float(len(part))
        metrics["tokens"] = float(sum(len(s) for s in part.tokens))
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"ner_report_{split}.md").write_text(
            entity_report(metrics, f"{split} ({len(part)} sentences)"), encoding="utf-8"
        )
        types = ["O", *sorted({entity_type(t) for t in self.tag_names} - {""})]
        column = {kind: i for i, kind in enumerate(types)}
        gold = [column.get(entity_type(t) or "O", 0) for s in part.tags for t in s]
        guess = [column[entity_type(t) or "O"] for s in pred for t in s]
        plot_confusion_matrix(
            confusion_matrix(np.array(gold), np.array(guess), len(types)),
            types,
            out_dir / f"type_confusion_{split}.png",
            title=f"{split}: entity type per token (F1 {100 * metrics['f1']:.1f})",
        )
        return metrics

    serving_input = tf.TensorSpec([None], tf.string, name="sentences")

    def serve(self, model: keras.Model, sentences: tf.Tensor) -> dict[str, tf.Tensor]:
        """``sentences (batch,) string -> {tokens, tags, lengths}``.

        ``tokens`` and ``tags`` are ``(batch, time)`` strings padded with ``""``; a sentence
        is split on every Unicode space, as Python's ``str.split()`` does
        (:func:`seqapps.data.text.split_words`); ``lengths`` ``(batch,)`` int64 counts its
        tokens. Tokens come back as sent; their NFC form is what the model reads.
        """
        tokens = split_words(sentences)  # (batch, None) ragged
        lengths = tokens.row_lengths()
        # An empty sentence gets one placeholder token: an all-masked row would leave
        # the recurrent layers and the CRF nothing to read. Its output is cut off below.
        empty = tf.cast(tf.equal(lengths, 0), tf.int64)
        filler = tf.RaggedTensor.from_row_lengths(tf.fill([tf.reduce_sum(empty)], "."), empty)
        padded = tf.concat([tokens, filler], axis=1)
        features = self.encoder(padded)
        mask = tf.sequence_mask(padded.row_lengths(), tf.shape(features["words"])[1])
        inputs = {k: features[k] for k in self.feature_keys}
        ids = self.decoder(model)(model(inputs, training=False), mask)
        width = tf.cast(tf.reduce_max(tf.concat([lengths, [0]], 0)), tf.int32)
        real = tf.sequence_mask(lengths, width)
        tags = tf.where(real, tf.gather(tf.constant(self.tag_names), ids[:, :width]), "")
        return {"tokens": tokens.to_tensor(""), "tags": tags, "lengths": lengths}

    def resources(self, model: keras.Model) -> list:
        """The word and character lookup tables."""
        return [self.encoder.word_lookup, self.encoder.char_lookup]

    card_example = "Angela Merkel met Emmanuel Macron in Paris ."

    def card_limits(self) -> list[str]:
        """Entity types, tokenisation and vocabulary limits, besides the base class's."""
        cfg = self.cfg
        types = sorted({entity_type(t) for t in self.tag_names} - {""})
        chars = (
            f"; the character encoder ({cfg.char_encoder}) still reads their spelling"
            if cfg.char_encoder != "none"
            else ""
        )
        return [
            f"Finds entities of the types {', '.join(types)} only, as the training data "
            "annotated them.",
            "Splits a sentence at whitespace: punctuation attached to a word ('Paris.') stays "
            "part of it; tokenise as the training data was for the scores above.",
            f"Words outside the training vocabulary read as [UNK]{chars}; characters beyond "
            f"{cfg.max_word_length} per word are cut.",
            *super().card_limits(),
        ]

    def format_predictions(self, inputs: list[str], outputs: dict[str, tf.Tensor]) -> list[str]:
        """``PER: John | LOC: New York<TAB>John/B-PER lives/O in/O New/B-LOC York/I-LOC``."""
        lines = []
        for tokens, tags, n in zip(
            outputs["tokens"].numpy(),
            outputs["tags"].numpy(),
            outputs["lengths"].numpy(),
            strict=True,
        ):
            words = [t.decode("utf-8") for t in tokens[:n]]
            labels = [t.decode("utf-8") for t in tags[:n]]
            found = [
                f"{kind}: {' '.join(words[a : b + 1])}"
                for a, b, kind in sorted(entity_spans(labels))
            ]
            tagged = " ".join(f"{w}/{t}" for w, t in zip(words, labels, strict=True))
            lines.append(f"{' | '.join(found) or '(no entities)'}\t{tagged}")
        return lines


def memorized_entity_tags(train: TaggedSentences, sentences: list[list[str]]) -> list[list[str]]:
    """CoNLL-2003's baseline: tag every training entity string where it reappears.

    Each entity string seen in training gets its most frequent type; sentences are scanned
    left to right, longest match first. The shared task reports 59.6 test F1 for this.
    """
    types: dict[tuple[str, ...], Counter] = defaultdict(Counter)
    for tokens, tags in zip(train.tokens, train.tags, strict=True):
        for a, b, kind in entity_spans(tags):
            types[tuple(tokens[a : b + 1])][kind] += 1
    best = {words: counts.most_common(1)[0][0] for words, counts in types.items()}
    longest = max((len(w) for w in best), default=0)
    out = []
    for tokens in sentences:
        tags, i = ["O"] * len(tokens), 0
        while i < len(tokens):
            for n in range(min(longest, len(tokens) - i), 0, -1):
                kind = best.get(tuple(tokens[i : i + n]))
                if kind:
                    tags[i : i + n] = [f"B-{kind}"] + [f"I-{kind}"] * (n - 1)
                    i += n
                    break
            else:
                i += 1
        out.append(tags)
    return out


def entity_report(metrics: dict[str, float], title: str) -> str:
    """Markdown table of precision / recall / F1 / gold entities per type, then overall."""
    kinds = sorted(k[len("support_") :] for k in metrics if k.startswith("support_"))
    rows = [
        f"# Entity-level scores: {title}",
        "",
        "| type | precision | recall | F1 | entities |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind in kinds:
        rows.append(
            f"| {kind} | {100 * metrics[f'precision_{kind}']:.2f} "
            f"| {100 * metrics[f'recall_{kind}']:.2f} | {100 * metrics[f'f1_{kind}']:.2f} "
            f"| {int(metrics[f'support_{kind}'])} |"
        )
    total = int(sum(metrics[f"support_{k}"] for k in kinds))
    rows.append(
        f"| **all** | {100 * metrics['precision']:.2f} | {100 * metrics['recall']:.2f} "
        f"| **{100 * metrics['f1']:.2f}** | {total} |"
    )
    rows += [
        "",
        f"Token accuracy {100 * metrics['accuracy']:.2f}%. Baseline (training entities "
        f"looked up): F1 {100 * metrics['baseline_f1']:.2f}.",
        "",
    ]
    return "\n".join(rows)
