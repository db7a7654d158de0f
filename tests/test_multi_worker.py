"""Multi-worker training: two local worker processes coordinated through TF_CONFIG."""

import json
import os
import socket
import subprocess
import sys

import pytest

from .conftest import TINY

pytestmark = pytest.mark.slow  # two TensorFlow processes training together: ~1 min


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_local_workers(tmp_path):
    workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    run_dir = tmp_path / "run"
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "TF_CPP_MIN_LOG_LEVEL": "3"}
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "seqapps.cli",
                    "train",
                    "sentiment",
                    *TINY,
                    "epochs=2",
                    "strategy=multi_worker",
                    "max_train_samples=256",
                    "--run-dir",
                    str(run_dir),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    try:
        outputs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out[-3000:]
    chief = json.loads((run_dir / "train_stats.json").read_text())
    assert chief["replicas"] == 2 and chief["global_batch_size"] == 64
    assert (run_dir / "best.keras").exists()
    # The second worker writes its own copies aside, never over the chief's files.
    assert (run_dir / "workers" / "1" / "train_stats.json").exists()
