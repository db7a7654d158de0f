"""Text preprocessing as TF ops, so the same code runs in ``tf.data`` and in the SavedModel."""

from __future__ import annotations

import re
import string
import warnings

import keras
import tensorflow as tf

# Every character Python's ``str.isspace`` accepts, so ``str.split()`` and the graph agree
# on where tokens end (tests/data/test_unicode.py checks this against Python). TF's own
# ``tf.strings.split`` and RE2's ``\s`` know only the ASCII ones: "New\u00a0York" stayed
# one token in the SavedModel while Python's split made two.
UNICODE_SPACES = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_SPACE_RUN = "[" + "".join(f"\\x{{{ord(c):04X}}}" for c in UNICODE_SPACES) + "]+"


def normalize_spaces(texts: tf.Tensor) -> tf.Tensor:
    """Replace each run of Unicode spaces (:data:`UNICODE_SPACES`) with one ASCII space.

    Works on any string tensor; invalid UTF-8 passes through unchanged.

    Example:
        >>> normalize_spaces(tf.constant("New\u00a0York\u3000 now")).numpy().decode()
        'New York now'
    """
    return tf.strings.regex_replace(texts, _SPACE_RUN, " ")


def split_words(texts: tf.Tensor) -> tf.RaggedTensor:
    """Split ``(batch,)`` strings on Unicode spaces as Python's ``str.split()`` does.

    Returns:
        ``(batch, None)`` ragged string tokens; an empty or all-space string has none.
    """
    return tf.strings.split(normalize_spaces(texts))


def nfc(texts: tf.Tensor) -> tf.Tensor:
    """Unicode NFC normalisation of a string tensor, as a TF op (``tensorflow_text``).

    Decomposed input (NFD "Ma\u0308dchen", as some keyboards and macOS file names produce)
    becomes the composed form vocabularies hold ("M\u00e4dchen"), so NFC and NFD text get
    the same ids. Python's readers normalise the same way
    (:func:`seqapps.data.io.read_lines`).

    TF core has no normalisation op, so this uses ``tensorflow_text.normalize_utf8``
    (ICU). A SavedModel that contains it needs the TF Text ops where it is loaded:
    ``import tensorflow_text`` in Python (:func:`seqapps.export.load_export` does), and a
    model server with TF Text ops linked in (the ``tensorflow/serving`` images are).
    Without ``tensorflow_text`` installed (no wheels for native Windows) the text passes
    unchanged, with a warning.
    """
    try:
        import tensorflow_text  # noqa: PLC0415  (heavy, and registers ops: load on first use)
    except ImportError:
        warnings.warn(
            "tensorflow-text is not installed: text is not NFC-normalised, so decomposed "
            "accents (NFD) may read as unknown words",
            stacklevel=2,
        )
        return texts
    return tensorflow_text.normalize_utf8(texts, "NFC")


# Emoji and pictographs (RE2 syntax). Each becomes a token of its own, so that "great😀"
# yields "great" and "😀" rather than one rare token.
_EMOJI = r"[\x{1F000}-\x{1FAFF}\x{2600}-\x{27BF}\x{2B00}-\x{2BFF}]"
# Emoticons, looked for before punctuation is split off (which would break them up).
_SMILE = r"(?:^|\s)(?:[:;=8][-o*']?[)\]dp}]|[(\[][-o*']?[:;=8])(?:\s|$)"
_SAD = r"(?:^|\s)[:;=8][-o*']?[(\[/|](?:\s|$)"


def _squeeze_rules(chars: str) -> list[tuple[str, str]]:
    r"""RE2 rules that shorten runs of three or more of each of ``chars`` to two.

    RE2 has no back-references, so ``(.)\1{2,}`` cannot be written. Each rule instead
    alternates up to nine characters, ``(a)a{2,}|(b)b{2,}|...``, rewritten as
    ``\1\1\2\2...``: the group that did not match substitutes as empty, and a rewrite can
    name only groups 1-9. Four passes over the text instead of one per character (29): the
    same result, since shortening one character's run never joins runs of another.
    """
    rules = []
    for start in range(0, len(chars), 9):
        part = chars[start : start + 9]
        pattern = "|".join(f"({re.escape(c)}){re.escape(c)}{{2,}}" for c in part)
        rules.append((pattern, "".join(f"\\{i}\\{i}" for i in range(1, len(part) + 1))))
    return rules


_SQUEEZE_RULES = _squeeze_rules(string.ascii_lowercase + "!?.")


