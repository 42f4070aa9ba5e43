"""The change a bulk update applies: a DICOM JSON data set of patient and study attributes.

Only the attributes the Azure DICOM service lets a bulk update change are accepted: those of the
Patient Identification and Patient Demographic modules and of the General Study module that are
not sequences, and not the UIDs, which name the study and its files. Each must carry a value
that is valid for its VR: an update never empties an attribute (as in Azure). Messages name the
attribute and the rule broken, never the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pydicom import config
from pydicom.datadict import dictionary_VM, dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.valuerep import validate_value

from shared.dicom.dicom_json import to_dicom_json
from shared.dicom.validation import value_issue

UPDATABLE_KEYWORDS = (
    # Patient Identification Module
    "PatientName",
    "PatientID",
    "OtherPatientIDs",
    "TypeOfPatientID",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientMotherBirthName",
    "MedicalRecordLocator",
    # Patient Demographic Module
    "PatientAge",
    "Occupation",
    "ConfidentialityConstraintOnPatientDataDescription",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientSex",
    "QualityControlSubject",
    "PatientSize",
    "PatientWeight",
    "PatientAddress",
    "MilitaryRank",
    "BranchOfService",
    "CountryOfResidence",
    "RegionOfResidence",
    "PatientTelephoneNumbers",
    "EthnicGroup",
    "PatientReligiousPreference",
    "PatientComments",
    "ResponsiblePerson",
    "ResponsiblePersonRole",
    "ResponsibleOrganization",
    "PatientSpeciesDescription",
    "PatientBreedDescription",
    "BreedRegistrationNumber",
    # General Study Module
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "StudyDescription",
    "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy",
)

UPDATABLE_TAGS = frozenset(int(tag_for_keyword(k) or 0) for k in UPDATABLE_KEYWORDS)


class InvalidChange(ValueError):
    """The change data set cannot be applied; the message names the attribute."""


@dataclass(frozen=True)
class ChangeDataset:
    """A validated change: the elements to set, as pydicom holds them, and as the request
    gave them (DICOM JSON)."""

    dataset: Dataset
    json: dict[str, Any]

    @property
    def tags(self) -> list[int]:
        return sorted(int(element.tag) for element in self.dataset)

    @cached_property
    def elements(self) -> dict[str, Any]:
        """The change's elements as the service's DICOM JSON gives them (``to_dicom_json``), so
        that they compare with a stored copy's metadata."""
        return to_dicom_json(self.dataset, lambda path: path)

    @property
    def needs_unicode(self) -> bool:
        """Whether a value holds characters outside ASCII (the default character repertoire)."""
        return any(not str(self.dataset[tag].value).isascii() for tag in self.tags)


def _name(tag: int) -> str:
    keyword = keyword_for_tag(tag)
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})" + (f" {keyword}" if keyword else "")


def _rule_broken(vr: str, values: list[Any]) -> str | None:
    for value in values:
        try:
            validate_value(vr, value, config.RAISE)
        except (ValueError, TypeError):
            return f"not a valid {vr}"  # pydicom's message quotes the value
        try:
            issue = value_issue(vr, value)
        except KeyError:  # a VR whose values need no check beyond pydicom's
            issue = None
        if issue is not None:
            return issue
    return None


def parse_change_dataset(body: Any) -> ChangeDataset:
    """The change a request's ``changeDataset`` describes; InvalidChange naming what is not
    allowed or not valid."""
    if not isinstance(body, dict) or not body:
        raise InvalidChange("changeDataset must be a DICOM JSON object with at least one attribute")
    for key, element in body.items():
        try:
            tag = int(key, 16) if len(key) == 8 else -1
        except ValueError:
            tag = -1
        if tag < 0:
            raise InvalidChange(f"changeDataset key {len(key)} characters long is not a tag")
        if tag not in UPDATABLE_TAGS:
            raise InvalidChange(f"{_name(tag)} cannot be changed by a bulk update")
        vr = dictionary_VR(tag)
        if not isinstance(element, dict) or element.get("vr") != vr:
            raise InvalidChange(f"{_name(tag)} must be an element with vr {vr}")
        if not element.get("Value"):
            raise InvalidChange(f"{_name(tag)} must have a value: an update cannot empty it")
    try:
        dataset = Dataset.from_json(body)
    except Exception as exc:  # pydicom raises assorted errors for malformed DICOM JSON
        name = type(exc).__name__
        raise InvalidChange(f"changeDataset is not valid DICOM JSON ({name})") from None
    for element in dataset:
        tag = int(element.tag)
        values = list(element.value) if element.VM > 1 else [element.value]
        if element.VM > 1 and str(dictionary_VM(tag)) == "1":
            raise InvalidChange(f"{_name(tag)} holds one value only")
        vr = str(element.VR)
        issue = _rule_broken(vr, [v if isinstance(v, str) else str(v) for v in values])
        if issue is not None:
            raise InvalidChange(f"{_name(tag)} is {issue}")
    return ChangeDataset(dataset, body)
