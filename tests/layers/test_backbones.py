"""CNN backbones: names, widths, weights from a local file, spatial outputs."""

from pathlib import Path

import numpy as np
import pytest

from seqapps.errors import ConfigError
from seqapps.layers.backbones import build_backbone, preprocess

WEIGHTS = (
    Path(__file__).resolve().parents[2].parent
    / "shared/data/weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5"
)


def test_spatial_feature_maps_without_weights():
    cnn = build_backbone("mobilenet_v2", alpha=0.5, weights="none", image_size=96)
    assert cnn.output_shape == (None, 3, 3, 1280) and not cnn.trainable
    assert preprocess("mobilenet_v2")(np.array([0.0, 255.0])).tolist() == [-1.0, 1.0]


def test_bad_arguments():
    with pytest.raises(ConfigError, match="unknown backbone 'vgg'"):
        build_backbone("vgg", weights=None)
    with pytest.raises(ConfigError, match="no width multiplier"):
        build_backbone("resnet50", alpha=0.5, weights=None)
    with pytest.raises(ConfigError, match="weights file not found: /no/file.h5"):
        build_backbone("mobilenet_v2", weights="/no/file.h5")


@pytest.mark.skipif(not WEIGHTS.is_file(), reason="needs ../shared/data/weights")
def test_imagenet_weights_from_a_local_file():
    cnn = build_backbone("mobilenet_v2", alpha=0.5, weights=str(WEIGHTS))
    assert cnn.output_shape == (None, 7, 7, 1280)
    random = build_backbone("mobilenet_v2", alpha=0.5, weights=None)
    loaded = cnn.get_layer("Conv1").get_weights()[0]
    assert loaded.shape == random.get_layer("Conv1").get_weights()[0].shape
    assert not np.allclose(loaded, random.get_layer("Conv1").get_weights()[0])
