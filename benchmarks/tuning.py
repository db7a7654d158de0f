"""Does ``seqapps tune`` beat the defaults within a time budget? Defaults vs tuned, on test.

    python -m benchmarks.tuning --task ner --config configs/ner/benchmark.yaml \\
        --data ../shared/data/ner/conll2003 --set max_train_samples=3000 \\
        --budget 60 --out bench_out/tuning_ner.json

1. **defaults**: trains the task with the config file's settings (plus ``--set``) and scores
   validation and test;
2. **tuned**: ``seqapps tune`` with the same fixed settings (``--set``: the data size, not a
   searched key) for ``--budget`` minutes, selecting on validation only; the best trial's
   own run directory (trained during the search, not retrained) is then scored on test.

The test split is read twice in all: once per arm, after everything was chosen. The JSON
holds both arms' validation and test scores, the best settings, the trial count and the
minutes spent. Steps already done (a run directory with ``train_stats.json``, a finished
search) are reused, so a killed benchmark resumes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks.common import flat, machine


def main(argv: list[str] | None = None) -> None:
    """Command line; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--task", required=True)
    p.add_argument("--config", help="the defaults arm's config (the search starts from it)")
    p.add_argument("--data", help="data= for both arms")
    p.add_argument("--set", nargs="*", default=[], metavar="key=value", help="fixed settings")
    p.add_argument("--budget", type=float, default=60.0, help="search minutes")
    p.add_argument("--trials", type=int, default=100, help="most trials")
    p.add_argument("--work", help="run directories (default bench_out/tuning-TASK)")
    p.add_argument("--out", required=True, help="JSON file")
    args = p.parse_args(argv)

    from seqapps import config as config_lib
    from seqapps.runs import evaluate_run
    from seqapps.tasks import get_task_class
    from seqapps.trainer import train
    from seqapps.tune import tune

    cls = get_task_class(args.task)
    work = Path(args.work or f"bench_out/tuning-{args.task}")
    fixed = [*([f"data={args.data}"] if args.data else []), *args.set]
    started = time.perf_counter()

    defaults_dir = work / "defaults"
    cfg = config_lib.resolve(cls.config_class, args.config, fixed)
    if not (defaults_dir / "train_stats.json").exists():
        train(cls(cfg), defaults_dir)
    defaults = {
        "val": flat(evaluate_run(defaults_dir, "val")),
        "test": flat(evaluate_run(defaults_dir, "test")),
    }
    defaults_minutes = (time.perf_counter() - started) / 60

    search = tune(
        cls,
        work / "search",
        config_file=args.config,
        overrides=fixed,
        trials=args.trials,
        budget_minutes=args.budget,
    )
    best_dir = Path(search["best_run_dir"])
    tuned = {
        "val": flat(evaluate_run(best_dir, "val")),
        "test": flat(evaluate_run(best_dir, "test")),
    }
    monitor = search["monitor"].removeprefix("val_")
    result = {
        "task": args.task,
        "command": "python -m benchmarks.tuning "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "fixed": fixed,
        "config": args.config,
        "monitor": search["monitor"],
        "budget_minutes": args.budget,
        "search_minutes": search["seconds"] / 60,
        "trials": search["trials"],
        "best_trial": search["best_trial"],
        "best_params": search["best_params"],
        "defaults_minutes": defaults_minutes,
        f"defaults_val_{monitor}": defaults["val"].get(monitor),
        f"defaults_test_{monitor}": defaults["test"].get(monitor),
        f"tuned_val_{monitor}": tuned["val"].get(monitor),
        f"tuned_test_{monitor}": tuned["test"].get(monitor),
        "defaults": defaults,
        "tuned": tuned,
        **machine(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(
        f"{monitor}: defaults val {result[f'defaults_val_{monitor}']:.4f} test "
        f"{result[f'defaults_test_{monitor}']:.4f}; tuned val {result[f'tuned_val_{monitor}']:.4f} "
        f"test {result[f'tuned_test_{monitor}']:.4f} ({search['trials']} trials, "
        f"{result['search_minutes']:.1f} min)"
    )


if __name__ == "__main__":
    main()
