"""The STOW-RS response: one DICOM JSON dataset and the HTTP status that goes with it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.services.store import Outcome
from shared.web.urls import instance_url, study_url

JsonDict = dict[str, Any]

VALIDATION_WARNING = 1


def _element(vr: str, *values: Any) -> JsonDict:
    return {"vr": vr, "Value": list(values)} if values else {"vr": vr}


def _reference(outcome: Outcome) -> JsonDict:
    item: JsonDict = {}
    if outcome.sop_class_uid:
        item["00081150"] = _element("UI", outcome.sop_class_uid)
    if outcome.sop_instance_uid:
        item["00081155"] = _element("UI", outcome.sop_instance_uid)
    return item


def _comments(comments: Sequence[str]) -> JsonDict:
    return _element("SQ", *({"00000902": _element("LO", c)} for c in comments))


def store_response(
    outcomes: Sequence[Outcome], root: str, study_uid: str | None
) -> tuple[int, JsonDict | None]:
    """Status and dataset: 200 all stored cleanly, 202 partly or with warnings, 409 none stored.

    ``root`` is the versioned base URL. No parts at all is 204 with no body.
    """
    if not outcomes:
        return 204, None
    stored = [o for o in outcomes if o.failure is None]
    failed = [o for o in outcomes if o.failure is not None]
    dataset: JsonDict = {}
    studies = {o.study_uid for o in stored}
    retrieve_study = study_uid or (studies.pop() if len(studies) == 1 else None)
    if stored and retrieve_study:
        dataset["00081190"] = _element("UR", study_url(root, retrieve_study))
    if failed:
        items = []
        for o in failed:
            item = _reference(o)
            item["00081197"] = _element("US", o.failure)
            if o.comments:
                item["00741048"] = _comments(o.comments)
            items.append(item)
        dataset["00081198"] = _element("SQ", *items)
    if stored:
        items = []
        for o in stored:
            item = _reference(o)
            assert o.study_uid and o.series_uid and o.sop_instance_uid
            item["00081190"] = _element(
                "UR", instance_url(root, o.study_uid, o.series_uid, o.sop_instance_uid)
            )
            if o.comments:
                item["00081196"] = _element("US", VALIDATION_WARNING)
                item["00741048"] = _comments(o.comments)
            items.append(item)
        dataset["00081199"] = _element("SQ", *items)
    if not stored:
        return 409, dataset
    if failed or any(o.comments for o in stored):
        return 202, dataset
    return 200, dataset
