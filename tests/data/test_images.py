"""Image decoding: JPEG and PNG, grey and RGBA to RGB, resizing, eager vs Dataset.map."""

import io

import numpy as np
import tensorflow as tf
from PIL import Image

from seqapps.data.images import decode_image, random_augment


def encoded(mode: str, fmt: str, size=(40, 30)) -> bytes:
    color = {"RGB": (200, 10, 10), "L": 128, "RGBA": (10, 200, 10, 255)}[mode]
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, format=fmt)
    return buf.getvalue()


def test_decodes_jpeg_and_png_of_any_mode_to_rgb():
    for mode, fmt in [("RGB", "JPEG"), ("L", "PNG"), ("RGBA", "PNG"), ("L", "JPEG")]:
        image = decode_image(tf.constant(encoded(mode, fmt)), 24)
        assert image.shape == (24, 24, 3) and image.dtype == tf.float32
        assert 0.0 <= float(tf.reduce_min(image)) <= float(tf.reduce_max(image)) <= 255.0
    red = decode_image(tf.constant(encoded("RGB", "PNG")), 24).numpy()
    np.testing.assert_allclose(red[12, 12], [200, 10, 10], atol=1)


def test_eager_equals_dataset_map():
    data = [encoded("RGB", "JPEG"), encoded("L", "PNG")]
    eager = [decode_image(tf.constant(d), 16).numpy() for d in data]
    mapped = list(tf.data.Dataset.from_tensor_slices(data).map(lambda d: decode_image(d, 16)))
    for a, b in zip(eager, mapped, strict=True):
        np.testing.assert_array_equal(a, b.numpy())


def test_augmentation_is_seeded_and_in_range():
    image = decode_image(tf.constant(encoded("RGB", "PNG")), 16)
    a = random_augment(image, tf.constant([1, 2]))
    b = random_augment(image, tf.constant([1, 2]))
    np.testing.assert_array_equal(a, b)
    assert float(tf.reduce_max(a)) <= 255.0 and float(tf.reduce_min(a)) >= 0.0
