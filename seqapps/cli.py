"""The ``seqapps`` command line: train, evaluate, export, predict, run (all three), serve.

Errors a user can fix (bad data, bad config, missing paths) print as one line prefixed with
``seqapps: error:`` and exit with status 2; there is no stack trace for them.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

USAGE_EXAMPLES = """\
examples:
  seqapps config sentiment > sent.yaml    # every key, its default and meaning
  seqapps train sentiment cell=gru epochs=5 --run-dir runs/sent
  seqapps evaluate runs/sent
  seqapps export runs/sent --out saved_models/sentiment
  seqapps export runs/sent --format onnx      # saved_models/sentiment-onnx (seqapps.portable)
  seqapps predict saved_models/sentiment "what a great day"
  seqapps serve saved_models              # TF Serving's REST API and a page at :8501/
  seqapps run sentiment data=../shared/data/sentiment/tweeteval/sentiment
  seqapps tune ner max_train_samples=3000 --trials 20 --budget 60 --out runs/tune-ner
  seqapps train ner --config runs/tune-ner/best.yaml
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="seqapps",
        description="Recurrent-network applications: train, evaluate, export, predict.",
        epilog=USAGE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)

    def add_train_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("task", help="task name, e.g. sentiment")
        q.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
        q.add_argument("--config", help="YAML config file (overrides win over it)")
        q.add_argument("--run-dir", help="output directory (default runs/TASK-TIMESTAMP)")

    q = sub.add_parser("train", help="train a task into a run directory")
    add_train_args(q)
    q = sub.add_parser("evaluate", help="score a run on a split; writes metrics.json")
    q.add_argument("run_dir")
    q.add_argument("--split", default="test", choices=["train", "val", "test"])
    q = sub.add_parser("export", help="export a run as a new SavedModel (or ONNX/TFLite) version")
    q.add_argument("run_dir")
    q.add_argument(
        "--out", help="model root (default saved_models/TASK, or saved_models/TASK-FORMAT)"
    )
    q.add_argument(
        "--format",
        default="savedmodel",
        choices=["savedmodel", "onnx", "tflite"],
        help="savedmodel (default; raw input, TF Serving) or a portable export of the "
        "networks for seqapps.portable's client",
    )
    q.add_argument(
        "--quantize", action="store_true", help="tflite: dynamic-range quantization (int8 weights)"
    )
    q = sub.add_parser("predict", help="run an exported model on inputs (args or stdin lines)")
    q.add_argument("export_dir", help="a version directory, or a model root (newest version)")
    q.add_argument("inputs", nargs="*", help="inputs; read from stdin when none are given")
    q = sub.add_parser(
        "serve",
        help="serve every model under ROOT over TF Serving's REST API, with a page to try them",
    )
    q.add_argument(
        "root",
        nargs="?",
        default="saved_models",
        help="ROOT/NAME/VERSION exports, or one model root (default saved_models)",
    )
    q.add_argument(
        "--host", default="127.0.0.1", help="interface (default 127.0.0.1: this machine)"
    )
    q.add_argument("--port", type=int, default=8501, help="port (default 8501, TF Serving's)")
    q.add_argument(
        "--max-request-mb", type=float, default=32.0, help="largest request body (default 32)"
    )
    q.add_argument("--max-batch", type=int, default=1024, help="most instances (default 1024)")
    q.add_argument(
        "--timeout", type=float, default=30.0, help="seconds a prediction may take (default 30)"
    )
    q.add_argument(
        "--poll-seconds",
        type=float,
        default=2.0,
        help="how often ROOT is checked for new versions; 0: never (default 2)",
    )
    q = sub.add_parser("diagnose", help="gradient flow per time step, for each cell")
    q.add_argument("task")
    q.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="config overrides, and cells=simple_rnn,lstm,gru",
    )
    q.add_argument("--config", help="YAML config file")
    q.add_argument("--out", help="output directory (default runs/diagnose-TASK)")
    q.add_argument("--batches", type=int, default=4, help="fixed batches measured")
    q.add_argument("--steps", type=int, default=200, help="training steps between measures")
    q = sub.add_parser(
        "tune", help="hyperparameter search on the validation split (Optuna); resumable"
    )
    q.add_argument("task", help="task name, e.g. ner")
    q.add_argument("overrides", nargs="*", metavar="key=value", help="fixed settings")
    q.add_argument("--config", help="YAML config the trials start from")
    q.add_argument("--trials", type=int, default=20, help="most trials (default 20)")
    q.add_argument("--budget", type=float, default=60.0, help="minutes of search (default 60)")
    q.add_argument("--out", help="search directory (default runs/tune-TASK); rerun to resume")
    q.add_argument("--seed", type=int, default=0, help="the sampler's seed")
    q = sub.add_parser("config", help="print a task's config keys and defaults as YAML")
    q.add_argument("task")
    q = sub.add_parser("run", help="train, evaluate on test and export, in one go")
    add_train_args(q)
    q.add_argument("--out", help="model root (default saved_models/TASK)")
    return p


