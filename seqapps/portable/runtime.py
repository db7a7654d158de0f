"""Run one exported network (ONNX or TFLite) on named numpy arrays.

:class:`OnnxRunner` wraps ``onnxruntime.InferenceSession``; :class:`LiteRTRunner` wraps the
LiteRT interpreter (``ai_edge_litert``, or TensorFlow's ``tf.lite`` when only TensorFlow is
installed). Both take and return ``{name: array}`` with the names the export recorded in
``portable.json``, so the task clients in :mod:`seqapps.portable.client` do not care which
format they run.

TFLite models are exported with a batch size of 1 (recurrent layers convert to built-in ops
only with a fixed batch), so :class:`LiteRTRunner` runs a batch one row at a time and stacks
the rows; the other dimensions (time) may vary from call to call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from seqapps.errors import ConfigError


class Runner(Protocol):
    """A loaded network: ``runner(feeds) -> outputs``, both ``{name: np.ndarray}``."""

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the network on ``feeds`` (every input name) and return every output."""
        ...


class OnnxRunner:
    """An ONNX model under onnxruntime (CPU).

    Args:
        path: the ``.onnx`` file.
        inputs: the model's input names in the order of the export's signature.
        outputs: one name per model output, in the model's output order (tf2onnx names
            them ``Identity:0``, ...; these are the names the client uses).
        threads: intra-op threads (0 = onnxruntime's default, one per core).

    Raises:
        ConfigError: onnxruntime is not installed.
    """

    def __init__(
        self, path: str | Path, inputs: list[str], outputs: list[str], threads: int = 0
    ) -> None:
        try:
            import onnxruntime as ort  # noqa: PLC0415  (optional dependency)
        except ImportError:
            raise ConfigError(
                "running an ONNX export needs onnxruntime: pip install 'seqapps[portable]'"
            ) from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3  # warnings about unused initialisers are noise here
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = inputs
        self.output_names = outputs
        # ONNX input names come from the export's TensorSpec names, in signature order.
        self._onnx_inputs = [i.name for i in self.session.get_inputs()]
        if len(self._onnx_inputs) != len(inputs):
            raise ConfigError(
                f"{path}: {len(self._onnx_inputs)} inputs, portable.json says {len(inputs)}"
            )

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model; ``feeds`` holds every input name."""
        arrays = {
            onnx_name: feeds[name]
            for onnx_name, name in zip(self._onnx_inputs, self.input_names, strict=True)
        }
        values = self.session.run(None, arrays)
        return dict(zip(self.output_names, values, strict=True))


def _interpreter_class() -> type:
    """The LiteRT ``Interpreter``: ``ai_edge_litert``'s, else TensorFlow's ``tf.lite``."""
    try:
        from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415

        return Interpreter
    except ImportError:
        pass
    try:
        import tensorflow as tf  # noqa: PLC0415

        return tf.lite.Interpreter
    except ImportError:
        raise ConfigError(
            "running a TFLite export needs ai-edge-litert: pip install 'seqapps[portable]'"
        ) from None


class LiteRTRunner:
    """A TFLite model under the LiteRT interpreter, batch 1, run row by row.

    Args:
        path: the ``.tflite`` file.
        inputs: input names (the signature's input names).
        outputs: output names (the signature's output names, in the client's order).
        threads: interpreter threads (None = the interpreter's default).

    Raises:
        ConfigError: neither ai-edge-litert nor TensorFlow is installed.
    """

    def __init__(
        self, path: str | Path, inputs: list[str], outputs: list[str], threads: int | None = None
    ) -> None:
        interpreter = _interpreter_class()(model_path=str(path), num_threads=threads)
        self.runner = interpreter.get_signature_runner()
        self.input_names = inputs
        self.output_names = outputs

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on each row of ``feeds`` (first axis) and stack the outputs."""
        rows = {len(v) for v in feeds.values()}
        if len(rows) != 1:
            raise ValueError(f"inputs disagree on the batch size: {sorted(rows)}")
        n = rows.pop()
        results: dict[str, list[np.ndarray]] = {name: [] for name in self.output_names}
        for i in range(n):
            out = self.runner(**{name: feeds[name][i : i + 1] for name in self.input_names})
            for name in self.output_names:
                results[name].append(out[name])
        if n == 0:
            raise ValueError("an empty batch: the caller handles it before running the model")
        return {name: np.concatenate(parts, axis=0) for name, parts in results.items()}


def make_runner(fmt: str, path: str | Path, inputs: list[str], outputs: list[str]) -> Runner:
    """The runner of format ``fmt`` (``onnx`` or ``tflite``) for the model at ``path``."""
    if fmt == "onnx":
        return OnnxRunner(path, inputs, outputs)
    if fmt == "tflite":
        return LiteRTRunner(path, inputs, outputs)
    raise ConfigError(f"{path}: unknown portable format {fmt!r} (expected onnx or tflite)")
