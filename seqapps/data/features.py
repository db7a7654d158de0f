"""A disk cache of frozen-CNN features: extract once, train a decoder on them many times.

A frozen backbone gives the same features every epoch, so running it once per image instead
of once per image and epoch saves most of a captioning run's compute. The cache is a
``.npy`` file of ``(images, positions, channels)`` float16 features next to a JSON manifest
naming the images and the backbone settings; a cache whose manifest differs is rebuilt, and
both files are written under temporary names and renamed, so a killed extraction never
leaves a cache that looks complete.

Example:
    >>> cnn = build_backbone("mobilenet_v2", alpha=0.5, weights="weights.h5")
    >>> feats = cached_features(cnn, preprocess("mobilenet_v2"), paths, image_size=224,
    ...                         cache=Path("runs/features/train"), settings={"alpha": 0.5})
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from seqapps.data.images import UNDECODABLE, decode_image, image_decodes, random_augment
from seqapps.errors import DataError
from seqapps.progress import progress_bar


def image_features(
    cnn: keras.Model,
    preprocess_fn: Callable[[Any], Any],
    images: list[Path],
    *,
    image_size: int,
    batch_size: int = 32,
    augment_seed: int | None = None,
) -> np.ndarray:
    """Run ``cnn`` over image files; return ``(images, h * w, channels)`` float32 features.

    Args:
        cnn: the backbone (e.g. from :func:`seqapps.layers.backbones.build_backbone`).
        preprocess_fn: the backbone's preprocessing of 0..255 pixels.
        images: image files.
        image_size: side the images are resized to.
        batch_size: images per forward pass.
        augment_seed: if set, each image is first augmented
            (:func:`~seqapps.data.images.random_augment`, seeded by this and its position).

    Raises:
        DataError: an image file that cannot be read or decoded, named (the loaders check
            every image, so this is a file that changed after it was loaded).
    """

    def load(index: tf.Tensor, path: tf.Tensor) -> tf.Tensor:
        pixels = decode_image(tf.io.read_file(path), image_size)
        if augment_seed is None:
            return pixels
        return random_augment(pixels, tf.stack([tf.constant(augment_seed, tf.int64), index]))

    paths = [str(p) for p in images]
    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(paths), dtype=np.int64), paths))
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)
    bar = progress_bar(len(images), unit="image")
    out = []
    batches = iter(ds.prefetch(tf.data.AUTOTUNE))
    while True:
        try:
            pixels = next(batches)
        except StopIteration:
            break
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as e:
            # Errors come in order: the broken image is in the next batch.
            done = sum(len(o) for o in out)
            raise _broken_image(images[done : done + batch_size] or images) from e
        maps = cnn(preprocess_fn(pixels), training=False)  # (batch, h, w, c)
        out.append(tf.reshape(maps, [tf.shape(maps)[0], -1, maps.shape[-1]]).numpy())
        bar.add(len(pixels))
    channels = cnn.output_shape[-1]
    return np.concatenate(out) if out else np.zeros((0, 0, channels), np.float32)


def _broken_image(candidates: list[Path]) -> DataError:
    """A DataError naming the first of ``candidates`` that cannot be read or decoded."""
    for path in candidates:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            return DataError(path, f"cannot be read ({e.strerror or e})")
        if not image_decodes(data):
            return DataError(path, UNDECODABLE)
    return DataError(candidates[0], UNDECODABLE)


def cached_features(
    cnn: keras.Model,
    preprocess_fn: Callable[[Any], Any],
    images: list[Path],
    *,
    image_size: int,
    cache: Path,
    settings: dict[str, Any],
    batch_size: int = 32,
    augment_seed: int | None = None,
) -> np.ndarray:
    """Features of ``images`` from ``cache.npy`` if its manifest matches, else extracted.

    Args:
        cnn: the (frozen) backbone.
        preprocess_fn: the backbone's preprocessing of 0..255 pixels.
        images: image files, in the order of the returned rows.
        image_size: side the images are resized to.
        batch_size: images per forward pass.
        cache: path stem; ``cache.npy`` and ``cache.json`` are read or written.
        settings: what else determines the features (backbone name, width, weights); part
            of the manifest.
        augment_seed: features of seeded augmented copies (see :func:`image_features`).

    Returns:
        ``(images, positions, channels)`` float16 features (read-only memory map when cached).
    """
    cache = Path(cache)
    manifest = {
        "images": [str(p) for p in images],
        "image_size": image_size,
        "output_shape": list(cnn.output_shape[1:]),
        **settings,
    }
    if augment_seed is not None:  # only then: caches written before this key stay valid
        manifest["augment_seed"] = augment_seed
    npy, meta = cache.with_suffix(".npy"), cache.with_suffix(".json")
    if npy.exists() and meta.exists():
        if json.loads(meta.read_text(encoding="utf-8")) == manifest:
            return np.load(npy, mmap_mode="r")
    features = image_features(
        cnn,
        preprocess_fn,
        images,
        image_size=image_size,
        batch_size=batch_size,
        augment_seed=augment_seed,
    ).astype(np.float16)  # half the disk and memory; ample precision for frozen features
    cache.parent.mkdir(parents=True, exist_ok=True)
    for path, write in (
        (npy, lambda f: np.save(f, features)),
        (meta, lambda f: f.write(json.dumps(manifest).encode("utf-8"))),
    ):
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as f:
            write(f)
        os.replace(tmp, path)  # atomic: a reader sees the old file or the whole new one
    return features
