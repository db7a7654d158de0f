"""Loaders for text classification data: TweetEval layout, CSV/TSV files, TFDS, the sample.

All loaders return a :class:`ClassificationData`: train / val / test texts with integer
labels and the list of label names. Every problem in a file is reported with its path and
line number.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from seqapps.data.archives import plain_suffix
from seqapps.data.io import (
    SPLITS,
    Splits,
    csv_rows,
    find_split_files,
    prepare_tfds,
    random_split,
    read_lines,
)
from seqapps.errors import ConfigError, DataError

# Canonical class order for sentiment, used whenever a file's labels are these names.
SENTIMENT_LABELS = ["negative", "neutral", "positive"]


@dataclasses.dataclass
class LabeledTexts:
    """One split: texts, integer labels aligned with them, and where they came from."""

    texts: list[str]
    labels: np.ndarray  # (n,) int32
    source: str

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: np.ndarray) -> LabeledTexts:
        """The examples at ``index``, in that order."""
        return LabeledTexts([self.texts[i] for i in index], self.labels[index], self.source)


@dataclasses.dataclass
class ClassificationData(Splits):
    """Train / val / test splits plus the label names (index -> name)."""

    train: LabeledTexts
    val: LabeledTexts
    test: LabeledTexts
    label_names: list[str]


def load_tweeteval(directory: str | Path) -> ClassificationData:
    """Load the TweetEval layout: ``{train,val,test}_{text,labels}.txt`` and ``mapping.txt``.

    ``mapping.txt`` holds ``id<TAB>name`` lines; label files hold one id per line. A TweetEval
    root holding a ``sentiment/`` folder is accepted too.
    """
    directory = Path(directory)
    if not (directory / "train_text.txt").exists() and (directory / "sentiment").is_dir():
        directory = directory / "sentiment"
    mapping_path = directory / "mapping.txt"
    if not mapping_path.is_file():
        raise DataError(
            mapping_path,
            "file not found",
            hint="a TweetEval directory holds mapping.txt and {train,val,test}_{text,labels}.txt",
        )
    ids: dict[str, int] = {}
    names: list[str] = []
    for number, line in enumerate(read_lines(mapping_path), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip().isdigit():
            raise DataError(mapping_path, f"expected 'id<TAB>name', got {line!r}", line=number)
        if int(parts[0]) != len(names):
            raise DataError(mapping_path, "ids must be 0, 1, 2, ... in order", line=number)
        ids[parts[0].strip()] = len(names)
        names.append(parts[1].strip())
    if not names:
        raise DataError(mapping_path, "no labels in mapping file")

    splits = {}
    for split in SPLITS:
        text_path = directory / f"{split}_text.txt"
        label_path = directory / f"{split}_labels.txt"
        texts = read_lines(text_path)
        raw_labels = read_lines(label_path)
        if len(texts) != len(raw_labels):
            raise DataError(
                label_path,
                f"{len(raw_labels)} labels but {text_path.name} has {len(texts)} lines",
                hint="text and label files must have one line per example, aligned",
            )
        if not texts:
            raise DataError(text_path, f"the {split} split is empty")
        labels = np.empty(len(texts), np.int32)
        for i, raw in enumerate(raw_labels):
            key = raw.strip()
            if key not in ids:
                raise DataError(
                    label_path,
                    f"label {raw!r} is not in mapping.txt (valid: {', '.join(ids)})",
                    line=i + 1,
                )
            labels[i] = ids[key]
        splits[split] = LabeledTexts(texts, labels, str(text_path))
    return ClassificationData(**splits, label_names=names)


def _label_names(found: set[str]) -> list[str]:
    if found <= set(SENTIMENT_LABELS):
        return [n for n in SENTIMENT_LABELS if n in found]
    if all(n.lstrip("-").isdigit() for n in found):
        return sorted(found, key=int)
    return sorted(found)


def _column(spec: str, header: list[str] | None, path: Path) -> int:
    if spec.isdigit():
        return int(spec)
    if header is None or spec not in header:
        raise DataError(
            path,
            f"no column named {spec!r} in the header row",
            line=1,
            hint="add a header with 'text' and 'label' columns, or set text_column= and "
            "label_column= to 0-based column numbers",
        )
    return header.index(spec)


@dataclasses.dataclass
class LabeledRows:
    """Texts with their labels as written (label names not yet fixed): a split file."""

    texts: list[str]
    labels: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: np.ndarray) -> LabeledRows:
        """The rows at ``index``, in that order."""
        return LabeledRows(
            [self.texts[i] for i in index], [self.labels[i] for i in index], self.source
        )


def read_delimited(
    paths: list[str | Path] | str | Path, *, text_column: str = "text", label_column: str = "label"
) -> LabeledRows:
    """Read (text, label) rows of one or more CSV / TSV files, concatenated in order.

    Columns are found by header name (``text_column``, ``label_column``) or, when given as
    digits, by 0-based position in a file without a header.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out = LabeledRows([], [], ", ".join(str(p) for p in paths))
    for path in paths:
        path = Path(path)
        lines = read_lines(path)
        if not lines:
            raise DataError(path, "file is empty")
        tab = plain_suffix(path) in (".tsv", ".tab") or "\t" in lines[0]
        delimiter = "\t" if tab else ","
        by_position = text_column.isdigit() and label_column.isdigit()
        rows = csv_rows(path, lines, delimiter)
        header = None if by_position else [c.strip() for c in rows[0][1]]
        t_col = _column(text_column, header, path)
        l_col = _column(label_column, header, path)
        width = max(t_col, l_col) + 1
        count = 0
        for line, row in rows if by_position else rows[1:]:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < width:
                raise DataError(
                    path, f"expected at least {width} columns, got {len(row)}", line=line
                )
            label = row[l_col].strip()
            if not label:
                raise DataError(path, "empty label", line=line)
            out.texts.append(row[t_col])
            out.labels.append(label)
            count += 1
        if not count:
            raise DataError(path, "no examples after the header")
    return out


