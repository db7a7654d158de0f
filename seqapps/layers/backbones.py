"""ImageNet CNN backbones (``keras.applications``) that turn images into spatial feature maps.

A captioning decoder attends over the backbone's last feature map (e.g. ``7 x 7`` positions
for a 224-pixel input), not only its pooled vector. :func:`build_backbone` picks the backbone
by name and width and loads its weights from ``"imagenet"`` (downloads, needs internet), a
local ``.h5`` / ``.weights.h5`` file (offline), or none (random initialisation).

Example:
    >>> cnn = build_backbone("mobilenet_v2", alpha=0.5, weights=None)
    >>> cnn.output_shape
    (None, 7, 7, 1280)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from seqapps.errors import ConfigError

# name -> (constructor, preprocessing of 0..255 RGB pixels, takes a width multiplier)
BACKBONES: dict[str, tuple[Callable[..., keras.Model], Callable[[Any], Any], bool]] = {
    "mobilenet_v2": (
        keras.applications.MobileNetV2,
        keras.applications.mobilenet_v2.preprocess_input,
        True,
    ),
    "mobilenet": (
        keras.applications.MobileNet,
        keras.applications.mobilenet.preprocess_input,
        True,
    ),
    "efficientnet_b0": (
        keras.applications.EfficientNetB0,
        keras.applications.efficientnet.preprocess_input,
        False,
    ),
    "inception_v3": (
        keras.applications.InceptionV3,
        keras.applications.inception_v3.preprocess_input,
        False,
    ),
    "resnet50": (keras.applications.ResNet50, keras.applications.resnet.preprocess_input, False),
}


def build_backbone(
    name: str = "mobilenet_v2",
    *,
    alpha: float = 1.0,
    weights: str | None = "imagenet",
    image_size: int = 224,
    trainable: bool = False,
    layer_name: str | None = None,
) -> keras.Model:
    """Return backbone ``name`` without its classifier: ``(batch, s, s, 3)`` -> feature maps.

    Args:
        name: a key of :data:`BACKBONES`.
        alpha: width multiplier (MobileNets only).
        weights: ``"imagenet"``, a path to a weights file, or None / ``"none"``.
        image_size: input side in pixels.
        trainable: False freezes it (the usual set-up: features can then be cached).
        layer_name: the model's name (its layer name inside another model); None keeps
            the application's own, e.g. ``mobilenetv2_0.50_224``.

    Raises:
        ConfigError: unknown name, a width for a backbone that has none, or a missing file.
    """
    if name not in BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    constructor, _, has_alpha = BACKBONES[name]
    if alpha != 1.0 and not has_alpha:
        raise ConfigError(f"backbone {name} has no width multiplier (alpha)")
    if weights not in (None, "none", "imagenet") and not Path(weights).is_file():
        raise ConfigError(f"weights file not found: {weights}")
    kwargs: dict[str, Any] = {"alpha": alpha} if has_alpha else {}
    if layer_name:
        kwargs["name"] = layer_name
    model = constructor(
        input_shape=(image_size, image_size, 3),
        include_top=False,
        weights=None if weights == "none" else weights,
        **kwargs,
    )
    model.trainable = trainable
    return model


def preprocess(name: str) -> Callable[[Any], Any]:
    """The preprocessing that backbone ``name`` expects, applied to 0..255 RGB pixels."""
    if name not in BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    return BACKBONES[name][1]


def calibrate_batch_norm(model: keras.Model, inputs: Any) -> None:
    """Set every batch-norm layer's moving statistics to those of ``inputs`` (one batch).

    A randomly initialised deep CNN (``weights=None``) in inference mode shrinks its
    activations layer after layer (MobileNetV2's features come out near 1e-11, zero in
    float16), because its moving statistics (mean 0, variance 1) do not match the actual
    activations. One training-mode pass with momentum 0 gives each layer the statistics of
    preprocessed ``inputs``, so random features carry signal. Weights files need none of this.
    """
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    trainable, momenta = model.trainable, [layer.momentum for layer in norms]
    model.trainable = True  # frozen batch norm would ignore training=True
    for layer in norms:
        layer.momentum = 0.0
    model(inputs, training=True)
    for layer, momentum in zip(norms, momenta, strict=True):
        layer.momentum = momentum
    model.trainable = trainable