def _print_metrics(metrics: dict, path: Path) -> None:
    # Counts and settings are sub-dicts: one line each, after the scores.
    extras = {k: metrics[k] for k in ("counts", "settings") if isinstance(metrics.get(k), dict)}
    metrics = {k: v for k, v in metrics.items() if k not in extras}
    # Per-horizon figures (mase_h1, ...) can run to dozens: they stay in the file.
    shown = {k: v for k, v in metrics.items() if not re.search(r"_h\d+$", k)}
    # Per-class / per-type figures (precision_PER, recall_PER, f1_PER, ...) as one table.
    groups = [k[len("f1_") :] for k in shown if k.startswith("f1_")]
    stems = (
        [s for s in ("precision", "recall", "f1", "support") if f"{s}_{groups[0]}" in shown]
        if groups
        else []
    )
    per_class = {f"{s}_{g}" for s in stems for g in groups}
    width = max(len(k) for k in shown if k not in per_class)
    for key, value in shown.items():
        if key not in per_class:
            print(f"  {key:<{width}}  {value:.4f}")
    if groups:
        name_width = max(map(len, groups))
        print("  " + " " * name_width + "".join(f"  {s:>9}" for s in stems))
        for g in groups:
            cells = "".join(
                f"  {shown[f'{s}_{g}']:>9.0f}" if s == "support" else f"  {shown[f'{s}_{g}']:>9.4f}"
                for s in stems
            )
            print(f"  {g:<{name_width}}{cells}")
    for name, values in extras.items():
        if values:
            shown_values = (
                f"{k}={v}" if isinstance(v, (int, str)) else f"{k}={v:g}" for k, v in values.items()
            )
            print(f"  {name}: " + ", ".join(shown_values))
    hidden = len(metrics) - len(shown)
    print(
        f"metrics written to {path}" + (f" (with {hidden} per-horizon figures)" if hidden else "")
    )


def _train(args: argparse.Namespace) -> Path:
    from seqapps import config as config_lib
    from seqapps.tasks import get_task_class
    from seqapps.trainer import train

    cls = get_task_class(args.task)
    cfg = config_lib.resolve(cls.config_class, args.config, args.overrides)
    run_dir = Path(args.run_dir or f"runs/{args.task}-{time.strftime('%Y%m%d-%H%M%S')}")
    print(f"training {args.task} into {run_dir}", flush=True)
    train(cls(cfg), run_dir)
    print(f"best model: {run_dir / 'best.keras'}")
    return run_dir


def _evaluate(run_dir: Path, split: str) -> None:
    from seqapps.runs import evaluate_run, metrics_path

    metrics = evaluate_run(run_dir, split)
    print(f"{split} metrics:")
    _print_metrics(metrics, metrics_path(run_dir, split))


