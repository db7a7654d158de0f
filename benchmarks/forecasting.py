"""S&P 500 forecasting benchmark: simple_rnn vs lstm vs gru against naive baselines.

    python -m benchmarks.forecasting --out bench_out/forecasting.json

The settings and the data set (../shared/data/stocks) are in
``configs/forecasting/benchmark.yaml`` (``--config``; ``--data DIR`` or ``key=value`` override
them); each cell sets only ``cell=``.

All 505 tickers; test period 2017-02-08 .. 2018-02-07 (one year), validation the six months
before it, training everything earlier. Each cell trains in a fresh process, selects its
epoch on validation loss, and is scored on every test window (a rolling origin, no refit)
next to the persistence, drift and moving-average baselines on the same windows. The cell
with the lowest validation loss supplies the top-level metrics.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from benchmarks.common import benchmark_main, flat, latency, peak_rss_mb, resolve_config

CELLS = ["simple_rnn", "lstm", "gru"]
KEYS = ["mae", "rmse", "mape", "mase", "directional_accuracy"]
BASELINES = ["persistence", "drift", "moving_average"]


def child(args: argparse.Namespace) -> None:
    """Train, evaluate and export one cell in this process; write its figures as JSON."""
    import numpy as np
    import tensorflow as tf

    from seqapps.export import export
    from seqapps.runs import evaluate_run, load_task
    from seqapps.tasks.forecasting import ForecastingConfig, ForecastingTask
    from seqapps.trainer import train

    run_dir = Path(args.work) / args.cell
    shutil.rmtree(run_dir, ignore_errors=True)
    train(ForecastingTask(resolve_config(ForecastingConfig, args, f"cell={args.cell}")), run_dir)
    test = evaluate_run(run_dir, "test")
    export_dir = export(run_dir, Path(args.work) / "saved_models" / args.cell)
    loaded = tf.saved_model.load(str(export_dir))
    window = load_task(run_dir).cfg.window
    rng = np.random.default_rng(0)
    one = tf.constant(
        100 * np.exp(np.cumsum(rng.normal(0, 0.01, (1, window, 1)), axis=1)), tf.float32
    )
    batch = tf.repeat(one, 256, axis=0)
    single = latency(lambda: loaded.serving_default(one), repeats=200)
    batched = latency(lambda: loaded.serving_default(batch), repeats=20)
    history = (run_dir / "history.csv").read_text().splitlines()
    val_col = history[0].split(",").index("val_loss")
    result = {
        **flat(test),
        "val_loss": min(float(line.split(",")[val_col]) for line in history[1:]),
        "epochs_run": len(history) - 1,
        "export_latency_one_p50_ms": single["p50_ms"],
        "export_latency_one_p95_ms": single["p95_ms"],
        "export_batch256_windows_per_second": 256 / (batched["mean_ms"] / 1000),
        "peak_rss_mb": peak_rss_mb(),
    }
    Path(args.child_out).write_text(json.dumps(result, indent=2))


def markdown_table(out: dict) -> str:
    """Model vs baselines by horizon, for docs/BENCHMARKS.md."""
    cells = [c for c in CELLS if f"{c}_mase" in out]
    horizon = max(int(k.rsplit("_h", 1)[1]) for k in out if k.startswith(f"{cells[0]}_mase_h"))
    head = [
        "method",
        *[f"MASE h{h}" for h in range(1, horizon + 1)],
        "MASE all",
        "MAE all",
        "dir. acc. h1",
        "dir. acc. all",
    ]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]

    def row(name: str, prefix: str) -> str:
        values = [out[f"{prefix}mase_h{h}"] for h in range(1, horizon + 1)]
        values += [out[f"{prefix}mase"], out[f"{prefix}mae"]]
        da = [out.get(f"{prefix}directional_accuracy_h1"), out.get(f"{prefix}directional_accuracy")]
        cells_ = [f"{v:.4f}" for v in values] + ["—" if v is None else f"{100 * v:.1f}" for v in da]
        return f"| {name} | " + " | ".join(cells_) + " |"

    for c in cells:
        lines.append(row(f"**{c}**", f"{c}_"))
    for b in BASELINES:
        lines.append(row(b.replace("_", " "), f"{cells[0]}_{b}_"))
    lines.append("")
    lines.append("| | " + " | ".join(cells) + " |")
    lines.append("|---|" + "---:|" * len(cells))
    for label, key, fmt in [
        ("epochs run", "epochs_run", "d"),
        ("training samples/s (windows)", "train_samples_per_second", ",.0f"),
        ("training wall time (s)", "wall_seconds", ",.0f"),
        ("peak RSS (MiB)", "peak_rss_mb", ",.0f"),
        ("SavedModel latency, 1 window, p50 (ms)", "export_latency_one_p50_ms", ".1f"),
        (
            "SavedModel throughput, batches of 256 (windows/s)",
            "export_batch256_windows_per_second",
            ",.0f",
        ),
    ]:
        vals = [out[f"{c}_{key}"] for c in cells]
        lines.append(
            f"| {label} | "
            + " | ".join(format(int(v) if fmt == "d" else v, fmt) for v in vals)
            + " |"
        )
    return "\n".join(lines)


def main() -> None:
    benchmark_main(
        module="benchmarks.forecasting",
        doc=__doc__,
        cells=CELLS,
        child=child,
        table=markdown_table,
        select_key="val_loss",
        select_max=False,
        top_keys=[*KEYS, "persistence_mae", "train_samples_per_second"],
    )


if __name__ == "__main__":
    main()
