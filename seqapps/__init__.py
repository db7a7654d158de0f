"""seqapps: recurrent-network applications on Keras 3 and TensorFlow.

The public API:

- :data:`TASKS` / :func:`get_task_class`: the task registry;
- :func:`train`, :func:`get_strategy`: training under a ``tf.distribute`` strategy;
- :func:`evaluate_run`, :func:`export`, :func:`predict`: the rest of a run's life;
- :func:`resolve_config`: defaults < YAML < ``key=value`` overrides;
- :class:`SeqappsError`, :class:`ConfigError`, :class:`DataError`.
"""

__version__ = "0.1.0"

from seqapps.config import RecurrentConfig, TrainConfig  # noqa: E402
from seqapps.config import resolve as resolve_config  # noqa: E402
from seqapps.errors import ConfigError, DataError, SeqappsError  # noqa: E402
from seqapps.export import export, load_export, predict  # noqa: E402
from seqapps.runs import evaluate_run, load_run  # noqa: E402
from seqapps.tasks import TASKS, get_task_class  # noqa: E402
from seqapps.trainer import get_strategy, train  # noqa: E402

__all__ = [
    "TASKS",
    "ConfigError",
    "DataError",
    "RecurrentConfig",
    "SeqappsError",
    "TrainConfig",
    "evaluate_run",
    "export",
    "get_strategy",
    "get_task_class",
    "load_export",
    "load_run",
    "predict",
    "resolve_config",
    "train",
]
