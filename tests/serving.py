"""Helpers of the serving tests: a uvicorn server in a thread on a loopback socket, a client.

The server runs in the test process (so a test can swap a model's function, or read the
registry) but is reached over a real TCP socket, as any client would.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def running(app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free port of ``host``; yield its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    # Outside the main thread uvicorn installs no signal handlers (Ctrl-C stays pytest's).
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120  # the first load of a model takes seconds on 2 cores
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()


def call(
    url: str,
    body: Any = None,
    *,
    data: bytes | None = None,
    method: str | None = None,
    timeout: float = 120,
) -> tuple[int, Any]:
    """One HTTP request: JSON ``body`` (or raw ``data``) -> (status, parsed JSON answer).

    The answer is parsed with Python's json, which reads TF Serving's bare ``NaN``.
    """
    if body is not None:
        data = json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def b64(data: bytes) -> dict[str, str]:
    """TF Serving's binary value: ``{"b64": ...}``."""
    return {"b64": base64.b64encode(data).decode("ascii")}


def instances_for(name: str, raw: list[str], task: Any) -> tuple[list[Any], Any]:
    """Raw session inputs -> (JSON instances for the REST API, the tensor for the signature).

    Text tasks: the lines as they are; captioning: image files as ``{"b64": ...}``;
    forecasting: each CSV's last ``window`` days, as ``task.predict_inputs`` reads them.
    """
    if name == "captioning":
        images = [Path(p).read_bytes() for p in raw]
        return [b64(x) for x in images], np.array(images, dtype=object)
    if name == "forecasting":
        prices = task.predict_inputs(raw).numpy()
        return prices.tolist(), prices
    return list(raw), np.array([t.encode("utf-8") for t in raw], dtype=object)


class ServerPool:
    """One server per task (and name list) for the session: its model root holds links."""

    def __init__(self, runs: Any, factory: Any) -> None:
        self.runs = runs
        self.factory = factory
        self.servers: dict[tuple[str, ...], tuple[str, Any, contextlib.ExitStack]] = {}

    def get(self, task: str, *names: str) -> tuple[str, Any]:
        """(base URL, app) of a server of ``task``'s session export under ``names``."""
        from seqapps.serve import create_app

        names = names or (task,)
        key = (task, *names)
        if key not in self.servers:
            root = self.factory.mktemp(f"serve-{task}")
            model_root = self.runs.export(task).parent
            for n in names:
                os.symlink(model_root, root / n, target_is_directory=True)
            app = create_app(root, poll_seconds=0)
            stack = contextlib.ExitStack()
            url = stack.enter_context(running(app))
            self.servers[key] = (url, app, stack)
        url, app, _ = self.servers[key]
        return url, app

    def close(self) -> None:
        for _, _, stack in self.servers.values():
            stack.close()
        self.servers.clear()
