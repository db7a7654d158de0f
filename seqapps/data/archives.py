"""Compressed files and archives, read directly wherever a data path is read.

Two kinds, one module, used by every loader:

- **Compressed single files** (``.gz``, ``.bz2``, ``.xz``): :func:`read_bytes` gives the
  decompressed bytes (stdlib ``gzip`` / ``bz2`` / ``lzma``); :func:`seqapps.data.io.read_lines`
  and every other text reader go through it. :func:`plain_suffix` is the suffix under the
  compression (``pairs.tsv.xz`` -> ``.tsv``), for loaders that choose a format by suffix.
- **Archives** (``.zip``, ``.tar``, ``.tar.gz`` / ``.tgz``, ``.tar.bz2`` / ``.tbz2``,
  ``.tar.xz`` / ``.txz``): :func:`resolve` turns ``data=`` / ``train=`` / ``val=`` /
  ``test=`` values into a path on disk. ``archive.zip:member/path`` chooses a member (a
  file, or a folder inside the archive); a bare archive gives its only text member, or, when
  it holds several, the archive's folder (a zipped CoNLL or Flickr8k folder reads as that
  folder) if the caller reads folders. An archive whose members all sit in one top-level
  folder is read as that folder.

Archives are extracted once into a cache keyed by the archive's content hash
(``$XDG_CACHE_HOME/seqapps/archives/<sha256[:16]>/``, ``~/.cache/...`` by default; set
``SEQAPPS_ARCHIVE_CACHE`` to move it), safely (no absolute paths, no ``..``, no links or
device files: each member is checked before anything is written) and atomically (into a
temporary folder, then renamed). Every problem is one :class:`~seqapps.errors.DataError`
naming the archive: corrupt or unsupported, a member that does not exist (the members are
listed), several text members and none chosen (listed).

Example:
    >>> resolve("conll.tar.gz")            # doctest: +SKIP
    PosixPath('/home/me/.cache/seqapps/archives/3f2a.../conll')
    >>> resolve("pairs.zip:deu-eng/deu.txt")  # doctest: +SKIP
    PosixPath('/home/me/.cache/seqapps/archives/9b1c.../deu-eng/deu.txt')
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from seqapps.errors import ConfigError, DataError
from seqapps.rundir import DISK_ERRNOS

# Single-file compression: suffix -> (decompress, what the error calls it, its errors).
_COMPRESSIONS = {
    # zlib.error: a valid header over a damaged body (a truncated download); not an OSError.
    ".gz": (gzip.decompress, "gzip", (OSError, EOFError, zlib.error)),
    ".bz2": (bz2.decompress, "bzip2", (OSError, EOFError, ValueError)),
    ".xz": (lzma.decompress, "xz", (lzma.LZMAError, EOFError)),
}
COMPRESSED_SUFFIXES = tuple(_COMPRESSIONS)
# Archive name endings, longest first (".tar.gz" before ".gz").
ARCHIVE_SUFFIXES = (
    ".tar.gz",
    ".tar.bz2",
    ".tar.xz",
    ".tgz",
    ".tbz2",
    ".txz",
    ".tar",
    ".zip",
)
# Files never taken as "the" text member, nor as a split file of a folder.
_NOT_DATA = ("readme", "license", "licence", "source", "copying", "citation", "__macosx")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")


def is_archive(path: str | Path) -> bool:
    """Whether ``path``'s name ends like an archive this module reads."""
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def plain_suffix(path: str | Path) -> str:
    """The lower-case suffix under a compression suffix: ``a.tsv.xz`` -> ``.tsv``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in _COMPRESSIONS:
        return Path(path.stem).suffix.lower()
    return suffix


def plain_name(name: str) -> str:
    """``name`` without a compression suffix: ``train.de.gz`` -> ``train.de``."""
    for suffix in COMPRESSED_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def is_data_file(path: Path) -> bool:
    """A file that may hold data: not hidden, not a README/LICENSE/SOURCE note."""
    name = path.name.lower()
    return not name.startswith((".", "_")) and not name.startswith(_NOT_DATA)


def read_bytes(path: str | Path) -> bytes:
    """The bytes of ``path``, decompressed when it ends in ``.gz``, ``.bz2`` or ``.xz``.

    Raises:
        DataError: the file is missing, or is not a readable file of its compression.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    raw = path.read_bytes()
    entry = _COMPRESSIONS.get(path.suffix.lower())
    if entry is None:
        return raw
    decompress, what, errors = entry
    try:
        return decompress(raw)
    except errors as e:
        raise DataError(path, f"not a readable {what} file ({e})") from None


# --- archives ---------------------------------------------------------------------------
def split_member(spec: str) -> tuple[str, str | None]:
    """``"a.zip:dir/f.txt"`` -> ``("a.zip", "dir/f.txt")``; other values -> ``(spec, None)``.

    Only a prefix that names an existing archive file counts, so a ``:`` elsewhere in a
    path is left alone.
    """
    start = 0
    while (i := spec.find(":", start)) != -1:
        head = spec[:i]
        if is_archive(head) and Path(head).is_file():
            return head, spec[i + 1 :].strip("/")
        start = i + 1
    return spec, None


def archive_path(spec: str) -> str:
    """The file on disk behind ``spec`` (the archive for ``archive.zip:member``)."""
    return split_member(spec)[0]


