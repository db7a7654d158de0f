"""Reading user files with errors that name the file, the line and the problem."""

from __future__ import annotations

import gzip
from importlib import resources
from pathlib import Path

from seqapps.errors import DataError


def read_lines(path: str | Path) -> list[str]:
    """Read a UTF-8 text file (optionally ``.gz``) into lines without line endings.

    A trailing newline does not make an extra empty line; CRLF line endings are accepted.

    Raises:
        DataError: the file is missing, or a line is not valid UTF-8 (naming the line).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataError(path, f"not a readable gzip file ({e})") from None
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    try:
        text_lines = raw.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        # Only on failure do we pay for a line-by-line pass, to name the bad line.
        for number, line in enumerate(lines, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(
                    path,
                    f"not valid UTF-8 (byte 0x{line[e.start]:02x} at column {e.start + 1})",
                    line=number,
                    hint="re-save the file as UTF-8",
                ) from None
        raise  # unreachable: some line must fail
    if text_lines and text_lines[-1] == "":
        text_lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in text_lines]


def sample_dir(task: str) -> Path:
    """Return the directory of the small real sample shipped for ``task``."""
    return Path(str(resources.files("seqapps.data") / "samples" / task))
