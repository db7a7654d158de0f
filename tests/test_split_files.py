"""train= / val= / test= split files, archives in data=, and folders found by file names."""

import bz2
import gzip
import lzma
import tarfile
import zipfile
from pathlib import Path

import pytest

from seqapps.config import from_dict
from seqapps.data.io import sample_dir
from seqapps.errors import ConfigError, DataError
from seqapps.tasks import TASKS


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQAPPS_ARCHIVE_CACHE", str(tmp_path / "cache"))


def task(name, **values):
    cls = TASKS[name]
    return cls(from_dict(cls.config_class, {k: str(v) for k, v in values.items()}))


def sizes(data):
    return len(data.train), len(data.val), len(data.test)


def conll(n, word="EU"):
    return "".join(f"-DOCSTART- O\n\n{word}{i} B-ORG\nrejects O\n\n" for i in range(n))


def test_issue_conll_layout_loads(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "xxxtrain.conll").write_text(conll(4))
    (folder / "xxx.dev.conll").write_text(conll(2))
    (folder / "xxx.test.annotated").write_text(conll(3))
    (folder / "README").write_text("about the data train/dev/test")
    assert sizes(task("ner", data=folder).load_data()) == (4, 2, 3)
    # zipped and tarred, the folder reads the same
    with tarfile.open(tmp_path / "set.tar.gz", "w:gz") as t:
        t.add(folder, arcname="set")
    assert sizes(task("ner", data=tmp_path / "set.tar.gz").load_data()) == (4, 2, 3)
    with zipfile.ZipFile(tmp_path / "set.zip", "w") as z:
        for p in folder.iterdir():
            z.write(p, p.name)
    assert sizes(task("ner", data=tmp_path / "set.zip").load_data()) == (4, 2, 3)


def test_ner_ambiguous_folder_lists_candidates(tmp_path):
    for name in ("a.train", "b.train", "dev", "test"):
        (tmp_path / name).write_text(conll(1))
    with pytest.raises(
        DataError, match=r"several candidate files for train.*train: a.train, b.train"
    ):
        task("ner", data=tmp_path).load_data()


def test_ner_split_files_globs_archives_and_carving(tmp_path):
    (tmp_path / "part1.train.conll").write_text(conll(3))
    (tmp_path / "part2.train.conll.bz2").write_bytes(bz2.compress(conll(5, "B").encode()))
    (tmp_path / "dev.conll.xz").write_bytes(lzma.compress(conll(2).encode()))
    with zipfile.ZipFile(tmp_path / "test.zip", "w") as z:
        z.writestr("inner/test.conll", conll(6))
        z.writestr("inner/other.conll", conll(1))
    t = task(
        "ner",
        train=tmp_path / "part*.train.conll*",
        val=tmp_path / "dev.conll.xz",
        test=f"{tmp_path / 'test.zip'}:inner/test.conll",
    )
    data = t.load_data()
    assert sizes(data) == (8, 2, 6)
    assert data.train.tokens[0][0] == "EU0" and data.train.tokens[-1][0] == "B4"  # sorted
    assert set(t.input_paths()) == {"train", "val", "test"}  # the glob too: its matches
    # val and test carved from train by val_fraction / test_fraction, seeded
    t = task("ner", train=tmp_path / "part*", val_fraction=0.25, test_fraction=0.25)
    assert sizes(t.load_data()) == (4, 2, 2)
    t = task("ner", train=tmp_path / "part*", val=tmp_path / "dev.conll.xz", test_fraction=0.25)
    assert sizes(t.load_data()) == (6, 2, 2)


def test_split_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="both name the data"):
        task("ner", data=tmp_path, train=tmp_path / "x")
    with pytest.raises(ConfigError, match="val= and test= need train="):
        task("ner", val=tmp_path / "x")
    with pytest.raises(DataError, match=r"no file matches this pattern \(train= takes CoNLL"):
        task("ner", train=tmp_path / "*.nothing").load_data()
    with pytest.raises(DataError, match="missing.conll: train=: no such file"):
        task("ner", train=tmp_path / "missing.conll").load_data()
    (tmp_path / "small.conll").write_text(conll(2))
    with pytest.raises(DataError, match="2 examples are too few to hold out val and test"):
        task("ner", train=tmp_path / "small.conll").load_data()
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as z:
        z.writestr("a.conll", conll(1))
        z.writestr("b.conll", conll(1))
    with pytest.raises(DataError, match=r"two.zip: 2 text members: a.conll, b.conll"):
        task("ner", train=tmp_path / "two.zip").load_data()


