"""Feature cache: equals on-the-fly features, reused when the manifest matches, rebuilt if not."""

import io

import numpy as np
import pytest
from PIL import Image

from seqapps.data.features import cached_features, image_features
from seqapps.errors import DataError
from seqapps.layers.backbones import build_backbone, preprocess


def write_images(folder, n=5):
    paths = []
    for i in range(n):
        buf = io.BytesIO()
        Image.new("RGB", (50, 40), (40 * i, 100, 255 - 40 * i)).save(buf, format="JPEG")
        path = folder / f"{i}.jpg"
        path.write_bytes(buf.getvalue())
        paths.append(path)
    return paths


def test_cache_equals_on_the_fly_and_is_reused(tmp_path):
    paths = write_images(tmp_path)
    cnn = build_backbone("mobilenet_v2", alpha=0.35, weights=None, image_size=64)
    fn = preprocess("mobilenet_v2")
    direct = image_features(cnn, fn, paths, image_size=64, batch_size=2)
    assert direct.shape == (5, 4, 1280)
    settings = {"backbone": "mobilenet_v2", "weights": None}
    cache = tmp_path / "cache" / "train"
    first = cached_features(cnn, fn, paths, image_size=64, cache=cache, settings=settings)
    np.testing.assert_allclose(first, direct, rtol=1e-2, atol=1e-2)  # stored as float16
    stamp = cache.with_suffix(".npy").stat().st_mtime_ns
    again = cached_features(cnn, fn, paths, image_size=64, cache=cache, settings=settings)
    assert isinstance(again, np.memmap) and cache.with_suffix(".npy").stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again, first)
    fewer = cached_features(cnn, fn, paths[:3], image_size=64, cache=cache, settings=settings)
    assert fewer.shape[0] == 3  # another image list: rebuilt
    assert not list(cache.parent.glob("*.tmp"))


def test_an_image_broken_after_loading_is_named_not_a_bare_tf_error(tmp_path):
    """Issue #15: the extraction pass names the file (the loaders checked it earlier)."""
    paths = write_images(tmp_path)
    data = paths[3].read_bytes()
    paths[3].write_bytes(data[: len(data) // 2])  # truncated
    cnn = build_backbone("mobilenet", alpha=0.25, weights=None, image_size=32)
    fn = preprocess("mobilenet")
    with pytest.raises(DataError, match=r"3.jpg: cannot be decoded \(truncated or corrupt"):
        image_features(cnn, fn, paths, image_size=32, batch_size=2)
    paths[3].unlink()
    with pytest.raises(DataError, match=r"3.jpg: cannot be read"):
        cached_features(cnn, fn, paths, image_size=32, cache=tmp_path / "c", settings={})
