"""Server-side copies of stored files into a container the caller names (the export destination).

Nothing passes through the host: the destination is asked to copy each file from a read-only,
short-lived SAS URL of our blob (Copy Blob, PS: ``start_copy_from_url``), which Blob Storage
carries out itself, across accounts too. The SAS is signed the way the service itself signs in:
with the account key of the local emulator's connection string, or with a user delegation key of
the managed identity in Azure (no account key exists there). The destination is reached with the
same credential: in Azure the managed identity, which needs Storage Blob Data Contributor on the
destination (``infra/``); locally the emulator's key, for containers of the emulator's account.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from azure.core.exceptions import HttpResponseError
from azure.storage.blob import (
    BlobSasPermissions,
    ContentSettings,
    UserDelegationKey,
    generate_blob_sas,
)
from azure.storage.blob.aio import BlobServiceClient, ContainerClient

from shared.storage.blob_store import BlobStore
from shared.storage.errors import unavailable_as_storage_error

SAS_LIFETIME = timedelta(hours=1)
"""How long a source URL stays valid: long enough for the destination to finish one copy."""
COPY_POLL_SECONDS = 0.5


class ExportTargetError(Exception):
    """The destination cannot be written: not a container URL, not reachable, or not allowed."""


class CopyFailed(Exception):
    """One copy did not complete; ``reason`` says why in storage terms (no names)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SourceSigner:
    """Read-only SAS URLs for blobs of our container."""

    def __init__(self, blobs: BlobStore, service: BlobServiceClient) -> None:
        self._container = blobs.container
        self._service = service
        self._delegation: tuple[UserDelegationKey, datetime] | None = None

    async def url(self, name: str) -> str:
        expiry = datetime.now(UTC) + SAS_LIFETIME
        account_key = _account_key(self._container)
        common: dict[str, Any] = {
            "account_name": self._container.account_name,
            "container_name": self._container.container_name,
            "blob_name": name,
            "permission": BlobSasPermissions(read=True),
            "expiry": expiry,
        }
        if account_key is not None:
            sas = generate_blob_sas(account_key=account_key, **common)
        else:
            sas = generate_blob_sas(user_delegation_key=await self._delegation_key(), **common)
        return f"{self._container.url}/{quote(name)}?{sas}"

    async def _delegation_key(self) -> UserDelegationKey:
        now = datetime.now(UTC)
        if self._delegation is None or self._delegation[1] < now + SAS_LIFETIME:
            expiry = now + 4 * SAS_LIFETIME
            with unavailable_as_storage_error():
                key = await self._service.get_user_delegation_key(now, expiry)
            self._delegation = (key, expiry)
        return self._delegation[0]


def _raise_if_unwritable(exc: HttpResponseError) -> None:
    """ExportTargetError when the destination itself refuses (no such container, not allowed),
    which no later copy can mend; a copy whose source the destination could not read, or any
    other refusal, is that copy's failure alone."""
    code = str(getattr(exc, "error_code", "") or "")
    if code == "ContainerNotFound":
        raise ExportTargetError("the destination container does not exist") from None
    if exc.status_code in (401, 403) and code != "CannotVerifyCopySource":
        raise ExportTargetError("the service may not write to the destination") from None


def _account_key(container: ContainerClient) -> str | None:
    """The account key the container is signed in with (the emulator's connection string);
    None with a token credential (the managed identity)."""
    key = getattr(container.credential, "account_key", None)
    return key if isinstance(key, str) else None


class ExportTarget:
    """A destination container: copies into it, and small text files (the error log)."""

    def __init__(self, container: ContainerClient) -> None:
        self._container = container

    async def copy_in(self, name: str, source_url: str, deadline: float) -> None:
        """Copy ``source_url`` to ``name`` (overwriting: a retried copy converges) and wait
        until the destination has finished it, or ``deadline`` (``time.monotonic``) passes."""
        blob = self._container.get_blob_client(name)
        try:
            with unavailable_as_storage_error():
                started = await blob.start_copy_from_url(source_url)
                status = started.get("copy_status")
                while status == "pending":
                    if time.monotonic() > deadline:
                        raise CopyFailed("the copy did not finish in time")
                    await asyncio.sleep(COPY_POLL_SECONDS)
                    status = (await blob.get_blob_properties()).copy.status
        except HttpResponseError as exc:
            _raise_if_unwritable(exc)
            raise CopyFailed(f"the destination refused the copy ({exc.status_code})") from None
        if status != "success":
            raise CopyFailed(f"the copy ended {status}")

    async def put_text(self, name: str, text: str) -> None:
        with unavailable_as_storage_error():
            try:
                await self._container.upload_blob(
                    name,
                    text.encode(),
                    overwrite=True,
                    content_settings=ContentSettings(content_type="text/plain; charset=utf-8"),
                )
            except HttpResponseError as exc:
                _raise_if_unwritable(exc)
                raise

    async def close(self) -> None:
        await self._container.close()


def is_container_url(uri: str) -> bool:
    """An http(s) URL with an account host and one path segment (or two, path-style, as the
    emulator's ``http://127.0.0.1:10000/devstoreaccount1/export``), without a query."""
    parts = urlsplit(uri)
    segments = [s for s in parts.path.split("/") if s]
    return (
        parts.scheme in ("http", "https")
        and bool(parts.netloc)
        and not parts.query
        and 1 <= len(segments) <= 2
    )


def open_target(blobs: BlobStore, uri: str) -> ExportTarget:
    """The destination with the service's own credential: the managed identity in Azure; the
    emulator's account key locally.

    The credential is only ever sent to Blob Storage: in Azure the destination must be an HTTPS
    account of the same storage endpoint suffix as the service's own (``*.blob.core.windows.net``
    in the public cloud), so no URL a caller writes can collect the identity's token; locally it
    must be a container of the emulator the service uses.
    """
    if not is_container_url(uri):
        raise ExportTargetError("the destination is not a blob container URL")
    ours = urlsplit(blobs.container.url)
    theirs = urlsplit(uri)
    # The account the URL names (a client given a shared key reports the key's account instead).
    named = ContainerClient.from_container_url(uri).account_name
    if _account_key(blobs.container) is not None:
        if theirs.netloc != ours.netloc or named != blobs.container.account_name:
            raise ExportTargetError("locally, the destination must be a container of the emulator")
    else:
        suffix = (ours.hostname or "").partition(".")[2]
        host = theirs.hostname or ""
        if theirs.scheme != "https" or not suffix or host.partition(".")[2] != suffix:
            raise ExportTargetError(
                f"the destination must be a container of an https://*.{suffix} account"
            )
    return ExportTarget(
        ContainerClient.from_container_url(uri, credential=blobs.container.credential)
    )
