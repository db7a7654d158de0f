r"""The SavedModel's text preprocessing in plain Python (no TensorFlow).

Each function here mirrors one graph function of :mod:`seqapps.data.text` or
:mod:`seqapps.data.tokens`, string for string, so that a portable export (ONNX, TFLite) reads
the same token ids as the SavedModel. The graph functions use RE2 regular expressions; RE2
and Python's :mod:`re` differ in a few ways that matter here, handled as follows:

- RE2's ``\w``, ``\d`` and ``\s`` are ASCII only: the patterns are compiled with
  :data:`re.ASCII`;
- RE2 writes code points as ``\x{1F600}``; Python as ``\U0001F600``;
- RE2 has Unicode classes (``\p{Lu}``), which :mod:`re` lacks: the case classes of NER
  tokens are computed from :func:`unicodedata.category` instead.

``tests/test_portable.py`` checks every function against its graph twin.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Sequence

# The same set as seqapps.data.text.UNICODE_SPACES: exactly what str.isspace() accepts.
UNICODE_SPACES = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_SPACE_RUN = re.compile("[" + re.escape(UNICODE_SPACES) + "]+")


def nfc(text: str) -> str:
    """Unicode NFC, as ``tensorflow_text.normalize_utf8(text, "NFC")`` in the graph."""
    return unicodedata.normalize("NFC", text)


def normalize_spaces(text: str) -> str:
    """Replace each run of Unicode spaces with one ASCII space (``normalize_spaces``)."""
    return _SPACE_RUN.sub(" ", text)


def split_words(text: str) -> list[str]:
    """Split on Unicode spaces, as the graph's ``split_words`` and ``str.split()`` do."""
    return text.split()


def lower(text: str) -> str:
    """Unicode lower-casing, as ``tf.strings.lower(text, encoding="utf-8")``.

    Both apply the full case mapping: "İ" (U+0130) becomes "i̇" (two code points) and a
    word-final capital sigma "ς".
    """
    return text.lower()


def upper_first(text: str) -> str:
    """Upper-case the first character (``tf.strings.upper`` of the first UTF-8 character)."""
    return text[:1].upper() + text[1:]


# --- tweets (sentiment) ----------------------------------------------------------------
_EMOJI = "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff]"
_SMILE = r"(?:^|\s)(?:[:;=8][-o*']?[)\]dp}]|[(\[][-o*']?[:;=8])(?:\s|$)"
_SAD = r"(?:^|\s)[:;=8][-o*']?[(\[/|](?:\s|$)"


def _rules(pairs: Sequence[tuple[str, str]]) -> list[tuple[re.Pattern, str]]:
    return [(re.compile(p, re.ASCII), r) for p, r in pairs]


_TWEET_RULES = _rules(
    [
        (r"&amp;", "&"),
        (r"&lt;", "<"),
        (r"&gt;", ">"),
        (r"https?://\S+|www\.\S+", " <url> "),
        (r"@\w+", " <user> "),
        (r"#(\w+)", " <hashtag> \\1 "),
        (_SMILE, " <smile> "),
        (_SAD, " <sad> "),
        (r"<3+", " <heart> "),
        (r"\d+(?:[.,:]\d+)*", " <number> "),
        *[
            (re.escape(ch) + "{3,}", ch * 2)  # one rule per character, as in the graph
            for ch in string.ascii_lowercase + "!?."
        ],
        ("\ufe0f", ""),
        (f"({_EMOJI})", " \\1 "),
        (r"([!?.,;:\"()…])", " \\1 "),
    ]
)


def _rewrite(text: str, rules: list[tuple[re.Pattern, str]]) -> str:
    """NFC, Unicode spaces to " ", lower case, then each ``(pattern, replacement)`` in turn."""
    x = lower(normalize_spaces(nfc(text)))
    for pattern, repl in rules:
        x = pattern.sub(repl, x)
    return x


def standardize_tweet(text: str) -> str:
    """Python twin of :func:`seqapps.data.text.standardize_tweet` (see there)."""
    return _rewrite(text, _TWEET_RULES)


