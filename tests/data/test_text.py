import numpy as np
import tensorflow as tf

from seqapps.data.text import (
    detokenize_sentence,
    encode_texts,
    make_sentence_vectorizer,
    make_vectorizer,
    sentence_vocabulary,
    standardize_sentence,
    standardize_tweet,
)

TWEETS = [
    "@Bob Sooooo GOOD!!!! http://t.co/abc #WinningDay :) <3",
    "Can't wait 😀😀 for the 3rd game :(",
    "&amp; www.example.com/x nooo",
    "",
]


def tokens(text: str) -> list[str]:
    return standardize_tweet(tf.constant(text)).numpy().decode().split()


def test_standardize_examples():
    assert tokens(TWEETS[0]) == [
        "<user>",
        "soo",
        "good",
        "!",
        "!",
        "<url>",
        "<hashtag>",
        "winningday",
        "<smile>",
        "<heart>",
    ]
    assert tokens(TWEETS[1]) == [
        "can't",
        "wait",
        "😀",
        "😀",
        "for",
        "the",
        "<number>",
        "rd",
        "game",
        "<sad>",
    ]
    assert tokens(TWEETS[2]) == ["&", "<url>", "noo"]
    assert tokens(TWEETS[3]) == []


def test_standardize_eager_equals_dataset_map():
    eager = standardize_tweet(tf.constant(TWEETS)).numpy()
    mapped = np.array(
        list(tf.data.Dataset.from_tensor_slices(TWEETS).map(standardize_tweet).as_numpy_iterator())
    )
    np.testing.assert_array_equal(eager, mapped)


def test_encode_truncates_and_fills_empty_rows():
    vec = make_vectorizer(None)
    vec.adapt(tf.constant(["a b c d e f", "b c"]))
    ids = encode_texts(vec, tf.constant(["a b c d e f", "", "zzz"]), max_length=4)
    rows = ids.to_list()
    assert len(rows[0]) == 4 and rows[1] == [1] and rows[2] == [1]
    assert ids.dtype == tf.int32


def test_encode_eager_equals_dataset_map():
    vec = make_vectorizer(None)
    vec.adapt(tf.constant(TWEETS))
    eager = encode_texts(vec, tf.constant(TWEETS), 8).to_tensor().numpy()
    ds = (
        tf.data.Dataset.from_tensor_slices(TWEETS)
        .batch(4)
        .map(lambda t: encode_texts(vec, t, 8).to_tensor())
    )
    np.testing.assert_array_equal(eager, next(iter(ds)).numpy())


def test_vectorizer_rebuilt_from_vocabulary_gives_same_ids():
    vec = make_vectorizer(100)
    vec.adapt(tf.constant(TWEETS))
    again = make_vectorizer(100, vocabulary=vec.get_vocabulary())
    np.testing.assert_array_equal(
        vec(tf.constant(TWEETS)).to_tensor().numpy(), again(tf.constant(TWEETS)).to_tensor().numpy()
    )


SENTENCES = [
    "A man’s “big” dog, running!",
    "Ein Mann fährt  Fahrrad.",
    "Two young, White males are outside near many bushes.",
]
TOKENISED = [  # Multi30k's tok/ form (Moses), except that Moses writes ' as &apos;
    'a man \'s " big " dog , running !',
    "ein mann fährt fahrrad .",
    "two young , white males are outside near many bushes .",
]


def test_standardize_sentence_matches_the_moses_form():
    out = standardize_sentence(tf.constant(SENTENCES)).numpy()
    assert [s.decode() for s in out] == TOKENISED


def test_standardize_sentence_eager_equals_dataset_map():
    eager = standardize_sentence(tf.constant(SENTENCES)).numpy().tolist()
    mapped = [
        s.numpy() for s in tf.data.Dataset.from_tensor_slices(SENTENCES).map(standardize_sentence)
    ]
    assert eager == mapped


def test_sentence_vocabulary_orders_by_count_and_keeps_specials_first():
    texts = ["A man runs.", "a dog runs!", "The man's dog", "a cat"]
    vocab = sentence_vocabulary(texts, max_tokens=None, min_count=2, specials=("[start]", "[end]"))
    # a:3; dog, man, runs: 2 each (alphabetical among equals); the rest once.
    assert vocab == ["", "[UNK]", "[start]", "[end]", "a", "dog", "man", "runs"]
    capped = sentence_vocabulary(texts, max_tokens=5, min_count=1)
    assert capped == ["", "[UNK]", "a", "dog", "man"]


def test_sentence_vectorizer_maps_rare_words_to_unk():
    vocab = sentence_vocabulary(["a man runs", "a man"], max_tokens=None, min_count=2)
    layer = make_sentence_vectorizer(vocab, "v")
    assert layer(tf.constant(["A MAN runs."])).to_list() == [[2, 3, 1, 1]]


DETOK = [
    ("A man's dog, in (big) trouble!", "A man's dog, in (big) trouble!"),
    ("zwei hunde: einer läuft.", "Zwei hunde: einer läuft."),  # case is lost, but for the first
    ("über die brücke", "Über die brücke"),
    ("", ""),
]


def test_detokenize_inverts_standardize():
    for text, want in DETOK:
        tokens = tf.strings.split(standardize_sentence(tf.constant([text])))
        assert detokenize_sentence(tokens).numpy()[0].decode() == want


def test_detokenize_skips_padding_and_eager_equals_dataset_map():
    dense = tf.constant([["a", "dog", ".", ""], ["", "", "", ""]])
    eager = detokenize_sentence(dense).numpy().tolist()
    assert eager == [b"A dog.", b""]
    mapped = next(iter(tf.data.Dataset.from_tensors(dense).map(detokenize_sentence)))
    assert mapped.numpy().tolist() == eager
