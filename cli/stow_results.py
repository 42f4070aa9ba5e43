"""What a STOW-RS answer says about each instance sent (PS3.18 §10.5.3, DICOM JSON).

The response dataset lists stored instances in ReferencedSOPSequence (0008,1199) and refused ones
in FailedSOPSequence (0008,1198) with a FailureReason (0008,1197). FailureReason 45070 (the
instance is already stored) is not an error for an import: the data is there. Servers differ in
what they put in the items, so parsing never fails: whatever cannot be read is left out, and an
instance without a readable answer is reported as such.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cli.sources import Outcome
from shared.uid_index.index import ALREADY_EXISTS

REFERENCED_SOP_SEQUENCE = "00081199"
FAILED_SOP_SEQUENCE = "00081198"
FAILURE_REASON = "00081197"
WARNING_REASON = "00081196"
REFERENCED_SOP_INSTANCE_UID = "00081155"
FAILED_ATTRIBUTES_SEQUENCE = "00741048"
ERROR_COMMENT = "00000902"

# PS3.4 Annex B (Storage Service Class statuses), PS3.7 Annex C, PS3.18 §10.5.3, and the codes
# of the Azure DICOM service, which this project's server shares.
_MEANINGS = {
    0x0001: "attributes failed validation (stored, not indexed)",
    0x0110: "processing failure",
    0x0122: "SOP class not supported",
    0x0124: "not authorized",
    0xA900: "validation failed",
    0xA901: "StudyInstanceUID does not match the study in the URL",
    0xB000: "coercion of data elements",
    0xB006: "elements discarded",
    0xB007: "data set does not match SOP class",
    0xB00E: "already stored",
    0xB00F: "being stored by another request",
    0xC122: "transfer syntax not supported",
}
# The status classes of PS3.4 Annex B, by the code's high byte or high nibble.
_CLASSES = {0xA7: "refused: out of resources", 0xA9: "data set does not match SOP class"}


def meaning(code: int) -> str:
    """The standard (or Azure) meaning of a failure or warning code."""
    if code in _MEANINGS:
        return _MEANINGS[code]
    if code >> 8 in _CLASSES:
        return _CLASSES[code >> 8]
    if code >> 12 == 0xC:
        return "cannot understand"
    return "unknown reason"


@dataclass(frozen=True)
class InstanceResult:
    """One instance's fate: its outcome and, for failures and warnings, why (and the code)."""

    sop_instance_uid: str | None
    outcome: Outcome
    reason: str = ""
    code: int | None = None


def _values(dataset: Mapping[str, object], tag: str) -> list[object]:
    element = dataset.get(tag)
    if not isinstance(element, Mapping):
        return []
    values = element.get("Value")
    return values if isinstance(values, list) else []


def _first_int(item: Mapping[str, object], tag: str) -> int | None:
    values = _values(item, tag)
    if values and isinstance(values[0], int | float | str):
        try:
            return int(values[0])
        except (ValueError, OverflowError):  # NaN and infinities, which json.loads accepts
            return None
    return None


def _first_str(item: Mapping[str, object], tag: str) -> str | None:
    values = _values(item, tag)
    return values[0] if values and isinstance(values[0], str) and values[0] else None


def _reason(code: int, item: Mapping[str, object]) -> str:
    comments = [
        comment
        for attribute in _values(item, FAILED_ATTRIBUTES_SEQUENCE)
        if isinstance(attribute, Mapping)
        for comment in [_first_str(attribute, ERROR_COMMENT)]
        if comment
    ]
    text = f"{code} ({meaning(code)})"
    return f"{text}: {'; '.join(comments)}" if comments else text


def parse_stow_response(dataset: object) -> list[InstanceResult]:
    """The instances a STOW response dataset reports, failed ones first, in their listed order."""
    if not isinstance(dataset, Mapping):
        return []
    results = []
    for item in _values(dataset, FAILED_SOP_SEQUENCE):
        if not isinstance(item, Mapping):
            continue
        uid = _first_str(item, REFERENCED_SOP_INSTANCE_UID)
        code = _first_int(item, FAILURE_REASON)
        if code == ALREADY_EXISTS:
            results.append(InstanceResult(uid, Outcome.PRESENT))
        elif code is None:
            results.append(InstanceResult(uid, Outcome.FAILED, "no failure reason given"))
        else:
            results.append(InstanceResult(uid, Outcome.FAILED, _reason(code, item), code))
    for item in _values(dataset, REFERENCED_SOP_SEQUENCE):
        if not isinstance(item, Mapping):
            continue
        warning = _first_int(item, WARNING_REASON)
        reason = "" if warning is None else f"warning {_reason(warning, item)}"
        results.append(
            InstanceResult(_first_str(item, REFERENCED_SOP_INSTANCE_UID), Outcome.STORED, reason)
        )
    return results


def match_results(
    uids: Sequence[str | None], results: Sequence[InstanceResult], status: int
) -> list[InstanceResult]:
    """One result per instance sent (``uids``, in the order sent), taken from ``results``.

    Results are matched by SOP Instance UID first. Failures that name no instance (the server
    could not read one) then go, in order, to the instances still unmatched: servers list parts
    in the order received. An instance left without a result was stored if the status is 200
    (every instance stored, as PS3.18 defines it, even from a server that lists nothing), and
    failed otherwise.
    """
    by_uid: defaultdict[str, deque[InstanceResult]] = defaultdict(deque)
    anonymous: deque[InstanceResult] = deque()
    for result in results:
        if result.sop_instance_uid is None:
            anonymous.append(result)
        else:
            by_uid[result.sop_instance_uid].append(result)
    matched: list[InstanceResult | None] = []
    for uid in uids:
        queue = by_uid.get(uid) if uid is not None else None
        matched.append(queue.popleft() if queue else None)
    if status == 200:
        fallback = InstanceResult(None, Outcome.STORED)
    else:
        fallback = InstanceResult(None, Outcome.FAILED, "not in the server's response")
    final = []
    for uid, found in zip(uids, matched, strict=True):
        if found is None:
            found = anonymous.popleft() if anonymous else fallback
        final.append(InstanceResult(uid, found.outcome, found.reason, found.code))
    return final