def cache_root() -> Path:
    """``$SEQAPPS_ARCHIVE_CACHE``, else ``$XDG_CACHE_HOME/seqapps/archives``."""
    if os.environ.get("SEQAPPS_ARCHIVE_CACHE"):
        return Path(os.environ["SEQAPPS_ARCHIVE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "seqapps" / "archives"


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _safe_name(archive: Path, name: str) -> PurePosixPath | None:
    """The member's relative path, or None for a folder entry; DataError if it escapes."""
    name = name.replace("\\", "/")
    member = PurePosixPath(name)
    if member.is_absolute() or ".." in member.parts or (member.parts and ":" in member.parts[0]):
        raise DataError(archive, f"unsafe member path {name!r} (absolute or with '..')")
    parts = [p for p in member.parts if p not in ("", ".")]
    return PurePosixPath(*parts) if parts else None


def _extract_zip(archive: Path, target: Path) -> None:
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
        for info in infos:  # check every member before writing anything
            kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when written without a type
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise DataError(archive, f"member {info.filename!r} is a link or special file")
            _safe_name(archive, info.filename)
        for info in infos:
            rel = _safe_name(archive, info.filename)
            if rel is None or info.is_dir():
                if rel is not None:
                    (target / rel).mkdir(parents=True, exist_ok=True)
                continue
            out = target / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst)


def _extract_tar(archive: Path, target: Path) -> None:
    with tarfile.open(archive, "r:*") as t:
        members = t.getmembers()
        for m in members:  # check every member before writing anything
            if not (m.isfile() or m.isdir()):
                raise DataError(archive, f"member {m.name!r} is a link or special file")
            _safe_name(archive, m.name)
        for m in members:
            rel = _safe_name(archive, m.name)
            if rel is None:
                continue
            out = target / rel
            if m.isdir():
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            src = t.extractfile(m)
            if src is None:  # pragma: no cover - isfile() members always have data
                continue
            with src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst)


def extract(archive: str | Path) -> Path:
    """Extract ``archive`` (once) into the cache; return the folder holding its members.

    Raises:
        DataError: missing, corrupt or unsupported archive, or an unsafe member (absolute
            path, ``..``, a link or device file).
    """
    archive = Path(archive)
    if not archive.is_file():
        raise DataError(archive, "file not found")
    if not is_archive(archive):
        raise DataError(archive, f"not an archive (reads {', '.join(ARCHIVE_SUFFIXES)})")
    root = cache_root()
    final = root / _digest(archive)
    if final.is_dir():
        return final
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=root))
    except OSError as e:
        raise ConfigError(
            f"{root}: cannot extract archives here ({e.strerror}); "
            "set SEQAPPS_ARCHIVE_CACHE to a writable folder"
        ) from None
    try:
        if archive.name.lower().endswith(".zip"):
            _extract_zip(archive, tmp)
        else:
            _extract_tar(archive, tmp)
        try:
            os.rename(tmp, final)
        except OSError:  # another process extracted the same archive first
            if not final.is_dir():
                raise
    except DataError:
        raise
    except OSError as e:
        if e.errno in DISK_ERRNOS:  # the disk, not the archive: say so (seqapps.cli)
            raise
        kind = "zip" if archive.name.lower().endswith(".zip") else "tar"
        raise DataError(archive, f"not a readable {kind} archive ({e})") from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, lzma.LZMAError, zlib.error) as e:
        kind = "zip" if archive.name.lower().endswith(".zip") else "tar"
        raise DataError(archive, f"not a readable {kind} archive ({e})") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _members(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _text_members(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and all(is_data_file(Path(part)) for part in p.relative_to(folder).parts)
        and plain_suffix(p) not in _IMAGE_SUFFIXES
    )


def _listing(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def resolve(spec: str, *, folders: bool = True) -> str:
    """The path to read for a data value that may name an archive (else ``spec`` itself).

    Args:
        spec: ``data=`` / ``train=`` ... value: a path, ``archive.zip``, or
            ``archive.zip:member`` (a file or folder inside the archive).
        folders: whether the caller reads a folder: an archive with several text members
            is then read as its folder instead of an error.

    Raises:
        DataError: see :func:`extract`; a member that does not exist (members listed);
            several text members and none chosen (listed), when ``folders`` is false.
    """
    path, member = split_member(spec)
    if member is None and not (is_archive(path) and Path(path).is_file()):
        return spec
    folder = base = extract(path)
    if member is not None:
        chosen = folder / member
        if not chosen.exists():
            raise DataError(
                path, f"no member {member!r}; members: {_listing(_members(folder)) or 'none'}"
            )
        return str(chosen)
    # A folder archived with its name (conll/train.txt ...) reads as that folder.
    top = [p for p in folder.iterdir() if p.name != "__MACOSX"]
    while len(top) == 1 and top[0].is_dir():
        folder = top[0]
        top = [p for p in folder.iterdir() if p.name != "__MACOSX"]
    texts = _text_members(folder)
    if len(texts) == 1:
        return str(texts[0])
    if not texts:
        raise DataError(path, f"no text member; members: {_listing(_members(folder)) or 'none'}")
    if folders:
        return str(folder)
    names = [str(p.relative_to(base)) for p in texts]  # as archive.zip:MEMBER names them
    raise DataError(
        path,
        f"{len(names)} text members: {_listing(names)}",
        hint=f"choose one as {path}:MEMBER",
    )
