"""Images with reference captions, from the usual layouts (groundwork of the captioning task).

Layouts read:

- Flickr8k: ``Flickr8k.token.txt`` (``<image>.jpg#<n><TAB><caption>``, five per image), the
  official ``Flickr_8k.{train,dev,test}Images.txt`` lists and an image folder (``images/``
  or the original ``Flicker8k_Dataset/``);
- COCO captions JSON (``{"images": [{"id", "file_name"}], "annotations": [{"image_id",
  "caption"}]}``) with its image folder;
- a plain ``image_path<TAB>caption`` file, one caption per line (an image may have several
  lines); relative paths are read from the file's folder.

A missing image, a file that is not a JPEG, PNG, GIF or BMP image (by its first bytes), or
one TensorFlow cannot decode (a truncated JPEG, a JPEG header followed by zeros: every image
is decoded when it is loaded, in a parallel ``tf.data`` pass) is an error naming it, unless
``skip_missing`` is set: then it is skipped and counted in ``skipped_missing``.

Example:
    >>> data = load_flickr8k("../shared/data/captioning/flickr8k")
    >>> len(data.train), len(data.train.captions[0])
    (6000, 5)
"""

from __future__ import annotations

import dataclasses
import json
import unicodedata
from pathlib import Path

import numpy as np
import tensorflow as tf

from seqapps.data.archives import plain_suffix, read_bytes
from seqapps.data.images import UNDECODABLE
from seqapps.data.io import SPLITS, Splits, find_split_files, random_split, read_lines
from seqapps.data.text import standardize_sentence
from seqapps.errors import DataError
from seqapps.quiet import c_stderr_silenced


@dataclasses.dataclass
class CaptionedImages:
    """Image paths, the reference captions of each, and how many missing images were skipped."""

    images: list[Path]
    captions: list[list[str]]
    skipped_missing: int = 0

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index: np.ndarray) -> CaptionedImages:
        """The images at ``index``, in that order."""
        return CaptionedImages([self.images[i] for i in index], [self.captions[i] for i in index])


@dataclasses.dataclass
class CaptionData(Splits):
    """Train / val / test captioned images."""

    train: CaptionedImages
    val: CaptionedImages
    test: CaptionedImages


# The first bytes of the image formats tf.io.decode_image reads.
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


