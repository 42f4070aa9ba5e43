"""DICOM wildcard matching (PS3.4 C.2.2.2.4) at a cost linear in the value matched.

``*`` matches any run of characters (none included) and ``?`` any one character. A backtracking
regular expression (``^.*a.*a.*b$``) is the obvious translation and the wrong one: on a value
that almost matches it tries every placement of every ``*``, exponentially many, and the Cosmos
DB emulator's JavaScript engine took minutes over one 64-character value, serving nothing else
meanwhile. So a pattern is used in two linear ways instead:

- ``IndexTerms``: what the index can test with functions that scan the value once (STARTSWITH,
  ENDSWITH, CONTAINS, LENGTH). They cannot say in which order the literal runs come, nor where a
  ``?`` falls, so for most patterns they only narrow the candidates.
- ``matches``: the exact answer, checked by the service on those candidates. Each ``*``-separated
  piece is placed at its leftmost fit after the previous one and never moved again; the leftmost
  fit leaves the most room for what follows, so no other placement needs trying.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WILDCARDS = frozenset("*?")
_WILDCARD = re.compile(r"[*?]")


@dataclass(frozen=True)
class IndexTerms:
    """Conditions every match satisfies, each testable in one scan of the value."""

    prefix: str
    """STARTSWITH; empty when the pattern starts with a wildcard."""
    suffix: str
    """ENDSWITH; empty when the pattern ends with a wildcard."""
    contained: tuple[str, ...]
    """CONTAINS, one per literal run between wildcards not already implied by another term."""
    min_length: int
    """LENGTH at least: every character but ``*`` stands for one character of the value."""
    exact: bool
    """The terms alone decide the match (``abc*``, ``*abc``, ``*abc*``): no check is needed."""


def index_terms(pattern: str) -> IndexTerms:
    """The index conditions of ``pattern``, a value with at least one wildcard."""
    runs = _WILDCARD.split(pattern)
    prefix, suffix, inner = runs[0], runs[-1], runs[1:-1]
    implied = sorted({run for run in inner if run}, key=len, reverse=True)
    contained: list[str] = []
    for run in implied:
        if not any(run in other for other in (prefix, suffix, *contained)):
            contained.append(run)
    return IndexTerms(
        prefix=prefix,
        suffix=suffix,
        contained=tuple(contained),
        min_length=len(pattern) - pattern.count("*"),
        exact="*" in pattern and "?" not in pattern and sum(1 for run in runs if run) <= 1,
    )


def matches(pattern: str, value: str) -> bool:
    """Whether ``value`` matches the DICOM wildcard ``pattern``, in O(len(value) × len(pattern))
    steps and no backtracking."""
    head, *rest = pattern.split("*")
    if not rest:
        return len(value) == len(head) and _fits(head, value, 0)
    *middle, tail = rest
    end = len(value) - len(tail)
    if end < len(head) or not (_fits(head, value, 0) and _fits(tail, value, end)):
        return False
    position = len(head)
    for piece in middle:
        found = _leftmost(piece, value, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True


def _fits(piece: str, value: str, at: int) -> bool:
    """``piece`` (literal characters and ``?``) matches ``value`` at ``at``; the caller has
    checked that it is long enough."""
    return all(p in ("?", c) for p, c in zip(piece, value[at : at + len(piece)], strict=True))


def _leftmost(piece: str, value: str, start: int, end: int) -> int:
    """Where ``piece`` first fits inside ``value[start:end]``, or -1."""
    if "?" not in piece:
        return value.find(piece, start, end)
    for at in range(start, end - len(piece) + 1):
        if _fits(piece, value, at):
            return at
    return -1
