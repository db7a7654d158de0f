"""The data copies of benchmarks/scaling.py: k times the training split, the rest untouched.

Tiny fixtures written in tmp_path, read back by the tasks' own loaders; no training.
"""

from __future__ import annotations

import gzip
import json

import pytest

from benchmarks import scaling
from seqapps.data.captions import read_flickr8k_captions
from seqapps.data.classification import load_tweeteval
from seqapps.data.conll import load_conll_dir
from seqapps.data.parallel import load_multi30k
from seqapps.data.prices import load_prices


def write(path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_text(text, encoding="utf-8")


def test_repeat_text_keeps_lines_apart_and_one_bom():
    assert scaling.repeat_text(b"a\nb", 3) == b"a\nb\n" * 3
    assert scaling.repeat_text(b"\xef\xbb\xbfa\n", 2) == b"\xef\xbb\xbfa\na\n"
    assert scaling.repeat_text(b"x O\n", 2, blank_line=True) == b"x O\n\nx O\n\n"
    assert scaling.repeat_text(b"x O\n\n", 2, blank_line=True) == b"x O\n\nx O\n\n"


@pytest.fixture
def tweeteval(tmp_path):
    src = tmp_path / "tweeteval"
    write(src / "mapping.txt", "0\tnegative\n1\tneutral\n2\tpositive\n")
    write(src / "train_text.txt", "good day\nbad day\nso so")  # no final newline
    write(src / "train_labels.txt", "2\n0\n1\n")
    for split in ("val", "test"):
        write(src / f"{split}_text.txt", f"{split} one\n{split} two\n")
        write(src / f"{split}_labels.txt", "0\n2\n")
    return src


@pytest.mark.parametrize("k", [1, 3])
def test_sentiment_copy_repeats_train_only(tweeteval, tmp_path, k):
    dest = tmp_path / f"x{k}"
    scaling.copy_sentiment(tweeteval, dest, k)
    for name in ("train_text.txt", "train_labels.txt"):
        assert len((dest / name).read_text().splitlines()) == 3 * k
        assert not (dest / name).is_symlink()
    for name in ("val_text.txt", "val_labels.txt", "test_text.txt", "mapping.txt"):
        assert (dest / name).is_symlink()
        assert (dest / name).read_bytes() == (tweeteval / name).read_bytes()
    data = load_tweeteval(dest)
    original = load_tweeteval(tweeteval)
    assert data.train.texts == original.train.texts * k
    assert list(data.train.labels) == list(original.train.labels) * k
    assert data.val.texts == original.val.texts and data.test.texts == original.test.texts


def test_ner_copy_has_k_times_the_sentences(tmp_path):
    src = tmp_path / "conll"
    # The training file ends without a blank line: copies must not merge two sentences.
    write(
        src / "eng.train",
        "-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\n\n"
        "Peter NNP I-NP I-PER\nBlackburn NNP I-NP I-PER",
    )
    write(src / "eng.testa", "CRICKET NNP I-NP O\n\n")
    write(src / "eng.testb", "SOCCER NN I-NP O\n\n")
    original = load_conll_dir(src)
    scaling.copy_ner(src, tmp_path / "x3", 3)
    data = load_conll_dir(tmp_path / "x3")
    assert len(original.train) == 2
    assert data.train.tokens == original.train.tokens * 3
    assert data.train.tags == original.train.tags * 3
    assert data.val.tokens == original.val.tokens and data.test.tokens == original.test.tokens
    assert (tmp_path / "x3" / "eng.testa").is_symlink()


def test_translation_copy_has_k_times_the_pairs(tmp_path):
    src = tmp_path / "multi30k"
    write(src / "raw" / "train.de.gz", "Ein Hund .\nZwei Katzen .\n")
    write(src / "raw" / "train.en.gz", "A dog .\nTwo cats .\n")
    for stem in ("val", "test_2016_flickr"):
        write(src / "raw" / f"{stem}.de.gz", "Ein Mann .\n")
        write(src / "raw" / f"{stem}.en.gz", "A man .\n")
    write(src / "image_splits" / "train.txt", "1.jpg\n2.jpg\n")
    original = load_multi30k(src, "de", "en")
    scaling.copy_translation(src, tmp_path / "x3", 3)
    dest = tmp_path / "x3"
    data = load_multi30k(dest, "de", "en")
    assert data.train.sources == original.train.sources * 3
    assert data.train.targets == original.train.targets * 3
    assert data.val.sources == original.val.sources
    assert data.test.targets == original.test.targets
    assert gzip.decompress((dest / "raw" / "train.de.gz").read_bytes()).count(b"\n") == 6
    assert (dest / "raw" / "val.de.gz").is_symlink()
    assert len((dest / "image_splits" / "train.txt").read_text().splitlines()) == 6


def _prices(tickers: list[str], days: int = 30) -> str:
    rows = ["date,open,high,low,close,volume,Name"]
    for t in tickers:
        rows += [f"2020-01-{d + 1:02d},1,2,1,{1.5 + d % 3},100,{t}" for d in range(days)]
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize("name", ["prices.csv", "prices.csv.gz"])
def test_forecasting_copy_has_k_times_the_tickers(tmp_path, name):
    src = tmp_path / "stocks"
    write(src / name, _prices(["AAL", "AAPL"]))
    write(src / "SOURCE.md", "notes\n")
    scaling.copy_forecasting(src, tmp_path / "x3", 3)
    series = load_prices(tmp_path / "x3")
    names = [s.ticker for s in series]
    assert sorted(names) == sorted(["AAL", "AAPL", "AAL_c1", "AAPL_c1", "AAL_c2", "AAPL_c2"])
    original = {s.ticker: s for s in load_prices(src)}
    for s in series:
        base = original[s.ticker.split("_c")[0]]
        assert (s.dates == base.dates).all() and (s.values == base.values).all()
    assert (tmp_path / "x3" / name).is_symlink()


def test_forecasting_copies_before_val_start_grow_training_windows_only(tmp_path):
    from seqapps.tasks.forecasting import ForecastingConfig, ForecastingTask

    src = tmp_path / "prices.csv"  # a file source, as data= may name
    write(src, _prices(["AAL", "AAPL"]))
    scaling.copy_forecasting(src, tmp_path / "x3", 3, before="2020-01-16")
    copies = [s for s in load_prices(tmp_path / "x3") if "_c" in s.ticker]
    assert len(copies) == 4
    assert all(str(s.dates.max()) == "2020-01-15" for s in copies)

    def windows(data: str) -> dict[str, int]:
        cfg = ForecastingConfig(
            data=data, window=3, horizon=1, val_start="2020-01-16", test_start="2020-01-23"
        )
        loaded = ForecastingTask(cfg).load_data()
        return {k: len(loaded.split(k)) for k in ("train", "val", "test")}

    one, three = windows(str(src)), windows(str(tmp_path / "x3"))
    assert one["train"] > 0
    assert three == {"train": 3 * one["train"], "val": one["val"], "test": one["test"]}


def test_forecasting_copy_of_a_one_ticker_file_is_renamed_by_file(tmp_path):
    src = tmp_path / "one"
    write(src / "ibm.csv", "date,close\n2020-01-01,1\n2020-01-02,2\n")
    scaling.copy_forecasting(src, tmp_path / "x2", 2)
    assert sorted(s.ticker for s in load_prices(tmp_path / "x2")) == ["ibm", "ibm_c1"]


def test_captioning_copy_repeats_training_captions_only(tmp_path):
    src = tmp_path / "flickr8k"
    lines = [f"{img}.jpg#{n}\t{img} caption {n} ." for img in ("a", "b", "c") for n in range(5)]
    write(src / "Flickr8k.token.txt", "\n".join(lines) + "\n")
    write(src / "Flickr_8k.trainImages.txt", "a.jpg\nb.jpg\n")
    write(src / "Flickr_8k.devImages.txt", "c.jpg\n")
    write(src / "Flickr_8k.testImages.txt", "c.jpg\n")
    (src / "images").mkdir()
    scaling.copy_captioning(src, tmp_path / "x3", 3)
    captions = read_flickr8k_captions(tmp_path / "x3" / "Flickr8k.token.txt")
    original = read_flickr8k_captions(src / "Flickr8k.token.txt")
    assert len(original["a.jpg"]) == 5
    assert captions["a.jpg"] == original["a.jpg"] * 3
    assert captions["b.jpg"] == original["b.jpg"] * 3
    assert captions["c.jpg"] == original["c.jpg"]
    assert (tmp_path / "x3" / "images").is_symlink()


def test_prepare_data_reuses_a_finished_copy(tweeteval, tmp_path):
    dest = tmp_path / "data" / "sentiment-x2"
    made = scaling.prepare_data("sentiment", tweeteval, dest, 2)
    assert made["written"] == ["train_text.txt", "train_labels.txt"]
    stamp = (dest / "train_text.txt").stat().st_mtime_ns
    assert scaling.prepare_data("sentiment", tweeteval, dest, 2) == made
    assert (dest / "train_text.txt").stat().st_mtime_ns == stamp
    scaling.prepare_data("sentiment", tweeteval, dest, 3)  # another k: rebuilt
    assert len((dest / "train_text.txt").read_text().splitlines()) == 9
    assert json.loads((dest / scaling.MARKER).read_text())["copies"] == 3


def test_ratios_and_markdown_table():
    rows = [
        {
            "copies": 1,
            "train_examples": 100,
            "load_seconds": 1.0,
            "train_seconds": 10.0,
            "seconds_per_epoch": 4.0,
            "peak_rss_mb": 1000.0,
        },
        {
            "copies": 3,
            "train_examples": 300,
            "load_seconds": 3.0,
            "train_seconds": 25.0,
            "seconds_per_epoch": 12.0,
            "peak_rss_mb": 1500.0,
        },
        {"copies": 10, "error": "exit -9; see x.log"},
    ]
    got = scaling.ratios(rows)
    assert [r["copies"] for r in got] == [1, 3]
    assert got[1]["time_ratio"] == 3.0 and got[1]["rss_ratio"] == 1.5
    table = scaling.markdown_table({"tasks": {"ner": {"rows": rows, "ratios": got}}})
    assert "| ner | 3x | 300 | 3.0 | 25.0 | 12.0 | 1,500 | 3.00 | 1.50 |" in table
    assert "| ner | 10x | failed (exit -9; see x.log)" in table
