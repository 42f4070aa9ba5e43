"""The states of an instance entry in the index; the transitions are in ``index``."""

from __future__ import annotations

from enum import StrEnum


class Lifecycle(StrEnum):
    """The state of one instance entry. Only ``CREATED`` is visible to reads."""

    PENDING = "pending"
    """Claimed by a store whose files may not be written yet; invisible."""
    CREATED = "created"
    """Committed: its files were written before it said so; the only visible state."""
    DELETING = "deleting"
    """Hidden by a delete (or the sweep) whose purge has not finished; invisible."""
    PURGED = "purged"
    """Deleted, files and all; kept, invisible, so that the instance's change feed entries keep
    their numbering and State should it be stored again."""
