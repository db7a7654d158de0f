"""Portable exports (ONNX, TFLite): the client against the SavedModel, task by task.

Each parity test exports a tiny trained run (``runs`` fixture) in a format, runs
:mod:`seqapps.portable.client` on raw inputs and compares with the SavedModel's
``serving_default`` on the same inputs: labels, tags, translations and captions equal;
probabilities within 1e-5; forecasts within 1e-4 relative. Quantized TFLite models are held
to 1e-3 on probabilities and to the same label wherever the SavedModel's top two classes are
further apart than that. The Python twins of the graph's text functions are checked against
the graph on the packaged samples (fast tests, no training).
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from seqapps.errors import ConfigError
from seqapps.export import export, load_export
from seqapps.portable import text as P
from seqapps.portable.client import load, resize_bilinear, viterbi

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "seqapps" / "data" / "samples"
PROB_TOL = 1e-5
FORECAST_RTOL = 1e-4
QUANT_TOL = 1e-3

TRICKY = [
    "İstanbul ΟΔΟΣ Straße ǅ",
    "New\u00a0York\u3000 now",
    "Ma\u0308dchen",
    "sooo!!!! ???.... :) :-( <3 &amp; @bob #win https://x.co/a 12,345.6",
    "great😀👍🏽 ❤️",
    "The man’s dog, “running”!",
    "",
    "   ",
]


def _lines(path: Path, n: int) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[:n]


# --- the Python twins of the graph's text functions (fast) -------------------------------
def test_text_twins_match_the_graph_on_samples():
    from seqapps.data import text as T

    tweets = _lines(SAMPLES / "sentiment" / "train_text.txt", 400) + TRICKY
    graph = [x.decode() for x in T.standardize_tweet(tf.constant(tweets)).numpy()]
    assert [P.standardize_tweet(t) for t in tweets] == graph
    sentences = [s for p in sorted((SAMPLES / "translation").glob("*.de*")) for s in _lines(p, 300)]
    sentences += [
        s for p in sorted((SAMPLES / "translation").glob("*.en*")) for s in _lines(p, 300)
    ]
    sentences += TRICKY
    assert len(sentences) > 100
    graph = [x.decode() for x in T.standardize_sentence(tf.constant(sentences)).numpy()]
    assert [P.standardize_sentence(s) for s in sentences] == graph
    rows = [s.split() for s in graph[:200]] + [[], ["("], ["a", "'s", ",", ")"]]
    detok = T.detokenize_sentence(tf.ragged.constant(rows, dtype=tf.string)).numpy()
    assert [P.detokenize_sentence(r) for r in rows] == [x.decode() for x in detok]


def test_token_feature_twins_match_the_graph():
    from seqapps.data.tokens import case_ids, normalize_words

    conll = (SAMPLES / "ner" / "eng.train").read_text(encoding="utf-8").splitlines()
    tokens = [line.split()[0] for line in conll if line.strip()][:5000]
    tokens += "ǅx ǈa A1 1.5 F-16 iPhone EU the John ... ÀB Àb àB ΟΔΟΣ İx Ⅷ 𝐀".split()
    assert [P.case_id(t) for t in tokens] == case_ids(tf.constant(tokens)).numpy().tolist()
    words = [w.decode() for w in normalize_words(tf.constant(tokens)).numpy()]
    assert [P.normalize_word(t) for t in tokens] == words


def test_viterbi_matches_the_crf_layer():
    from seqapps.layers.crf import viterbi_decode

    rng = np.random.default_rng(0)
    potentials = rng.normal(size=(6, 9, 5)).astype(np.float32)
    transitions, start, end = (rng.normal(size=s).astype(np.float32) for s in ((5, 5), 5, 5))
    lengths = np.array([9, 1, 4, 7, 2, 9])
    mask = np.arange(9)[None, :] < lengths[:, None]
    graph = viterbi_decode(potentials, mask, transitions, start, end).numpy()
    for row, n in enumerate(lengths):
        got = viterbi(potentials[row, :n], transitions, start, end)
        np.testing.assert_array_equal(got, graph[row, :n])


@pytest.mark.parametrize("shape", [(224, 180), (17, 40), (32, 32), (5, 3)])
def test_resize_matches_tf_bilinear(shape):
    image = np.random.default_rng(1).uniform(0, 255, (*shape, 3)).astype(np.float32)
    graph = tf.image.resize(image, [32, 32], method="bilinear").numpy()
    np.testing.assert_allclose(resize_bilinear(image, 32), graph, rtol=0, atol=1e-4)


def test_client_imports_without_tensorflow():
    code = (
        "import sys; import seqapps.portable.client, seqapps.portable.runtime, "
        "seqapps.portable.text; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_bad_format_and_quantize_are_one_line_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="--quantize applies to --format tflite only"):
        export(tmp_path / "no-run", tmp_path / "out", "onnx", quantize=True)
    with pytest.raises(ConfigError, match="choose savedmodel, onnx, tflite"):
        export(tmp_path / "no-run", tmp_path / "out", "coreml")


# --- parity with the SavedModel ------------------------------------------------------------
_EXPORTS: dict[tuple[str, str, bool], Path] = {}


def portable(runs, name: str, fmt: str, quantize: bool = False) -> Path:
    """The portable export of the tiny ``name`` run (once per session and format)."""
    key = (name, fmt, quantize)
    if key not in _EXPORTS:
        run = runs.get(name)
        root = run.root / f"portable-{fmt}{'-q' if quantize else ''}"
        _EXPORTS[key] = export(run.run_dir, root, fmt, quantize=quantize)
    return _EXPORTS[key]


def parity_inputs(name: str, run) -> list:
    """Raw inputs: the contract test's, plus sample data and odd text for text tasks."""
    inputs = run.inputs()
    if name == "sentiment":
        return inputs + _lines(SAMPLES / "sentiment" / "test_text.txt", 30) + TRICKY
    if name == "ner":
        conll = (SAMPLES / "ner" / "eng.testa").read_text(encoding="utf-8").split("\n\n")
        sents = [" ".join(w.split()[0] for w in block.splitlines()) for block in conll[1:25]]
        return inputs + sents + TRICKY
    if name == "translation":
        source = sorted((SAMPLES / "translation").glob("*.de*"))
        return inputs + (_lines(source[0], 12) if source else []) + TRICKY[:3]
    return inputs


