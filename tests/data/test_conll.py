import pytest

from seqapps.data.conll import load_conll_dir, load_conll_file, load_tfds_conll, read_conll, to_iob2
from seqapps.data.io import sample_dir
from seqapps.errors import DataError

IOB1 = """-DOCSTART- -X- -X- O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER
Paul NNP I-NP B-PER
-DOCSTART- -X- O O
Lee NNP I-NP I-PER
"""


def _write(tmp_path, text, name="data.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_conll2003_iob1_into_iob2(tmp_path):
    s = read_conll(_write(tmp_path, IOB1))
    # DOCSTART and blank lines both end sentences; the last one has no trailing blank line.
    assert s.tokens == [
        ["EU", "rejects", "German", "call"],
        ["Peter", "Blackburn", "Paul"],
        ["Lee"],
    ]
    assert s.tags == [
        ["B-ORG", "O", "B-MISC", "O"],
        ["B-PER", "I-PER", "B-PER"],
        ["B-PER"],
    ]


def test_iob2_input_is_unchanged_and_tabs_work(tmp_path):
    text = "John\tB-PER\nSmith\tI-PER\nvisits\tO\nBerlin\tB-LOC\n\n"
    s = read_conll(_write(tmp_path, text), "iob2")
    assert s.tags == [["B-PER", "I-PER", "O", "B-LOC"]]
    assert read_conll(_write(tmp_path, text), "auto").tags == s.tags


def test_to_iob2():
    assert to_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"]) == [
        "B-PER",
        "I-PER",
        "O",
        "B-LOC",
        "B-LOC",
        "B-ORG",
    ]


@pytest.mark.parametrize(
    ("text", "scheme", "line", "problem"),
    [
        ("a B-PER\nb c O\n", "auto", 2, "3 columns where earlier lines have 2"),
        ("a\n", "auto", 1, "one column"),
        ("a O\nb X-PER\n", "auto", 2, "tag 'X-PER' is not O, B-TYPE or I-TYPE"),
        ("a O\nb E-PER\n", "auto", 2, "BIOES tags are not supported"),
        ("a O\n\nb O\nc I-LOC\n", "iob2", 4, "I-LOC starts an entity, which IOB2 does not"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, text, scheme, line, problem):
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=problem) as e:
        read_conll(path, scheme)
    assert e.value.line == line and e.value.path == str(path)
    assert str(e.value).startswith(f"{path}:{line}:")


def test_empty_file(tmp_path):
    with pytest.raises(DataError, match="no sentences"):
        read_conll(_write(tmp_path, "-DOCSTART- -X- O O\n\n"))


def test_sample_is_the_conll2003_layout():
    data = load_conll_dir(sample_dir("ner"))
    assert (len(data.train), len(data.val), len(data.test)) == (607, 203, 204)
    kinds = {t[2:] for s in data.train.tags for t in s if t != "O"}
    assert kinds == {"LOC", "MISC", "ORG", "PER"}


def test_directory_layouts(tmp_path):
    for name in ("train.txt", "valid.txt", "test.txt"):
        _write(tmp_path, "a B-PER\nb O\n", name)
    data = load_conll_dir(tmp_path)
    assert data.val.tokens == [["a", "b"]]
    (tmp_path / "valid.txt").unlink()
    with pytest.raises(DataError, match="no val file"):
        load_conll_dir(tmp_path)


def test_one_file_is_split_without_overlap(tmp_path):
    text = "".join(f"w{i} B-PER\nx O\n\n" for i in range(50))
    data = load_conll_file(_write(tmp_path, text), val_fraction=0.2, test_fraction=0.2)
    firsts = [[s[0] for s in part.tokens] for part in (data.train, data.val, data.test)]
    assert [len(f) for f in firsts] == [30, 10, 10]
    assert len(set().union(*map(set, firsts))) == 50
    with pytest.raises(DataError, match="too few"):
        load_conll_file(_write(tmp_path, "a O\n"))


def test_tfds_mock():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=6):
        data = load_tfds_conll("conll2003")
    assert len(data.train) == 6 and len(data.val) == 6 and len(data.test) == 6
    for tags in data.train.tags:  # random mock tags come out as valid IOB2
        assert to_iob2(tags) == tags