def standardize_tweet(texts: tf.Tensor) -> tf.Tensor:
    """Normalise tweets for tokenisation on whitespace; works on any string tensor.

    Lower-cases (Unicode aware); replaces URLs with ``<url>``, user mentions with ``<user>``,
    numbers with ``<number>``, emoticons with ``<smile>`` / ``<sad>`` and ``<3`` with
    ``<heart>``; keeps hashtag words behind a ``<hashtag>`` marker; shortens letters repeated
    three or more times to two ("sooooo" -> "soo"); splits emoji and punctuation into tokens.

    Example:
        >>> standardize_tweet(tf.constant("@bob Sooo GOOD!!! #win")).numpy().split()
        [b'<user>', b'soo', b'good', b'!', b'!', b'<hashtag>', b'win']
    """
    x = tf.strings.lower(normalize_spaces(nfc(texts)), encoding="utf-8")
    x = tf.strings.regex_replace(x, r"&amp;", "&")
    x = tf.strings.regex_replace(x, r"&lt;", "<")
    x = tf.strings.regex_replace(x, r"&gt;", ">")
    x = tf.strings.regex_replace(x, r"https?://\S+|www\.\S+", " <url> ")
    x = tf.strings.regex_replace(x, r"@\w+", " <user> ")
    x = tf.strings.regex_replace(x, r"#(\w+)", " <hashtag> \\1 ")
    x = tf.strings.regex_replace(x, _SMILE, " <smile> ")
    x = tf.strings.regex_replace(x, _SAD, " <sad> ")
    x = tf.strings.regex_replace(x, r"<3+", " <heart> ")
    x = tf.strings.regex_replace(x, r"\d+(?:[.,:]\d+)*", " <number> ")
    for pattern, rewrite in _SQUEEZE_RULES:
        x = tf.strings.regex_replace(x, pattern, rewrite)
    x = tf.strings.regex_replace(x, r"\x{FE0F}", "")  # emoji variation selector
    # Emoji and punctuation become tokens of their own (one pass: the two sets are disjoint).
    x = tf.strings.regex_replace(x, f'({_EMOJI}|[!?.,;:"()…])', " \\1 ")
    return x


def make_vectorizer(
    max_tokens: int | None, vocabulary: list[str] | None = None
) -> keras.layers.TextVectorization:
    """Return a ragged ``TextVectorization`` with tweet standardisation and whitespace split.

    Index 0 is padding and 1 is ``[UNK]``. Pass ``vocabulary`` (as returned by
    ``get_vocabulary()``) to rebuild a fitted vectorizer, or call ``adapt`` on training text.
    """
    layer = keras.layers.TextVectorization(
        max_tokens=max_tokens,
        standardize=standardize_tweet,
        split="whitespace",
        ragged=True,
        vocabulary=vocabulary,
        name="vectorizer",
    )
    if vocabulary is not None:
        layer.build((None,))  # ExportArchive refuses to track an unbuilt layer
    return layer


def encode_texts(
    vectorizer: keras.layers.TextVectorization, texts: tf.Tensor, max_length: int
) -> tf.RaggedTensor:
    """Tokenise a batch of strings into ragged int32 ids, at most ``max_length`` per row.

    A text with no tokens gets one ``[UNK]`` (id 1): an all-masked row would give the RNN
    nothing to read and push Keras off the cuDNN path.

    Args:
        vectorizer: a fitted vectorizer from :func:`make_vectorizer`.
        texts: ``(batch,)`` strings.
        max_length: longest kept prefix, in tokens.

    Returns:
        ``(batch, None)`` ragged int32 token ids.
    """
    ids = vectorizer(texts)[:, :max_length]
    empty = tf.equal(ids.row_lengths(), 0)
    filler = tf.RaggedTensor.from_row_lengths(
        tf.ones([tf.reduce_sum(tf.cast(empty, tf.int32))], ids.dtype),
        tf.cast(empty, tf.int64),
    )
    return tf.cast(tf.concat([ids, filler], axis=1), tf.int32)


def standardize_sentence(texts: tf.Tensor) -> tf.Tensor:
    """Normalise sentences for word-level translation; works on any string tensor.

    Lower-cases (Unicode aware); maps typographic quotes, apostrophes, dashes and non-breaking
    spaces to ASCII (every Unicode space, :func:`normalize_spaces`); normalises to NFC
    (:func:`nfc`); splits punctuation (``. , ! ? ; : " ( )``) and the apostrophe of English
    clitics ("man's" -> "man 's", as Moses tokenises) into tokens; collapses whitespace.

    Example:
        >>> standardize_sentence(tf.constant("The man’s dog, running!")).numpy().decode()
        "the man 's dog , running !"
    """
    x = tf.strings.lower(normalize_spaces(nfc(texts)), encoding="utf-8")
    x = tf.strings.regex_replace(x, r"[\x{2018}\x{2019}\x{201B}`´]", "'")
    x = tf.strings.regex_replace(x, r"[\x{201C}\x{201D}\x{201E}\x{00AB}\x{00BB}]", '"')
    x = tf.strings.regex_replace(x, r"[\x{2013}\x{2014}]", "-")
    x = tf.strings.regex_replace(x, r"(\w)'(\w)", "\\1 '\\2")
    x = tf.strings.regex_replace(x, r"([.,!?;:\"()])", " \\1 ")
    x = tf.strings.regex_replace(x, r" +", " ")
    return tf.strings.strip(x)


