import numpy as np
import tensorflow as tf

from seqapps.data.tokens import CASES, TokenEncoder, case_ids, normalize_words

SENTENCES = [["John", "lives", "in", "Paris", "."], ["Paris", "in", "1996", "."]]


def test_case_classes():
    tokens = ["the", "EU", "John", "iPhone", "1996", "F-16", ",", "U.S.", "Mr.", "don't", "Ça"]
    want = ["lower", "upper", "title", "mixed", "number", "has_digit", "other", "upper",
            "title", "lower", "title"]  # fmt: skip
    got = case_ids(tf.constant(tokens)).numpy()
    assert [CASES[i - 1] for i in got] == want


def test_normalize_words():
    out = normalize_words(tf.constant(["Paris", "1996", "ÉTÉ"])).numpy().tolist()
    assert out == [b"paris", b"0000", "été".encode()]


def test_vocabulary_by_frequency_with_singletons_last():
    enc = TokenEncoder.fit(SENTENCES)
    assert enc.words[:3] == [".", "in", "paris"]  # each seen twice
    assert enc.singleton_start == 2 + 3
    assert enc.word_vocab_size == len(enc.words) + 2
    assert TokenEncoder.from_dict(enc.to_dict()).to_dict() == enc.to_dict()


def test_features_eager_and_in_dataset_map_agree():
    enc = TokenEncoder.fit(SENTENCES, max_word_length=4)
    tokens = tf.ragged.constant([["John", "visits", "Paris"], ["Zürich"]])
    eager = enc(tokens)
    mapped = next(iter(tf.data.Dataset.from_tensors(tokens).map(enc)))
    for key in ("words", "case", "chars"):
        np.testing.assert_array_equal(eager[key], mapped[key])
    words = eager["words"].numpy()
    assert words[0, 1] == 1 and words[1, 1] == 0  # unknown word; right padding
    chars = eager["chars"].numpy()
    assert chars.shape == (2, 3, 4)  # cut at max_word_length
    assert (chars[1, 0] > 0).all() and (chars[1, 1:] == 0).all()
    assert 1 in chars[1, 0]  # "ü" was never seen: unknown character
