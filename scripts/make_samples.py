"""Rebuild the small real samples shipped in seqapps/data/samples from ../shared/data.

Run from the repository root: ``python scripts/make_samples.py sentiment``. The selection is
a seeded random draw, so rerunning gives the same files.
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SAMPLES = Path(__file__).resolve().parents[1] / "seqapps" / "data" / "samples"


def sentiment(seed: int = 0) -> None:
    """TweetEval sentiment: 600 train, 150 val, 150 test tweets, in the TweetEval layout."""
    src = SHARED / "sentiment" / "tweeteval" / "sentiment"
    out = SAMPLES / "sentiment"
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for split, n in (("train", 600), ("val", 150), ("test", 150)):
        texts = (src / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
        labels = (src / f"{split}_labels.txt").read_text(encoding="utf-8").splitlines()
        keep = sorted(rng.sample(range(len(texts)), n))
        (out / f"{split}_text.txt").write_text(
            "".join(texts[i] + "\n" for i in keep), encoding="utf-8"
        )
        (out / f"{split}_labels.txt").write_text(
            "".join(labels[i] + "\n" for i in keep), encoding="utf-8"
        )
    shutil.copy(src / "mapping.txt", out / "mapping.txt")


def forecasting(tickers: tuple[str, ...] = ("AAPL", "JPM", "XOM"), since: str = "2015-02-09"):
    """S&P 500 daily prices: three tickers from ``since`` on, in the long layout."""
    import gzip

    rows = gzip.decompress((SHARED / "stocks" / "all_stocks_5yr.csv.gz").read_bytes())
    rows = rows.decode("utf-8").splitlines()
    keep = [r for r in rows[1:] if r.rsplit(",", 1)[1] in tickers and r[:10] >= since]
    out = SAMPLES / "forecasting"
    out.mkdir(parents=True, exist_ok=True)
    (out / "prices.csv").write_text("\n".join([rows[0], *keep]) + "\n", encoding="utf-8")


def ner(sentences: dict[str, int] | None = None) -> None:
    """CoNLL-2003: the first whole documents of each file up to a sentence count, as is."""
    sentences = sentences or {"eng.train": 600, "eng.testa": 200, "eng.testb": 200}
    src = SHARED / "ner" / "conll2003"
    out = SAMPLES / "ner"
    out.mkdir(parents=True, exist_ok=True)
    for name, wanted in sentences.items():
        kept, count = [], 0
        for line in (src / name).read_text(encoding="utf-8").splitlines(keepends=True):
            if line.startswith("-DOCSTART-") and count >= wanted:
                break  # stop at a document boundary: documents are kept whole
            kept.append(line)
            count += line.strip() == "" and bool(kept[-2:-1]) and kept[-2].strip() != ""
        (out / name).write_text("".join(kept), encoding="utf-8")


def translation(lines: dict[str, int] | None = None) -> None:
    """Multi30k German-English: the first lines of the raw train / val / test_2016 files."""
    import gzip

    lines = lines or {"train": 3000, "val": 200, "test_2016_flickr": 200}
    src = SHARED / "translation" / "multi30k" / "raw"
    out = SAMPLES / "translation"
    out.mkdir(parents=True, exist_ok=True)
    for stem, wanted in lines.items():
        for lang in ("de", "en"):
            with gzip.open(src / f"{stem}.{lang}.gz", "rt", encoding="utf-8") as f:
                kept = [next(f) for _ in range(wanted)]
            (out / f"{stem}.{lang}").write_text("".join(kept), encoding="utf-8")


def captioning(counts: dict[str, int] | None = None, seed: int = 0) -> None:
    """Flickr8k: a seeded draw of train / dev / test images with their five captions each.

    Written in the Flickr8k layout: token file, official split lists, images/ (byte copies).
    """
    counts = counts or {"train": 100, "dev": 25, "test": 25}
    src = SHARED / "captioning" / "flickr8k"
    out = SAMPLES / "captioning"
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    chosen: set[str] = set()
    for stem, wanted in counts.items():
        lines = (src / f"Flickr_8k.{stem}Images.txt").read_text(encoding="utf-8").splitlines()
        keep = sorted(rng.sample([n.strip() for n in lines if n.strip()], wanted))
        (out / f"Flickr_8k.{stem}Images.txt").write_text(
            "".join(n + "\n" for n in keep), encoding="utf-8"
        )
        chosen.update(keep)
        for name in keep:
            shutil.copy(src / "images" / name, out / "images" / name)
    tokens = (src / "Flickr8k.token.txt").read_text(encoding="utf-8").splitlines()
    kept = [t for t in tokens if t.split("#", 1)[0] in chosen]
    (out / "Flickr8k.token.txt").write_text("\n".join(kept) + "\n", encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    builders = {
        "sentiment": sentiment,
        "forecasting": forecasting,
        "ner": ner,
        "translation": translation,
        "captioning": captioning,
    }
    parser.add_argument("task", choices=list(builders))
    builders[parser.parse_args().task]()
