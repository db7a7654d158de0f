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

The backbone's weights are saved with the run (``assets/backbone.weights.h5``), so that
features, evaluation and the SavedModel always use the same encoder. With ``fine_tune=N``
the backbone's last ``N`` layers train with the decoder instead: the model then takes
pixels, and its own (trained) backbone replaces the saved one for evaluation and export.
The SavedModel holds the whole encoder: ``serving_default`` takes encoded JPEG/PNG bytes
and returns captions.

Example:
    >>> from seqapps.tasks.captioning import CaptioningConfig, CaptioningTask
    >>> task = CaptioningTask(CaptioningConfig(weights="none", epochs=1, units=32))
    >>> data = task.load_data()          # the packaged Flickr8k sample
    >>> task.adapt(data)                 # vocabulary and backbone
    >>> model = task.build_model()       # trains on cached features: see make_dataset
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import keras
import numpy as np
import tensorflow as tf

from seqapps.config import CellName, RecurrentConfig, TrainConfig
from seqapps.data.batching import bucketed_batches
from seqapps.data.captions import (
    CaptionData,
    CaptionedImages,
    image_problem,
    load_flickr8k,
    read_caption_tsv,
    read_coco_captions,
)
from seqapps.data.features import cached_features
from seqapps.data.images import decode_image
from seqapps.data.io import SPLITS, random_split, sample_dir
from seqapps.data.text import (
    END_TOKEN,
    START_TOKEN,
    ids_to_text,
    make_sentence_vectorizer,
    sentence_vocabulary,
    standardize_sentence,
)
from seqapps.errors import ConfigError, DataError
from seqapps.layers.backbones import (
    BACKBONES,
    build_backbone,
    calibrate_batch_norm,
    preprocess,
)
from seqapps.layers.seq2seq import AttentiveDecoder, FeatureEncoder, attentive_decode
from seqapps.metrics import corpus_bleu, teacher_forced_perplexity
from seqapps.plots import plot_caption_grid, plot_image_attention
from seqapps.progress import progress_bar
from seqapps.task import Task

# Ids fixed by sentence_vocabulary: padding 0, [UNK] 1, then the specials in this order.
_START_ID, _END_ID = 2, 3
# Tokens left out of BLEU, as the COCO caption evaluation's tokenizer drops punctuation.
_PUNCTUATION = frozenset(".,!?;:\"()'")


@dataclasses.dataclass
class CaptioningConfig(RecurrentConfig, TrainConfig):
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
    epochs: int = 10
    patience: int = 2
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
    embedding_dim: int = 256
    attention: Literal["bahdanau", "luong", "none"] = "bahdanau"
    attention_units: int | None = None
    # Weight of the doubly-stochastic attention penalty (Xu et al. 2015), 0 = off.
    attention_penalty: float = 0.0
    # Words seen fewer times in the training captions read as [UNK].
    min_count: int = 5
    # Longest caption in tokens (end token included); longer training captions are left
    # out and counted, and generated captions stop here.
    max_length: int = 30
    beam_width: int = 3
    length_alpha: float = 0.6
    # Missing or unreadable images: an error naming the first, or skipped and counted.
    skip_missing: bool = False
    # COCO captions JSON: its image folder ("" = the JSON file's folder).
    image_dir: str = ""
    # One plain file (COCO JSON, image<TAB>caption): image shares held out for val / test.
    val_fraction: float = 0.1
    test_fraction: float = 0.1

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
        if min(self.image_size, self.feature_units, self.embedding_dim, self.min_count) < 1:
            raise ConfigError("image_size, feature_units, embedding_dim, min_count must be >= 1")
        if self.augment_copies < 0 or self.fine_tune < 0:
            raise ConfigError("augment_copies and fine_tune must be >= 0")
        if self.augment_copies and self.fine_tune:
            raise ConfigError(
                "augment_copies caches features of a frozen backbone; with fine_tune > 0 leave it 0"
            )
        if self.max_length < 2 or self.beam_width < 1 or self.length_alpha < 0:
            raise ConfigError("max_length must be >= 2, beam_width >= 1, length_alpha >= 0")
        if self.attention_penalty < 0 or (self.attention_penalty and self.attention == "none"):
            raise ConfigError("attention_penalty must be >= 0, and needs attention")


