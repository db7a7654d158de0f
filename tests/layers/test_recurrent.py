import keras
import numpy as np
import pytest

from seqapps.layers.recurrent import recurrent_layer, recurrent_stack


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_stack_shapes_and_names(cell, bidirectional):
    inp = keras.Input((None, 5))
    seq = recurrent_stack(
        inp,
        cell=cell,
        units=4,
        layers=2,
        bidirectional=bidirectional,
        dropout=0.1,
        return_sequences=True,
        name="enc",
    )
    last = recurrent_stack(
        inp, cell=cell, units=4, layers=1, bidirectional=bidirectional, name="pool"
    )
    model = keras.Model(inp, [seq, last])
    out_seq, out_last = model(np.zeros((3, 7, 5), "float32"))
    width = 8 if bidirectional else 4
    assert out_seq.shape == (3, 7, width)
    assert out_last.shape == (3, width)
    cls = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}[cell]
    kind = "Bidirectional" if bidirectional else cls
    enc = [(layer.name, type(layer).__name__) for layer in model.layers if "enc" in layer.name]
    assert enc == [
        ("enc_1", kind),
        ("enc_1_dropout", "Dropout"),
        ("enc_2", kind),
        ("enc_2_dropout", "Dropout"),
    ]
    if bidirectional:
        assert type(model.get_layer("enc_2").forward_layer).__name__ == cls
    assert model.get_layer("enc_1_dropout").rate == 0.1


def test_cudnn_friendly_defaults():
    gru = recurrent_layer("gru", 4)
    lstm = recurrent_layer("lstm", 4)
    assert gru.reset_after and gru.recurrent_dropout == 0 and not gru.unroll and gru.use_bias
    assert lstm.activation is keras.activations.tanh and lstm.recurrent_dropout == 0


def test_unknown_cell():
    with pytest.raises(ValueError, match="unknown cell 'rnn'"):
        recurrent_layer("rnn", 4)


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_right_padding_is_masked(cell):
    """A sequence gives the same output alone and right-padded in a longer batch."""
    keras.utils.set_random_seed(0)
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 3, mask_zero=True)(ids)
    out = recurrent_stack(x, cell=cell, units=4, layers=2, bidirectional=True)
    model = keras.Model(ids, out)
    short = model(np.array([[3, 4, 5]]))
    padded = model(np.array([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]]))
    np.testing.assert_allclose(short[0], padded[0], rtol=1e-5, atol=1e-6)
