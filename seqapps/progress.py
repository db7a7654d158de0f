"""Progress bars for long loops that are not ``model.fit`` (evaluation, feature extraction)."""

from __future__ import annotations

import sys

import keras


def progress_bar(total: int | None, unit: str = "step") -> keras.utils.Progbar:
    """A Keras ``Progbar`` that draws on a terminal and stays silent in logs and CI.

    Example:
        >>> bar = progress_bar(100, unit="tweet")
        >>> bar.add(10)
    """
    return keras.utils.Progbar(total, verbose=1 if sys.stdout.isatty() else 0, unit_name=unit)
