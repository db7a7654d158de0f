"""A battery of real and hostile inputs against exported models, the CLI and every loader.

Issue #15 asks that no real input crash a model or pass silently. This command trains one
tiny run per task on the packaged samples, exports it, and tries each case of a fixed
battery. Every case carries its *right value* (what a correct toolkit returns, or the
documented error it raises) and is classified as one of:

* ``right``: the right value;
* ``clear_error``: a documented one-line error: a :class:`~seqapps.errors.SeqappsError`
  from a Python API, a CLI exit status != 0 with exactly one stderr line starting
  ``seqapps: error:``, or a serving signature's documented ``InvalidArgumentError``;
* ``crash``: any other exception, or a CLI traceback;
* ``silent_misread``: returned without an error, but not the right value;
* ``refused_valid``: a valid input refused with an error.

Usage::

    python -m benchmarks.battery --out docs/results/battery.json
    python -m benchmarks.battery --groups loader          # loaders only: no training

Counts are printed per group (serving, predict/CLI, loader) and per task.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

OUTCOMES = ["right", "clear_error", "crash", "silent_misread", "refused_valid"]
GROUPS = ["serving", "cli", "loader"]
TEXT_TASKS = ["sentiment", "ner", "translation"]
TASK_NAMES = [*TEXT_TASKS, "captioning", "forecasting"]
ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "seqapps" / "data" / "samples"

# Per task: a run that trains in seconds on the packaged sample (the settings of the tests'
# tiny runs, tests/conftest.py TINY_TASKS): it learns nothing, but exports every signature.
TINY: dict[str, dict[str, Any]] = {
    "sentiment": {
        "units": 8,
        "embedding_dim": 8,
        "max_tokens": 500,
        "batch_size": 32,
        "epochs": 1,
        "max_train_samples": 128,
    },
    "ner": {
        "units": 8,
        "word_embedding_dim": 8,
        "char_embedding_dim": 4,
        "char_features": 4,
        "case_embedding_dim": 2,
        "batch_size": 32,
        "epochs": 1,
        "max_train_samples": 128,
    },
    "translation": {
        "cell": "gru",
        "units": 8,
        "embedding_dim": 8,
        "min_count": 2,
        "batch_size": 32,
        "epochs": 1,
        "beam_width": 2,
        "max_length": 20,
        "max_train_samples": 128,
        "max_eval_samples": 48,
    },
    "captioning": {
        "weights": "none",
        "backbone": "mobilenet",
        "alpha": 0.25,
        "image_size": 32,
        "cell": "gru",
        "units": 8,
        "feature_units": 8,
        "embedding_dim": 8,
        "min_count": 2,
        "batch_size": 32,
        "epochs": 1,
        "dropout": 0,
        "beam_width": 2,
        "max_length": 12,
        "max_train_samples": 20,
    },
    "forecasting": {"units": 8, "epochs": 1, "window": 10, "horizon": 3, "batch_size": 64},
}

NFC_GIRL = "Mädchen"
NFD_GIRL = unicodedata.normalize("NFD", NFC_GIRL)
BOM = b"\xef\xbb\xbf"


def overrides(task: str, **extra: Any) -> list[str]:
    """The tiny ``key=value`` settings of ``task``, plus ``extra``."""
    from benchmarks.common import config_overrides

    return config_overrides({**TINY[task], **extra})


# --- cases and their classification ------------------------------------------------------
@dataclasses.dataclass
class Case:
    """One input and its right value.

    ``run`` returns the result (for the CLI: ``(status, stdout, stderr)``) or raises.
    ``check(result)`` returns None when the result is the right value, else what is wrong.
    ``error``: the right value is the documented error whose message matches this regex.
    ``valid``: the input is valid, so refusing it is ``refused_valid``.
    """

    group: str
    task: str
    name: str
    input: str
    expected: str
    run: Callable[[], Any]
    check: Callable[[Any], str | None] | None = None
    error: str | None = None
    valid: bool = True
    tf_error: bool = False  # the documented error is a serving InvalidArgumentError


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _error_outcome(case: Case, message: str) -> tuple[str, str]:
    """A documented one-line error was raised: clear_error, or refused_valid."""
    if case.error is None:
        return ("refused_valid" if case.valid else "clear_error"), message
    if not re.search(case.error, message):
        return "clear_error", f"{message}  [message does not match {case.error!r}]"
    return "clear_error", message


def classify(case: Case) -> tuple[str, str]:
    """Run ``case`` once; return its outcome and a one-line detail."""
    import tensorflow as tf

    from seqapps.errors import SeqappsError

    try:
        result = case.run()
    except SeqappsError as e:
        message = str(e)
        if "\n" in message:
            return "crash", f"{type(e).__name__} over several lines: {message!r}"
        return _error_outcome(case, message)
    except tf.errors.InvalidArgumentError as e:
        if case.tf_error and case.error and re.search(case.error, e.message):
            line = next(x for x in e.message.splitlines() if re.search(case.error, x))
            return "clear_error", f"InvalidArgumentError: {line.strip()[:300]}"
        return "crash", f"InvalidArgumentError: {first_line(e.message)[:300]}"
    except Exception as e:  # noqa: BLE001 - any other exception is what the battery counts
        return "crash", f"{type(e).__name__}: {first_line(str(e))[:300]}"
    if case.group == "cli":
        status, out, err = result
        if status != 0:
            lines = err.strip().splitlines()
            if len(lines) == 1 and lines[0].startswith("seqapps: error:"):
                return _error_outcome(case, lines[0])
            tail = lines[-1] if lines else ""
            return "crash", f"exit {status}, {len(lines)} stderr lines; last: {tail[:300]}"
    if case.error is not None:
        return "silent_misread", f"returned without the documented error ({case.error!r})"
    problem = case.check(result) if case.check else None
    if problem:
        return "silent_misread", problem
    return "right", ""


# --- helpers shared by cases ---------------------------------------------------------------
def cli(args: list[str], stdin: bytes | None = None) -> tuple[int, str, str]:
    """``seqapps.cli.main(args)`` in process: its status, stdout and stderr (a traceback
    raised out of ``main`` is printed to the captured stderr, as the console would)."""
    from seqapps.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(args)
            except SystemExit as e:
                status = e.code if isinstance(e.code, int) else 1
            except Exception:  # noqa: BLE001
                traceback.print_exc()
                status = 1
    finally:
        sys.stdin = saved
    return status, out.getvalue(), err.getvalue()


def subprocess_cli(args: list[bytes | str]) -> tuple[int, str, str]:
    """The ``seqapps`` console script in a child process (for non-UTF-8 argument bytes)."""
    exe = Path(sys.executable).parent / "seqapps"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "seqapps.cli"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([*cmd, *args], capture_output=True, env=env, cwd=ROOT, timeout=300)
    return (
        proc.returncode,
        proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace"),
    )


def lines_out(n: int) -> Callable[[tuple], str | None]:
    """A CLI check: exit 0 and ``n`` lines on stdout."""

    def check(result: tuple) -> str | None:
        status, out, _ = result
        got = out.count("\n")
        return None if status == 0 and got == n else f"exit {status}, {got} lines, want {n}"

    return check


def image_bytes(fmt: str, seed: int = 0, size: tuple[int, int] = (24, 32), mode: str = "RGB"):
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = rng.integers(0, 256, (*size, channels), np.uint8)
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode)
    buf = io.BytesIO()
    image.save(buf, fmt)
    return buf.getvalue()


JPEG = image_bytes("JPEG")
PNG = image_bytes("PNG", seed=1)
TRUNCATED_JPEG = JPEG[: len(JPEG) // 2]
HEADER_AND_ZEROS = JPEG[:200] + bytes(4000)


def exif_pair() -> tuple[bytes, bytes]:
    """A JPEG stored landscape with EXIF Orientation=6, and a PNG of it upright (as viewed)."""
    import tensorflow as tf

    y, x = np.mgrid[0:40, 0:64]
    pixels = np.stack([x * 4, y * 6, 255 - x * 2], axis=-1).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    tagged = buf.getvalue()
    upright = tf.image.rot90(tf.io.decode_jpeg(tagged, channels=3), 3)  # 90 degrees clockwise
    return tagged, tf.io.encode_png(upright).numpy()


# --- serving -------------------------------------------------------------------------------
class Served:
    """A loaded export: its Task and SavedModel."""

    def __init__(self, path: Path) -> None:
        from seqapps.export import load_export

        self.path = path
        self.task, self.model, _ = load_export(path)

    def __call__(self, batch: Any) -> dict[str, np.ndarray]:
        import tensorflow as tf

        if isinstance(batch, np.ndarray):
            tensor = tf.constant(batch, tf.float32)
        else:
            tensor = tf.constant(batch, tf.string) if len(batch) else tf.constant([], tf.string)
        return {k: v.numpy() for k, v in self.model.serving_default(tensor).items()}


def rows_problem(out: dict, n: int) -> str | None:
    got = {k: v.shape[0] for k, v in out.items()}
    return None if set(got.values()) == {n} else f"rows {got}, want {n}"


def text_check(task: str, batch: list, reference: dict | None = None):
    """One row per input, well formed: finite probabilities summing to 1 (sentiment), one
    tag per whitespace token (NER), UTF-8 text (translation); dtypes as ``reference``."""

    def check(out: dict) -> str | None:
        problem = rows_problem(out, len(batch))
        if problem:
            return problem
        if reference is not None:
            for k, v in reference.items():
                if k not in out or out[k].dtype != v.dtype:
                    return f"{k}: dtype {out.get(k, np.array([])).dtype}, want {v.dtype}"
        if task == "sentiment":
            p = out["probabilities"]
            if len(batch) and not (np.isfinite(p).all() and np.allclose(p.sum(1), 1, atol=1e-4)):
                return f"probabilities not a distribution: {p[:2]}"
        if task == "ner":
            want = [len(s.split()) if isinstance(s, str) else None for s in batch]
            got = out["lengths"].tolist()
            if any(w is not None and w != g for w, g in zip(want, got, strict=True)):
                return f"lengths {got[:5]}, want {want[:5]} (tokens as str.split())"
        if task == "translation":
            try:
                [t.decode("utf-8") for t in out["translations"]]
            except UnicodeDecodeError as e:
                return f"translation not UTF-8: {e}"
        return None

    return check


def same_rows(task: str, n_tokens: int | None = None):
    """Rows 0 and 1 of a two-row batch give the same outputs (NER tokens: same count)."""

    def check(out: dict) -> str | None:
        for k, v in out.items():
            if k == "tokens":
                continue
            if not np.array_equal(v[0], v[1]):
                return f"{k}: {v[0]!r} != {v[1]!r}"
        if task == "ner" and n_tokens is not None and out["lengths"].tolist()[0] != n_tokens:
            return f"lengths {out['lengths'].tolist()}, want {n_tokens}"
        return None

    return check


def serving_text_cases(name: str, served: Served) -> list[Case]:
    from seqapps.data.text import UNICODE_SPACES

    task = served.task
    reference = served(["a short test input"])
    spaces = sorted(set(UNICODE_SPACES) - {" "})
    long_words = " ".join(["the", "Paris", "x" * 30] * (getattr(task.cfg, "max_length", 100) + 10))
    nfd = {
        "sentiment": (f"Das {NFD_GIRL} ist toll", f"Das {NFC_GIRL} ist toll"),
        "ner": (f"{NFD_GIRL} in Paris", f"{NFC_GIRL} in Paris"),
        "translation": (f"ein {NFD_GIRL} läuft .", f"ein {NFC_GIRL} läuft ."),
    }[name]
    batches: list[tuple[str, str, list, str]] = [
        ("empty batch", "[]", [], "zero rows, dtypes of a 1-row call"),
        ("empty string", "['']", [""], "one well-formed row"),
        ("whitespace only", "[' \\t\\u3000 ']", [" \t\u3000 "], "one well-formed row"),
        ("emoji only", "['😀👍🏽']", ["😀👍🏽"], "one well-formed row"),
        ("one token", "['Paris']", ["Paris"], "one well-formed row"),
        (
            "zero-width/bidi",
            "zwsp, zwj, LRM, RLO, LRI",
            ["a\u200bb \u200d\u200e\u202ec\u2066d"],
            "one row",
        ),
        ("control chars", "NUL BEL DEL", ["a\x00b \x07 c\x7f"], "one well-formed row"),
        ("BOM inside", "'\\ufeffParis'", ["\ufeffParis is big"], "one well-formed row"),
        ("past max_length", f"{len(long_words.split())} tokens", [long_words], "one row"),
        (
            "batch of 257",
            "257 short sentences",
            [f"sentence {i} about Paris" for i in range(257)],
            "257 rows",
        ),
        ("newline inside", "'Paris\\nLondon'", ["Paris\nLondon"], "one row"),
    ]
    cases = []
    for case_name, desc, batch, expected in batches:
        cases.append(
            Case(
                "serving",
                name,
                case_name,
                desc,
                expected,
                lambda b=batch: served(b),
                text_check(name, batch, reference),
            )
        )
    cases.append(
        Case(
            "serving",
            name,
            "invalid UTF-8",
            "[b'caf\\xe9 au lait', b'\\xff\\xfe']",
            "no crash, one row per input",
            lambda: served([b"caf\xe9 au lait", b"\xff\xfe"]),
            text_check(name, [None, None]),
            valid=False,
        )
    )
    cases.append(
        Case(
            "serving",
            name,
            "NBSP",
            "['New\\u00a0York', 'New York']",
            "same outputs" + (", 2 tokens" if name == "ner" else ""),
            lambda: served(["New\u00a0York", "New York"]),
            same_rows(name, 2),
        )
    )
    cases.append(
        Case(
            "serving",
            name,
            "NFD vs NFC",
            repr(list(nfd)),
            "same outputs",
            lambda: served(list(nfd)),
            same_rows(name),
        )
    )
    for sp in spaces:
        pair = [f"New{sp}York", "New York"]
        cases.append(
            Case(
                "serving",
                name,
                f"space U+{ord(sp):04X}",
                f"'New\\u{ord(sp):04x}York'",
                "same outputs as 'New York'",
                lambda p=pair: served(p),
                same_rows(name, 2),
            )
        )
    return cases


def serving_caption_cases(served: Served) -> list[Case]:
    good = (SAMPLES / "captioning" / "images").glob("*.jpg")
    sample = sorted(good)[0].read_bytes()
    tagged, viewed = exif_pair()
    broken = {
        "truncated JPEG": TRUNCATED_JPEG,
        "JPEG header + zeros": HEADER_AND_ZEROS,
        "random bytes": np.random.default_rng(0).bytes(300),
        "empty bytes": b"",
        "text": b"this is not an image\n",
    }
    goods = {
        "sample JPEG": sample,
        "PNG": PNG,
        "GIF": image_bytes("GIF", 2),
        "BMP": image_bytes("BMP", 3),
        "1x1 PNG": image_bytes("PNG", 4, (1, 1)),
        "grayscale PNG": image_bytes("PNG", 5, mode="L"),
        "RGBA PNG": image_bytes("PNG", 6, mode="RGBA"),
        "large JPEG 1200x1600": image_bytes("JPEG", 7, (1200, 1600)),
    }

    def decoded_as(flags: list[bool]):
        def check(out: dict) -> str | None:
            problem = rows_problem(out, len(flags))
            if problem:
                return problem
            if out["decoded"].tolist() != flags:
                return f"decoded {out['decoded'].tolist()}, want {flags}"
            bad = [c for c, ok in zip(out["captions"], flags, strict=True) if not ok and c != b""]
            return f"broken image captioned {bad}" if bad else None

        return check

    cases = [
        Case(
            "serving",
            "captioning",
            "empty batch",
            "[]",
            "zero rows (captions, decoded)",
            lambda: served([]),
            decoded_as([]),
        )
    ]
    for label, data in goods.items():
        cases.append(
            Case(
                "serving",
                "captioning",
                f"good {label}",
                f"{len(data)} bytes",
                "decoded True",
                lambda d=data: served([d]),
                decoded_as([True]),
            )
        )
    for label, data in broken.items():
        cases.append(
            Case(
                "serving",
                "captioning",
                label,
                f"{len(data)} bytes",
                "decoded False, caption ''",
                lambda d=data: served([d]),
                decoded_as([False]),
                valid=False,
            )
        )

    def mixed():
        batch = [sample, TRUNCATED_JPEG, PNG, b"", HEADER_AND_ZEROS]
        return served(batch), served([sample, PNG])

    def mixed_check(result) -> str | None:
        out, alone = result
        problem = decoded_as([True, False, True, False, False])(out)
        if problem:
            return problem
        got = [out["captions"][0], out["captions"][2]]
        return None if got == list(alone["captions"]) else f"{got} != {list(alone['captions'])}"

    cases.append(
        Case(
            "serving",
            "captioning",
            "mixed good and broken",
            "[jpeg, truncated, png, b'', header+zeros]",
            "good captions as without the broken; broken decoded False ''",
            mixed,
            mixed_check,
            valid=False,
        )
    )

    def exif_check(out: dict) -> str | None:
        if not out["decoded"].all():
            return f"decoded {out['decoded'].tolist()}"
        c = out["captions"]
        return None if c[0] == c[1] else f"{c[0]!r} != {c[1]!r}"

    cases.append(
        Case(
            "serving",
            "captioning",
            "EXIF orientation 6",
            "[tagged JPEG, upright PNG]",
            "same caption",
            lambda: served([tagged, viewed]),
            exif_check,
        )
    )
    return cases


def serving_forecast_cases(served: Served) -> list[Case]:
    from seqapps.data.prices import load_prices
    from seqapps.tasks.forecasting import INPUT_FIELDS

    task = served.task
    window = task.cfg.window
    cols = INPUT_FIELDS[task.cfg.inputs]
    series = load_prices(SAMPLES / "forecasting" / "prices.csv")[0]
    history = series.values[-(window + 20) :, cols].astype(np.float32)  # (window + 20, inputs)
    good = history[-window:]
    has_volume = 4 in cols

    def one(x: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float32)[None]

    def alone() -> np.ndarray:
        return served(one(good))["forecast"][0]

    def shape_ok(out: dict, n: int) -> str | None:
        problem = rows_problem(out, n)
        if problem:
            return problem
        if out["forecast"].shape[1:] != (task.cfg.horizon,):
            return f"forecast shape {out['forecast'].shape}"
        return None

    def good_check(out: dict) -> str | None:
        problem = shape_ok(out, 1)
        if problem:
            return problem
        if not (out["valid"].all() and np.isfinite(out["forecast"]).all()):
            return f"valid {out['valid']}, forecast {out['forecast']}"
        return None

    cases = [
        Case(
            "serving",
            "forecasting",
            "empty batch",
            f"(0, {window}, {len(cols)})",
            "zero rows",
            lambda: served(np.zeros((0, window, len(cols)))),
            lambda out: shape_ok(out, 0),
        ),
        Case(
            "serving",
            "forecasting",
            "empty batch, 0 days",
            f"(0, 0, {len(cols)})",
            "zero rows",
            lambda: served(np.zeros((0, 0, len(cols)))),
            lambda out: shape_ok(out, 0),
        ),
        Case(
            "serving",
            "forecasting",
            "good window",
            f"(1, {window}, {len(cols)}) AAPL",
            "valid, finite forecast",
            lambda: served(one(good)),
            good_check,
        ),
    ]

    def spoiled(label: str, value: float, col: int = -1, day: int = -1):
        bad = good.copy()
        bad[day, col if col >= 0 else (cols.index(3) if 3 in cols else 0)] = value
        return label, bad

    bads = [
        spoiled("NaN close", np.nan),
        spoiled("inf close", np.inf),
        spoiled("-inf close", -np.inf),
        spoiled("zero close", 0.0),
        spoiled("negative close", -3.0),
        spoiled("NaN on the first day of the window", np.nan, day=0),
        ("all zero row", np.zeros_like(good)),
    ]
    if has_volume:
        bads.append(spoiled("negative volume", -5.0, col=cols.index(4)))
        bads.append(spoiled("zero volume (valid)", 0.0, col=cols.index(4)))
    for label, bad in bads:
        is_valid = label.endswith("(valid)")

        def run(b=bad):
            return served(np.stack([good, b])), alone()

        def check(result, is_valid=is_valid):
            out, ref = result
            problem = shape_ok(out, 2)
            if problem:
                return problem
            if out["valid"].tolist() != [True, is_valid]:
                return f"valid {out['valid'].tolist()}, want [True, {is_valid}]"
            if not is_valid and not np.isnan(out["forecast"][1]).all():
                return f"invalid row forecast {out['forecast'][1]}, want NaN"
            if not np.allclose(out["forecast"][0], ref, rtol=1e-5):
                return f"good row changed: {out['forecast'][0]} vs alone {ref}"
            return None

        cases.append(
            Case(
                "serving",
                "forecasting",
                label,
                f"batch [good, {label}]",
                "that row valid False and NaN; the good row unchanged"
                if not is_valid
                else "both valid",
                run,
                check,
                valid=is_valid,
            )
        )
    for days in (window - 1, 1, 0):
        cases.append(
            Case(
                "serving",
                "forecasting",
                f"{days} days",
                f"(2, {days}, {len(cols)})",
                f"InvalidArgumentError 'the model reads the last {window} days, got {days}'",
                lambda d=days: served(np.ones((2, d, len(cols)))),
                error=rf"the model reads the last {window} days, got {days}",
                tf_error=True,
                valid=False,
            )
        )
    for extra in (1, 20):
        longer = history[-(window + extra) :]

        def run_long(x=longer):
            return served(one(x)), alone()

        def long_check(result):
            out, ref = result
            problem = good_check(out)
            if problem:
                return problem
            return (
                None
                if np.allclose(out["forecast"][0], ref, rtol=1e-5)
                else (f"{out['forecast'][0]} != trimmed {ref}")
            )

        cases.append(
            Case(
                "serving",
                "forecasting",
                f"{window + extra} days",
                "a longer window",
                "the trimmed window's forecast",
                run_long,
                long_check,
            )
        )
    older_nan = history[-(window + 5) :].copy()
    older_nan[0] = np.nan

    def run_older():
        return served(one(older_nan)), alone()

    def older_check(result):
        out, ref = result
        if not out["valid"].all():
            return f"valid {out['valid'].tolist()} (the NaN is before the window)"
        return None if np.allclose(out["forecast"][0], ref, rtol=1e-5) else "not the trimmed"

    cases.append(
        Case(
            "serving",
            "forecasting",
            "NaN before the window",
            f"{window + 5} days, day 0 NaN",
            "valid, the trimmed window's forecast",
            run_older,
            older_check,
        )
    )
    return cases


# --- predict / CLI -------------------------------------------------------------------------
def cli_cases(exports: dict[str, Path], work: Path) -> list[Case]:
    from seqapps.rundir import RunLock

    cases: list[Case] = []
    seed_error = r"seed must be an integer in \[0, 4294967295\]"
    for name in TASK_NAMES:
        for seed in ("-1", str(2**32)):
            run_dir = work / f"seed-{name}-{seed}"
            args = ["train", name, *overrides(name), f"seed={seed}", "--run-dir", str(run_dir)]
            cases.append(
                Case(
                    "cli",
                    name,
                    f"train seed={seed}",
                    f"seed={seed}",
                    "one-line error",
                    lambda a=args: cli(a),
                    error=seed_error,
                    valid=False,
                )
            )
    texts = {
        "Paris": ["Paris"],
        "empty string": [""],
        "emoji": ["😀👍🏽"],
        "NBSP": ["New\u00a0York"],
        "two inputs": ["John lives in Paris .", "what a day"],
    }
    for name in TEXT_TASKS:
        if name not in exports:
            continue
        for label, inputs in texts.items():
            cases.append(
                Case(
                    "cli",
                    name,
                    f"predict {label}",
                    repr(inputs),
                    f"exit 0, {len(inputs)} lines",
                    lambda n=name, i=inputs: cli(["predict", str(exports[n]), *i]),
                    lines_out(len(inputs)),
                )
            )
        cases.append(
            Case(
                "cli",
                name,
                "predict non-UTF-8 argument (in process)",
                "'bad \\udcff' (surrogate)",
                "one-line error naming input 1",
                lambda n=name: cli(["predict", str(exports[n]), "bad \udcff"]),
                error=r"input 1 is not valid UTF-8",
                valid=False,
            )
        )
        cases.append(
            Case(
                "cli",
                name,
                "predict non-UTF-8 stdin line",
                "stdin b'ok\\nbad \\xff\\n'",
                "one-line error naming stdin line 2",
                lambda n=name: cli(["predict", str(exports[n])], stdin=b"ok\nbad \xff\n"),
                error=r"stdin line 2 is not valid UTF-8",
                valid=False,
            )
        )
        cases.append(
            Case(
                "cli",
                name,
                "predict stdin with BOM and CRLF",
                "stdin BOM + 'a\\r\\n\\r\\nb\\r\\n'",
                "exit 0, 2 lines",
                lambda n=name: cli(["predict", str(exports[n])], stdin=BOM + b"a\r\n\r\nb\r\n"),
                lines_out(2),
            )
        )
        cases.append(
            Case(
                "cli",
                name,
                "predict empty stdin",
                "stdin b''",
                "one-line error: no inputs",
                lambda n=name: cli(["predict", str(exports[n])], stdin=b""),
                error="no inputs",
                valid=False,
            )
        )
    if "sentiment" in exports:
        cases.append(
            Case(
                "cli",
                "sentiment",
                "predict non-UTF-8 argument bytes (subprocess)",
                "argv b'bad \\xff'",
                "one-line error naming input 1",
                lambda: subprocess_cli(["predict", str(exports["sentiment"]), b"bad \xff"]),
                error=r"input 1 is not valid UTF-8",
                valid=False,
            )
        )
    if "captioning" in exports:
        folder = work / "predict-images"
        folder.mkdir(parents=True, exist_ok=True)
        files = {
            "good.jpg": JPEG,
            "good.png": PNG,
            "cut.jpg": TRUNCATED_JPEG,
            "zeros.jpg": HEADER_AND_ZEROS,
            "notes.txt": b"not an image\n",
            "empty.jpg": b"",
        }
        for fname, data in files.items():
            (folder / fname).write_bytes(data)
        export = str(exports["captioning"])
        for fname in files:
            path = str(folder / fname)
            ok = fname.startswith("good")
            cases.append(
                Case(
                    "cli",
                    "captioning",
                    f"predict {fname}",
                    fname,
                    "exit 0, 1 line" if ok else "one-line error naming the file",
                    lambda p=path: cli(["predict", export, p]),
                    lines_out(1) if ok else None,
                    error=None if ok else re.escape(path),
                    valid=ok,
                )
            )
        missing = str(folder / "missing.jpg")
        cases.append(
            Case(
                "cli",
                "captioning",
                "predict missing file",
                "missing.jpg",
                "one-line error naming the file",
                lambda: cli(["predict", export, missing]),
                error=re.escape(missing),
                valid=False,
            )
        )
        both = [str(folder / "good.jpg"), str(folder / "cut.jpg")]
        cases.append(
            Case(
                "cli",
                "captioning",
                "predict good + truncated",
                "good.jpg cut.jpg",
                "one-line error naming cut.jpg",
                lambda: cli(["predict", export, *both]),
                error=re.escape(both[1]),
                valid=False,
            )
        )
    if "forecasting" in exports:
        cases += forecast_cli_cases(exports["forecasting"], work)
    cases += train_cli_cases(work, RunLock)
    return cases


def forecast_cli_cases(export: Path, work: Path) -> list[Case]:
    folder = work / "predict-prices"
    folder.mkdir(parents=True, exist_ok=True)
    lines = (SAMPLES / "forecasting" / "prices.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:]
    at = header.split(",").index("Name")
    ticker = sorted({r.split(",")[at] for r in rows})[0]
    mine = [r for r in rows if r.split(",")[at] == ticker][-30:]
    close_at = header.split(",").index("close")

    def with_close(value: str) -> list[str]:
        cells = mine[-1].split(",")
        cells[close_at] = value
        return [*mine[:-1], ",".join(cells)]

    files = {
        "good.csv": mine,
        "nan.csv": with_close("nan"),
        "inf.csv": with_close("inf"),
        "short.csv": mine[-3:],
        "zero.csv": with_close("0"),
    }
    cases = []
    last_line = len(mine) + 1
    for fname, body in files.items():
        path = folder / fname
        path.write_text("\n".join([header, *body]) + "\n", encoding="utf-8")
        ok = fname == "good.csv"
        if fname == "short.csv":
            error = rf"{re.escape(str(path))}: {ticker}"
        else:
            error = rf"{re.escape(str(path))}:{last_line}: {ticker}"
        cases.append(
            Case(
                "cli",
                "forecasting",
                f"predict {fname}",
                fname,
                "exit 0, 1 line" if ok else "one-line error naming file, line, ticker",
                lambda p=str(path): cli(["predict", str(export), p]),
                lines_out(1) if ok else None,
                error=None if ok else error,
                valid=ok,
            )
        )
    return cases


def train_cli_cases(work: Path, run_lock: type) -> list[Case]:
    cases = []
    run_dir = work / "retry"
    bad = ["train", "sentiment", *overrides("sentiment", data=str(work / "no-such-data"))]
    good = ["train", "sentiment", *overrides("sentiment")]
    cases.append(
        Case(
            "cli",
            "sentiment",
            "train with a wrong data path",
            "data=<missing folder>",
            "one-line error naming the path",
            lambda: cli([*bad, "--run-dir", str(run_dir)]),
            error="no-such-data",
            valid=False,
        )
    )

    def corrected_check(result) -> str | None:
        problem = lines_out(result[1].count("\n"))(result)
        if problem:
            return problem
        return None if (run_dir / "config.yaml").exists() else "no config.yaml in the run dir"

    cases.append(
        Case(
            "cli",
            "sentiment",
            "train corrected in the same run dir",
            "the right data path",
            "exit 0, a trained run",
            lambda: cli([*good, "--run-dir", str(run_dir)]),
            corrected_check,
        )
    )
    locked = work / "locked"

    def second_train():
        locked.mkdir(parents=True, exist_ok=True)
        with run_lock(locked):
            return cli([*good, "--run-dir", str(locked)])

    cases.append(
        Case(
            "cli",
            "sentiment",
            "train while the lock is held",
            "RunLock held on --run-dir",
            "one-line error: in use",
            second_train,
            error="in use",
            valid=False,
        )
    )
    missing = str(work / "no-such-run")
    for command in (["evaluate", missing], ["export", missing], ["predict", missing, "x"]):
        cases.append(
            Case(
                "cli",
                "-",
                f"{command[0]} on a missing dir",
                missing,
                "one-line error naming the dir",
                lambda c=command: cli(c),
                error=re.escape(missing),
                valid=False,
            )
        )
    for label, args, error in [
        ("unknown task", ["train", "nosuchtask"], "nosuchtask"),
        ("unknown key", ["train", "sentiment", "nosuchkey=1"], "nosuchkey"),
        ("wrong type", ["train", "sentiment", "epochs=abc"], "epochs"),
        ("bad config file", ["train", "sentiment", "--config", missing + ".yaml"], "no-such-run"),
    ]:
        cases.append(
            Case(
                "cli",
                "-",
                f"train {label}",
                " ".join(args[1:]),
                "one-line error",
                lambda a=args: cli([*a, "--run-dir", str(work / "never")]),
                error=error,
                valid=False,
            )
        )
    return cases


# --- loaders -------------------------------------------------------------------------------
def canon(value: Any) -> Any:
    """A comparable plain form of a loader's result (paths by name, arrays as text)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: canon(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): canon(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canon(v) for v in value]
    if isinstance(value, np.ndarray):
        return np.asarray(value).astype(str).tolist()
    if isinstance(value, Path):
        return value.name
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return {k: canon(v) for k, v in vars(value).items()}
    return value


