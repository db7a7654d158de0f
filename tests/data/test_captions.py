"""Captioned-image loaders: Flickr8k, COCO JSON, image<TAB>caption files, and bad input."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seqapps.data.captions import (
    image_problems,
    load_flickr8k,
    read_caption_tsv,
    read_coco_captions,
    read_flickr8k_captions,
    read_image_files,
)
from seqapps.errors import DataError


def encoded(fmt: str = "JPEG", seed: int = 0) -> bytes:
    """A small random image: the loaders decode every image they load."""
    pixels = np.random.default_rng(seed).integers(0, 256, (24, 32, 3), np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt)
    return out.getvalue()


JPEG = encoded()
# The two broken JPEGs of issue #15: both start like a JPEG, and TensorFlow decodes neither.
TRUNCATED_JPEG = JPEG[: len(JPEG) // 2]
HEADER_AND_ZEROS = JPEG[:200] + bytes(4000)
FLICKR8K = Path(__file__).resolve().parents[2].parent / "shared/data/captioning/flickr8k"


def make_flickr8k(root: Path, missing: str | None = None) -> Path:
    (root / "images").mkdir(parents=True)
    lines = []
    for split, names in {"train": ["a", "b"], "dev": ["c"], "test": ["d"]}.items():
        (root / f"Flickr_8k.{split}Images.txt").write_text(
            "".join(f"{n}.jpg\n" for n in names), encoding="utf-8"
        )
        for n in names:
            if n != missing:
                (root / "images" / f"{n}.jpg").write_bytes(JPEG)
            # Out of order on purpose: captions are sorted by their #n.
            lines += [f"{n}.jpg#1\t{n} second .", f"{n}.jpg#0\t{n} first ."]
    (root / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_flickr8k_layout(tmp_path):
    data = load_flickr8k(make_flickr8k(tmp_path))
    assert [len(data.split(s)) for s in ("train", "val", "test")] == [2, 1, 1]
    assert data.train.images[1] == tmp_path / "images" / "b.jpg"
    assert data.train.captions[1] == ["b first .", "b second ."]


def test_missing_image_is_an_error_or_a_counted_skip(tmp_path):
    make_flickr8k(tmp_path, missing="b")
    with pytest.raises(DataError, match=r"images/b.jpg: image not found \(skip_missing"):
        load_flickr8k(tmp_path)
    data = load_flickr8k(tmp_path, skip_missing=True)
    assert len(data.train) == 1 and data.train.skipped_missing == 1


def test_a_file_that_is_not_an_image_is_an_error_naming_it(tmp_path):
    make_flickr8k(tmp_path)
    (tmp_path / "images" / "c.jpg").write_text("<html>404</html>", encoding="utf-8")
    with pytest.raises(DataError, match=r"images/c.jpg: not a JPEG, PNG, GIF or BMP image"):
        load_flickr8k(tmp_path)
    assert load_flickr8k(tmp_path, skip_missing=True).val.skipped_missing == 1


@pytest.mark.parametrize(
    "data", [TRUNCATED_JPEG, HEADER_AND_ZEROS, JPEG[:-2]], ids=["truncated", "zeros", "no-eoi"]
)
def test_an_image_that_does_not_decode_is_an_error_naming_it_or_a_counted_skip(tmp_path, data):
    """Issue #15: a JPEG header passes the first-bytes check; the decode check names it."""
    make_flickr8k(tmp_path)
    (tmp_path / "images" / "b.jpg").write_bytes(data)
    with pytest.raises(
        DataError,
        match=r"images/b.jpg: cannot be decoded \(truncated or corrupt image\) \(skip_missing",
    ):
        load_flickr8k(tmp_path)
    data = load_flickr8k(tmp_path, skip_missing=True)
    assert data.train.images == [tmp_path / "images" / "a.jpg"]
    assert data.train.skipped_missing == 1 and data.val.skipped_missing == 0
    assert len(data.val) == len(data.test) == 1


