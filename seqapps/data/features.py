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

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from seqapps.data.images import UNDECODABLE, decode_image, image_decodes, random_augment
from seqapps.errors import DataError
from seqapps.progress import progress_bar


def feature_batches(
    cnn: keras.Model,
    preprocess_fn: Callable[[Any], Any],
    images: list[Path],
    *,
    image_size: int,
    batch_size: int = 32,
    augment_seed: int | None = None,
) -> Iterator[np.ndarray]:
    """Run ``cnn`` over image files; yield ``(batch, h * w, channels)`` float32 features.

    One batch at a time, in the order of ``images``, with a progress bar: callers that
    write each batch away hold one batch in memory, whatever the number of images.

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
    # One traced graph, not eager calls: eager runs of MobileNetV2 at 224 px left 2 GB more
    # resident after 1,000 images, and took twice as long (issue #17's memory).
    encode = tf.function(
        lambda pixels: cnn(preprocess_fn(pixels), training=False), reduce_retracing=True
    )
    bar = progress_bar(len(images), unit="image")
    done = 0
    batches = iter(ds.prefetch(tf.data.AUTOTUNE))
    while True:
        try:
            pixels = next(batches)
        except StopIteration:
            break
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as e:
            # Errors come in order: the broken image is in the next batch.
            raise _broken_image(images[done : done + batch_size] or images) from e
        maps = encode(pixels)  # (batch, h, w, c)
        yield tf.reshape(maps, [tf.shape(maps)[0], -1, maps.shape[-1]]).numpy()
        done += len(pixels)
        bar.add(len(pixels))


def image_features(
    cnn: keras.Model,
    preprocess_fn: Callable[[Any], Any],
    images: list[Path],
    *,
    image_size: int,
    batch_size: int = 32,
    augment_seed: int | None = None,
) -> np.ndarray:
    """All of :func:`feature_batches` in one ``(images, h * w, channels)`` float32 array.

    Holds every feature in memory: for a few images. :func:`cached_features` streams them
    to disk instead.

    Raises:
        DataError: as :func:`feature_batches`.
    """
    out = list(
        feature_batches(
            cnn,
            preprocess_fn,
            images,
            image_size=image_size,
            batch_size=batch_size,
            augment_seed=augment_seed,
        )
    )
    _, height, width, channels = cnn.output_shape
    return np.concatenate(out) if out else np.zeros((0, height * width, channels), np.float32)


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
        ``(images, positions, channels)`` float16 features, a read-only memory map of the
        cache file (for slices; :class:`FeatureRows` reads many rows without keeping them).
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
    _, height, width, channels = cnn.output_shape
    cache.parent.mkdir(parents=True, exist_ok=True)
    # A temporary name of this process's own: two processes extracting into one cache
    # directory (parallel runs, workers on one host) must not write into the same file.
    fd, tmp_name = tempfile.mkstemp(dir=cache.parent, prefix=npy.name + ".", suffix=".tmp")
    tmp_npy = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            # The .npy header first, then each batch as it comes: memory holds one batch,
            # however many images (8,000 Flickr8k images are 1 GB of float16 features).
            header = {
                "descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)),
                "fortran_order": False,
                "shape": (len(images), height * width, channels),
            }
            np.lib.format.write_array_header_1_0(f, header)
            for batch in feature_batches(
                cnn,
                preprocess_fn,
                images,
                image_size=image_size,
                batch_size=batch_size,
                augment_seed=augment_seed,
            ):
                # float16: half the disk and memory; ample precision for frozen features.
                f.write(np.ascontiguousarray(batch, np.float16).tobytes())
        os.chmod(tmp_npy, 0o644)  # mkstemp makes it private; a cache is for every reader
        os.replace(tmp_npy, npy)  # atomic: a reader sees the old file or the whole new one
    finally:
        tmp_npy.unlink(missing_ok=True)  # a failed extraction leaves nothing behind
    fd, tmp_name = tempfile.mkstemp(dir=cache.parent, prefix=meta.name + ".", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(manifest))
    os.chmod(tmp_name, 0o644)
    os.replace(tmp_name, meta)  # written last: the manifest vouches for a whole .npy
    return np.load(npy, mmap_mode="r")


class FeatureRows:
    """Rows of ``.npy`` feature files read on demand: memory holds only the rows asked for.

    A memory map would do the same at first, but every page it touches stays in the
    process's resident set, so an epoch over the cache grows it to the cache's size. Plain
    reads go through the page cache instead, which the kernel can reclaim. Several files
    read as one array, the second file's rows after the first's (the augmented copies of a
    training split). Each :meth:`take` opens the files it reads and closes them: no
    descriptor outlives a call (a ``tf.numpy_function`` keeps its callable, and so this
    object, for the life of the process), and calls from several threads share nothing.

    Args:
        files: ``.npy`` files of C-ordered ``(rows, ...)`` arrays with the same row shape
            and dtype (e.g. ``(images, positions, channels)`` float16 from
            :func:`cached_features`).

    Raises:
        ValueError: the files' row shapes or dtypes differ, or one is Fortran-ordered.

    Example:
        >>> rows = FeatureRows([Path("cache/abc.npy")])
        >>> rows.take(np.array([3, 0]))  # (2, positions, channels) float16
    """

    def __init__(self, files: list[Path]) -> None:
        self._parts: list[tuple[Path, int, int]] = []  # (file, data offset, rows) per file
        row_shape: tuple[int, ...] | None = None
        dtype: np.dtype | None = None
        for path in files:
            with open(path, "rb") as f:
                version = np.lib.format.read_magic(f)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, fortran, file_dtype = read_header(f)
                offset = f.tell()
            if fortran or (row_shape is not None and (shape[1:], file_dtype) != (row_shape, dtype)):
                raise ValueError(f"{path}: not a C-ordered array of rows {row_shape} {dtype}")
            row_shape, dtype = shape[1:], file_dtype
            self._parts.append((Path(path), offset, shape[0]))
        self.row_shape: tuple[int, ...] = row_shape or ()
        self.dtype: np.dtype = dtype or np.dtype(np.float16)
        self._row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize
        self._starts = np.cumsum([0] + [rows for _, _, rows in self._parts])

    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def shape(self) -> tuple[int, ...]:
        """``(rows, *row_shape)``, as an array's."""
        return (len(self), *self.row_shape)

    def take(self, index: np.ndarray) -> np.ndarray:
        """Rows ``index`` ``(n,)`` ints -> ``(n, *row_shape)`` array of the files' dtype.

        Raises:
            IndexError: an index outside ``0 .. len - 1``.
        """
        index = np.asarray(index, np.int64).reshape(-1)
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"feature rows {index.min()}..{index.max()} of {len(self)}")
        out = np.empty((len(index), *self.row_shape), self.dtype)
        view = out.reshape(len(index), self._row_bytes // self.dtype.itemsize).view(np.uint8)
        parts = np.searchsorted(self._starts, index, side="right") - 1
        with contextlib.ExitStack() as stack:
            opened: dict[int, Any] = {}  # unbuffered: each row is one read into `out`
            for k, (i, part) in enumerate(zip(index, parts, strict=True)):
                path, offset, _ = self._parts[part]
                if part not in opened:
                    opened[part] = stack.enter_context(open(path, "rb", buffering=0))
                f = opened[part]
                f.seek(offset + (int(i) - int(self._starts[part])) * self._row_bytes)
                if f.readinto(view[k]) != self._row_bytes:
                    raise OSError(f"{path}: shorter than its header says (row {i})")
        return out

    def __getitem__(self, key: slice) -> np.ndarray:
        """Rows of a slice (``rows[a:b]``), read from disk."""
        return self.take(np.arange(len(self))[key])

    def close(self) -> None:
        """Nothing to release (no file stays open between reads); kept for callers."""
