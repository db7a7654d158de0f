"""Memory of captioning's training stream as the number of images grows: in memory vs on disk.

    python -m benchmarks.feature_memory --images 1000 2000 4000 8000 16000 32000 50000 \\
        --out bench_out/feature_memory.json

Captioning trains its decoder from the frozen CNN's cached features, ``(images, 49, 1280)``
float16 for MobileNetV2 at 224 pixels (125 KB per image). Until issue #17 the training
stream held the whole cache as one constant (``in_memory``: 8,000 Flickr8k images = 1 GB,
COCO's 120,000 = 15 GB, before copies); it now reads each batch's rows from the cache file
(``on_disk``: :class:`seqapps.data.features.FeatureRows` behind
:meth:`seqapps.data.image_encoder.ImageEncoder.feature_lookup`).

For each size N a synthetic cache file of N images' features is written once (random
float16, the real shape), and each arm runs in a fresh process: one pass of the training
stream's feature side over 5 captions per image (Flickr8k's count), shuffled, in batches of
64, gathering each batch's features as float32 as the decoder receives them. Reported per
arm and size: seconds for the pass, batches per second and peak RSS; then the RSS and time
ratios against the smallest size. Only the feature side is measured: the decoder's compute
per batch does not depend on N. The real-data check is the captioning benchmark's peak RSS
(``python -m benchmarks.captioning``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import machine, peak_rss_mb

POSITIONS, CHANNELS = 49, 1280  # MobileNetV2's 7 x 7 x 1280 map at 224 pixels
CAPTIONS = 5  # per image, as Flickr8k


def write_cache(path: Path, images: int) -> None:
    """A ``(images, 49, 1280)`` float16 ``.npy`` of random features, written in chunks."""
    import numpy as np  # noqa: PLC0415

    rng = np.random.default_rng(images)
    header = {"descr": "<f2", "fortran_order": False, "shape": (images, POSITIONS, CHANNELS)}
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        for start in range(0, images, 500):
            n = min(500, images - start)
            f.write(rng.standard_normal((n, POSITIONS, CHANNELS), np.float32).astype("<f2"))
    tmp.replace(path)


def child(arm: str, cache: Path, batch_size: int) -> dict:
    """One pass of the caption stream's feature side, ``arm`` = in_memory or on_disk."""
    import numpy as np  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    from seqapps.data.features import FeatureRows  # noqa: PLC0415

    started = time.perf_counter()
    if arm == "in_memory":  # what feature_lookup did before: the whole cache as a constant
        table = tf.constant(np.load(cache))

        def lookup(i: tf.Tensor) -> tf.Tensor:
            return tf.cast(tf.gather(table, i), tf.float32)

        images = int(table.shape[0])
    else:  # what it does now
        rows = FeatureRows([cache])

        def lookup(i: tf.Tensor) -> tf.Tensor:
            features = tf.numpy_function(rows.take, [i], tf.float16, stateful=False)
            features.set_shape([None, POSITIONS, CHANNELS])
            return tf.cast(features, tf.float32)

        images = len(rows)
    index = np.repeat(np.arange(images, dtype=np.int32), CAPTIONS)  # caption -> its image
    ds = tf.data.Dataset.from_tensor_slices(index).shuffle(len(index), seed=0)
    ds = ds.batch(batch_size).map(lookup, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)
    setup = time.perf_counter() - started
    started = time.perf_counter()
    batches = 0
    checksum = 0.0
    for features in ds:
        checksum += float(features[0, 0, 0])  # touch the data: nothing is skipped
        batches += 1
    seconds = time.perf_counter() - started
    return {
        "images": images,
        "captions": len(index),
        "setup_seconds": setup,
        "pass_seconds": seconds,
        "batches_per_second": batches / seconds,
        "peak_rss_mb": peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> None:
    """Command line; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--images", type=int, nargs="+", default=[1000, 2000, 4000, 8000])
    p.add_argument("--arms", nargs="+", default=["in_memory", "on_disk"])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument(
        "--in-memory-limit",
        type=int,
        default=16000,
        help="largest size the in_memory arm runs (it needs 125 KB x images of RAM, twice)",
    )
    p.add_argument("--work", default="bench_out/feature_memory", help="synthetic caches")
    p.add_argument("--out", required=True, help="JSON file")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--cache", help=argparse.SUPPRESS)
    p.add_argument("--child-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        result = child(args.child, Path(args.cache), args.batch_size)
        Path(args.child_out).write_text(json.dumps(result), encoding="utf-8")
        return

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for images in args.images:
        cache = work / f"features-{images}.npy"
        if not cache.exists():
            print(f"writing {cache} ({images * POSITIONS * CHANNELS * 2 / 2**30:.1f} GiB)")
            write_cache(cache, images)
        for arm in args.arms:
            if arm == "in_memory" and images > args.in_memory_limit:
                continue
            out = work / f"{arm}-{images}.json"
            cmd = [sys.executable, "-m", "benchmarks.feature_memory", "--child", arm]
            cmd += ["--cache", str(cache), "--child-out", str(out), "--out", "-"]
            cmd += ["--batch-size", str(args.batch_size)]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            row = {"arm": arm, **json.loads(out.read_text(encoding="utf-8"))}
            print(row, flush=True)
            rows.append(row)
    for arm in args.arms:
        mine = [r for r in rows if r["arm"] == arm]
        for r in mine:
            r["rss_ratio"] = r["peak_rss_mb"] / mine[0]["peak_rss_mb"]
            r["time_ratio"] = r["pass_seconds"] / mine[0]["pass_seconds"]
            r["size_ratio"] = r["images"] / mine[0]["images"]
    result = {
        "command": "python -m benchmarks.feature_memory "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "rows": rows,
        **machine(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(markdown_table(result))


def markdown_table(result: dict) -> str:
    """The table quoted in docs/BENCHMARKS.md: per size, both arms' RSS and pass time."""
    sizes = sorted({r["images"] for r in result["rows"]})
    by = {(r["arm"], r["images"]): r for r in result["rows"]}
    lines = [
        "| images (captions) | in memory: peak RSS MiB | pass s | on disk: peak RSS MiB | "
        "pass s | on disk: pass time / the smallest size's |",
        "|---|---|---|---|---|---|",
    ]
    for n in sizes:
        mem, disk = by.get(("in_memory", n)), by.get(("on_disk", n))

        def cell(r: dict | None, key: str, fmt: str) -> str:
            return format(r[key], fmt) if r else "—"

        lines.append(
            f"| {n:,} ({n * CAPTIONS:,}) | {cell(mem, 'peak_rss_mb', ',.0f')} | "
            f"{cell(mem, 'pass_seconds', '.1f')} | {cell(disk, 'peak_rss_mb', ',.0f')} | "
            f"{cell(disk, 'pass_seconds', '.1f')} | {cell(disk, 'time_ratio', '.2f')} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
