"""The Task base class: what the trainer, evaluator, exporter and CLI need from a task.

A task turns raw data into ``tf.data`` pipelines, builds its Keras model, scores it and
wraps it into a serving function that takes raw input. Its preprocessing state (for example
a vocabulary) is fitted on the training split only by :meth:`Task.adapt` and saved beside
the run, so that evaluation, export and a resumed run all see the same state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import keras
import tensorflow as tf


class Task:
    """Base class of the five tasks. Subclasses fill in every method that raises here.

    Attributes:
        name: registry key and CLI name, e.g. ``"sentiment"``.
        config_class: the task's config dataclass.
        monitor: validation metric that selects the best epoch (checkpoint, early stop).
        monitor_mode: ``"max"`` or ``"min"``.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    monitor: ClassVar[str] = "val_loss"
    monitor_mode: ClassVar[str] = "min"

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    # --- data ------------------------------------------------------------------------
    def load_data(self) -> Any:
        """Load the raw splits named by ``cfg.data``."""
        raise NotImplementedError

    def num_examples(self, data: Any, split: str) -> int:
        """Number of examples in ``split``."""
        raise NotImplementedError

    def adapt(self, data: Any) -> None:
        """Fit preprocessing state (vocabularies, scalers) on the training split only."""
        raise NotImplementedError

    def save_assets(self, directory: Path) -> None:
        """Write the fitted preprocessing state into ``directory``."""
        raise NotImplementedError

    def load_assets(self, directory: Path) -> None:
        """Restore the state written by :meth:`save_assets`."""
        raise NotImplementedError

    def make_dataset(
        self, data: Any, split: str, *, batch_size: int, training: bool
    ) -> tf.data.Dataset:
        """Return batches of ``(inputs, targets)``; shuffled and repeated when training."""
        raise NotImplementedError

    # --- model -----------------------------------------------------------------------
    def build_model(self) -> keras.Model:
        """Build the (uncompiled) Keras model; called inside the strategy scope."""
        raise NotImplementedError

    def compile_args(self, model: keras.Model) -> dict[str, Any]:
        """Loss and metrics for ``model.compile`` (the trainer adds the optimizer).

        ``model`` is the one :meth:`build_model` returned: a loss may need its layers (a
        CRF loss reads the CRF layer's transition scores).
        """
        raise NotImplementedError

    def fit_args(self, data: Any) -> dict[str, Any]:
        """Extra keyword arguments for ``model.fit``, e.g. ``class_weight``."""
        return {}

    # --- evaluation and serving ------------------------------------------------------
    def evaluate(self, model: keras.Model, data: Any, split: str, out_dir: Path) -> dict:
        """Score ``model`` on ``split``; write plots into ``out_dir``; return flat metrics."""
        raise NotImplementedError

    def export_archive(self, model: keras.Model) -> keras.export.ExportArchive:
        """Wrap preprocessing + model into an archive whose ``serving_default`` takes raw input."""
        raise NotImplementedError

    def predict_inputs(self, inputs: list[str]) -> Any:
        """Turn command-line inputs into the tensor ``serving_default`` takes."""
        raise NotImplementedError

    def format_predictions(self, inputs: list[str], outputs: dict[str, tf.Tensor]) -> list[str]:
        """Render ``serving_default`` outputs as one printable line per input."""
        raise NotImplementedError
