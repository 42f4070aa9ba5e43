"""Logging unexpected failures so that an operator can find the code, and no patient data leaks.

An exception's message, and the values a traceback could show, may hold patient data (a name in
a ValueError, a UID in a KeyError), so neither is logged: only the exception's type and, for each
frame of its traceback, the file, line and function. Causes (``raise ... from``, or an exception
raised while handling another) are followed, since the first failure is usually the one to fix.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
_SITE_PACKAGES = "site-packages/"
_MAX_CAUSES = 5


def _short(filename: str) -> str:
    """A file as an operator reads it: inside the app, or inside an installed package."""
    path = Path(filename)
    if path.is_relative_to(_ROOT):
        return str(path.relative_to(_ROOT))
    return filename.rpartition(_SITE_PACKAGES)[2]


def _frames(exc: BaseException) -> list[str]:
    return [
        f"  {_short(frame.f_code.co_filename)}:{line} in {frame.f_code.co_name}"
        for frame, line in traceback.walk_tb(exc.__traceback__)
    ]


def failure_description(exc: BaseException) -> str:
    """The exception's type and its traceback's code locations, innermost last, and its causes'.

    Never its message, arguments or any value.
    """
    lines = [type(exc).__name__, *_frames(exc)]
    seen = {id(exc)}
    cause = exc.__cause__ or exc.__context__
    while cause is not None and id(cause) not in seen and len(seen) <= _MAX_CAUSES:
        seen.add(id(cause))
        lines += [f" caused by {type(cause).__name__}", *_frames(cause)]
        cause = cause.__cause__ or cause.__context__
    return "\n".join(lines)


def log_failure(logger: logging.Logger, what: str, exc: BaseException) -> None:
    """Log that ``what`` failed unexpectedly, with where, as ``failure_description`` tells it."""
    logger.error("%s failed: %s", what, failure_description(exc))
