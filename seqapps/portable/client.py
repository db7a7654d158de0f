"""Run a portable export (ONNX or TFLite) on raw inputs, as its SavedModel would.

Needs numpy, and onnxruntime for ONNX exports or ai-edge-litert for TFLite exports
(``pip install 'seqapps[portable]'`` installs both); captioning also needs Pillow. It does
not import TensorFlow (a TFLite export falls back to ``tf.lite`` only when ai-edge-litert
is missing).

:func:`load` reads an export written by ``seqapps export RUN --format onnx|tflite`` (see
:mod:`seqapps.portable.export`) and returns a client whose ``predict`` takes what the
SavedModel's ``serving_default`` takes and returns the same outputs, as numpy arrays
(strings as ``str`` arrays):

============  ====================================  ======================================
task          ``predict`` input                     outputs
============  ====================================  ======================================
sentiment     texts                                 ``label`` (n,) str, ``probabilities``
                                                    (n, classes) float32
ner           sentences                             ``tokens``, ``tags`` (n, width) str
                                                    padded with "", ``lengths`` (n,) int64
forecasting   prices (n, days, inputs) float32,     ``forecast`` (n, horizon) float32,
              raw price units, oldest day first     ``valid`` (n,) bool[, ``quantiles``
                                                    (n, horizon, levels)]
translation   sentences                             ``translations`` (n,) str
captioning    encoded images (bytes) or paths       ``captions`` (n,) str, ``decoded``
                                                    (n,) bool
============  ====================================  ======================================

The preprocessing is the SavedModel's, rewritten in Python (:mod:`seqapps.portable.text`
for text, :func:`decode_image` for images), and so is the post-processing: CRF Viterbi
decoding, greedy and beam search over the ``decoder_step`` network, prices from scaled
log-returns. ``tests/test_portable.py`` checks each task and format against the SavedModel.

Example:
    >>> from seqapps.portable import load                       # doctest: +SKIP
    >>> model = load("saved_models/ner-onnx")                    # newest version
    >>> out = model.predict(["John lives in New York ."])
    >>> out["tags"][0, : out["lengths"][0]].tolist()
    ['B-PER', 'O', 'O', 'B-LOC', 'I-LOC', 'O']
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from seqapps.errors import ConfigError, DataError
from seqapps.portable import text as T
from seqapps.portable.runtime import Runner, make_runner

MANIFEST = "portable.json"
_NEG_INF = np.float32(-1e9)


def resolve(path: str | Path) -> Path:
    """A version directory holding ``portable.json``, or a root (its newest version).

    Raises:
        ConfigError: neither.
    """
    path = Path(path)
    if (path / MANIFEST).is_file():
        return path
    found = sorted(int(p.name) for p in path.glob("*") if p.name.isdigit() and p.is_dir())
    if not found:
        raise ConfigError(f"{path}: no {MANIFEST} here and no integer version directories")
    newest = path / str(found[-1])
    if not (newest / MANIFEST).is_file():
        raise ConfigError(f"{newest}: not a portable export (no {MANIFEST}; a SavedModel?)")
    return newest


def load(path: str | Path) -> PortableModel:
    """Load a portable export: its client, networks loaded.

    Args:
        path: a version directory, or a model root (its newest version is used).

    Raises:
        ConfigError: not a portable export, an unknown task or layout, or the runtime of
            its format is not installed.
    """
    path = resolve(path)
    manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    if manifest.get("layout") != 1:
        raise ConfigError(f"{path}: {MANIFEST} layout {manifest.get('layout')} is not 1")
    task = manifest.get("task")
    if task not in CLIENTS:
        raise ConfigError(f"{path}: no portable client for task {task!r}")
    return CLIENTS[task](path, manifest)


def read_lines(path: Path) -> list[str]:
    """A vocabulary file, one entry per line (an empty line is an entry: padding)."""
    return path.read_text(encoding="utf-8").split("\n")[:-1]


class PortableModel:
    """Base of the task clients: the manifest, settings and one runner per network.

    Attributes:
        path: the version directory.
        format: ``onnx`` or ``tflite``.
        settings: the task's settings from ``portable.json``.
        networks: network stem -> runner (``runner({input: array}) -> {output: array}``).
    """

    task: ClassVar[str]

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        self.format: str = manifest["format"]
        self.settings: dict[str, Any] = manifest["settings"]
        self.networks: dict[str, Runner] = {
            stem: make_runner(self.format, path / n["file"], n["inputs"], n["outputs"])
            for stem, n in manifest["networks"].items()
        }

    def predict(self, inputs: Any) -> dict[str, np.ndarray]:
        """Raw inputs -> the SavedModel's outputs (see the module docstring)."""
        raise NotImplementedError


