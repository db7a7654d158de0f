import json

import keras
import numpy as np
import pytest

from seqapps.diagnostics import (
    input_gradients,
    layer_gradient_norms,
    profiled_layer,
    profiled_path,
    recurrent_layers,
    save_report,
    step_gradient_profile,
    vanishing_distance,
)
from seqapps.layers.recurrent import recurrent_stack
from seqapps.layers.seq2seq import AttentiveDecoder, RecurrentEncoder

TIME = 40


def first_token_task(cell: str, seed: int = 0, input_std: float | None = None):
    """Tiny model and batch where the label is the first token's parity.

    ``input_std`` sets the embedding scale (None = Keras' default uniform +-0.05).
    """
    keras.utils.set_random_seed(seed)
    ids = keras.Input((None,), dtype="int32")
    init = "uniform" if input_std is None else keras.initializers.RandomNormal(stddev=input_std)
    x = keras.layers.Embedding(
        20, 8, mask_zero=True, embeddings_initializer=init, name="embedding"
    )(ids)
    x = recurrent_stack(x, cell=cell, units=16, name="rnn")
    out = keras.layers.Dense(2, activation="softmax", name="classifier")(x)
    model = keras.Model(ids, out)
    model.compile(loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(seed)
    x_batch = rng.integers(1, 20, size=(32, TIME)).astype("int32")
    y_batch = (x_batch[:, 0] % 2).astype("int32")
    return model, x_batch, y_batch


def far_over_near(cell: str, input_std: float | None) -> float:
    model, x, y = first_token_task(cell, input_std=input_std)
    profile = step_gradient_profile(model, x, y)
    assert profile.shape == (TIME,) and np.isfinite(profile).all()
    return profile[TIME - 1] / profile[0]  # gradient at the first step over the last step


def test_simple_rnn_gradient_vanishes_faster_than_lstm_at_init():
    """With unit-scale inputs (as forecasting's features), tanh saturates and the SimpleRNN's
    gradient to the first step vanishes far below the LSTM's, at initialisation."""
    assert far_over_near("simple_rnn", 1.0) < 1e-2 * far_over_near("lstm", 1.0)


def test_small_inputs_keep_the_simple_rnn_linear():
    """With Keras' default small embeddings the tanh stays near its linear range and the
    orthogonal recurrent kernel preserves gradient norm: at initialisation the SimpleRNN's
    profile is flat, while the LSTM's forget gate (sigmoid(1) ~ 0.73 per step) shrinks its."""
    assert far_over_near("simple_rnn", None) > 0.1
    assert far_over_near("lstm", None) < 1e-2


def test_masked_steps_get_no_gradient_and_are_excluded():
    model, x, y = first_token_task("gru")
    x = x.copy()
    x[:16, 30:] = 0  # right padding for half of the rows
    profile = step_gradient_profile(model, x, y)
    # Distances 30..39 exist only in the 16 unpadded rows: still measured, never NaN.
    assert np.isfinite(profile).all()
    # The padded positions themselves receive exactly zero gradient.
    grads, real = input_gradients(model, x, y)
    assert grads.shape == (32, TIME, 8) and grads.dtype == np.float32
    np.testing.assert_array_equal(real, x != 0)
    assert np.abs(grads[:16, 30:]).max() == 0.0
    assert np.abs(grads[:16, :30]).max() > 0.0


def seq2seq_model(cell: str = "gru") -> keras.Model:
    """A tiny translation-shaped model: recurrent layers nested in ``encoder`` / ``decoder``."""
    keras.utils.set_random_seed(0)
    source = keras.Input((None,), dtype="int32", name="source")
    target_in = keras.Input((None,), dtype="int32", name="target_in")
    encoder = RecurrentEncoder(20, 8, cell=cell, units=8, layers=2, name="encoder")
    decoder = AttentiveDecoder(
        20, 8, cell=cell, units=8, context_dim=16, attention="luong", name="decoder"
    )
    outputs, summary = encoder(source)
    logits = decoder(target_in, outputs, keras.ops.not_equal(source, 0), summary)
    model = keras.Model({"source": source, "target_in": target_in}, logits)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_nested_recurrent_layers_are_found_and_the_encoder_is_profiled():
    model = seq2seq_model()
    paths = [path for path, _ in recurrent_layers(model)]
    assert paths == ["encoder/rnn_1", "encoder/rnn_2", "decoder/rnn_1"]
    assert profiled_path(model) == "encoder/rnn_1"
    assert profiled_layer(model) is model.get_layer("encoder").rnns[0]
    assert profiled_path(model, "decoder/rnn_1") == "decoder/rnn_1"
    with pytest.raises(ValueError, match="has no recurrent layer 'rnn_9'; it has encoder/rnn_1"):
        profiled_layer(model, "rnn_9")
    dense = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="dense_only")
    with pytest.raises(ValueError, match="model 'dense_only' has no recurrent layer to profile"):
        profiled_layer(dense)


