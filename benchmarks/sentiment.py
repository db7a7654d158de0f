"""TweetEval sentiment benchmark: simple_rnn vs lstm vs gru, trained from scratch.

    python -m benchmarks.sentiment --out bench_out/sentiment.json

The settings and the data set (TweetEval in ../shared/data) are in
``configs/sentiment/benchmark.yaml`` (``--config``; ``--data DIR`` or ``key=value`` override
them); each cell sets only ``cell=``.

For each cell, a fresh process trains on train, selects the epoch on val (macro recall),
scores val and test, exports a SavedModel and times it. The cell with the best *val* macro
recall supplies the top-level metrics (``macro_recall``, ``macro_f1``, ``accuracy``); every
cell's figures are also written with a ``<cell>_`` prefix.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from benchmarks.common import benchmark_main, cell_table, flat, latency, peak_rss_mb, resolve_config

CELLS = ["simple_rnn", "lstm", "gru"]
METRICS = ["macro_recall", "macro_f1", "accuracy"]


def child(args: argparse.Namespace) -> None:
    """Train, evaluate and export one cell in this process; write its figures as JSON."""
    import tensorflow as tf

    from seqapps.export import export
    from seqapps.runs import evaluate_run
    from seqapps.tasks.sentiment import SentimentConfig, SentimentTask
    from seqapps.trainer import train

    run_dir = Path(args.work) / args.cell
    shutil.rmtree(run_dir, ignore_errors=True)
    cfg = resolve_config(SentimentConfig, args, f"cell={args.cell}")
    train(SentimentTask(cfg), run_dir)
    val = evaluate_run(run_dir, "val")
    test = evaluate_run(run_dir, "test")
    export_dir = export(run_dir, Path(args.work) / "saved_models" / args.cell)

    loaded = tf.saved_model.load(str(export_dir))
    serve = loaded.serving_default
    one = tf.constant(["@user can't wait for the game tonight!! #excited"])
    texts = Path(cfg.data, "test_text.txt").read_text(encoding="utf-8").splitlines()
    batch = tf.constant(texts[:256])
    single = latency(lambda: serve(one), repeats=200)
    batched = latency(lambda: serve(batch), repeats=20)
    history = (run_dir / "history.csv").read_text().splitlines()
    result = {
        **{f"val_{k}": val[k] for k in METRICS},
        **flat(test),
        "epochs_run": len(history) - 1,
        "export_latency_one_p50_ms": single["p50_ms"],
        "export_latency_one_p95_ms": single["p95_ms"],
        "export_batch256_tweets_per_second": 256 / (batched["mean_ms"] / 1000),
        "peak_rss_mb": peak_rss_mb(),
    }
    Path(args.child_out).write_text(json.dumps(result, indent=2))


def markdown_table(out: dict) -> str:
    """The per-cell table quoted in docs/BENCHMARKS.md, from the benchmark's JSON."""
    cells = [c for c in CELLS if f"{c}_macro_recall" in out]
    rows = [
        ("val macro recall (selects the epoch and the cell)", "val_macro_recall", 100, ".1f"),
        ("**test macro recall** (TweetEval metric)", "macro_recall", 100, ".1f"),
        ("test macro F1", "macro_f1", 100, ".1f"),
        ("test accuracy", "accuracy", 100, ".1f"),
        (
            "test recall negative / neutral / positive",
            ("recall_negative", "recall_neutral", "recall_positive"),
            100,
            ".1f",
        ),
        ("epochs run (best epoch + patience)", "epochs_run", 1, "d"),
        ("training samples/s", "train_samples_per_second", 1, ",.0f"),
        ("training wall time, data loading included (s)", "wall_seconds", 1, ",.0f"),
        ("peak RSS (MiB)", "peak_rss_mb", 1, ",.0f"),
        (
            "SavedModel latency, 1 tweet, p50 / p95 (ms)",
            ("export_latency_one_p50_ms", "export_latency_one_p95_ms"),
            1,
            ".1f",
        ),
        (
            "SavedModel throughput, batches of 256 (tweets/s)",
            "export_batch256_tweets_per_second",
            1,
            ",.0f",
        ),
    ]
    return cell_table(out, cells, rows)


def main() -> None:
    benchmark_main(
        module="benchmarks.sentiment",
        doc=__doc__,
        cells=CELLS,
        child=child,
        table=markdown_table,
        select_key="val_macro_recall",
        select_max=True,
        top_keys=[*METRICS, "train_samples_per_second"],
    )


if __name__ == "__main__":
    main()
