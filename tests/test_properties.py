"""Property-based tests (Hypothesis) of every serving signature, ``seqapps predict`` and loader.

Properties: no exception except the documented ones, one output row per input row, and
every loader failure a :class:`~seqapps.errors.SeqappsError` that names the file. The
``fast`` profile (``make test``) tries a few derandomized examples of each; ``make test-all``
runs the ``deep`` profile (see ``tests/conftest.py``).
"""

from __future__ import annotations

import io
import json
import os
import string
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from seqapps.data.captions import read_caption_tsv, read_coco_captions, read_flickr8k_captions
from seqapps.data.classification import load_delimited, load_tweeteval
from seqapps.data.conll import read_conll
from seqapps.data.parallel import read_aligned, read_tsv
from seqapps.data.prices import load_prices
from seqapps.data.text import UNICODE_SPACES
from seqapps.errors import DataError, SeqappsError
from seqapps.export import predict

from .conftest import SAMPLES, by_task

# --- inputs -----------------------------------------------------------------------------
# The characters that broke things: every Unicode space, combining marks, zero-width and
# bidirectional controls, a BOM, control characters, emoji (surrogates cannot be encoded).
ODD = (
    UNICODE_SPACES
    + "\u200b\u200c\u200d\u200e\u200f\u202e\u2066\u0301\u0308\ufeff\x00\x07\x7f😀👍🏽"
)
odd_text = st.text(
    st.one_of(st.sampled_from(ODD), st.characters(exclude_categories=("Cs",))), max_size=40
)
# Sentences long enough to pass max_length (tiny runs keep 30-100 tokens).
long_text = st.lists(
    st.sampled_from(["the", "a", "Paris", "New\u00a0York", "😀", "!", "Ma\u0308dchen", "x" * 50]),
    min_size=90,
    max_size=260,
).map(" ".join)
text_batches = st.lists(
    st.one_of(odd_text, long_text, st.just(""), st.just(" \u3000 ")), max_size=6
)
BATCH_257 = [f"sentence {i} about Paris" for i in range(257)]

TEXT_TASKS = ["sentiment", "ner", "translation"]
# Tests that reload an export per example get fewer examples in the fast profile.
FEW = settings(max_examples=30 if os.environ.get("HYPOTHESIS_PROFILE") == "deep" else 2)


@pytest.fixture(scope="module")
def servers(runs):
    """``servers(name)``: the task's session SavedModel, loaded on first use (``runs.loaded``)."""
    return runs.loaded


def rows(outputs: dict) -> set[int]:
    return {int(v.shape[0]) for v in outputs.values()}


# --- text serving -----------------------------------------------------------------------
@pytest.mark.parametrize("name", by_task(TEXT_TASKS))
@given(batch=text_batches)
@example(batch=[])
@example(batch=[""])
@example(batch=BATCH_257)
@example(batch=[b"\xff\xfe not UTF-8 \xc3", b"fine"])  # a client may send any bytes
def test_text_serving_answers_every_row(servers, name, batch):
    out = servers(name).serving_default(tf.constant(batch, tf.string))
    assert rows(out) == {len(batch)}
    if name == "ner":  # one tag per whitespace token, as Python splits
        assert out["lengths"].numpy().tolist() == [len(s.split()) for s in batch]
    if name == "sentiment":
        p = out["probabilities"].numpy()
        assert np.isfinite(p).all() and np.allclose(p.sum(axis=1), 1, atol=1e-4)


@pytest.mark.parametrize("name", by_task(TEXT_TASKS))
@FEW
@given(batch=st.lists(odd_text.filter(lambda t: "\n" not in t), min_size=1, max_size=3))
def test_predict_prints_one_line_per_text(runs, name, batch):
    lines = predict(runs.export(name), batch)
    assert len(lines) == len(batch)


