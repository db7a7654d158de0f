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
from seqapps.data.io import SPLITS, read_lines, sample_dir
from seqapps.data.parallel import (
    Pairs,
    ParallelData,
    concat_pairs,
    load_multi30k,
    load_tfds_translation,
    read_aligned,
    read_pair_file,
    split_pairs,
)
from seqapps.data.text import (
    END_TOKEN,
    START_TOKEN,
    encode_texts,
    make_sentence_vectorizer,
    sentence_vocabulary,
    standardize_sentence,
)
from seqapps.data_report import text_tokens
from seqapps.errors import ConfigError
from seqapps.layers.seq2seq import RecurrentEncoder
from seqapps.plots import plot_attention
from seqapps.task import Bucketing, DataSource, write_lines
from seqapps.tasks.seq2seq import (
    ScoreColumn,
    Seq2SeqConfig,
    Seq2SeqTask,
    decoding_report,
    shift_targets,
)


@dataclasses.dataclass
class TranslationConfig(Seq2SeqConfig, RecurrentConfig, TrainConfig):
    """Translation settings: the shared training and recurrent fields plus these.

    ``units`` is the encoder's size per direction; the decoder has the size of the
    encoder's output (``2 * units`` when bidirectional). The defaults are the configuration
    measured on Multi30k in docs/BENCHMARKS.md.
    """

    # Overrides of shared defaults (the cell stays LSTM: it beat the GRU by 3 BLEU on val).
    units: int = 128
    dropout: float = 0.3
    batch_size: int = 128
    # 12 epochs with patience 3 on Multi30k's 29,000 pairs (227 steps of 128 each): the
    # benchmark's choice, in optimisation steps so a smaller set trains more epochs.
    train_steps: int | None = 2724
    patience_steps: int | None = 681
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
    # Pair files (TSV, or CSV by its .csv suffix): the source and target columns, as header
    # names (the first row is then the header) or 0-based indexes; "" = columns 0 and 1
    # (swapped by reverse).
    source_column: str = ""
    target_column: str = ""
    # Vocabulary caps per side (None = every word seen min_count times).
    max_source_words: int | None = None
    max_target_words: int | None = None
    # One plain file (TSV pairs or aligned files): shares held out for validation and test.
    val_fraction: float = 0.05
    test_fraction: float = 0.05

    def check(self) -> None:
        """Raise :class:`ConfigError` for an out-of-range task setting."""
        if self.source_lang == self.target_lang:
            raise ConfigError("source_lang and target_lang must differ")

    @property
    def decoder_units(self) -> int:
        """Size of the decoder: that of the encoder's outputs."""
        return self.units * (2 if self.bidirectional else 1)


