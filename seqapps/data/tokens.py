"""Token features for taggers, as TF ops.

The same code runs in ``tf.data`` and in the SavedModel, which takes raw sentences.

For each token: a word id (lower-cased, digits folded to 0, so "1996" and "2001" share
one), a case class (see :data:`CASES`) and its character ids. Vocabularies are fitted on
the training split only; id 0 is padding and id 1 unknown in both.

Example:
    >>> enc = TokenEncoder.fit([["John", "lives", "in", "Paris", "."]])
    >>> f = enc(tf.ragged.constant([["John", "left"]]))
    >>> f["words"].numpy().tolist(), f["case"].numpy().tolist()
    ([[4, 1]], [[3, 1]])
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence

import keras
import tensorflow as tf

from seqapps.data.text import nfc

# Case classes, ids 1.. (0 is padding). Entities are mostly capitalised, and the character
# features see case too, but a single id per token is a cheap, direct signal.
CASES = ("lower", "upper", "title", "mixed", "number", "has_digit", "other")
_CASE_PATTERNS = (  # checked in this order; the first match wins
    ("number", r"[0-9]+([.,:/-][0-9]+)*"),
    ("has_digit", r".*[0-9].*"),
    ("upper", r"[^\p{Ll}]*\p{Lu}[^\p{Ll}]*"),  # no lower-case letter, some upper-case
    ("title", r"\p{Lu}[^\p{Lu}]*\p{Ll}[^\p{Lu}]*"),  # upper first, lower later, no other upper
    ("lower", r"[^\p{Lu}]*\p{Ll}[^\p{Lu}]*"),
    ("mixed", r".*\p{L}.*"),
)


def normalize_words(tokens: tf.Tensor) -> tf.Tensor:
    """Lower-case and fold digits to ``0``: the word-vocabulary form of each token."""
    return tf.strings.regex_replace(tf.strings.lower(tokens, encoding="utf-8"), r"[0-9]", "0")


def case_ids(tokens: tf.Tensor) -> tf.Tensor:
    """Case class id (1-based index into :data:`CASES`) of each token; any string shape.

    Example:
        >>> case_ids(tf.constant(["the", "EU", "John", "iPhone", "1996", "F-16", ","])).numpy()
        array([1, 2, 3, 4, 5, 6, 7], dtype=int32)
    """
    ids = tf.fill(tf.shape(tokens), CASES.index("other") + 1)
    for name, pattern in reversed(_CASE_PATTERNS):  # earlier patterns overwrite later ones
        ids = tf.where(tf.strings.regex_full_match(tokens, pattern), CASES.index(name) + 1, ids)
    return tf.cast(ids, tf.int32)


class TokenEncoder:
    """Word, case and character ids of tokenised sentences, with vocabularies from training.

    The word vocabulary is ordered by frequency, so that the words seen once in training
    are the ids from :attr:`singleton_start` on (training can swap them for unknown, to
    learn an unknown-word vector that test-time unknowns then use).

    Args:
        words: word vocabulary (normalised forms), most frequent first.
        chars: character vocabulary.
        singleton_start: first word id of the words seen once in training.
        max_word_length: characters kept per token (a longer token keeps its first ones).
    """

    def __init__(
        self,
        words: Sequence[str],
        chars: Sequence[str],
        singleton_start: int,
        max_word_length: int = 20,
    ) -> None:
        self.words = list(words)
        self.chars = list(chars)
        self.singleton_start = singleton_start
        self.max_word_length = max_word_length
        # mask_token="" makes id 0 padding; one OOV bucket makes id 1 unknown.
        self.word_lookup = keras.layers.StringLookup(
            vocabulary=self.words, mask_token="", num_oov_indices=1, name="word_lookup"
        )
        self.char_lookup = keras.layers.StringLookup(
            vocabulary=self.chars, mask_token="", num_oov_indices=1, name="char_lookup"
        )
        for lookup in (self.word_lookup, self.char_lookup):
            lookup.build((None,))  # ExportArchive refuses to track an unbuilt layer

    def to_dict(self) -> dict:
        """The vocabularies and settings, JSON-ready (the inverse of :meth:`from_dict`)."""
        return {
            "words": self.words,
            "chars": self.chars,
            "singleton_start": self.singleton_start,
            "max_word_length": self.max_word_length,
        }

    @classmethod
    def from_dict(cls, d: dict) -> TokenEncoder:
        """Rebuild an encoder saved with :meth:`to_dict`."""
        return cls(d["words"], d["chars"], d["singleton_start"], d["max_word_length"])

    @classmethod
    def fit(
        cls,
        sentences: Sequence[Sequence[str]],
        *,
        max_words: int | None = None,
        min_char_count: int = 1,
        max_word_length: int = 20,
    ) -> TokenEncoder:
        """Build the vocabularies from training sentences (lists of tokens).

        Tokens are NFC-normalised first, as :meth:`__call__` does, so a decomposed accent
        in the training data counts as the composed character.
        """
        flat = [unicodedata.normalize("NFC", t) for s in sentences for t in s]
        normalized = normalize_words(tf.constant(flat or [""])).numpy()
        counts = Counter(w.decode("utf-8") for w in normalized[: len(flat)])
        counts.pop("", None)
        words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        words = words[:max_words]
        # +2: ids 0 and 1 are padding and unknown.
        singleton_start = 2 + sum(counts[w] > 1 for w in words)
        char_counts = Counter(c for t in flat for c in t)
        chars = sorted(c for c, n in char_counts.items() if n >= min_char_count)
        return cls(words, chars, singleton_start, max_word_length)

    @property
    def word_vocab_size(self) -> int:
        """Number of word ids, counting padding and unknown."""
        return len(self.words) + 2

    @property
    def char_vocab_size(self) -> int:
        """Number of character ids, counting padding and unknown."""
        return len(self.chars) + 2

    def __call__(self, tokens: tf.RaggedTensor) -> dict[str, tf.Tensor]:
        """Features of ``(batch, None)`` ragged string tokens, right-padded with 0.

        Tokens are NFC-normalised (:func:`seqapps.data.text.nfc`) before any lookup, so NFC
        and NFD spellings of a word get the same ids.

        Returns:
            ``words`` and ``case`` ``(batch, time)`` int32, ``chars``
            ``(batch, time, chars)`` int32.
        """
        flat = nfc(tokens.flat_values)
        words = tokens.with_flat_values(tf.cast(self.word_lookup(normalize_words(flat)), tf.int32))
        case = tokens.with_flat_values(case_ids(flat))
        chars = tf.strings.unicode_split(flat, "UTF-8")[:, : self.max_word_length]
        chars = chars.with_flat_values(tf.cast(self.char_lookup(chars.flat_values), tf.int32))
        chars = tokens.with_flat_values(chars)  # (batch, None, None)
        return {"words": words.to_tensor(), "case": case.to_tensor(), "chars": chars.to_tensor()}