def test_nested_encoder_input_gradients_respect_the_source_mask():
    model = seq2seq_model()
    rng = np.random.default_rng(0)
    source = rng.integers(1, 20, size=(4, 7)).astype("int32")
    source[:2, 5:] = 0  # two rows of 5 real steps
    target = rng.integers(1, 20, size=(4, 6)).astype("int32")
    x = {"source": source, "target_in": target}
    grads, real = input_gradients(model, x, target)
    assert grads.shape == (4, 7, 8)  # the encoder's embedding size
    np.testing.assert_array_equal(real, source != 0)
    assert np.abs(grads[:2, 5:]).max() == 0.0 and np.abs(grads[real]).min() > 0.0
    profile = step_gradient_profile(model, x, target)
    assert profile.shape == (7,) and np.isfinite(profile).all()
    # The decoder's layer is measured over target steps instead.
    assert step_gradient_profile(model, x, target, "decoder/rnn_1").shape == (6,)
    # The wrapped call is undone: the layer calls its class's method again.
    assert "call" not in vars(profiled_layer(model))


def test_layer_norms_vanishing_distance_and_report(tmp_path):
    model, x, y = first_token_task("lstm")
    norms = layer_gradient_norms(model, x, y)
    assert set(norms) >= {"embedding", "rnn_1", "classifier"}
    assert all(np.isfinite(v) and v > 0 for v in norms.values())
    assert vanishing_distance(np.array([1.0, 0.1, 1e-4, 1e-5])) == 2
    assert vanishing_distance(np.array([1.0, 0.5])) is None
    results = {"lstm": {"init": [1.0, 0.5, 0.25], "trained": [1.0, 0.6, 0.3]}}
    path = save_report(results, tmp_path, "synthetic")
    assert json.loads(path.read_text()) == results
    assert (tmp_path / "gradient_profile.png").read_bytes()[:8] == PNG_SIGNATURE


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def logged_scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    """``tag -> [(step, value), ...]`` of the scalars in a TensorBoard directory."""
    import tensorflow as tf

    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                number = float(tf.make_ndarray(value.tensor))
                scalars.setdefault(value.tag, []).append((event.step, number))
    return scalars


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm"])
def test_logger_callback_writes_events(tmp_path, cell):
    from seqapps.callbacks import GradientProfileLogger

    model, x, y = first_token_task(cell)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=1,
        verbose=0,
        callbacks=[GradientProfileLogger((x[:8], y[:8]), tmp_path, every=2)],
    )
    scalars = logged_scalars(tmp_path / "grad_profile")
    # 4 batches, every 2: steps 2 and 4; distances 0, 1, 2, 4, 8, 16, 32 of 40 steps.
    expected = {f"grad_profile/distance_{d}" for d in (0, 1, 2, 4, 8, 16, 32)}
    assert set(scalars) == expected | {"grad_profile/far_over_near"}
    for values in scalars.values():
        assert [step for step, _ in values] == [2, 4]
        assert all(np.isfinite(v) and v > 0 for _, v in values)


def test_logger_callback_profiles_a_nested_encoder(tmp_path):
    from seqapps.callbacks import GradientProfileLogger

    model = seq2seq_model()
    rng = np.random.default_rng(0)
    x = {
        "source": rng.integers(1, 20, size=(8, 5)).astype("int32"),
        "target_in": rng.integers(1, 20, size=(8, 3)).astype("int32"),
    }
    y = rng.integers(1, 20, size=(8, 3)).astype("int32")
    logger = GradientProfileLogger((x, y), tmp_path, every=1)
    logger.set_model(model)  # as fit does; calling it directly spares tracing a train step
    logger.on_train_batch_end(0)
    scalars = logged_scalars(tmp_path / "grad_profile")
    # 5 source steps: distances 0, 1, 2, 4 of the encoder's input.
    assert set(scalars) == {f"grad_profile/distance_{d}" for d in (0, 1, 2, 4)} | {
        "grad_profile/far_over_near"
    }


