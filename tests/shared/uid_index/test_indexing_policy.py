"""The indexing policy the code and the Bicep share: what search filters on is indexed, what it
only returns is not."""

from __future__ import annotations

from shared.uid_index.container import indexing_policy
from shared.uid_index.documents import SEARCH_KEYS, TAG_ERROR_KEYS, TAG_ERRORS, TAG_JSON, TAG_KEYS


def _covered(path: str, rules: list[dict[str, str]]) -> bool:
    """Whether a policy path rule (``/a/*`` or ``/a/?``) covers the document path ``path``."""
    for rule in rules:
        prefix = rule["path"].rstrip("*?").rstrip("/")
        if path == prefix or path.startswith(f"{prefix}/") or prefix == "":
            return True
    return False


def test_search_values_are_indexed_and_returned_values_are_not() -> None:
    policy = indexing_policy()
    included, excluded = policy["includedPaths"], policy["excludedPaths"]
    for path in (
        f"/{SEARCH_KEYS}/PatientID",
        f"/{TAG_KEYS}/study/t00101010x",
        f"/{TAG_ERROR_KEYS}",
    ):
        assert _covered(path, included) and not _covered(path, excluded), path
    for path in ("/json/00100010", f"/{TAG_JSON}/study/00101010", f"/{TAG_ERRORS}/0/message"):
        assert _covered(path, excluded), path
