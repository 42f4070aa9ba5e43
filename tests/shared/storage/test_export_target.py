"""Where an export may send the service's credential: Blob Storage only (no network here)."""

from __future__ import annotations

from typing import Any

import pytest
from azure.storage.blob.aio import BlobServiceClient, ContainerClient

from shared.storage.blob_store import BlobStore
from shared.storage.export_target import ExportTargetError, is_container_url, open_target

EMULATOR = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
)


class _Token:
    """A token credential that is never asked for a token: nothing here is sent."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise AssertionError("no request is made")


def _local() -> BlobStore:
    service = BlobServiceClient.from_connection_string(EMULATOR)
    return BlobStore(service.get_container_client("dicom"))


def _azure() -> BlobStore:
    url = "https://stdicom1.blob.core.windows.net/dicom"
    return BlobStore(ContainerClient.from_container_url(url, credential=_Token()))


@pytest.mark.parametrize(
    "uri",
    [
        "https://acct.blob.core.windows.net/export",
        "http://127.0.0.1:10000/devstoreaccount1/export",
    ],
)
def test_container_urls(uri: str) -> None:
    assert is_container_url(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "ftp://acct.blob.core.windows.net/export",
        "https://acct.blob.core.windows.net",
        "https://acct.blob.core.windows.net/export/folder/deeper",
        "https://acct.blob.core.windows.net/export?sv=2020&sig=x",
        "not a url",
    ],
)
def test_not_container_urls(uri: str) -> None:
    assert not is_container_url(uri)


async def test_locally_only_the_emulator_s_own_account_is_a_destination() -> None:
    await open_target(_local(), "http://127.0.0.1:10000/devstoreaccount1/export").close()
    for uri in (
        "http://127.0.0.1:10000/otheraccount/export",
        "http://127.0.0.1:10001/devstoreaccount1/export",
        "http://10.0.0.1:10000/devstoreaccount1/export",
    ):
        with pytest.raises(ExportTargetError, match="emulator"):
            open_target(_local(), uri)


async def test_in_azure_the_identity_goes_only_to_accounts_of_the_same_endpoint_suffix() -> None:
    await open_target(_azure(), "https://cohorts.blob.core.windows.net/export").close()
    for uri in (
        "http://cohorts.blob.core.windows.net/export",
        "https://collector.example.com/export",
        "https://cohorts.blob.core.windows.net.example.com/export",
        "https://a.b.blob.core.windows.net/export",
    ):
        with pytest.raises(ExportTargetError, match="https://"):
            open_target(_azure(), uri)
