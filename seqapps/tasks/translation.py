"""Translation: source sentence -> target sentence (many-to-many, encoder-decoder).

A recurrent encoder (bidirectional by default) reads the source words; a recurrent decoder
with attention over the encoder outputs writes the target words one at a time
(:mod:`seqapps.layers.seq2seq`). Training feeds the decoder the reference's previous word
(teacher forcing) and averages the cross-entropy over real target tokens only; inference
decodes greedily or with beam search (:mod:`seqapps.layers.decoding`), both inside the
SavedModel, which takes raw source strings and returns translated strings.

Text is standardised in the graph (:func:`seqapps.data.text.standardize_sentence`: lower
case, punctuation split off), so vocabularies are word level, fitted on the training split
only; words seen fewer than ``min_count`` times read as ``[UNK]``. Outputs are detokenised
(:func:`seqapps.data.text.detokenize_sentence`) and scored with sacrebleu against the raw
references, case-insensitively, because the vocabulary is lower case.

Example:
    >>> from seqapps.tasks.translation import TranslationConfig, TranslationTask
    >>> task = TranslationTask(TranslationConfig(epochs=1, units=32))
    >>> data = task.load_data()          # the packaged Multi30k sample, German -> English
    >>> task.adapt(data)
    >>> model = task.build_model()
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import keras
import numpy as np
import tensorflow as tf

from seqapps.config import RecurrentConfig, TrainConfig
from seqapps.data.batching import bucketed_batches
from seqapps.data.io import SPLITS, sample_dir
from seqapps.data.parallel import (
    Pairs,
    ParallelData,
    load_multi30k,
    load_tfds_translation,
    read_aligned,
    read_tsv,
    split_pairs,
)
from seqapps.data.text import (
    END_TOKEN,
    START_TOKEN,
    encode_texts,
    ids_to_text,
    make_sentence_vectorizer,
    sentence_vocabulary,
    standardize_sentence,
)
from seqapps.errors import ConfigError, DataError
from seqapps.layers.seq2seq import AttentiveDecoder, RecurrentEncoder, attentive_decode
from seqapps.metrics import teacher_forced_perplexity
from seqapps.plots import plot_attention
from seqapps.progress import progress_bar
from seqapps.task import Task

# Ids fixed by sentence_vocabulary: padding 0, [UNK] 1, then the specials in this order.
_START_ID, _END_ID = 2, 3


@dataclasses.dataclass
class TranslationConfig(RecurrentConfig, TrainConfig):
    """Translation settings: the shared training and recurrent fields plus these.

    ``units`` is the encoder's size per direction; the decoder has the size of the
    encoder's output (``2 * units`` when bidirectional). The defaults are the configuration
    measured on Multi30k in docs/BENCHMARKS.md.
    """

    # Overrides of shared defaults (the cell stays LSTM: it beat the GRU by 3 BLEU on val).
    units: int = 128
    dropout: float = 0.3
    batch_size: int = 128
    epochs: int = 12
    patience: int = 3
    # Languages: file suffixes (Multi30k, aligned files ``PREFIX.de`` / ``PREFIX.en``) or
    # TFDS feature names. Swap them to translate the other way.
    source_lang: str = "de"
    target_lang: str = "en"
    # Multi30k: the cased original ("raw") or the repository's lower-cased Moses-tokenised
    # files ("tok"); and which test set is "test".
    form: Literal["raw", "tok"] = "raw"
    test_set: str = "test_2016_flickr"
    # Tab-separated pair files: the first column is the target (Anki's English<TAB>X files).
    reverse: bool = False
    # Attention over the encoder outputs: additive, multiplicative, or none (plain seq2seq).
    attention: Literal["bahdanau", "luong", "none"] = "bahdanau"
    # Hidden size of additive attention (None = the decoder's size).
    attention_units: int | None = None
    embedding_dim: int = 256
    # Words seen fewer times in the training split read as [UNK]; vocabulary caps per side.
    min_count: int = 2
    max_source_words: int | None = None
    max_target_words: int | None = None
    # Longest sentence, in tokens (the target's end token included). Longer training pairs
    # are dropped and counted; longer test sources are cut; outputs stop at this length.
    max_length: int = 50
    # Inference: beam width (1 = greedy) and the GNMT length-penalty exponent.
    beam_width: int = 5
    length_alpha: float = 0.6
    # One plain file (TSV pairs or aligned files): shares held out for validation and test.
    val_fraction: float = 0.05
    test_fraction: float = 0.05

    def check(self) -> None:
        """Raise :class:`ConfigError` for an out-of-range task setting."""
        if self.source_lang == self.target_lang:
            raise ConfigError("source_lang and target_lang must differ")
        if self.embedding_dim < 1 or self.min_count < 1 or self.max_length < 2:
            raise ConfigError("embedding_dim and min_count must be >= 1, max_length >= 2")
        if self.beam_width < 1 or self.length_alpha < 0:
            raise ConfigError("beam_width must be >= 1 and length_alpha >= 0")
        if self.attention_units is not None and self.attention_units < 1:
            raise ConfigError("attention_units must be >= 1 or None")

    @property
    def decoder_units(self) -> int:
        """Size of the decoder: that of the encoder's outputs."""
        return self.units * (2 if self.bidirectional else 1)