def image_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as an image, or None (see :func:`image_problems`)."""
    return image_problems([path])[0]


def _head_problem(path: Path) -> str | None:
    """The cheap checks: the file exists, can be read and starts like an image."""
    if not path.is_file():
        return "image not found"
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if not head.startswith(_MAGIC):
        return "not a JPEG, PNG, GIF or BMP image"
    return None


# Files that decoded, by (path, size, modification time): a run's later loads skip them.
_DECODED: set[tuple[str, int, int]] = set()


def image_problems(paths: list[Path]) -> list[str | None]:
    """Why each path cannot be read as an image, or None; in order.

    Missing; not a JPEG, PNG, GIF or BMP image by its first bytes; or data TensorFlow
    cannot decode (:data:`~seqapps.data.images.UNDECODABLE`: truncated, a header followed
    by zeros, corrupt), found by decoding every image as training and serving do, in a
    parallel ``tf.data`` pass (about 0.5 ms of CPU per Flickr8k image). A file that decoded
    is not decoded again in this process unless its size or modification time changes.
    """
    problems = [_head_problem(Path(p)) for p in paths]
    todo = {}
    for k, (path, problem) in enumerate(zip(paths, problems, strict=True)):
        if problem is None:
            stat = Path(path).stat()
            key = (str(Path(path).absolute()), stat.st_size, stat.st_mtime_ns)
            if key not in _DECODED:
                todo[k] = key
    if not todo:
        return problems
    index = np.fromiter(todo, np.int64, len(todo))
    ds = tf.data.Dataset.from_tensor_slices((index, [todo[k][0] for k in todo]))
    ds = ds.map(
        lambda k, name: (
            k,
            tf.shape(tf.io.decode_image(tf.io.read_file(name), 3, expand_animations=False)),
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    ds = ds.ignore_errors().map(lambda k, shape: k).batch(4096)
    with c_stderr_silenced():  # libjpeg's own warnings: the DataError names the file
        decoded = {int(k) for batch in ds for k in batch.numpy()}
    for k, key in todo.items():
        if k in decoded:
            _DECODED.add(key)
        else:
            problems[k] = UNDECODABLE
    return problems


def _collect(
    names: list[str],
    captions: dict[str, list[str]],
    image_dir: Path,
    source: Path,
    skip_missing: bool,
) -> CaptionedImages:
    """Pair each image name with its captions; check that each image file decodes."""
    for name in names:
        if name not in captions:
            raise DataError(source, f"image {name} has no caption")
    paths = [image_dir / name for name in names]
    out = CaptionedImages([], [])
    for name, path, problem in zip(names, paths, image_problems(paths), strict=True):
        if problem:
            if skip_missing:
                out.skipped_missing += 1
                continue
            raise DataError(path, problem, hint="skip_missing=true skips such images")
        out.images.append(path)
        out.captions.append(captions[name])
    return out


def read_flickr8k_captions(path: str | Path) -> dict[str, list[str]]:
    """Read ``<image>#<n><TAB><caption>`` lines into ``{image: [captions in n order]}``.

    Raises:
        DataError: a line without a tab or without ``#<n>`` after the image name.
    """
    path = Path(path)
    numbered: dict[str, list[tuple[int, str]]] = {}
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        key, tab, caption = line.partition("\t")
        name, hash_, n = key.rpartition("#")
        if not tab or not hash_ or not n.isdigit() or not caption.strip():
            raise DataError(path, "expected <image>#<n><TAB><caption>", line=number)
        numbered.setdefault(name, []).append((int(n), caption.strip()))
    return {name: [c for _, c in sorted(caps)] for name, caps in numbered.items()}


def load_flickr8k(directory: str | Path, *, skip_missing: bool = False) -> CaptionData:
    """Load Flickr8k's captions, official splits (train / dev -> val / test) and images.

    The split lists are ``Flickr_8k.{train,dev,test}Images.txt``, or else the folder's one
    file per split named like ``*train*``, ``*dev*`` / ``*valid*`` / ``*val*``, ``*test*``.
    """
    directory = Path(directory)
    captions = read_flickr8k_captions(directory / "Flickr8k.token.txt")
    image_dir = next(
        (d for d in (directory / "images", directory / "Flicker8k_Dataset") if d.is_dir()),
        None,
    )
    if image_dir is None:
        raise DataError(directory, "no images/ (or Flicker8k_Dataset/) folder")
    splits = {"train": "train", "val": "dev", "test": "test"}
    known = {split: [f"Flickr_8k.{stem}Images.txt"] for split, stem in splits.items()}
    found = find_split_files(
        directory,
        known,
        keep=lambda p: "token" not in p.name.lower() and plain_suffix(p) == ".txt",
        hint="Flickr8k lists each split's images in Flickr_8k.{train,dev,test}Images.txt",
    )
    parts = {}
    for split, lists in found.items():
        names = [n.strip() for n in read_lines(lists) if n.strip()]
        parts[split] = _collect(names, captions, image_dir, lists, skip_missing)
    return CaptionData(**parts)


def concat_captioned(parts: list[CaptionedImages]) -> CaptionedImages:
    """The images of ``parts`` in order, their skipped counts summed."""
    out = CaptionedImages([], [])
    for part in parts:
        out.images.extend(part.images)
        out.captions.extend(part.captions)
        out.skipped_missing += part.skipped_missing
    return out


def read_caption_files(
    paths: list[str | Path], *, image_dir: str | Path = "", skip_missing: bool = False
) -> CaptionedImages:
    """COCO captions JSONs (``.json``) or image<TAB>caption files, concatenated in order."""
    parts = []
    for path in map(Path, paths):
        if plain_suffix(path) == ".json":
            folder = image_dir or path.parent
            parts.append(read_coco_captions(path, folder, skip_missing=skip_missing))
        else:
            parts.append(read_caption_tsv(path, skip_missing=skip_missing))
    return concat_captioned(parts)


def read_coco_captions(
    json_path: str | Path, image_dir: str | Path, *, skip_missing: bool = False
) -> CaptionedImages:
    """Read a COCO captions file (``captions_train2017.json`` style) and its image folder.

    Raises:
        DataError: not JSON, missing keys, or an annotation for an unknown image id.
    """
    json_path = Path(json_path)
    raw = read_bytes(json_path).removeprefix(b"\xef\xbb\xbf")  # BOM or not; .gz/.bz2/.xz
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(
            json_path, f"not valid UTF-8 (byte 0x{raw[e.start]:02x})", line=line
        ) from None
    except json.JSONDecodeError as e:
        raise DataError(json_path, f"not JSON ({e.msg}, column {e.colno})", line=e.lineno) from None
    try:
        files = {im["id"]: im["file_name"] for im in doc["images"]}
        annotations = list(doc["annotations"])
    except (KeyError, TypeError) as e:
        what = f"no {e} key" if isinstance(e, KeyError) else "images and annotations must be lists"
        raise DataError(json_path, f"not a COCO captions file ({what})") from None
    if not all(isinstance(f, str) and f for f in files.values()):
        raise DataError(json_path, "not a COCO captions file (an image without a file_name)")
    captions: dict[str, list[str]] = {}
    for i, ann in enumerate(annotations):
        image_id = ann.get("image_id") if isinstance(ann, dict) else None
        if image_id not in files or not isinstance(ann.get("caption"), str):
            raise DataError(json_path, f"annotation {i}: unknown image_id or no caption")
        # NFC, as read_lines gives every other loader (json.loads keeps NFD as typed).
        caption = unicodedata.normalize("NFC", ann["caption"].strip())
        captions.setdefault(files[image_id], []).append(caption)
    # Ids in file order, not sorted: COCO ids are ints, but a hand-made file may mix types.
    names = [f for f in dict.fromkeys(files.values()) if f in captions]
    return _collect(names, captions, Path(image_dir), json_path, skip_missing)


def read_caption_tsv(path: str | Path, *, skip_missing: bool = False) -> CaptionedImages:
    """Read ``image_path<TAB>caption`` lines; relative paths are read from the file's folder.

    Raises:
        DataError: a line without a tab or with an empty caption (naming the line).
    """
    path = Path(path)
    captions: dict[str, list[str]] = {}
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        image, tab, caption = line.partition("\t")
        if not tab or not image.strip() or not caption.strip():
            raise DataError(path, "expected image_path<TAB>caption", line=number)
        captions.setdefault(image.strip(), []).append(caption.strip())
    return _collect(list(captions), captions, path.parent, path, skip_missing)


# Tokens left out of BLEU, as the COCO caption evaluation's tokenizer drops punctuation.
PUNCTUATION = frozenset(".,!?;:\"()'")


def caption_tokens(texts: list[str]) -> list[list[str]]:
    """Lower-cased words without punctuation: the tokenisation BLEU is computed on."""
    words = tf.strings.split(standardize_sentence(tf.constant(texts or [""], tf.string)))
    return [
        [w.decode("utf-8") for w in row if w.decode("utf-8") not in PUNCTUATION]
        for row in words.to_list()
    ][: len(texts)]


def load_caption_file(
    path: str | Path,
    *,
    image_dir: str | Path = "",
    skip_missing: bool = False,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> CaptionData:
    """Read a COCO captions JSON (``.json``) or an image<TAB>caption file; split by image.

    Args:
        path: the file.
        image_dir: the COCO JSON's image folder ("" = the file's folder).
        skip_missing: count and skip missing or unreadable images instead of an error.
        val_fraction: share of images held out for validation.
        test_fraction: share of images held out for test.
        seed: seeds the split.

    Raises:
        DataError: a malformed line, a missing image (unless skipped), too few images.
    """
    path = Path(path)
    images = read_caption_files([path], image_dir=image_dir, skip_missing=skip_missing)
    parts = random_split(
        len(images), val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, source=path
    )
    data = CaptionData(**{s: images.subset(np.sort(parts[s])) for s in SPLITS})
    data.train.skipped_missing = images.skipped_missing  # reported once, with the train split
    return data


def read_image_files(names: list[str]) -> list[bytes]:
    """The bytes of each image file (``seqapps predict``).

    Raises:
        DataError: the first file that is missing, not a JPEG/PNG/GIF/BMP image, or that
            TensorFlow cannot decode (truncated, corrupt), named.
    """
    for name, problem in zip(names, image_problems([Path(n) for n in names]), strict=True):
        if problem:
            raise DataError(name, problem)
    return [Path(name).read_bytes() for name in names]