@dataclasses.dataclass
class Kind:
    """One loadable file type: files of a valid folder, the file the variants change, how to
    load the folder, and the variants' truncation / missing-column edits (None: skip)."""

    name: str
    files: Callable[[], dict[str, str]]
    target: str
    load: Callable[[Path], Any]
    cut_last: Callable[[str], str] | None = None  # the last line, truncated (an error)
    drop_column: Callable[[str], str] | None = None  # the target without a needed column
    images: bool = False
    empty_is_nothing: bool = False  # an empty file is valid and holds nothing


def _rows(n: int, fmt: str) -> str:
    return "".join(fmt.format(i=i) for i in range(n))


def _conll() -> dict[str, str]:
    body = (
        "-DOCSTART- -X- O O\n\nEU NNP I-NP B-ORG\nrejects VBZ I-VP O\n"
        f"{NFC_GIRL} NN I-NP O\nGerman JJ I-NP B-MISC\n. . O O\n\n"
        "Peter NNP I-NP B-PER\nBlackburn NNP I-NP I-PER\n"
    )
    return {"x.conll": body}


def _tweeteval() -> dict[str, str]:
    files = {"mapping.txt": "0\tnegative\n1\tneutral\n2\tpositive\n"}
    for split, n in (("train", 9), ("val", 3), ("test", 3)):
        texts = [f"tweet {i} {NFC_GIRL} #{split}" for i in range(n)]
        files[f"{split}_text.txt"] = "".join(t + "\n" for t in texts)
        files[f"{split}_labels.txt"] = "".join(f"{i % 3}\n" for i in range(n))
    return files


