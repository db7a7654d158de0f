"""Image decoding: JPEG and PNG, grey and RGBA to RGB, resizing, eager vs Dataset.map,
EXIF orientation, and batches with broken images."""

import io
import struct

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageOps

from seqapps.data.images import (
    apply_orientation,
    decode_image,
    decode_images,
    exif_orientation,
    random_augment,
)


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


# --- EXIF orientation and broken images (issue #15) ----------------------------------------


def quadrants(height: int = 24, width: int = 40) -> np.ndarray:
    """Four coloured quadrants: every rotation and flip of it is different."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[: height // 2, : width // 2] = (255, 0, 0)
    pixels[: height // 2, width // 2 :] = (0, 255, 0)
    pixels[height // 2 :, : width // 2] = (0, 0, 255)
    pixels[height // 2 :, width // 2 :] = (255, 255, 0)
    return pixels


def big_endian_exif(orientation: int) -> bytes:
    """An APP1 Exif payload in Motorola ("MM") byte order: Make, then Orientation."""
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 2)
    tiff += struct.pack(">HHI", 0x010F, 2, 4) + b"Cam\x00"  # Make, ASCII, inline
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    return b"Exif\x00\x00" + tiff


def jpeg_with_orientation(orientation: int, byte_order: str = "II") -> bytes:
    if byte_order == "II":  # Pillow writes Intel ("II") byte order
        exif = Image.Exif()
        exif[0x010F] = "Cam"
        exif[0x0112] = orientation
        exif_bytes = exif.tobytes()
    else:
        exif_bytes = big_endian_exif(orientation)
    buf = io.BytesIO()
    Image.fromarray(quadrants()).save(buf, "JPEG", exif=exif_bytes, quality=95)
    return buf.getvalue()


@pytest.mark.parametrize("byte_order", ["II", "MM"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_pillow_exif_transpose(orientation, byte_order):
    data = jpeg_with_orientation(orientation, byte_order)
    assert int(exif_orientation(tf.constant(data))) == orientation
    viewed = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))), np.float32)
    stored = tf.io.decode_jpeg(data, channels=3)
    got = apply_orientation(stored, exif_orientation(tf.constant(data))).numpy()
    assert got.shape == viewed.shape  # 5..8 swap height and width
    # Pillow's and TF's JPEG decoders differ by a few levels at the quadrants' edges only.
    difference = np.abs(got.astype(np.float32) - viewed)
    assert difference.max() <= 40 and difference.mean() < 2, (difference.max(), difference.mean())
    # decode_image (every path: features, evaluation, predict, serving) sees it as viewed.
    resized = decode_image(tf.constant(data), 8).numpy()
    want = tf.image.resize(viewed, [8, 8]).numpy()
    assert np.abs(resized - want).mean() < 4, orientation


def test_a_phone_photo_rotated_by_exif_is_decoded_as_viewed():
    """The issue's example: orientation 6, a portrait photo stored landscape."""
    data = jpeg_with_orientation(6)
    image = tf.io.decode_image(data, channels=3)
    assert image.shape == (24, 40, 3)  # as stored
    viewed = apply_orientation(image, exif_orientation(tf.constant(data)))
    assert viewed.shape == (40, 24, 3)  # as viewed: rotated 90 degrees clockwise
    np.testing.assert_allclose(viewed[2, 2], (0, 0, 255), atol=40)  # the blue corner


def test_orientation_defaults_to_as_stored():
    png = encoded("RGB", "PNG")
    plain = encoded("RGB", "JPEG")
    broken = b"\xff\xd8\xff\xe1\xff\xffExif\x00\x00MM\x00\x2a\xff\xff\xff\xff"
    for data in (png, plain, broken, b"", b"\xff\xd8"):
        assert int(exif_orientation(tf.constant(data))) == 1, data[:12]
    for value in (0, 9, 300):
        assert int(exif_orientation(tf.constant(jpeg_with_orientation(value)))) == 1


def test_orientation_runs_under_dataset_map():
    data = [jpeg_with_orientation(o) for o in (1, 6, 8)]
    mapped = tf.data.Dataset.from_tensor_slices(data).map(exif_orientation)
    assert [int(o) for o in mapped] == [1, 6, 8]


def test_decode_images_flags_broken_images_and_keeps_the_others():
    good = [encoded("RGB", "JPEG"), encoded("L", "PNG"), jpeg_with_orientation(6)]
    truncated, zeros = good[0][: len(good[0]) // 2], good[0][:200] + bytes(2000)
    batch = [good[0], truncated, good[1], zeros, b"", b"not an image", good[2]]
    decode = tf.function(lambda x: decode_images(x, 16), autograph=False)
    for fn in (lambda x: decode_images(x, 16), decode):
        pixels, decoded = fn(tf.constant(batch))
        assert pixels.shape == (7, 16, 16, 3)
        assert decoded.numpy().tolist() == [True, False, True, False, False, False, True]
        for i, data in zip([0, 2, 6], good, strict=True):
            np.testing.assert_array_equal(pixels[i], decode_image(tf.constant(data), 16))
        assert not np.any(pixels.numpy()[[1, 3, 4, 5]])  # black
    pixels, decoded = decode(tf.constant([zeros]))  # nothing decodes
    assert pixels.shape == (1, 16, 16, 3) and not decoded.numpy().any()
    pixels, decoded = decode(tf.constant([], tf.string))
    assert pixels.shape == (0, 16, 16, 3) and decoded.shape == (0,)
    pixels, decoded = next(
        iter(tf.data.Dataset.from_tensors(tf.constant(batch)).map(lambda x: decode_images(x, 16)))
    )
    assert decoded.numpy().tolist() == [True, False, True, False, False, False, True]