# --- images -----------------------------------------------------------------------------
def _png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (8, 12, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


GOOD = _png(0)
image_bytes = st.one_of(
    st.binary(max_size=300),  # random bytes
    st.just(GOOD),
    st.integers(1, len(GOOD) - 1).map(lambda n: GOOD[:n]),  # truncated
    st.binary(min_size=1, max_size=64).map(lambda b: b"\xff\xd8\xff\xe0" + b),  # JPEG header + junk
)


@pytest.mark.xdist_group("captioning")
@given(batch=st.lists(image_bytes, max_size=5))
@example(batch=[])
@example(batch=[GOOD, b"", GOOD[:40]])
def test_caption_serving_answers_every_image(servers, batch):
    out = servers("captioning").serving_default(tf.constant(batch, tf.string))
    assert rows(out) == {len(batch)}
    decoded = out["decoded"].numpy()
    assert decoded[[i for i, b in enumerate(batch) if b == GOOD]].all()
    captions = [c.decode("utf-8") for c in out["captions"].numpy()]
    assert all(c == "" for c, ok in zip(captions, decoded, strict=True) if not ok)


@pytest.mark.xdist_group("captioning")
@FEW
@given(data=st.lists(image_bytes, min_size=1, max_size=3))
def test_predict_on_image_files_prints_or_names_the_file(runs, tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for i, content in enumerate(data):
        paths.append(folder / f"image{i}.jpg")
        paths[-1].write_bytes(content)
    try:
        lines = predict(runs.export("captioning"), [str(p) for p in paths])
    except DataError as e:
        assert any(str(p) in str(e) for p in paths), str(e)
    else:
        assert len(lines) == len(paths)


# --- prices -----------------------------------------------------------------------------
finite_or_not = st.one_of(
    st.floats(0.5, 500, width=32),
    st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -3.0]),
)


@pytest.mark.xdist_group("forecasting")
@given(
    batch=st.integers(0, 4),
    extra_days=st.integers(0, 5),
    values=st.lists(finite_or_not, min_size=1, max_size=40),
)
def test_forecast_serving_answers_every_window(runs, servers, batch, extra_days, values):
    task = runs.get("forecasting").task
    days, inputs = task.cfg.window + extra_days, task.serving_input.shape[-1]
    prices = np.resize(np.asarray(values, np.float32), (batch, days, inputs))
    out = servers("forecasting").serving_default(tf.constant(prices))
    assert rows(out) == {batch}
    last = prices[:, -task.cfg.window :]
    valid = np.isfinite(last).all(axis=(1, 2)) & (last > 0).all(axis=(1, 2))
    np.testing.assert_array_equal(out["valid"].numpy(), valid)
    forecast = out["forecast"].numpy()
    assert np.isfinite(forecast[valid]).all() and np.isnan(forecast[~valid]).all()


@pytest.mark.xdist_group("forecasting")
@given(days=st.integers(0, 9))
def test_forecast_serving_refuses_short_windows_as_documented(runs, servers, days):
    task = runs.get("forecasting").task
    prices = tf.ones([2, min(days, task.cfg.window - 1), task.serving_input.shape[-1]])
    with pytest.raises(tf.errors.InvalidArgumentError, match="the model reads the last"):
        servers("forecasting").serving_default(prices)


# --- loaders ----------------------------------------------------------------------------
def _mutate(content: bytes, how: str, at: float, junk: bytes) -> bytes:
    """One garbling of a valid file: cut, insert junk, drop or repeat a line, swap a field."""
    k = int(at * len(content))
    lines = content.split(b"\n")
    j = int(at * (len(lines) - 1))
    if how == "truncate":
        return content[:k]
    if how == "insert":
        return content[:k] + junk + content[k:]
    if how == "drop_line":
        return b"\n".join(lines[:j] + lines[j + 1 :])
    if how == "repeat_line":
        return b"\n".join(lines[: j + 1] + lines[j:])
    if how == "junk_line":
        return b"\n".join([*lines[:j], junk, *lines[j + 1 :]])
    fields = lines[j].replace(b"\t", b",").split(b",")  # "field": garble one field
    fields[int(at * (len(fields) - 1))] = junk
    return b"\n".join([*lines[:j], b",".join(fields), *lines[j + 1 :]])


mutations = st.tuples(
    st.sampled_from(["truncate", "insert", "drop_line", "repeat_line", "junk_line", "field"]),
    st.floats(0, 1),
    st.one_of(
        st.binary(max_size=12),
        st.text(string.printable + ODD, max_size=12).map(lambda t: t.encode("utf-8")),
        st.sampled_from([b"nan", b"inf", b"-1", b"", b"\t\t", b"\xef\xbb\xbf", b"\xff\xfe"]),
    ),
)


def _head(path: Path, n: int) -> bytes:
    return b"\n".join(path.read_bytes().split(b"\n")[:n]) + b"\n"


def _images(folder: Path) -> list[str]:
    names = []
    for i in range(3):
        (folder / f"im{i}.png").write_bytes(_png(i))
        names.append(f"im{i}.png")
    return names


