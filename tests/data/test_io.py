import gzip

import pytest

from seqapps.data.io import read_lines
from seqapps.errors import DataError


def test_lines_endings_and_gzip(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"one\r\ntwo\n\nfour\n")
    assert read_lines(tmp_path / "a.txt") == ["one", "two", "", "four"]
    (tmp_path / "b.txt.gz").write_bytes(gzip.compress("héllo\nwörld".encode()))
    assert read_lines(tmp_path / "b.txt.gz") == ["héllo", "wörld"]


def test_non_utf8_names_line_and_column(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"fine\nalso fine\ncaf\xe9 au lait\n")
    with pytest.raises(DataError) as e:
        read_lines(tmp_path / "bad.txt")
    assert "bad.txt:3: not valid UTF-8 (byte 0xe9 at column 4)" in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.txt: file not found"):
        read_lines(tmp_path / "nope.txt")


def test_bad_gzip(tmp_path):
    (tmp_path / "x.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="not a readable gzip file"):
        read_lines(tmp_path / "x.gz")