def _delimited(sep: str) -> Callable[[], dict[str, str]]:
    labels = ["negative", "neutral", "positive"]
    body = f"text{sep}label\n" + "".join(
        f"tweet {i} about {NFC_GIRL}{sep}{labels[i % 3]}\n" for i in range(20)
    )
    return lambda: {f"t.{'tsv' if sep == chr(9) else 'csv'}": body}


def _aligned() -> dict[str, str]:
    return {
        "train.de": _rows(6, "ein " + NFC_GIRL + " {i} läuft .\n"),
        "train.en": _rows(6, "a girl {i} runs .\n"),
    }


def _flickr() -> dict[str, str]:
    return {"Flickr8k.token.txt": _rows(3, "im{i}.png#0\ta " + NFC_GIRL + " {i} runs .\n")}


def _coco() -> dict[str, str]:
    doc = {
        "images": [{"id": i, "file_name": f"im{i}.png"} for i in range(3)],
        "annotations": [{"image_id": i, "caption": f"a {NFC_GIRL} {i}"} for i in range(3)],
    }
    return {"captions.json": json.dumps(doc, indent=1, ensure_ascii=False) + "\n"}


def _caption_tsv() -> dict[str, str]:
    return {"captions.tsv": _rows(3, "im{i}.png\ta " + NFC_GIRL + " {i} runs .\n")}