def reference(runs, name: str, inputs: list) -> tuple[dict, object]:
    """The SavedModel's outputs (numpy, strings decoded) and the client's input form."""
    task, loaded, _ = load_export(runs.export(name))
    x = task.predict_inputs(inputs)
    out = {k: v.numpy() for k, v in loaded.serving_default(x).items()}
    decode = np.vectorize(lambda b: b.decode("utf-8"), otypes=[str])
    out = {k: decode(v) if v.dtype == object else v for k, v in out.items()}
    client_input = x.numpy() if name == "forecasting" else inputs
    if name == "captioning":
        client_input = list(x.numpy())  # image bytes
    return out, client_input


def assert_parity(name: str, ref: dict, got: dict, quantized: bool = False) -> None:
    assert set(got) == set(ref), (sorted(got), sorted(ref))
    for key, want in ref.items():
        have = got[key]
        assert have.shape == want.shape, (key, have.shape, want.shape)
        if name == "forecasting" and want.dtype.kind == "f":
            np.testing.assert_allclose(have, want, rtol=FORECAST_RTOL, atol=0, err_msg=key)
        elif want.dtype.kind == "f":
            np.testing.assert_allclose(
                have, want, rtol=0, atol=QUANT_TOL if quantized else PROB_TOL
            )
        elif quantized and key == "label":
            top2 = np.sort(ref["probabilities"], axis=-1)[:, -2:]
            clear = top2[:, 1] - top2[:, 0] > 2 * QUANT_TOL
            np.testing.assert_array_equal(have[clear], want[clear], err_msg=key)
        else:
            np.testing.assert_array_equal(have, want, err_msg=key)


