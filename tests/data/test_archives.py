"""Archives and compressed files (seqapps.data.archives) and split-file detection."""

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile

import pytest

from seqapps.data import archives
from seqapps.data.io import find_split_files, read_lines
from seqapps.errors import DataError


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQAPPS_ARCHIVE_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize(
    ("suffix", "compress", "what"),
    [(".gz", gzip.compress, "gzip"), (".bz2", bz2.compress, "bzip2"), (".xz", lzma.compress, "xz")],
)
def test_compressed_single_files(tmp_path, suffix, compress, what):
    path = tmp_path / f"a.txt{suffix}"
    path.write_bytes(compress("héllo\r\nwörld\n".encode()))
    assert read_lines(path) == ["héllo", "wörld"]
    assert archives.plain_suffix(tmp_path / f"p.tsv{suffix}") == ".tsv"
    path.write_bytes(b"not compressed at all")
    with pytest.raises(DataError, match=rf"a.txt{suffix}: not a readable {what} file") as e:
        read_lines(path)
    assert "\n" not in str(e.value)


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, text in members.items():
            z.writestr(name, text)
    return path


def _tar(path, members, mode="w:gz"):
    with tarfile.open(path, mode) as t:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def test_zip_with_one_text_member_reads_as_that_file(tmp_path):
    z = _zip(tmp_path / "pairs.zip", {"deu.txt": "Hi.\tHallo!\n", "_about.txt": "x"})
    path = archives.resolve(str(z))
    assert read_lines(path) == ["Hi.\tHallo!"]
    assert archives.resolve(str(z)) == path  # extracted once, into a content-keyed folder


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_of_a_folder_reads_as_the_folder(tmp_path, mode):
    members = {f"conll/{n}": "EU B-ORG\n" for n in ("train.txt", "dev.txt", "test.txt")}
    t = _tar(tmp_path / "conll.tar", members, mode)
    folder = archives.resolve(str(t))
    assert sorted(p.name for p in __import__("pathlib").Path(folder).iterdir()) == [
        "dev.txt",
        "test.txt",
        "train.txt",
    ]
    with pytest.raises(DataError, match=r"conll.tar: 3 text members: conll/dev.txt") as e:
        archives.resolve(str(t), folders=False)
    assert "conll.tar:MEMBER" in str(e.value)


def test_member_syntax_and_missing_member(tmp_path):
    z = _zip(tmp_path / "d.zip", {"a/x.tsv": "1\n", "a/y.tsv": "2\n"})
    assert read_lines(archives.resolve(f"{z}:a/y.tsv")) == ["2"]
    with pytest.raises(DataError, match=r"d.zip: no member 'a/z.tsv'; members: a/x.tsv, a/y.tsv"):
        archives.resolve(f"{z}:a/z.tsv")
    assert archives.archive_path(f"{z}:a/y.tsv") == str(z)
    assert archives.resolve("not/an/archive.txt") == "not/an/archive.txt"


def test_corrupt_archives_are_one_line(tmp_path):
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DataError, match=r"bad.zip: not a readable zip archive") as e:
        archives.resolve(str(tmp_path / "bad.zip"))
    assert "\n" not in str(e.value)
    (tmp_path / "bad.tar.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DataError, match=r"bad.tar.gz: not a readable tar archive"):
        archives.resolve(str(tmp_path / "bad.tar.gz"))
    assert not list((tmp_path / "cache").glob("*"))  # nothing half-extracted is kept


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_unsafe_member_paths_are_refused(tmp_path, name):
    z = _zip(tmp_path / "evil.zip", {"ok.txt": "fine", name: "bad"})
    with pytest.raises(DataError, match="unsafe member path"):
        archives.resolve(str(z))
    t = _tar(tmp_path / "evil.tar.gz", {"ok.txt": "fine", name: "bad"})
    with pytest.raises(DataError, match="unsafe member path"):
        archives.resolve(str(t))
    assert not (tmp_path / "evil.txt").exists()


def test_links_in_a_tar_are_refused(tmp_path):
    with tarfile.open(tmp_path / "link.tar", "w") as t:
        info = tarfile.TarInfo("passwd")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        t.addfile(info)
    with pytest.raises(DataError, match="link.tar: member 'passwd' is a link"):
        archives.resolve(str(tmp_path / "link.tar"))


def test_find_split_files_by_name(tmp_path):
    for name in ("xxxtrain.conll", "xxx.dev.conll", "xxx.test.annotated", "README.md"):
        (tmp_path / name).write_text("x")
    found = find_split_files(tmp_path)
    assert {k: p.name for k, p in found.items()} == {
        "train": "xxxtrain.conll",
        "val": "xxx.dev.conll",
        "test": "xxx.test.annotated",
    }
    (tmp_path / "xxx.valid.conll").write_text("x")
    with pytest.raises(DataError) as e:
        find_split_files(tmp_path)
    assert "several candidate files for val" in str(e.value)
    assert "val: xxx.dev.conll, xxx.valid.conll" in str(e.value)
    (tmp_path / "xxx.dev.conll").unlink()
    (tmp_path / "xxx.valid.conll").unlink()
    with pytest.raises(DataError, match=r"no val file \(found train: xxxtrain.conll; val: none"):
        find_split_files(tmp_path)


def test_damaged_bodies_are_one_line_errors_not_zlib_tracebacks(tmp_path):
    """A valid header over a damaged body (a cut download) raised zlib.error before."""
    text = ("a line of text number %d\n" * 2000 % tuple(range(2000))).encode()
    packed = gzip.compress(text)
    bad = packed[:20] + bytes(b ^ 0xFF for b in packed[20:200]) + packed[200:]
    (tmp_path / "x.txt.gz").write_bytes(bad)
    with pytest.raises(DataError, match=r"x.txt.gz: .*gzip"):
        read_lines(tmp_path / "x.txt.gz")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("data/train.txt", text)
        z.writestr("data/test.txt", text)
    raw = bytearray(buf.getvalue())
    start = raw.index(b"PK\x03\x04") + 30 + len("data/train.txt")
    raw[start + 10 : start + 400] = bytes(390)  # zeros inside the deflate stream
    (tmp_path / "d.zip").write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"d.zip: not a readable zip archive"):
        archives.extract(tmp_path / "d.zip")


def test_a_file_named_for_two_splits_is_neither(tmp_path):
    """trainval.txt would have been read as training and validation data at once."""
    for name in ("trainval.txt", "test.txt"):
        (tmp_path / name).write_text("x\n")
    with pytest.raises(DataError, match="val: none"):
        find_split_files(tmp_path)