LONG_HEADER = "date,open,high,low,close,volume,Name\n"


def _long() -> dict[str, str]:
    rows = ""
    for t, ticker in enumerate(["AAA", "MÄD"]):
        for d in range(12):
            c = 10 + t + d * 0.5
            rows += f"2020-01-{d + 1:02d},{c},{c + 1},{c - 1},{c + 0.25},{1000 + d},{ticker}\n"
    return {"prices.csv": LONG_HEADER + rows}


def _wide() -> dict[str, str]:
    return {"wide.csv": "date,AAA,MÄD\n" + _rows(9, "2020-01-1{i},1{i}.5,2{i}.25\n")}


def _drop_csv_column(name: str, sep: str = ","):
    def drop(text: str) -> str:
        lines = text.splitlines()
        at = lines[0].split(sep).index(name)
        return "".join(
            sep.join(c for j, c in enumerate(row.split(sep)) if j != at) + "\n" for row in lines
        )

    return drop


def kinds() -> list[Kind]:
    from seqapps.data.captions import load_caption_file, read_coco_captions, read_flickr8k_captions
    from seqapps.data.classification import load_delimited, load_tweeteval
    from seqapps.data.conll import read_conll
    from seqapps.data.parallel import read_aligned, read_tsv
    from seqapps.data.prices import load_prices

    split = {"val_fraction": 0.2, "test_fraction": 0.2, "seed": 0}
    thirds = {"val_fraction": 0.34, "test_fraction": 0.34, "seed": 0}
    first_field = lambda line: line.split("\t")[0]  # noqa: E731
    return [
        Kind(
            "conll",
            _conll,
            "x.conll",
            lambda d: read_conll(d / "x.conll"),
            cut_last=lambda line: line.rsplit(" ", 1)[0],
            drop_column=lambda t: t.replace("rejects VBZ I-VP O", "rejects VBZ O"),
        ),
        Kind("tweeteval text", _tweeteval, "train_text.txt", load_tweeteval),
        Kind("tweeteval labels", _tweeteval, "train_labels.txt", load_tweeteval),
        Kind(
            "tweeteval mapping",
            _tweeteval,
            "mapping.txt",
            load_tweeteval,
            cut_last=lambda line: line.split("\t")[0],
            drop_column=lambda t: t.replace("1\tneutral", "1"),
        ),
        Kind(
            "csv",
            _delimited(","),
            "t.csv",
            lambda d: load_delimited(d / "t.csv", **split),
            cut_last=lambda line: line.split(",")[0],
            drop_column=_drop_csv_column("label"),
        ),
        Kind(
            "tsv",
            _delimited("\t"),
            "t.tsv",
            lambda d: load_delimited(d / "t.tsv", **split),
            cut_last=first_field,
            drop_column=_drop_csv_column("label", "\t"),
        ),
        Kind(
            "parallel aligned",
            _aligned,
            "train.de",
            lambda d: read_aligned(d / "train.de", d / "train.en"),
        ),
        Kind(
            "parallel tsv",
            lambda: {"p.tsv": _aligned()["train.de"].replace(" läuft .\n", "\ta run .\n")},
            "p.tsv",
            lambda d: read_tsv(d / "p.tsv"),
            cut_last=first_field,
            drop_column=lambda t: "".join(first_field(line) + "\n" for line in t.splitlines()),
        ),
        Kind(
            "flickr8k tokens",
            _flickr,
            "Flickr8k.token.txt",
            lambda d: read_flickr8k_captions(d / "Flickr8k.token.txt"),
            cut_last=first_field,
            drop_column=lambda t: "".join(first_field(line) + "\n" for line in t.splitlines()),
            empty_is_nothing=True,
        ),
        Kind(
            "coco json",
            _coco,
            "captions.json",
            lambda d: read_coco_captions(d / "captions.json", d),
            cut_last=lambda line: "",
            drop_column=lambda t: t.replace('"caption"', '"title"'),
            images=True,
        ),
        Kind(
            "caption tsv",
            _caption_tsv,
            "captions.tsv",
            lambda d: load_caption_file(d / "captions.tsv", **thirds),
            cut_last=first_field,
            drop_column=lambda t: "".join(first_field(line) + "\n" for line in t.splitlines()),
            images=True,
        ),
        Kind(
            "prices long",
            _long,
            "prices.csv",
            lambda d: load_prices(d / "prices.csv"),
            cut_last=lambda line: ",".join(line.split(",")[:3]),
            drop_column=_drop_csv_column("close"),
        ),
        Kind(
            "prices wide",
            _wide,
            "wide.csv",
            lambda d: load_prices(d / "wide.csv"),
            cut_last=lambda line: line[:9],
            drop_column=_drop_csv_column("date"),
        ),
    ]


