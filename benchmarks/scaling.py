"""Load and training time and peak memory of each task as its training data grows: 1x, 3x, 10x.

    python -m benchmarks.scaling --tasks sentiment ner translation forecasting \\
        --copies 1 3 10 --epochs 1 --out bench_out/scaling.json
    python -m benchmarks.scaling --markdown bench_out/scaling.json

For each task and each copy factor k, a data folder under ``--work`` (``data/TASK-xK``) holds
the task's benchmark data set (the ``data`` of ``configs/TASK/benchmark.yaml``) with its
*training* split repeated k times and validation and test unchanged, in the layout the
task's loader already reads (``data=DIR``); unchanged files are symbolic links. Each size's
repeated files are written by the same code, 1x included, so the sizes differ in length only:

- sentiment (TweetEval folder): ``train_text.txt`` and ``train_labels.txt``, each line k times
  in the same order;
- ner (CoNLL folder): the training file (``eng.train``), its whole text k times;
- translation (Multi30k): every ``train.*`` file (``raw/train.{de,en}.gz``, ``tok/``,
  ``image_splits/train.txt``), its lines k times, compressed as before;
- forecasting (long CSV of daily prices): k - 1 extra copies of every ticker, renamed with a
  suffix (``AAL_c1``, ``AAL_c2``, ...), in files beside the original; a copy keeps the days
  before the config's ``val_start`` (dates unchanged), so k times the training windows and
  the same validation and test windows (with no ``val_start``, whole copies: every period
  grows);
- captioning (Flickr8k): only the caption list: each training image's captions appear k
  times (numbered on, ``#5`` ...); images are not copied (the CNN features would dominate).

Then one fresh child process per (task, k) trains the task's benchmark configuration on it
with ``data=DIR epochs=N`` and ``--set key=value`` on top, in a fresh run directory, and
writes JSON: ``load_seconds`` (``task.load_data()``, reading and parsing the files, inside
training), ``adapt_seconds`` (vocabularies), ``train_seconds`` (the whole ``train()`` call:
load, adapt, data report, model, every epoch with validation, outputs), ``seconds_per_epoch``
(training only, validation excluded; the mean of the epochs after the first when there are
several, the first includes tracing), ``train_examples`` (what one epoch trains on: tweets,
sentences, pairs, caption pairs, windows), ``seconds_per_example`` and ``peak_rss_mb`` of the
process. The model is the benchmark configuration's, except that ``min_count`` (translation,
captioning) is multiplied by k so that the vocabularies, hence the model, stay the 1x ones
(``--keep-min-count`` leaves it), and forecasting trains on every window
(``max_train_samples=none``: its benchmark file caps training at 200,000 windows). One
difference the copies make that no setting undoes: above 1x no training word is seen once,
so NER's ``unk_replace`` (singletons read as unknown) swaps nothing. With ``--epochs 1`` the
one epoch includes tracing the graphs, a fixed cost that makes the ratios understate the
growth; ``--epochs 2`` times the second epoch alone.

The parent (no TensorFlow) prepares the data, runs the children one at a time, prints a
table and writes per task the rows and the ratios to the smallest size: ``time_ratio`` (of
``seconds_per_epoch``), ``train_seconds_ratio``, ``load_ratio``, ``rss_ratio``. A child that
fails (killed for memory at 10x, say) is recorded as such and the others still run; the JSON
is rewritten after every child. A data folder already made (its ``.scaling.json`` matches) is
reused. ``--markdown JSON`` prints the table of a result for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import bz2
import csv
import gzip
import io
import json
import lzma
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import machine, peak_rss_mb
from seqapps import config as config_lib
from seqapps.data import conll
from seqapps.data.archives import is_data_file, plain_name, plain_suffix, read_bytes
from seqapps.data.io import find_split_files

TASKS = ("sentiment", "ner", "translation", "forecasting", "captioning")
DEFAULT_TASKS = ["sentiment", "ner", "translation", "forecasting"]
CONFIG = "configs/{task}/benchmark.yaml"
# Settings every size of a task gets before --set: forecasting's benchmark file caps the
# training windows (max_train_samples: 200000), which would hide the growth.
TASK_SETTINGS = {"forecasting": ["max_train_samples=none"]}
# Tasks whose vocabularies keep the words seen min_count times in training: k copies see
# every word k times, so min_count is scaled by k to keep the 1x vocabulary (and model).
MIN_COUNT_TASKS = ("translation", "captioning")
MARKER = ".scaling.json"  # hidden: no loader reads it
DATA_VERSION = 2  # bump when a copy function changes what it writes
# The forecasting config keys ``<name>_column`` the price copies read, and their defaults.
PRICE_COLUMNS = {"date": "date", "ticker": "Name", "close": "close"}

BOM = b"\xef\xbb\xbf"


# --- files --------------------------------------------------------------------------
def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, compressed as its suffix says (``.gz``, ``.bz2``, ``.xz``)."""
    suffix = path.suffix.lower()
    if suffix == ".gz":
        with gzip.open(path, "wb", compresslevel=6) as f:
            f.write(data)
    elif suffix == ".bz2":
        with bz2.open(path, "wb") as f:
            f.write(data)
    elif suffix == ".xz":
        with lzma.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def repeat_text(data: bytes, k: int, *, blank_line: bool = False) -> bytes:
    """``data`` (a text file's bytes) k times in a row.

    Each copy ends with a newline, so the last line of one copy and the first of the next
    stay two lines; a leading UTF-8 byte-order mark is kept once, at the start. With
    ``blank_line`` each copy also ends with a blank line (CoNLL: a sentence never runs from
    one copy into the next).
    """
    bom = BOM if data.startswith(BOM) else b""
    body = data[len(bom) :]
    if body and not body.endswith(b"\n"):
        body += b"\n"
    if blank_line and body and not body.endswith((b"\n\n", b"\n\r\n")):
        body += b"\n"
    return bom + body * k