# --- sentences (translation) -----------------------------------------------------------
_SENTENCE_RULES = _rules(
    [
        ("[\u2018\u2019\u201b`´]", "'"),
        ("[\u201c\u201d\u201e\u00ab\u00bb]", '"'),
        ("[\u2013\u2014]", "-"),
        (r"(\w)'(\w)", "\\1 '\\2"),
        (r"([.,!?;:\"()])", " \\1 "),
        (r" +", " "),
    ]
)


def standardize_sentence(text: str) -> str:
    """Python twin of :func:`seqapps.data.text.standardize_sentence`."""
    return _rewrite(text, _SENTENCE_RULES).strip(" \t\n\r\f\v")  # tf.strings.strip: ASCII


_DETOKENIZE_RULES = _rules(
    [
        (r"\s+", " "),
        (r" ([.,!?;:)])", "\\1"),
        (r"\( ", "("),
        (r"(\w) '(\w)", "\\1'\\2"),
    ]
)


def detokenize_sentence(words: Sequence[str]) -> str:
    """Python twin of :func:`seqapps.data.text.detokenize_sentence` for one row of words."""
    x = " ".join(words).strip(" \t\n\r\f\v")
    for pattern, repl in _DETOKENIZE_RULES:
        x = pattern.sub(repl, x)
    return upper_first(x)


# --- vocabularies ----------------------------------------------------------------------
def lookup(tokens: Sequence[str], index: dict[str, int], oov: int = 1) -> list[int]:
    """Ids of ``tokens`` in ``index`` (token -> id), ``oov`` for the unknown ones."""
    return [index.get(t, oov) for t in tokens]


def vocabulary_index(vocabulary: Sequence[str]) -> dict[str, int]:
    """Token -> id for a TextVectorization / StringLookup vocabulary list (id = position).

    A token listed twice keeps its first id, as the lookup tables do.
    """
    index: dict[str, int] = {}
    for i, token in enumerate(vocabulary):
        index.setdefault(token, i)
    return index


# --- NER token features ----------------------------------------------------------------
CASES = ("lower", "upper", "title", "mixed", "number", "has_digit", "other")
_NUMBER = re.compile(r"[0-9]+([.,:/-][0-9]+)*")
_DIGIT = re.compile(r"[0-9]")


def normalize_word(token: str) -> str:
    """Lower-case and fold digits to 0: the NER word-vocabulary form (``normalize_words``)."""
    return _DIGIT.sub("0", lower(token))


def case_id(token: str) -> int:
    """Case class id of a token (1-based index into :data:`CASES`), as ``case_ids``.

    The graph's RE2 patterns, first match wins: ``number``, ``has_digit`` (any ASCII
    digit; RE2's ``.`` does not cross a newline, which a token cannot hold), ``upper`` (an
    upper-case letter and no lower-case one), ``title`` (upper-case first, then no other
    upper-case letter and some lower-case one), ``lower`` (a lower-case letter and no
    upper-case one), ``mixed`` (any letter), else ``other``.
    """
    if _NUMBER.fullmatch(token):
        name = "number"
    elif _DIGIT.search(token) and "\n" not in token:
        name = "has_digit"
    else:
        cats = [unicodedata.category(c) for c in token]
        has_lu, has_ll = "Lu" in cats, "Ll" in cats
        if has_lu and not has_ll:
            name = "upper"
        elif cats and cats[0] == "Lu" and "Lu" not in cats[1:] and "Ll" in cats[1:]:
            name = "title"
        elif has_ll and not has_lu:
            name = "lower"
        elif any(c.startswith("L") for c in cats):
            name = "mixed"
        else:
            name = "other"
    return CASES.index(name) + 1


__all__ = [
    "CASES",
    "case_id",
    "detokenize_sentence",
    "lookup",
    "lower",
    "nfc",
    "normalize_spaces",
    "normalize_word",
    "split_words",
    "standardize_sentence",
    "standardize_tweet",
    "vocabulary_index",
]