def test_forecasting_refuses_split_files(tmp_path):
    with pytest.raises(ConfigError, match="val_start= / test_start="):
        task("forecasting", train=tmp_path / "a.csv")


def test_sentiment_split_files_and_split_folder(tmp_path):
    rows = "text,label\n" + "".join(f"t{i},{lab}\n" for i, lab in enumerate("pnpnpn"))
    (tmp_path / "train.csv").write_text(rows.replace(",p", ",positive").replace(",n", ",negative"))
    (tmp_path / "dev.csv").write_text("text,label\nx,neutral\ny,positive\n")
    (tmp_path / "test.csv.gz").write_bytes(gzip.compress(b"text,label\nz,negative\n"))
    data = task(
        "sentiment",
        train=tmp_path / "train.csv",
        val=tmp_path / "dev.csv",
        test=tmp_path / "test.csv.gz",
    ).load_data()
    assert sizes(data) == (6, 2, 1)
    assert data.label_names == ["negative", "neutral", "positive"]  # from every split
    assert list(data.val.labels) == [1, 2]
    data = task("sentiment", data=tmp_path).load_data()  # no mapping.txt: split files
    assert sizes(data) == (6, 2, 1)


def test_translation_columns_zipped_tsv_and_split_files(tmp_path):
    rows = "".join(f"en{i}\tde{i}\tCC-BY\n" for i in range(20))
    with zipfile.ZipFile(tmp_path / "deu-eng.zip", "w") as z:
        z.writestr("deu.txt", rows.encode())
        z.writestr("_about.txt", "Tatoeba")
    data = task("translation", data=tmp_path / "deu-eng.zip", reverse="true").load_data()
    assert len(data.train) + len(data.val) + len(data.test) == 20
    assert data.train.sources[0].startswith("de")
    (tmp_path / "pairs.csv").write_text('id,de,en\n1,"Hallo, Welt",Hello\n2,Hund,dog\n')
    t = task(
        "translation",
        train=tmp_path / "pairs.csv",
        val=tmp_path / "pairs.csv",
        test=tmp_path / "pairs.csv",
        source_column="de",
        target_column="en",
    )
    data = t.load_data()
    assert data.test.sources == ["Hallo, Welt", "Hund"] and data.test.targets == ["Hello", "dog"]
    t = task("translation", train=tmp_path / "pairs.csv", source_column="fr", val="", test="")
    with pytest.raises(DataError, match=r"source_column='fr' is not in the header \(id, de, en\)"):
        t.load_data()
    # aligned-file prefixes, and indexes without a header
    (tmp_path / "tr.de").write_text("a\nb\nc\n")
    (tmp_path / "tr.en").write_text("A\nB\nC\n")
    data = task(
        "translation",
        train=tmp_path / "tr",
        val=tmp_path / "tr",
        test=tmp_path / "pairs.csv",
        source_column="2",
        target_column="1",
    ).load_data()
    assert data.train.sources == ["a", "b", "c"] and data.test.sources == [
        "en",
        "Hello",
        "dog",
    ]  # no header


def test_multi30k_like_folder_found_by_names(tmp_path):
    for stem in ("corpus.train", "corpus.dev", "newstest.test"):
        for lang in ("de", "en"):
            (tmp_path / f"{stem}.{lang}").write_text(f"{stem} {lang}\n")
    data = task("translation", data=tmp_path).load_data()
    assert data.val.sources == ["corpus.dev de"] and data.test.targets == ["newstest.test en"]


def test_captioning_split_files(tmp_path):
    images = sorted((sample_dir("captioning") / "images").glob("*.jpg"))[:6]
    for split, part in (("train", images[:4]), ("val", images[4:5]), ("test", images[5:])):
        lines = "".join(f"{p}\ta picture {split}\n" for p in part)
        (tmp_path / f"{split}.tsv.xz").write_bytes(lzma.compress(lines.encode()))
    t = task(
        "captioning",
        train=tmp_path / "train.tsv.xz",
        val=tmp_path / "val.tsv.xz",
        test=tmp_path / "test.tsv.xz",
    )
    data = t.load_data()
    assert sizes(data) == (4, 1, 1)
    assert data.test.captions == [["a picture test"]] and data.test.images == [Path(images[5])]