class TranslationTask(Seq2SeqTask[TranslationConfig, ParallelData]):
    """Word-level neural machine translation (Multi30k German -> English by default)."""

    name = "translation"
    config_class = TranslationConfig
    monitor = "val_loss"  # per-token cross-entropy of the validation references
    serving_input = tf.TensorSpec([None], tf.string, name="sentences")
    output_key = "translations"
    card_example = "Ein Mann fährt mit dem Fahrrad ."

    def card_limits(self) -> list[str]:
        """Direction, vocabulary and length limits, besides the base class's."""
        cfg = self.cfg
        return [
            f"Translates single sentences from the source side ('{cfg.source_lang}') to the "
            f"target side ('{cfg.target_lang}') of the training pairs; it translates best "
            "sentences like those pairs (the default data, Multi30k, holds short descriptions "
            "of images), and longer or other-domain text worse.",
            f"Words seen fewer than {cfg.min_count} times in training read as [UNK] and can be "
            f"written as [UNK]; a translation stops at {cfg.max_length} tokens.",
            *super().card_limits(),
        ]

    report_noun = "pairs"
    progress_unit = "sentence"
    decode_batch_size = 128

    def __init__(self, cfg: TranslationConfig) -> None:
        super().__init__(cfg)
        self.source_vectorizer: keras.layers.TextVectorization | None = None
        self.target_vectorizer: keras.layers.TextVectorization | None = None
        self.target_words: list[str] = []  # the target vocabulary by id
        self.dropped_long = 0  # training pairs over max_length, reported by adapt

    # --- data ------------------------------------------------------------------------
    def _prefix(self, source: str) -> list[Path]:
        """Aligned files ``SOURCE.<source_lang>`` and ``SOURCE.<target_lang>``."""
        return [Path(f"{source}.{lang}") for lang in (self.cfg.source_lang, self.cfg.target_lang)]

    def _split_file(self, pairs: Pairs, source: str) -> ParallelData:
        """One file's pairs, split by ``val_fraction`` / ``test_fraction``."""
        cfg = self.cfg
        data = split_pairs(pairs, **cfg.split_args(), source=source)
        return _report_blank(data, pairs.skipped_blank)

    def _load_dir(self, path: str) -> ParallelData:
        cfg = self.cfg
        langs = (cfg.source_lang, cfg.target_lang)
        return _report_blank(load_multi30k(path, *langs, form=cfg.form, test_set=cfg.test_set))

    def _load_tfds(self, name: str) -> ParallelData:
        cfg = self.cfg
        langs = (cfg.source_lang, cfg.target_lang)
        data = load_tfds_translation(name, *langs, val_fraction=cfg.val_fraction, seed=cfg.seed)
        return _report_blank(data)

    def _read_pairs(self, path: str | Path) -> Pairs:
        """One pair file with this config's columns."""
        cfg = self.cfg
        return read_pair_file(
            path,
            reverse=cfg.reverse,
            source_column=cfg.source_column,
            target_column=cfg.target_column,
        )

    split_files_help = (
        "pair files (TSV/CSV) or prefixes P of aligned files P.{cfg.source_lang} / "
        "P.{cfg.target_lang}, paths or globs"
    )

    def split_path_ok(self, path: str) -> bool:
        """A pair file, or a prefix of aligned files."""
        return Path(path).is_file() or all(p.is_file() for p in self._prefix(path))

    def read_split(self, paths: list[str]) -> Pairs:
        """Pairs of pair files or aligned-file prefixes, concatenated (``train=`` ...)."""
        parts = [
            self._read_pairs(p) if Path(p).is_file() else read_aligned(*self._prefix(p))
            for p in paths
        ]
        return concat_pairs(parts)  # keeps its own skipped_blank

    def join_splits(self, parts: dict[str, Pairs]) -> ParallelData:
        """:class:`ParallelData` of the three splits (blank pairs reported once)."""
        return _report_blank(ParallelData(**parts))

    sources = (
        DataSource(
            "sample",
            lambda task, _: _report_blank(
                load_multi30k(
                    sample_dir("translation"),
                    task.cfg.source_lang,
                    task.cfg.target_lang,
                    form=task.cfg.form,
                )
            ),
            "'sample'",
        ),
        DataSource("dir", _load_dir, "a Multi30k folder"),
        DataSource(
            "file",
            lambda task, path: task._split_file(task._read_pairs(path), path),
            "a TSV/CSV pair file",
        ),
        DataSource(
            "other",
            lambda task, source: task._split_file(
                read_aligned(*task._prefix(source)), str(task._prefix(source)[0])
            ),
            "a prefix P of aligned files P.{cfg.source_lang} / P.{cfg.target_lang}",
            accepts=lambda task, source: all(p.is_file() for p in task._prefix(source)),
        ),
        DataSource("tfds", _load_tfds, "tfds:NAME"),
    )

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
        self.dropped_long = self.report_dropped(~self._keep_mask(data.train), "pairs (a side)")

    def report_vocabulary(self) -> dict[str, set[str]]:
        """Both vocabularies (padding, [UNK] and the start / end tokens left out)."""
        specials = {START_TOKEN, END_TOKEN}
        return {
            side: set(getattr(self, f"{side}_vectorizer").get_vocabulary()[2:]) - specials
            for side in ("source", "target")
        }

    def report_tokens(self, data: ParallelData, split: str) -> dict[str, list[list[str]]]:
        """Source and target words as the vectorizers read them."""
        part = data.split(split)
        return {
            "source": text_tokens(part.sources, standardize_sentence),
            "target": text_tokens(part.targets, standardize_sentence),
        }

    def dropped_items(self, data: ParallelData) -> list[dict]:
        """Blank pairs skipped by the readers; pairs over ``max_length``.

        Those are left out of training; in validation and test the source is cut and
        outputs stop at ``max_length``.
        """
        n = self.cfg.max_length
        out = []
        for split in SPLITS:
            part = data.split(split)
            out.append(
                {
                    "split": split,
                    "count": part.skipped_blank,
                    "reason": "pairs blank on both sides, skipped",
                }
            )
            over = int(np.sum(~self._keep_mask(part))) if len(part) else 0
            reason = (
                f"pairs with a side over max_length={n} tokens, left out of training"
                if split == "train"
                else f"pairs with a side over max_length={n} tokens (source cut, output "
                "stops there)"
            )
            out.append({"split": split, "count": over, "reason": reason})
        return out

    def save_assets(self, directory: Path) -> None:
        """Write ``source_vocabulary.txt`` and ``target_vocabulary.txt`` (one word per line)."""
        for side in ("source", "target"):
            vocab = getattr(self, f"{side}_vectorizer").get_vocabulary()
            write_lines(directory, f"{side}_vocabulary.txt", vocab)

    def load_assets(self, directory: Path) -> None:
        """Restore the vocabularies written by :meth:`save_assets`."""
        for side in ("source", "target"):
            vocab = read_lines(directory / f"{side}_vocabulary.txt")
            setattr(
                self, f"{side}_vectorizer", make_sentence_vectorizer(vocab, f"{side}_vectorizer")
            )
        self.target_words = self.target_vectorizer.get_vocabulary()

    def _keep_mask(self, part: Pairs) -> np.ndarray:
        """Pairs whose source and target (plus its end token) fit in ``max_length`` tokens."""
        src = self.source_vectorizer(tf.constant(part.sources)).row_lengths().numpy()
        tgt = self.target_vectorizer(tf.constant(part.targets)).row_lengths().numpy()
        return (src <= self.cfg.max_length) & (tgt + 1 <= self.cfg.max_length)

    def _pairs(self, part: Pairs, training: bool) -> tf.data.Dataset:
        """Unbatched ``({source, target_in}, target_out)`` int32 id vectors.

        ``target_in`` is ``[start] w1 .. wn`` and ``target_out`` ``w1 .. wn [end]``. When
        training, pairs over ``max_length`` are left out; otherwise long sides are cut.
        """
        if training:
            part = part.subset(np.flatnonzero(self._keep_mask(part)))
        n = self.cfg.max_length
        source = encode_texts(self.source_vectorizer, tf.constant(part.sources), n)
        target_in, target_out = shift_targets(self.target_vectorizer(tf.constant(part.targets)), n)
        ds = tf.data.Dataset.from_tensor_slices((source, target_in, target_out))
        return ds.map(lambda s, ti, to: ({"source": s, "target_in": ti}, to))

    def make_dataset(
        self, data: ParallelData, split: str, *, batch_size: int, training: bool
    ) -> tf.data.Dataset:
        """Batches of ``({source, target_in}, target_out)``, bucketed by length.

        All three are ``(batch, time)`` int32, right-padded with 0 (the loss mask). When
        training: pairs over ``max_length`` left out, reshuffled each epoch, repeated.
        """
        part = data.split(split)
        return self.batches(
            self._pairs(part, training),
            len(part),
            batch_size=batch_size,
            training=training,
            bucketing=Bucketing(
                lambda x, y: tf.maximum(tf.shape(x["source"])[0], tf.shape(y)[0]),
                self.cfg.max_length,
            ),
        )

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
        decoder = self.make_decoder(
            self.target_vectorizer.vocabulary_size(), cfg.decoder_units, encoder.output_dim
        )
        outputs, summary = encoder(source)  # (batch, time, d), (batch, d)
        logits = decoder(target_in, outputs, keras.ops.not_equal(source, 0), summary)
        name = f"translation_{cfg.cell}_{cfg.attention}"
        return keras.Model({"source": source, "target_in": target_in}, logits, name=name)

    # --- the seq2seq hooks -------------------------------------------------------------
    def encode(self, model: keras.Model, source: tf.Tensor) -> tuple:
        """Source ids ``(batch, time)`` -> encoder outputs, their mask and summary."""
        outputs, summary = model.get_layer("encoder")(source, training=False)
        return outputs, tf.not_equal(source, 0), summary

    def source_ids(self, sentences: tf.Tensor) -> tf.Tensor:
        """Raw sentences ``(batch,)`` -> right-padded source ids ``(batch, time)`` int32."""
        return encode_texts(self.source_vectorizer, sentences, self.cfg.max_length).to_tensor()

    def decoder_inputs(self, model: keras.Model, part: Pairs) -> tuple[list[str], tf.TensorSpec]:
        """The raw source sentences."""
        return part.sources, tf.TensorSpec([None], tf.string)

    def prepare(self, sentences: tf.Tensor) -> tf.Tensor:
        """Raw sentences -> source ids."""
        return self.source_ids(sentences)

    def serving_features(self, model: keras.Model, sentences: tf.Tensor) -> tf.Tensor:
        """Raw sentences -> source ids."""
        return self.source_ids(sentences)

    def resources(self, model: keras.Model) -> list:
        """Both vectorizers: their lookup tables must travel with the SavedModel."""
        return [self.source_vectorizer, self.target_vectorizer]

    def translate(
        self, model: keras.Model, sentences: list[str], beam_width: int, batch_size: int = 128
    ) -> list[str]:
        """Translate raw sentences (batched, with a progress bar); detokenised strings."""
        return self.generate(model, Pairs(list(sentences), []), beam_width, batch_size)[0]

    # --- evaluation ------------------------------------------------------------------
    def score(self, texts: list[str], words: list[list[str]], part: Pairs) -> dict[str, float]:
        """BLEU and chrF (sacrebleu, case-insensitive: the vocabulary is lower case).

        On detokenised output against the raw references, sacrebleu's default ``13a``
        tokenisation.
        """
        import sacrebleu  # imported here: only evaluation needs it

        bleu, chrf = sacrebleu.BLEU(lowercase=True), sacrebleu.CHRF(lowercase=True)
        scores = {
            "bleu": bleu.corpus_score(texts, [part.targets]).score,
            "chrf": chrf.corpus_score(texts, [part.targets]).score,
        }
        return scores

    def report(
        self, metrics: dict[str, float], part: Pairs, outputs: dict[str, list[str]], title: str
    ) -> str:
        """BLEU / chrF for beam and greedy, the sacrebleu signature, example translations."""
        import sacrebleu

        # sacrebleu's signature (version, tokenisation, ...) exists once a score is computed.
        bleu, chrf = sacrebleu.BLEU(lowercase=True), sacrebleu.CHRF(lowercase=True)
        for metric in (bleu, chrf):
            metric.corpus_score(outputs["beam"], [part.targets])
        signature = f"{bleu.get_signature()} / {chrf.get_signature()}"
        examples = []
        for i in range(min(10, len(part))):
            examples += [
                f"- source: {part.sources[i]}",
                f"  - reference: {part.targets[i]}",
                f"  - beam: {outputs['beam'][i]}",
                f"  - greedy: {outputs['greedy'][i]}",
            ]
        return decoding_report(
            f"Translation scores: {title}",
            metrics,
            [ScoreColumn("BLEU", "bleu"), ScoreColumn("chrF", "chrf")],
            f"Perplexity {metrics['perplexity']:.2f}. sacrebleu: `{signature}`.",
            examples,
        )

    def plot(
        self, model: keras.Model, part: Pairs, outputs: dict[str, list[str]], split: str, out: Path
    ) -> None:
        """``attention_<split>.png``: attention maps of four beam-search translations."""
        if self.cfg.attention != "none":
            self.plot_attention(model, part.sources[:4], out / f"attention_{split}.png")

    def plot_attention(self, model: keras.Model, sentences: list[str], path: Path) -> None:
        """Attention maps of ``sentences``' beam-search translations (rows: output words)."""
        texts = tf.constant(sentences)
        source = self.source_ids(texts)
        tokens, lengths, weights = self.attention(model, source)
        vocab = np.array(self.target_words)
        src_words = tf.strings.split(standardize_sentence(texts)).to_list()
        maps = []
        for i, words in enumerate(src_words):
            n_src = int(tf.reduce_sum(tf.cast(source[i] > 0, tf.int32)))
            n_out = int(lengths[i])
            maps.append(
                (
                    weights[i, :n_out, :n_src],
                    [w.decode("utf-8") for w in words[:n_src]],
                    vocab[tokens[i, :n_out]].tolist(),
                )
            )
        plot_attention(maps, path, title=f"attention ({self.cfg.attention})")


def _report_blank(data: ParallelData, skipped: int = 0) -> ParallelData:
    """Say how many pairs were blank on both sides (skipped by the readers)."""
    blank = skipped + sum(data.split(s).skipped_blank for s in SPLITS)
    if blank:
        print(f"translation: skipped {blank} pairs blank on both sides")
    return data
