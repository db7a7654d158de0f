"""Captioning: image -> caption (one-to-many; CNN encoder, attentive recurrent decoder).

A frozen ImageNet backbone (:mod:`seqapps.layers.backbones`, MobileNetV2 by default) turns
each image into a spatial feature map (``7 x 7`` positions at 224 pixels). Because it is
frozen, the features are extracted once per image into a disk cache
(:mod:`seqapps.data.features`) and the decoder trains on the cache. A
:class:`~seqapps.layers.seq2seq.FeatureEncoder` projects every position; an
:class:`~seqapps.layers.seq2seq.AttentiveDecoder` (the translation task's decoder) starts
from the mean projected feature and attends over the positions at every word (soft
attention, as in Show, Attend and Tell). Training uses teacher forcing and a cross-entropy
averaged over real caption tokens, optionally plus the doubly-stochastic attention penalty;
inference is greedy or beam search, shared with translation.

The backbone and its feature cache are one :class:`~seqapps.data.image_encoder.ImageEncoder`;
its weights are saved with the run (``assets/backbone.weights.h5``), so that features,
evaluation and the SavedModel always use the same encoder. With ``fine_tune=N``
the backbone's last ``N`` layers train with the decoder instead: the model then takes
pixels, and its own (trained) backbone replaces the saved one for evaluation and export.
The SavedModel holds the whole encoder: ``serving_default`` takes encoded JPEG/PNG bytes
and returns ``captions`` and ``decoded``; an image it cannot decode (truncated, corrupt)
gets an empty caption and ``decoded`` False, and the other images of its batch are
captioned as without it. Every path reads a JPEG as viewed: its EXIF orientation applied.

Example:
    >>> from seqapps.tasks.captioning import CaptioningConfig, CaptioningTask
    >>> task = CaptioningTask(CaptioningConfig(weights="none", epochs=1, units=32))
    >>> data = task.load_data()          # the packaged Flickr8k sample
    >>> task.adapt(data)                 # vocabulary and backbone
    >>> model = task.build_model()       # trains on cached features: see make_dataset
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from seqapps.config import CellName, RecurrentConfig, TrainConfig
from seqapps.data.captions import (
    PUNCTUATION,
    CaptionData,
    CaptionedImages,
    caption_tokens,
    load_caption_file,
    load_flickr8k,
    read_caption_files,
    read_image_files,
)
from seqapps.data.features import FeatureRows
from seqapps.data.image_encoder import ImageEncoder
from seqapps.data.images import BLACK_PNG
from seqapps.data.io import SPLITS, read_lines, sample_dir
from seqapps.data.text import (
    END_TOKEN,
    START_TOKEN,
    make_sentence_vectorizer,
    sentence_vocabulary,
    standardize_sentence,
)
from seqapps.data_report import text_tokens
from seqapps.errors import ConfigError
from seqapps.layers.backbones import BACKBONES
from seqapps.layers.seq2seq import AttentionPenalty, FeatureEncoder
from seqapps.metrics import corpus_bleu
from seqapps.plots import plot_caption_grid, plot_image_attention
from seqapps.space import IntRange
from seqapps.task import Bucketing, DataSource, write_lines
from seqapps.tasks.seq2seq import (
    ScoreColumn,
    Seq2SeqConfig,
    Seq2SeqTask,
    decoding_report,
    shift_targets,
)


@dataclasses.dataclass
class CaptioningConfig(Seq2SeqConfig, RecurrentConfig, TrainConfig):
    """Captioning settings: the shared training and recurrent fields plus these.

    ``units`` is the decoder's size; ``bidirectional`` must stay False (a decoder writes
    left to right). The defaults are the configuration measured on Flickr8k in
    docs/BENCHMARKS.md.
    """

    # GRU: selected over LSTM on Flickr8k dev (BLEU-4 18.4 vs 17.4) and 30 % faster per epoch.
    cell: CellName = "gru"
    units: int = 256
    bidirectional: bool = False
    dropout: float = 0.4
    # 10 epochs with patience 2 on Flickr8k's 30,000 training captions (469 steps of 64
    # each): the benchmark's choice, in optimisation steps so a smaller set trains more epochs.
    train_steps: int | None = 4690
    patience_steps: int | None = 938
    # Image encoder: a keras.applications backbone by name and width, its weights
    # ("imagenet" downloads; a local .h5 file works offline; "none" is random), input side.
    backbone: str = "mobilenet_v2"
    alpha: float = 0.5
    weights: str = "imagenet"
    image_size: int = 224
    # Training augmentation for a frozen backbone: features of this many randomly flipped and
    # brightened copies of every training image are cached too, and each training example
    # reads the original or one copy at random (0 = off).
    augment_copies: int = 0
    # Fine-tuning: the backbone's last N layers train with the decoder, from pixels (batch
    # norm stays frozen). The feature cache then serves evaluation only, and every training
    # step runs the CNN forward and backward: slow on CPU. 0 = frozen, features cached.
    fine_tune: int = 0
    # Where frozen-backbone features are cached ("" = ~/.cache/seqapps/features).
    feature_cache: str = ""
    # Size of each projected feature position (the decoder attends over these).
    feature_units: int = 256
    search_space: ClassVar[dict[str, Any]] = {
        "feature_units": IntRange(128, 512, log=True),
        "train_steps": IntRange(2300, 7000),  # 5-15 Flickr8k epochs
    }
    # Weight of the doubly-stochastic attention penalty (Xu et al. 2015), 0 = off.
    attention_penalty: float = 0.0
    # Overrides of the decoder defaults: the configuration measured on Flickr8k
    # (docs/BENCHMARKS.md); captions are read as targets, images as sources.
    min_count: int = 5
    max_length: int = 30
    beam_width: int = 3
    # Missing or unreadable images: an error naming the first, or skipped and counted.
    skip_missing: bool = False
    # COCO captions JSON: its image folder ("" = the JSON file's folder).
    image_dir: str = ""

    def check(self) -> None:
        """Raise :class:`ConfigError` for an out-of-range task setting."""
        if self.bidirectional:
            raise ConfigError("captioning's decoder reads left to right: bidirectional=false")
        if self.backbone not in BACKBONES:
            raise ConfigError(
                f"unknown backbone {self.backbone!r}; choose one of {', '.join(BACKBONES)}"
            )
        if self.weights not in ("imagenet", "none") and not Path(self.weights).is_file():
            raise ConfigError(
                f"weights={self.weights!r}: expected imagenet, none or an existing weights file"
            )
        if min(self.image_size, self.feature_units) < 1:
            raise ConfigError("image_size and feature_units must be >= 1")
        if self.augment_copies < 0 or self.fine_tune < 0:
            raise ConfigError("augment_copies and fine_tune must be >= 0")
        if self.augment_copies and self.fine_tune:
            raise ConfigError(
                "augment_copies caches features of a frozen backbone; with fine_tune > 0 leave it 0"
            )
        if self.attention_penalty < 0 or (self.attention_penalty and self.attention == "none"):
            raise ConfigError("attention_penalty must be >= 0, and needs attention")


@tf.autograph.experimental.do_not_convert
def _as_tensors(i: tf.Tensor, tokens_in: tf.Tensor, tokens_out: tf.Tensor) -> tuple:
    """Identity; a map through it turns 1-D ragged rows into plain tensors."""
    return i, tokens_in, tokens_out


class CaptioningTask(Seq2SeqTask[CaptioningConfig, CaptionData]):
    """Image captioning (Flickr8k by default): frozen CNN features, attentive RNN decoder."""

    name = "captioning"
    config_class = CaptioningConfig
    monitor = "val_loss"  # per-token cross-entropy of the validation captions
    # weights: an .h5 file, or a name
    input_path_keys = ("data", "train", "val", "test", "image_dir", "weights")
    serving_input = tf.TensorSpec([None], tf.string, name="images")
    output_key = "captions"

    def card_usage(self) -> dict[str, str]:
        """Image files on the command line; JPEG/PNG bytes, base64-encoded, over REST."""
        return {
            "predict": "photo.jpg",
            "instances": '[{"b64": "\'"$(base64 -w0 photo.jpg)"\'"}]',
            "python": 'tf.constant([open("photo.jpg", "rb").read()])',
            "note": " an instance is the bytes of one JPEG, PNG, GIF or BMP file as "
            '`{"b64": ...}`.',
        }

    def card_limits(self) -> list[str]:
        """Domain, vocabulary and broken-image behaviour, besides the base class's."""
        cfg = self.cfg
        return [
            "Describes photographs like the training images in one sentence of the training "
            "captions' language (the default data, Flickr8k: everyday scenes of people and "
            "animals, in English); it names nothing it has not seen described.",
            f"Words seen fewer than {cfg.min_count} times in training are not in its "
            f"vocabulary; a caption stops at {cfg.max_length} tokens.",
            'A file that is not a decodable image gets the caption "" and decoded=false; '
            "the other images in the batch are unaffected.",
            *super().card_limits(),
        ]

    count_key = "images"
    progress_unit = "image"
    report_noun = "images"
    # An empty batch is served as one black pixel, its caption then cut off (some backbones'
    # batch norm cannot run on zero images).
    serving_filler = (BLACK_PNG,)
    decode_batch_size = 64

    def __init__(self, cfg: CaptioningConfig) -> None:
        super().__init__(cfg)
        self.vectorizer: keras.layers.TextVectorization | None = None
        self.target_words: list[str] = []  # the caption vocabulary by id
        self.image_encoder: ImageEncoder | None = None  # set by adapt / load_assets
        self.dropped_long = 0  # training captions over max_length, reported by adapt
        self._tuned: tuple[keras.Model, ImageEncoder] | None = None

    @property
    def words(self) -> list[str]:
        """The caption vocabulary by id (``target_words``)."""
        return self.target_words

    @property
    def backbone(self) -> keras.Model:
        """The frozen backbone of :attr:`image_encoder`."""
        return self.image_encoder.backbone

    # --- data ------------------------------------------------------------------------
    def _load_dir(self, path: str) -> CaptionData:
        return _report_skipped(load_flickr8k(path, skip_missing=self.cfg.skip_missing))

    def _load_file(self, path: str) -> CaptionData:
        cfg = self.cfg
        data = load_caption_file(
            path,
            image_dir=cfg.image_dir,
            skip_missing=cfg.skip_missing,
            **cfg.split_args(),
        )
        return _report_skipped(data)

    def _no_tfds(self, name: str) -> CaptionData:
        raise ConfigError(
            "captioning reads image files: download the TFDS/COCO images and pass the "
            "COCO captions JSON (data=captions_train2017.json image_dir=train2017)"
        )

    split_files_help = "image<TAB>caption files or COCO captions JSON files, paths or globs"

    def read_split(self, paths: list[str]) -> CaptionedImages:
        """Captioned images of caption files, concatenated (``train=`` / ``val=`` ...)."""
        cfg = self.cfg
        return read_caption_files(paths, image_dir=cfg.image_dir, skip_missing=cfg.skip_missing)

    def join_splits(self, parts: dict[str, CaptionedImages]) -> CaptionData:
        """:class:`CaptionData` of the three splits (skipped images reported once)."""
        return _report_skipped(CaptionData(**parts))  # each split keeps its own count

    sources = (
        DataSource(
            "sample",
            lambda task, _: _report_skipped(load_flickr8k(sample_dir("captioning"))),
            "'sample'",
        ),
        DataSource("dir", _load_dir, "a Flickr8k folder"),
        DataSource("file", _load_file, "a COCO captions JSON file", suffixes=(".json",)),
        DataSource("file", _load_file, "an image<TAB>caption file"),
        DataSource("tfds", _no_tfds, "tfds:NAME", listed=False),
    )

    def num_examples(self, data: CaptionData, split: str) -> int:
        """Number of (image, caption) pairs in ``split``: one training example each."""
        return sum(len(c) for c in data.split(split).captions)

    def adapt(self, data: CaptionData) -> None:
        """Fit the vocabulary on the training captions; build the image encoder."""
        cfg = self.cfg
        captions = [c for caps in data.train.captions for c in caps]
        vocabulary = sentence_vocabulary(
            captions, max_tokens=None, min_count=cfg.min_count, specials=(START_TOKEN, END_TOKEN)
        )
        self.vectorizer = make_sentence_vectorizer(vocabulary, name="caption_vectorizer")
        self.target_words = self.vectorizer.get_vocabulary()
        self.image_encoder = self._build_encoder(cfg.weights)
        if cfg.weights == "none":  # random weights: match batch norm to real images
            self.image_encoder.calibrate(data.train.images[:64])
        lengths = self.vectorizer(tf.constant(captions)).row_lengths().numpy()
        self.dropped_long = self.report_dropped(lengths + 1 > cfg.max_length, "captions")

    def report_vocabulary(self) -> dict[str, set[str]]:
        """The caption vocabulary (padding, [UNK] and the start / end tokens left out)."""
        return {"captions": set(self.target_words[2:]) - {START_TOKEN, END_TOKEN}}

    def report_tokens(self, data: CaptionData, split: str) -> dict[str, list[list[str]]]:
        """The words of every caption of the split, as the vectorizer reads them."""
        captions = [c for caps in data.split(split).captions for c in caps]
        return {"captions": text_tokens(captions, standardize_sentence)}

    def dropped_items(self, data: CaptionData) -> list[dict]:
        """Skipped images (``skip_missing``); training captions over ``max_length``."""
        out = [
            {
                "split": split,
                "count": data.split(split).skipped_missing,
                "reason": "missing or unreadable images, skipped",
            }
            for split in SPLITS
        ]
        n = self.cfg.max_length
        captions = [c for caps in data.train.captions for c in caps]
        over = sum(len(t) + 1 > n for t in text_tokens(captions, standardize_sentence))
        out.append(
            {
                "split": "train",
                "count": over,
                "reason": f"captions over max_length={n} tokens (end token included), "
                "left out of training",
            }
        )
        return out

    def _build_encoder(self, weights: str) -> ImageEncoder:
        cfg = self.cfg
        return ImageEncoder.build(
            cfg.backbone,
            alpha=cfg.alpha,
            weights=weights,
            image_size=cfg.image_size,
            cache_dir=cfg.feature_cache,
            seed=cfg.seed,
        )

    def save_assets(self, directory: Path) -> None:
        """Write ``vocabulary.txt`` and the backbone's ``backbone.weights.h5``."""
        write_lines(directory, "vocabulary.txt", self.target_words)
        self.image_encoder.save(directory)

    def load_assets(self, directory: Path) -> None:
        """Restore the vocabulary and the backbone written by :meth:`save_assets`."""
        vocabulary = read_lines(directory / "vocabulary.txt")
        self.vectorizer = make_sentence_vectorizer(vocabulary, "caption_vectorizer")
        self.target_words = self.vectorizer.get_vocabulary()
        self.image_encoder = self._build_encoder("none")
        self.image_encoder.load(directory)

    def features(self, images: list[Path], copy: int = 0) -> np.ndarray:
        """Frozen-backbone features ``(images, positions, channels)`` float16 (cached)."""
        return self.image_encoder.features(images, copy)

    def image_features(self, images: tf.Tensor) -> tf.Tensor:
        """Encoded image bytes ``(batch,)`` -> features ``(batch, positions, channels)``."""
        return self.image_encoder.encode_bytes(images)

    def encoder_for(self, model: keras.Model) -> ImageEncoder:
        """The image encoder ``model`` was trained with: its own backbone when fine-tuned.

        With ``fine_tune``, the trained backbone is the model's ``backbone`` layer; its
        features are cached under its own weights' hash. The task itself is not changed.
        """
        if not self.cfg.fine_tune:
            return self.image_encoder
        if self._tuned is None or self._tuned[0] is not model:
            self._tuned = (model, self.image_encoder.with_backbone(model.get_layer("backbone")))
        return self._tuned[1]

    def caption_examples(
        self, part: CaptionedImages, training: bool
    ) -> tuple[np.ndarray, tf.RaggedTensor, tf.RaggedTensor]:
        """One example per caption: image index, ``[start] w1 .. wn``, ``w1 .. wn [end]``.

        When training, captions over ``max_length`` tokens (end token included) are left out;
        otherwise they are cut.
        """
        index = np.repeat(np.arange(len(part)), [len(c) for c in part.captions]).astype(np.int32)
        texts = [c for caps in part.captions for c in caps]
        ids = tf.cast(self.vectorizer(tf.constant(texts)), tf.int32)
        if training:
            keep = (ids.row_lengths() + 1 <= self.cfg.max_length).numpy()
            index, ids = index[keep], tf.ragged.boolean_mask(ids, keep)
        return (index, *shift_targets(ids, self.cfg.max_length))

    def make_dataset(
        self, data: CaptionData, split: str, *, batch_size: int, training: bool
    ) -> tf.data.Dataset:
        """Batches of ``({features, tokens_in}, tokens_out)``, one example per caption.

        ``features`` ``(batch, positions, channels)`` float32 come from the feature cache;
        with ``fine_tune`` the batches hold ``images`` instead, ``(batch, size, size, 3)``
        preprocessed pixels read from the files. ``tokens_in`` is ``[start] w1 .. wn`` and
        ``tokens_out`` ``w1 .. wn [end]``, right padded with 0 (the loss mask) and bucketed
        by length. When training: captions over ``max_length`` left out, reshuffled each
        epoch, repeated.
        """
        part = data.split(split)
        index, tokens_in, tokens_out = self.caption_examples(part, training)
        ds = tf.data.Dataset.from_tensor_slices((index, tokens_in, tokens_out))
        # Rows of a ragged tensor come out as 1-D ragged specs, which padded_batch refuses;
        # passing them through map turns them into plain tensors.
        ds = ds.map(_as_tensors)
        if self.cfg.fine_tune:
            inputs = self.image_encoder.pixel_lookup(part.images)
        else:
            copies = self.cfg.augment_copies if training else 0
            inputs = self.image_encoder.feature_lookup(part.images, copies)

        @tf.autograph.experimental.do_not_convert  # plain TF ops; AutoGraph only warns
        def gather(i: tf.Tensor, ti: tf.Tensor, to: tf.Tensor) -> tuple[dict, tf.Tensor]:
            return {**inputs(i), "tokens_in": ti}, to

        return self.batches(
            ds,
            len(index),
            batch_size=batch_size,
            training=training,
            bucketing=Bucketing(lambda i, ti, to: tf.shape(to)[0], self.cfg.max_length),
            after_batch=gather,
        )

    # --- model -----------------------------------------------------------------------
    def build_model(self) -> keras.Model:
        """Encoder ``encoder`` and decoder ``decoder`` (named layers); outputs caption logits."""
        cfg = self.cfg
        height, width = self.image_encoder.grid
        channels = self.image_encoder.channels
        tokens_in = keras.Input((None,), dtype="int32", name="tokens_in")
        if cfg.fine_tune:  # the backbone is part of the model and trains with it
            images = keras.Input((cfg.image_size, cfg.image_size, 3), name="images")
            # training=False: batch norm keeps its ImageNet statistics while fine-tuning.
            maps = self.fine_tuning_backbone()(images, training=False)
            features = keras.layers.Reshape((height * width, channels), name="positions")(maps)
            inputs = {"images": images, "tokens_in": tokens_in}
        else:
            features = keras.Input((height * width, channels), name="features")
            inputs = {"features": features, "tokens_in": tokens_in}
        encoder = FeatureEncoder(cfg.feature_units, dropout=cfg.dropout, name="encoder")
        decoder = self.make_decoder(len(self.target_words), cfg.units, cfg.feature_units)
        values, summary = encoder(features)
        mask = keras.ops.ones_like(features[:, :, 0], dtype="bool")  # every position is real
        if cfg.attention_penalty:
            logits, weights = decoder(tokens_in, values, mask, summary, return_attention=True)
            logits = AttentionPenalty(cfg.attention_penalty, name="attention_penalty")(
                logits, weights, tokens_in
            )
        else:
            logits = decoder(tokens_in, values, mask, summary)
        name = f"captioning_{cfg.cell}_{cfg.attention}"
        return keras.Model(inputs, logits, name=name)

    def fine_tuning_backbone(self) -> keras.Model:
        """A copy of the backbone named ``backbone``, its last ``fine_tune`` layers trainable.

        Built here, inside the strategy scope, so that its variables are distributed like
        the decoder's (see :meth:`ImageEncoder.trainable_copy`).
        """
        return self.image_encoder.trainable_copy(self.cfg.fine_tune, layer_name="backbone")

    # --- the seq2seq hooks -------------------------------------------------------------
    def encode(self, model: keras.Model, features: tf.Tensor) -> tuple:
        """Features ``(batch, positions, channels)`` float32 -> projected values, mask, summary."""
        values, summary = model.get_layer("encoder")(features, training=False)
        return values, tf.ones(tf.shape(values)[:2], tf.bool), summary

    def decoder_inputs(
        self, model: keras.Model, part: CaptionedImages
    ) -> tuple[FeatureRows, tf.TensorSpec]:
        """The cached features of the split's images (of ``model``'s backbone), read per batch."""
        features = self.encoder_for(model).feature_rows(part.images)
        return features, tf.TensorSpec([None, *features.row_shape], tf.float32)

    def serving_features(self, model: keras.Model, images: tf.Tensor) -> tf.Tensor:
        """Encoded image bytes -> features, with the backbone ``model`` was trained with."""
        return self.encoder_for(model).encode_bytes(images)

    def serve(self, model: keras.Model, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        """Encoded images -> captions, whether each decoded, and where the decoder looked.

        ``images`` ``(batch,)`` string -> ``captions`` ``(batch,)`` string, ``decoded``
        ``(batch,)`` bool and, with attention, ``attention`` float32 ``(batch, steps,
        grid height, grid width)``.

        ``attention[i, t]`` is where the decoder looked (weights over the CNN's feature grid,
        summing to 1; the image's top-left region first) when it wrote the caption's token
        ``t``; steps after the caption's end token are zero. A broken image (one TensorFlow
        cannot decode: truncated, a header followed by zeros, not an image) does not fail the
        batch: its caption is ``""``, its ``decoded`` False and its attention zero; every
        other image gets the caption it gets without it. (A batch op cannot leave a row out,
        and an error would lose the other captions.)
        """
        encoder = self.encoder_for(model)
        features, decoded = encoder.encode_checked(inputs)
        tokens, lengths = self.decode(model, features, self.cfg.beam_width)
        captions = tf.where(decoded, self.to_text(tokens), "")
        outputs = {self.output_key: captions, "decoded": decoded}
        if self.cfg.attention != "none":
            # float32 whatever the compute dtype (mixed precision): the signature promises it
            weights = tf.cast(self.attention_weights(model, features, tokens), tf.float32)
            # lengths count the end token: its map is kept, the padding after it is zeroed
            steps = tf.sequence_mask(lengths, tf.shape(tokens)[1], tf.float32)
            keep = steps * tf.cast(decoded, tf.float32)[:, None]
            height, width = encoder.grid
            shape = tf.concat([tf.shape(weights)[:2], [height, width]], axis=0)
            outputs["attention"] = tf.reshape(weights * keep[:, :, None], shape)
        return outputs

    def resources(self, model: keras.Model) -> list:
        """The backbone the SavedModel runs (the model's own when fine-tuned)."""
        return [self.encoder_for(model).backbone]

    # --- evaluation ------------------------------------------------------------------
    def score(
        self, texts: list[str], words: list[list[str]], part: CaptionedImages
    ) -> dict[str, float]:
        """Corpus BLEU-1..4 against every reference caption, and the share of distinct captions.

        Tokenisation for BLEU: :func:`~seqapps.data.text.standardize_sentence` (lower case,
        punctuation split off), then punctuation tokens dropped, on both sides, as the COCO
        caption evaluation does.
        """
        references = [caption_tokens(caps) for caps in part.captions]
        hyps = [[w for w in ws if w not in PUNCTUATION] for ws in words]
        scores = {f"bleu{n}": s for n, s in enumerate(corpus_bleu(hyps, references), start=1)}
        scores["distinct"] = len(set(texts)) / max(len(texts), 1)
        return scores

    def report(
        self,
        metrics: dict[str, float],
        part: CaptionedImages,
        outputs: dict[str, list[str]],
        title: str,
    ) -> str:
        """BLEU-1..4 and distinct captions for beam and greedy, then example captions."""
        examples = []
        for i in range(min(10, len(part))):
            examples += [
                f"- image: {part.images[i].name}",
                f"  - beam: {outputs['beam'][i]}",
                f"  - greedy: {outputs['greedy'][i]}",
                *[f"  - reference: {c}" for c in part.captions[i]],
            ]
        columns = [ScoreColumn(f"BLEU-{n}", f"bleu{n}") for n in range(1, 5)]
        columns.append(ScoreColumn("distinct captions", "distinct", "{:.0%}".format))
        return decoding_report(
            f"Captioning scores: {title}",
            metrics,
            columns,
            f"Perplexity {metrics['perplexity']:.2f}. Corpus BLEU against all reference captions "
            "of each image; lower-cased words, punctuation dropped, closest reference length.",
            examples,
        )

    def plot(
        self,
        model: keras.Model,
        part: CaptionedImages,
        outputs: dict[str, list[str]],
        split: str,
        out: Path,
    ) -> None:
        """Write ``captions_<split>.png`` and ``attention_<split>.png``.

        The first shows images with generated and reference captions, the second where the
        decoder looked for each word.
        """
        encoder = self.encoder_for(model)
        shown = list(range(min(9, len(part))))
        plot_caption_grid(
            [encoder.pixels(part.images[i]) for i in shown],
            [f"{outputs['beam'][i]}\n(ref: {part.captions[i][0]})" for i in shown],
            out / f"captions_{split}.png",
        )
        if self.cfg.attention != "none":
            self.plot_attention(model, part.images[:2], out / f"attention_{split}.png")

    def plot_attention(self, model: keras.Model, images: list[Path], path: Path) -> None:
        """Attention maps of the beam-search captions of ``images``, one panel per word."""
        encoder = self.encoder_for(model)
        features = tf.constant(np.asarray(encoder.features(images), np.float32))
        tokens, lengths, weights = self.attention(model, features)
        grid_h, grid_w = encoder.grid
        examples = []
        for i, image in enumerate(images):
            n = int(lengths[i])
            words = [self.target_words[t] for t in tokens[i, :n]]
            maps = weights[i, :n].reshape(n, grid_h, grid_w)
            examples.append((encoder.pixels(image), words, maps))
        plot_image_attention(examples, path)

    def predict_inputs(self, inputs: list[str]) -> tf.Tensor:
        """Image file paths -> their bytes as a ``(batch,)`` string tensor.

        Raises:
            DataError: a file that is missing, not a JPEG/PNG/GIF/BMP image, or that
                TensorFlow cannot decode (truncated, corrupt), named.
        """
        return tf.constant(read_image_files(inputs), tf.string)

    def format_predictions(self, inputs: list[str], outputs: dict[str, tf.Tensor]) -> list[str]:
        """One caption per line; ``image<TAB>caption`` when there are several images."""
        captions = super().format_predictions(inputs, outputs)
        if len(inputs) == 1:
            return captions
        return [f"{name}\t{c}" for name, c in zip(inputs, captions, strict=True)]


def _report_skipped(data: CaptionData) -> CaptionData:
    """Say how many missing or unreadable images the readers skipped."""
    skipped = sum(data.split(s).skipped_missing for s in SPLITS)
    if skipped:
        print(f"captioning: skipped {skipped} missing or unreadable images")
    return data


__all__ = ["AttentionPenalty", "CaptioningConfig", "CaptioningTask", "caption_tokens"]