def test_image_problems_in_order_and_a_repaired_file_is_checked_again(tmp_path):
    names = ["good.jpg", "cut.jpg", "zeros.jpg", "text.jpg", "none.jpg", "good.png"]
    contents = [JPEG, TRUNCATED_JPEG, HEADER_AND_ZEROS, b"<html>", None, encoded("PNG")]
    for name, data in zip(names, contents, strict=True):
        if data is not None:
            (tmp_path / name).write_bytes(data)
    undecodable = "cannot be decoded (truncated or corrupt image)"
    assert image_problems([tmp_path / n for n in names]) == [
        None,
        undecodable,
        undecodable,
        "not a JPEG, PNG, GIF or BMP image",
        "image not found",
        None,
    ]
    (tmp_path / "cut.jpg").write_bytes(encoded(seed=1))  # repaired: decoded again
    assert image_problems([tmp_path / "cut.jpg"]) == [None]
    (tmp_path / "good.jpg").write_bytes(TRUNCATED_JPEG)  # broken since it last decoded
    assert image_problems([tmp_path / "good.jpg"]) == [undecodable]


def test_read_image_files_names_a_broken_image(tmp_path):
    (tmp_path / "ok.jpg").write_bytes(JPEG)
    (tmp_path / "cut.jpg").write_bytes(TRUNCATED_JPEG)
    assert read_image_files([str(tmp_path / "ok.jpg")]) == [JPEG]
    with pytest.raises(DataError, match=r"cut.jpg: cannot be decoded \(truncated or corrupt"):
        read_image_files([str(tmp_path / "ok.jpg"), str(tmp_path / "cut.jpg")])


def test_bad_caption_lines_name_the_line(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_text("a.jpg#0\tfine\na.jpg caption without tab\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"tokens.txt:2: expected <image>#<n><TAB><caption>"):
        read_flickr8k_captions(path)
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("a.jpg\tone\nb.jpg\t\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"pairs.tsv:2: expected image_path<TAB>caption"):
        read_caption_tsv(tsv)


def test_caption_tsv_groups_captions_per_image(tmp_path):
    (tmp_path / "x.png").write_bytes(encoded("PNG"))
    (tmp_path / "y.jpg").write_bytes(JPEG)
    tsv = tmp_path / "caps.tsv"
    tsv.write_text("x.png\ta cat\ny.jpg\ta dog\nx.png\ta small cat\n\n", encoding="utf-8")
    got = read_caption_tsv(tsv)
    assert got.images == [tmp_path / "x.png", tmp_path / "y.jpg"]
    assert got.captions == [["a cat", "a small cat"], ["a dog"]]


def test_coco_json(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "1.jpg").write_bytes(JPEG)
    doc = {
        "images": [{"id": 7, "file_name": "1.jpg"}, {"id": 8, "file_name": "2.jpg"}],
        "annotations": [{"image_id": 7, "caption": " A bus. "}, {"image_id": 7, "caption": "x"}],
    }
    path = tmp_path / "captions.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    got = read_coco_captions(path, tmp_path / "img")
    assert got.images == [tmp_path / "img" / "1.jpg"] and got.captions == [["A bus.", "x"]]
    doc["annotations"].append({"image_id": 99, "caption": "ghost"})
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(DataError, match="annotation 2: unknown image_id"):
        read_coco_captions(path, tmp_path / "img")
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match=r"captions.json:1: not JSON \(.*column 2\)"):
        read_coco_captions(path, tmp_path / "img")


@pytest.mark.slow  # decodes all 8,000 images (the load-time check): seconds, not ms
@pytest.mark.skipif(not FLICKR8K.is_dir(), reason="needs ../shared/data/captioning")
def test_real_flickr8k_splits():
    data = load_flickr8k(FLICKR8K)
    assert [len(data.split(s)) for s in ("train", "val", "test")] == [6000, 1000, 1000]
    assert all(len(c) == 5 for part in (data.train, data.val, data.test) for c in part.captions)
    assert data.test.images[0].is_file()
