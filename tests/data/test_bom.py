"""A leading UTF-8 byte-order mark is dropped by every reader (Windows editors write one).

Each packaged sample is copied with a BOM in front of every text file and must read exactly
as the original; before the fix a CoNLL file gave the word "\\ufeff-DOCSTART-", TweetEval
labels were refused, and CSV headers lost their first column name.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from seqapps import config as config_lib
from seqapps.data.captions import load_flickr8k, read_caption_tsv, read_coco_captions
from seqapps.data.classification import load_delimited, load_tweeteval
from seqapps.data.conll import load_conll_dir, read_conll
from seqapps.data.io import read_lines, sample_dir
from seqapps.data.parallel import load_multi30k, read_aligned, read_tsv
from seqapps.data.prices import load_prices
from seqapps.tasks.sentiment import SentimentConfig

BOM = b"\xef\xbb\xbf"


def copy_with_bom(src: Path, dst: Path) -> Path:
    """Copy a sample folder; every text file gets a BOM, images are linked."""
    for path in src.rglob("*"):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.suffix.lower() in (".jpg", ".jpeg", ".png"):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(BOM + path.read_bytes())
    return dst


def test_read_lines_drops_one_leading_bom_only(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(BOM + b"first\r\nsecond \xef\xbb\xbf inside\n")
    assert read_lines(path) == ["first", "second \ufeff inside"]


def test_conll_with_bom_reads_as_without(tmp_path):
    bom = copy_with_bom(sample_dir("ner"), tmp_path / "ner")
    plain, marked = load_conll_dir(sample_dir("ner")), load_conll_dir(bom)
    for split in ("train", "val", "test"):
        assert marked.split(split).tokens == plain.split(split).tokens
        assert marked.split(split).tags == plain.split(split).tags
    assert not any("\ufeff" in t for s in read_conll(bom / "eng.train").tokens for t in s)


def test_tweeteval_with_bom_reads_as_without(tmp_path):
    plain = load_tweeteval(sample_dir("sentiment"))
    marked = load_tweeteval(copy_with_bom(sample_dir("sentiment"), tmp_path / "s"))
    assert marked.label_names == plain.label_names
    for split in ("train", "val", "test"):
        assert marked.split(split).texts == plain.split(split).texts
        np.testing.assert_array_equal(marked.split(split).labels, plain.split(split).labels)


def test_csv_with_bom_finds_its_first_column(tmp_path):
    rows = "text,label\n" + "".join(f"tweet {i},{('pos', 'neg')[i % 2]}\n" for i in range(30))
    path = tmp_path / "tweets.csv"
    path.write_bytes(BOM + rows.encode())
    split = {"val_fraction": 0.2, "test_fraction": 0.2, "seed": 0}
    data = load_delimited(path, text_column="text", label_column="label", **split)
    assert len(data.train) + len(data.val) + len(data.test) == 30


def test_prices_with_bom_find_the_date_column(tmp_path):
    src = sample_dir("forecasting") / "prices.csv"
    path = tmp_path / "prices.csv"
    path.write_bytes(BOM + src.read_bytes())
    plain, marked = load_prices(src), load_prices(path)
    assert [s.ticker for s in marked] == [s.ticker for s in plain]
    np.testing.assert_array_equal(marked[0].values, plain[0].values)


def test_parallel_files_with_bom(tmp_path):
    bom = copy_with_bom(sample_dir("translation"), tmp_path / "t")
    plain, marked = load_multi30k(sample_dir("translation")), load_multi30k(bom)
    assert marked.train.sources == plain.train.sources
    assert marked.train.targets == plain.train.targets
    (tmp_path / "p.de").write_bytes(BOM + b"Ein Hund .\n")
    (tmp_path / "p.en").write_bytes(BOM + b"A dog .\n")
    assert read_aligned(tmp_path / "p.de", tmp_path / "p.en").sources == ["Ein Hund ."]
    (tmp_path / "p.tsv").write_bytes(BOM + b"A dog .\tEin Hund .\n")
    pairs = read_tsv(tmp_path / "p.tsv", reverse=True)
    assert (pairs.sources, pairs.targets) == (["Ein Hund ."], ["A dog ."])


def test_caption_files_with_bom(tmp_path):
    bom = copy_with_bom(sample_dir("captioning"), tmp_path / "c")
    plain, marked = load_flickr8k(sample_dir("captioning")), load_flickr8k(bom)
    assert [p.name for p in marked.train.images] == [p.name for p in plain.train.images]
    assert marked.train.captions == plain.train.captions
    image = plain.train.images[0]
    (tmp_path / "caps.tsv").write_bytes(BOM + f"{image}\tA dog runs .\n".encode())
    assert read_caption_tsv(tmp_path / "caps.tsv").captions == [["A dog runs ."]]
    doc = {
        "images": [{"id": 1, "file_name": image.name}],
        "annotations": [{"image_id": 1, "caption": "A dog runs ."}],
    }
    (tmp_path / "coco.json").write_bytes(BOM + json.dumps(doc).encode())
    assert read_coco_captions(tmp_path / "coco.json", image.parent).captions == [["A dog runs ."]]


def test_config_yaml_with_bom(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(BOM + b"cell: gru\nepochs: 3\n")
    cfg = config_lib.resolve(SentimentConfig, path)
    assert (cfg.cell, cfg.epochs) == ("gru", 3)
