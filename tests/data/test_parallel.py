import gzip

import pytest

from seqapps.data.parallel import load_multi30k, read_aligned, read_tsv, split_pairs
from seqapps.errors import DataError


def _write(path, lines, gz=False):
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_aligned_files_skip_blank_pairs(tmp_path):
    de = _write(tmp_path / "a.de", ["Ein Hund .", "", "Zwei Katzen ."])
    en = _write(tmp_path / "a.en", ["A dog .", "", "Two cats ."])
    pairs = read_aligned(de, en)
    assert pairs.sources == ["Ein Hund .", "Zwei Katzen ."]
    assert pairs.targets == ["A dog .", "Two cats ."]
    assert pairs.skipped_blank == 1


def test_unequal_line_counts(tmp_path):
    de = _write(tmp_path / "a.de", ["eins", "zwei"])
    en = _write(tmp_path / "a.en", ["one"])
    with pytest.raises(DataError, match=r"a.de: 2 lines, but .*a.en has 1"):
        read_aligned(de, en)


def test_one_empty_side_names_file_and_line(tmp_path):
    de = _write(tmp_path / "a.de", ["eins", "zwei"])
    en = _write(tmp_path / "a.en", ["one", "  "])
    with pytest.raises(DataError) as e:
        read_aligned(de, en)
    assert e.value.path == str(en) and e.value.line == 2


def test_tsv_pairs(tmp_path):
    path = _write(tmp_path / "deu.txt", ["Go.\tGeh.\tCC-BY 2.0 (France)", "Hi.\tHallo!"])
    assert read_tsv(path).sources == ["Go.", "Hi."]
    assert read_tsv(path, reverse=True).sources == ["Geh.", "Hallo!"]
    _write(path, ["Go.\tGeh.", "no tab here"])
    with pytest.raises(DataError, match="no tab") as e:
        read_tsv(path)
    assert e.value.line == 2


@pytest.mark.parametrize("layout", ["repository", "flat"])
def test_multi30k_layouts(tmp_path, layout):
    for stem in ("train", "val", "test_2016_flickr"):
        for lang, text in (("de", "ein Hund"), ("en", "a dog")):
            if layout == "repository":
                (tmp_path / "raw").mkdir(exist_ok=True)
                _write(tmp_path / "raw" / f"{stem}.{lang}.gz", [f"{text} {stem}"], gz=True)
            else:
                _write(tmp_path / f"{stem}.{lang}", [f"{text} {stem}"])
    data = load_multi30k(tmp_path, "en", "de")
    assert data.test.sources == ["a dog test_2016_flickr"]
    assert data.test.targets == ["ein Hund test_2016_flickr"]
    with pytest.raises(DataError, match="no test_2017_flickr file"):
        load_multi30k(tmp_path, test_set="test_2017_flickr")


def test_split_pairs(tmp_path):
    pairs = read_aligned(
        _write(tmp_path / "s", [f"s{i}" for i in range(20)]),
        _write(tmp_path / "t", [f"t{i}" for i in range(20)]),
    )
    data = split_pairs(pairs, val_fraction=0.1, test_fraction=0.2, seed=0, source="x")
    assert (len(data.train), len(data.val), len(data.test)) == (14, 2, 4)
    assert sorted(data.train.sources + data.val.sources + data.test.sources) == sorted(
        pairs.sources
    )


def test_tab_separated_pairs_keep_their_quotes(tmp_path):
    """TSV has no quoting: the csv module's default read '"Hello," she said' without quotes."""
    from seqapps.data.parallel import read_pair_file

    path = tmp_path / "pairs.tsv"
    path.write_text('"Hallo," sagte sie\t"Hello," she said\n"offen\tunclosed\nzwei\ttwo\n')
    pairs = read_pair_file(path, source_column="0", target_column="1")
    assert pairs.sources == ['"Hallo," sagte sie', '"offen', "zwei"]
    assert pairs.targets == ['"Hello," she said', "unclosed", "two"]
