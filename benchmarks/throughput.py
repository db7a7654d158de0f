"""Training throughput of ``seqapps train sentiment`` beside the TensorFlow tutorial it replaces.

    python -m benchmarks.throughput --pairs 3 --out bench_out/throughput.json

The anchor is the pipeline of TensorFlow's "Text classification with an RNN" tutorial
(tensorflow.org/text/tutorials/text_classification_rnn), written from it: ``TextVectorization``
adapted on the training texts inside the model, ``from_tensor_slices(...).shuffle(10000)
.batch(64).prefetch(AUTOTUNE)``, ``Embedding(mask_zero=True)``, ``Bidirectional(LSTM(64))``,
``Dense(64, relu)``, ``Dense(classes)``, Adam 1e-4 as the tutorial, sparse cross-entropy
from logits, accuracy. Its only changes: three classes (TweetEval), vocabulary 20,000, and
validation on TweetEval's val split each epoch as seqapps does. seqapps trains the same
model shape (BiLSTM 64, embedding 64, vocabulary 20,000, last state, batch 64) with its
benchmark settings otherwise (configs/sentiment/benchmark.yaml).

Each arm runs in a fresh child process; the pairs alternate (anchor, seqapps, anchor, ...)
so drifts of the machine fall on both. Reported per run: wall and CPU seconds of the whole
process, peak RSS, each epoch's seconds, training samples/s over the steady-state epochs
(all but the first, which traces), test macro recall; then the medians per arm and the
ratios seqapps / anchor (throughput above 1 = seqapps faster).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import machine, peak_rss_mb

DATA = "../shared/data/sentiment/tweeteval/sentiment"
SEQAPPS = [
    "cell=lstm",
    "bidirectional=true",
    "units=64",
    "embedding_dim=64",
    "max_tokens=20000",
    "pooling=last",
    "batch_size=64",
]


def _epoch_timer():  # late import of keras: the parent process never loads TensorFlow
    import keras  # noqa: PLC0415

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.seconds.append(time.perf_counter() - self.start)

    return EpochTimer()


def macro_recall(y_true, y_pred, classes: int) -> float:
    """Mean over classes of the share of each class's examples predicted as it."""
    import numpy as np  # noqa: PLC0415

    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in range(classes)]))


