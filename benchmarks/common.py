"""Helpers shared by the benchmarks: child processes per configuration, RSS, latency."""

from __future__ import annotations

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
