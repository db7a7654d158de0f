"""Silence what C libraries write straight to file descriptor 2.

TensorFlow's CUDA probe and libjpeg's warnings ("Premature end of JPEG file", "Improper call
to JPEG library in state 203") bypass Python's ``sys.stderr`` and ``TF_CPP_MIN_LOG_LEVEL``;
around the calls that trigger them, stderr is pointed at /dev/null, so a user sees the one
line seqapps prints about the problem, not the library's chatter.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def c_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the ``with`` block, then restore it.

    Python exceptions raised inside still propagate (and print) after the restore. A no-op
    when ``TF_CPP_MIN_LOG_LEVEL`` is set below 3, so that library logs can be asked for.
    """
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3") != "3":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
