import keras
import numpy as np
import pytest

from seqapps.layers.pooling import AttentionPooling1D, MaskedGlobalMaxPooling1D

X = np.array(
    [[[1.0, -4.0], [5.0, -2.0], [9.0, 7.0]], [[2.0, 3.0], [0.0, 1.0], [-1.0, 8.0]]], "float32"
)
MASK = np.array([[True, True, False], [True, True, True]])


def test_masked_max_ignores_padding():
    out = MaskedGlobalMaxPooling1D()(X, mask=MASK)
    np.testing.assert_allclose(out, [[5.0, -2.0], [2.0, 8.0]])


def test_attention_weights_sum_to_one_and_skip_padding():
    layer = AttentionPooling1D()
    out = np.asarray(layer(X, mask=MASK))
    # The result is a convex combination of the unmasked steps only.
    assert out.shape == (2, 2)
    assert X[0, :2, 0].min() - 1e-5 <= out[0, 0] <= X[0, :2, 0].max() + 1e-5
    padded_changed = X.copy()
    padded_changed[0, 2] = 1000.0
    np.testing.assert_allclose(layer(padded_changed, mask=MASK), out, rtol=1e-6)


@pytest.mark.parametrize("layer", [MaskedGlobalMaxPooling1D, AttentionPooling1D])
def test_saved_and_loaded_in_a_model(layer, tmp_path):
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True)(ids)
    x = keras.layers.GRU(3, return_sequences=True)(x)
    model = keras.Model(ids, layer(name="pool")(x))
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    batch = np.array([[1, 2, 3, 0], [4, 5, 0, 0]], "int32")
    np.testing.assert_allclose(model(batch), again(batch), rtol=1e-6)
