"""CoNLL-2003 NER benchmark: CRF vs softmax head, with vs without character features.

    python -m benchmarks.ner --out bench_out/ner.json

The settings and the data set (CoNLL-2003 in ../shared/data) are in
``configs/ner/benchmark.yaml`` (``--config``; ``--data DIR`` or ``key=value`` override them);
each cell sets only ``cell=``, ``head=`` and ``char_encoder=``.

Each cell (``CELL-HEAD-CHARS``, e.g. ``lstm-crf-cnn``) runs in a fresh process: train on
eng.train, select the epoch on eng.testa (entity F1), score eng.testa and eng.testb, export a
SavedModel and time it on raw sentences. The cell with the best *validation* F1 supplies
the top-level metrics (``f1``, ``precision``, ``recall``, ``accuracy``); every cell's figures
are also written with a ``<cell>_`` prefix. No pretrained embeddings anywhere.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from benchmarks.common import benchmark_main, cell_table, flat, latency, peak_rss_mb, resolve_config

CELLS = ["lstm-crf-cnn", "lstm-softmax-cnn", "lstm-crf-none", "gru-crf-cnn"]
METRICS = ["f1", "precision", "recall", "accuracy"]
TYPES = ["PER", "LOC", "ORG", "MISC"]


def cell_overrides(cell: str) -> list[str]:
    """``"lstm-crf-cnn"`` -> ``["cell=lstm", "head=crf", "char_encoder=cnn"]``."""
    rnn, head, chars = cell.split("-")
    return [f"cell={rnn}", f"head={head}", f"char_encoder={chars}"]


def child(args: argparse.Namespace) -> None:
    """Train, evaluate and export one cell in this process; write its figures as JSON."""
    import tensorflow as tf

    from seqapps.data.conll import read_conll
    from seqapps.export import export
    from seqapps.runs import evaluate_run
    from seqapps.tasks.ner import NerConfig, NerTask
    from seqapps.trainer import train

    run_dir = Path(args.work) / args.cell
    shutil.rmtree(run_dir, ignore_errors=True)
    cfg = resolve_config(NerConfig, args, *cell_overrides(args.cell))
    train(NerTask(cfg), run_dir)
    val = evaluate_run(run_dir, "val")
    test = evaluate_run(run_dir, "test")
    export_dir = export(run_dir, Path(args.work) / "saved_models" / args.cell)

    serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    one = tf.constant(["Germany 's representative to the European Union , Werner Zwingmann ,"])
    test_tokens = read_conll(Path(cfg.data) / "eng.testb").tokens
    batch = tf.constant([" ".join(s) for s in test_tokens[:256]])
    single = latency(lambda: serve(sentences=one), repeats=200)
    batched = latency(lambda: serve(sentences=batch), repeats=20)
    history = (run_dir / "history.csv").read_text().splitlines()
    result = {
        **{f"val_{k}": val[k] for k in METRICS},
        **flat(test),
        "epochs_run": len(history) - 1,
        "export_latency_one_p50_ms": single["p50_ms"],
        "export_latency_one_p95_ms": single["p95_ms"],
        "export_batch256_sentences_per_second": 256 / (batched["mean_ms"] / 1000),
        "peak_rss_mb": peak_rss_mb(),
    }
    Path(args.child_out).write_text(json.dumps(result, indent=2))


def markdown_table(out: dict) -> str:
    """The per-cell table quoted in docs/BENCHMARKS.md, from the benchmark's JSON."""
    cells = [k[: -len("_val_f1")] for k in out if k.endswith("_val_f1")]  # in run order
    rows = [
        ("val F1, eng.testa (selects the epoch and the cell)", "val_f1", 100, ".2f"),
        ("**test F1, eng.testb** (conlleval)", "f1", 100, ".2f"),
        ("test precision / recall", ("precision", "recall"), 100, ".2f"),
        ("test F1 PER / LOC / ORG / MISC", tuple(f"f1_{t}" for t in TYPES), 100, ".1f"),
        ("test token accuracy", "accuracy", 100, ".2f"),
        ("baseline F1 (training entities looked up)", "baseline_f1", 100, ".2f"),
        ("epochs run (best epoch + patience)", "epochs_run", 1, "d"),
        ("training sentences/s", "train_samples_per_second", 1, ",.0f"),
        ("training wall time, data loading included (min)", "wall_seconds", 1 / 60, ".1f"),
        ("peak RSS (MiB)", "peak_rss_mb", 1, ",.0f"),
        (
            "SavedModel latency, 1 sentence, p50 / p95 (ms)",
            ("export_latency_one_p50_ms", "export_latency_one_p95_ms"),
            1,
            ".1f",
        ),
        (
            "SavedModel throughput, batches of 256 (sentences/s)",
            "export_batch256_sentences_per_second",
            1,
            ",.0f",
        ),
    ]
    return cell_table(out, cells, rows)


def main() -> None:
    benchmark_main(
        module="benchmarks.ner",
        doc=__doc__,
        cells=CELLS,
        child=child,
        table=markdown_table,
        select_key="val_f1",
        select_max=True,
        top_keys=[*METRICS, "train_samples_per_second"],
    )


if __name__ == "__main__":
    main()