def _pad(rows: Sequence[Sequence[int]], width: int | None = None) -> np.ndarray:
    """Right-pad int rows with 0 into ``(n, width)`` int32 (width: the longest row)."""
    width = max((len(r) for r in rows), default=0) if width is None else width
    out = np.zeros((len(rows), width), np.int32)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def _strings(rows: Sequence[Sequence[str]], width: int) -> np.ndarray:
    """``(n, width)`` str array, rows right-padded with ``""``."""
    out = np.full((len(rows), width), "", dtype=object)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out.astype(str) if out.size else np.zeros((len(rows), width), dtype=str)


# --- sentiment ---------------------------------------------------------------------------
class SentimentClient(PortableModel):
    """Tweets -> ``label`` and ``probabilities``, as the sentiment SavedModel."""

    task = "sentiment"

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        super().__init__(path, manifest)
        self.labels: list[str] = self.settings["labels"]
        self.index = T.vocabulary_index(read_lines(path / self.settings["vocabulary"]))

    def token_ids(self, text: str) -> list[int]:
        """One text's ids: tweet standardisation, whitespace split, lookup, cut; never empty."""
        words = T.standardize_tweet(text).split()
        ids = T.lookup(words, self.index)[: self.settings["max_length"]]
        return ids or [1]  # the graph's filler: one [UNK] for a text without tokens

    def predict(self, inputs: Sequence[str]) -> dict[str, np.ndarray]:
        """``texts`` -> ``label`` (n,) str, ``probabilities`` (n, classes) float32."""
        if not inputs:
            return {
                "label": np.zeros(0, dtype=str),
                "probabilities": np.zeros((0, len(self.labels)), np.float32),
            }
        ids = _pad([self.token_ids(t) for t in inputs])
        probs = self.networks["model"]({"token_ids": ids})["probabilities"]
        return {"label": np.array(self.labels)[np.argmax(probs, axis=-1)], "probabilities": probs}