def _repeated(k: int, *, blank_line: bool = False) -> Callable[[Path, Path], None]:
    """A writer of ``dst``: the text of ``src`` k times (:func:`repeat_text`), same compression."""

    def write(src: Path, dst: Path) -> None:
        write_bytes(dst, repeat_text(read_bytes(src), k, blank_line=blank_line))

    return write


def mirror(source: Path, dest: Path, writers: dict[Path, Callable[[Path, Path], None]]) -> None:
    """Make ``dest`` a copy of the folder ``source`` made of symbolic links.

    The files in ``writers`` (paths under ``source``) are written by their function
    ``(src, dst)`` instead; folders holding such a file are real folders, every other file
    or folder a link to the original (absolute).
    """
    source = source.absolute()  # the callers' paths are under source as given: not resolved
    writers = {p.absolute(): w for p, w in writers.items()}
    dest.mkdir(parents=True)
    for entry in sorted(source.iterdir()):
        target = dest / entry.name
        if entry in writers:
            writers[entry](entry, target)
        elif entry.is_dir() and any(p.is_relative_to(entry) for p in writers):
            mirror(entry, target, {p: w for p, w in writers.items() if p.is_relative_to(entry)})
        else:
            target.symlink_to(entry.resolve())


# --- the copies, per task -------------------------------------------------------------
def copy_sentiment(source: Path, dest: Path, k: int) -> list[str]:
    """A TweetEval folder with ``train_text.txt`` and ``train_labels.txt`` repeated k times."""
    if not (source / "train_text.txt").exists() and (source / "sentiment").is_dir():
        source = source / "sentiment"  # a TweetEval root, as load_tweeteval accepts
    names = ["train_text.txt", "train_labels.txt"]
    for name in [*names, "mapping.txt"]:
        if not (source / name).is_file():
            raise SystemExit(f"{source}: no {name}; sentiment copies need the TweetEval layout")
    mirror(source, dest, {source / n: _repeated(k) for n in names})
    return names


def copy_ner(source: Path, dest: Path, k: int) -> list[str]:
    """A CoNLL folder whose training file (the one the loader picks) is repeated k times."""
    train = find_split_files(source, conll._LAYOUTS)["train"]  # the loader's own choice
    mirror(source, dest, {train: _repeated(k, blank_line=True)})
    return [train.name]


def copy_translation(source: Path, dest: Path, k: int) -> list[str]:
    """A Multi30k folder with the lines of every ``*train*`` file repeated k times.

    That is ``raw/train.{de,en}.gz``, ``tok/train.lc.norm.tok.{de,en}`` and
    ``image_splits/train.txt`` (all aligned line by line, so they stay aligned); the
    validation and test files are links.
    """
    trains = sorted(
        p
        for p in source.rglob("*")
        if p.is_file() and is_data_file(p) and "train" in p.name.lower()
    )
    if not trains:
        raise SystemExit(f"{source}: no *train* files to repeat")
    mirror(source, dest, {p: _repeated(k) for p in trains})
    return [p.relative_to(source).as_posix() for p in trains]


