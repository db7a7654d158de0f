"""Feature cache: equals on-the-fly features, reused when the manifest matches, rebuilt if not."""

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from seqapps.data.features import FeatureRows, cached_features, image_features
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


def test_a_failed_extraction_leaves_no_partial_cache(tmp_path):
    """The .npy is streamed to a temporary file: a broken image leaves nothing behind."""
    paths = write_images(tmp_path)
    paths[2].write_bytes(b"not an image")
    cnn = build_backbone("mobilenet", alpha=0.25, weights=None, image_size=32)
    cache = tmp_path / "c" / "train"
    with pytest.raises(DataError, match="2.jpg"):
        cached_features(
            cnn, preprocess("mobilenet"), paths, image_size=32, cache=cache, settings={}
        )
    assert not list((tmp_path / "c").iterdir())


def write_npy(path, array):
    np.save(path, array)
    return path


def test_feature_rows_read_the_rows_asked_for_across_files(tmp_path):
    """Issue #17: training reads rows from disk; two files read as one (augmented copies)."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 4, 3)).astype(np.float16)
    b = rng.normal(size=(2, 4, 3)).astype(np.float16)
    rows = FeatureRows([write_npy(tmp_path / "a.npy", a), write_npy(tmp_path / "b.npy", b)])
    both = np.concatenate([a, b])
    assert len(rows) == 7 and rows.shape == (7, 4, 3) and rows.dtype == np.float16
    np.testing.assert_array_equal(rows.take(np.array([6, 0, 4, 5, 4])), both[[6, 0, 4, 5, 4]])
    np.testing.assert_array_equal(rows[2:6], both[2:6])
    assert rows.take(np.array([], np.int64)).shape == (0, 4, 3)
    with pytest.raises(IndexError, match="7"):
        rows.take(np.array([7]))
    with pytest.raises(IndexError):
        rows.take(np.array([-1]))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="lists open files via /proc")
def test_feature_rows_keep_no_file_open(tmp_path):
    """A tf.numpy_function keeps its FeatureRows for the life of the process: no fd may leak."""
    before = len(list(Path("/proc/self/fd").iterdir()))
    many = [
        FeatureRows([write_npy(tmp_path / f"{k}.npy", np.ones((3, 2), np.float16))])
        for k in range(50)
    ]
    for rows in many:
        rows.take(np.array([2, 0]))
    assert len(list(Path("/proc/self/fd").iterdir())) <= before


def test_feature_rows_refuse_files_of_other_row_shapes(tmp_path):
    a = write_npy(tmp_path / "a.npy", np.zeros((2, 4, 3), np.float16))
    b = write_npy(tmp_path / "b.npy", np.zeros((2, 4, 5), np.float16))
    with pytest.raises(ValueError, match=r"b.npy: not a C-ordered array of rows \(4, 3\)"):
        FeatureRows([a, b])


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 6), min_size=1, max_size=3),
    picks=st.lists(st.integers(0, 10_000), max_size=12),
)
def test_feature_rows_equal_the_concatenated_arrays(tmp_path_factory, sizes, picks):
    folder = tmp_path_factory.mktemp("rows")
    arrays = [
        np.arange(n * 6, dtype=np.float16).reshape(n, 2, 3) + 100 * k for k, n in enumerate(sizes)
    ]
    rows = FeatureRows([write_npy(folder / f"{k}.npy", a) for k, a in enumerate(arrays)])
    both = np.concatenate(arrays)
    index = np.array([p % len(both) for p in picks] if len(both) else [], np.int64)
    np.testing.assert_array_equal(rows.take(index), both[index])
    np.testing.assert_array_equal(rows[:], both)


def test_the_training_lookup_reads_the_cached_rows_and_copies(tmp_path):
    """Issue #17: the lookup reads rows from disk, equal to the cache's (no constant)."""
    import tensorflow as tf

    from seqapps.data.image_encoder import ImageEncoder

    paths = write_images(tmp_path)
    enc = ImageEncoder.build(
        "mobilenet", alpha=0.25, weights="none", image_size=32, cache_dir=tmp_path / "c"
    )
    enc.calibrate(paths)  # random weights output ~0 before: copies would equal originals
    cached = np.asarray(enc.features(paths), np.float32)
    got = enc.feature_lookup(paths)(tf.constant([3, 0, 3]))["features"].numpy()
    np.testing.assert_array_equal(got, cached[[3, 0, 3]])
    copy = np.asarray(enc.features(paths, 1), np.float32)
    assert not np.array_equal(copy[1], cached[1])
    mixed = enc.feature_lookup(paths, copies=1)(tf.constant([1] * 20))["features"].numpy()
    assert all(np.array_equal(r, cached[1]) or np.array_equal(r, copy[1]) for r in mixed)
    assert not all(np.array_equal(r, cached[1]) for r in mixed)  # copies are drawn