@keras.saving.register_keras_serializable(package="seqapps")
class AttentionPenalty(keras.layers.Layer):
    """Adds ``weight * mean_batch sum_positions (1 - sum_steps alpha)^2`` to the model's loss.

    The doubly-stochastic regularisation of Show, Attend and Tell: it pushes the decoder to
    look at every part of the image over the whole caption. Padding steps do not count.
    Returns the logits unchanged.
    """

    def __init__(self, weight: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.weight = weight

    def call(self, logits: Any, attention: Any, tokens: Any) -> Any:  # noqa: D102
        steps = keras.ops.cast(keras.ops.not_equal(tokens, 0), attention.dtype)[:, :, None]
        total = keras.ops.sum(attention * steps, axis=1)  # (batch, positions)
        self.add_loss(self.weight * keras.ops.mean(keras.ops.sum((1.0 - total) ** 2, axis=-1)))
        return logits

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "weight": self.weight}


@tf.autograph.experimental.do_not_convert
def _as_tensors(i: tf.Tensor, tokens_in: tf.Tensor, tokens_out: tf.Tensor) -> tuple:
    """Identity; a map through it turns 1-D ragged rows into plain tensors."""
    return i, tokens_in, tokens_out


def default_feature_cache() -> Path:
    """``$XDG_CACHE_HOME/seqapps/features`` (``~/.cache/seqapps/features`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "seqapps" / "features"


def weights_fingerprint(model: keras.Model) -> str:
    """A short hash of every weight of ``model``: names a feature cache by its encoder."""
    digest = hashlib.sha256()
    for w in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(w)).tobytes())
    return digest.hexdigest()[:16]


def caption_tokens(texts: list[str]) -> list[list[str]]:
    """Lower-cased words without punctuation: the tokenisation BLEU is computed on."""
    words = tf.strings.split(standardize_sentence(tf.constant(texts or [""], tf.string)))
    return [
        [w.decode("utf-8") for w in row if w.decode("utf-8") not in _PUNCTUATION]
        for row in words.to_list()
    ][: len(texts)]


class CaptioningTask(Task):
    """Image captioning (Flickr8k by default): frozen CNN features, attentive RNN decoder."""

    name = "captioning"
    config_class = CaptioningConfig
    monitor = "val_loss"  # per-token cross-entropy of the validation captions
    monitor_mode = "min"

    def __init__(self, cfg: CaptioningConfig) -> None:
        super().__init__(cfg)
        self.vectorizer: keras.layers.TextVectorization | None = None
        self.words: list[str] = []  # the caption vocabulary by id
        self.backbone: keras.Model | None = None
        self.dropped_long = 0  # training captions over max_length, reported by adapt
        self._features: dict[str, np.ndarray] = {}  # per cache key, for this process

    # --- data ------------------------------------------------------------------------
    def load_data(self) -> CaptionData:
        """Load ``cfg.data``: ``sample``, a Flickr8k folder, COCO JSON or image<TAB>caption file."""
        cfg = self.cfg
        skip = {"skip_missing": cfg.skip_missing}
        path = Path(cfg.data)
        if cfg.data == "sample":
            data = load_flickr8k(sample_dir("captioning"))
        elif cfg.data.startswith("tfds:"):
            raise ConfigError(
                "captioning reads image files: download the TFDS/COCO images and pass the "
                "COCO captions JSON (data=captions_train2017.json image_dir=train2017)"
            )
        elif path.is_dir():
            data = load_flickr8k(path, **skip)
        elif path.is_file():
            if path.suffix == ".json":
                images = read_coco_captions(path, cfg.image_dir or path.parent, **skip)
            else:
                images = read_caption_tsv(path, **skip)
            parts = random_split(
                len(images),
                val_fraction=cfg.val_fraction,
                test_fraction=cfg.test_fraction,
                seed=cfg.seed,
                source=path,
            )
            data = CaptionData(**{s: images.subset(np.sort(parts[s])) for s in SPLITS})
            data.train.skipped_missing = images.skipped_missing  # reported once, below
        else:
            raise DataError(
                cfg.data,
                "no such file or directory",
                hint="data= takes 'sample', a Flickr8k folder, a COCO captions JSON file "
                "or an image<TAB>caption file",
            )
        skipped = sum(data.split(s).skipped_missing for s in SPLITS)
        if skipped:
            print(f"captioning: skipped {skipped} missing or unreadable images")
        if cfg.max_train_samples and cfg.max_train_samples < len(data.train):
            keep = np.random.default_rng(cfg.seed).permutation(len(data.train))
            data.train = data.train.subset(np.sort(keep[: cfg.max_train_samples]))
        return data

    def num_examples(self, data: CaptionData, split: str) -> int:
        """Number of (image, caption) pairs in ``split``: one training example each."""
        return sum(len(c) for c in data.split(split).captions)

    def adapt(self, data: CaptionData) -> None:
        """Fit the vocabulary on the training captions; build the backbone with its weights."""
        cfg = self.cfg
        captions = [c for caps in data.train.captions for c in caps]
        vocabulary = sentence_vocabulary(
            captions, max_tokens=None, min_count=cfg.min_count, specials=(START_TOKEN, END_TOKEN)
        )
        self.vectorizer = make_sentence_vectorizer(vocabulary, name="caption_vectorizer")
        self.words = self.vectorizer.get_vocabulary()
        try:
            self.backbone = build_backbone(
                cfg.backbone, alpha=cfg.alpha, weights=cfg.weights, image_size=cfg.image_size
            )
        # Keras raises a bare Exception when the ImageNet download fails (no internet).
        except Exception as e:  # noqa: BLE001
            raise ConfigError(
                f"cannot build backbone {cfg.backbone} (alpha={cfg.alpha}, "
                f"weights={cfg.weights}): {e}; offline, pass weights=PATH to a local "
                "no-top weights file, or weights=none"
            ) from e
        if cfg.weights == "none":  # random weights: match batch norm to real images
            images = data.train.images[:64]
            pixels = tf.stack([self._pixels(p) for p in images])
            calibrate_batch_norm(self.backbone, preprocess(cfg.backbone)(pixels))
        lengths = self.vectorizer(tf.constant(captions)).row_lengths().numpy()
        self.dropped_long = int((lengths + 1 > cfg.max_length).sum())
        if self.dropped_long:
            print(
                f"captioning: {self.dropped_long} of {len(captions)} training captions are over "
                f"max_length={cfg.max_length} tokens and are left out of training"
            )

    def save_assets(self, directory: Path) -> None:
        """Write ``vocabulary.txt`` and the backbone's ``backbone.weights.h5``."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "vocabulary.txt").write_text("\n".join(self.words) + "\n", encoding="utf-8")
        self.backbone.save_weights(directory / "backbone.weights.h5")

    def load_assets(self, directory: Path) -> None:
        """Restore the vocabulary and the backbone written by :meth:`save_assets`."""
        cfg = self.cfg
        text = (directory / "vocabulary.txt").read_text(encoding="utf-8")
        self.vectorizer = make_sentence_vectorizer(text.split("\n")[:-1], "caption_vectorizer")
        self.words = self.vectorizer.get_vocabulary()
        self.backbone = build_backbone(
            cfg.backbone, alpha=cfg.alpha, weights="none", image_size=cfg.image_size
        )
        self.backbone.load_weights(directory / "backbone.weights.h5")

    def features(self, images: list[Path], copy: int = 0) -> np.ndarray:
        """Backbone features ``(images, positions, channels)`` float16, from the disk cache.

        The cache file is named by a hash of the image list, the backbone settings and its
        weights, so a changed backbone never reads stale features. ``copy`` 0 is the images
        as they are; ``copy`` k >= 1 an augmented copy (seeded by ``seed`` and k).
        """
        cfg = self.cfg
        settings = {
            "backbone": cfg.backbone,
            "alpha": cfg.alpha,
            "weights_sha256": weights_fingerprint(self.backbone),
        }
        augment_seed = cfg.seed * 1000 + copy if copy else None
        key_doc = {"images": [str(p) for p in images], "image_size": cfg.image_size, **settings}
        if copy:
            key_doc["augment_seed"] = augment_seed
        key = hashlib.sha256(json.dumps(key_doc).encode("utf-8")).hexdigest()[:24]
        if key not in self._features:
            cache = Path(cfg.feature_cache) if cfg.feature_cache else default_feature_cache()
            self._features[key] = cached_features(
                self.backbone,
                preprocess(cfg.backbone),
                images,
                image_size=cfg.image_size,
                cache=cache / key,
                settings=settings,
                augment_seed=augment_seed,
            )
        return self._features[key]

    def caption_examples(
        self, part: CaptionedImages, training: bool
    ) -> tuple[np.ndarray, tf.RaggedTensor, tf.RaggedTensor]:
        """One example per caption: image index, ``[start] w1 .. wn``, ``w1 .. wn [end]``.

        When training, captions over ``max_length`` tokens (end token included) are left out;
        otherwise they are cut.
        """
        n = self.cfg.max_length
        index = np.repeat(np.arange(len(part)), [len(c) for c in part.captions]).astype(np.int32)
        texts = [c for caps in part.captions for c in caps]
        ids = tf.cast(self.vectorizer(tf.constant(texts)), tf.int32)
        if training:
            keep = (ids.row_lengths() + 1 <= n).numpy()
            index, ids = index[keep], tf.ragged.boolean_mask(ids, keep)
        ids = ids[:, : n - 1]
        rows = ids.nrows()
        tokens_in = tf.concat([tf.fill([rows, 1], _START_ID), ids], axis=1)
        tokens_out = tf.concat([ids, tf.fill([rows, 1], _END_ID)], axis=1)
        return index, tokens_in, tokens_out

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
        n = self.cfg.max_length
        index, tokens_in, tokens_out = self.caption_examples(part, training)
        ds = tf.data.Dataset.from_tensor_slices((index, tokens_in, tokens_out))
        # Rows of a ragged tensor come out as 1-D ragged specs, which padded_batch refuses;
        # passing them through map turns them into plain tensors.
        ds = ds.map(_as_tensors).cache()
        if training:
            ds = ds.shuffle(len(index), seed=self.cfg.seed, reshuffle_each_iteration=True)
            ds = ds.repeat()
        ds = bucketed_batches(
            ds, batch_size=batch_size, max_length=n, length_fn=lambda i, ti, to: tf.shape(to)[0]
        )
        inputs = (
            self._pixel_inputs(part) if self.cfg.fine_tune else self._feature_inputs(part, training)
        )

        @tf.autograph.experimental.do_not_convert  # plain TF ops; AutoGraph only warns
        def gather(i: tf.Tensor, ti: tf.Tensor, to: tf.Tensor) -> tuple[dict, tf.Tensor]:
            return {**inputs(i), "tokens_in": ti}, to

        return ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def _feature_inputs(self, part: CaptionedImages, training: bool) -> Any:
        """Image indices -> ``{"features": ...}`` gathered from the cached features."""
        # A constant, gathered per batch: the frozen features are never recomputed.
        copies = self.cfg.augment_copies if training else 0
        features = tf.constant(
            np.concatenate([self.features(part.images, k) for k in range(copies + 1)])
        )

        def inputs(i: tf.Tensor) -> dict[str, tf.Tensor]:
            if copies:  # the original or one augmented copy of each image, at random
                i += len(part) * tf.random.uniform(tf.shape(i), 0, copies + 1, tf.int32)
            return {"features": tf.cast(tf.gather(features, i), tf.float32)}

        return inputs

    def _pixel_inputs(self, part: CaptionedImages) -> Any:
        """Image indices -> ``{"images": ...}``, decoded and preprocessed (fine-tuning)."""
        paths = tf.constant([str(p) for p in part.images])
        size, prepare = self.cfg.image_size, preprocess(self.cfg.backbone)

        def inputs(i: tf.Tensor) -> dict[str, tf.Tensor]:
            pixels = tf.map_fn(
                lambda path: decode_image(tf.io.read_file(path), size),
                tf.gather(paths, i),
                fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32),
            )
            return {"images": prepare(pixels)}

        return inputs

    # --- model -----------------------------------------------------------------------
    def build_model(self) -> keras.Model:
        """Encoder ``encoder`` and decoder ``decoder`` (named layers); outputs caption logits."""
        cfg = self.cfg
        _, height, width, channels = self.backbone.output_shape
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
        decoder = AttentiveDecoder(
            len(self.words),
            cfg.embedding_dim,
            cell=cfg.cell,
            units=cfg.units,
            context_dim=cfg.feature_units,
            layers=cfg.layers,
            attention=cfg.attention,
            attention_units=cfg.attention_units,
            dropout=cfg.dropout,
            name="decoder",
        )
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
        """A copy of the backbone named ``backbone`` with its last ``fine_tune`` layers trainable.

        A copy built here, inside the strategy scope, so that its variables are distributed
        like the decoder's. Batch-norm layers stay frozen (small batches would spoil their
        statistics).

        Raises:
            ConfigError: ``fine_tune`` is more than the backbone's number of layers.
        """
        cfg = self.cfg
        backbone = build_backbone(
            cfg.backbone,
            alpha=cfg.alpha,
            weights="none",
            image_size=cfg.image_size,
            trainable=True,
            layer_name="backbone",
        )
        backbone.set_weights(self.backbone.get_weights())
        layers = backbone.layers[1:]  # the input layer has no weights
        if cfg.fine_tune > len(layers):
            raise ConfigError(
                f"fine_tune={cfg.fine_tune}: backbone {cfg.backbone} has {len(layers)} layers"
            )
        for k, layer in enumerate(layers):
            frozen = k < len(layers) - cfg.fine_tune
            layer.trainable = not (frozen or isinstance(layer, keras.layers.BatchNormalization))
        return backbone

    def use_model_backbone(self, model: keras.Model) -> None:
        """With ``fine_tune``, take the trained backbone from ``model`` for features and export.

        The features of a fine-tuned backbone are cached under its own weights' hash.
        """
        if self.cfg.fine_tune:
            self.backbone = model.get_layer("backbone")

    def compile_args(self, model: keras.Model) -> dict:
        """Cross-entropy averaged over the real caption tokens (padding id 0 ignored)."""
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
        return {"loss": loss}

    # --- inference -------------------------------------------------------------------
    def decode(
        self, model: keras.Model, features: tf.Tensor, beam_width: int
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Caption features ``(batch, positions, channels)`` float32 into word ids; traceable.

        Returns ``tokens`` ``(batch, steps)`` int32 (end token included, 0 after it) and
        ``lengths`` ``(batch,)`` int32 counting the end token. ``beam_width`` 1 is greedy.
        """
        values, summary = model.get_layer("encoder")(features, training=False)
        return attentive_decode(
            model.get_layer("decoder"),
            values,
            tf.ones(tf.shape(values)[:2], tf.bool),
            summary,
            start_id=_START_ID,
            end_id=_END_ID,
            max_length=self.cfg.max_length,
            beam_width=beam_width,
            alpha=self.cfg.length_alpha,
        )

    def to_text(self, tokens: tf.Tensor) -> tf.Tensor:
        """Word ids ``(batch, steps)`` from :meth:`decode` -> ``(batch,)`` caption strings."""
        return ids_to_text(self.words, tokens, _END_ID)

    def image_features(self, images: tf.Tensor) -> tf.Tensor:
        """Encoded image bytes ``(batch,)`` -> backbone features ``(batch, positions, channels)``.

        The whole image side in TF ops (decode, resize, the backbone's preprocessing, the
        backbone): what the SavedModel runs. Traceable.
        """
        size = self.cfg.image_size
        pixels = tf.map_fn(
            lambda data: decode_image(data, size),
            images,
            fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32),
        )
        maps = self.backbone(preprocess(self.cfg.backbone)(pixels), training=False)
        return tf.reshape(maps, [tf.shape(maps)[0], -1, maps.shape[-1]])

    def caption_features(
        self, model: keras.Model, features: np.ndarray, beam_width: int, batch_size: int = 64
    ) -> tuple[list[str], list[list[str]]]:
        """Caption cached features (batched, with a progress bar): texts and word lists."""
        _, positions, channels = features.shape

        # autograph=False: the loops are explicit tf.while_loops; AutoGraph only warns here.
        @tf.function(
            input_signature=[tf.TensorSpec([None, positions, channels], tf.float32)],
            autograph=False,
        )
        def run(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            tokens, lengths = self.decode(model, x, beam_width)
            return self.to_text(tokens), tokens, lengths

        bar = progress_bar(len(features), unit="image")
        texts: list[str] = []
        words: list[list[str]] = []
        for start in range(0, len(features), batch_size):
            batch = np.asarray(features[start : start + batch_size], np.float32)
            text, tokens, lengths = run(tf.constant(batch))
            texts += [t.decode("utf-8") for t in text.numpy()]
            for row, n in zip(tokens.numpy(), lengths.numpy(), strict=True):
                words.append([self.words[i] for i in row[:n] if i != _END_ID])
            bar.add(len(batch))
        return texts, words

    # --- evaluation and serving ------------------------------------------------------
    def evaluate(
        self, model: keras.Model, data: CaptionData, split: str, out_dir: Path
    ) -> dict[str, float]:
        """Corpus BLEU-1..4 against every reference caption, for beam search and greedy.

        Tokenisation for BLEU: :func:`~seqapps.data.text.standardize_sentence` (lower case,
        punctuation split off), then punctuation tokens dropped, on both sides, as the COCO
        caption evaluation does. Writes ``captioning_report_<split>.md``,
        ``captions_<split>.png`` (test images with generated and reference captions) and
        ``attention_<split>.png`` (where the decoder looked for each word) into ``out_dir``.
        """
        cfg = self.cfg
        self.use_model_backbone(model)
        part = data.split(split)
        features = self.features(part.images)
        references = [caption_tokens(caps) for caps in part.captions]
        metrics: dict[str, float] = {}
        outputs: dict[str, list[str]] = {}
        for kind, width in {"beam": cfg.beam_width, "greedy": 1}.items():
            print(f"captioning {split} ({kind}, width {width})")
            texts, words = self.caption_features(model, features, width)
            hyps = [[w for w in ws if w not in _PUNCTUATION] for ws in words]
            suffix = "" if kind == "beam" else "_greedy"
            for n, score in enumerate(corpus_bleu(hyps, references), start=1):
                metrics[f"bleu{n}{suffix}"] = score
            metrics[f"distinct{suffix}"] = len(set(texts)) / max(len(texts), 1)
            outputs[kind] = texts
        metrics["beam_width"] = float(cfg.beam_width)
        metrics["perplexity"] = self.perplexity(model, data, split)
        metrics["images"] = float(len(part))
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"captioning_report_{split}.md").write_text(
            captioning_report(metrics, part, outputs, f"{split} ({len(part)} images)"),
            encoding="utf-8",
        )
        shown = list(range(min(9, len(part))))
        plot_caption_grid(
            [self._pixels(part.images[i]) for i in shown],
            [f"{outputs['beam'][i]}\n(ref: {part.captions[i][0]})" for i in shown],
            out_dir / f"captions_{split}.png",
        )
        if cfg.attention != "none":
            self.plot_attention(model, part.images[:2], out_dir / f"attention_{split}.png")
        return metrics

    def _pixels(self, path: Path) -> np.ndarray:
        """The image as the model sees it: ``(size, size, 3)`` 0..255, for plots."""
        return decode_image(tf.io.read_file(str(path)), self.cfg.image_size).numpy()

    def perplexity(self, model: keras.Model, data: CaptionData, split: str) -> float:
        """Exp of the mean cross-entropy per reference token (end token included)."""
        return teacher_forced_perplexity(
            model, self.make_dataset(data, split, batch_size=256, training=False)
        )

    def plot_attention(self, model: keras.Model, images: list[Path], path: Path) -> None:
        """Attention maps of the beam-search captions of ``images``, one panel per word."""
        encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
        features = tf.constant(np.asarray(self.features(images), np.float32))
        tokens, lengths = self.decode(model, features, self.cfg.beam_width)
        values, summary = encoder(features, training=False)
        tokens_in = tf.concat([tf.fill([len(images), 1], _START_ID), tokens[:, :-1]], axis=1)
        mask = tf.ones(tf.shape(values)[:2], tf.bool)
        _, weights = decoder(tokens_in, values, mask, summary, return_attention=True)
        _, grid_h, grid_w, _ = self.backbone.output_shape
        examples = []
        for i, image in enumerate(images):
            n = int(lengths[i])
            words = [self.words[t] for t in tokens[i, :n].numpy()]
            maps = weights[i, :n].numpy().reshape(n, grid_h, grid_w)
            examples.append((self._pixels(image), words, maps))
        plot_image_attention(examples, path)

    def export_archive(self, model: keras.Model) -> keras.export.ExportArchive:
        """``serving_default(images: (batch,) string) -> {captions: (batch,) string}``.

        ``images`` are encoded JPEG / PNG / GIF / BMP files; the backbone and beam search of
        width ``beam_width`` run inside the graph.
        """
        self.use_model_backbone(model)
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.track(self.backbone)
        width = self.cfg.beam_width

        @tf.function(
            input_signature=[tf.TensorSpec([None], tf.string, name="images")], autograph=False
        )
        def serve(images: tf.Tensor) -> dict[str, tf.Tensor]:
            tokens, _ = self.decode(model, self.image_features(images), width)
            return {"captions": self.to_text(tokens)}

        archive.add_endpoint("serving_default", serve)
        return archive

    def predict_inputs(self, inputs: list[str]) -> tf.Tensor:
        """Image file paths -> their bytes as a ``(batch,)`` string tensor.

        Raises:
            DataError: a file that is missing or not a JPEG/PNG/GIF/BMP image.
        """
        for name in inputs:
            problem = image_problem(Path(name))
            if problem:
                raise DataError(name, problem)
        return tf.constant([Path(name).read_bytes() for name in inputs], tf.string)

    def format_predictions(self, inputs: list[str], outputs: dict[str, tf.Tensor]) -> list[str]:
        """One caption per line; ``image<TAB>caption`` when there are several images."""
        captions = [c.decode("utf-8") for c in outputs["captions"].numpy()]
        if len(inputs) == 1:
            return captions
        return [f"{name}\t{c}" for name, c in zip(inputs, captions, strict=True)]


def captioning_report(
    metrics: dict[str, float],
    part: CaptionedImages,
    outputs: dict[str, list[str]],
    title: str,
    examples: int = 10,
) -> str:
    """Markdown: BLEU-1..4 for beam and greedy, then the first ``examples`` captions."""
    rows = [
        f"# Captioning scores: {title}",
        "",
        "| decoding | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | distinct captions |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, suffix in (("beam", ""), ("greedy", "_greedy")):
        label = f"beam (width {int(metrics['beam_width'])})" if kind == "beam" else kind
        bleu = " | ".join(f"{metrics[f'bleu{n}{suffix}']:.2f}" for n in range(1, 5))
        rows.append(f"| {label} | {bleu} | {metrics[f'distinct{suffix}']:.0%} |")
    rows += [
        "",
        f"Perplexity {metrics['perplexity']:.2f}. Corpus BLEU against all reference captions "
        "of each image; lower-cased words, punctuation dropped, closest reference length.",
        "",
        "## Examples",
        "",
    ]
    for i in range(min(examples, len(part))):
        rows += [
            f"- image: {part.images[i].name}",
            f"  - beam: {outputs['beam'][i]}",
            f"  - greedy: {outputs['greedy'][i]}",
            *[f"  - reference: {c}" for c in part.captions[i]],
        ]
    return "\n".join(rows) + "\n"