def _price_copy(data: bytes, suffix: str, columns: dict[str, str], before: str | None) -> bytes:
    """A price file's bytes with every ticker renamed ``TICKER<suffix>``, rows before ``before``.

    A long file renames its ticker column; a wide one (no close column) its ticker columns;
    a long file without a ticker column is one ticker named after its file: the copy's new
    file name renames it. ``before`` (``YYYY-MM-DD``, the config's ``val_start``) keeps only
    the rows dated before it, so a copy adds training windows and no validation or test ones.
    """
    text = data.removeprefix(BOM).decode("utf-8")
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first else ","  # as the loader decides
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    header = [c.strip() for c in rows[0]]
    if columns["ticker"] in header:
        at = header.index(columns["ticker"])
        for row in rows[1:]:
            if len(row) > at and row[at].strip():
                row[at] = row[at].strip() + suffix
    elif columns["close"] not in header:
        rows[0] = [c if c.strip() == columns["date"] else c.strip() + suffix for c in rows[0]]
    if before and columns["date"] in header:
        at = header.index(columns["date"])
        # ISO dates compare as strings; the loader reads the first 10 characters too.
        rows[1:] = [r for r in rows[1:] if len(r) <= at or r[at].strip()[:10] < before]
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def copy_forecasting(
    source: Path,
    dest: Path,
    k: int,
    columns: dict[str, str] | None = None,
    before: str | None = None,
) -> list[str]:
    """A folder of price files with k - 1 renamed copies of every ticker beside the originals.

    ``source`` is a price file or a folder of them (the ``.csv`` / ``.tsv`` files the loader
    reads, compressed or not); each file ``NAME.csv[.gz]`` gets copies ``NAME_c1.csv[.gz]``
    ... ``NAME_c{k-1}.csv[.gz]`` whose tickers end in ``_c1`` ... The originals are links.
    ``columns``: the ``date``, ``ticker`` and ``close`` column names (the config's).
    ``before``: the config's ``val_start``: the copies keep only the days before it, so the
    training windows are k times as many and validation and test are unchanged (without it
    every period grows k times).
    """
    columns = {**PRICE_COLUMNS, **(columns or {})}
    if source.is_file():
        files = [source]
        dest.mkdir(parents=True)
        (dest / source.name).symlink_to(source.resolve())
    else:
        files = sorted(p for p in source.iterdir() if plain_suffix(p) in (".csv", ".tsv"))
        if not files:
            raise SystemExit(f"{source}: no .csv or .tsv price files")
        mirror(source, dest, {})
    written = []
    for path in files:
        plain = plain_name(path.name)
        stem, ext, compression = Path(plain).stem, Path(plain).suffix, path.name[len(plain) :]
        data = read_bytes(path) if k > 1 else b""
        for j in range(1, k):
            name = f"{stem}_c{j}{ext}{compression}"
            write_bytes(dest / name, _price_copy(data, f"_c{j}", columns, before))
            written.append(name)
    return written


def copy_captioning(source: Path, dest: Path, k: int) -> list[str]:
    """A Flickr8k folder whose training images' captions appear k times; images not copied.

    ``Flickr8k.token.txt`` keeps every line and adds, for each image of the training list,
    k - 1 more copies of its captions numbered on (``#5`` ... for five captions), so the
    loader reads 5k references per training image and 5 per validation and test image.
    """
    tokens = source / "Flickr8k.token.txt"
    if not tokens.is_file():
        raise SystemExit(f"{source}: no Flickr8k.token.txt; captioning copies need Flickr8k")
    lists = find_split_files(  # as load_flickr8k finds the split lists
        source,
        {"train": ["Flickr_8k.trainImages.txt"]},
        splits=("train",),
        keep=lambda p: "token" not in p.name.lower() and plain_suffix(p) == ".txt",
    )
    train = {n.strip() for n in read_bytes(lists["train"]).decode("utf-8").splitlines()}
    lines = read_bytes(tokens).removeprefix(BOM).decode("utf-8").splitlines()
    parsed = []
    for line in lines:
        key, tab, caption = line.partition("\t")
        name, _, n = key.rpartition("#")
        parsed.append((name, int(n) if tab and n.isdigit() else None, caption))
    step = 1 + max((n for _, n, _ in parsed if n is not None), default=0)
    out = list(lines)
    for j in range(1, k):
        out += [
            f"{name}#{n + j * step}\t{caption}"
            for name, n, caption in parsed
            if n is not None and name in train
        ]

    def write(src: Path, dst: Path) -> None:
        dst.write_text("\n".join(out) + "\n", encoding="utf-8")

    mirror(source, dest, {tokens: write})
    return [tokens.name]


