"""Unicode spaces and NFC/NFD: the graph tokenizes as Python does, everywhere (issue #15.2)."""

import sys
import unicodedata

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from seqapps.data.io import read_lines
from seqapps.data.text import (
    UNICODE_SPACES,
    make_sentence_vectorizer,
    make_vectorizer,
    nfc,
    sentence_vocabulary,
    split_words,
    standardize_sentence,
)
from seqapps.data.tokens import TokenEncoder

from .conftest import by_task

NFD_GIRL = unicodedata.normalize("NFD", "Mädchen")
assert NFD_GIRL != "Mädchen"  # the test means something only if the forms differ

# Text with the characters that broke things: every space, combining marks, zero-width and
# bidirectional controls, emoji; surrogates cannot be encoded, so they are left out.
texts = st.text(
    st.one_of(
        st.sampled_from(UNICODE_SPACES + "\u200b\u200d\u200e\u202e\u0301\u0308\ufeffa😀"),
        st.characters(exclude_categories=("Cs",)),
    ),
    max_size=30,
)


def test_unicode_spaces_are_exactly_pythons():
    assert set(UNICODE_SPACES) == {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}


@pytest.mark.parametrize(
    "text, words",
    [
        ("New\u00a0York", ["New", "York"]),  # the NER SavedModel read this as one token
        ("a\u3000b\u2009c\u202fd\u1680e", ["a", "b", "c", "d", "e"]),
        ("\u2028 \x1c ", []),
        ("", []),
    ],
)
def test_split_words_examples(text, words):
    assert [w.decode() for w in split_words(tf.constant([text])).to_list()[0]] == words
    assert text.split() == words


@settings(max_examples=60, deadline=None)
@given(st.lists(texts, max_size=4))
def test_split_words_is_pythons_split(batch):
    got = split_words(tf.constant(batch, tf.string)).to_list() if batch else []
    assert [[w.decode() for w in row] for row in got] == [t.split() for t in batch]


@settings(max_examples=60, deadline=None)
@given(texts)
def test_nfc_is_pythons_nfc(text):
    assert nfc(tf.constant(text)).numpy().decode() == unicodedata.normalize("NFC", text)


def test_read_lines_gives_nfc(tmp_path):
    path = tmp_path / "nfd.txt"
    path.write_text(f"{NFD_GIRL}\nplain\n", encoding="utf-8")
    assert read_lines(path) == ["Mädchen", "plain"]


def test_token_encoder_gives_nfd_the_nfc_ids():
    enc = TokenEncoder.fit([["Das", NFD_GIRL, "lacht"]])  # fitted on NFD, too
    assert "Mädchen".lower() in enc.words and "ä" in enc.chars
    nfc_ids = enc(tf.ragged.constant([["Mädchen"]]))
    nfd_ids = enc(tf.ragged.constant([[NFD_GIRL]]))
    for key in ("words", "case", "chars"):
        np.testing.assert_array_equal(nfd_ids[key], nfc_ids[key])
    assert nfc_ids["words"].numpy()[0, 0] > 1  # known, not [UNK]


def test_standardize_sentence_nfc_and_spaces():
    out = standardize_sentence(tf.constant([f"Das {NFD_GIRL}\u00a0lacht\u3000.", "x\u2003y"]))
    assert [s.decode() for s in out.numpy()] == ["das mädchen lacht .", "x y"]


def test_vectorizers_give_nfd_the_nfc_ids():
    tweets = make_vectorizer(None)
    tweets.adapt(tf.constant(["das Mädchen lacht"]))
    vocab = sentence_vocabulary(["das Mädchen lacht"], max_tokens=None, min_count=1)
    for layer in (tweets, make_sentence_vectorizer(vocab, "source")):
        nfd, nfc_ = layer(tf.constant([NFD_GIRL, "Mädchen"])).to_list()
        assert nfd == nfc_ and nfc_[0] > 1  # known, not [UNK]


# Pairs a server must treat alike: NFD vs NFC, Unicode spaces vs ASCII spaces.
SAME = {
    "sentiment": [
        (f"Das {NFD_GIRL} ist toll", "Das Mädchen ist toll"),
        ("great\u00a0day", "great day"),
    ],
    "translation": [
        (f"ein {NFD_GIRL} läuft .", "ein Mädchen läuft ."),
        ("ein\u3000hund\u2009rennt", "ein hund rennt"),
    ],
    "ner": [(f"{NFD_GIRL} in Paris", "Mädchen in Paris"), ("New\u00a0York", "New York")],
}


@pytest.mark.parametrize("name", by_task(sorted(SAME)))
def test_servers_read_nfd_and_unicode_spaces_as_python_does(name, runs):
    loaded = runs.loaded(name)
    for odd, plain in SAME[name]:
        got = loaded.serving_default(tf.constant([odd, plain]))
        for key, value in got.items():
            value = value.numpy()
            if key == "tokens":  # NER returns the tokens as sent: only their count must match
                continue
            np.testing.assert_array_equal(value[0], value[1], err_msg=f"{name} {key}: {odd!r}")
    if name == "ner":
        out = loaded.serving_default(tf.constant(["New\u00a0York"]))
        assert out["lengths"].numpy().tolist() == [2]
        assert [t.decode() for t in out["tokens"].numpy()[0]] == ["New", "York"]


def test_coco_captions_are_nfc(tmp_path):
    """json.loads keeps NFD as typed: the COCO reader normalises as read_lines does."""
    import json

    from PIL import Image

    from seqapps.data.captions import read_coco_captions

    Image.new("RGB", (4, 4), (200, 10, 10)).save(tmp_path / "a.png")
    doc = {
        "images": [{"id": 1, "file_name": "a.png"}],
        "annotations": [{"image_id": 1, "caption": f"ein {NFD_GIRL} lacht"}],
    }
    (tmp_path / "c.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    assert read_coco_captions(tmp_path / "c.json", tmp_path).captions == [["ein Mädchen lacht"]]
