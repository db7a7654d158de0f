"""Portable exports beside the SavedModel: file size and p50 latency per task and format.

    make demo     # the demo runs under runs/demo/TASK-*
    python -m benchmarks.portable --runs runs/demo --out bench_out/portable.json

For the newest run directory of each task under ``--runs`` (``TASK-*``, or pass run
directories with ``--run``): exports it as a SavedModel, ONNX, TFLite and dynamic-range
quantized TFLite (``seqapps export --format ...``) into a scratch root, then reports each
export's size on disk (MiB, every file of the version directory: networks, assets, metadata)
and the p50 / p95 latency (ms) of one raw input: the SavedModel's ``serving_default`` and
:func:`seqapps.portable.load` ``(...).predict`` on the same input, after warm-up calls.
Latency includes each side's pre- and post-processing (tokenising, decoding loops, image
decoding), as a user calling it would see.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import latency, machine

FORMATS = [("savedmodel", False), ("onnx", False), ("tflite", False), ("tflite", True)]


def size_mib(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 2**20


def raw_input(task: Any) -> Any:
    """One raw input as the SavedModel's ``predict_inputs`` and the client both take it."""
    samples = Path(__file__).resolve().parents[1] / "seqapps" / "data" / "samples"
    if task.name == "captioning":
        # PNG-free: the first sample JPEG's bytes (parity of JPEG decoding: see the README)
        return [sorted((samples / "captioning" / "images").glob("*.jpg"))[0].read_bytes()]
    if task.name == "forecasting":
        return task.predict_inputs([str(samples / "forecasting" / "prices.csv")]).numpy()[:1]
    return [getattr(task, "card_example", "some text")]


def main(argv: list[str] | None = None) -> None:
    """Command line; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", default="runs/demo", help="folder of TASK-* run directories")
    p.add_argument("--run", nargs="*", default=[], help="run directories (instead of --runs)")
    p.add_argument("--repeats", type=int, default=50, help="timed calls per export")
    p.add_argument("--out", required=True, help="JSON file")
    args = p.parse_args(argv)

    import tensorflow as tf  # noqa: PLC0415

    from seqapps.export import export, load_export  # noqa: PLC0415
    from seqapps.portable import load  # noqa: PLC0415

    runs = [Path(r) for r in args.run]
    if not runs:
        tasks = ["sentiment", "ner", "translation", "captioning", "forecasting"]
        for name in tasks:
            found = sorted(Path(args.runs).glob(f"{name}-*"))
            found = [r for r in found if (r / "best.keras").exists()]
            if found:
                runs.append(found[-1])
    result: dict[str, Any] = {
        "command": "python -m benchmarks.portable "
        + " ".join(sys.argv[1:] if argv is None else argv),
        **machine(),
        "runs": {},
    }
    scratch = Path(tempfile.mkdtemp(prefix="portable-bench-"))
    try:
        for run in runs:
            rows = {}
            for fmt, quantize in FORMATS:
                label = fmt + ("-quantized" if quantize else "")
                path = export(run, scratch / run.name / label, format=fmt, quantize=quantize)
                if fmt == "savedmodel":
                    task, loaded, _ = load_export(path)
                    inputs = raw_input(task)
                    # what serving_default takes: strings, image bytes, or price windows
                    dtype = tf.float32 if task.name == "forecasting" else tf.string
                    tensor = tf.constant(inputs, dtype)

                    def call(tensor: Any = tensor, loaded: Any = loaded) -> Any:
                        return loaded.serving_default(tensor)

                else:
                    model = load(path)

                    def call(model: Any = model, inputs: Any = inputs) -> Any:
                        return model.predict(inputs)

                rows[label] = {"size_mib": size_mib(path), **latency(call, args.repeats)}
                print(run.name, label, rows[label], flush=True)
            result["runs"][run.name] = {"task": task.name, "run": str(run), **rows}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
