"""Captioning's feature extraction on real images: seconds and resident memory, one process.

    python -m benchmarks.extraction_memory --out bench_out/extraction_memory.json

Loads the data set of ``configs/captioning/benchmark.yaml`` (Flickr8k in ../shared/data,
MobileNetV2-0.5 at 224 px with the ImageNet weights file; ``--config`` and ``key=value``
override), then extracts the frozen backbone's features of every split into a fresh,
empty feature cache (a temporary folder, removed after), as the first training run on a
data set does. Writes, per split: images, seconds, images/s; and the process's resident
memory (``/proc/self/status``: VmRSS, anonymous and file-backed parts, and the peak VmHWM,
MiB) before extraction and after each split. Linux only (``/proc``).

Issue #17: before the backbone ran as one traced graph, eager calls left about 2 GB more
resident after 1,000 images; the training process's peak is the captioning benchmark's
``peak_rss_mb``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine


def memory_mib() -> dict[str, int]:
    """VmRSS, RssAnon, RssFile and VmHWM of this process, MiB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {k: int(fields[k].split()[0]) // 1024 for k in ("VmRSS", "RssAnon", "RssFile", "VmHWM")}


def main(argv: list[str] | None = None) -> None:
    """Command line; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--config", default="configs/captioning/benchmark.yaml")
    p.add_argument("--out", required=True, help="JSON file")
    p.add_argument("overrides", nargs="*", help="key=value settings")
    args = p.parse_args(argv)

    from seqapps import config as config_lib  # noqa: PLC0415
    from seqapps.data.io import SPLITS  # noqa: PLC0415
    from seqapps.tasks.captioning import CaptioningConfig, CaptioningTask  # noqa: PLC0415

    cache = Path(tempfile.mkdtemp(prefix="extraction-memory-"))
    try:
        cfg = config_lib.resolve(
            CaptioningConfig, args.config, [*args.overrides, f"feature_cache={cache}"]
        )
        task = CaptioningTask(cfg)
        data = task.load_data()
        task.adapt(data)
        result: dict = {"config": args.config, "overrides": args.overrides, "machine": machine()}
        result["before"] = memory_mib()
        for split in SPLITS:
            images = data.split(split).images
            started = time.perf_counter()
            task.features(images)
            seconds = time.perf_counter() - started
            result[split] = {
                "images": len(images),
                "seconds": seconds,
                "images_per_second": len(images) / seconds,
                "memory_after_mib": memory_mib(),
            }
            print(split, json.dumps(result[split]), flush=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
