"""Multi30k German->English benchmark: attention vs none, GRU vs LSTM, greedy vs beam.

    python -m benchmarks.translation --out bench_out/translation.json

The settings and the data set (Multi30k in ../shared/data) are in
``configs/translation/benchmark.yaml`` (``--config``; ``--data DIR`` or ``key=value`` override
them); each cell sets only ``cell=`` and ``attention=``.

Each cell (``CELL-ATTENTION``, e.g. ``gru-bahdanau``) runs in a fresh process: train on the
29,000 training pairs, select the epoch on val (per-token cross-entropy), translate val and
test_2016_flickr with beam search and greedily, export a SavedModel and time it on raw
sentences. The cell with the best *validation* BLEU supplies the top-level metrics; every
cell's figures are also written with a ``<cell>_`` prefix. BLEU and chrF are sacrebleu's
(13a tokenisation, case-insensitive) on detokenised output against the raw references.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from benchmarks.common import benchmark_main, cell_table, flat, latency, peak_rss_mb, resolve_config

CELLS = ["gru-bahdanau", "gru-none", "lstm-bahdanau"]  # the TranslationConfig default: LSTM
METRICS = ["bleu", "chrf", "bleu_greedy", "chrf_greedy", "perplexity"]


def cell_overrides(cell: str) -> list[str]:
    """``"gru-bahdanau"`` -> ``["cell=gru", "attention=bahdanau"]``."""
    rnn, attention = cell.split("-")
    return [f"cell={rnn}", f"attention={attention}"]


def child(args: argparse.Namespace) -> None:
    """Train, evaluate and export one cell in this process; write its figures as JSON."""
    import numpy as np
    import tensorflow as tf

    from seqapps.export import export
    from seqapps.runs import evaluate_run, load_task
    from seqapps.tasks.translation import TranslationConfig, TranslationTask
    from seqapps.trainer import train

    run_dir = Path(args.work) / args.cell
    shutil.rmtree(run_dir, ignore_errors=True)
    cfg = resolve_config(TranslationConfig, args, *cell_overrides(args.cell))
    train(TranslationTask(cfg), run_dir)
    val = evaluate_run(run_dir, "val")
    test = evaluate_run(run_dir, "test")
    export_dir = export(run_dir, Path(args.work) / "saved_models" / args.cell)

    # Target tokens per training pair (end token included), for tokens/s.
    task = load_task(run_dir)
    data = task.load_data()
    lengths = task.target_vectorizer(tf.constant(data.train.targets)).row_lengths().numpy()
    stats = json.loads((run_dir / "train_stats.json").read_text())

    serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    one = tf.constant(["Ein Mann fährt auf einem Fahrrad eine Straße entlang."])
    batch = tf.constant(data.test.sources[:64])
    single = latency(lambda: serve(sentences=one), repeats=50)
    batched = latency(lambda: serve(sentences=batch), repeats=5)
    history = (run_dir / "history.csv").read_text().splitlines()
    result = {
        **{f"val_{k}": val[k] for k in METRICS},
        **flat(test),
        "train_target_tokens_per_second": stats["train_samples_per_second"]
        * float(np.mean(lengths + 1)),
        "epochs_run": len(history) - 1,
        "export_latency_one_p50_ms": single["p50_ms"],
        "export_latency_one_p95_ms": single["p95_ms"],
        "export_batch64_sentences_per_second": 64 / (batched["mean_ms"] / 1000),
        "peak_rss_mb": peak_rss_mb(),
    }
    Path(args.child_out).write_text(json.dumps(result, indent=2))


def markdown_table(out: dict) -> str:
    """The per-cell table quoted in docs/BENCHMARKS.md, from the benchmark's JSON."""
    cells = [k[: -len("_val_bleu")] for k in out if k.endswith("_val_bleu")]  # in run order
    rows = [
        ("val BLEU, beam (selects the cell)", "val_bleu", 1, ".2f"),
        ("**test BLEU, beam 5** (test_2016_flickr)", "bleu", 1, ".2f"),
        ("test BLEU, greedy", "bleu_greedy", 1, ".2f"),
        ("test chrF, beam / greedy", ("chrf", "chrf_greedy"), 1, ".2f"),
        ("test perplexity (teacher forced)", "perplexity", 1, ".2f"),
        ("epochs run (best epoch + patience)", "epochs_run", 1, "d"),
        ("training pairs/s", "train_samples_per_second", 1, ",.0f"),
        ("training target tokens/s", "train_target_tokens_per_second", 1, ",.0f"),
        ("training wall time, data loading included (min)", "wall_seconds", 1 / 60, ".1f"),
        ("peak RSS (MiB)", "peak_rss_mb", 1, ",.0f"),
        (
            "SavedModel latency, 1 sentence, beam 5, p50 / p95 (ms)",
            ("export_latency_one_p50_ms", "export_latency_one_p95_ms"),
            1,
            ".0f",
        ),
        (
            "SavedModel throughput, batches of 64 (sentences/s)",
            "export_batch64_sentences_per_second",
            1,
            ",.1f",
        ),
    ]
    return cell_table(out, cells, rows)


def main() -> None:
    benchmark_main(
        module="benchmarks.translation",
        doc=__doc__,
        cells=CELLS,
        child=child,
        table=markdown_table,
        select_key="val_bleu",
        select_max=True,
        top_keys=[*METRICS, "train_samples_per_second"],
    )


if __name__ == "__main__":
    main()
