"""Load on ``seqapps serve``: requests/s and latency at 1, 8 and 32 concurrent clients.

    make demo      # trains, evaluates and exports every task's demo model to saved_models/
    python -m benchmarks.serve_load --root saved_models --out bench_out/serve_load.json

For each task model under ``--root`` (``ROOT/TASK/VERSION``):

1. **server**: ``seqapps serve ROOT`` in its own process on a loopback port; ``C`` client
   threads (keep-alive HTTP/1.1 connections, one each) send ``:predict`` requests of one
   instance each (row format, TF Serving's REST API) back to back for ``--seconds``;
2. **in-process**: the same instance through the loaded SavedModel's ``serving_default``
   called directly from ``C`` threads in this process, for as long: what serving over HTTP
   costs on top of the model itself.

Reported per task, arm and ``C``: requests/s, p50 and p99 latency (ms), errors (any non-200
answer or connection failure). Server, clients and models share the machine's cores, so at
high ``C`` the figures measure the machine, not only the server. A fresh server process per
task; the first ``--warmup`` seconds of each level are not counted.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import machine

SAMPLE_INPUTS = {
    "sentiment": "what a great day for the final :)",
    "ner": "John Smith lives in New York and works for the United Nations .",
    "translation": "Ein Mann fährt mit dem Fahrrad durch die Stadt .",
}


def instance(task: Any, name: str) -> tuple[Any, Any]:
    """One input: (its JSON instance, the tensor ``serving_default`` takes for it)."""
    import tensorflow as tf  # noqa: PLC0415

    samples = Path(__file__).resolve().parents[1] / "seqapps" / "data" / "samples"
    if task.name == "captioning":
        raw = sorted((samples / "captioning" / "images").glob("*.jpg"))[0].read_bytes()
        return {"b64": base64.b64encode(raw).decode()}, tf.constant([raw])
    if task.name == "forecasting":
        tensor = task.predict_inputs([str(samples / "forecasting" / "prices.csv")])[:1]
        return tensor.numpy()[0].tolist(), tensor
    text = SAMPLE_INPUTS[task.name]
    return text, tf.constant([text])


def measure(send: Callable[[], bool], clients: int, seconds: float, warmup: float) -> dict:
    """Run ``send`` from ``clients`` threads back to back; count what ends after warm-up."""
    start = time.perf_counter()
    begin, stop = start + warmup, start + warmup + seconds
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients

    def worker(i: int) -> None:
        while True:
            t0 = time.perf_counter()
            if t0 >= stop:
                return
            ok = send()
            t1 = time.perf_counter()
            if t0 >= begin and t1 <= stop:
                latencies[i].append((t1 - t0) * 1000)
                errors[i] += not ok

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times = np.concatenate([np.array(x) for x in latencies]) if any(latencies) else np.zeros(0)
    return {
        "clients": clients,
        "requests": int(times.size),
        "requests_per_second": float(times.size / seconds),
        "p50_ms": float(np.percentile(times, 50)) if times.size else None,
        "p99_ms": float(np.percentile(times, 99)) if times.size else None,
        "errors": int(sum(errors)),
    }


def http_sender(port: int, path: str, body: bytes) -> Callable[[], bool]:
    """A ``send()`` for one thread at a time: a keep-alive connection per thread."""
    local = threading.local()

    def send() -> bool:
        try:
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            return response.status == 200
        except (OSError, http.client.HTTPException):
            local.conn = None
            return False

    return send


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, name: str, proc: subprocess.Popen, limit: float = 300) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"seqapps serve exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", f"/v1/models/{name}")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"seqapps serve did not serve {name} within {limit:.0f} s")


def main(argv: list[str] | None = None) -> None:
    """Command line; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--root", default="saved_models", help="ROOT/TASK/VERSION exports")
    tasks = ["sentiment", "ner", "translation", "captioning", "forecasting"]
    p.add_argument("--tasks", nargs="*", default=tasks)
    p.add_argument("--clients", nargs="*", type=int, default=[1, 8, 32])
    p.add_argument("--seconds", type=float, default=10.0, help="measured seconds per level")
    p.add_argument("--warmup", type=float, default=2.0, help="uncounted seconds per level")
    p.add_argument("--out", required=True, help="JSON file")
    args = p.parse_args(argv)

    from seqapps.export import load_export  # noqa: PLC0415

    root = Path(args.root)
    result: dict[str, Any] = {
        "command": "python -m benchmarks.serve_load "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "seconds_per_level": args.seconds,
        **machine(),
        "tasks": {},
    }
    for name in args.tasks:
        if not (root / name).is_dir():
            raise SystemExit(f"{root / name}: no export (run `make demo` first)")
        task, loaded, path = load_export(root / name)
        body_instance, tensor = instance(task, name)
        body = json.dumps({"instances": [body_instance]}).encode()
        serve = loaded.signatures["serving_default"]
        (arg,) = serve.structured_input_signature[1]

        def direct(serve: Any = serve, arg: str = arg, tensor: Any = tensor) -> bool:
            serve(**{arg: tensor})
            return True

        port = free_port()
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        # One model per server: ROOT/NAME as the root serves that model alone.
        cmd = [sys.executable, "-m", "seqapps.cli", "serve", str(root / name), "--port", str(port)]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rows: dict[str, list[dict]] = {"server": [], "in_process": []}
        try:
            wait_ready(port, name, proc)
            send = http_sender(port, f"/v1/models/{name}:predict", body)
            for clients in args.clients:
                rows["server"].append(measure(send, clients, args.seconds, args.warmup))
                print(name, "server", rows["server"][-1], flush=True)
        finally:
            proc.terminate()
            proc.wait(60)
        for clients in args.clients:  # after the server has gone: no shared cores
            rows["in_process"].append(measure(direct, clients, args.seconds, args.warmup))
            print(name, "in-process", rows["in_process"][-1], flush=True)
        result["tasks"][name] = {"export": str(path), "request_bytes": len(body), **rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
