"""CRF against brute-force enumeration of every tag path on tiny inputs."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqapps.layers.crf import CRF, CRFLoss, crf_log_likelihood, crf_log_norm, viterbi_decode

NUM_TAGS, TIME = 3, 4


def _path_score(u, a, s, e, path):
    score = s[path[0]] + e[path[-1]] + sum(u[t, y] for t, y in enumerate(path))
    return score + sum(a[path[t - 1], path[t]] for t in range(1, len(path)))


def _brute_force(u, a, s, e, length):
    """All K^n paths of one sentence: (log Z, best path, score of each path)."""
    paths = list(itertools.product(range(NUM_TAGS), repeat=length))
    scores = np.array([_path_score(u[:length], a, s, e, p) for p in paths])
    log_z = np.log(np.sum(np.exp(scores - scores.max()))) + scores.max()
    return log_z, paths[int(np.argmax(scores))], dict(zip(paths, scores, strict=True))


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    u = rng.normal(size=(5, TIME, NUM_TAGS)).astype("float32")
    a = rng.normal(size=(NUM_TAGS, NUM_TAGS)).astype("float32")
    s = rng.normal(size=NUM_TAGS).astype("float32")
    e = rng.normal(size=NUM_TAGS).astype("float32")
    lengths = np.array([4, 1, 3, 2, 4])
    mask = np.arange(TIME)[None, :] < lengths[:, None]
    # Garbage in padded positions must not matter.
    u[~mask] = 50.0
    return u, a, s, e, lengths, mask


def test_log_norm_and_likelihood_match_enumeration(problem):
    u, a, s, e, lengths, mask = problem
    tags = np.random.default_rng(1).integers(0, NUM_TAGS, size=(5, TIME))
    tags[~mask] = -1
    log_z = np.asarray(crf_log_norm(u, mask, a, s, e))
    ll = np.asarray(crf_log_likelihood(u, tags, mask, a, s, e))
    for i, n in enumerate(lengths):
        want_z, _, scores = _brute_force(u[i], a, s, e, n)
        assert log_z[i] == pytest.approx(want_z, abs=1e-4)
        assert ll[i] == pytest.approx(scores[tuple(tags[i, :n])] - want_z, abs=1e-4)


def test_viterbi_matches_enumeration_and_zeroes_padding(problem):
    u, a, s, e, lengths, mask = problem
    path = np.asarray(viterbi_decode(u, mask, a, s, e))
    assert path.dtype == np.int32
    for i, n in enumerate(lengths):
        _, best, _ = _brute_force(u[i], a, s, e, n)
        assert tuple(path[i, :n]) == best
        assert (path[i, n:] == 0).all()


def test_viterbi_works_inside_tf_function_with_unknown_shapes(problem):
    u, a, s, e, _, mask = problem
    fn = tf.function(
        lambda u, m: viterbi_decode(u, m, a, s, e),
        input_signature=[
            tf.TensorSpec([None, None, NUM_TAGS], tf.float32),
            tf.TensorSpec([None, None], tf.bool),
        ],
    )
    np.testing.assert_array_equal(fn(u, mask), viterbi_decode(u, mask, a, s, e))


def test_single_step_sentences():
    u = np.array([[[0.0, 2.0, 1.0]]], "float32")
    z = np.zeros(NUM_TAGS, "float32")
    mask = np.ones((1, 1), bool)
    assert np.asarray(viterbi_decode(u, mask, np.zeros((3, 3), "float32"), z, z)).tolist() == [[1]]


def test_one_step_batches_in_a_graph_with_unknown_time(problem):
    """A batch whose longest sentence has one token (``seqapps predict NER "Paris"``).

    TF's scan cannot stack zero steps' outputs; in a graph with an unknown time axis this
    failed with "Tried to stack elements of an empty list".
    """
    u, a, s, e, _, _ = problem
    u1, mask = u[:, :1], np.ones((5, 1), bool)
    tags = np.random.default_rng(2).integers(0, NUM_TAGS, size=(5, 1))
    spec = [tf.TensorSpec([None, None, NUM_TAGS], tf.float32), tf.TensorSpec([None, None], tf.bool)]
    decode = tf.function(lambda u, m: viterbi_decode(u, m, a, s, e), input_signature=spec)
    likelihood = tf.function(
        lambda u, m, y: crf_log_likelihood(u, y, m, a, s, e),
        input_signature=[*spec, tf.TensorSpec([None, None], tf.int64)],
    )
    paths, ll = decode(u1, mask).numpy(), likelihood(u1, mask, tags).numpy()
    for i in range(5):
        log_z, best, scores = _brute_force(u1[i], a, s, e, 1)
        assert tuple(paths[i]) == best
        assert ll[i] == pytest.approx(scores[tuple(tags[i])] - log_z, abs=1e-4)


def test_crf_loss_uses_minus_one_padding_as_mask(problem):
    u, a, s, e, lengths, mask = problem
    crf = CRF(NUM_TAGS)
    crf.build((None, None, NUM_TAGS))
    crf.transitions.assign(a)
    crf.start.assign(s)
    crf.end.assign(e)
    tags = np.zeros((5, TIME), "int32")
    tags[~mask] = -1
    want = -np.asarray(crf_log_likelihood(u, tags, mask, a, s, e)).mean()
    got = float(CRFLoss(crf)(tags, u))
    assert got == pytest.approx(want, rel=1e-5)


def test_crf_learns_a_transition_rule():
    """Tags follow 0 -> 1 -> 2 -> 0 ...; unaries say nothing, so only transitions can learn it."""
    inputs = keras.Input((TIME, 1))
    crf = CRF(NUM_TAGS, name="crf")
    model = keras.Model(inputs, crf(keras.layers.Dense(NUM_TAGS)(inputs)))
    model.compile(keras.optimizers.Adam(0.1), loss=CRFLoss(crf))
    x = np.zeros((64, TIME, 1), "float32")
    y = np.tile((np.arange(TIME) % NUM_TAGS)[None], (64, 1)).astype("int32")
    model.fit(x, y, epochs=30, verbose=0)
    decoded = crf.decode(model(x[:2]), np.ones((2, TIME), bool))
    assert np.asarray(decoded).tolist() == y[:2].tolist()


def test_crf_layer_serialises():
    crf = CRF(4, name="crf")
    clone = CRF.from_config(crf.get_config())
    assert clone.num_tags == 4 and clone.name == "crf"
