"""Workarounds for Keras 3 + ``tf.distribute``: multi-worker ``fit``, and more.

The other one: key collisions between MirroredStrategies in one process
(:func:`mirrored_strategy`, at the end).

Keras 3's ``model.fit`` does not run under MultiWorkerMirroredStrategy (keras-team/keras#20585,
open as of Keras 3.15). Two places fail, both only in how Keras *reduces per-replica values*:

1. Before training, Keras reduces the first distributed batch across replicas just to learn its
   shapes; the strategy cannot reduce a nested batch ("Attempt to convert a value
   (PerReplica...)"). This worker's local batch has the same structure, which suffices.
2. After every step Keras reduces the scalar metric results with ``axis=0``, which is invalid
   for scalars ("Invalid reduction dimension 0 for input with 0 dimensions"). A mean across
   workers with ``axis=None`` is what is meant.

Both patches apply only to that strategy and leave every other path untouched; the multi-worker
test in ``tests/test_multi_worker.py`` fails if a Keras upgrade moves these internals.
"""

from __future__ import annotations

import itertools

import keras
import tensorflow as tf
from keras.src.backend.tensorflow import trainer as _tf_trainer

_original_reduce_per_replica = _tf_trainer.reduce_per_replica


def _is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def _reduce_per_replica(values, strategy, reduction):
    if _is_multi_worker(strategy) and reduction in ("auto", "mean"):

        def mean(v):
            if isinstance(v, tf.distribute.DistributedValues) or v.shape.rank == 0:
                return strategy.reduce("MEAN", v, axis=None)
            return strategy.reduce("MEAN", v, axis=0)

        return tf.nest.map_structure(mean, values)
    return _original_reduce_per_replica(values, strategy, reduction)


def enable_multi_worker_fit(model: keras.Model, strategy: tf.distribute.Strategy) -> None:
    """Let ``model.fit`` run under ``strategy`` when it is a MultiWorkerMirroredStrategy."""
    if not _is_multi_worker(strategy):
        return
    _tf_trainer.reduce_per_replica = _reduce_per_replica

    def build_from_local_batch(iterator=None, data_batch=None) -> None:
        if iterator is not None:
            for _, _, it in iterator:
                data_batch = tf.nest.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0], next(it)
                )
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = build_from_local_batch


# Each MirroredStrategy numbers its collective ops from the same group key, and TF keeps
# collective instances for the life of the process, so a second MirroredStrategy that trains
# in the same process (a notebook, a test suite) collides with the first: "Shape mismatch in
# the collective instance 100". TF's own tests avoid it by setting this class attribute,
# which it reads when a strategy is built; giving every strategy its own range does the same.
_mirrored_strategies = itertools.count()


def mirrored_strategy(devices: list[str] | None) -> tf.distribute.MirroredStrategy:
    """A ``MirroredStrategy`` whose collective keys do not collide with earlier ones."""
    tf.distribute.MirroredStrategy._collective_key_base = 1000 * next(_mirrored_strategies)
    return tf.distribute.MirroredStrategy(devices)
