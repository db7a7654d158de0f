"""Errors a user can fix. The CLI prints them as one line, never as a stack trace."""

from __future__ import annotations

from pathlib import Path


class SeqappsError(Exception):
    """Base class of every error caused by input the user controls (data, config, paths)."""


class ConfigError(SeqappsError):
    """A config file or ``key=value`` override is invalid: unknown key, wrong type, bad value."""


class DataError(SeqappsError):
    """A data file is missing or malformed.

    The message always names the file, the line when there is one, the problem and,
    when there is an obvious one, what to do about it.

    Example:
        >>> str(DataError("train_labels.txt", "label '7' is not in mapping.txt", line=12))
        "train_labels.txt:12: label '7' is not in mapping.txt"
    """

    def __init__(
        self, path: str | Path, problem: str, line: int | None = None, hint: str | None = None
    ) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        message = f"{where}: {problem}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class TrainingError(SeqappsError):
    """Training cannot go on: a loss or metric became NaN or infinite.

    The message names the epoch and batch, and what the run directory keeps.
    """