def write_folder(folder: Path, kind: Kind, target: bytes | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in kind.files().items():
        data = target if (name == kind.target and target is not None) else text.encode()
        (folder / name).write_bytes(data)
    if kind.images:
        for i in range(3):
            (folder / f"im{i}.png").write_bytes(image_bytes("PNG", 10 + i))
    return folder


def loader_variant_cases(work: Path) -> list[Case]:
    cases = []
    for n, kind in enumerate(kinds()):
        base = kind.files()[kind.target]
        slug = f"{n:02d}"

        def reference(kind=kind, slug=slug):
            return canon(kind.load(write_folder(work / f"{slug}-ref", kind)))

        def load_variant(data: bytes, tag: str, kind=kind, slug=slug):
            return kind.load(write_folder(work / f"{slug}-{tag}", kind, data))

        def same(tag: str, data: bytes, ref=reference, load=load_variant, slug=slug):
            def run():
                got = json.dumps(canon(load(data, tag)))
                want = json.dumps(ref())
                # Paths name the case's folder: compare them as if in one folder.
                got = got.replace(str(work / f"{slug}-{tag}"), "<dir>")
                return got, want.replace(str(work / f"{slug}-ref"), "<dir>")

            return run

        def same_check(result) -> str | None:
            got, want = result
            if got == want:
                return None
            at = next(
                i for i, (a, b) in enumerate(zip(got + " ", want + " ", strict=False)) if a != b
            )
            return f"differs from the plain file at ...{got[max(at - 40, 0) : at + 40]!r}"

        target_path = lambda tag, kind=kind, slug=slug: str(work / f"{slug}-{tag}" / kind.target)  # noqa: E731
        variants: list[tuple[str, str, bytes]] = [
            ("BOM", "UTF-8 BOM in front", BOM + base.encode()),
            ("CRLF", "CRLF line endings", base.replace("\n", "\r\n").encode()),
            ("no final newline", "last newline removed", base.rstrip("\n").encode()),
        ]
        for tag, desc, data in variants:
            cases.append(
                Case(
                    "loader",
                    kind.name,
                    tag,
                    desc,
                    "same as the plain file",
                    same(tag, data),
                    same_check,
                )
            )
        if NFC_GIRL in base:
            nfd = base.replace(NFC_GIRL, NFD_GIRL).encode()
            cases.append(
                Case(
                    "loader",
                    kind.name,
                    "NFD text",
                    "'Ma\\u0308dchen' (decomposed)",
                    "the NFC file's result",
                    same("nfd", nfd),
                    same_check,
                )
            )
        lines = base.splitlines(keepends=True)
        at = next((i for i, line in enumerate(lines) if NFC_GIRL in line), 1)
        raw = [line.encode() for line in lines]
        if NFC_GIRL in lines[at]:
            raw[at] = raw[at].replace("ä".encode(), b"\xff", 1)
        else:
            raw[at] = b"\xff" + raw[at]
        latin = b"".join(raw)
        cases.append(
            Case(
                "loader",
                kind.name,
                "non-UTF-8 line",
                f"byte 0xff on line {at + 1}",
                f"DataError naming the file and line {at + 1}",
                lambda data=latin, load=load_variant: load(data, "latin"),
                error=re.escape(f"{target_path('latin')}:{at + 1}:"),
                valid=False,
            )
        )
        if kind.empty_is_nothing:
            cases.append(
                Case(
                    "loader",
                    kind.name,
                    "empty file",
                    "0 bytes",
                    "nothing read",
                    lambda load=load_variant: canon(load(b"", "empty")),
                    lambda got: None if not got else f"read {got!r}",
                )
            )
        else:
            cases.append(
                Case(
                    "loader",
                    kind.name,
                    "empty file",
                    "0 bytes",
                    "DataError naming the file",
                    lambda load=load_variant: load(b"", "empty"),
                    error=re.escape(kind.target),
                    valid=False,
                )
            )
        if kind.cut_last is not None:
            cut = "".join(lines[:-1]) + kind.cut_last(lines[-1].rstrip("\n"))
            cut_bytes = cut.encode()
            where = "" if kind.name == "coco json" else f":{len(lines)}"
            cases.append(
                Case(
                    "loader",
                    kind.name,
                    "truncated last line",
                    repr(cut.splitlines()[-1][:40]),
                    f"DataError naming the file{' and last line' if where else ''}",
                    lambda data=cut_bytes, load=load_variant: load(data, "cut"),
                    error=re.escape(f"{target_path('cut')}{where}"),
                    valid=False,
                )
            )
        if kind.drop_column is not None:
            dropped = kind.drop_column(base).encode()
            cases.append(
                Case(
                    "loader",
                    kind.name,
                    "missing column",
                    "a needed column left out",
                    "DataError naming the file",
                    lambda data=dropped, load=load_variant: load(data, "nocol"),
                    error=re.escape(target_path("nocol")),
                    valid=False,
                )
            )
    cases += aligned_cases(work)
    return cases


def aligned_cases(work: Path) -> list[Case]:
    from seqapps.data.parallel import read_aligned

    folder = work / "aligned-extra"
    folder.mkdir(parents=True, exist_ok=True)
    de, en = folder / "a.de", folder / "a.en"
    de.write_text("ein Hund .\nzwei Hunde .\ndrei Hunde .\n", encoding="utf-8")
    en.write_text("a dog .\ntwo dogs .\n", encoding="utf-8")
    return [
        Case(
            "loader",
            "parallel aligned",
            "a line short",
            "3 sources, 2 targets",
            "DataError naming the files",
            lambda: read_aligned(de, en),
            error=re.escape(de.name),
            valid=False,
        )
    ]


def price_cases(work: Path) -> list[Case]:
    from seqapps.data.prices import load_prices

    folder = work / "prices"
    folder.mkdir(parents=True, exist_ok=True)

    def write(name: str, text: str) -> Path:
        (folder / name).write_text(text, encoding="utf-8")
        return folder / name

    start = np.datetime64("2020-01-01")
    lines = ["date,AAA,LATE"]
    for i in range(300):
        lines.append(f"{start + i},{10 + i * 0.01:.2f},{'' if i < 200 else f'{50 + i:.2f}'}")
    late = write("late.csv", "\n".join(lines) + "\n")

    def late_check(series) -> str | None:
        by = {s.ticker: s for s in series}
        s = by["LATE"]
        if len(s) != 100 or str(s.dates[0]) != str(start + 200):
            return f"LATE: {len(s)} rows from {s.dates[0]}, want 100 from {start + 200}"
        if not np.isfinite(s.values[:, 3]).all() or s.values[0, 3] != 250.0:
            return f"LATE closes {s.values[:3, 3]}"
        return None

    def long_file(name: str, last: str) -> Path:
        body = "".join(f"2020-01-{d + 1:02d},10,11,9,{10 + d},100,A\n" for d in range(3))
        return write(name, LONG_HEADER + body + last)

    inf = long_file("inf.csv", "2020-01-04,10,11,9,inf,100,A\n")
    neg = long_file("negvol.csv", "2020-01-04,10,11,9,10,-5,A\n")
    nan = long_file("nan.csv", "2020-01-04,10,11,9,nan,100,A\n2020-01-05,10,11,9,13,100,A\n")
    zero = long_file("zero.csv", "2020-01-04,10,11,9,0,100,A\n")
    unsorted = long_file("unsorted.csv", "2020-01-02,10,11,9,10,100,A\n")
    wide_inf = write("wide_inf.csv", "date,AAA,BBB\n2020-01-01,1,2\n2020-01-02,3,inf\n")

    def ffilled(series) -> str | None:
        s = series[0]
        if len(s) == 5 and s.values[3, 3] == 12:
            return None
        return f"{len(s)} rows, closes {s.values[:, 3].tolist()}"

    return [
        Case(
            "loader",
            "prices",
            "wide late ticker, fill=ffill",
            "LATE starts 200 rows late",
            "LATE: 100 rows from its first price",
            lambda: load_prices(late, fill="ffill"),
            late_check,
        ),
        Case(
            "loader",
            "prices",
            "wide late ticker, fill=drop",
            "LATE starts 200 rows late",
            "LATE: 100 rows from its first price",
            lambda: load_prices(late, fill="drop"),
            late_check,
        ),
        Case(
            "loader",
            "prices",
            "wide late ticker, fill=error",
            "LATE starts 200 rows late",
            "DataError naming file and line",
            lambda: load_prices(late),
            error=re.escape(f"{late}:2"),
            valid=False,
        ),
        Case(
            "loader",
            "prices",
            "inf close (long)",
            "close 'inf'",
            "DataError naming file, line, ticker",
            lambda: load_prices(inf, fill="ffill"),
            error=re.escape(f"{inf}:5: A"),
            valid=False,
        ),
        Case(
            "loader",
            "prices",
            "inf close (wide)",
            "close 'inf'",
            "DataError naming file, line, ticker",
            lambda: load_prices(wide_inf, fill="ffill"),
            error=re.escape(f"{wide_inf}:3: BBB"),
            valid=False,
        ),
        Case(
            "loader",
            "prices",
            "negative volume (ohlcv)",
            "volume -5",
            "DataError naming file, line, ticker",
            lambda: load_prices(neg, fill="ffill"),
            error=re.escape(f"{neg}:5: A"),
            valid=False,
        ),
        Case(
            "loader",
            "prices",
            "zero close",
            "close 0",
            "DataError naming file, line",
            lambda: load_prices(zero),
            error=re.escape(f"{zero}:5: A"),
            valid=False,
        ),
        Case(
            "loader",
            "prices",
            "nan close, fill=error",
            "close 'nan'",
            "DataError naming file, line",
            lambda: load_prices(nan),
            error=re.escape(f"{nan}:5: A"),
            valid=False,
        ),
        Case(
            "loader",
            "prices",
            "nan close, fill=ffill",
            "close 'nan'",
            "5 rows, day 4's close carried forward (12)",
            lambda: load_prices(nan, fill="ffill"),
            ffilled,
        ),
        Case(
            "loader",
            "prices",
            "dates out of order",
            "2020-01-02 after 2020-01-03",
            "DataError naming file, line",
            lambda: load_prices(unsorted),
            error=re.escape(f"{unsorted}:5"),
            valid=False,
        ),
        Case(
            "loader",
            "prices",
            "missing file",
            "no such file",
            "DataError naming it",
            lambda: load_prices(folder / "none.csv"),
            error="none.csv",
            valid=False,
        ),
    ]


def caption_image_cases(work: Path) -> list[Case]:
    from seqapps.data.captions import load_flickr8k, read_caption_tsv, read_coco_captions

    tagged, _ = exif_pair()
    cases = []

    def flickr(folder: Path, bad: bytes | None) -> Path:
        (folder / "images").mkdir(parents=True, exist_ok=True)
        lines = []
        for split, names in {"train": ["a", "b"], "dev": ["c"], "test": ["d"]}.items():
            (folder / f"Flickr_8k.{split}Images.txt").write_text(
                "".join(f"{n}.jpg\n" for n in names), encoding="utf-8"
            )
            for n in names:
                data = bad if n == "b" else JPEG
                if data is not None:
                    (folder / "images" / f"{n}.jpg").write_bytes(data)
                lines += [f"{n}.jpg#0\t{n} first ."]
        (folder / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return folder

    def tsv(folder: Path, bad: bytes | None) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "a.jpg").write_bytes(JPEG)
        if bad is not None:
            (folder / "b.jpg").write_bytes(bad)
        (folder / "c.tsv").write_text("a.jpg\ta dog .\nb.jpg\ta cat .\n", encoding="utf-8")
        return folder / "c.tsv"

    def coco(folder: Path, bad: bytes | None) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "a.jpg").write_bytes(JPEG)
        if bad is not None:
            (folder / "b.jpg").write_bytes(bad)
        doc = {
            "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
            "annotations": [{"image_id": 1, "caption": "a dog"}, {"image_id": 2, "caption": "x"}],
        }
        (folder / "c.json").write_text(json.dumps(doc), encoding="utf-8")
        return folder / "c.json"

    readers = {
        "flickr8k": (flickr, lambda p, s: load_flickr8k(p, skip_missing=s).train, "images/b.jpg"),
        "caption tsv": (tsv, lambda p, s: read_caption_tsv(p, skip_missing=s), "b.jpg"),
        "coco json": (coco, lambda p, s: read_coco_captions(p, p.parent, skip_missing=s), "b.jpg"),
    }
    broken = {
        "truncated JPEG": TRUNCATED_JPEG,
        "header + zeros": HEADER_AND_ZEROS,
        "missing image": None,
    }
    for reader, (make, load, bad_name) in readers.items():
        for label, data in broken.items():
            slug = f"{reader}-{label}".replace(" ", "_").replace("+", "")
            path = make(work / slug, data)
            cases.append(
                Case(
                    "loader",
                    f"captions {reader}",
                    label,
                    f"{bad_name}: {label}",
                    "DataError naming the image",
                    lambda p=path, ld=load: ld(p, False),
                    error=re.escape(bad_name),
                    valid=False,
                )
            )

            def skipped(part) -> str | None:
                ok = len(part.images) == 1 and part.skipped_missing == 1
                return None if ok else f"{len(part.images)} images, {part.skipped_missing} skipped"

            cases.append(
                Case(
                    "loader",
                    f"captions {reader}",
                    f"{label}, skip_missing",
                    label,
                    "1 image loaded, 1 counted skip",
                    lambda p=path, ld=load: ld(p, True),
                    skipped,
                )
            )
    exif_dir = work / "exif"
    exif_path = tsv(exif_dir, tagged)
    cases.append(
        Case(
            "loader",
            "captions caption tsv",
            "EXIF-oriented JPEG",
            "orientation 6 JPEG",
            "2 images loaded",
            lambda: read_caption_tsv(exif_path),
            lambda part: None if len(part.images) == 2 else f"{len(part.images)} images",
        )
    )
    return cases


