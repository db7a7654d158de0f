"""The shared path of the encoder-decoder tasks (translation, captioning).

Both tasks encode their input into attention values (words or image positions), train an
:class:`~seqapps.layers.seq2seq.AttentiveDecoder` with teacher forcing, decode with greedy or
beam search inside the graph (:func:`~seqapps.layers.seq2seq.attentive_decode`), and score
beam and greedy output against references. :class:`Seq2SeqTask` holds that path once:

- target ids: ``[start] w1 .. wn`` in, ``w1 .. wn [end]`` out (:func:`shift_targets`);
- the loss (cross-entropy over real target tokens), decoding, ids to text, perplexity;
- evaluation: for beam (``beam_width``) and greedy decoding, generate for the whole split,
  score, then write a markdown report (:func:`decoding_report`) and the task's plots;
- serving: raw input -> :meth:`Seq2SeqTask.serving_features` -> beam search -> text.

A subclass supplies how its input is encoded (:meth:`~Seq2SeqTask.encode`), the inputs of
a split (:meth:`~Seq2SeqTask.decoder_inputs`), its scores and its plots.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

import keras
import numpy as np
import tensorflow as tf

from seqapps.config import CheckedConfig
from seqapps.data.text import ids_to_text
from seqapps.errors import ConfigError
from seqapps.layers.seq2seq import AttentiveDecoder, attentive_decode
from seqapps.metrics import Perplexity, teacher_forced_perplexity
from seqapps.progress import progress_bar
from seqapps.space import Choice, IntRange
from seqapps.task import ConfigT, DataT, Task

# Ids fixed by sentence_vocabulary: padding 0, [UNK] 1, then the specials in this order.
START_ID, END_ID = 2, 3


def shift_targets(ids: tf.RaggedTensor, max_length: int) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
    """Target word ids ``(batch, None)`` -> teacher-forcing input and output, ragged int32.

    Each row is cut to ``max_length - 1`` words; the input is ``[start] w1 .. wn`` and the
    output ``w1 .. wn [end]`` (both ``n + 1 <= max_length`` long).

    Example:
        >>> tin, tout = shift_targets(tf.ragged.constant([[7, 8]]), 5)
        >>> tin.to_list(), tout.to_list()
        ([[2, 7, 8]], [[7, 8, 3]])
    """
    ids = tf.cast(ids, tf.int32)[:, : max_length - 1]
    rows = ids.nrows()
    tokens_in = tf.concat([tf.fill([rows, 1], START_ID), ids], axis=1)
    tokens_out = tf.concat([ids, tf.fill([rows, 1], END_ID)], axis=1)
    return tokens_in, tokens_out


@dataclasses.dataclass(frozen=True)
class ScoreColumn:
    """One column of :func:`decoding_report`: header, metric stem and number format."""

    header: str
    key: str
    fmt: Callable[[float], str] = "{:.2f}".format


def decoding_report(
    title: str,
    metrics: dict[str, float],
    columns: list[ScoreColumn],
    note: str,
    examples: list[str],
) -> str:
    """Markdown: one score row per decoding (beam, greedy), a note, then example lines.

    The beam row reads ``metrics[key]``, the greedy row ``metrics[key + "_greedy"]``.
    """
    rows = [
        f"# {title}",
        "",
        "| decoding | " + " | ".join(c.header for c in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    width = int(metrics["beam_width"])
    for label, suffix in ((f"beam (width {width})", ""), ("greedy", "_greedy")):
        cells = " | ".join(c.fmt(metrics[f"{c.key}{suffix}"]) for c in columns)
        rows.append(f"| {label} | {cells} |")
    return "\n".join([*rows, "", note, "", "## Examples", "", *examples]) + "\n"


@dataclasses.dataclass
class Seq2SeqConfig(CheckedConfig):
    """Decoder and decoding settings shared by the encoder-decoder tasks."""

    embedding_dim: int = 256
    # Attention over the encoder outputs: additive, multiplicative, or none (plain seq2seq).
    attention: Literal["bahdanau", "luong", "none"] = "bahdanau"
    # Hidden size of additive attention (None = the decoder's size).
    attention_units: int | None = None
    # Words seen fewer times in the training targets read as [UNK].
    min_count: int = 2
    # Longest target in tokens (end token included): longer training examples are left out
    # and counted, and generated outputs stop here.
    max_length: int = 50
    # Inference: beam width (1 = greedy) and the GNMT length-penalty exponent.
    beam_width: int = 5
    length_alpha: float = 0.6

    search_space: ClassVar[dict[str, Any]] = {
        "embedding_dim": IntRange(64, 512, log=True),
        "batch_size": Choice((32, 64, 128, 256)),
        "train_steps": IntRange(1400, 3600),  # 6-16 Multi30k epochs
    }

    def check(self) -> None:
        """Raise :class:`ConfigError` for an out-of-range decoder setting."""
        if self.embedding_dim < 1 or self.min_count < 1 or self.max_length < 2:
            raise ConfigError("embedding_dim and min_count must be >= 1, max_length >= 2")
        if self.beam_width < 1 or self.length_alpha < 0:
            raise ConfigError("beam_width must be >= 1 and length_alpha >= 0")
        if self.attention_units is not None and self.attention_units < 1:
            raise ConfigError("attention_units must be >= 1 or None")


class Seq2SeqTask(Task[ConfigT, DataT]):
    """Encoder + attentive decoder tasks: shared decoding, evaluation and serving.

    Attributes:
        output_key: the ``serving_default`` output holding the generated text.
        count_key: the metrics key counting the evaluated inputs (and the report's noun).
        progress_unit: what the decoding progress bar counts.
        report_noun: what the report's title counts, e.g. ``"pairs"``.
        decode_batch_size: inputs decoded per batch in evaluation.
        target_words: the output vocabulary by id (set by ``adapt`` / ``load_assets``).
    """

    output_key: ClassVar[str] = "texts"
    count_key: ClassVar[str] = "examples"
    setting_keys: ClassVar[tuple[str, ...]] = ("beam_width",)
    progress_unit: ClassVar[str] = "input"
    report_noun: ClassVar[str] = "inputs"
    decode_batch_size: ClassVar[int] = 64

    @property
    def count_keys(self) -> tuple[str, ...]:  # type: ignore[override]
        """``metrics.json`` files :attr:`count_key` under ``counts``."""
        return (self.count_key,)

    target_words: list[str]

    # --- what a subclass supplies ------------------------------------------------------
    @abc.abstractmethod
    def encode(self, model: keras.Model, inputs: tf.Tensor) -> tuple[Any, Any, Any]:
        """Encode decoder-ready inputs for attention; traceable.

        Returns attention ``values`` ``(batch, positions, d)``, their ``mask``
        ``(batch, positions)`` bool and the ``summary`` ``(batch, d)`` that starts the decoder.
        """

    @abc.abstractmethod
    def decoder_inputs(self, model: keras.Model, part: Any) -> tuple[Any, tf.TensorSpec]:
        """A split's inputs in the form :meth:`prepare` takes, one row each, and their spec."""

    def prepare(self, inputs: tf.Tensor) -> tf.Tensor:
        """Rows of :meth:`decoder_inputs` -> what :meth:`encode` takes (identity by default)."""
        return inputs

    @abc.abstractmethod
    def serving_features(self, model: keras.Model, inputs: tf.Tensor) -> tf.Tensor:
        """Raw serving input (:attr:`serving_input`) -> what :meth:`encode` takes."""

    @abc.abstractmethod
    def score(self, texts: list[str], words: list[list[str]], part: Any) -> dict[str, float]:
        """Scores of one decoding of ``part`` (texts, and their word lists)."""

    @abc.abstractmethod
    def report(
        self, metrics: dict[str, float], part: Any, outputs: dict[str, list[str]], title: str
    ) -> str:
        """The markdown report of :meth:`evaluate`."""

    def plot(
        self, model: keras.Model, part: Any, outputs: dict[str, list[str]], split: str, out: Path
    ) -> None:
        """Write the task's evaluation plots into ``out`` (none by default)."""

    # --- shared ----------------------------------------------------------------------
    def make_decoder(self, vocabulary_size: int, units: int, context_dim: int) -> AttentiveDecoder:
        """The ``decoder`` layer, from the config's cell, depth, attention and dropout."""
        cfg = self.cfg
        return AttentiveDecoder(
            vocabulary_size,
            cfg.embedding_dim,
            cell=cfg.cell,
            units=units,
            context_dim=context_dim,
            layers=cfg.layers,
            attention=cfg.attention,
            attention_units=cfg.attention_units,
            dropout=cfg.dropout,
            name="decoder",
        )

    def validation_metrics(self) -> dict[str, Literal["min", "max"]]:
        """``val_loss`` (per-token cross-entropy) and ``val_perplexity``, both minimised."""
        return {"val_loss": "min", "val_perplexity": "min"}

    def compile_args(self, model: keras.Model) -> dict:
        """Cross-entropy averaged over the real target tokens (padding id 0 ignored).

        Perplexity is a compiled metric, so ``val_perplexity`` is in ``history.csv``.
        """
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
        return {"loss": loss, "metrics": [Perplexity()]}

    def decode(
        self, model: keras.Model, inputs: tf.Tensor, beam_width: int
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Decode :meth:`encode` inputs into target ids; traceable.

        Returns ``tokens`` ``(batch, steps)`` int32 (end token included, 0 after it) and
        ``lengths`` ``(batch,)`` int32 counting the end token. ``beam_width`` 1 is greedy.
        """
        values, mask, summary = self.encode(model, inputs)
        return attentive_decode(
            model.get_layer("decoder"),
            values,
            mask,
            summary,
            start_id=START_ID,
            end_id=END_ID,
            max_length=self.cfg.max_length,
            beam_width=beam_width,
            alpha=self.cfg.length_alpha,
        )

    def to_text(self, tokens: tf.Tensor) -> tf.Tensor:
        """Target ids ``(batch, steps)`` from :meth:`decode` -> detokenised ``(batch,)`` strings."""
        return ids_to_text(self.target_words, tokens, END_ID)

    def attention(
        self, model: keras.Model, inputs: tf.Tensor
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Beam-search output of :meth:`encode` inputs and where the decoder looked.

        Returns ``tokens`` ``(batch, steps)``, ``lengths`` ``(batch,)`` and attention weights
        ``(batch, steps, positions)`` from a teacher-forced pass over the decoded tokens.
        """
        tokens, lengths = self.decode(model, inputs, self.cfg.beam_width)
        weights = self.attention_weights(model, inputs, tokens)
        return tokens.numpy(), lengths.numpy(), np.asarray(weights)

    def attention_weights(self, model: keras.Model, inputs: Any, tokens: tf.Tensor) -> tf.Tensor:
        """Where the decoder looked while writing ``tokens`` ``(batch, steps)`` int.

        A teacher-forced pass of the decoder over the decoded tokens (TF ops only, so the
        SavedModel can run it). Returns float32 ``(batch, steps, positions)``; each step's
        weights over the source positions sum to 1.
        """
        values, mask, summary = self.encode(model, inputs)
        start = tf.fill([tf.shape(tokens)[0], 1], START_ID)
        tokens_in = tf.concat([start, tokens[:, :-1]], axis=1)
        _, weights = model.get_layer("decoder")(
            tokens_in, values, mask, summary, return_attention=True
        )
        return weights

    def generate(
        self, model: keras.Model, part: Any, beam_width: int, batch_size: int | None = None
    ) -> tuple[list[str], list[list[str]]]:
        """Decode every input of ``part`` (batched, with a progress bar): texts and words.

        ``words`` are the output words of each text (end token left out), as the model
        wrote them, before detokenisation.
        """
        inputs, spec = self.decoder_inputs(model, part)
        batch_size = batch_size or self.decode_batch_size

        # autograph=False: the loops are explicit tf.while_loops; AutoGraph only warns here.
        @tf.function(input_signature=[spec], autograph=False)
        def run(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            tokens, lengths = self.decode(model, self.prepare(x), beam_width)
            return self.to_text(tokens), tokens, lengths

        bar = progress_bar(len(inputs), unit=self.progress_unit)
        texts: list[str] = []
        words: list[list[str]] = []
        for start in range(0, len(inputs), batch_size):
            batch = inputs[start : start + batch_size]
            if isinstance(batch, np.ndarray):  # e.g. float16 cached features
                batch = batch.astype(spec.dtype.as_numpy_dtype)
            text, tokens, lengths = run(tf.constant(batch, spec.dtype))
            texts += [t.decode("utf-8") for t in text.numpy()]
            for row, n in zip(tokens.numpy(), lengths.numpy(), strict=True):
                words.append([self.target_words[i] for i in row[:n] if i != END_ID])
            bar.add(len(batch))
        return texts, words

    def perplexity(self, model: keras.Model, data: DataT, split: str) -> float:
        """Exp of the mean cross-entropy per reference token (end token included)."""
        return teacher_forced_perplexity(
            model, self.make_dataset(data, split, batch_size=256, training=False)
        )

    def evaluate(
        self, model: keras.Model, data: DataT, split: str, out_dir: Path
    ) -> dict[str, float]:
        """Scores for beam search (``beam_width``) and greedy decoding, and perplexity.

        Greedy scores carry a ``_greedy`` suffix. Writes ``<task>_report_<split>.md`` and the
        task's plots into ``out_dir``.
        """
        part = data.split(split)
        metrics: dict[str, float] = {}
        outputs: dict[str, list[str]] = {}
        for kind, width in {"beam": self.cfg.beam_width, "greedy": 1}.items():
            print(f"{self.name}: decoding {split} ({kind}, width {width})")
            texts, words = self.generate(model, part, width)
            suffix = "" if kind == "beam" else "_greedy"
            metrics.update({f"{k}{suffix}": v for k, v in self.score(texts, words, part).items()})
            outputs[kind] = texts
        metrics["beam_width"] = float(self.cfg.beam_width)
        metrics["perplexity"] = self.perplexity(model, data, split)
        metrics[self.count_key] = float(len(part))
        out_dir.mkdir(parents=True, exist_ok=True)
        title = f"{split} ({len(part)} {self.report_noun})"
        report = self.report(metrics, part, outputs, title)
        (out_dir / f"{self.name}_report_{split}.md").write_text(report, encoding="utf-8")
        self.plot(model, part, outputs, split, out_dir)
        return metrics

    def format_predictions(self, inputs: list[str], outputs: dict[str, tf.Tensor]) -> list[str]:
        """One generated text per line."""
        return [t.decode("utf-8") for t in outputs[self.output_key].numpy()]

    def report_dropped(self, over: np.ndarray, what: str) -> int:
        """Count and say the training examples over ``max_length`` (``over``: bool per one).

        They are left out of training (see :meth:`make_dataset`); returns their number.
        """
        dropped = int(np.sum(over))
        if dropped:
            print(
                f"{self.name}: {dropped} of {len(over)} training {what} are over "
                f"max_length={self.cfg.max_length} tokens and are left out of training"
            )
        return dropped

    def serve(self, model: keras.Model, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        """Raw input ``(batch,)`` -> ``{output_key: (batch,) string}``; beam search in graph."""
        tokens, _ = self.decode(model, self.serving_features(model, inputs), self.cfg.beam_width)
        return {self.output_key: self.to_text(tokens)}
