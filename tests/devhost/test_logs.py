"""No log the local stack writes holds patient data or tokens: a store, searches by patient and
UIDs, retrieves, a delete and a token in the query string, then every log file is read."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydicom.uid import generate_uid

from devhost.stack import LocalStack
from tests.data.builders import multipart, to_bytes, with_fresh_uids
from tests.functions.test_store import post

pytestmark = pytest.mark.integration

PATIENT_NAME = "Qzxlogcanary^Wilhelmina"
PATIENT_ID = "PIDCANARY7731"
TOKEN = "tokencanary-5f0c7e2b9d"


def log_files(stack: LocalStack) -> list[Path]:
    """Everything under the stack's log directory, and any other log file in its data."""
    logs = {path for path in stack.log_dir.rglob("*") if path.is_file()}
    logs |= {path for path in stack.data_dir.rglob("*.log") if path.is_file()}
    return sorted(logs)


async def test_no_log_holds_patient_data_uids_or_tokens(
    stack: LocalStack, http: httpx.AsyncClient
) -> None:
    study, series = generate_uid(), generate_uid()
    _, ds = with_fresh_uids("CT_small.dcm", study_uid=study, series_uid=series)
    ds.PatientName, ds.PatientID = PATIENT_NAME, PATIENT_ID
    sop = ds.SOPInstanceUID
    assert (await post(http, multipart([to_bytes(ds)]))).status_code == 200

    searches = [
        ("/v2/studies", {"PatientName": PATIENT_NAME}),
        ("/v2/studies", {"PatientName": PATIENT_NAME.split("^")[0] + "*", "fuzzymatching": "true"}),
        ("/v2/studies", {"PatientID": PATIENT_ID, "includefield": "all"}),
        ("/v2/series", {"StudyInstanceUID": study}),
        (f"/v2/studies/{study}/instances", {"SOPInstanceUID": sop}),
    ]
    for path, params in searches:
        response = await http.get(path, params=params, headers={"accept": "application/dicom+json"})
        assert response.status_code == 200 and response.json(), (path, params)
    instance = f"/v2/studies/{study}/series/{series}/instances/{sop}"
    for path in (f"{instance}/metadata", f"{instance}/frames/1", instance):
        response = await http.get(path, headers={"accept": "*/*"})
        assert response.status_code == 200, path
    refused = await http.get("/v2/studies", params={"access_token": TOKEN})
    assert refused.status_code == 400
    assert (await http.delete(f"/v2/studies/{study}")).status_code in (202, 204)

    secrets = [PATIENT_NAME.split("^")[0], "Wilhelmina", PATIENT_ID, study, series, sop, TOKEN]
    files = log_files(stack)
    assert any(path.name == "host.log" for path in files)
    leaks = {
        path.name: found
        for path in files
        if (found := _found_in(path.read_text(encoding="utf-8", errors="replace"), secrets))
    }
    assert not leaks


def _found_in(text: str, secrets: list[str]) -> list[str]:
    lowered = text.lower()
    return [secret for secret in secrets if secret.lower() in lowered]
