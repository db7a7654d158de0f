"""Encoder and attentive decoder: step-by-step inference equals teacher forcing, masks."""

import keras
import numpy as np
import pytest

from seqapps.layers.seq2seq import AttentiveDecoder, RecurrentEncoder, masked_mean

SOURCE = np.array([[3, 4, 5, 0], [6, 7, 0, 0]], "int32")
TARGET = np.array([[2, 8, 9], [2, 11, 0]], "int32")


def build(cell: str, attention: str, layers: int = 2) -> keras.Model:
    encoder = RecurrentEncoder(30, 8, cell=cell, units=6, layers=layers, name="encoder")
    decoder = AttentiveDecoder(
        40, 8, cell=cell, units=10, context_dim=12, layers=layers, attention=attention,
        name="decoder",
    )  # fmt: skip
    source = keras.Input((None,), dtype="int32", name="source")
    target_in = keras.Input((None,), dtype="int32", name="target_in")
    outputs, summary = encoder(source)
    logits = decoder(target_in, outputs, keras.ops.not_equal(source, 0), summary)
    return keras.Model({"source": source, "target_in": target_in}, logits)


@pytest.mark.parametrize("cell", ["gru", "lstm", "simple_rnn"])
@pytest.mark.parametrize("attention", ["bahdanau", "luong", "none"])
def test_step_by_step_equals_teacher_forcing(cell, attention):
    model = build(cell, attention)
    forced = model({"source": SOURCE, "target_in": TARGET}).numpy()  # (2, 3, 40)
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    outputs, summary = encoder(SOURCE)
    states, keys = decoder.initial_state(summary), decoder.keys(outputs)
    stepped = []
    for t in range(TARGET.shape[1]):
        logits, states, weights = decoder.step(
            TARGET[:, t], states, outputs, keys, SOURCE != 0, summary
        )
        stepped.append(keras.ops.convert_to_numpy(logits))
        assert (weights is None) == (attention == "none")
    stepped = np.stack(stepped, axis=1)
    np.testing.assert_allclose(stepped[0], forced[0], atol=1e-5)
    np.testing.assert_allclose(stepped[1, :2], forced[1, :2], atol=1e-5)  # step 3 is padding


def test_saved_and_loaded_model_gives_the_same_logits(tmp_path):
    model = build("lstm", "bahdanau")
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    inputs = {"source": SOURCE, "target_in": TARGET}
    np.testing.assert_allclose(loaded(inputs), model(inputs), atol=1e-6)


def test_padding_changes_nothing_real():
    model = build("gru", "luong")
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    short = SOURCE[1:, :2]  # [[6, 7]]
    padded = np.pad(short, [[0, 0], [0, 5]])
    out_short, sum_short = encoder(short)
    out_padded, sum_padded = encoder(padded)
    np.testing.assert_allclose(out_padded[:, :2], out_short, atol=1e-6)
    np.testing.assert_allclose(sum_padded, sum_short, atol=1e-6)
    target = TARGET[1:, :2]
    logits_short, w_short = decoder(target, out_short, short != 0, sum_short, return_attention=True)
    logits_padded, w_padded = decoder(
        np.pad(target, [[0, 0], [0, 3]]), out_padded, padded != 0, sum_padded,
        return_attention=True,
    )  # fmt: skip
    np.testing.assert_allclose(logits_padded[:, :2], logits_short, atol=1e-5)
    w_padded = keras.ops.convert_to_numpy(w_padded)
    assert (w_padded[:, :, 2:] == 0).all()  # no attention on padded source positions
    np.testing.assert_allclose(w_padded[:, :2].sum(-1), 1.0, atol=1e-6)


def test_masked_mean():
    x = np.arange(12, dtype="float32").reshape(2, 3, 2)
    mask = np.array([[True, True, False], [True, False, False]])
    np.testing.assert_allclose(masked_mean(x, mask), [[1.0, 2.0], [6.0, 7.0]])


def test_bad_arguments():
    with pytest.raises(ValueError, match="attention must be one of"):
        AttentiveDecoder(10, 4, cell="gru", units=4, context_dim=4, attention="dot")
    with pytest.raises(ValueError, match="unknown cell"):
        AttentiveDecoder(10, 4, cell="rnn", units=4, context_dim=4)


def test_decoder_steps_before_any_teacher_forcing():
    decoder = AttentiveDecoder(20, 4, cell="lstm", units=6, context_dim=5, attention="luong")
    outputs, summary = np.ones((2, 3, 5), "float32"), np.ones((2, 5), "float32")
    states = decoder.initial_state(summary)
    assert decoder.built
    count = len(decoder.weights)
    logits, states, weights = decoder.step(
        np.array([2, 2]), states, outputs, decoder.keys(outputs), np.ones((2, 3), bool), summary
    )
    assert logits.shape == (2, 20) and weights.shape == (2, 3)
    assert len(decoder.weights) == count  # built once
