"""benchmarks/extraction_memory.py on the packaged sample with a tiny random backbone."""

from __future__ import annotations

import json
import sys

import pytest

from benchmarks import extraction_memory


@pytest.mark.slow  # loads the data set and builds a backbone: 10-20 s on 2 cores
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_writes_seconds_and_memory_per_split(tmp_path):
    out = tmp_path / "extraction.json"
    tiny = ["data=sample", "weights=none", "backbone=mobilenet", "alpha=0.25", "image_size=32"]
    extraction_memory.main(["--out", str(out), *tiny])
    result = json.loads(out.read_text())
    for split in ("train", "val", "test"):
        assert result[split]["images"] > 0 and result[split]["seconds"] > 0
        memory = result[split]["memory_after_mib"]
        assert memory["VmHWM"] >= memory["VmRSS"] > 0
    assert result["before"]["VmRSS"] > 0 and result["overrides"] == tiny
