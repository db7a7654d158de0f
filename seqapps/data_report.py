"""The data report: what a training run read, printed at its start and kept as JSON.

:meth:`seqapps.task.Task.data_report` builds it from the loaded (and adapted) data; the
trainer prints :func:`format_report` and writes ``data_report.json`` into the run
directory. Its keys:

- ``task``, ``data``: the task and its ``data=`` setting;
- ``examples``: items per split (tweets, sentences, pairs, images, windows);
- ``counts_by_label``: per split, how many items carry each label (sentiment classes, NER
  entity types counted per entity, forecasting windows per ticker); absent for tasks
  without labels (translation, captioning);
- ``label_shift``: the total variation distance between the label shares of validation and
  test, and the threshold over which the report warns (:data:`LABEL_SHIFT_THRESHOLD`);
- ``vocabulary_coverage``: text tasks, per input side (``text``, ``words``, ``source``,
  ``target``, ``captions``) and split: the share of tokens (``tokens``) and of distinct
  tokens (``types``) that are in the model's vocabulary, which is fitted on the training
  split (and capped by ``max_tokens`` / ``min_count`` where the task has them): what is not
  in it reads as ``[UNK]``;
- ``dropped``: items left out or cut, with their split, count and reason (e.g. tweets cut
  at ``max_length``, training pairs over ``max_length`` left out, skipped images, windows
  that straddle a split boundary);
- ``subsets``: ``max_train_samples`` / ``max_eval_samples`` when set;
- ``warnings``: one line each (also printed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import tensorflow as tf

# Validation and test label shares whose total variation distance exceeds this get a
# warning. TVD is the share of examples whose label would have to change to make the two
# distributions equal: over 0.15, an epoch selected on validation is tuned to a class mix
# that differs from test's by more than one example in seven, so validation and test scores
# stop being comparable (TweetEval sentiment's validation and test splits differ by 0.22).
LABEL_SHIFT_THRESHOLD = 0.15

SPLIT_NAMES = ("train", "val", "test")


def label_counts(labels: Iterable[str]) -> dict[str, int]:
    """``{label: count}``, most frequent first (ties by name)."""
    counts = Counter(labels)
    return {k: int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}


def total_variation(a: Mapping[str, int], b: Mapping[str, int]) -> float | None:
    """Total variation distance between the label shares of two count dicts (0..1).

    Half the sum over labels of the absolute difference of shares; None if either is empty.

    Example:
        >>> total_variation({"x": 1, "y": 1}, {"x": 3, "y": 1})
        0.25
    """
    na, nb = sum(a.values()), sum(b.values())
    if not na or not nb:
        return None
    keys = set(a) | set(b)
    return float(0.5 * sum(abs(a.get(k, 0) / na - b.get(k, 0) / nb) for k in keys))


def text_tokens(texts: Sequence[str], standardize: Callable[[tf.Tensor], tf.Tensor]):
    """Each text's tokens, as a whitespace-split ``TextVectorization`` with ``standardize``.

    Returns ``list[list[str]]``, one list per text.
    """
    if not texts:
        return []
    rows = tf.strings.split(standardize(tf.constant(list(texts), tf.string))).to_list()
    return [[t.decode("utf-8") for t in row] for row in rows]


def coverage(tokens: Sequence[Sequence[str]], vocabulary: set[str]) -> dict[str, float]:
    """Share of ``tokens`` (every occurrence) and of distinct tokens in ``vocabulary``."""
    flat = [t for row in tokens for t in row]
    if not flat:
        return {"tokens": 1.0, "types": 1.0}
    known = sum(t in vocabulary for t in flat)
    types = set(flat)
    return {
        "tokens": round(known / len(flat), 4),
        "types": round(len(types & vocabulary) / len(types), 4),
    }


def shift_warning(counts: Mapping[str, Mapping[str, int]]) -> tuple[dict[str, Any], list[str]]:
    """``label_shift`` entry and its warning (if over threshold) from ``counts_by_label``."""
    tvd = total_variation(counts.get("val", {}), counts.get("test", {}))
    shift = {"val_test_total_variation": None if tvd is None else round(tvd, 4)}
    shift["threshold"] = LABEL_SHIFT_THRESHOLD
    warnings = []
    if tvd is not None and tvd > LABEL_SHIFT_THRESHOLD:
        warnings.append(
            f"the label shares of val and test differ strongly (total variation {tvd:.2f} > "
            f"{LABEL_SHIFT_THRESHOLD}): the epoch selected on val is tuned to another class "
            "mix than test's (macro-averaged scores depend on it less than accuracy does)"
        )
    return shift, warnings


def format_report(report: dict[str, Any], max_labels: int = 10) -> str:
    """A compact table of ``report`` for the terminal (the JSON holds everything)."""
    splits = [s for s in SPLIT_NAMES if s in report["examples"]]
    width = 16
    lines = [f"data report: {report['task']}, data={report['data']}"]

    def row(name: str, cells: Sequence[str]) -> None:
        lines.append(f"  {name:<{width}}" + "".join(f"{c:>14}" for c in cells))

    row("", splits)
    row("examples", [str(report["examples"][s]) for s in splits])
    counts = report.get("counts_by_label")
    if counts:
        totals = {s: max(sum(counts[s].values()), 1) for s in splits}
        overall: Counter = Counter()
        for s in splits:
            overall.update(counts[s])
        labels = list(label_counts(overall.elements()))
        for label in labels[:max_labels]:
            row(
                label[:width],
                [
                    f"{counts[s].get(label, 0)} ({100 * counts[s].get(label, 0) / totals[s]:.0f}%)"
                    for s in splits
                ],
            )
        if len(labels) > max_labels:
            lines.append(f"  ... {len(labels) - max_labels} more labels in data_report.json")
    for side, by_split in report.get("vocabulary_coverage", {}).items():
        row(
            f"{side} vocab"[:width],
            [
                f"{100 * by_split[s]['tokens']:.1f}/{100 * by_split[s]['types']:.1f}%"
                if s in by_split
                else "-"
                for s in splits
            ],
        )
    if report.get("vocabulary_coverage"):
        lines.append("  (vocab: share of tokens / of distinct tokens in the training vocabulary)")
    for item in report.get("dropped", []):
        lines.append(f"  dropped: {item['split']}: {item['count']} {item['reason']}")
    for key, value in report.get("subsets", {}).items():
        lines.append(f"  subset: {key}={value}")
    for warning in report.get("warnings", []):
        lines.append(f"  warning: {warning}")
    return "\n".join(lines)
