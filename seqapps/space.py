"""Search-space declarations for ``seqapps tune``, kept beside each config class.

A config class lists what the tuner may vary in a ``search_space`` class attribute, a dict
from field name to :class:`IntRange`, :class:`FloatRange` or :class:`Choice`;
:func:`search_space` merges them along the class's bases (``TrainConfig`` and
``RecurrentConfig`` declare the shared ones, a task adds or narrows its own), so a task
inherits the learning rate and batch size ranges and declares its embedding sizes.

Example:
    >>> from seqapps.tasks.sentiment import SentimentConfig
    >>> sorted(search_space(SentimentConfig))[:3]
    ['batch_size', 'dropout', 'embedding_dim']
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class IntRange:
    """Integers from ``low`` to ``high`` inclusive; ``log`` samples on a log scale."""

    low: int
    high: int
    log: bool = False
    step: int = 1


@dataclasses.dataclass(frozen=True)
class FloatRange:
    """Floats from ``low`` to ``high``; ``log`` samples on a log scale (learning rates)."""

    low: float
    high: float
    log: bool = False


@dataclasses.dataclass(frozen=True)
class Choice:
    """One of ``options`` (categorical)."""

    options: tuple[Any, ...]


Param = IntRange | FloatRange | Choice


def search_space(config_class: type) -> dict[str, Param]:
    """The merged ``search_space`` of ``config_class`` and its bases (subclasses win).

    A subclass removes a base's entry by mapping it to ``None``.
    """
    space: dict[str, Param | None] = {}
    for klass in reversed(config_class.__mro__):
        space.update(vars(klass).get("search_space", {}))
    fields = {f.name for f in dataclasses.fields(config_class)}
    return {k: v for k, v in space.items() if v is not None and k in fields}