COPIERS: dict[str, Callable[..., list[str]]] = {
    "sentiment": copy_sentiment,
    "ner": copy_ner,
    "translation": copy_translation,
    "forecasting": copy_forecasting,
    "captioning": copy_captioning,
}


def prepare_data(
    task: str, source: Path, dest: Path, k: int, settings: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Make (or reuse) ``dest``: ``source``'s data with the training split k times.

    A folder whose ``.scaling.json`` records the same task, source, k, cut-off date and
    version is reused; otherwise it is rebuilt (in ``dest.tmp``, then renamed).
    ``settings``: the task's config values (forecasting reads its ``*_column`` names and
    ``val_start`` there). Returns the marker: what was made and which files were rewritten.
    """
    settings = settings or {}
    before = str(settings.get("val_start") or "") if task == "forecasting" else ""
    want = {
        "task": task,
        "source": str(source.resolve()),
        "copies": k,
        "before": before,
        "version": DATA_VERSION,
    }
    marker = dest / MARKER
    if marker.is_file():
        found = json.loads(marker.read_text(encoding="utf-8"))
        if {key: found.get(key) for key in want} == want:
            return found
    if not source.exists():
        raise SystemExit(f"{source}: no such file or directory (the {task} data set)")
    tmp = dest.with_name(dest.name + ".tmp")
    for path in (dest, tmp):
        if path.is_symlink() or path.is_file():
            path.unlink()
        shutil.rmtree(path, ignore_errors=True)
    if task == "forecasting":
        columns = {c: str(settings.get(f"{c}_column", d)) for c, d in PRICE_COLUMNS.items()}
        written = copy_forecasting(source, tmp, k, columns, before or None)
    else:
        written = COPIERS[task](source, tmp, k)
    done = {**want, "written": written}
    (tmp / MARKER).write_text(json.dumps(done, indent=1), encoding="utf-8")
    tmp.rename(dest)
    return done


def task_note(task: str, keep_min_count: bool) -> str:
    """What the copies of ``task`` are, in a sentence for the JSON and the docs."""
    scaled = (
        "" if keep_min_count else "; min_count scaled by k, so the vocabularies are the 1x ones"
    )
    return {
        "sentiment": "train_text.txt and train_labels.txt repeated k times; val, test, mapping "
        "linked",
        "ner": "the training CoNLL file repeated k times; the vocabulary is the 1x one, but "
        "above 1x no word is seen once, so unk_replace (singleton words read as unknown) "
        "swaps nothing; word_dropout still applies",
        "translation": f"every train.* file repeated k times{scaled}",
        "forecasting": "k - 1 extra copies of every ticker (suffix _c1, _c2, ...) holding its "
        "days before val_start, in files beside the original: k times the training windows, "
        "validation and test unchanged; max_train_samples=none",
        "captioning": "captions repeated; images not copied (each training image's captions "
        "k times, val/test references unchanged; the CNN features of all images are "
        f"extracted at every size, into a per-size cache){scaled}",
    }[task]


# --- the child: one (task, k) ---------------------------------------------------------
def _epoch_timer() -> Any:  # late import of keras: the parent process never loads TensorFlow
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Training seconds of each epoch, validation excluded (as seqapps' Throughput)."""

        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self.start: float | None = None

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.start = time.perf_counter()

        def on_test_begin(self, logs: dict | None = None) -> None:
            if self.start is not None:  # validation inside fit: stop the training clock
                self.seconds.append(time.perf_counter() - self.start)
                self.start = None

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.on_test_begin()  # an epoch without validation

    return EpochTimer()


