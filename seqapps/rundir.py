"""Run-directory safety: atomic writes, a lock, input fingerprints, writable-disk checks.

A run directory must survive ``kill -9`` and full disks without losing finished epochs, and
must refuse what would silently mix two experiments:

- :func:`atomic_write` writes a file whole or not at all (temporary file, ``fsync``,
  ``os.replace``), so a kill mid-write leaves the previous version, never a truncated one;
- :class:`RunLock` lets one ``train`` at a time use a run directory (``fcntl.flock``: the
  kernel drops it when the process dies, even by ``kill -9``);
- :func:`input_fingerprint` digests the files a run reads, so a resumed run whose data
  changed since it started is refused like a changed config;
- :func:`check_writable` turns a read-only directory or a disk without room into one
  clear error before training starts.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from seqapps.errors import ConfigError

try:  # POSIX; on Windows the lock is skipped (no fcntl)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

# OSError numbers that mean "the disk cannot take this write", reported in one line.
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def atomic_write(path: Path, write: Callable[[Path], Any], suffix: str = "") -> None:
    """Write ``path`` whole or not at all: ``write(tmp)``, ``fsync``, then ``os.replace``.

    Args:
        path: the final file.
        write: writes the content to the temporary path it is given (same directory, so
            the rename cannot cross file systems).
        suffix: the temporary file's name ends with ``.tmp`` and this (Keras checks that a
            weights file ends with ``.weights.h5``, a model with ``.keras``).

    Raises:
        OSError: from ``write`` or the rename; the temporary file is removed and ``path``
            keeps its previous content.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with tmp.open("rb") as f:  # the data must be on disk before the rename makes it live
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where possible
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_write_json(path: Path, value: Any) -> None:
    """:func:`atomic_write` of ``value`` as indented UTF-8 JSON."""
    text = json.dumps(value, indent=2)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def remove_stale_temporaries(directory: Path) -> None:
    """Remove the ``.<name>.*.tmp*`` files a killed :func:`atomic_write` left in ``directory``.

    Only call it while holding the directory's :class:`RunLock`: another live writer's
    temporary files would go too.
    """
    for tmp in directory.glob(".*.tmp*"):
        with contextlib.suppress(OSError):
            tmp.unlink()


class RunLock:
    """An exclusive lock on a run directory for the life of one ``train``.

    Use as a context manager. The lock file ``.lock`` holds the owner's pid for the message.

    Raises:
        ConfigError: another process holds the lock.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / ".lock"
        self._file: Any = None

    def __enter__(self) -> RunLock:
        if fcntl is None:  # pragma: no cover
            return self
        try:
            self._file = self.path.open("a+", encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"{self.path.parent}: cannot write here ({e.strerror})") from None
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if not isinstance(e, BlockingIOError):  # e.g. ENOLCK on some network file systems
                self._file.close()
                self._file = None
                raise ConfigError(
                    f"{self.path.parent}: cannot lock the run directory ({e.strerror})"
                ) from None
            self._file.seek(0)
            owner = self._file.read().strip() or "another process"
            self._file.close()
            self._file = None
            raise ConfigError(
                f"{self.path.parent}: in use by a train that is still running (pid {owner}); "
                "wait for it, stop it, or use another --run-dir"
            ) from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(str(os.getpid()))
        self._file.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def _files(path: Path) -> Iterator[Path]:
    if path.is_file():
        yield path
    elif path.is_dir():
        yield from sorted(p for p in path.rglob("*") if p.is_file())
    else:  # a glob pattern (train=data/train-*.csv): the files it matches
        yield from sorted(
            Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file()
        )


def input_fingerprint(paths: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Content digests of the files each setting names: ``{key: {path, files, bytes, sha256}}``.

    Args:
        paths: setting name -> value, e.g. ``{"data": "data/conll"}``: a file, a folder or
            a glob pattern (its matches); other values (``sample``, a TFDS name) are left
            out.

    The digest covers every file's relative path and bytes (BLAKE2 would be faster; SHA-256
    is what users can reproduce with ``sha256sum``). Hashing runs at C speed, about a
    second per GB.
    """
    out: dict[str, dict[str, Any]] = {}
    for key, value in sorted(paths.items()):
        root = Path(value)
        pattern = any(c in value for c in "*?[") and not root.exists()
        if not value or not (root.exists() or pattern):
            continue
        digest = hashlib.sha256()
        files = size = 0
        for file in _files(root):
            rel = (
                file.as_posix()
                if pattern
                else (file.name if root.is_file() else file.relative_to(root).as_posix())
            )
            # Name and size first: renames count as changes, and file boundaries are fixed.
            digest.update(f"{rel}\0{file.stat().st_size}\0".encode())
            with file.open("rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
            files += 1
            size += file.stat().st_size
        out[key] = {"path": value, "files": files, "bytes": size, "sha256": digest.hexdigest()}
    return out


def check_same_inputs(recorded: Path, current: dict[str, dict[str, Any]]) -> None:
    """Refuse to resume when the files behind a setting changed since the run started.

    Args:
        recorded: the run's ``inputs.json`` (from :func:`input_fingerprint` at the start);
            a run without one (older runs) is not checked.
        current: :func:`input_fingerprint` now.

    Raises:
        ConfigError: naming each setting whose files changed.
    """
    if not recorded.is_file():
        return
    old = json.loads(recorded.read_text(encoding="utf-8"))
    changed = [
        f"{key} ({old.get(key, {}).get('path') or current.get(key, {}).get('path')})"
        for key in sorted(set(old) | set(current))
        if old.get(key, {}).get("sha256") != current.get(key, {}).get("sha256")
    ]
    if changed:
        raise ConfigError(
            f"{recorded.parent}: the files of {', '.join(changed)} changed since this run "
            "started; resuming would mix two data sets. Use a new --run-dir"
        )


def check_writable(directory: Path, need_bytes: int = 0) -> None:
    """Check that ``directory`` takes a file and has ``need_bytes`` free.

    Raises:
        ConfigError: the directory is not writable, or the disk has less room than needed.
    """
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        raise ConfigError(f"{directory}: cannot write here ({e.strerror})") from None
    free = shutil.disk_usage(directory).free
    if free < need_bytes:
        raise ConfigError(
            f"{directory}: {free / 1e6:.0f} MB free on this disk, the run needs about "
            f"{need_bytes / 1e6:.0f} MB (backups, best model, logs); free some space "
            "or use another --run-dir"
        )


def disk_error_message(e: OSError, training: bool = False) -> str | None:
    """One line for an OSError a full, read-only or forbidden disk causes, else None.

    Args:
        e: the error.
        training: it stopped a ``train``, whose finished epochs the backup keeps: say so.
    """
    if e.errno not in DISK_ERRNOS:
        return None
    where = f"{e.filename}: " if e.filename else ""
    kept = " (the finished epochs are kept; rerun the command to resume)" if training else ""
    return f"{where}{e.strerror or os.strerror(e.errno)}{kept}"
