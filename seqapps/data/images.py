"""Image decoding as TF ops, so the same code runs in ``tf.data`` and in the SavedModel.

Every path that turns image bytes into pixels (the feature cache, fine-tuning, evaluation's
plots, ``seqapps predict`` and the SavedModel) goes through :func:`decode_image`, so all of
them see a photo the same way: as it is viewed, its EXIF orientation applied
(:func:`exif_orientation`; JPEG only, as phones write it).

What TensorFlow cannot decode is a broken image everywhere: a truncated JPEG (even one that
lacks only its end marker: TF 2.21 decodes with ``try_recover_truncated=False`` and refuses
it rather than padding it with grey), a JPEG header followed by zeros, an empty file. The
loaders and ``seqapps predict`` name such a file (:func:`image_decodes`, an eager check);
inside a graph, :func:`decode_images` decodes a batch without failing on one broken image.

Example:
    >>> pixels = decode_image(tf.io.read_file("photo.jpg"), size=224)  # (224, 224, 3) float32
"""

from __future__ import annotations

import tensorflow as tf

# A black 1 x 1 RGB PNG, as bytes: a constant, because encoding one with TensorFlow at import
# time would start TF's runtime, after which multi-worker training can no longer set up its
# collective ops ("Collective ops must be configured at program startup").
BLACK_PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
    b"\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc```\x00\x00\x00\x04\x00\x01\xf6\x178U\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)

# How far into a JPEG the EXIF segment is looked for: APP segments come first, each at most
# 64 KiB, and the Exif one is the first or second in camera and phone files.
_EXIF_SEARCH_BYTES = 4 * 65536
_MAX_SEGMENTS = 32  # JPEG marker segments walked before giving up
_MAX_IFD_ENTRIES = 64  # IFD0 entries read (orientation, tag 0x0112, is among the first)
_ORIENTATION_TAG = 0x0112

# How decode_image turns bytes into pixels; part of the feature-cache key, so features
# cached by an older decoder (before EXIF orientation) are recomputed, not reused.
DECODE_VERSION = "exif-orientation-1"

# The problem named for an image TensorFlow cannot decode (in a DataError).
UNDECODABLE = "cannot be decoded (truncated or corrupt image)"


def _reader(data: tf.Tensor) -> tuple:
    """``(byte(i), u16(i, little), u32(i, little), size)`` over the head of ``data``.

    Reads past the end give 0 (the bytes are zero padded), so no read can fail; ``i`` may
    be a scalar or a vector of positions.
    """
    head = tf.strings.substr(data, 0, _EXIF_SEARCH_BYTES)  # a shorter string is kept whole
    raw = tf.io.decode_raw(head, tf.uint8)
    size = tf.shape(raw)[0]
    padded = tf.cast(tf.concat([raw, tf.zeros([8], tf.uint8)], 0), tf.int32)
    last = size + 7

    def byte(i: tf.Tensor) -> tf.Tensor:
        i = tf.convert_to_tensor(i, tf.int32)
        inside = (i >= 0) & (i < size)
        return tf.where(inside, tf.gather(padded, tf.clip_by_value(i, 0, last)), 0)

    def u16(i: tf.Tensor, little: tf.Tensor) -> tf.Tensor:
        a, b = byte(i), byte(i + 1)
        return tf.where(little, a + b * 256, a * 256 + b)

    def u32(i: tf.Tensor, little: tf.Tensor) -> tf.Tensor:
        lo, hi = u16(i, little), u16(i + 2, little)
        # Offsets past 2**31 are nonsense in a file this size; they read as "not found".
        big = tf.where(little, hi, lo) >= 32768
        value = tf.where(little, lo + hi * 65536, hi + lo * 65536)
        return tf.where(big, -1, value)

    return byte, u16, u32, size


def exif_orientation(data: tf.Tensor) -> tf.Tensor:
    """The EXIF Orientation (tag 0x0112) of one encoded image: int32 1..8, 1 when absent.

    Walks the JPEG marker segments for the APP1 ``Exif`` segment and reads the tag from its
    first image directory, in either byte order (``II`` little-endian, ``MM`` big-endian).
    Non-JPEG data, a missing or malformed segment, or a value out of 1..8 give 1 (as
    stored). TF ops only: never fails, runs in ``tf.data`` and the SavedModel.
    """
    byte, u16, u32, size = _reader(data)
    jpeg_little = tf.constant(False)  # JPEG segment lengths are big-endian
    is_jpeg = (byte(0) == 0xFF) & (byte(1) == 0xD8)

    # The marker walk: (segment, position of the next marker, TIFF header position or -1).
    def searching(k: tf.Tensor, pos: tf.Tensor, tiff: tf.Tensor) -> tf.Tensor:
        return (k < _MAX_SEGMENTS) & (tiff < 0) & (pos + 4 <= size)

    def step(k: tf.Tensor, pos: tf.Tensor, tiff: tf.Tensor) -> tuple:
        marker = byte(pos + 1)
        valid = (byte(pos) == 0xFF) & (marker != 0xDA) & (marker != 0xD9)  # not scan / end
        length = u16(pos + 2, jpeg_little)
        exif = (marker == 0xE1) & tf.reduce_all(
            tf.stack([byte(pos + 4 + j) for j in range(6)]) == [69, 120, 105, 102, 0, 0]
        )  # b"Exif\0\0"
        tiff = tf.where(valid & exif, pos + 10, tiff)
        # A bad segment ends the walk: jump past the searched bytes.
        pos = tf.where(valid & (length >= 2), pos + 2 + length, size)
        return k + 1, pos, tiff

    _, _, tiff = tf.while_loop(
        searching, step, [tf.constant(0), tf.constant(2), tf.where(is_jpeg, -1, size)]
    )
    little = (byte(tiff) == 0x49) & (byte(tiff + 1) == 0x49)  # "II"
    big = (byte(tiff) == 0x4D) & (byte(tiff + 1) == 0x4D)  # "MM"
    ifd = tiff + u32(tiff + 4, little)
    count = u16(ifd, little)
    entries = ifd + 2 + 12 * tf.range(_MAX_IFD_ENTRIES)
    tags = u16(entries, little)
    values = u16(entries + 8, little)  # a SHORT is stored left-justified in its 4 bytes
    hit = (tags == _ORIENTATION_TAG) & (tf.range(_MAX_IFD_ENTRIES) < count)
    value = tf.reduce_max(tf.where(hit, values, 0))
    found = (tiff >= 0) & (tiff < size) & (little | big) & (u32(tiff + 4, little) >= 8)
    return tf.where(found & (value >= 1) & (value <= 8), value, 1)