def loader_cases(work: Path) -> list[Case]:
    return [*loader_variant_cases(work), *price_cases(work), *caption_image_cases(work)]


# --- the run ---------------------------------------------------------------------------------
def train_and_export(tasks: list[str], root: Path) -> dict[str, Path]:
    """One tiny run per task, trained on the packaged sample and exported; their versions."""
    from seqapps import config as config_lib
    from seqapps.export import export
    from seqapps.tasks import TASKS
    from seqapps.trainer import train

    exports = {}
    for name in tasks:
        started = time.perf_counter()
        cls = TASKS[name]
        extra = {"feature_cache": str(root / name / "features")} if name == "captioning" else {}
        task = cls(config_lib.resolve(cls.config_class, None, overrides(name, **extra)))
        with contextlib.redirect_stdout(io.StringIO()):
            train(task, root / name / "run")
            exports[name] = export(root / name / "run", root / name / "models")
        print(f"trained and exported {name} in {time.perf_counter() - started:.0f} s", flush=True)
    return exports


def all_cases(groups: list[str], tasks: list[str], work: Path) -> tuple[list[Case], dict]:
    cases: list[Case] = []
    exports: dict[str, Path] = {}
    if "serving" in groups or "cli" in groups:
        exports = train_and_export(tasks, work / "runs")
    if "serving" in groups:
        for name in tasks:
            served = Served(exports[name])
            if name in TEXT_TASKS:
                cases += serving_text_cases(name, served)
            elif name == "captioning":
                cases += serving_caption_cases(served)
            elif name == "forecasting":
                cases += serving_forecast_cases(served)
    if "cli" in groups:
        cases += cli_cases(exports, work / "cli")
    if "loader" in groups:
        cases += loader_cases(work / "loaders")
    return cases, exports


