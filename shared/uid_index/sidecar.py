"""The ingest sidecar: what store computed once so reads never reopen the DICOM file.

Stored as ``{version}.json`` beside ``{version}.dcm``. It holds the UIDs (so the index can be
rebuilt from blob storage alone), the DICOM JSON metadata without bulk data (BulkDataURIs are kept
relative to the instance and made absolute when served), the transfer syntax, and each frame's
byte ranges in the file (so one frame is read with a ranged GET), and, when the store made an
HTJ2K copy of the pixel data, each frame's byte range in it. Store writes it while the file's
last request is sent (after the HTJ2K copy, when it makes one, so a sidecar names only a copy
already written): a copy is durable in blob storage once both blobs exist, and rebuild and
verify take a version as stored only when both are there.

A copy made by a bulk update names the instance's original copy (``original``), which is kept
beside it for audit, so that an index rebuilt from blob storage still points at both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson

from shared.uid_index.keys import InstanceRef

SIDECAR_SCHEMA = 1


def bulk_data_path(element_path: str) -> str:
    """A stored BulkDataURI: relative to the instance's URL, made absolute when served."""
    return f"bulkdata/{element_path}"


@dataclass(frozen=True)
class OriginalCopy:
    """An instance's copy as it was first stored, kept when a bulk update replaces it."""

    version: str
    size: int


@dataclass(frozen=True)
class Sidecar:
    ref: InstanceRef
    version: str
    sop_class_uid: str
    transfer_syntax_uid: str
    size: int
    metadata: dict[str, Any]
    frames: list[list[list[int]]] | None
    pixel_data: dict[str, Any] | None
    excluded_tags: tuple[str, ...]
    htj2k_frames: list[list[int]] | None = None
    """Each frame's (offset, length) in the HTJ2K copy (``InstanceRef.htj2k_blob``), if made."""
    original: OriginalCopy | None = None
    """The copy as first stored, when this one is a bulk update's."""

    def to_bytes(self) -> bytes:
        """UTF-8 JSON, written by orjson (a tenth of the standard encoder's CPU per sidecar). A
        binary float that is not finite (FL or FD NaN) is written as null, valid JSON; sidecars
        written before held it as ``NaN``, which the standard decoder of ``from_bytes`` reads."""
        ref = self.ref
        body = {
            "schema": SIDECAR_SCHEMA,
            "partition": ref.study.partition,
            "studyInstanceUID": ref.study.study_uid,
            "seriesInstanceUID": ref.series.series_uid,
            "sopInstanceUID": ref.sop_instance_uid,
            "sopClassUID": self.sop_class_uid,
            "version": self.version,
            "transferSyntaxUID": self.transfer_syntax_uid,
            "size": self.size,
            "excludedTags": list(self.excluded_tags),
            "pixelData": self.pixel_data,
            "frames": self.frames,
            "metadata": self.metadata,
        }
        if self.htj2k_frames is not None:
            body["htj2kFrames"] = self.htj2k_frames
        if self.original is not None:
            body["original"] = {"version": self.original.version, "size": self.original.size}
        return orjson.dumps(body)

    @classmethod
    def from_bytes(cls, data: bytes) -> Sidecar:
        body = json.loads(data)
        if body.get("schema") != SIDECAR_SCHEMA:
            raise ValueError("unknown sidecar schema")
        ref = InstanceRef.of(
            body["partition"],
            body["studyInstanceUID"],
            body["seriesInstanceUID"],
            body["sopInstanceUID"],
        )
        return cls(
            ref=ref,
            version=body["version"],
            sop_class_uid=body["sopClassUID"],
            transfer_syntax_uid=body["transferSyntaxUID"],
            size=int(body["size"]),
            metadata=body["metadata"],
            frames=body["frames"],
            pixel_data=body["pixelData"],
            excluded_tags=tuple(body["excludedTags"]),
            htj2k_frames=body.get("htj2kFrames"),
            original=None
            if body.get("original") is None
            else OriginalCopy(str(body["original"]["version"]), int(body["original"]["size"])),
        )