def label_splits(parts: dict[str, LabeledRows]) -> ClassificationData:
    """:class:`ClassificationData` from the splits' rows; label names from all of them."""
    names = _label_names({label for part in parts.values() for label in part.labels})
    index = {n: i for i, n in enumerate(names)}
    splits = {
        k: LabeledTexts(
            part.texts, np.array([index[x] for x in part.labels], np.int32), part.source
        )
        for k, part in parts.items()
    }
    return ClassificationData(**splits, label_names=names)


def load_split_dir(
    directory: str | Path, *, text_column: str = "text", label_column: str = "label"
) -> ClassificationData:
    """A folder of one CSV / TSV file per split, found by name (``train.tsv``, ``dev.csv``...)."""
    paths = find_split_files(
        directory,
        keep=lambda p: plain_suffix(p) in (".csv", ".tsv", ".tab", ".txt"),
        hint="a TweetEval folder holds mapping.txt; a split folder one CSV/TSV per split",
    )
    return label_splits(
        {
            k: read_delimited(p, text_column=text_column, label_column=label_column)
            for k, p in paths.items()
        }
    )


def load_delimited(
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 42,
) -> ClassificationData:
    """Load a CSV or TSV file of (text, label) rows and split it into train / val / test.

    Columns are found by header name (``text_column``, ``label_column``) or, when given as
    digits, by 0-based position in a file without a header. Labels may be any strings;
    ``negative/neutral/positive`` keep that order. The split is a seeded shuffle.
    """
    path = Path(path)
    rows = read_delimited(path, text_column=text_column, label_column=label_column)
    names = _label_names(set(rows.labels))
    index = {n: i for i, n in enumerate(names)}
    labels = np.array([index[label] for label in rows.labels], np.int32)
    return _split(rows.texts, labels, names, str(path), val_fraction, test_fraction, seed)


def _split(
    texts: list[str],
    labels: np.ndarray,
    names: list[str],
    source: str,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> ClassificationData:
    parts = random_split(
        len(texts), val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, source=source
    )
    splits = {
        k: LabeledTexts([texts[i] for i in idx], labels[idx], f"{source} ({k} part)")
        for k, idx in parts.items()
    }
    return ClassificationData(**splits, label_names=names)


def load_tfds(
    name: str,
    *,
    text_key: str = "text",
    label_key: str = "label",
    val_fraction: float = 0.1,
    seed: int = 42,
) -> ClassificationData:
    """Load a TFDS text classification data set (downloads on first use; needs internet).

    Uses the ``validation`` split if there is one, else carves ``val_fraction`` of train;
    uses ``test`` if there is one, else carves the same fraction again.
    """
    import tensorflow_datasets as tfds  # imported lazily: slow, and only this path needs it

    source = f"tfds:{name}"
    builder = prepare_tfds(name)
    features = builder.info.features
    for key in (text_key, label_key):
        if key not in features:
            raise ConfigError(
                f"{source}: no feature {key!r}; features are {', '.join(features.keys())} "
                "(set tfds_text_key= / tfds_label_key=)"
            )
    names = list(features[label_key].names)
    # Split info is empty when TFDS mocks the data (tests); assume the usual train + test.
    available = set(builder.info.splits.keys()) or {"train", "test"}

    def read(split: str) -> LabeledTexts:
        texts, labels = [], []
        for ex in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)):
            texts.append(ex[text_key].decode("utf-8", errors="replace"))
            labels.append(int(ex[label_key]))
        if not texts:
            raise DataError(source, f"the {split} split is empty")
        return LabeledTexts(texts, np.array(labels, np.int32), f"{source}:{split}")

    full_train = read("train")
    order = np.random.default_rng(seed).permutation(len(full_train))
    n_carve = max(1, int(round(len(order) * val_fraction)))

    def carve(tag: str) -> LabeledTexts:
        nonlocal order
        idx, order = order[:n_carve], order[n_carve:]
        if len(order) < 1:
            raise DataError(source, "too few training examples to carve val/test splits from")
        return LabeledTexts(
            [full_train.texts[i] for i in idx], full_train.labels[idx], f"{source}:train ({tag})"
        )

    val_name = next((s for s in ("validation", "val", "dev") if s in available), None)
    val = read(val_name) if val_name else carve("val part")
    test = read("test") if "test" in available else carve("test part")
    train = LabeledTexts(
        [full_train.texts[i] for i in order], full_train.labels[order], f"{source}:train"
    )
    return ClassificationData(train, val, test, names)
