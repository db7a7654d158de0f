"""Captioned-image loaders: Flickr8k, COCO JSON, image<TAB>caption files, and bad input."""

import json
from pathlib import Path

import pytest

from seqapps.data.captions import (
    load_flickr8k,
    read_caption_tsv,
    read_coco_captions,
    read_flickr8k_captions,
)
from seqapps.errors import DataError

FAKE_JPEG = b"\xff\xd8\xff\xe0 not a whole JPEG: the loaders only read the header"
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
                (root / "images" / f"{n}.jpg").write_bytes(FAKE_JPEG)
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
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n fake")
    (tmp_path / "y.jpg").write_bytes(FAKE_JPEG)
    tsv = tmp_path / "caps.tsv"
    tsv.write_text("x.png\ta cat\ny.jpg\ta dog\nx.png\ta small cat\n\n", encoding="utf-8")
    got = read_caption_tsv(tsv)
    assert got.images == [tmp_path / "x.png", tmp_path / "y.jpg"]
    assert got.captions == [["a cat", "a small cat"], ["a dog"]]


def test_coco_json(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "1.jpg").write_bytes(FAKE_JPEG)
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
    with pytest.raises(DataError, match="not a COCO captions file"):
        read_coco_captions(path, tmp_path / "img")


@pytest.mark.skipif(not FLICKR8K.is_dir(), reason="needs ../shared/data/captioning")
def test_real_flickr8k_splits():
    data = load_flickr8k(FLICKR8K)
    assert [len(data.split(s)) for s in ("train", "val", "test")] == [6000, 1000, 1000]
    assert all(len(c) == 5 for part in (data.train, data.val, data.test) for c in part.captions)
    assert data.test.images[0].is_file()