class TranslationTask(Task):
    """Word-level neural machine translation (Multi30k German -> English by default)."""

    name = "translation"
    config_class = TranslationConfig
    monitor = "val_loss"  # per-token cross-entropy of the validation references
    monitor_mode = "min"

    def __init__(self, cfg: TranslationConfig) -> None:
        super().__init__(cfg)
        self.source_vectorizer: keras.layers.TextVectorization | None = None
        self.target_vectorizer: keras.layers.TextVectorization | None = None
        self.target_words: list[str] = []  # the target vocabulary by id
        self.dropped_long = 0  # training pairs over max_length, reported by adapt

    # --- data ------------------------------------------------------------------------
    def load_data(self) -> ParallelData:
        """Load ``cfg.data``: ``sample``, a Multi30k folder, a TSV file, aligned files, tfds."""
        cfg = self.cfg
        langs = (cfg.source_lang, cfg.target_lang)
        prefix = [Path(f"{cfg.data}.{lang}") for lang in langs]
        split = {"val_fraction": cfg.val_fraction, "test_fraction": cfg.test_fraction}
        pairs = Pairs([], [])  # one file's pairs, before splitting
        if cfg.data == "sample":
            data = load_multi30k(sample_dir("translation"), *langs, form=cfg.form)
        elif cfg.data.startswith("tfds:"):
            data = load_tfds_translation(
                cfg.data[len("tfds:") :], *langs, val_fraction=cfg.val_fraction, seed=cfg.seed
            )
        elif Path(cfg.data).is_dir():
            data = load_multi30k(cfg.data, *langs, form=cfg.form, test_set=cfg.test_set)
        elif Path(cfg.data).is_file():
            pairs = read_tsv(cfg.data, reverse=cfg.reverse)
            data = split_pairs(pairs, **split, seed=cfg.seed, source=cfg.data)
        elif all(p.is_file() for p in prefix):
            pairs = read_aligned(*prefix)
            data = split_pairs(pairs, **split, seed=cfg.seed, source=str(prefix[0]))
        else:
            raise DataError(
                cfg.data,
                "no such file or directory",
                hint=f"data= takes 'sample', a Multi30k folder, a TSV pair file, a prefix P of "
                f"aligned files P.{cfg.source_lang} / P.{cfg.target_lang}, or tfds:NAME",
            )
        blank = pairs.skipped_blank + sum(data.split(s).skipped_blank for s in SPLITS)
        if blank:
            print(f"translation: skipped {blank} pairs blank on both sides")
        if cfg.max_train_samples and cfg.max_train_samples < len(data.train):
            keep = np.random.default_rng(cfg.seed).permutation(len(data.train))
            data.train = data.train.subset(np.sort(keep[: cfg.max_train_samples]))
        return data

    def num_examples(self, data: ParallelData, split: str) -> int:
        """Number of sentence pairs in ``split``."""
        return len(data.split(split))

    def adapt(self, data: ParallelData) -> None:
        """Fit both vocabularies on the training pairs; count the pairs over ``max_length``."""
        cfg = self.cfg
        self.source_vectorizer = make_sentence_vectorizer(
            sentence_vocabulary(
                data.train.sources, max_tokens=cfg.max_source_words, min_count=cfg.min_count
            ),
            name="source_vectorizer",
        )
        self.target_vectorizer = make_sentence_vectorizer(
            sentence_vocabulary(
                data.train.targets,
                max_tokens=cfg.max_target_words,
                min_count=cfg.min_count,
                specials=(START_TOKEN, END_TOKEN),
            ),
            name="target_vectorizer",
        )
        self.target_words = self.target_vectorizer.get_vocabulary()
        self.dropped_long = len(data.train) - int(self._keep_mask(data.train).sum())
        if self.dropped_long:
            print(
                f"translation: {self.dropped_long} of {len(data.train)} training pairs have "
                f"a side over max_length={cfg.max_length} tokens and are left out of training"
            )

    def save_assets(self, directory: Path) -> None:
        """Write ``source_vocabulary.txt`` and ``target_vocabulary.txt`` (one word per line)."""
        directory.mkdir(parents=True, exist_ok=True)
        for side in ("source", "target"):
            vocab = getattr(self, f"{side}_vectorizer").get_vocabulary()
            # Tokens never contain whitespace (the split is on it), so one per line is safe.
            (directory / f"{side}_vocabulary.txt").write_text(
                "\n".join(vocab) + "\n", encoding="utf-8"
            )

    def load_assets(self, directory: Path) -> None:
        """Restore the vocabularies written by :meth:`save_assets`."""
        for side in ("source", "target"):
            text = (directory / f"{side}_vocabulary.txt").read_text(encoding="utf-8")
            vectorizer = make_sentence_vectorizer(text.split("\n")[:-1], f"{side}_vectorizer")
            setattr(self, f"{side}_vectorizer", vectorizer)
        self.target_words = self.target_vectorizer.get_vocabulary()

    def _keep_mask(self, part: Pairs) -> np.ndarray:
        """Pairs whose source and target (plus its end token) fit in ``max_length`` tokens."""
        src = self.source_vectorizer(tf.constant(part.sources)).row_lengths().numpy()
        tgt = self.target_vectorizer(tf.constant(part.targets)).row_lengths().numpy()
        return (src <= self.cfg.max_length) & (tgt + 1 <= self.cfg.max_length)

    def _pairs(self, part: Pairs, training: bool) -> tf.data.Dataset:
        """Unbatched ``({source, target_in}, target_out)`` int32 id vectors, encoded once.

        ``target_in`` is ``[start] w1 .. wn`` and ``target_out`` ``w1 .. wn [end]``. When
        training, pairs over ``max_length`` are left out; otherwise long sides are cut.
        """
        if training:
            part = part.subset(np.flatnonzero(self._keep_mask(part)))
        n = self.cfg.max_length
        source = encode_texts(self.source_vectorizer, tf.constant(part.sources), n)
        target = tf.cast(self.target_vectorizer(tf.constant(part.targets)), tf.int32)[:, : n - 1]
        rows = target.nrows()
        target_in = tf.concat([tf.fill([rows, 1], _START_ID), target], axis=1)
        target_out = tf.concat([target, tf.fill([rows, 1], _END_ID)], axis=1)
        ds = tf.data.Dataset.from_tensor_slices((source, target_in, target_out))
        return ds.map(lambda s, ti, to: ({"source": s, "target_in": ti}, to)).cache()

    def make_dataset(
        self, data: ParallelData, split: str, *, batch_size: int, training: bool
    ) -> tf.data.Dataset:
        """Batches of ``({source, target_in}, target_out)``, bucketed by length.

        All three are ``(batch, time)`` int32, right-padded with 0 (the loss mask). When
        training: pairs over ``max_length`` left out, reshuffled each epoch, repeated.
        """
        part = data.split(split)
        ds = self._pairs(part, training)
        if training:
            ds = ds.shuffle(len(part), seed=self.cfg.seed, reshuffle_each_iteration=True)
            ds = ds.repeat()
        ds = bucketed_batches(
            ds,
            batch_size=batch_size,
            max_length=self.cfg.max_length,
            length_fn=lambda x, y: tf.maximum(tf.shape(x["source"])[0], tf.shape(y)[0]),
        )
        return ds.prefetch(tf.data.AUTOTUNE)

    # --- model -----------------------------------------------------------------------
    def build_model(self) -> keras.Model:
        """Encoder ``encoder`` and decoder ``decoder`` (named layers); outputs target logits."""
        cfg = self.cfg
        source = keras.Input((None,), dtype="int32", name="source")
        target_in = keras.Input((None,), dtype="int32", name="target_in")
        encoder = RecurrentEncoder(
            self.source_vectorizer.vocabulary_size(),
            cfg.embedding_dim,
            cell=cfg.cell,
            units=cfg.units,
            layers=cfg.layers,
            bidirectional=cfg.bidirectional,
            dropout=cfg.dropout,
            name="encoder",
        )
        decoder = AttentiveDecoder(
            self.target_vectorizer.vocabulary_size(),
            cfg.embedding_dim,
            cell=cfg.cell,
            units=cfg.decoder_units,
            context_dim=encoder.output_dim,
            layers=cfg.layers,
            attention=cfg.attention,
            attention_units=cfg.attention_units,
            dropout=cfg.dropout,
            name="decoder",
        )
        outputs, summary = encoder(source)  # (batch, time, d), (batch, d)
        logits = decoder(target_in, outputs, keras.ops.not_equal(source, 0), summary)
        name = f"translation_{cfg.cell}_{cfg.attention}"
        return keras.Model({"source": source, "target_in": target_in}, logits, name=name)

    def compile_args(self, model: keras.Model) -> dict:
        """Cross-entropy averaged over the real target tokens (padding id 0 ignored)."""
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
        return {"loss": loss}

    # --- inference -------------------------------------------------------------------
    def decode(
        self, model: keras.Model, source: tf.Tensor, beam_width: int
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Translate source ids ``(batch, time)`` into target ids; traceable.

        Returns ``tokens`` ``(batch, steps)`` int32 (end token included, 0 after it) and
        ``lengths`` ``(batch,)`` int32 counting the end token. ``beam_width`` 1 is greedy.
        """
        outputs, summary = model.get_layer("encoder")(source, training=False)
        return attentive_decode(
            model.get_layer("decoder"),
            outputs,
            tf.not_equal(source, 0),
            summary,
            start_id=_START_ID,
            end_id=_END_ID,
            max_length=self.cfg.max_length,
            beam_width=beam_width,
            alpha=self.cfg.length_alpha,
        )

    def to_text(self, tokens: tf.Tensor) -> tf.Tensor:
        """Target ids ``(batch, steps)`` from :meth:`decode` -> detokenised ``(batch,)`` strings."""
        return ids_to_text(self.target_words, tokens, _END_ID)

    def translate(
        self, model: keras.Model, sentences: list[str], beam_width: int, batch_size: int = 128
    ) -> list[str]:
        """Translate raw sentences (batched, with a progress bar); detokenised strings."""
        vectorizer, n = self.source_vectorizer, self.cfg.max_length

        # autograph=False: the loops are explicit tf.while_loops; AutoGraph only warns here.
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
        def run(texts: tf.Tensor) -> tf.Tensor:
            source = encode_texts(vectorizer, texts, n).to_tensor()
            return self.to_text(self.decode(model, source, beam_width)[0])

        bar = progress_bar(len(sentences), unit="sentence")
        out: list[str] = []
        for start in range(0, len(sentences), batch_size):
            batch = sentences[start : start + batch_size]
            out += [t.decode("utf-8") for t in run(tf.constant(batch)).numpy()]
            bar.add(len(batch))
        return out

    # --- evaluation and serving ------------------------------------------------------
    def evaluate(
        self, model: keras.Model, data: ParallelData, split: str, out_dir: Path
    ) -> dict[str, float]:
        """BLEU and chrF (sacrebleu) for beam search and greedy decoding, and perplexity.

        Scores are case-insensitive (the vocabulary is lower case), on detokenised output
        against the raw references with sacrebleu's default ``13a`` tokenisation. Writes
        ``translation_report_<split>.md`` (scores and example translations) and
        ``attention_<split>.png`` (attention maps of a few examples) into ``out_dir``.
        """
        import sacrebleu  # imported here: only evaluation needs it

        cfg = self.cfg
        part = data.split(split)
        bleu, chrf = sacrebleu.BLEU(lowercase=True), sacrebleu.CHRF(lowercase=True)
        metrics: dict[str, float] = {}
        outputs: dict[str, list[str]] = {}
        decoders = {"beam": cfg.beam_width, "greedy": 1}
        for kind, width in decoders.items():
            print(f"translating {split} ({kind}, width {width})")
            hyps = self.translate(model, part.sources, width)
            suffix = "" if kind == "beam" else "_greedy"
            metrics[f"bleu{suffix}"] = bleu.corpus_score(hyps, [part.targets]).score
            metrics[f"chrf{suffix}"] = chrf.corpus_score(hyps, [part.targets]).score
            outputs[kind] = hyps
        metrics["beam_width"] = float(cfg.beam_width)
        metrics["perplexity"] = self.perplexity(model, data, split)
        metrics["examples"] = float(len(part))
        signature = f"{bleu.get_signature()} / {chrf.get_signature()}"
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"translation_report_{split}.md").write_text(
            translation_report(metrics, part, outputs, f"{split} ({len(part)} pairs)", signature),
            encoding="utf-8",
        )
        if cfg.attention != "none":
            self.plot_attention(model, part.sources[:4], out_dir / f"attention_{split}.png")
        return metrics

    def perplexity(self, model: keras.Model, data: ParallelData, split: str) -> float:
        """Exp of the mean cross-entropy per reference token (end token included)."""
        return teacher_forced_perplexity(
            model, self.make_dataset(data, split, batch_size=256, training=False)
        )

    def plot_attention(self, model: keras.Model, sentences: list[str], path: Path) -> None:
        """Attention maps of ``sentences``' beam-search translations (rows: output words)."""
        encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
        texts = tf.constant(sentences)
        source = encode_texts(self.source_vectorizer, texts, self.cfg.max_length).to_tensor()
        tokens, lengths = self.decode(model, source, self.cfg.beam_width)
        outputs, summary = encoder(source, training=False)
        target_in = tf.concat([tf.fill([len(sentences), 1], _START_ID), tokens[:, :-1]], axis=1)
        _, weights = decoder(
            target_in, outputs, tf.not_equal(source, 0), summary, return_attention=True
        )
        vocab = np.array(self.target_words)
        src_words = tf.strings.split(standardize_sentence(texts)).to_list()
        maps = []
        for i, words in enumerate(src_words):
            n_src = int(tf.reduce_sum(tf.cast(source[i] > 0, tf.int32)))
            n_out = int(lengths[i])
            maps.append(
                (
                    weights[i, :n_out, :n_src].numpy(),
                    [w.decode("utf-8") for w in words[:n_src]],
                    vocab[tokens[i, :n_out].numpy()].tolist(),
                )
            )
        plot_attention(maps, path, title=f"attention ({self.cfg.attention})")

    def export_archive(self, model: keras.Model) -> keras.export.ExportArchive:
        """``serving_default(sentences: (batch,) string) -> {translations: (batch,) string}``.

        Beam search of width ``beam_width`` runs inside the graph.
        """
        archive = keras.export.ExportArchive()
        archive.track(model)
        # The lookup tables must travel with the SavedModel.
        archive.track(self.source_vectorizer)
        archive.track(self.target_vectorizer)
        vectorizer, n, width = self.source_vectorizer, self.cfg.max_length, self.cfg.beam_width

        @tf.function(
            input_signature=[tf.TensorSpec([None], tf.string, name="sentences")], autograph=False
        )
        def serve(sentences: tf.Tensor) -> dict[str, tf.Tensor]:
            source = encode_texts(vectorizer, sentences, n).to_tensor()  # right padded
            return {"translations": self.to_text(self.decode(model, source, width)[0])}

        archive.add_endpoint("serving_default", serve)
        return archive

    def predict_inputs(self, inputs: list[str]) -> tf.Tensor:
        """Source sentences as a ``(batch,)`` string tensor."""
        return tf.constant(inputs, tf.string)

    def format_predictions(self, inputs: list[str], outputs: dict[str, tf.Tensor]) -> list[str]:
        """One translation per line."""
        return [t.decode("utf-8") for t in outputs["translations"].numpy()]


def translation_report(
    metrics: dict[str, float],
    part: Pairs,
    outputs: dict[str, list[str]],
    title: str,
    signature: str,
    examples: int = 10,
) -> str:
    """Markdown: BLEU / chrF for beam and greedy, then the first ``examples`` translations."""
    rows = [
        f"# Translation scores: {title}",
        "",
        "| decoding | BLEU | chrF |",
        "|---|---:|---:|",
        f"| beam (width {int(metrics['beam_width'])}) | **{metrics['bleu']:.2f}** "
        f"| {metrics['chrf']:.2f} |",
        f"| greedy | {metrics['bleu_greedy']:.2f} | {metrics['chrf_greedy']:.2f} |",
        "",
        f"Perplexity {metrics['perplexity']:.2f}. sacrebleu: `{signature}`.",
        "",
        "## Examples",
        "",
    ]
    for i in range(min(examples, len(part))):
        rows += [
            f"- source: {part.sources[i]}",
            f"  - reference: {part.targets[i]}",
            f"  - beam: {outputs['beam'][i]}",
            f"  - greedy: {outputs['greedy'][i]}",
        ]
    return "\n".join(rows) + "\n"
