import shutil

import numpy as np
import pytest

from seqapps.data.classification import load_delimited, load_tfds, load_tweeteval
from seqapps.data.io import sample_dir
from seqapps.errors import DataError


@pytest.fixture
def tweeteval_dir(tmp_path):
    d = tmp_path / "tweeteval"
    shutil.copytree(sample_dir("sentiment"), d)
    return d


def test_sample_loads():
    data = load_tweeteval(sample_dir("sentiment"))
    assert data.label_names == ["negative", "neutral", "positive"]
    assert (len(data.train), len(data.val), len(data.test)) == (600, 150, 150)
    assert data.train.labels.dtype == np.int32 and set(data.test.labels) == {0, 1, 2}


def test_tweeteval_root_with_sentiment_folder(tmp_path, tweeteval_dir):
    root = tmp_path / "root"
    root.mkdir()
    shutil.move(tweeteval_dir, root / "sentiment")
    assert len(load_tweeteval(root).val) == 150


def test_unequal_line_counts(tweeteval_dir):
    path = tweeteval_dir / "val_labels.txt"
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(DataError, match="val_labels.txt: 149 labels but val_text.txt has 150"):
        load_tweeteval(tweeteval_dir)


def test_unknown_label_names_line(tweeteval_dir):
    path = tweeteval_dir / "test_labels.txt"
    lines = path.read_text().splitlines()
    lines[4] = "7"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"test_labels.txt:5: label '7' is not in mapping.txt"):
        load_tweeteval(tweeteval_dir)


def test_empty_split(tweeteval_dir):
    (tweeteval_dir / "val_text.txt").write_text("")
    (tweeteval_dir / "val_labels.txt").write_text("")
    with pytest.raises(DataError, match="the val split is empty"):
        load_tweeteval(tweeteval_dir)


def test_missing_files(tweeteval_dir):
    (tweeteval_dir / "train_text.txt").unlink()
    with pytest.raises(DataError, match="train_text.txt: file not found"):
        load_tweeteval(tweeteval_dir)
    (tweeteval_dir / "mapping.txt").unlink()
    with pytest.raises(DataError, match="mapping.txt: file not found"):
        load_tweeteval(tweeteval_dir)


def test_non_utf8_text(tweeteval_dir):
    path = tweeteval_dir / "train_text.txt"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\n\xff", 1))
    with pytest.raises(DataError, match=r"train_text.txt:2: not valid UTF-8"):
        load_tweeteval(tweeteval_dir)


def _csv(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_header_and_quotes(tmp_path):
    rows = "".join(
        f'"tweet {i}, with comma",{["positive", "negative"][i % 2]}\n' for i in range(20)
    )
    data = load_delimited(_csv(tmp_path, "d.csv", "text,label\n" + rows))
    assert data.label_names == ["negative", "positive"]
    assert len(data.train) + len(data.val) + len(data.test) == 20
    assert len(data.val) == 2 and len(data.test) == 2
    assert all(t.startswith("tweet ") and ", with comma" in t for t in data.train.texts)


def test_tsv_by_position_without_header(tmp_path):
    rows = "".join(
        f"{i}\t{['neutral', 'positive', 'negative'][i % 3]}\ttext {i}\n" for i in range(30)
    )
    data = load_delimited(_csv(tmp_path, "d.tsv", rows), text_column="2", label_column="1")
    assert data.label_names == ["negative", "neutral", "positive"]
    assert sorted(data.train.texts + data.val.texts + data.test.texts) == sorted(
        f"text {i}" for i in range(30)
    )


def test_csv_errors(tmp_path):
    with pytest.raises(DataError, match=r"d.csv:1: no column named 'text'"):
        load_delimited(_csv(tmp_path, "d.csv", "tweet,label\nhi,positive\n"))
    with pytest.raises(DataError, match=r"e.csv:3: expected at least 2 columns, got 1"):
        load_delimited(_csv(tmp_path, "e.csv", "text,label\nhi,positive\nlonely\n"))
    with pytest.raises(DataError, match=r"f.csv:2: empty label"):
        load_delimited(_csv(tmp_path, "f.csv", "text,label\nhi,\n"))
    with pytest.raises(DataError, match="too few to split"):
        load_delimited(_csv(tmp_path, "g.csv", "text,label\nhi,positive\nho,negative\n"))


def test_tfds_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=20):
        data = load_tfds("imdb_reviews", val_fraction=0.25)
    assert data.label_names == ["neg", "pos"]
    assert len(data.test) == 20  # imdb has a test split
    assert len(data.val) == 5 and len(data.train) == 15  # no validation split: carved
    assert all(isinstance(t, str) for t in data.train.texts)
