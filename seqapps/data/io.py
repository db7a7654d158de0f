"""Reading user files with errors that name the file, the line and the problem; splits."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from seqapps.data.archives import is_data_file, read_bytes
from seqapps.errors import ConfigError, DataError


def read_lines(path: str | Path) -> list[str]:
    """Read a UTF-8 text file (optionally ``.gz``, ``.bz2`` or ``.xz``) into lines.

    Lines come without their endings. A trailing newline does not make an extra empty
    line; CRLF line endings are accepted; a leading UTF-8 byte-order mark is dropped;
    text is normalised to Unicode NFC, as the in-graph tokenizers do
    (:func:`seqapps.data.text.nfc`), so a file typed with decomposed accents reads like
    its composed twin.

    Raises:
        DataError: the file is missing, not readable in its compression
            (:func:`seqapps.data.archives.read_bytes`), or a line is not valid UTF-8
            (naming the line).
    """
    path = Path(path)
    raw = read_bytes(path)
    # A leading UTF-8 byte-order mark (Windows editors write one) is not text: without this
    # a CoNLL file read "\ufeff-DOCSTART-" as a word and a CSV header "\ufefftext".
    raw = raw.removeprefix(b"\xef\xbb\xbf")
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
    # NFC per line, not on the whole text: normalisation never crosses a line break, and
    # the common all-NFC line is detected by a fast check without copying.
    text_lines = [unicodedata.normalize("NFC", line) for line in text_lines]
    return [line[:-1] if line.endswith("\r") else line for line in text_lines]


def sample_dir(task: str) -> Path:
    """Return the directory of the small real sample shipped for ``task``."""
    return Path(str(resources.files("seqapps.data") / "samples" / task))


SPLITS = ("train", "val", "test")


class Splits:
    """``split(name)`` for the data-set dataclasses, whose fields include the three splits."""

    def split(self, name: str) -> Any:
        """Return the split called ``train``, ``val`` or ``test``."""
        if name not in SPLITS:
            raise ConfigError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        return getattr(self, name)


# Name patterns of each split's file in a folder (case-insensitive substrings), for folders
# in no layout a loader knows by exact names: xxxtrain.conll, xxx.dev.conll, xxx.test.txt.
SPLIT_PATTERNS = {"train": ("train",), "val": ("dev", "valid", "val"), "test": ("test",)}


def find_split_files(
    directory: str | Path,
    known: dict[str, Sequence[str]] | None = None,
    *,
    keep: Callable[[Path], bool] | None = None,
    splits: Sequence[str] = SPLITS,
    hint: str | None = None,
) -> dict[str, Path]:
    """Each split's file in ``directory``: by a known name, else by a common name pattern.

    ``known`` lists exact file names per split, tried first in order (a layout's own names,
    e.g. CoNLL-2003's ``eng.testa``). A split with no known name present is found among the
    folder's files by :data:`SPLIT_PATTERNS` (``*train*``; ``*dev*``, ``*valid*``,
    ``*val*``; ``*test*``, case-insensitive), ignoring hidden files and README / SOURCE /
    LICENSE notes, and files ``keep`` rejects; a name that fits two splits (``trainval``)
    is neither's. Exactly one file must match.

    Raises:
        DataError: a split with no file or several candidates; the message lists the
            candidates found for every split.
    """
    directory = Path(directory)
    files = sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and is_data_file(p) and (keep is None or keep(p))
    )
    found: dict[str, Path] = {}
    candidates: dict[str, list[Path]] = {}
    for split in splits:
        names = (known or {}).get(split, ())
        exact = [directory / n for n in names if (directory / n).is_file()]
        if exact:
            found[split] = exact[0]
            continue
        candidates[split] = [
            p for p in files if any(pat in p.name.lower() for pat in SPLIT_PATTERNS[split])
        ]
    # A file taken by its exact name is no candidate for another split (eng.testa is val),
    # and a name that fits two splits (trainval.txt) is neither's: it would otherwise be
    # read as training and validation data at once.
    taken = set(found.values())
    fits = {p: sum(p in paths for paths in candidates.values()) for p in files}
    for split, paths in candidates.items():
        paths[:] = [p for p in paths if p not in taken and fits.get(p, 0) < 2]
        if len(paths) == 1:
            found[split] = paths[0]
    if len(found) == len(splits):
        return found
    listing = "; ".join(
        f"{s}: {', '.join(p.name for p in candidates[s]) or 'none'}"
        if s in candidates
        else f"{s}: {found[s].name}"
        for s in splits
    )
    problems = [s for s in splits if s not in found]
    several = [s for s in problems if candidates.get(s)]
    what = (
        f"several candidate files for {', '.join(several)}"
        if several
        else f"no {', '.join(problems)} file"
    )
    looked = "names with train; dev, valid or val; test"
    raise DataError(
        directory,
        f"{what} (found {listing}; looked for {looked})",
        hint=hint,
    )


def random_split(
    n: int, *, val_fraction: float, test_fraction: float, seed: int, source: str | Path
) -> dict[str, np.ndarray]:
    """Shuffle ``range(n)`` (seeded) into ``test``, ``val`` and ``train`` index arrays.

    Raises:
        DataError: a split would be empty.

    Example:
        >>> {k: len(v) for k, v in random_split(10, val_fraction=0.2, test_fraction=0.1,
        ...                                     seed=0, source="x").items()}
        {'test': 1, 'val': 2, 'train': 7}
    """
    n_val, n_test = int(round(n * val_fraction)), int(round(n * test_fraction))
    if n - n_val - n_test < 1 or n_val < 1 or n_test < 1:
        raise DataError(
            source,
            f"{n} examples are too few to split into train/val/test "
            f"with val_fraction={val_fraction}, test_fraction={test_fraction}",
        )
    order = np.random.default_rng(seed).permutation(n)
    return {
        "test": order[:n_test],
        "val": order[n_test : n_test + n_val],
        "train": order[n_test + n_val :],
    }


def prepare_tfds(name: str) -> Any:
    """Return the TFDS builder ``name``, downloaded and prepared (needs internet once).

    Raises:
        ConfigError: TFDS has no such data set.
        DataError: the download or preparation failed (offline, most often).
    """
    import tensorflow_datasets as tfds  # imported lazily: slow, and only this path needs it

    try:
        builder = tfds.builder(name)
        builder.download_and_prepare()
    except tfds.core.registered.DatasetNotFoundError:
        raise ConfigError(f"tfds:{name}: no such TFDS data set") from None
    except Exception as e:  # network errors come in many types; say what happened
        raise DataError(
            f"tfds:{name}",
            f"could not download or prepare ({type(e).__name__}: {e})",
            hint="TFDS downloads need internet; offline, point data= at files",
        ) from None
    return builder


def csv_rows(path: str | Path, lines: list[str], delimiter: str) -> list[tuple[int, list[str]]]:
    """``(line number, cells)`` of delimited text, each failure a :class:`DataError`.

    Commas get CSV quoting; tabs none (TSV has no quoting: a quote is text, and an
    unmatched one must not swallow the tabs and lines after it). The csv module's own
    errors (a stray carriage return inside a line, a NUL byte) name the file and line.
    """
    reader = csv.reader(
        io.StringIO("\n".join(lines)),
        delimiter=delimiter,
        quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL,
    )
    rows = []
    try:
        for row in reader:  # csv can join physical lines (quoted newlines): line_num is right
            rows.append((reader.line_num, row))
    except csv.Error as e:
        raise DataError(
            path,
            f"not valid {'TSV' if delimiter == chr(9) else 'CSV'} ({e})",
            line=reader.line_num,
        ) from None
    return rows