# --- NER -----------------------------------------------------------------------------------
def viterbi(
    potentials: np.ndarray, transitions: np.ndarray, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """Best tag path of one sentence: ``potentials`` (length, tags) -> (length,) int32.

    The CRF layer's Viterbi (:func:`seqapps.layers.crf.viterbi_decode`) for one unpadded
    row, in float32 with its operation order (ties go to the lower tag id, as argmax does).
    """
    delta = start + potentials[0]
    pointers = []
    for u in potentials[1:]:
        scores = delta[:, None] + transitions  # (from, to)
        pointers.append(np.argmax(scores, axis=0).astype(np.int32))
        delta = np.max(scores, axis=0) + u
    tag = int(np.argmax(delta + end))
    path = [tag]
    for back in reversed(pointers):
        tag = int(back[tag])
        path.append(tag)
    return np.array(path[::-1], np.int32)


class NerClient(PortableModel):
    """Sentences -> ``tokens``, ``tags``, ``lengths``, as the NER SavedModel."""

    task = "ner"

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        super().__init__(path, manifest)
        encoder = json.loads((path / self.settings["encoder"]).read_text(encoding="utf-8"))
        # StringLookup(mask_token="", num_oov_indices=1): 0 padding, 1 unknown, then the list.
        self.words = {w: i + 2 for i, w in enumerate(encoder["words"])}
        self.chars = {c: i + 2 for i, c in enumerate(encoder["chars"])}
        self.max_word_length: int = encoder["max_word_length"]
        self.tags = np.array(self.settings["tags"])
        crf = self.settings.get("crf")
        self.crf = (
            None
            if crf is None
            else [np.asarray(crf[k], np.float32) for k in ("transitions", "start", "end")]
        )

    def features(self, sentences: Sequence[Sequence[str]]) -> dict[str, np.ndarray]:
        """Tokenised sentences -> ``words``, ``case`` (n, time) and ``chars`` (n, time, c) int32.

        Tokens are NFC-normalised first, as the graph's ``TokenEncoder`` does.
        """
        flat = [[T.nfc(t) for t in s] for s in sentences]
        words = _pad([[self.words.get(T.normalize_word(t), 1) for t in s] for s in flat])
        case = _pad([[T.case_id(t) for t in s] for s in flat])
        char_ids = [
            [[self.chars.get(c, 1) for c in t[: self.max_word_length]] for t in s] for s in flat
        ]
        width = max((len(c) for s in char_ids for c in s), default=0)
        chars = np.zeros((*words.shape, width), np.int32)
        for i, s in enumerate(char_ids):
            for j, c in enumerate(s):
                chars[i, j, : len(c)] = c
        return {"words": words, "case": case, "chars": chars}

    def decode(self, potentials: np.ndarray, length: int) -> np.ndarray:
        """Tag ids of one sentence's first ``length`` steps: Viterbi, or argmax (softmax)."""
        if self.crf is None:
            return np.argmax(potentials[:length], axis=-1).astype(np.int32)
        return viterbi(potentials[:length], *self.crf)

    def predict(self, inputs: Sequence[str]) -> dict[str, np.ndarray]:
        """``sentences`` -> ``tokens``, ``tags`` (n, width) str, ``lengths`` (n,) int64."""
        tokens = [T.split_words(s) for s in inputs]
        lengths = np.array([len(t) for t in tokens], np.int64)
        width = int(lengths.max(initial=0))
        tags: list[list[str]] = [[] for _ in tokens]
        if inputs:
            # An empty sentence is read as one "." (an all-masked row would leave the
            # recurrent layers nothing to read); its tags are cut off below.
            padded = [t or ["."] for t in tokens]
            features = self.features(padded)
            feeds = {k: features[k] for k in self.settings["features"]}
            potentials = self.networks["model"](feeds)["potentials"]
            for i, t in enumerate(tokens):
                tags[i] = self.tags[self.decode(potentials[i], len(padded[i]))][: len(t)].tolist()
        return {
            "tokens": _strings(tokens, width),
            "tags": _strings(tags, width),
            "lengths": lengths,
        }


# --- forecasting ---------------------------------------------------------------------------
class ForecastingClient(PortableModel):
    """Raw price windows -> ``forecast``, ``valid`` (and ``quantiles``), as the SavedModel."""

    task = "forecasting"

    def features(self, prices: np.ndarray) -> np.ndarray:
        """``(n, window, inputs)`` prices -> ``(n, window, f)`` float32 model features.

        The graph's ``ForecastingTask.features``, in float32 with its operation order.
        """
        s = self.settings
        std = np.float32(s["stats"]["return_std"])
        log_close = np.log(prices[:, :, s["close_at"]])
        time = np.float32(prices.shape[1])
        level = (log_close - log_close[:, -1:]) / (std * np.sqrt(time))
        ret = (
            np.concatenate(
                [np.zeros_like(log_close[:, :1]), log_close[:, 1:] - log_close[:, :-1]], axis=1
            )
            / std
        )
        parts = [level, ret]
        if s["inputs"] != "close":
            parts += [(np.log(prices[:, :, j]) - log_close) / std for j in range(3)]
        if s["inputs"] == "ohlcv":
            mean, vstd = (np.float32(s["stats"][k]) for k in ("volume_mean", "volume_std"))
            parts.append((np.log1p(prices[:, :, 4]) - mean) / vstd)
        return np.stack(parts, axis=-1).astype(np.float32)

    def predict(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        """``prices`` (n, days, inputs) float32 -> ``forecast`` (n, H), ``valid`` (n,)[, quantiles].

        Reads the last ``window`` days of each row. A row with a non-finite value, a price
        <= 0 or a negative volume there gets ``valid`` False and NaN forecasts.

        Raises:
            DataError: fewer than ``window`` days (with rows to forecast), or a wrong shape.
        """
        s = self.settings
        window, horizon = s["window"], s["horizon"]
        prices = np.asarray(inputs, np.float32)
        n_inputs = {"close": 1, "ohlc": 4, "ohlcv": 5}[s["inputs"]]
        if prices.ndim != 3 or prices.shape[2] != n_inputs:
            raise DataError(
                "prices", f"expected shape (rows, days, {n_inputs}), got {prices.shape}"
            )
        n = len(prices)
        levels = len(s["quantile_levels"])
        if n == 0:
            out = {"forecast": np.zeros((0, horizon), np.float32), "valid": np.zeros(0, bool)}
            if levels:
                out["quantiles"] = np.zeros((0, horizon, levels), np.float32)
            return out
        if prices.shape[1] < window:
            raise DataError(
                "prices", f"the model reads the last {window} days, got {prices.shape[1]}"
            )
        prices = prices[:, -window:]
        is_price = np.array([j < 4 for j in ([3] if n_inputs == 1 else range(n_inputs))])
        with np.errstate(invalid="ignore"):
            in_range = np.where(is_price, prices > 0, prices >= 0)
        valid = (np.isfinite(prices) & in_range).all(axis=(1, 2))
        safe = np.where(valid[:, None, None], prices, np.float32(1)).astype(np.float32)
        out = self.networks["model"]({"features": self.features(safe)})
        scale = np.float32(s["stats"]["return_std"]) * np.sqrt(
            np.arange(1, horizon + 1, dtype=np.float32)
        )
        last = safe[:, -1, s["close_at"]]
        forecast = last[:, None] * np.exp(out["forecast"] * scale)
        result = {
            "forecast": np.where(valid[:, None], forecast, np.float32(np.nan)),
            "valid": valid,
        }
        if "quantiles" in out:
            bands = last[:, None, None] * np.exp(out["quantiles"] * scale[None, :, None])
            result["quantiles"] = np.where(valid[:, None, None], bands, np.float32(np.nan))
        return {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in result.items()}


# --- encoder-decoder (translation, captioning) ------------------------------------------
def length_penalty(length: int, alpha: float) -> np.float32:
    """GNMT length penalty ``((5 + length) / 6) ** alpha`` in float32."""
    return np.power(
        np.float32((np.float32(5.0) + np.float32(length)) / np.float32(6.0)), np.float32(alpha)
    )


def _top_k(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``tf.math.top_k`` along the last axis: values and indices, ties to the lower index."""
    index = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, index, axis=-1), index


class Seq2SeqClient(PortableModel):
    """Shared decoding of translation and captioning: encoder network + step network."""

    output_key: ClassVar[str] = "texts"

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        super().__init__(path, manifest)
        self.target_words = read_lines(path / self.settings["target_vocabulary"])
        self.n_states: int = self.settings["states"]

    def step(self, tokens: np.ndarray, state: dict[str, np.ndarray]) -> tuple[np.ndarray, dict]:
        """One decoder step for ``n`` hypotheses: log-probs (n, vocab), the new state."""
        out = self.networks["decoder_step"]({"tokens": tokens.astype(np.int32), **state})
        new = dict(state)
        for i in range(self.n_states):
            new[f"state_{i}"] = out[f"next_state_{i}"]
        return out["log_probs"], new

    def initial_state(self, encoded: dict[str, np.ndarray], mask: np.ndarray) -> dict:
        """The step network's inputs other than ``tokens``, from the encoder's outputs."""
        state = {k: encoded[k] for k in ("values", "keys", "summary")}
        state["mask"] = mask.astype(np.float32)
        for i in range(self.n_states):
            state[f"state_{i}"] = encoded[f"state_{i}"]
        return state

    def greedy(self, state: dict, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """:func:`seqapps.layers.decoding.greedy_decode`: tokens (batch, t), lengths (batch,)."""
        s = self.settings
        tokens = np.full(batch, s["start_id"], np.int32)
        finished = np.zeros(batch, bool)
        lengths = np.zeros(batch, np.int32)
        out = []
        while len(out) < s["max_length"] and not finished.all():
            log_probs, state = self.step(tokens, state)
            nxt = np.argmax(log_probs, axis=-1).astype(np.int32)
            nxt = np.where(finished, 0, nxt)
            lengths += (~finished).astype(np.int32)
            finished |= nxt == s["end_id"]
            out.append(nxt)
            tokens = nxt
        return np.stack(out, axis=1) if out else np.zeros((batch, 0), np.int32), lengths

    def beam(self, state: dict, batch: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """:func:`seqapps.layers.decoding.beam_search`, step for step in float32."""
        s = self.settings
        max_length, end_id, alpha = s["max_length"], s["end_id"], s["length_alpha"]
        state = {key: np.repeat(v, k, axis=0) for key, v in state.items()}
        alive_scores = np.tile(np.array([[0.0] + [_NEG_INF] * (k - 1)], np.float32), (batch, 1))
        alive_seqs = np.zeros((batch, k, 0), np.int32)
        done_seqs = np.zeros((batch, k, max_length), np.int32)
        done_scores = np.full((batch, k), _NEG_INF, np.float32)
        done_lengths = np.zeros((batch, k), np.int32)
        last = np.full(batch * k, s["start_id"], np.int32)
        rows = np.arange(batch)[:, None]
        t = 0
        while t < max_length and not np.all(
            done_scores[:, -1] >= alive_scores[:, 0] / length_penalty(max_length, alpha)
        ):
            log_probs, state = self.step(last, state)
            vocab = log_probs.shape[-1]
            total = alive_scores[:, :, None] + log_probs.reshape(batch, k, vocab)
            scores, index = _top_k(total.reshape(batch, k * vocab), 2 * k)
            parent, token = index // vocab, (index % vocab).astype(np.int32)
            seqs = np.concatenate([alive_seqs[rows, parent], token[:, :, None]], axis=2)
            ends = token == end_id
            length = t + 1
            in_top_k = np.arange(2 * k)[None, :] < k
            normed = np.where(
                ends & in_top_k, scores / length_penalty(length, alpha), _NEG_INF
            ).astype(np.float32)
            padded = np.pad(seqs, [(0, 0), (0, 0), (0, max_length - length)])
            pool_scores = np.concatenate([done_scores, normed], axis=1)
            pool_seqs = np.concatenate([done_seqs, padded], axis=1)
            pool_lengths = np.concatenate([done_lengths, np.full(token.shape, length)], axis=1)
            done_scores, keep = _top_k(pool_scores, k)
            done_seqs, done_lengths = pool_seqs[rows, keep], pool_lengths[rows, keep]
            alive_scores, keep = _top_k(np.where(ends, _NEG_INF, scores).astype(np.float32), k)
            alive_seqs = seqs[rows, keep]
            chosen = (rows * k + parent[rows, keep]).reshape(-1)  # flat hypothesis index
            state = {key: v[chosen] for key, v in state.items()}
            last = alive_seqs[:, :, -1].reshape(-1)
            t += 1
        any_done = done_scores[:, 0] > _NEG_INF / 2
        alive_best = np.pad(alive_seqs[:, 0], [(0, 0), (0, max_length - t)])
        tokens = np.where(any_done[:, None], done_seqs[:, 0], alive_best)
        lengths = np.where(any_done, done_lengths[:, 0], t).astype(np.int32)
        return tokens[:, : int(lengths.max(initial=0))], lengths

    def decode(
        self, encoded: dict[str, np.ndarray], mask: np.ndarray, beam_width: int | None
    ) -> np.ndarray:
        """Encoder outputs -> decoded ids (n, steps): beam search, or greedy at width 1."""
        width = self.settings["beam_width"] if beam_width is None else beam_width
        batch = len(mask)
        state = self.initial_state(encoded, mask)
        if width == 1:
            return self.greedy(state, batch)[0]
        return self.beam(state, batch, width)[0]

    def to_text(self, tokens: np.ndarray) -> list[str]:
        """Decoded ids -> detokenised texts (end token and padding dropped)."""
        end = self.settings["end_id"]
        return [
            T.detokenize_sentence(["" if i == end else self.target_words[i] for i in row])
            for row in tokens
        ]


class TranslationClient(Seq2SeqClient):
    """Source sentences -> ``translations``, as the translation SavedModel."""

    task = "translation"
    output_key = "translations"

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        super().__init__(path, manifest)
        self.source = T.vocabulary_index(read_lines(path / self.settings["source_vocabulary"]))

    def source_ids(self, text: str) -> list[int]:
        """One sentence's source ids: standardised, split, looked up, cut; never empty."""
        ids = T.lookup(T.standardize_sentence(text).split(), self.source)
        return ids[: self.settings["source_max_length"]] or [1]

    def predict(
        self, inputs: Sequence[str], beam_width: int | None = None
    ) -> dict[str, np.ndarray]:
        """``sentences`` -> ``translations`` (n,) str; ``beam_width`` 1 decodes greedily."""
        if not inputs:
            return {self.output_key: np.zeros(0, dtype=str)}
        source = _pad([self.source_ids(t) for t in inputs])
        encoded = self.networks["encoder"]({"source": source})
        tokens = self.decode(encoded, source != 0, beam_width)
        return {self.output_key: np.array(self.to_text(tokens), dtype=str)}


# --- images -----------------------------------------------------------------------------------
def resize_bilinear(image: np.ndarray, size: int) -> np.ndarray:
    """``tf.image.resize(image, [size, size], "bilinear")`` (half-pixel centres, no antialias).

    ``image`` (h, w, c) float32 -> (size, size, c) float32, with TF's float32 arithmetic.
    """

    def weights(n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scale = np.float32(n_in) / np.float32(size)
        x = (np.arange(size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
        floor = np.floor(x)
        lower = np.maximum(floor, 0).astype(np.int64)
        upper = np.minimum(np.ceil(x), n_in - 1).astype(np.int64)
        return lower, upper, (x - floor).astype(np.float32)

    y0, y1, dy = weights(image.shape[0])
    x0, x1, dx = weights(image.shape[1])
    top_left, top_right = image[y0][:, x0], image[y0][:, x1]
    bottom_left, bottom_right = image[y1][:, x0], image[y1][:, x1]
    top = top_left + (top_right - top_left) * dx[None, :, None]
    bottom = bottom_left + (bottom_right - bottom_left) * dx[None, :, None]
    return (top + (bottom - top) * dy[:, None, None]).astype(np.float32)


def decode_image(data: bytes, size: int) -> np.ndarray:
    """Encoded JPEG/PNG/GIF/BMP -> ``(size, size, 3)`` float32 RGB pixels in 0..255.

    :func:`seqapps.data.images.decode_image` with Pillow: RGB (grey replicated, alpha
    dropped), a JPEG's EXIF orientation applied, then TF's bilinear resize.

    Raises:
        DataError: data Pillow cannot decode (not an image, truncated, empty).
    """
    try:
        from PIL import Image, ImageOps  # noqa: PLC0415  (only captioning needs Pillow)
    except ImportError:
        raise ConfigError("captioning's portable client needs Pillow: pip install pillow") from None
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            oriented = ImageOps.exif_transpose(img) if img.format == "JPEG" else img
            pixels = np.asarray(oriented.convert("RGB"), np.float32)
    except Exception as e:  # noqa: BLE001  (Pillow raises many kinds for a broken file)
        raise DataError("image", f"cannot be decoded (truncated or corrupt image): {e}") from e
    return resize_bilinear(pixels, size)


class CaptioningClient(Seq2SeqClient):
    """Encoded images -> ``captions`` and ``decoded``, as the captioning SavedModel."""

    task = "captioning"
    output_key = "captions"

    def predict(
        self, inputs: Sequence[bytes | str | Path], beam_width: int | None = None
    ) -> dict[str, np.ndarray]:
        """Images (bytes, or file paths) -> ``captions`` (n,) str, ``decoded`` (n,) bool.

        An image that does not decode gets the caption ``""`` and ``decoded`` False; the
        others are captioned as without it.
        """
        size = self.settings["image_size"]
        pixels = np.zeros((len(inputs), size, size, 3), np.float32)
        decoded = np.zeros(len(inputs), bool)
        for i, item in enumerate(inputs):
            data = item if isinstance(item, bytes) else Path(item).read_bytes()
            try:
                pixels[i] = decode_image(data, size)
                decoded[i] = True
            except DataError:
                pass  # black pixels, decoded False: the SavedModel's behaviour
        if not len(inputs):
            return {self.output_key: np.zeros(0, dtype=str), "decoded": decoded}
        encoded = self.networks["encoder"]({"pixels": pixels})
        mask = np.ones(encoded["values"].shape[:2], bool)  # every image position is real
        texts = self.to_text(self.decode(encoded, mask, beam_width))
        captions = np.array([t if ok else "" for t, ok in zip(texts, decoded, strict=True)])
        return {self.output_key: captions.astype(str), "decoded": decoded}


CLIENTS: dict[str, type[PortableModel]] = {
    c.task: c
    for c in (SentimentClient, NerClient, ForecastingClient, TranslationClient, CaptioningClient)
}

__all__ = [
    "CLIENTS",
    "PortableModel",
    "decode_image",
    "load",
    "resize_bilinear",
    "viterbi",
]
