"""Write a run's neural core as ONNX or TFLite, with what its pre- and post-processing need.

The SavedModel (:mod:`seqapps.export`) holds the whole raw-input graph: string ops, lookup
tables, decoding loops. ONNX and TFLite runtimes have no string ops (TFLite runs them only
as TensorFlow "Flex" ops, which need a TF-linked interpreter), so a portable export holds
only the networks, and :mod:`seqapps.portable.client` does the rest in Python:

================  =====================================  ================================
task              networks (file stems)                  client side
================  =====================================  ================================
sentiment         ``model``: token ids -> probabilities  tweet standardisation, vocabulary
ner               ``model``: word/case/char ids ->       tokens, features, CRF Viterbi
                  tag potentials                         (or argmax)
forecasting       ``model``: scaled features ->          price scaling, window checks,
                  scaled log-returns (+ quantiles)       back to prices
translation       ``encoder`` and ``decoder_step``       sentence standardisation, greedy
                                                         and beam search, detokenisation
captioning        ``encoder`` (backbone included) and    JPEG/PNG decoding, EXIF
                  ``decoder_step``                       orientation, resize, search
================  =====================================  ================================

An export is a version directory like the SavedModel's (``<root>/<n>/``, written to a
temporary directory and renamed into place) holding ``<stem>.onnx`` or ``<stem>.tflite``
files, ``portable.json`` (task, format, the networks' input and output names, settings),
the run's ``assets/`` (vocabularies, labels, tags, statistics) and ``config.yaml``.

TFLite models use built-in ops only and a batch size of 1 (the converter lowers Keras 3
recurrent layers to built-in ops only with a fixed batch; time stays dynamic); ``quantize``
applies dynamic-range quantization (int8 weights, float activations).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from seqapps import __version__
from seqapps.errors import ConfigError
from seqapps.export import TMP_PREFIX, claim_version, copy_run_files, readable, remove_abandoned
from seqapps.runs import load_run
from seqapps.task import Task

FORMATS = ("onnx", "tflite")
MANIFEST = "portable.json"
# Bumped when the layout of portable.json or the networks' signatures change.
LAYOUT_VERSION = 1


@dataclass
class Core:
    """One network of a portable export.

    Attributes:
        stem: file name without suffix (``model``, ``encoder``, ``decoder_step``).
        fn: ``fn(*tensors) -> {output name: tensor}``, traceable, inference mode.
        inputs: one spec per positional argument of ``fn``; the first axis is the batch.
        layers: the Keras layers and models ``fn`` uses (their variables are exported).
    """

    stem: str
    fn: Callable[..., dict[str, Any]]
    inputs: list[tf.TensorSpec]
    layers: list[Any] = field(default_factory=list)


class _CoreModel(keras.Model):
    """A Keras model around a :class:`Core`, so Keras' exporters can convert it."""

    def __init__(self, core: Core) -> None:
        super().__init__(name=core.stem)
        self.core_fn = core.fn
        self.parts = list(core.layers)  # tracked: their weights become the model's

    def call(self, inputs: list[Any], training: bool = False) -> dict[str, Any]:  # noqa: D102
        return self.core_fn(*inputs)


def _with_batch(spec: tf.TensorSpec, batch: int | None) -> tf.TensorSpec:
    return tf.TensorSpec([batch, *spec.shape[1:]], spec.dtype, name=spec.name)


