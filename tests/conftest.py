"""Test set-up: quiet TensorFlow and split the CPU into two logical devices.

The split lets ``MirroredStrategy(["CPU:0", "CPU:1"])`` run without GPUs, as Keras' own
distribution tests do. It must happen before TensorFlow creates its devices, hence here.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

# Small enough that a training run takes seconds on 2 cores.
TINY = [
    "units=8",
    "embedding_dim=8",
    "max_tokens=500",
    "batch_size=32",
    "epochs=2",
    "patience=5",
]


@pytest.fixture
def tiny_overrides() -> list[str]:
    """``key=value`` overrides for a tiny, fast sentiment model."""
    return list(TINY)