def test_diagnose_command_on_the_forecasting_sample(tmp_path, capsys):
    from seqapps.cli import main

    out = tmp_path / "diag"
    args = [
        "diagnose",
        "forecasting",
        "units=8",
        "window=20",
        "horizon=2",
        "batch_size=32",
        "cells=simple_rnn,lstm",
        "--steps",
        "3",
        "--batches",
        "1",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    results = json.loads((out / "gradient_profile.json").read_text())
    assert list(results) == ["simple_rnn", "lstm"]
    for r in results.values():
        assert len(r["init"]) == 20 and len(r["trained"]) == 20
        assert 0.0 <= r["clipped_fraction"] <= 1.0 and r["train_steps"] == 3
        assert "rnn_1" in r["layer_grad_norms_init"]
    assert (out / "gradient_profile.png").read_bytes()[:8] == PNG_SIGNATURE
    printed = capsys.readouterr().out
    lines = [line for line in printed.splitlines() if "farthest/last" in line]
    assert [line.split()[0] for line in lines] == ["simple_rnn", "lstm"]
    assert all(line.endswith("; layer rnn_1") for line in lines)


# Tiny settings per task: one small batch size, small widths, a capped training split.
DIAGNOSE_TINY = {
    "sentiment": ["units=8", "embedding_dim=8", "max_tokens=300", "max_train_samples=64"],
    "ner": [
        "units=8",
        "word_embedding_dim=8",
        "char_embedding_dim=4",
        "char_features=4",
        "case_embedding_dim=4",
        "max_train_samples=64",
    ],
    "translation": ["units=8", "embedding_dim=8", "max_train_samples=64"],
    # A random-weight MobileNetV2 at 64 px (2 x 2 feature positions), as the task tests use.
    "captioning": [
        "weights=none",
        "image_size=64",
        "units=8",
        "feature_units=8",
        "embedding_dim=8",
        "min_count=2",
    ],
    "forecasting": ["units=8", "window=12", "horizon=2"],
}
PROFILED = {
    "sentiment": "rnn_1",
    "ner": "rnn_1",
    "translation": "encoder/rnn_1",
    "captioning": "decoder/rnn_1",
    "forecasting": "rnn_1",
}


@pytest.mark.parametrize(
    "task",
    [
        # captioning's backbone at 64 px: about 10 s on 2 cores, so in make test-all
        pytest.param(t, marks=pytest.mark.slow) if t == "captioning" else t
        for t in DIAGNOSE_TINY
    ],
)
def test_diagnose_runs_on_every_task(tmp_path, task):
    from seqapps.diagnostics import diagnose

    overrides = [*DIAGNOSE_TINY[task], "batch_size=16", "lr_decay=0.5", "optimizer=sgd"]
    if task == "captioning":
        overrides.append(f"feature_cache={tmp_path / 'features'}")
    results = diagnose(task, overrides, ["gru"], tmp_path / "diag", batches=1, steps=2)
    saved = json.loads((tmp_path / "diag" / "gradient_profile.json").read_text())
    assert list(saved) == ["gru"] and saved == results
    r = results["gru"]
    assert r["layer"] == PROFILED[task]
    for phase in ("init", "trained"):
        profile = np.array(r[phase])
        assert profile.ndim == 1 and len(profile) >= 2
        assert np.isfinite(profile).all() and (profile > 0).all(), (phase, profile)
    assert r["train_steps"] == 2 and 0.0 <= r["clipped_fraction"] <= 1.0
    assert all(np.isfinite(v) for v in r["layer_grad_norms_init"].values())


def test_diagnose_compiles_the_model_as_training_does(tmp_path, monkeypatch):
    import seqapps.diagnostics as diagnostics
    from seqapps import optim

    seen = []

    def spy(task, model, steps_per_epoch):
        seen.append((steps_per_epoch, keras.config.dtype_policy().name))
        return optim.compile_model(task, model, steps_per_epoch)

    monkeypatch.setattr(diagnostics, "compile_model", spy)
    overrides = [
        *DIAGNOSE_TINY["forecasting"],
        "batch_size=16",
        "optimizer=rmsprop",
        "learning_rate=0.01",
        "lr_decay=1.0",
        "clipnorm=0.5",
        "mixed_precision=bfloat16",
    ]
    models = []
    monkeypatch.setattr(
        diagnostics, "_short_training", lambda model, *a: models.append(model) or 0.0
    )
    results = diagnostics.diagnose("forecasting", overrides, ["lstm"], tmp_path, batches=1)
    ((steps_per_epoch, policy),), (model,) = seen, models
    assert policy == "mixed_bfloat16" and model.compute_dtype == "bfloat16"
    opt = model.optimizer
    assert type(opt) is keras.optimizers.RMSprop and opt.global_clipnorm == 0.5
    schedule = opt._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.InverseTimeDecay)
    assert schedule.decay_steps == steps_per_epoch and schedule.decay_rate == 1.0
    assert float(schedule(2 * steps_per_epoch)) == pytest.approx(0.01 / 3)
    assert np.isfinite(results["lstm"]["init"]).all()
    assert keras.config.dtype_policy().name == "float32"  # restored afterwards


def test_trainer_and_diagnostics_do_not_import_each_other():
    """Both build on optim / callbacks / gradients; neither imports the other, even lazily."""
    import ast
    from pathlib import Path

    import seqapps

    root = Path(seqapps.__file__).parent

    def imported(module: str) -> set[str]:
        tree = ast.parse((root / f"{module}.py").read_text(encoding="utf-8"))
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
        return {n for n in names if n.startswith("seqapps")}

    graph = {m: imported(m) for m in ("trainer", "diagnostics", "optim", "callbacks", "gradients")}
    assert "seqapps.diagnostics" not in graph["trainer"]
    assert "seqapps.trainer" not in graph["diagnostics"]
    for low in ("optim", "callbacks", "gradients"):
        assert not graph[low] & {"seqapps.trainer", "seqapps.diagnostics"}, low
    assert {"seqapps.optim", "seqapps.callbacks"} <= graph["trainer"]
    assert {"seqapps.optim", "seqapps.callbacks", "seqapps.gradients"} <= graph["diagnostics"]
