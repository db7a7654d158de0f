"""The model card (``README.md``) written into every export's version directory.

A card says what the model is for and how far to trust it, in the spirit of Mitchell et al.
(2019), "Model Cards for Model Reporting" (FAT* '19): task, data and splits, settings, test
metrics beside their baselines, intended use and known limits, and how to call it with
``seqapps predict``, TF Serving's REST API (or ``seqapps serve``) and Python. Everything in it
is read from the run directory (``config.yaml``, ``data_report.json``, ``train_stats.json``,
``metrics.json``) and from the exported ``saved_model.pb``'s signature, so it cannot drift
from the model it sits beside.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from seqapps.task import Task

# Baselines in metrics.json carry one of these prefixes before the score they stand beside
# (seqapps.metrics' module docstring); decoding scores carry the _greedy suffix.
BASELINE_PREFIXES = ("majority_baseline", "baseline", "persistence", "drift", "moving_average")
# What each baseline is, as the card names it.
BASELINE_NAMES = {
    "majority_baseline": "majority class",
    "baseline": "training-entity lookup",  # NER: CoNLL-2003's own baseline
    "persistence": "persistence",
    "drift": "drift",
    "moving_average": "moving average",
}
# Scores shown on their own (no baseline exists for them).
ALWAYS_SHOWN = ("perplexity", "distinct", "interval_coverage")


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def signature(version_dir: Path) -> dict[str, dict[str, tuple[str, list[int]]]]:
    """``serving_default``'s inputs and outputs: name -> (dtype name, shape; -1 = any).

    Read from ``saved_model.pb`` with the protobuf classes only (no graph is loaded).

    Raises:
        OSError: ``saved_model.pb`` cannot be read.
    """
    import tensorflow as tf  # noqa: PLC0415  # late: only exports need it
    from tensorflow.core.protobuf import saved_model_pb2  # noqa: PLC0415

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((version_dir / "saved_model.pb").read_bytes())
    sig = proto.meta_graphs[0].signature_def["serving_default"]

    def specs(tensors: Any) -> dict[str, tuple[str, list[int]]]:
        return {
            name: (
                tf.dtypes.as_dtype(t.dtype).name,
                [int(d.size) for d in t.tensor_shape.dim],
            )
            for name, t in sorted(tensors.items())
        }

    return {"inputs": specs(sig.inputs), "outputs": specs(sig.outputs)}


def _shape(dims: list[int]) -> str:
    """``(n, any, 3)``: the batch dimension as n, unknown sizes as any (a tuple's commas)."""
    names = ["n" if i == 0 else "any" if d < 0 else str(d) for i, d in enumerate(dims)]
    return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"


def _fmt(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def metric_rows(metrics: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(metric, value, baselines)`` for each headline score of ``metrics.json``.

    A score is shown when it has a baseline or a greedy-decoding counterpart, or is one of
    :data:`ALWAYS_SHOWN`; per-horizon (``_hN``) figures are left to ``metrics.json``.
    """
    numbers = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    baseline_keys = {f"{p}_{k}" for p in BASELINE_PREFIXES for k in numbers}
    rows = []
    for key, value in numbers.items():
        if key in baseline_keys or key.endswith("_greedy") or re.search(r"_h\d+$", key):
            continue
        others = [
            f"{BASELINE_NAMES[p]} {_fmt(numbers[f'{p}_{key}'])}"
            for p in BASELINE_PREFIXES
            if f"{p}_{key}" in numbers
        ]
        if f"{key}_greedy" in numbers:
            others.append(f"greedy decoding {_fmt(numbers[f'{key}_greedy'])}")
        if others or key in ALWAYS_SHOWN:
            rows.append((key, _fmt(value), "; ".join(others) or "-"))
    return rows


def model_card(task: Task, run_dir: Path, version_dir: Path, name: str) -> str:
    """The card's Markdown for the export of ``run_dir`` written in ``version_dir``.

    Args:
        task: the exported run's task (config and assets loaded).
        run_dir: the run directory (its ``config.yaml``, ``data_report.json``,
            ``train_stats.json`` and test ``metrics.json`` are read where present).
        version_dir: the version directory being written (its ``saved_model.pb`` is read).
        name: the model's name under the serving root (the root directory's name).
    """
    cfg = task.cfg
    report = _read_json(run_dir / "data_report.json")
    stats = _read_json(run_dir / "train_stats.json")
    metrics = _read_json(version_dir / "assets.extra" / "seqapps" / "metrics.json")
    sig = signature(version_dir)
    doc = (type(task).__doc__ or "").strip().splitlines()[0]
    usage = task.card_usage()
    lines = [f"# {name}: a seqapps {task.name} model", "", doc, ""]

    lines += ["## Data", ""]
    files = {k: getattr(cfg, k) for k in ("data", "train", "val", "test") if getattr(cfg, k, "")}
    lines += [f"- {k}: `{v}`" for k, v in files.items()]
    examples = report.get("examples", {})
    if examples:
        lines += ["", "| split | examples |", "|---|---|"]
        lines += [f"| {split} | {count:,} |" for split, count in examples.items()]
    for warning in report.get("warnings", []):
        lines += ["", f"Warning from the data report: {warning}"]
    lines += [""]

    lines += ["## Settings", ""]
    defaults = type(cfg)()
    changed = {
        f.name: getattr(cfg, f.name)
        for f in dataclasses.fields(cfg)
        if f.name not in ("data", "train", "val", "test")
        and getattr(cfg, f.name) != getattr(defaults, f.name)
    }
    if changed:
        lines += ["Settings that differ from the task's defaults:", ""]
        lines += ["| key | value | default |", "|---|---|---|"]
        lines += [f"| `{k}` | `{v}` | `{getattr(defaults, k)}` |" for k, v in changed.items()]
    else:
        lines += ["The task's default settings (`seqapps config " + task.name + "`)."]
    lines += ["", "All settings: `assets.extra/seqapps/config.yaml`."]
    if stats:
        lines += [
            "",
            f"Trained {stats.get('epochs_run')} of up to {stats.get('epochs_planned')} epochs "
            f"of {stats.get('steps_per_epoch')} steps; the weights are those of epoch "
            f"{stats.get('best_epoch')}, selected by `{stats.get('monitor')}` on validation.",
        ]
    lines += [""]

    lines += ["## Test metrics", ""]
    rows = metric_rows(metrics)
    if rows:
        lines += ["| metric | this model | baselines |", "|---|---|---|"]
        lines += [f"| {k} | {v} | {b} |" for k, v, b in rows]
        lines += [
            "",
            "Scales and definitions: `seqapps.metrics`; every score is in "
            "`assets.extra/seqapps/metrics.json`.",
        ]
    else:
        lines += [
            "Not evaluated on a test split before export (`seqapps evaluate RUN --split test`, "
            "then export again)."
        ]
    lines += [""]

    lines += ["## Intended use and known limits", ""]
    lines += [f"- {limit}" for limit in task.card_limits()]
    lines += [""]

    lines += ["## How to call it", ""]
    lines += ["`serving_default` signature:", ""]
    lines += ["| | name | dtype | shape |", "|---|---|---|---|"]
    for side in ("inputs", "outputs"):
        for tensor, (dtype, dims) in sig[side].items():
            lines += [f"| {side[:-1]} | `{tensor}` | {dtype} | {_shape(dims)} |"]
    root = f"saved_models/{name}"
    lines += [
        "",
        "Command line (prints one line per input):",
        "",
        "```bash",
        f"seqapps predict {root} {usage['predict']}",
        "```",
        "",
        "TF Serving's REST API, served by TF Serving or by `seqapps serve` "
        f"(which serves every model under `saved_models/` on port 8501):{usage.get('note', '')}",
        "",
        "```bash",
        f"curl -s -X POST http://127.0.0.1:8501/v1/models/{name}:predict \\",
        f"  -d '{{\"instances\": {usage['instances']}}}'",
        "```",
        "",
        "Python:",
        "",
        "```python",
        "import tensorflow as tf",
        "from seqapps.export import load_export",
        f'task, model, path = load_export("{root}")  # the newest version',
        f"outputs = model.serving_default({usage['python']})",
        "```",
        "",
    ]
    return "\n".join(lines)


__all__ = ["metric_rows", "model_card", "signature"]