@contextlib.contextmanager
def _quiet():
    """Silence the converters' printing (tf2onnx logs, TFLite's MLIR summaries)."""
    loggers = [logging.getLogger(n) for n in ("tf2onnx", "tensorflow", "absl")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            # Keras' tf2onnx patch touches np.object, which numpy 2 warns about.
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def write_core(core: Core, directory: Path, fmt: str, *, quantize: bool = False) -> dict:
    """Convert ``core`` into ``directory/<stem>.<onnx|tflite>``; return its manifest entry.

    The entry holds ``file``, ``inputs`` (names, in signature order) and ``outputs``
    (names, in the artifact's output order: ``fn``'s dict keys, sorted, as TensorFlow
    flattens them).

    Raises:
        ConfigError: the converter failed (the message names the network and format).
    """
    model = _CoreModel(core)
    names = [s.name for s in core.inputs]
    # One call builds the wrapper (Keras refuses to export an unbuilt model) and names the
    # outputs.
    outputs = sorted(model([_example(s) for s in core.inputs]))
    model.built = True
    path = directory / f"{core.stem}.{fmt}"
    try:
        with _quiet():
            if fmt == "onnx":
                model.export(str(path), format="onnx", input_signature=[core.inputs], verbose=False)
            else:
                kwargs: dict[str, Any] = {
                    "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}
                }
                if quantize:
                    kwargs["optimizations"] = [tf.lite.Optimize.DEFAULT]
                batch1 = [_with_batch(s, 1) for s in core.inputs]
                model.export(
                    str(path), format="litert", input_signature=[batch1], verbose=False, **kwargs
                )
    except Exception as e:  # noqa: BLE001  (converters raise anything; say which network)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"{fmt} conversion of the {core.stem} network failed: {first}") from e
    return {"file": path.name, "inputs": names, "outputs": outputs}


def _example(spec: tf.TensorSpec) -> tf.Tensor:
    """A small input of ``spec`` (unknown dimensions 1; ids 1; floats 1; masks True)."""
    shape = [1 if d is None else d for d in spec.shape]
    return tf.ones(shape, spec.dtype)


# --- the networks of each task ----------------------------------------------------------
def sentiment_cores(task: Task, model: keras.Model) -> tuple[list[Core], dict]:
    """``model``: ``token_ids`` (batch, time) int32 -> ``probabilities`` (batch, classes)."""
    core = Core(
        "model",
        lambda ids: {"probabilities": model(ids, training=False)},
        [tf.TensorSpec([None, None], tf.int32, name="token_ids")],
        [model],
    )
    settings = {
        "labels": list(task.label_names),
        "max_length": task.cfg.max_length,
        "vocabulary": "assets/vocabulary.txt",
    }
    return [core], settings


def ner_cores(task: Task, model: keras.Model) -> tuple[list[Core], dict]:
    """``model``: words, case (batch, time), chars (batch, time, chars) int32 -> potentials.

    Only the features the model reads are inputs (``case`` and ``chars`` are optional).
    ``potentials`` are ``(batch, time, tags)`` float32: CRF unary scores (the CRF's
    transitions go to ``portable.json``) or softmax probabilities.
    """
    keys = task.feature_keys
    specs = {
        "words": tf.TensorSpec([None, None], tf.int32, name="words"),
        "case": tf.TensorSpec([None, None], tf.int32, name="case"),
        "chars": tf.TensorSpec([None, None, None], tf.int32, name="chars"),
    }

    def fn(*tensors: Any) -> dict[str, Any]:
        return {"potentials": model(dict(zip(keys, tensors, strict=True)), training=False)}

    settings: dict[str, Any] = {
        "features": keys,
        "tags": list(task.tag_names),
        "head": task.cfg.head,
        "encoder": "assets/encoder.json",
    }
    if task.cfg.head == "crf":
        crf = model.get_layer("crf")
        settings["crf"] = {
            k: np.asarray(getattr(crf, k), np.float32).tolist()
            for k in ("transitions", "start", "end")
        }
    return [Core("model", fn, [specs[k] for k in keys], [model])], settings


def forecasting_cores(task: Task, model: keras.Model) -> tuple[list[Core], dict]:
    """``model``: ``features`` (batch, window, f) float32 -> scaled ``forecast`` (+ quantiles)."""
    cfg = task.cfg
    n_features = model.inputs[0].shape[-1]

    def fn(features: Any) -> dict[str, Any]:
        out = model(features, training=False)
        return dict(out) if isinstance(out, dict) else {"forecast": out}

    settings = {
        "window": cfg.window,
        "horizon": cfg.horizon,
        "inputs": cfg.inputs,
        "close_at": task.close_at,
        "quantile_levels": cfg.quantile_levels,
        "stats": {k: task.stats[k] for k in ("return_std", "volume_mean", "volume_std")},
    }
    spec = tf.TensorSpec([None, cfg.window, n_features], tf.float32, name="features")
    return [Core("model", fn, [spec], [model])], settings


def _decoder_step_core(task: Task, model: keras.Model, context_dim: int) -> tuple[Core, dict]:
    """One decoder step as a network, with the SavedModel's banned tokens and log-softmax.

    Inputs: ``tokens`` (n,) int32 (the previous token of each hypothesis), ``state_<i>``
    (n, units) float32 for every recurrent state (layer-major: h[, c] of layer 1, ...),
    ``values`` (n, positions, context), ``keys`` (n, positions, key size), ``mask``
    (n, positions) float32 (1 = a real position; TFLite has no bool inputs everywhere) and
    ``summary`` (n, context). Outputs: ``log_probs`` (n, vocab) and ``next_state_<i>``.
    """
    from seqapps.layers.seq2seq import _STATES, attentive_step_fn  # noqa: PLC0415
    from seqapps.tasks.seq2seq import END_ID, START_ID  # noqa: PLC0415

    decoder = model.get_layer("decoder")
    per_layer = _STATES[decoder.cell]
    n_states = per_layer * decoder.num_layers
    units = decoder.units
    key_dim = _key_dim(decoder)

    def fn(tokens: Any, *rest: Any) -> dict[str, Any]:
        flat, (values, keys, mask, summary) = rest[:n_states], rest[n_states:]
        states = [list(flat[i : i + per_layer]) for i in range(0, n_states, per_layer)]
        # The SavedModel's own step: banned tokens, then log-softmax. Its initial state is
        # not used (the encoder network computes the start states), so it is pruned.
        step_fn, _ = attentive_step_fn(
            decoder, values, mask > 0.5, summary, start_id=START_ID, end_id=END_ID
        )
        log_probs, new = step_fn(
            tokens,
            {"rnn": states, "values": values, "keys": keys, "mask": mask > 0.5, "summary": summary},
        )
        out = {"log_probs": log_probs}
        for i, s in enumerate(x for layer in new["rnn"] for x in layer):
            out[f"next_state_{i}"] = s  # not state_<i>: tf2onnx confuses it with the input
        return out

    specs = [
        tf.TensorSpec([None], tf.int32, name="tokens"),
        *[tf.TensorSpec([None, units], tf.float32, name=f"state_{i}") for i in range(n_states)],
        tf.TensorSpec([None, None, context_dim], tf.float32, name="values"),
        tf.TensorSpec([None, None, key_dim], tf.float32, name="keys"),
        tf.TensorSpec([None, None], tf.float32, name="mask"),
        tf.TensorSpec([None, context_dim], tf.float32, name="summary"),
    ]
    settings = {
        "states": n_states,
        "start_id": START_ID,
        "end_id": END_ID,
        "max_length": task.cfg.max_length,
        "beam_width": task.cfg.beam_width,
        "length_alpha": task.cfg.length_alpha,
    }
    return Core("decoder_step", fn, specs, [decoder]), settings


def _key_dim(decoder: Any) -> int:
    """Size of the attention keys the decoder step reads (the values' size without one)."""
    attention = decoder.attention
    if attention is None:
        return decoder.context_dim
    if hasattr(attention, "key_dense"):
        return attention.key_dense.units
    return decoder.context_dim  # Luong "dot": the keys are the values


def _encoder_outputs(decoder: Any, values: Any, summary: Any) -> dict[str, Any]:
    """The encoder network's outputs: attention values, keys, summary and start states."""
    out = {"values": values, "keys": decoder.keys(values), "summary": summary}
    for i, s in enumerate(x for layer in decoder.initial_state(summary) for x in layer):
        out[f"state_{i}"] = s
    return out


def translation_cores(task: Task, model: keras.Model) -> tuple[list[Core], dict]:
    """``encoder``: ``source`` (batch, time) int32 -> values, keys, summary, start states."""
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")

    def encode(source: Any) -> dict[str, Any]:
        values, summary = encoder(source, training=False)
        return _encoder_outputs(decoder, values, summary)

    enc = Core(
        "encoder",
        encode,
        [tf.TensorSpec([None, None], tf.int32, name="source")],
        [encoder, decoder],
    )
    step, settings = _decoder_step_core(task, model, encoder.output_dim)
    settings.update(
        {
            "source_vocabulary": "assets/source_vocabulary.txt",
            "target_vocabulary": "assets/target_vocabulary.txt",
            "source_max_length": task.cfg.max_length,
        }
    )
    return [enc, step], settings


def captioning_cores(task: Task, model: keras.Model) -> tuple[list[Core], dict]:
    """``encoder``: ``pixels`` (batch, size, size, 3) float32 RGB 0..255 -> values, keys, ...

    The backbone's preprocessing and the backbone run inside the network; decoding the
    image file, its EXIF orientation and the bilinear resize are the client's.
    """
    from seqapps.layers.backbones import preprocess  # noqa: PLC0415

    image_encoder = task.encoder_for(model)
    backbone = image_encoder.backbone
    feature_encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    prep = preprocess(image_encoder.name)
    size = image_encoder.image_size

    def encode(pixels: Any) -> dict[str, Any]:
        maps = backbone(prep(pixels), training=False)
        features = tf.reshape(maps, [tf.shape(maps)[0], -1, maps.shape[-1]])
        values, summary = feature_encoder(features, training=False)
        return _encoder_outputs(decoder, values, summary)

    enc = Core(
        "encoder",
        encode,
        [tf.TensorSpec([None, size, size, 3], tf.float32, name="pixels")],
        [backbone, feature_encoder, decoder],
    )
    step, settings = _decoder_step_core(task, model, feature_encoder.output_dim)
    settings.update({"image_size": size, "target_vocabulary": "assets/vocabulary.txt"})
    return [enc, step], settings


CORES: dict[str, Callable[[Task, keras.Model], tuple[list[Core], dict]]] = {
    "sentiment": sentiment_cores,
    "ner": ner_cores,
    "forecasting": forecasting_cores,
    "translation": translation_cores,
    "captioning": captioning_cores,
}

# Task/format pairs that cannot be exported, and why (one line each, for ConfigError).
UNSUPPORTED: dict[tuple[str, str], str] = {}


def export_portable(
    run_dir: str | Path, root: str | Path, fmt: str, *, quantize: bool = False
) -> Path:
    """Export the best model of ``run_dir`` as ONNX or TFLite, a new version under ``root``.

    Args:
        run_dir: a finished run (``config.yaml``, ``assets/``, ``best.keras``).
        root: the model root; the export becomes ``root/<next integer>/``.
        fmt: ``onnx`` or ``tflite``.
        quantize: TFLite only: dynamic-range quantization of the weights (int8).

    Returns:
        The version directory.

    Raises:
        ConfigError: an unknown format, ``quantize`` with ONNX, a task without a portable
            export, or a failed conversion (one line naming the network).
    """
    if quantize and fmt != "tflite":
        raise ConfigError("--quantize applies to --format tflite only")
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}: choose savedmodel, {', '.join(FORMATS)}")
    run_dir, root = Path(run_dir), Path(root)
    task, model = load_run(run_dir)
    if task.name not in CORES:
        raise ConfigError(f"{task.name} has no portable export (only {', '.join(CORES)})")
    if (task.name, fmt) in UNSUPPORTED:
        raise ConfigError(f"{task.name} cannot be exported as {fmt}: {UNSUPPORTED[task.name, fmt]}")
    cores, settings = CORES[task.name](task, model)
    root.mkdir(parents=True, exist_ok=True)
    remove_abandoned(root)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=root))
    try:
        networks = {c.stem: write_core(c, tmp, fmt, quantize=quantize) for c in cores}
        copy_run_files(run_dir, tmp)
        manifest = {
            "layout": LAYOUT_VERSION,
            "task": task.name,
            "format": fmt,
            "quantized": quantize,
            "batch_size": 1 if fmt == "tflite" else None,
            "networks": networks,
            "settings": settings,
            "seqapps_version": __version__,
            "run_dir": str(run_dir),
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        readable(tmp)
        return claim_version(tmp, root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


__all__ = ["CORES", "FORMATS", "MANIFEST", "Core", "export_portable", "write_core"]
