"""Service settings, read once from the environment.

Every setting the service reads is declared here and nowhere else, so the deployment templates can
be checked against one list. Connection strings are for the local emulators only; in Azure the
service is given endpoints and authenticates with its managed identity.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

DEFAULT_PARTITION = "Microsoft.Default"


@dataclass(frozen=True)
class Settings:
    blob_connection_string: str | None
    blob_endpoint: str | None
    blob_container: str
    cosmos_connection_string: str | None
    cosmos_endpoint: str | None
    cosmos_database: str
    cosmos_container: str
    base_url: str | None
    max_request_bytes: int
    managed_identity_client_id: str | None


SETTING_NAMES: tuple[str, ...] = (
    "DICOMWEB_BLOB_CONNECTION_STRING",
    "DICOMWEB_BLOB_ENDPOINT",
    "DICOMWEB_BLOB_CONTAINER",
    "DICOMWEB_COSMOS_CONNECTION_STRING",
    "DICOMWEB_COSMOS_ENDPOINT",
    "DICOMWEB_COSMOS_DATABASE",
    "DICOMWEB_COSMOS_CONTAINER",
    "DICOMWEB_BASE_URL",
    "DICOMWEB_MAX_REQUEST_BYTES",
    "AZURE_CLIENT_ID",
)


def _get(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def load_settings() -> Settings:
    """Read the settings; fail early and by name when storage is not configured at all."""
    blob_cs, blob_ep = _get("DICOMWEB_BLOB_CONNECTION_STRING"), _get("DICOMWEB_BLOB_ENDPOINT")
    cosmos_cs, cosmos_ep = (
        _get("DICOMWEB_COSMOS_CONNECTION_STRING"),
        _get("DICOMWEB_COSMOS_ENDPOINT"),
    )
    if not (blob_cs or blob_ep):
        raise RuntimeError(
            "set DICOMWEB_BLOB_ENDPOINT (or DICOMWEB_BLOB_CONNECTION_STRING locally)"
        )
    if not (cosmos_cs or cosmos_ep):
        raise RuntimeError(
            "set DICOMWEB_COSMOS_ENDPOINT (or DICOMWEB_COSMOS_CONNECTION_STRING locally)"
        )
    base_url = _get("DICOMWEB_BASE_URL")
    return Settings(
        blob_connection_string=blob_cs,
        blob_endpoint=blob_ep,
        blob_container=_get("DICOMWEB_BLOB_CONTAINER") or "dicom",
        cosmos_connection_string=cosmos_cs,
        cosmos_endpoint=cosmos_ep,
        cosmos_database=_get("DICOMWEB_COSMOS_DATABASE") or "dicomweb",
        cosmos_container=_get("DICOMWEB_COSMOS_CONTAINER") or "index",
        base_url=base_url.rstrip("/") if base_url else None,
        max_request_bytes=int(_get("DICOMWEB_MAX_REQUEST_BYTES") or 4 * 1024**3),
        managed_identity_client_id=_get("AZURE_CLIENT_ID"),
    )


@cache
def settings() -> Settings:
    """The process-wide settings (environment is read once, like the clients are made once)."""
    return load_settings()
