"""Image decoding as TF ops, so the same code runs in ``tf.data`` and in the SavedModel.

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


def decode_image(data: tf.Tensor, size: int) -> tf.Tensor:
    """Decode one JPEG, PNG, GIF or BMP string into ``(size, size, 3)`` float32 pixels in 0..255.

    Grey and RGBA images become RGB. The image is resized (bilinear, aspect ratio not kept,
    as the ImageNet backbones were trained) unless it already has that size. The backbone's
    own preprocessing (:data:`seqapps.layers.backbones.BACKBONES`) comes after this.
    """
    image = tf.io.decode_image(data, channels=3, expand_animations=False)  # (h, w, 3) uint8
    image = tf.cast(image, tf.float32)
    image = tf.image.resize(image, [size, size], method="bilinear")
    image.set_shape([size, size, 3])
    return image


def random_augment(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Training augmentation of ``(h, w, 3)`` pixels: random left-right flip and brightness.

    ``seed`` is a ``(2,)`` int tensor (stateless ops, so seeded runs repeat exactly).
    """
    image = tf.image.stateless_random_flip_left_right(image, seed)
    image = tf.image.stateless_random_brightness(image, 20.0, seed + 1)
    return tf.clip_by_value(image, 0.0, 255.0)
