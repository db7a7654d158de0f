"""The task registry: the only one in seqapps, a plain dict from name to Task class."""

from __future__ import annotations

from seqapps.errors import ConfigError
from seqapps.task import Task
from seqapps.tasks.captioning import CaptioningTask
from seqapps.tasks.forecasting import ForecastingTask
from seqapps.tasks.ner import NerTask
from seqapps.tasks.sentiment import SentimentTask
from seqapps.tasks.translation import TranslationTask

TASKS: dict[str, type[Task]] = {
    SentimentTask.name: SentimentTask,
    NerTask.name: NerTask,
    TranslationTask.name: TranslationTask,
    CaptioningTask.name: CaptioningTask,
    ForecastingTask.name: ForecastingTask,
}


def get_task_class(name: str) -> type[Task]:
    """Return the Task class registered as ``name``, or a ConfigError listing the names."""
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; available: {', '.join(TASKS)}")
    return TASKS[name]


__all__ = ["TASKS", "get_task_class"]
