"""Helpers shared by the benchmarks: child processes per configuration, RSS, latency."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from seqapps import config as config_lib

C = TypeVar("C")


def flat(metrics: dict) -> dict:
    """A run's metrics.json with its ``counts`` and ``settings`` merged into the top level.

    Benchmark JSON stays flat (metric name -> number), as docs/BENCHMARKS.md reads it.
    """
    out = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
    for key in ("counts", "settings"):
        out.update(metrics.get(key, {}))
    return out


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict[str, str | int]:
    """What the numbers were measured on."""
    return {
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def run_child(module: str, args: list[str], log: Path) -> dict:
    """Run ``python -m module args --child-out F`` in a fresh process; return its JSON.

    A fresh process per configuration gives each its own peak RSS and no shared state.
    """
    out = log.with_suffix(".json")
    cmd = [sys.executable, "-m", module, *args, "--child-out", str(out)]
    print("+", " ".join(cmd), flush=True)
    with log.open("w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}); see {log}")
    return json.loads(out.read_text())


def latency(call: Callable[[], object], repeats: int) -> dict[str, float]:
    """p50 / p95 / mean wall time of ``call()`` in milliseconds, after 3 warm-up calls."""
    for _ in range(3):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return {
        "p50_ms": float(np.percentile(times, 50)),
        "p95_ms": float(np.percentile(times, 95)),
        "mean_ms": float(np.mean(times)),
    }


def config_overrides(settings: dict) -> list[str]:
    """``{"units": 64, "bidirectional": True}`` -> ``["units=64", "bidirectional=true"]``."""

    def text(value: object) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        return "none" if value is None else str(value)

    return [f"{k}={text(v)}" for k, v in settings.items()]


def resolve_config(config_class: type[C], args: argparse.Namespace, *cell_settings: str) -> C:
    """One cell's config: the dataclass defaults < the benchmark's config file (``--config``)
    < ``--data`` < ``cell_settings`` (what the cell varies, e.g. ``cell=gru``) < the
    ``key=value`` overrides of the command line."""
    data = [f"data={args.data}"] if args.data else []
    return config_lib.resolve(config_class, args.config, [*data, *cell_settings, *args.overrides])


def benchmark_main(
    *,
    module: str,
    doc: str,
    cells: list[str],
    child: Callable[[argparse.Namespace], None],
    table: Callable[[dict], str],
    select_key: str,
    select_max: bool,
    top_keys: list[str],
) -> None:
    """The command line shared by the task benchmarks.

    The settings come from ``configs/<task>/benchmark.yaml`` (``--config``); each cell
    overrides only what it varies (see :func:`resolve_config`). Runs ``child`` once per cell
    in a fresh process, selects the cell whose ``select_key`` (a validation figure) is best,
    and writes flat JSON: ``top_keys`` of the selected cell, every cell's figures prefixed
    with ``<cell>_``, the configuration and the machine.
    """
    task = module.split(".")[-1]
    parser = argparse.ArgumentParser(
        prog=f"python -m {module}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        default=f"configs/{task}/benchmark.yaml",
        help="the benchmark's settings and data set (default: %(default)s)",
    )
    parser.add_argument("--data", help="the data set (default: the config file's data)")
    parser.add_argument("--out", help="output JSON file (required)")
    parser.add_argument("--cells", default=",".join(cells))
    parser.add_argument("--work", default=f"bench_out/{task}", help="run directories")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="extra config overrides (e.g. epochs=1 for a smoke run)",
    )
    parser.add_argument("--table", metavar="JSON", help="print the markdown table of a result")
    parser.add_argument("--cell", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_out:
        child(args)
        return
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
        return
    if not args.out:
        parser.error("--out is required")
    settings = config_lib.read_yaml(args.config)
    settings.pop("task", None)
    if not args.data and settings.get("data", "sample") == "sample":
        parser.error(f"{args.config} names no data set: pass --data")
    shared = ["--config", args.config, *(["--data", args.data] if args.data else [])]

    started = time.perf_counter()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    for cell in args.cells.split(","):
        cell_started = time.perf_counter()
        results[cell] = run_child(
            module,
            [*shared, "--work", str(work), "--cell", cell, *args.overrides],
            work / f"{cell}.log",
        )
        results[cell]["child_wall_seconds"] = time.perf_counter() - cell_started
        print(cell, {k: round(results[cell][k], 4) for k in [select_key, *top_keys]}, flush=True)
    pick = max if select_max else min
    best = pick(results, key=lambda c: results[c][select_key])  # selected on validation
    out = {k: results[best][k] for k in top_keys}
    out["selected_cell"] = best
    for cell, figures in results.items():
        out.update({f"{cell}_{k}": v for k, v in figures.items()})
    out["wall_seconds"] = time.perf_counter() - started
    # The shared settings (the file's `cell` etc. are the selected default; each cell
    # overrides them), as key=value, then the command line's overrides.
    out["config_file"] = args.config
    out["config"] = " ".join(
        config_overrides({k: v for k, v in settings.items() if k != "data"}) + args.overrides
    )
    out.update(machine())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(table(out))


# One row of a per-cell table: label, metric key(s) (several are joined with " / "), scale,
# format spec ("d" rounds to an integer).
Row = tuple[str, str | tuple[str, ...], float, str]


def cell_table(out: dict, cells: list[str], rows: list[Row]) -> str:
    """Markdown table with one column per benchmark cell, reading ``<cell>_<key>`` from ``out``."""
    lines = ["| | " + " | ".join(cells) + " |", "|---|" + "---:|" * len(cells)]
    for label, keys, scale, fmt in rows:
        keys = keys if isinstance(keys, tuple) else (keys,)
        values = []
        for c in cells:
            parts = [out[f"{c}_{k}"] * scale for k in keys]
            values.append(" / ".join(format(int(v) if fmt == "d" else v, fmt) for v in parts))
        lines.append(f"| {label} | " + " | ".join(values) + " |")
    return "\n".join(lines)
