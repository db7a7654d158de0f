"""Do the step-based defaults train a small data set better than the old epoch defaults?

    python -m benchmarks.scaling_defaults --task ner --config configs/ner/benchmark.yaml \\
        --set max_train_samples=3000 --old epochs=30 patience=5 \\
        --out bench_out/scaling_ner.json

Two arms on the same data, seed and model settings, each trained once and scored on
validation and test:

1. **epochs**: the old defaults, a fixed number of passes (``--old``: ``epochs=30
   patience=5``, NerConfig's defaults until 2026-11-30);
2. **steps**: today's defaults, ``train_steps`` / ``patience_steps`` (13,170 / 2,195 for
   NER: 30 and 5 epochs of CoNLL-2003's 439 steps), which on 3,000 sentences (94 steps an
   epoch) are up to 141 epochs with patience 24.

Both arms select their epoch on validation (the task's monitor); test is read once per arm.
The JSON holds each arm's epochs planned and run, best epoch, minutes, validation and test
scores. A finished arm (its run directory has ``train_stats.json``) is reused, so a killed
benchmark resumes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.common import flat, machine


def main(argv: list[str] | None = None) -> None:
    """Command line; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--task", required=True)
    p.add_argument("--config", help="both arms' config (its length settings are the 'steps' arm)")
    p.add_argument("--set", nargs="*", default=[], metavar="key=value", help="both arms")
    p.add_argument("--old", nargs="*", default=["epochs=30", "patience=5"], metavar="key=value")
    p.add_argument("--work", help="run directories (default bench_out/scaling-TASK)")
    p.add_argument("--out", required=True, help="JSON file")
    args = p.parse_args(argv)

    from seqapps import config as config_lib
    from seqapps.runs import evaluate_run
    from seqapps.tasks import get_task_class
    from seqapps.trainer import train

    cls = get_task_class(args.task)
    work = Path(args.work or f"bench_out/scaling-{args.task}")
    arms = {"epochs": [*args.set, *args.old], "steps": list(args.set)}
    result: dict = {
        "task": args.task,
        "command": "python -m benchmarks.scaling_defaults "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "config": args.config,
        **machine(),
    }
    for arm, overrides in arms.items():
        run_dir = work / arm
        cfg = config_lib.resolve(cls.config_class, args.config, overrides)
        if not (run_dir / "train_stats.json").exists():
            train(cls(cfg), run_dir)
        stats = json.loads((run_dir / "train_stats.json").read_text(encoding="utf-8"))
        val = flat(evaluate_run(run_dir, "val"))
        test = flat(evaluate_run(run_dir, "test"))
        monitor = stats["monitor"].removeprefix("val_")
        result[arm] = {
            "overrides": overrides,
            "epochs": cfg.epochs,
            "patience": cfg.patience,
            "train_steps": cfg.train_steps,
            "patience_steps": cfg.patience_steps,
            "steps_per_epoch": stats["steps_per_epoch"],
            "epochs_planned": stats["epochs_planned"],
            "epochs_run": stats["epochs_run"],
            "best_epoch": stats["best_epoch"],
            "minutes": stats["wall_seconds"] / 60,
            "monitor": stats["monitor"],
            f"val_{monitor}": val.get(monitor),
            f"test_{monitor}": test.get(monitor),
            "val": val,
            "test": test,
        }
        print(
            f"{arm}: {stats['epochs_run']} of {stats['epochs_planned']} epochs, best "
            f"{stats['best_epoch']}; val {monitor} {val.get(monitor):.4f}, test "
            f"{test.get(monitor):.4f}",
            flush=True,
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