def child(args: argparse.Namespace) -> dict[str, Any]:
    """Train one task on one copied data folder; the figures of the run."""
    from seqapps.tasks import get_task_class
    from seqapps.trainer import train

    name, k = args.child, args.child_copies
    cls = get_task_class(name)
    work = Path(args.work)
    run_dir = work / "runs" / f"{name}-x{k}"
    shutil.rmtree(run_dir, ignore_errors=True)
    settings = [s for s in args.set if not s.startswith("data=")]  # data= is the source
    overrides = [*TASK_SETTINGS.get(name, []), f"epochs={args.epochs}", *settings]
    if name == "captioning" and not any(s.startswith("feature_cache=") for s in args.set):
        cache = work / "features" / f"captioning-x{k}"
        shutil.rmtree(cache, ignore_errors=True)  # every size extracts its features
        overrides.append(f"feature_cache={cache}")
    overrides.append(f"data={args.child_data}")
    config_file = CONFIG.format(task=name)
    cfg = config_lib.resolve(cls.config_class, config_file, overrides)
    if name in MIN_COUNT_TASKS and not args.keep_min_count and k > 1:
        overrides.append(f"min_count={cfg.min_count * k}")
        cfg = config_lib.resolve(cls.config_class, config_file, overrides)
    task = cls(cfg)

    measured: dict[str, Any] = {"load_seconds": 0.0, "adapt_seconds": 0.0}
    load_data, adapt = task.load_data, task.adapt

    def timed_load() -> Any:  # train() calls it once; timed where it runs
        start = time.perf_counter()
        data = load_data()
        measured["load_seconds"] += time.perf_counter() - start
        measured["rss_after_load_mb"] = peak_rss_mb()
        measured["train_examples"] = task.num_examples(data, "train")
        return data

    def timed_adapt(data: Any) -> None:
        start = time.perf_counter()
        adapt(data)
        measured["adapt_seconds"] += time.perf_counter() - start

    task.load_data = timed_load  # type: ignore[method-assign]
    task.adapt = timed_adapt  # type: ignore[method-assign]
    timer = _epoch_timer()
    start = time.perf_counter()
    train(task, run_dir, callbacks=[timer])
    train_seconds = time.perf_counter() - start

    stats = json.loads((run_dir / "train_stats.json").read_text(encoding="utf-8"))
    report = json.loads((run_dir / "data_report.json").read_text(encoding="utf-8"))
    epochs = timer.seconds
    steady = epochs[1:] or epochs  # the first epoch also traces the graphs
    per_epoch = sum(steady) / len(steady) if steady else float("nan")
    examples = measured["train_examples"]
    return {
        "copies": k,
        **measured,
        "train_seconds": train_seconds,
        "seconds_per_epoch": per_epoch,
        "epoch_train_seconds": epochs,
        "seconds_per_example": per_epoch / examples if examples else float("nan"),
        "examples": report["examples"],  # items per split (images for captioning)
        "epochs_run": stats["epochs_run"],
        "steps_per_epoch": stats["steps_per_epoch"],
        "train_samples_per_second": stats["train_samples_per_second"],
        "peak_rss_mb": peak_rss_mb(),
        "overrides": overrides,
        "run_dir": str(run_dir),
    }


