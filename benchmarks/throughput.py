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

Serving: each arm's export from the last pair (the anchor's via ``model.export`` with a
string input, seqapps' via ``seqapps export``) is loaded in one more fresh process, and the
exports take turns: p50 latency of one tweet and tweets/s in batches of 256 over the test
split (:func:`child_serving`); ratios ``serving_throughput_ratio`` (above 1 = seqapps
serves more tweets/s) and ``serving_p50_ratio`` (below 1 = seqapps answers sooner).

``--variant NAME:k=v,...`` adds seqapps arms with those settings on top (levers such as
``jit_compile=true``), run in the same alternation and reported beside the others as
``NAME_throughput_ratio`` etc.
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


def child_tutorial(data: Path, epochs: int, work: Path) -> dict:
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
    # The anchor's export: the whole model (TextVectorization inside) taking raw strings.
    export_dir = work / f"tutorial-export-{time.time_ns()}"
    model.export(str(export_dir), input_signature=[tf.TensorSpec([None], tf.string)], verbose=False)
    return {
        "export": str(export_dir),
        "epoch_seconds": timer.seconds,
        "train_examples": len(tx),
        "test_macro_recall": macro_recall(sy, logits.argmax(-1), classes),
    }


def child_seqapps(data: Path, epochs: int, work: Path, extra: list[str]) -> dict:
    from seqapps import config as config_lib  # noqa: PLC0415
    from seqapps.export import export  # noqa: PLC0415
    from seqapps.runs import evaluate_run  # noqa: PLC0415
    from seqapps.tasks.sentiment import SentimentConfig, SentimentTask  # noqa: PLC0415
    from seqapps.trainer import train  # noqa: PLC0415

    overrides = [f"data={data}", *SEQAPPS, f"epochs={epochs}", *extra]
    cfg = config_lib.resolve(SentimentConfig, "configs/sentiment/benchmark.yaml", overrides)
    task = SentimentTask(cfg)
    timer = _epoch_timer()
    run_dir = work / f"seqapps-{time.time_ns()}"
    train(task, run_dir, callbacks=[timer])
    metrics = evaluate_run(run_dir, "test")
    export_dir = export(run_dir, work / f"seqapps-export-{time.time_ns()}")
    return {
        "export": str(export_dir),
        "epoch_seconds": timer.seconds,
        "train_examples": json.loads((run_dir / "data_report.json").read_text())["examples"][
            "train"
        ],
        "test_macro_recall": metrics["macro_recall"],
    }


def child_serving(data: Path, exports: dict[str, str], rounds: int) -> dict:
    """p50 latency of one tweet and tweets/s in batches of 256, per export, alternating.

    Each export is a SavedModel taking a ``(batch,)`` string tensor (the anchor's ``serve``
    endpoint, seqapps' ``serving_default``). One tweet: 200 calls cycling through the test
    tweets after 20 warm-up calls. Batches: every test tweet in batches of 256, after one
    warm-up pass. ``rounds`` rounds, exports in turn; medians over the rounds.
    """
    import numpy as np  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415
    import tensorflow_text  # noqa: F401, PLC0415  (seqapps exports' NormalizeUTF8 op)

    tweets = (data / "test_text.txt").read_text(encoding="utf-8").splitlines()
    calls = {}
    for name, path in exports.items():
        loaded = tf.saved_model.load(path)
        if "serving_default" in loaded.signatures:
            signature = loaded.signatures["serving_default"]
            key = next(iter(signature.structured_input_signature[1]))
            calls[name] = (loaded, lambda x, f=signature, k=key: f(**{k: x}))
        else:
            calls[name] = (loaded, loaded.serve)
    singles = [tf.constant([t]) for t in tweets[:200]]
    batches = [tf.constant(tweets[i : i + 256]) for i in range(0, len(tweets), 256)]
    results: dict[str, dict[str, list[float]]] = {
        name: {"p50_ms": [], "batch256_tweets_per_second": []} for name in exports
    }
    for _ in range(rounds):
        for name, (_, call) in calls.items():
            for x in singles[:20]:
                call(x)
            times = []
            for x in singles:
                start = time.perf_counter()
                call(x)
                times.append((time.perf_counter() - start) * 1000)
            results[name]["p50_ms"].append(float(np.percentile(times, 50)))
            for x in batches:
                call(x)
            start = time.perf_counter()
            for x in batches:
                call(x)
            rate = len(tweets) / (time.perf_counter() - start)
            results[name]["batch256_tweets_per_second"].append(rate)
    return {
        name: {k: statistics.median(v) for k, v in r.items()} | {"rounds": r}
        for name, r in results.items()
    }