# Special tokens of a target vocabulary, after TextVectorization's padding "" (0) and
# "[UNK]" (1): a decoder starts from START_TOKEN and stops once it emits END_TOKEN.
START_TOKEN, END_TOKEN = "[start]", "[end]"


def sentence_vocabulary(
    texts: list[str], *, max_tokens: int | None, min_count: int, specials: tuple[str, ...] = ()
) -> list[str]:
    """Count the words of ``standardize_sentence(texts)``; return a TextVectorization vocabulary.

    The list starts with ``""`` (padding, id 0), ``"[UNK]"`` (id 1) and ``specials`` (ids
    2, 3, ...), then the words seen at least ``min_count`` times, most frequent first (ties
    alphabetical, so the order is reproducible), at most ``max_tokens`` entries in all.
    """
    counts: dict[str, int] = {}
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(texts or [""], tf.string)).batch(4096)
    for batch in ds.map(lambda t: tf.strings.split(standardize_sentence(t))):
        for word in batch.flat_values.numpy():
            counts[word] = counts.get(word, 0) + 1
    head = ["", "[UNK]", *specials]
    words = sorted(
        (w.decode("utf-8") for w, c in counts.items() if c >= min_count),
        key=lambda w: (-counts[w.encode("utf-8")], w),
    )
    words = [w for w in words if w not in head]
    if max_tokens is not None:
        words = words[: max(0, max_tokens - len(head))]
    return head + words


def make_sentence_vectorizer(vocabulary: list[str], name: str) -> keras.layers.TextVectorization:
    """A ragged word-level ``TextVectorization`` over ``standardize_sentence``.

    Args:
        vocabulary: from :func:`sentence_vocabulary` (starts with ``""`` and ``"[UNK]"``).
        name: layer name.
    """
    layer = keras.layers.TextVectorization(
        standardize=standardize_sentence,
        split="whitespace",
        ragged=True,
        vocabulary=vocabulary,
        name=name,
    )
    layer.build((None,))  # ExportArchive refuses to track an unbuilt layer
    return layer


def detokenize_sentence(tokens: tf.Tensor) -> tf.Tensor:
    """Join word tokens into readable text: the inverse of :func:`standardize_sentence`.

    Takes ``(batch, None)`` string tokens (ragged, or dense padded with ``""``) and returns
    ``(batch,)`` strings: punctuation attached to its word, clitics re-joined ("man 's" ->
    "man's"), the first letter upper-cased (the vocabulary is lower case).

    Example:
        >>> detokenize_sentence(tf.ragged.constant([["a", "man", "'s", "dog", "."]]))
        <tf.Tensor: ... numpy=array([b"A man's dog."], dtype=object)>
    """
    x = tf.strings.strip(tf.strings.reduce_join(tokens, axis=-1, separator=" "))
    x = tf.strings.regex_replace(x, r"\s+", " ")  # padding "" leaves double spaces
    x = tf.strings.regex_replace(x, r" ([.,!?;:)])", "\\1")
    x = tf.strings.regex_replace(x, r"\( ", "(")
    x = tf.strings.regex_replace(x, r"(\w) '(\w)", "\\1'\\2")
    first = tf.strings.substr(x, 0, 1, unit="UTF8_CHAR")
    rest = tf.strings.regex_replace(x, r"^.", "")  # RE2's "." is one UTF-8 character
    return tf.strings.upper(first, encoding="utf-8") + rest


def ids_to_text(vocabulary: list[str], tokens: tf.Tensor, end_id: int) -> tf.Tensor:
    """Decoded ids ``(batch, steps)`` (end token and 0s after it) -> ``(batch,)`` readable text.

    ``vocabulary`` is the target vocabulary by id (id 0, padding, is ``""``); the end token
    is dropped and the words joined by :func:`detokenize_sentence`. Traceable.
    """
    words = tf.gather(tf.constant(vocabulary), tokens)  # padding 0 is ""
    return detokenize_sentence(tf.where(tokens == end_id, "", words))
