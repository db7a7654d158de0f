"""Flickr8k captioning benchmark: LSTM vs GRU decoder, greedy vs beam, frozen MobileNetV2-0.5.

    python -m benchmarks.captioning --out bench_out/captioning.json

The settings, the data set (Flickr8k in ../shared/data) and the encoder's weights file are in
``configs/captioning/benchmark.yaml`` (``--config``; ``--data DIR`` or ``key=value`` override
them); each cell sets only ``cell=`` and ``attention=`` (and ``feature_cache=`` under
``--work``). The encoder is MobileNetV2 (width 0.5, 224 px) with the ImageNet weights in
``../shared/data/weights/`` (loaded from that file, offline), frozen. Each cell
(``CELL-ATTENTION``, e.g. ``lstm-bahdanau``) runs in a fresh process: extract the features
of the 8,000 images into the cache under ``--work`` (the first cell; later cells read the
cache), train the decoder on the 6,000 training images' 30,000 captions, select the epoch
on the 1,000 dev images (per-token cross-entropy), caption dev and test with beam search
and greedily, export a SavedModel and time it on JPEG bytes. The cell with the best
*validation* BLEU-4 supplies the top-level metrics; every cell's figures are also written
with a ``<cell>_`` prefix. BLEU-1..4 are corpus BLEU against the five references per image
on lower-cased words without punctuation (:func:`seqapps.metrics.corpus_bleu`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from benchmarks.common import benchmark_main, cell_table, flat, latency, peak_rss_mb, resolve_config

CELLS = ["lstm-bahdanau", "gru-bahdanau"]
BLEU = [f"bleu{n}" for n in range(1, 5)]
METRICS = [*BLEU, *(f"{b}_greedy" for b in BLEU), "perplexity", "distinct"]


def cell_overrides(cell: str) -> list[str]:
    """``"lstm-bahdanau"`` -> ``["cell=lstm", "attention=bahdanau"]``."""
    rnn, attention = cell.split("-")
    return [f"cell={rnn}", f"attention={attention}"]


def child(args: argparse.Namespace) -> None:
    """Extract (or read) features, train, evaluate and export one cell; write JSON."""
    import tensorflow as tf

    from seqapps.data.io import SPLITS
    from seqapps.export import export
    from seqapps.runs import evaluate_run, load_task
    from seqapps.tasks.captioning import CaptioningConfig, CaptioningTask
    from seqapps.trainer import train

    work = Path(args.work)
    run_dir = work / args.cell
    shutil.rmtree(run_dir, ignore_errors=True)
    cache = f"feature_cache={work / 'features'}"
    cfg = resolve_config(CaptioningConfig, args, cache, *cell_overrides(args.cell))

    # Features first, timed on their own (0 s when an earlier cell left them in the cache).
    task = CaptioningTask(cfg)
    data = task.load_data()
    task.adapt(data)
    started = time.perf_counter()
    for split in SPLITS:
        task.features(data.split(split).images)
    extraction = time.perf_counter() - started
    n_images = sum(len(data.split(s)) for s in SPLITS)

    train(CaptioningTask(cfg), run_dir)
    val = evaluate_run(run_dir, "val")
    test = evaluate_run(run_dir, "test")
    export_dir = export(run_dir, work / "saved_models" / args.cell)

    task = load_task(run_dir)
    serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    jpegs = [p.read_bytes() for p in task.load_data().test.images[:32]]
    one, batch = tf.constant(jpegs[:1]), tf.constant(jpegs)
    single = latency(lambda: serve(images=one), repeats=30)
    batched = latency(lambda: serve(images=batch), repeats=5)
    stats = json.loads((run_dir / "train_stats.json").read_text())
    history = (run_dir / "history.csv").read_text().splitlines()
    epochs = len(history) - 1
    result = {
        **{f"val_{k}": val[k] for k in METRICS},
        **flat(test),
        "feature_extraction_seconds": extraction,
        "feature_extraction_images_per_second": n_images / extraction if extraction > 1 else 0,
        "epochs_run": epochs,
        # Training wall time less the feature pass it began with (cache hit: ~0).
        "seconds_per_epoch": stats["wall_seconds"] / epochs,
        "export_latency_one_p50_ms": single["p50_ms"],
        "export_latency_one_p95_ms": single["p95_ms"],
        "export_batch32_images_per_second": 32 / (batched["mean_ms"] / 1000),
        "peak_rss_mb": peak_rss_mb(),
    }
    Path(args.child_out).write_text(json.dumps(result, indent=2))


def markdown_table(out: dict) -> str:
    """The per-cell table quoted in docs/BENCHMARKS.md, from the benchmark's JSON."""
    cells = [k[: -len("_val_bleu4")] for k in out if k.endswith("_val_bleu4")]  # run order
    rows = [
        ("val BLEU-4, beam (selects the cell)", "val_bleu4", 1, ".2f"),
        ("**test BLEU-1 / 2 / 3 / 4, beam 3**", tuple(BLEU), 1, ".1f"),
        ("test BLEU-1 / 2 / 3 / 4, greedy", tuple(f"{b}_greedy" for b in BLEU), 1, ".1f"),
        ("test perplexity (teacher forced)", "perplexity", 1, ".2f"),
        ("distinct test captions, beam / greedy", ("distinct", "distinct_greedy"), 100, ".0f"),
        ("epochs run (best + patience, at most 10)", "epochs_run", 1, "d"),
        (
            "feature extraction, 8,000 images (s; 0 = cached)",
            "feature_extraction_seconds",
            1,
            ".0f",
        ),
        ("training captions/s", "train_samples_per_second", 1, ",.0f"),
        ("seconds per decoder epoch (validation included)", "seconds_per_epoch", 1, ".0f"),
        ("training wall time, data loading included (min)", "wall_seconds", 1 / 60, ".1f"),
        ("peak RSS (MiB)", "peak_rss_mb", 1, ",.0f"),
        (
            "SavedModel latency, 1 JPEG, beam 3, p50 / p95 (ms)",
            ("export_latency_one_p50_ms", "export_latency_one_p95_ms"),
            1,
            ".0f",
        ),
        (
            "SavedModel throughput, batches of 32 (images/s)",
            "export_batch32_images_per_second",
            1,
            ",.1f",
        ),
    ]
    return cell_table(out, cells, rows)


def main() -> None:
    benchmark_main(
        module="benchmarks.captioning",
        doc=__doc__,
        cells=CELLS,
        child=child,
        table=markdown_table,
        select_key="val_bleu4",
        select_max=True,
        top_keys=[*METRICS, "train_samples_per_second"],
    )


if __name__ == "__main__":
    main()