def run_child(arm: str, args: argparse.Namespace, extra: list[str]) -> dict:
    """One arm in a fresh process: its JSON plus wall and CPU seconds of the process."""
    out = Path(args.work) / f"{arm}-{time.time_ns()}.json"
    kind = "tutorial" if arm == "tutorial" else "seqapps"
    cmd = [sys.executable, "-m", "benchmarks.throughput", "--child", kind, "--child-out", str(out)]
    cmd += ["--data", args.data, "--epochs", str(args.epochs), "--work", args.work, "--out", "-"]
    cmd += [f"--child-set={x}" for x in extra]
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
    p.add_argument("--child", choices=["tutorial", "seqapps", "serving"], help=argparse.SUPPRESS)
    p.add_argument("--serving-rounds", type=int, default=3, help="rounds of the serving part")
    p.add_argument("--child-out", help=argparse.SUPPRESS)
    p.add_argument("--child-set", action="append", default=[], help=argparse.SUPPRESS)
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:key=value,...",
        help="another seqapps arm with these settings on top (a lever), e.g. xla:jit_compile=true",
    )
    args = p.parse_args(argv)
    Path(args.work).mkdir(parents=True, exist_ok=True)
    if args.child:
        data = Path(args.data)
        if args.child == "serving":
            exports = dict(x.split("=", 1) for x in args.child_set)
            result = child_serving(data, exports, args.serving_rounds)
            Path(args.child_out).write_text(json.dumps(result), encoding="utf-8")
            return
        if args.child == "tutorial":
            result = child_tutorial(data, args.epochs, Path(args.work))
        else:
            result = child_seqapps(data, args.epochs, Path(args.work), args.child_set)
        result["peak_rss_mb"] = peak_rss_mb()
        Path(args.child_out).write_text(json.dumps(result), encoding="utf-8")
        return

    arms: dict[str, list[str]] = {"tutorial": [], "seqapps": []}
    for variant in args.variant:
        name, _, settings = variant.partition(":")
        arms[name] = [x for x in settings.split(",") if x]
    runs: dict[str, list[dict]] = {arm: [] for arm in arms}
    for _ in range(args.pairs):
        for arm, extra in arms.items():
            runs[arm].append(run_child(arm, args, extra))

    def median(arm: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[arm])

    keys = ["train_samples_per_second", "wall_seconds", "cpu_seconds", "peak_rss_mb"]
    summary: dict[str, object] = {}
    for arm in arms:
        summary.update({f"{arm}_{k}": median(arm, k) for k in [*keys, "test_macro_recall"]})
    for arm in list(arms)[1:]:
        prefix = "" if arm == "seqapps" else f"{arm}_"  # the plain arm keeps its old keys
        summary[f"{prefix}throughput_ratio"] = (
            summary[f"{arm}_train_samples_per_second"]
            / summary["tutorial_train_samples_per_second"]
        )
        summary[f"{prefix}wall_ratio"] = (
            summary[f"{arm}_wall_seconds"] / summary["tutorial_wall_seconds"]
        )
        summary[f"{prefix}cpu_ratio"] = (
            summary[f"{arm}_cpu_seconds"] / summary["tutorial_cpu_seconds"]
        )
    # Serving: the last pair's exports, loaded side by side in one fresh process.
    out = Path(args.work) / f"serving-{time.time_ns()}.json"
    cmd = [sys.executable, "-m", "benchmarks.throughput", "--child", "serving"]
    cmd += ["--child-out", str(out), "--data", args.data, "--out", "-"]
    cmd += ["--serving-rounds", str(args.serving_rounds)]
    cmd += [f"--child-set={arm}={runs[arm][-1]['export']}" for arm in arms]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    serving = json.loads(out.read_text(encoding="utf-8"))
    print("serving", {a: {k: v for k, v in r.items() if k != "rounds"} for a, r in serving.items()})
    for arm in list(arms)[1:]:
        prefix = "" if arm == "seqapps" else f"{arm}_"
        summary[f"{prefix}serving_throughput_ratio"] = (
            serving[arm]["batch256_tweets_per_second"]
            / serving["tutorial"]["batch256_tweets_per_second"]
        )
        summary[f"{prefix}serving_p50_ratio"] = (
            serving[arm]["p50_ms"] / serving["tutorial"]["p50_ms"]
        )
    summary["serving"] = {
        a: {k: v for k, v in r.items() if k != "rounds"} for a, r in serving.items()
    }
    summary["settings"] = {arm: extra for arm, extra in arms.items() if arm != "tutorial"}
    result = {
        "serving_rounds": serving,
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