# --- the parent -----------------------------------------------------------------------
def run_child(task: str, k: int, data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One (task, k) in a fresh process: its JSON plus the process's wall and CPU seconds.

    A failed child (an error, or killed for memory) gives ``{"copies", "error"}``.
    """
    work = Path(args.work)
    (work / "logs").mkdir(parents=True, exist_ok=True)
    out = work / "logs" / f"{task}-x{k}.json"
    log = out.with_suffix(".log")
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "benchmarks.scaling", "--child", task, "--out", "-"]
    cmd += ["--child-copies", str(k), "--child-data", str(data_dir), "--child-out", str(out)]
    cmd += ["--epochs", str(args.epochs), "--work", args.work]
    cmd += ["--keep-min-count"] if args.keep_min_count else []
    cmd += ["--set", *args.set] if args.set else []
    print("+", " ".join(cmd), flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0 or not out.is_file():
        return {"copies": k, "error": f"exit {proc.returncode}; see {log}", "wall_seconds": wall}
    row = json.loads(out.read_text(encoding="utf-8"))
    row.update(wall_seconds=wall, cpu_seconds=cpu, log=str(log))
    return row


RATIOS = {
    "examples_ratio": "train_examples",
    "time_ratio": "seconds_per_epoch",
    "train_seconds_ratio": "train_seconds",
    "load_ratio": "load_seconds",
    "rss_ratio": "peak_rss_mb",
}


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each finished row's figures over the smallest finished size's (``RATIOS``)."""
    done = [r for r in rows if "error" not in r]
    if not done:
        return []
    base = min(done, key=lambda r: r["copies"])
    out = []
    for row in done:
        ratio: dict[str, Any] = {"copies": row["copies"], "base_copies": base["copies"]}
        for key, figure in RATIOS.items():
            ratio[key] = row[figure] / base[figure] if base[figure] else float("nan")
        out.append(ratio)
    return out


def markdown_table(result: dict[str, Any]) -> str:
    """The result as a markdown table for docs: a row per task and size."""
    lines = [
        "| task | copies | training examples | load s | train s | train s / epoch "
        "| peak RSS MiB | time ratio | RSS ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for task, part in result["tasks"].items():
        by_copies = {r["copies"]: r for r in part.get("ratios", [])}
        for row in part["rows"]:
            k = row["copies"]
            if "error" in row:
                lines.append(f"| {task} | {k}x | failed ({row['error']}) | | | | | | |")
                continue
            ratio = by_copies.get(k, {})
            cells = [
                f"{row['train_examples']:,}",
                f"{row['load_seconds']:.1f}",
                f"{row['train_seconds']:.1f}",
                f"{row['seconds_per_epoch']:.1f}",
                f"{row['peak_rss_mb']:,.0f}",
                f"{ratio['time_ratio']:.2f}" if ratio else "",
                f"{ratio['rss_ratio']:.2f}" if ratio else "",
            ]
            lines.append(f"| {task} | {k}x | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line; see the module docstring."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.scaling",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--tasks", nargs="+", choices=TASKS, default=DEFAULT_TASKS)
    p.add_argument("--copies", nargs="+", type=int, default=[1, 3, 10], metavar="K")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="key=value",
        help="settings on top of configs/TASK/benchmark.yaml, for every task and size "
        "(data= names the source data set instead of the config's)",
    )
    p.add_argument("--keep-min-count", action="store_true", help="do not scale min_count by k")
    p.add_argument("--work", default="bench_out/scaling", help="data copies, runs, logs")
    p.add_argument("--out", help="JSON file (required unless --markdown)")
    p.add_argument("--markdown", metavar="JSON", help="print the markdown table of a result")
    p.add_argument("--child", choices=TASKS, help=argparse.SUPPRESS)
    p.add_argument("--child-copies", type=int, help=argparse.SUPPRESS)
    p.add_argument("--child-data", help=argparse.SUPPRESS)
    p.add_argument("--child-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        result = child(args)
        Path(args.child_out).write_text(json.dumps(result), encoding="utf-8")
        return
    if args.markdown:
        print(markdown_table(json.loads(Path(args.markdown).read_text(encoding="utf-8"))))
        return
    if not args.out:
        p.error("--out is required")
    if min(args.copies) < 1 or args.epochs < 1:
        p.error("--copies and --epochs must be >= 1")
    copies = sorted(set(args.copies))

    work = Path(args.work)
    result: dict[str, Any] = {
        "command": "python -m benchmarks.scaling "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "epochs": args.epochs,
        "copies": copies,
        "set": args.set,
        "tasks": {},
        **machine(),
    }

    def save() -> None:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")

    started = time.perf_counter()
    for task in args.tasks:
        config_file = CONFIG.format(task=task)
        settings = {**config_lib.read_yaml(config_file), **config_lib.parse_overrides(args.set)}
        source = str(settings.get("data", "sample"))
        if source == "sample":
            p.error(f"{config_file} names no data set: pass --set data=PATH")
        part: dict[str, Any] = {
            "config": config_file,
            "source": source,
            "note": task_note(task, args.keep_min_count),
            "rows": [],
            "ratios": [],
        }
        result["tasks"][task] = part
        for k in copies:
            data_dir = work / "data" / f"{task}-x{k}"
            prep = time.perf_counter()
            made = prepare_data(task, Path(source), data_dir, k, settings)
            prepare_seconds = time.perf_counter() - prep
            row = run_child(task, k, data_dir, args)
            row.update(data_dir=str(data_dir), written=made["written"])
            row["prepare_seconds"] = prepare_seconds
            part["rows"].append(row)
            part["ratios"] = ratios(part["rows"])
            shown = ["train_examples", "load_seconds", "seconds_per_epoch", "peak_rss_mb"]
            print(task, f"{k}x", {key: row.get(key) for key in ["error", *shown] if key in row})
            result["wall_seconds"] = time.perf_counter() - started
            save()
    print(markdown_table(result))


if __name__ == "__main__":
    main()
