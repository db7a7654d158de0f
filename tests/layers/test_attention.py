import keras
import numpy as np
import pytest

from seqapps.layers.attention import BahdanauAttention, LuongAttention, masked_softmax

RNG = np.random.default_rng(0)
VALUES = RNG.normal(size=(2, 5, 6)).astype("float32")
MASK = np.array([[True] * 5, [True, True, True, False, False]])


def _layers():
    return [BahdanauAttention(4), LuongAttention("general"), LuongAttention("dot")]


@pytest.mark.parametrize("layer", _layers(), ids=["bahdanau", "luong-general", "luong-dot"])
@pytest.mark.parametrize("steps", [None, 3])
def test_shapes_weights_and_masking(layer, steps):
    shape = (2, 6) if steps is None else (2, steps, 6)
    query = RNG.normal(size=shape).astype("float32")
    context, weights = layer(query, VALUES, values_mask=MASK)
    context, weights = np.asarray(context), np.asarray(weights)
    assert context.shape == shape[:-1] + (6,)
    assert weights.shape == shape[:-1] + (5,)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
    assert (weights[1, ..., 3:] == 0).all()  # masked source positions get no weight
    # Changing the masked values changes nothing.
    other = VALUES.copy()
    other[1, 3:] = 100.0
    context2, _ = layer(query, other, values_mask=MASK)
    np.testing.assert_allclose(np.asarray(context2), context, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layer", _layers(), ids=["bahdanau", "luong-general", "luong-dot"])
def test_precomputed_keys_give_the_same_result(layer):
    query = RNG.normal(size=(2, 6)).astype("float32")
    context, weights = layer(query, VALUES, values_mask=MASK)
    context2, weights2 = layer(query, VALUES, values_mask=MASK, keys=layer.keys(VALUES))
    np.testing.assert_allclose(np.asarray(context2), np.asarray(context), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(weights2), np.asarray(weights), rtol=1e-6)


def test_single_step_equals_one_step_of_a_sequence():
    layer = BahdanauAttention(4)
    query = RNG.normal(size=(2, 3, 6)).astype("float32")
    seq_context, _ = layer(query, VALUES, values_mask=MASK)
    step_context, _ = layer(query[:, 1], VALUES, values_mask=MASK)
    np.testing.assert_allclose(np.asarray(step_context), np.asarray(seq_context)[:, 1], rtol=1e-5)


def test_masked_softmax_by_hand():
    w = np.asarray(masked_softmax(np.zeros((1, 4), "float32"), np.array([[1, 1, 0, 0]], bool)))
    np.testing.assert_allclose(w, [[0.5, 0.5, 0.0, 0.0]])


def test_luong_mode_is_checked():
    with pytest.raises(ValueError, match="mode"):
        LuongAttention("concat")


@pytest.mark.parametrize("cls", [BahdanauAttention, LuongAttention])
def test_config_round_trip(cls):
    layer = cls(4) if cls is BahdanauAttention else cls("dot")
    clone = cls.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert isinstance(clone, keras.layers.Layer)
