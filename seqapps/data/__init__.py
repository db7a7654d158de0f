"""Data loading (files, samples, TFDS) and tf.data preprocessing shared by the tasks."""
