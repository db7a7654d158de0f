"""Portable exports: a run's networks as ONNX or TFLite, and a client that runs them.

- :mod:`seqapps.portable.export` (needs TensorFlow): ``seqapps export RUN --format onnx``
  or ``--format tflite [--quantize]`` writes the networks and what their pre- and
  post-processing need;
- :mod:`seqapps.portable.client` (numpy and onnxruntime or ai-edge-litert; Pillow for
  images; no TensorFlow): :func:`load` an export and ``predict`` raw inputs, with the
  SavedModel's outputs.

Example:
    >>> from seqapps.portable import load                       # doctest: +SKIP
    >>> model = load("saved_models/sentiment-onnx")              # doctest: +SKIP
    >>> model.predict(["what a great day :)"])["label"]         # doctest: +SKIP
    array(['positive'], dtype='<U8')
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Lazy, so that importing the package (e.g. for the exporter) does not load a runtime.
    if name in ("load", "PortableModel"):
        from seqapps.portable import client  # noqa: PLC0415

        return getattr(client, name)
    raise AttributeError(f"module 'seqapps.portable' has no attribute {name!r}")


__all__ = ["PortableModel", "load"]
