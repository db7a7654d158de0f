"""Parallel text for translation: aligned sentence pairs from the usual file layouts.

Layouts read:

- Multi30k (``train.de`` / ``train.en``, ``val.*``, ``test_2016_flickr.*``, plain or
  ``.gz``; the repository's ``raw/`` and ``tok/`` folders, or the files in one folder);
- a tab-separated pair file (Anki / Tatoeba style: ``source<TAB>target[<TAB>attribution]``);
- two aligned plain files (line *i* of one translates line *i* of the other);
- ``tfds:NAME`` translation data sets (downloads on first use).

A pair whose two sides are both empty lines is skipped and counted; one empty side, unequal
line counts or a missing column is an error naming the file and line.

Example:
    >>> pairs = read_aligned("multi30k/raw/train.de.gz", "multi30k/raw/train.en.gz")
    >>> pairs.sources[1]
    'Mehrere Männer mit Schutzhelmen bedienen ein Antriebsradsystem.'
    >>> pairs.targets[1]
    'Several men in hard hats are operating a giant pulley system.'
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from seqapps.data.archives import COMPRESSED_SUFFIXES, plain_name, plain_suffix
from seqapps.data.io import (
    Splits,
    csv_rows,
    find_split_files,
    prepare_tfds,
    random_split,
    read_lines,
)
from seqapps.errors import ConfigError, DataError


@dataclasses.dataclass
class Pairs:
    """Aligned source and target sentences, and how many blank pairs were skipped."""

    sources: list[str]
    targets: list[str]
    skipped_blank: int = 0

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, index: np.ndarray) -> Pairs:
        """The pairs at ``index``, in that order."""
        return Pairs([self.sources[i] for i in index], [self.targets[i] for i in index])


@dataclasses.dataclass
class ParallelData(Splits):
    """Train / val / test pairs."""

    train: Pairs
    val: Pairs
    test: Pairs


def _pair_up(sources: list[str], targets: list[str], source_path: Path, target_path: Path) -> Pairs:
    """Check the lines pair up; skip pairs blank on both sides; error on one blank side."""
    pairs = Pairs([], [])
    for number, (s, t) in enumerate(zip(sources, targets, strict=True), start=1):
        s, t = s.strip(), t.strip()
        if not s and not t:
            pairs.skipped_blank += 1
        elif not s or not t:
            path = source_path if not s else target_path
            raise DataError(path, "empty line where the other side has a sentence", line=number)
        else:
            pairs.sources.append(s)
            pairs.targets.append(t)
    if not pairs.sources:
        raise DataError(source_path, "no sentence pairs")
    return pairs


def read_aligned(source_path: str | Path, target_path: str | Path) -> Pairs:
    """Read two line-aligned files (UTF-8, optionally ``.gz``) into pairs.

    Raises:
        DataError: the files have different line counts, or one side of a pair is empty.
    """
    source_path, target_path = Path(source_path), Path(target_path)
    sources, targets = read_lines(source_path), read_lines(target_path)
    if len(sources) != len(targets):
        raise DataError(
            source_path,
            f"{len(sources)} lines, but {target_path} has {len(targets)}; "
            "aligned files need one line per sentence on both sides",
        )
    return _pair_up(sources, targets, source_path, target_path)


def read_tsv(path: str | Path, reverse: bool = False) -> Pairs:
    """Read ``source<TAB>target[<TAB>more...]`` lines (Anki / Tatoeba exports).

    Args:
        path: the file.
        reverse: the first column is the target (e.g. to translate Anki's English -> X
            files from X into English).
    """
    path = Path(path)
    sources, targets = [], []
    for number, line in enumerate(read_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) < 2:
            if not line.strip():  # a blank line pairs nothing with nothing
                sources.append("")
                targets.append("")
                continue
            raise DataError(path, "no tab: expected source<TAB>target", line=number)
        s, t = (fields[1], fields[0]) if reverse else (fields[0], fields[1])
        sources.append(s)
        targets.append(t)
    return _pair_up(sources, targets, path, path)


def read_pair_file(
    path: str | Path, *, reverse: bool = False, source_column: str = "", target_column: str = ""
) -> Pairs:
    """Read a TSV or CSV pair file, its columns chosen by name (header) or 0-based index.

    Without ``source_column`` / ``target_column`` a tab-separated file is read as
    :func:`read_tsv` reads it (columns 0 and 1, swapped by ``reverse``). Otherwise the file
    is split by commas with CSV quoting when it is a ``.csv`` file without a tab in its
    first line, else by tabs with no quoting (a quote is text), and the columns are the
    ones named: digits are 0-based indexes (no
    header row), names are looked up in the first row (the header). An unset side takes
    column 0 or 1 (``reverse`` swaps them).

    Raises:
        DataError: a column name not in the header (the header is listed), a row with too
            few columns, one empty side of a pair.
    """
    path = Path(path)
    csv_file = plain_suffix(path) == ".csv"
    if not source_column and not target_column and not csv_file:
        return read_tsv(path, reverse)
    lines = read_lines(path)
    if not lines:
        raise DataError(path, "file is empty")
    delimiter = "\t" if not csv_file or "\t" in lines[0] else ","
    specs = [
        source_column or ("1" if reverse else "0"),
        target_column or ("0" if reverse else "1"),
    ]
    rows = csv_rows(path, lines, delimiter)
    header = None
    if not all(spec.isdigit() for spec in specs):
        header = [c.strip() for c in rows[0][1]] if rows else []
        rows = rows[1:]
    columns = []
    for key, spec in zip(("source_column", "target_column"), specs, strict=True):
        if spec.isdigit():
            columns.append(int(spec))
        elif spec in header:
            columns.append(header.index(spec))
        else:
            raise DataError(
                path,
                f"{key}={spec!r} is not in the header ({', '.join(header)})",
                line=1,
                hint="give a header name or a 0-based column index",
            )
    width = max(columns) + 1
    sources, targets = [], []
    for number, row in rows:
        if not any(cell.strip() for cell in row):
            sources.append("")
            targets.append("")
            continue
        if len(row) < width:
            raise DataError(path, f"expected at least {width} columns, got {len(row)}", line=number)
        sources.append(row[columns[0]])
        targets.append(row[columns[1]])
    return _pair_up(sources, targets, path, path)


def concat_pairs(parts: list[Pairs]) -> Pairs:
    """The pairs of ``parts`` in order, their blank counts summed."""
    out = Pairs([], [])
    for part in parts:
        out.sources.extend(part.sources)
        out.targets.extend(part.targets)
        out.skipped_blank += part.skipped_blank
    return out


# Multi30k file stems, and the forms its repository ships (raw: cased; tok: lower-cased,
# Moses-tokenised, the form most papers score on).
_MULTI30K_SPLITS = {"train": "train", "val": "val"}
_MULTI30K_FORMS = {"raw": ("raw", "{stem}.{lang}.gz"), "tok": ("tok", "{stem}.lc.norm.tok.{lang}")}


def load_multi30k(
    directory: str | Path,
    source_lang: str = "de",
    target_lang: str = "en",
    *,
    form: str = "raw",
    test_set: str = "test_2016_flickr",
) -> ParallelData:
    """Load Multi30k from its repository layout (``raw/``, ``tok/``) or one flat folder.

    In a flat folder the files are ``{train,val,TEST}.{lang}`` (``.gz`` too).
    """
    directory = Path(directory)
    sub, pattern = _MULTI30K_FORMS.get(form, (None, None))
    if sub is None:
        raise ConfigError(f"unknown Multi30k form {form!r}; use raw or tok")
    splits = {**_MULTI30K_SPLITS, "test": test_set}

    def find(lang: str) -> dict[str, Path]:
        """Each split's file for ``lang``: by Multi30k's names, else by name pattern."""
        known = {}
        for split, stem in splits.items():
            names = [f"{stem}.{lang}{c}" for c in ("", *COMPRESSED_SUFFIXES)]
            if (directory / sub).is_dir():
                names.insert(0, f"{sub}/{pattern.format(stem=stem, lang=lang)}")
            known[split] = names
        if any((directory / n).is_file() for n in known["train"]):
            # A Multi30k layout: its names only (a test_set it lacks is not guessed at).
            found = {}
            for split, names in known.items():
                paths = [directory / n for n in names if (directory / n).is_file()]
                if not paths:
                    raise DataError(
                        directory,
                        f"no {splits[split]} file for {lang!r} (looked for {', '.join(names)})",
                    )
                found[split] = paths[0]
            return found
        return find_split_files(
            directory,
            known,
            keep=lambda p: plain_name(p.name).endswith(f".{lang}"),
            hint=f"one file per split ending in .{lang} (or .{lang}.gz)",
        )

    sources, targets = find(source_lang), find(target_lang)
    return ParallelData(**{split: read_aligned(sources[split], targets[split]) for split in splits})


def split_pairs(
    pairs: Pairs, *, val_fraction: float, test_fraction: float, seed: int, source: str
) -> ParallelData:
    """Split one set of pairs at random (seeded) into train / val / test."""
    parts = random_split(
        len(pairs), val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, source=source
    )
    return ParallelData(**{split: pairs.subset(index) for split, index in parts.items()})


def load_tfds_translation(
    name: str, source_lang: str, target_lang: str, *, val_fraction: float, seed: int
) -> ParallelData:
    """Load a TFDS translation set, e.g. ``wmt14_translate/de-en`` (needs internet once)."""
    import tensorflow_datasets as tfds  # imported lazily: slow, and only this path needs it

    source = f"tfds:{name}"
    builder = prepare_tfds(name)
    features = builder.info.features
    for lang in (source_lang, target_lang):
        if lang not in features:
            raise ConfigError(
                f"{source}: no language {lang!r}; it has {', '.join(features.keys())} "
                "(set source_lang= / target_lang=)"
            )
    available = set(builder.info.splits.keys()) or {"train", "validation", "test"}

    def read(split: str) -> Pairs:
        sources, targets = [], []
        for ex in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)):
            sources.append(ex[source_lang].decode("utf-8"))
            targets.append(ex[target_lang].decode("utf-8"))
        return _pair_up(sources, targets, Path(f"{source}[{split}]"), Path(f"{source}[{split}]"))

    train = read("train")
    if "validation" in available:
        return ParallelData(train=train, val=read("validation"), test=read("test"))
    # No validation split: hold out a seeded share of train.
    order = np.random.default_rng(seed).permutation(len(train))
    n_val = max(1, round(len(train) * val_fraction))
    return ParallelData(
        train=train.subset(order[n_val:]), val=train.subset(order[:n_val]), test=read("test")
    )
