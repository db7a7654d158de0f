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

import numpy as np


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


def benchmark_main(
    *,
    module: str,
    doc: str,
    config: list[str],
    cells: list[str],
    child: Callable[[argparse.Namespace], None],
    table: Callable[[dict], str],
    select_key: str,
    select_max: bool,
    top_keys: list[str],
) -> None:
    """The command line shared by the task benchmarks.

    Runs ``child`` once per cell in a fresh process, selects the cell whose ``select_key``
    (a validation figure) is best, and writes flat JSON: ``top_keys`` of the selected cell,
    every cell's figures prefixed with ``<cell>_``, the configuration and the machine.
    """
    parser = argparse.ArgumentParser(
        prog=f"python -m {module}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", help="the data set (required)")
    parser.add_argument("--out", help="output JSON file (required)")
    parser.add_argument("--cells", default=",".join(cells))
    parser.add_argument(
        "--work", default=f"bench_out/{module.split('.')[-1]}", help="run directories"
    )
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
    if not args.out or not args.data:
        parser.error("--data and --out are required")

    started = time.perf_counter()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    for cell in args.cells.split(","):
        cell_started = time.perf_counter()
        results[cell] = run_child(
            module,
            ["--data", args.data, "--work", str(work), "--cell", cell, *args.overrides],
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
    out["config"] = " ".join(config + args.overrides)
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