def _export(
    run_dir: Path, out: str | None, task: str, fmt: str = "savedmodel", quantize: bool = False
) -> None:
    from seqapps.export import export

    # A portable export gets a root of its own: TF Serving would try to load its versions.
    default = f"saved_models/{task}" if fmt == "savedmodel" else f"saved_models/{task}-{fmt}"
    path = export(run_dir, out or default, fmt, quantize=quantize)
    print(path)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``seqapps`` console script; returns the exit status."""
    parser = _parser()
    # key=value pairs may also follow the options (``train ner --config F epochs=3``):
    # argparse stops filling a positional list at the first option, so collect the rest.
    args, extra = parser.parse_known_args(argv)
    stray = [a for a in extra if a.startswith("-") or "=" not in a]
    if stray or (extra and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(stray or extra)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    _import_tensorflow_quietly()
    from seqapps.errors import SeqappsError

    try:
        if args.command == "train":
            _train(args)
        elif args.command == "evaluate":
            _evaluate(Path(args.run_dir), args.split)
        elif args.command == "export":
            from seqapps.runs import load_task

            name = load_task(args.run_dir).name
            _export(Path(args.run_dir), args.out, name, args.format, args.quantize)
        elif args.command == "predict":
            from seqapps.export import predict

            inputs = _checked_arguments(args.inputs) if args.inputs else _stdin_lines()
            if not inputs:
                raise SeqappsError("predict: no inputs given (as arguments or on stdin)")
            for line in predict(args.export_dir, inputs):
                print(line)
        elif args.command == "serve":
            from seqapps.serve import serve

            serve(
                args.root,
                args.host,
                args.port,
                max_request_mb=args.max_request_mb,
                max_batch=args.max_batch,
                timeout_s=args.timeout,
                poll_seconds=args.poll_seconds,
            )
        elif args.command == "diagnose":
            from seqapps.diagnostics import diagnose, summary

            cells = ["simple_rnn", "lstm", "gru"]
            overrides = []
            for pair in args.overrides:
                if pair.startswith("cells="):
                    cells = [c.strip() for c in pair[len("cells=") :].split(",") if c.strip()]
                else:
                    overrides.append(pair)
            out = Path(args.out or f"runs/diagnose-{args.task}")
            results = diagnose(
                args.task, overrides, cells, out, args.config, args.batches, args.steps
            )
            print("\n".join(summary(results)))
            print(
                f"plot and numbers: {out / 'gradient_profile.png'}, {out / 'gradient_profile.json'}"
            )
        elif args.command == "tune":
            from seqapps.tasks import get_task_class
            from seqapps.tune import tune

            out = Path(args.out or f"runs/tune-{args.task}")
            result = tune(
                get_task_class(args.task),
                out,
                config_file=args.config,
                overrides=args.overrides,
                trials=args.trials,
                budget_minutes=args.budget,
                seed=args.seed,
            )
            print(
                f"best {result['monitor']} {result['best_value']:.4f} (trial "
                f"{result['best_trial']} of {result['trials']}, {result['seconds'] / 60:.1f} min)"
            )
            print(
                f"trials: {out / 'trials.csv'}; retrain: seqapps train {args.task} "
                f"--config {out / 'best.yaml'}"
            )
        elif args.command == "config":
            from seqapps import config as config_lib
            from seqapps.tasks import get_task_class

            print(config_lib.describe(get_task_class(args.task).config_class), end="")
        elif args.command == "run":
            run_dir = _train(args)
            _evaluate(run_dir, "test")
            _export(run_dir, args.out, args.task)
    except SeqappsError as e:
        print(f"seqapps: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        from seqapps.rundir import disk_error_message

        # A full, read-only or forbidden disk: one line, not a trace.
        message = disk_error_message(e, training=args.command in ("train", "run", "tune"))
        if message is None:
            raise
        print(f"seqapps: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.command == "serve":  # Ctrl-C is how a server is stopped; uvicorn said so
            return 0
        print("seqapps: interrupted; rerun the same train command to resume", file=sys.stderr)
        return 130
    return 0


def _checked_arguments(values: list[str]) -> list[str]:
    """Command-line inputs, refusing bytes that are not UTF-8 (Python keeps them as surrogates).

    Raises:
        SeqappsError: naming the argument.
    """
    from seqapps.errors import SeqappsError

    for number, value in enumerate(values, start=1):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise SeqappsError(
                f"predict: input {number} is not valid UTF-8 (at character {e.start + 1})"
            ) from None
    return values


def _stdin_lines() -> list[str]:
    """Non-blank lines of standard input, read as UTF-8 (a leading BOM dropped).

    Raises:
        SeqappsError: a line that is not valid UTF-8, naming it.
    """
    from seqapps.errors import SeqappsError

    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # an already decoded text stream (embedding, tests)
        return [line.rstrip("\r\n") for line in sys.stdin if line.strip()]
    lines = []
    for number, raw in enumerate(stream, start=1):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n")
        except UnicodeDecodeError as e:
            raise SeqappsError(
                f"predict: stdin line {number} is not valid UTF-8 "
                f"(byte 0x{raw[e.start]:02x} at column {e.start + 1})"
            ) from None
        if line.strip():
            lines.append(line)
    return lines


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras without their start-up chatter on the terminal.

    TensorFlow's CUDA probe writes lines to stderr before its logging is set up, where
    ``TF_CPP_MIN_LOG_LEVEL`` cannot reach them, so stderr is pointed at /dev/null for the
    import alone (an import error still raises, and prints, after it is restored). Set
    ``TF_CPP_MIN_LOG_LEVEL`` to 0, 1 or 2 to see TensorFlow's logs.
    """
    # Level 3 also silences later C++ logs, e.g. the failed cuInit on machines without GPUs.
    if os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3") != "3":
        return
    from seqapps.quiet import c_stderr_silenced

    with c_stderr_silenced():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401


if __name__ == "__main__":
    sys.exit(main())