def child_tutorial(data: Path, epochs: int) -> dict:
    import keras  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    def read(split: str) -> tuple[list[str], np.ndarray]:
        texts = (data / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
        labels = (data / f"{split}_labels.txt").read_text(encoding="utf-8").split()
        return texts, np.array([int(x) for x in labels])

    (tx, ty), (vx, vy), (sx, sy) = read("train"), read("val"), read("test")
    classes = int(ty.max()) + 1
    encoder = keras.layers.TextVectorization(max_tokens=20000)
    encoder.adapt(tf.data.Dataset.from_tensor_slices(tx).batch(1024))
    train = tf.data.Dataset.from_tensor_slices((tx, ty)).shuffle(10000).batch(64)
    val = tf.data.Dataset.from_tensor_slices((vx, vy)).batch(64)
    model = keras.Sequential(
        [
            encoder,
            keras.layers.Embedding(len(encoder.get_vocabulary()), 64, mask_zero=True),
            keras.layers.Bidirectional(keras.layers.LSTM(64)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(classes),
        ]
    )
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.Adam(1e-4),
        metrics=["accuracy"],
    )
    timer = _epoch_timer()
    model.fit(
        train.prefetch(tf.data.AUTOTUNE),
        validation_data=val.prefetch(tf.data.AUTOTUNE),
        epochs=epochs,
        callbacks=[timer],
        verbose=2,
    )
    logits = model.predict(tf.data.Dataset.from_tensor_slices(sx).batch(256), verbose=0)
    return {
        "epoch_seconds": timer.seconds,
        "train_examples": len(tx),
        "test_macro_recall": macro_recall(sy, logits.argmax(-1), classes),
    }


def child_seqapps(data: Path, epochs: int, work: Path) -> dict:
    from seqapps import config as config_lib  # noqa: PLC0415
    from seqapps.runs import evaluate_run  # noqa: PLC0415
    from seqapps.tasks.sentiment import SentimentConfig, SentimentTask  # noqa: PLC0415
    from seqapps.trainer import train  # noqa: PLC0415

    overrides = [f"data={data}", *SEQAPPS, f"epochs={epochs}"]
    cfg = config_lib.resolve(SentimentConfig, "configs/sentiment/benchmark.yaml", overrides)
    task = SentimentTask(cfg)
    timer = _epoch_timer()
    run_dir = work / f"seqapps-{time.time_ns()}"
    train(task, run_dir, callbacks=[timer])
    metrics = evaluate_run(run_dir, "test")
    return {
        "epoch_seconds": timer.seconds,
        "train_examples": json.loads((run_dir / "data_report.json").read_text())["examples"][
            "train"
        ],
        "test_macro_recall": metrics["macro_recall"],
    }


def run_child(arm: str, args: argparse.Namespace) -> dict:
    """One arm in a fresh process: its JSON plus wall and CPU seconds of the process."""
    out = Path(args.work) / f"{arm}-{time.time_ns()}.json"
    cmd = [sys.executable, "-m", "benchmarks.throughput", "--child", arm, "--child-out", str(out)]
    cmd += ["--data", args.data, "--epochs", str(args.epochs), "--work", args.work, "--out", "-"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(out.read_text(encoding="utf-8"))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    steady = result["epoch_seconds"][1:] or result["epoch_seconds"]
    result.update(
        wall_seconds=wall,
        cpu_seconds=cpu,
        train_samples_per_second=result["train_examples"] / statistics.mean(steady),
    )
    print(arm, {k: v for k, v in result.items() if k != "epoch_seconds"}, flush=True)
    return result


def main(argv: list[str] | None = None) -> None:
    """Command line; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", default=DATA, help="a TweetEval-layout folder")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--work", default="bench_out/throughput", help="run directories, child JSON")
    p.add_argument("--out", required=True, help="JSON file")
    p.add_argument("--child", choices=["tutorial", "seqapps"], help=argparse.SUPPRESS)
    p.add_argument("--child-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    Path(args.work).mkdir(parents=True, exist_ok=True)
    if args.child:
        data = Path(args.data)
        if args.child == "tutorial":
            result = child_tutorial(data, args.epochs)
        else:
            result = child_seqapps(data, args.epochs, Path(args.work))
        result["peak_rss_mb"] = peak_rss_mb()
        Path(args.child_out).write_text(json.dumps(result), encoding="utf-8")
        return

    runs: dict[str, list[dict]] = {"tutorial": [], "seqapps": []}
    for _ in range(args.pairs):
        for arm in ("tutorial", "seqapps"):
            runs[arm].append(run_child(arm, args))

    def median(arm: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[arm])

    keys = ["train_samples_per_second", "wall_seconds", "cpu_seconds", "peak_rss_mb"]
    summary = {f"{arm}_{k}": median(arm, k) for arm in runs for k in keys}
    summary.update({f"{arm}_test_macro_recall": median(arm, "test_macro_recall") for arm in runs})
    summary["throughput_ratio"] = (
        summary["seqapps_train_samples_per_second"] / summary["tutorial_train_samples_per_second"]
    )
    summary["wall_ratio"] = summary["seqapps_wall_seconds"] / summary["tutorial_wall_seconds"]
    summary["cpu_ratio"] = summary["seqapps_cpu_seconds"] / summary["tutorial_cpu_seconds"]
    result = {
        "command": "python -m benchmarks.throughput "
        + " ".join(sys.argv[1:] if argv is None else argv),
        **summary,
        "runs": runs,
        **machine(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