def apply_orientation(image: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
    """``(h, w, c)`` pixels as stored -> as viewed, for EXIF orientation 1..8.

    The same transposes as ``PIL.ImageOps.exif_transpose``: 2 mirror, 3 rotate 180,
    4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 anticlockwise.
    """
    branches = [
        lambda: image,
        lambda: tf.image.flip_left_right(image),
        lambda: tf.image.rot90(image, 2),
        lambda: tf.image.flip_up_down(image),
        lambda: tf.image.transpose(image),
        lambda: tf.image.rot90(image, 3),
        lambda: tf.image.rot90(tf.image.transpose(image), 2),
        lambda: tf.image.rot90(image, 1),
    ]
    return tf.switch_case(tf.clip_by_value(orientation, 1, 8) - 1, branches)


def decode_image(data: tf.Tensor, size: int) -> tf.Tensor:
    """Decode one JPEG, PNG, GIF or BMP string into ``(size, size, 3)`` float32 pixels in 0..255.

    Grey and RGBA images become RGB; a JPEG's EXIF orientation is applied (the image as
    viewed, not as stored). The image is resized (bilinear, aspect ratio not kept, as the
    ImageNet backbones were trained) unless it already has that size. The backbone's own
    preprocessing (:data:`seqapps.layers.backbones.BACKBONES`) comes after this.

    Raises:
        tf.errors.InvalidArgumentError: data TensorFlow cannot decode (see the module).
    """
    image = tf.io.decode_image(data, channels=3, expand_animations=False)  # (h, w, 3) uint8
    image = apply_orientation(image, exif_orientation(data))
    image = tf.cast(image, tf.float32)
    image = tf.image.resize(image, [size, size], method="bilinear")
    image.set_shape([size, size, 3])
    return image


def decode_images(images: tf.Tensor, size: int) -> tuple[tf.Tensor, tf.Tensor]:
    """A batch of encoded images ``(batch,)`` -> pixels ``(batch, size, size, 3)``, decoded.

    Never fails on a broken image: ``decoded`` ``(batch,)`` bool is False for data
    TensorFlow cannot decode (truncated, corrupt, not an image, empty), and its pixels are
    black (0); the other images are decoded as by :func:`decode_image`. Graph ops only
    (each image is decoded in a ``tf.data`` pipeline that drops failures, the one way to
    catch an op's error inside a graph), so it runs in the SavedModel and under
    ``Dataset.map``.
    """
    n = tf.shape(images, out_type=tf.int64)[0]
    ds = tf.data.Dataset.from_tensor_slices((tf.range(n), images))
    ds = ds.map(lambda i, data: (i, decode_image(data, size)), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.ignore_errors()
    # One sentinel row, so that a batch where nothing decodes is still one element.
    sentinel = tf.data.Dataset.from_tensors((tf.constant(-1, tf.int64), tf.zeros([size, size, 3])))
    index, pixels = ds.concatenate(sentinel).batch(n + 1).get_single_element()
    real = index >= 0
    index, pixels = tf.boolean_mask(index, real)[:, None], tf.boolean_mask(pixels, real)
    decoded = tf.scatter_nd(index, tf.ones([tf.shape(index)[0]], tf.bool), [n])
    pixels = tf.scatter_nd(index, pixels, tf.stack([n, size, size, 3]))
    pixels.set_shape([images.shape[0], size, size, 3])
    return pixels, decoded


def image_decodes(data: bytes) -> bool:
    """Whether TensorFlow decodes ``data`` as an image (eager; the loaders' full check)."""
    try:
        tf.io.decode_image(data, channels=3, expand_animations=False)
    except tf.errors.InvalidArgumentError:
        return False
    return True


def random_augment(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Training augmentation of ``(h, w, 3)`` pixels: random left-right flip and brightness.

    ``seed`` is a ``(2,)`` int tensor (stateless ops, so seeded runs repeat exactly).
    """
    image = tf.image.stateless_random_flip_left_right(image, seed)
    image = tf.image.stateless_random_brightness(image, 20.0, seed + 1)
    return tf.clip_by_value(image, 0.0, 255.0)
