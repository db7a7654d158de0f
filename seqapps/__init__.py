"""seqapps: recurrent-network applications on Keras 3 and TensorFlow.

The public API (imported lazily, so that ``import seqapps`` and ``seqapps --help`` do not pay
for TensorFlow's start-up):

- :data:`TASKS` / :func:`get_task_class`: the task registry;
- :func:`train`, :func:`get_strategy`: training under a ``tf.distribute`` strategy;
- :func:`evaluate_run`, :func:`load_run`, :func:`export`, :func:`load_export`,
  :func:`predict`: the rest of a run's life;
- :func:`resolve_config`, :class:`TrainConfig`, :class:`RecurrentConfig`: configuration;
- :class:`SeqappsError`, :class:`ConfigError`, :class:`DataError`: errors a user can fix.

Example:
    >>> import seqapps
    >>> cfg = seqapps.resolve_config(seqapps.get_task_class("sentiment").config_class,
    ...                              overrides=["cell=gru"])
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "TASKS": "seqapps.tasks",
    "get_task_class": "seqapps.tasks",
    "train": "seqapps.trainer",
    "get_strategy": "seqapps.trainer",
    "evaluate_run": "seqapps.runs",
    "load_run": "seqapps.runs",
    "export": "seqapps.export",
    "load_export": "seqapps.export",
    "predict": "seqapps.export",
    "TrainConfig": "seqapps.config",
    "RecurrentConfig": "seqapps.config",
    "SeqappsError": "seqapps.errors",
    "ConfigError": "seqapps.errors",
    "DataError": "seqapps.errors",
}
_RENAMED = {"resolve_config": ("seqapps.config", "resolve")}

__all__ = sorted([*_EXPORTS, *_RENAMED])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _RENAMED:
        module, attr = _RENAMED[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'seqapps' has no attribute {name!r}")
