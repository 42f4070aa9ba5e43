"""Metadata: absolute BulkDataURIs and the entity tag."""

from __future__ import annotations

from shared.services.metadata import not_modified, served_metadata, versions_tag
from shared.uid_index.index import StoredInstance
from shared.uid_index.keys import InstanceRef
from shared.uid_index.sidecar import Sidecar

REF = InstanceRef.of("p", "1.2", "1.2.3", "1.2.3.4")


EXPLICIT = "1.2.840.10008.1.2.1"


def test_bulk_data_uris_are_made_absolute_at_every_depth() -> None:
    sidecar = Sidecar(
        ref=REF,
        version="0" * 24,
        sop_class_uid="1.2.840.10008.5.1.4.1.1.7",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        size=10,
        metadata={
            "7FE00010": {"vr": "OW", "BulkDataURI": "bulkdata/7FE00010"},
            "00880200": {
                "vr": "SQ",
                "Value": [
                    {"7FE00010": {"vr": "OB", "BulkDataURI": "bulkdata/00880200/0/7FE00010"}}
                ],
            },
        },
        frames=None,
        pixel_data=None,
        excluded_tags=(),
    )
    served = served_metadata(sidecar, "https://h/v2")
    base = "https://h/v2/studies/1.2/series/1.2.3/instances/1.2.3.4/bulkdata/"
    assert served["7FE00010"]["BulkDataURI"] == base + "7FE00010"
    item = served["00880200"]["Value"][0]
    assert item["7FE00010"]["BulkDataURI"] == base + "00880200/0/7FE00010"
    assert sidecar.metadata["7FE00010"]["BulkDataURI"] == "bulkdata/7FE00010"


def test_versions_tag_follows_versions_and_root() -> None:
    one = [StoredInstance(REF, "a" * 24, EXPLICIT, 100)]
    tag = versions_tag("https://h/v2", one)
    assert tag == versions_tag("https://h/v2", list(one))
    assert tag != versions_tag("https://h/v1", one)
    assert tag != versions_tag("https://h/v2", [StoredInstance(REF, "b" * 24, EXPLICIT, 100)])
    assert not_modified(tag, tag)
    assert not_modified(f'"x", W/{tag}', tag)
    assert not_modified("*", tag)
    assert not not_modified(None, tag)
    assert not not_modified('"other"', tag)