def run_cases(cases: list[Case], verbose: bool = False) -> list[dict]:
    results = []
    for case in cases:
        outcome, detail = classify(case)
        results.append(
            {
                "group": case.group,
                "task": case.task,
                "name": case.name,
                "input": case.input,
                "expected": case.expected,
                "outcome": outcome,
                "detail": detail,
            }
        )
        if verbose or outcome in ("crash", "silent_misread", "refused_valid"):
            print(f"  {outcome:15s} {case.group}/{case.task}/{case.name}: {detail}", flush=True)
    return results


def totals(results: list[dict]) -> dict:
    def count(rows: list[dict]) -> dict[str, int]:
        out = {"inputs": len(rows)}
        out.update({o: sum(r["outcome"] == o for r in rows) for o in OUTCOMES})
        return out

    unmatched = [r for r in results if "[message does not match" in r["detail"]]
    return {
        "all": count(results),
        "by_group": {g: count([r for r in results if r["group"] == g]) for g in GROUPS},
        "by_task": {
            t: count([r for r in results if r["task"] == t])
            for t in sorted({r["task"] for r in results})
        },
        "clear_errors_with_unexpected_message": len(unmatched),
    }


def table(out: dict) -> str:
    head = "| | inputs | " + " | ".join(OUTCOMES) + " |"
    lines = [head, "|---|" + "---:|" * (len(OUTCOMES) + 1)]
    rows = [(g, v) for g, v in out["totals"]["by_group"].items() if v["inputs"]]
    rows += [(f"task {t}", v) for t, v in out["totals"]["by_task"].items()]
    rows.append(("**all**", out["totals"]["all"]))
    for label, v in rows:
        lines.append(
            f"| {label} | {v['inputs']} | " + " | ".join(str(v[o]) for o in OUTCOMES) + " |"
        )
    return "\n".join(lines)


def git_commit() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.battery",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", help="output JSON file")
    parser.add_argument("--groups", default=",".join(GROUPS), help="serving,cli,loader")
    parser.add_argument("--tasks", default=",".join(TASK_NAMES), help="tasks to train")
    parser.add_argument("--work", help="scratch directory (default: a temporary one)")
    parser.add_argument("--verbose", action="store_true", help="print every case")
    args = parser.parse_args(argv)
    groups = args.groups.split(",")
    tasks = args.tasks.split(",")
    from benchmarks.common import machine

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="battery-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        cases, _ = all_cases(groups, tasks, work)
        print(f"running {len(cases)} cases", flush=True)
        results = run_cases(cases, args.verbose)
    out = {
        "command": "python -m benchmarks.battery "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "totals": totals(results),
        "cases": results,
        "commit": git_commit(),
        "tiny_settings": TINY,
        "wall_seconds": round(time.perf_counter() - started, 1),
        **machine(),
    }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    print(table(out))


if __name__ == "__main__":
    main()