def _caption_tsv(folder: Path) -> Path:
    path = folder / "captions.tsv"
    lines = [f"{n}\ta dog runs on the grass number {i}" for i, n in enumerate(_images(folder))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _coco(folder: Path) -> Path:
    names = _images(folder)
    doc = {
        "images": [{"id": i, "file_name": n} for i, n in enumerate(names)],
        "annotations": [{"image_id": i, "caption": f"a cat {i}"} for i in range(len(names))],
    }
    path = folder / "captions.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _tweeteval(folder: Path) -> Path:
    for name in (
        "mapping.txt",
        *(f"{s}_{k}.txt" for s in ("train", "val", "test") for k in ("text", "labels")),
    ):
        (folder / name).write_bytes(_head(SAMPLES / "sentiment" / name, 30))
    return folder / "train_labels.txt"  # the file the mutation garbles


# name -> (make a valid file in a folder and return the file to garble, load the folder/file)
LOADERS = {
    "conll": (
        lambda d: (
            (d / "x.conll").write_bytes(_head(SAMPLES / "ner" / "eng.train", 80)) and d / "x.conll"
        ),
        lambda p: read_conll(p),
    ),
    "tweeteval": (_tweeteval, lambda p: load_tweeteval(p.parent)),
    "delimited": (
        lambda d: (
            (d / "t.csv").write_text(
                "text,label\n" + "".join(f"tweet {i} is fine,{i % 3}\n" for i in range(30)),
                encoding="utf-8",
            )
            and d / "t.csv"
        ),
        lambda p: load_delimited(p),
    ),
    "parallel_tsv": (
        lambda d: (
            (d / "p.tsv").write_text(
                "".join(f"ein hund {i}\ta dog {i}\n" for i in range(20)), encoding="utf-8"
            )
            and d / "p.tsv"
        ),
        lambda p: read_tsv(p),
    ),
    "parallel_aligned": (
        lambda d: (
            (d / "train.de").write_bytes(_head(SAMPLES / "translation" / "train.de", 20))
            and (d / "train.en").write_bytes(_head(SAMPLES / "translation" / "train.en", 20))
            and d / "train.de"
        ),
        lambda p: read_aligned(p, p.with_suffix(".en")),
    ),
    "prices": (
        lambda d: (
            (d / "prices.csv").write_bytes(_head(SAMPLES / "forecasting" / "prices.csv", 60))
            and d / "prices.csv"
        ),
        lambda p: load_prices(p),
    ),
    "flickr_tokens": (
        lambda d: (
            (d / "Flickr8k.token.txt").write_bytes(
                _head(SAMPLES / "captioning" / "Flickr8k.token.txt", 20)
            )
            and d / "Flickr8k.token.txt"
        ),
        lambda p: read_flickr8k_captions(p),
    ),
    "caption_tsv": (_caption_tsv, lambda p: read_caption_tsv(p)),
    "coco_json": (_coco, lambda p: read_coco_captions(p, p.parent)),
}


@pytest.mark.parametrize("name", sorted(LOADERS))
@given(mutation=mutations)
def test_garbled_files_load_or_fail_naming_the_file(tmp_path_factory, name, mutation):
    make, load = LOADERS[name]
    folder = tmp_path_factory.mktemp(name)
    path = make(folder)
    load(path)  # the valid file loads
    path.write_bytes(_mutate(path.read_bytes(), *mutation))
    try:
        load(path)
    except SeqappsError as e:
        message = str(e)
        assert str(folder) in message, message  # names the file (or its folder's file)
        assert "\n" not in message, message  # one line
    # Any other exception type fails the test: that is the property.


def test_a_carriage_return_inside_a_csv_line_names_the_file_and_line(tmp_path):
    """Found by the deep profile: csv.Error ("new-line character seen in unquoted field")."""
    path = tmp_path / "t.csv"
    path.write_bytes(b"text,label\ngood one,1\nbad\rline,0\n")
    with pytest.raises(DataError, match=r"t.csv:3: not valid CSV"):
        load_delimited(path)
    prices = tmp_path / "p.csv"
    prices.write_bytes(b"date,close,Name\n2020-01-02,1.5,A\n2020-01-03\r,1.6,A\n")
    with pytest.raises(DataError, match=r"p.csv:3: not valid CSV"):
        load_prices(prices)