def _parity(runs, name: str, fmt: str, quantize: bool = False) -> None:
    run = runs.get(name)
    inputs = parity_inputs(name, run)
    ref, client_input = reference(runs, name, inputs)
    model = load(portable(runs, name, fmt, quantize).parent)  # a root: its newest version
    assert model.format == fmt
    assert_parity(name, ref, model.predict(client_input), quantized=quantize)


@pytest.mark.slow  # an ONNX conversion: make test-all (make test stays under 4 minutes)
@pytest.mark.xdist_group("sentiment")
def test_sentiment_onnx_matches_the_saved_model(runs):
    _parity(runs, "sentiment", "onnx")


PAIRS = [
    pytest.param(
        name, fmt, id=f"{name}-{fmt}", marks=[pytest.mark.slow, pytest.mark.xdist_group(name)]
    )
    for name in ("sentiment", "ner", "forecasting", "translation")
    for fmt in ("onnx", "tflite")
    if (name, fmt) != ("sentiment", "onnx")
]


@pytest.mark.parametrize(("name", "fmt"), PAIRS)
def test_portable_export_matches_the_saved_model(runs, name, fmt):
    _parity(runs, name, fmt)


@pytest.mark.slow
@pytest.mark.xdist_group("sentiment")
def test_quantized_tflite_is_smaller_and_close(runs):
    _parity(runs, "sentiment", "tflite", quantize=True)
    plain = portable(runs, "sentiment", "tflite") / "model.tflite"
    small = portable(runs, "sentiment", "tflite", True) / "model.tflite"
    assert small.stat().st_size < plain.stat().st_size


@pytest.mark.slow
@pytest.mark.xdist_group("forecasting")
@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_forecasting_invalid_rows_and_short_windows(runs, fmt):
    run = runs.get("forecasting")
    ref_task, loaded, _ = load_export(runs.export("forecasting"))
    prices = ref_task.predict_inputs(run.inputs()).numpy()
    prices[1, -1, 0] = np.nan  # the second row cannot be forecast
    model = load(portable(runs, "forecasting", fmt))
    got = model.predict(prices)
    want = {k: v.numpy() for k, v in loaded.serving_default(tf.constant(prices)).items()}
    np.testing.assert_array_equal(got["valid"], want["valid"])
    assert not got["valid"][1] and np.isnan(got["forecast"][1]).all()
    np.testing.assert_allclose(got["forecast"][0], want["forecast"][0], rtol=FORECAST_RTOL)
    from seqapps.errors import DataError

    with pytest.raises(DataError, match="the model reads the last"):
        model.predict(prices[:, :2])
    assert model.predict(prices[:0])["forecast"].shape == (0, ref_task.cfg.horizon)


@pytest.mark.slow
@pytest.mark.xdist_group("translation")
@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_translation_greedy_matches_the_task(runs, fmt):
    run = runs.get("translation")
    sentences = parity_inputs("translation", run)
    want = run.task.translate(run.model, sentences, beam_width=1)
    model = load(portable(runs, "translation", fmt))
    assert model.predict(sentences, beam_width=1)["translations"].tolist() == want


def _png(path: Path) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    with Image.open(path) as image:
        image.convert("RGB").save(out, format="PNG")
    return out.getvalue()


@pytest.mark.slow
@pytest.mark.xdist_group("captioning")
@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_captioning_matches_the_saved_model_on_lossless_images(runs, fmt):
    """PNG copies of the sample photos: pixels decode identically in TF and Pillow.

    JPEGs do not: TF decodes with libjpeg's fast integer IDCT, Pillow with the accurate one
    (up to 5/255 apart), which the client cannot choose (see the README's note).
    """
    task, loaded, _ = load_export(runs.export("captioning"))
    images = sorted((SAMPLES / "captioning" / "images").glob("*.jpg"))[:3]
    data = [_png(p) for p in images] + [b"not an image"]
    want = {k: v.numpy() for k, v in loaded.serving_default(tf.constant(data)).items()}
    got = load(portable(runs, "captioning", fmt)).predict(data)
    np.testing.assert_array_equal(got["decoded"], want["decoded"])
    assert got["captions"].tolist() == [c.decode() for c in want["captions"]]
