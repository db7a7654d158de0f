"""An image encoder: a CNN backbone together with the disk cache of its features.

Captioning reads images through one :class:`ImageEncoder`: its backbone (a
``keras.applications`` model without classifier), the backbone's preprocessing, the image
side, and the feature cache (:func:`seqapps.data.features.cached_features`) named by a hash
of the images, the settings and the backbone's weights, so that a changed or fine-tuned
backbone never reads stale features. The same object runs the whole image side in TF ops
(:meth:`ImageEncoder.encode_bytes`) for the SavedModel.

Example:
    >>> enc = ImageEncoder.build("mobilenet_v2", alpha=0.5, weights="none", image_size=64)
    >>> feats = enc.features(paths)          # (images, positions, channels) float16, cached
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from seqapps.data.features import FeatureRows, cached_features
from seqapps.data.images import DECODE_VERSION, UNDECODABLE, decode_image, decode_images
from seqapps.errors import ConfigError, DataError
from seqapps.layers.backbones import build_backbone, calibrate_batch_norm, preprocess

WEIGHTS_FILE = "backbone.weights.h5"


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


class ImageEncoder:
    """A backbone, its preprocessing and the cache of its features.

    Args:
        backbone: ``(batch, size, size, 3)`` preprocessed pixels -> ``(batch, h, w, c)`` maps.
        name: the backbone's key in :data:`seqapps.layers.backbones.BACKBONES`.
        alpha: its width multiplier (part of the cache key).
        image_size: side in pixels images are resized to.
        cache_dir: where features are cached (``""`` = :func:`default_feature_cache`).
        seed: seeds the augmented copies (copy k uses ``seed * 1000 + k``).
    """

    def __init__(
        self,
        backbone: keras.Model,
        *,
        name: str,
        alpha: float,
        image_size: int,
        cache_dir: str | Path = "",
        seed: int = 0,
    ) -> None:
        self.backbone = backbone
        self.name, self.alpha, self.image_size = name, alpha, image_size
        self.cache_dir = Path(cache_dir) if cache_dir else default_feature_cache()
        self.seed = seed
        self._memo: dict[str, np.ndarray] = {}  # features per cache key, for this process

    @classmethod
    def build(
        cls,
        name: str,
        *,
        alpha: float,
        weights: str,
        image_size: int,
        cache_dir: str | Path = "",
        seed: int = 0,
    ) -> ImageEncoder:
        """Build the backbone (``weights``: ``imagenet``, a local file, or ``none``).

        Raises:
            ConfigError: the backbone cannot be built, e.g. the ImageNet download fails.
        """
        try:
            backbone = build_backbone(name, alpha=alpha, weights=weights, image_size=image_size)
        except ConfigError:
            raise
        # Keras raises a bare Exception when the ImageNet download fails (no internet).
        except Exception as e:  # noqa: BLE001
            raise ConfigError(
                f"cannot build backbone {name} (alpha={alpha}, weights={weights}): {e}; "
                "offline, pass weights=PATH to a local no-top weights file, or weights=none"
            ) from e
        return cls(
            backbone, name=name, alpha=alpha, image_size=image_size, cache_dir=cache_dir, seed=seed
        )

    def with_backbone(self, backbone: keras.Model) -> ImageEncoder:
        """The same settings around another backbone (e.g. a fine-tuned copy)."""
        return ImageEncoder(
            backbone,
            name=self.name,
            alpha=self.alpha,
            image_size=self.image_size,
            cache_dir=self.cache_dir,
            seed=self.seed,
        )

    def trainable_copy(self, last: int, *, layer_name: str = "backbone") -> keras.Model:
        """A copy of the backbone whose last ``last`` layers train (for fine-tuning).

        Batch-norm layers stay frozen: small batches would spoil their statistics. Build
        it inside the strategy scope that trains it.

        Raises:
            ConfigError: ``last`` is more than the backbone's number of layers.
        """
        backbone = build_backbone(
            self.name,
            alpha=self.alpha,
            weights="none",
            image_size=self.image_size,
            trainable=True,
            layer_name=layer_name,
        )
        backbone.set_weights(self.backbone.get_weights())
        layers = backbone.layers[1:]  # the input layer has no weights
        if last > len(layers):
            raise ConfigError(f"fine_tune={last}: backbone {self.name} has {len(layers)} layers")
        for k, layer in enumerate(layers):
            frozen = k < len(layers) - last
            layer.trainable = not (frozen or isinstance(layer, keras.layers.BatchNormalization))
        return backbone

    # --- state -----------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write the backbone's weights (``backbone.weights.h5``) into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        self.backbone.save_weights(directory / WEIGHTS_FILE)

    def load(self, directory: Path) -> None:
        """Read the weights :meth:`save` wrote."""
        self.backbone.load_weights(directory / WEIGHTS_FILE)

    def calibrate(self, images: list[Path]) -> None:
        """Match batch-norm statistics to ``images`` (random weights only; see backbones)."""
        pixels = tf.stack([self.pixels(p) for p in images])
        calibrate_batch_norm(self.backbone, preprocess(self.name)(pixels))

    @property
    def grid(self) -> tuple[int, int]:
        """Feature-map height and width (7 x 7 for MobileNetV2 at 224 pixels)."""
        _, height, width, _ = self.backbone.output_shape
        return height, width

    @property
    def channels(self) -> int:
        """Channels per position."""
        return self.backbone.output_shape[-1]

    # --- features --------------------------------------------------------------------
    def pixels(self, path: Path) -> np.ndarray:
        """The image as the model sees it: ``(size, size, 3)`` float32 0..255, for plots.

        Raises:
            DataError: a file TensorFlow cannot decode, named.
        """
        try:
            return decode_image(tf.io.read_file(str(path)), self.image_size).numpy()
        except tf.errors.InvalidArgumentError as e:
            raise DataError(path, UNDECODABLE) from e

    def features(self, images: list[Path], copy: int = 0) -> np.ndarray:
        """Backbone features ``(images, positions, channels)`` float16, from the disk cache.

        A read-only memory map of the cache file (extracted first when missing), named by a
        hash of the image list, the backbone settings and its weights. ``copy`` 0 is the
        images as they are; ``copy`` k >= 1 a randomly flipped and brightened copy, seeded
        by ``seed`` and k.
        """
        # Hashed on every call: a fine-tuned backbone's weights change between calls.
        fingerprint = weights_fingerprint(self.backbone)
        settings = {
            "backbone": self.name,
            "alpha": self.alpha,
            "weights_sha256": fingerprint,
            "decode": DECODE_VERSION,  # caches from before EXIF orientation are not reused
        }
        augment_seed = self.seed * 1000 + copy if copy else None
        key_doc = {
            # Each file's size too: an image replaced under the same name is re-encoded.
            "images": [
                [str(p), Path(p).stat().st_size if Path(p).exists() else -1] for p in images
            ],
            "image_size": self.image_size,
            **settings,
        }
        if copy:
            key_doc["augment_seed"] = augment_seed
        key = hashlib.sha256(json.dumps(key_doc).encode("utf-8")).hexdigest()[:24]
        if key not in self._memo:
            self._memo[key] = cached_features(
                self.backbone,
                preprocess(self.name),
                images,
                image_size=self.image_size,
                cache=self.cache_dir / key,
                settings=settings,
                augment_seed=augment_seed,
            )
        return self._memo[key]

    def feature_rows(self, images: list[Path], copies: int = 0) -> FeatureRows:
        """The cached features of ``images`` and of ``copies`` augmented copies, read on demand.

        Rows ``k * len(images) + i`` are copy k of image i. Nothing is loaded: see
        :class:`~seqapps.data.features.FeatureRows`.
        """
        files = []
        for k in range(copies + 1):
            cached = self.features(images, k)  # extracted here if missing
            files.append(Path(cached.filename))
        return FeatureRows(files)

    def feature_lookup(
        self, images: list[Path], copies: int = 0
    ) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
        """Image indices ``(batch,)`` -> ``{"features": (batch, positions, channels)}`` float32.

        Each batch reads its rows from the feature cache on disk
        (:meth:`feature_rows`): memory stays flat in the number of images, and the frozen
        features are never recomputed. With ``copies`` > 0 each index reads the original
        or one of its augmented copies at random (training augmentation for a frozen
        backbone).
        """
        rows = self.feature_rows(images, copies)
        n = len(images)
        positions, channels = rows.row_shape

        def lookup(i: tf.Tensor) -> dict[str, tf.Tensor]:
            if copies:
                i += n * tf.random.uniform(tf.shape(i), 0, copies + 1, tf.int32)
            # stateful=False: the same indices always read the same rows.
            features = tf.numpy_function(rows.take, [i], tf.float16, stateful=False)
            features.set_shape([None, positions, channels])
            return {"features": tf.cast(features, tf.float32)}

        return lookup

    def pixel_lookup(self, images: list[Path]) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
        """Image indices ``(batch,)`` -> ``{"images": (batch, s, s, 3)}`` preprocessed pixels.

        Read from the files on every call: for fine-tuning, where features change every step.
        """
        paths = tf.constant([str(p) for p in images])

        def lookup(i: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"images": self.decode_pixels(tf.map_fn(tf.io.read_file, tf.gather(paths, i)))}

        return lookup

    def decode_pixels(self, images: tf.Tensor) -> tf.Tensor:
        """Encoded image bytes ``(batch,)`` -> preprocessed pixels ``(batch, s, s, 3)``.

        Fails (``InvalidArgumentError``) on an image TensorFlow cannot decode: for images
        the loaders checked. :meth:`encode_checked` is the variant that cannot fail.
        """
        size = self.image_size
        pixels = tf.map_fn(
            lambda data: decode_image(data, size),
            images,
            fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32),
        )
        return preprocess(self.name)(pixels)

    def encode_bytes(self, images: tf.Tensor) -> tf.Tensor:
        """Encoded image bytes ``(batch,)`` -> features ``(batch, positions, channels)``.

        The whole image side in TF ops (decode, resize, preprocessing, backbone): what the
        SavedModel runs. Traceable. Fails on an image TensorFlow cannot decode; see
        :meth:`encode_checked`.
        """
        return self._encode(self.decode_pixels(images))

    def encode_checked(self, images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Encoded image bytes ``(batch,)`` -> features and ``decoded`` ``(batch,)`` bool.

        :meth:`encode_bytes` that never fails on a broken image: one TensorFlow cannot
        decode has ``decoded`` False and the features of a black image
        (:func:`seqapps.data.images.decode_images`); the others' features are those of
        :meth:`encode_bytes`. What the SavedModel runs.
        """
        pixels, decoded = decode_images(images, self.image_size)
        return self._encode(preprocess(self.name)(pixels)), decoded

    def _encode(self, pixels: tf.Tensor) -> tf.Tensor:
        maps = self.backbone(pixels, training=False)
        return tf.reshape(maps, [tf.shape(maps)[0], -1, maps.shape[-1]])
