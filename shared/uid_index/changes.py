"""The change feed's entries: what each one records, how they are numbered, what State they show.

Every change an instance goes through in the index (a commit, whether it creates or replaces the
instance, a bulk update's commit, and a delete taking effect) is recorded as one entry, written in
the same transaction as the change itself, so an entry exists exactly when its change happened.
An instance's entries are numbered ``1, 2, ...`` in the order its changes committed (``n``), and
time-stamped so that the timestamps increase in that order too, even when the changes came from
hosts whose clocks differ.

Entries get their feed-wide ``Sequence`` afterwards, a round at a time (``number_round``): a round
takes entries that have none yet, oldest first, and gives them the next numbers. Readers see only
entries up to the last round published, and a round is published only once every entry in it has
its number, so a reader polling with the last sequence it saw never misses an entry, however
commits of concurrent requests interleave; and writers share no counter, so they never wait on one
another for a number.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from shared.uid_index.lifecycle import Lifecycle

TICK = 1e-6
"""The least step between two timestamps of one instance. Timestamps are kept to the
microsecond, as the feed shows them, so that a timestamp read from the feed selects its entry."""


class Action(StrEnum):
    """What a change did, in the Azure DICOM service's words."""

    CREATE = "create"
    """A store committed: the instance is new, or a copy replaced it."""
    DELETE = "delete"
    """A delete took effect: the instance left every read."""
    UPDATE = "update"
    """A bulk update committed a changed copy of the instance (the original is kept)."""


class State(StrEnum):
    """Where an entry's instance is now, in the Azure DICOM service's words."""

    CURRENT = "current"
    """The entry's change is the instance's latest and the instance is stored."""
    REPLACED = "replaced"
    """The instance is stored, and changed again since this entry."""
    DELETED = "deleted"
    """The instance is not stored (deleted, or deleted and being stored again)."""


@dataclass(frozen=True)
class History:
    """How many changes an instance has had, and the timestamp of the last one (0: none)."""

    count: int = 0
    at: float = 0.0

    def next(self, now: float) -> History:
        """The next change's number and timestamp: ``now``, or just after the last change when
        this host's clock is behind the one that made it."""
        return History(self.count + 1, round(max(now, self.at + TICK), 6))


def state_of(n: int, status: Lifecycle | None, changes: int) -> State:
    """The State of an instance's ``n``-th entry, from the instance's status (None: no document)
    and its number of changes."""
    if status is not Lifecycle.CREATED:
        return State.DELETED
    return State.CURRENT if n == changes else State.REPLACED


@dataclass(frozen=True)
class Unnumbered:
    """An entry still without a sequence, as a round finds it: where it is and its order."""

    study_key: str
    entry_id: str
    instance_key: str
    n: int
    timestamp: float


def number_round(entries: Sequence[Unnumbered], watermark: int) -> list[tuple[Unnumbered, int]]:
    """Each entry with its sequence: ``watermark + 1`` on, oldest timestamp first.

    An instance's own entries take its places in the order of ``n``, whatever their timestamps
    say, so the feed always shows an instance's changes in the order they committed.
    """
    ordered = sorted(entries, key=lambda e: (e.timestamp, e.instance_key, e.n))
    by_instance: dict[str, list[tuple[int, Unnumbered]]] = defaultdict(list)
    for place, entry in enumerate(ordered):
        by_instance[entry.instance_key].append((place, entry))
    numbered = list(ordered)
    for own in by_instance.values():
        in_commit_order = sorted((entry for _, entry in own), key=lambda e: e.n)
        for (place, _), entry in zip(own, in_commit_order, strict=True):
            numbered[place] = entry
    return [(entry, watermark + i + 1) for i, entry in enumerate(numbered)]
