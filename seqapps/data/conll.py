"""CoNLL-style tagged text: one token per line, the tag in the last column.

Blank lines separate sentences and ``-DOCSTART-`` lines separate documents.

Tags are read as IOB1 (the original CoNLL-2003 scheme, ``B-`` only between two adjacent
entities of one type) or IOB2 (``B-`` at every entity start), detected or configured, and
converted to IOB2, the one internal scheme. Both readings follow conlleval: an ``I-X`` that
does not continue an ``X`` entity starts one.

Example:
    >>> data = load_conll_dir(sample_dir("ner"))
    >>> data.train.tokens[0][:3], data.train.tags[0][:3]
    (['EU', 'rejects', 'German'], ['B-ORG', 'O', 'B-MISC'])
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Literal

import numpy as np

from seqapps.data.io import Splits, find_split_files, prepare_tfds, random_split, read_lines
from seqapps.errors import ConfigError, DataError

Scheme = Literal["auto", "iob1", "iob2"]
_TAG = re.compile(r"O|[BI]-[^\s]+")
# File names of each split in the layouts we know: CoNLL-2003's own (eng.*), the
# HuggingFace / deepai copy behind tfds:conll2003 (train/valid/test.txt), and plain names.
_LAYOUTS = {
    "train": ("eng.train", "train.txt", "train.conll", "train"),
    "val": ("eng.testa", "valid.txt", "dev.txt", "val.txt", "dev.conll", "dev", "valid"),
    "test": ("eng.testb", "test.txt", "test.conll", "test"),
}


@dataclasses.dataclass
class TaggedSentences:
    """Parallel lists of sentences: tokens and their IOB2 tags."""

    tokens: list[list[str]]
    tags: list[list[str]]

    def __len__(self) -> int:
        return len(self.tokens)

    def subset(self, index: np.ndarray) -> TaggedSentences:
        """The sentences at ``index``, in that order."""
        return TaggedSentences([self.tokens[i] for i in index], [self.tags[i] for i in index])


@dataclasses.dataclass
class NerData(Splits):
    """Train / val / test splits of tagged sentences."""

    train: TaggedSentences
    val: TaggedSentences
    test: TaggedSentences


def entity_type(tag: str) -> str:
    """``"B-PER"`` -> ``"PER"``; ``"O"`` -> ``""``."""
    return tag[2:]


def to_iob2(tags: list[str]) -> list[str]:
    """Convert one sentence's IOB1 (or already IOB2) tags to IOB2.

    An ``I-X`` that does not continue an ``X`` entity starts one, so it becomes ``B-X``.

    Example:
        >>> to_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC"])
        ['B-PER', 'I-PER', 'O', 'B-LOC', 'B-LOC']
    """
    out, prev = [], "O"
    for tag in tags:
        if tag.startswith("I-") and entity_type(prev) != entity_type(tag):
            tag = "B-" + entity_type(tag)
        out.append(tag)
        prev = tag
    return out


def read_conll(path: str | Path, scheme: Scheme = "auto") -> TaggedSentences:
    """Read one CoNLL-style file into sentences with IOB2 tags.

    The token is the first column and the tag the last; columns are separated by spaces or
    tabs and every token line must have as many as the first. ``-DOCSTART-`` lines and blank
    lines end a sentence.

    Args:
        path: the file (UTF-8, optionally ``.gz``).
        scheme: ``iob1``, ``iob2``, or ``auto``: IOB1 if some entity starts with ``I-``
            (which IOB2 forbids), else IOB2. The two give the same entities on IOB2 input.

    Raises:
        DataError: naming the line, for a wrong column count, a tag that is not ``O``,
            ``B-TYPE`` or ``I-TYPE``, an ``I-`` entity start in a file said to be IOB2, or
            a file with no sentences.
    """
    sentences: list[tuple[list[str], list[str], int]] = []  # tokens, tags, first line
    tokens: list[str] = []
    tags: list[str] = []
    columns = 0
    start = 0
    for number, line in enumerate(read_lines(path), start=1):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if tokens:
                sentences.append((tokens, tags, start))
                tokens, tags = [], []
            continue
        if not columns:
            columns = len(fields)
            if columns < 2:
                raise DataError(
                    path,
                    f"one column ({line!r}); expected the token first and the tag last",
                    line=number,
                )
        elif len(fields) != columns:
            raise DataError(
                path,
                f"{len(fields)} columns where earlier lines have {columns} ({line!r})",
                line=number,
            )
        tag = fields[-1]
        if not _TAG.fullmatch(tag):
            hint = "BIOES tags are not supported" if tag[:2] in ("E-", "S-") else None
            raise DataError(path, f"tag {tag!r} is not O, B-TYPE or I-TYPE", line=number, hint=hint)
        if not tokens:
            start = number
        tokens.append(fields[0])
        tags.append(tag)
    if tokens:
        sentences.append((tokens, tags, start))
    if not sentences:
        raise DataError(path, "no sentences (expected one token and its tag per line)")

    first_i_start = _first_i_start(sentences)
    if scheme == "iob2" and first_i_start is not None:
        number, tag = first_i_start
        raise DataError(
            path,
            f"{tag} starts an entity, which IOB2 does not allow",
            line=number,
            hint="the file looks like IOB1; set tag_scheme=iob1 or auto",
        )
    # IOB1 proper uses B- only after an entity of the same type, but conlleval reads any
    # B- as an entity start, and CoNLL-2003's own eng.train has two B- after O (lines
    # 152428 and 175436), so B- anywhere is accepted in both schemes.
    return TaggedSentences([s[0] for s in sentences], [to_iob2(s[1]) for s in sentences])


def _first_i_start(sentences: list[tuple[list[str], list[str], int]]) -> tuple[int, str] | None:
    """Line and tag of the first ``I-X`` that starts an entity, if any."""
    for _, tags, start in sentences:
        prev = "O"
        for offset, tag in enumerate(tags):
            if tag.startswith("I-") and entity_type(prev) != entity_type(tag):
                return start + offset, tag
            prev = tag
    return None


def load_conll_dir(directory: str | Path, scheme: Scheme = "auto") -> NerData:
    """Load train / val / test from a directory in a known layout, or by file names.

    Layouts: CoNLL-2003's ``eng.train`` / ``eng.testa`` / ``eng.testb``;
    ``train.txt`` / ``valid.txt`` (or ``dev.txt``) / ``test.txt``; ``train`` / ``dev`` /
    ``test`` with or without ``.conll``. Otherwise one file per split named like
    ``*train*``, ``*dev*`` / ``*valid*`` / ``*val*``, ``*test*``
    (:func:`~seqapps.data.io.find_split_files`: ``xxxtrain.conll``, ``xxx.dev.conll``,
    ``xxx.test.annotated``).
    """
    paths = find_split_files(
        directory, _LAYOUTS, hint="or point data= at one CoNLL file to split it"
    )
    return NerData(**{split: read_conll(path, scheme) for split, path in paths.items()})


def read_conll_files(paths: list[str | Path], scheme: Scheme = "auto") -> TaggedSentences:
    """:func:`read_conll` of each file, concatenated in order."""
    out = TaggedSentences([], [])
    for path in paths:
        part = read_conll(path, scheme)
        out.tokens.extend(part.tokens)
        out.tags.extend(part.tags)
    return out


def load_conll_file(
    path: str | Path,
    scheme: Scheme = "auto",
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 42,
) -> NerData:
    """Load one CoNLL-style file and split its sentences at random (seeded) into three."""
    sentences = read_conll(path, scheme)
    parts = random_split(
        len(sentences),
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        source=path,
    )
    return NerData(**{split: sentences.subset(index) for split, index in parts.items()})


def load_tfds_conll(name: str, tag_key: str = "ner") -> NerData:
    """Load a TFDS CoNLL data set such as ``conll2003`` (downloads on first use)."""
    import tensorflow_datasets as tfds  # imported lazily: slow, and only this path needs it

    source = f"tfds:{name}"
    builder = prepare_tfds(name)
    features = builder.info.features
    for key in ("tokens", tag_key):
        if key not in features:
            raise ConfigError(
                f"{source}: no feature {key!r}; features are {', '.join(features.keys())}"
            )
    names = list(features[tag_key].feature.names)
    available = set(builder.info.splits.keys()) or {"train", "dev", "test"}
    val_split = "dev" if "dev" in available else "validation"

    def read(split: str) -> TaggedSentences:
        out = TaggedSentences([], [])
        for ex in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)):
            if len(ex["tokens"]):
                out.tokens.append([t.decode("utf-8") for t in ex["tokens"]])
                out.tags.append(to_iob2([names[i] for i in ex[tag_key]]))
        return out

    return NerData(train=read("train"), val=read(val_split), test=read("test"))
