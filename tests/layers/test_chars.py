import keras
import numpy as np
import pytest

from seqapps.layers.chars import CharCNN, CharRNN

CHARS = np.array([[[3, 4, 5, 0], [6, 0, 0, 0], [0, 0, 0, 0]]], "int32")  # 2 tokens + padding


@pytest.mark.parametrize("layer", [CharCNN(10, filters=4), CharRNN(10, units=3, cell="gru")])
def test_features_do_not_depend_on_padding(layer):
    wider = np.concatenate([CHARS, np.zeros((1, 3, 5), "int32")], axis=2)
    longer = np.concatenate([CHARS, np.zeros((1, 2, 4), "int32")], axis=1)
    out = np.asarray(layer(CHARS))
    assert out.shape == (1, 3, layer.compute_output_shape((1, 3, 4))[-1])
    np.testing.assert_allclose(np.asarray(layer(wider))[:, :2], out[:, :2], atol=1e-6)
    np.testing.assert_allclose(np.asarray(layer(longer))[:, :3], out, atol=1e-6)


def test_char_cnn_zeroes_padding_tokens():
    out = np.asarray(CharCNN(10, filters=4)(CHARS))
    assert (out[0, 2] == 0).all() and (out[0, :2] != 0).any()


@pytest.mark.parametrize("cls", [CharCNN, CharRNN])
def test_saved_and_reloaded(cls, tmp_path):
    inputs = keras.Input((None, None), dtype="int32")
    model = keras.Model(inputs, cls(10, name="enc")(inputs))
    model.save(tmp_path / "m.keras")
    clone = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(clone(CHARS), model(CHARS), atol=1e-6)
