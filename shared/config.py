"""Service settings, read once from the environment.

Every setting the service reads is declared here and nowhere else, so the deployment templates can
be checked against one list. Connection strings are for the local emulators only; in Azure the
service is given endpoints and authenticates with its managed identity.

Access control is on unless ``DICOMWEB_AUTH_MODE=off`` says otherwise, so a deployment that forgets
its auth settings answers every request with an error rather than serving everyone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

DEFAULT_PARTITION = "Microsoft.Default"

AUTH_OFF = "off"
AUTH_OIDC = "oidc"
# Entra app role values cannot contain spaces; these follow the Azure DICOM service's
# "DICOM Data Reader" and "DICOM Data Owner".
DEFAULT_READER_ROLE = "DicomDataReader"
DEFAULT_OWNER_ROLE = "DicomDataOwner"
DEFAULT_KEY_REFRESH_SECONDS = 300

# Read by the local host only: in Azure the platform answers CORS from siteConfig.cors, and tokens
# come from Entra ID rather than from a key on disk.
CORS_ORIGINS = "DICOMWEB_CORS_ORIGINS"
LOCAL_ISSUER_KEY = "DICOMWEB_AUTH_LOCAL_KEY"
# Seconds the local host waits for a request's line and header fields before it answers 408; in
# Azure the platform's front end reads them.
HEAD_TIMEOUT = "DICOMWEB_HEAD_TIMEOUT_SECONDS"
# Data partitions on or off; off by default, as the Azure DICOM service has them unless chosen.
DATA_PARTITIONS = "DICOMWEB_DATA_PARTITIONS"
# An HTJ2K copy of the pixel data written at ingest, for viewers that ask for frames in HTJ2K.
HTJ2K_COPY = "DICOMWEB_HTJ2K_COPY"

# The NCRONTAB schedule of the background sweep. The Functions host reads it from the app
# settings when it loads the timer trigger ("%DICOMWEB_SWEEP_SCHEDULE%"), before any code runs.
SWEEP_SCHEDULE = "DICOMWEB_SWEEP_SCHEDULE"

# How long a DELETE purges files itself before it answers 202 and leaves the rest to the sweep:
# well inside the 230 s that Azure's front end waits for an HTTP answer.
DEFAULT_DELETE_INLINE_SECONDS = 30.0
# How long an export copies files before it answers 202 and leaves the rest to the sweep: a
# cohort of a few studies is done by the time the operation is first read.
DEFAULT_EXPORT_INLINE_SECONDS = 20.0
# How long a bulk update changes instances before it answers 202 and leaves the rest to the
# sweep: a few studies are done by the time the operation is first read.
DEFAULT_UPDATE_INLINE_SECONDS = 20.0

# How long a request body may pause between two chunks, and how long it may take in all, before
# the answer is 408. The whole-body bound lets a large STOW-RS upload through at about 7 MB/s to
# the 4 GiB size limit; Azure's front end ends any request unanswered after 230 s anyway.
DEFAULT_BODY_IDLE_SECONDS = 30.0
DEFAULT_BODY_TIMEOUT_SECONDS = 600.0


@dataclass(frozen=True)
class AuthSettings:
    """Who may call: tokens of one OpenID Connect issuer, for one of the audiences, with roles."""

    mode: str
    issuer: str | None = None
    audiences: tuple[str, ...] = ()
    reader_role: str = DEFAULT_READER_ROLE
    owner_role: str = DEFAULT_OWNER_ROLE
    key_refresh_seconds: int = DEFAULT_KEY_REFRESH_SECONDS


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
    delete_inline_seconds: float
    export_inline_seconds: float
    update_inline_seconds: float
    body_idle_seconds: float
    body_timeout_seconds: float
    auth: AuthSettings
    data_partitions: bool = False
    """Routes under ``/v{n}/partitions/{name}/`` are served (``DICOMWEB_DATA_PARTITIONS``)."""
    htj2k_copy: bool = False
    """Store writes an HTJ2K copy of pixel data for frame retrieves (``DICOMWEB_HTJ2K_COPY``)."""


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
    "DICOMWEB_DELETE_INLINE_SECONDS",
    "DICOMWEB_EXPORT_INLINE_SECONDS",
    "DICOMWEB_UPDATE_INLINE_SECONDS",
    "DICOMWEB_BODY_IDLE_SECONDS",
    "DICOMWEB_BODY_TIMEOUT_SECONDS",
    DATA_PARTITIONS,
    HTJ2K_COPY,
    SWEEP_SCHEDULE,
    "DICOMWEB_AUTH_MODE",
    "DICOMWEB_AUTH_ISSUER",
    "DICOMWEB_AUTH_AUDIENCE",
    "DICOMWEB_AUTH_READER_ROLE",
    "DICOMWEB_AUTH_OWNER_ROLE",
    "DICOMWEB_AUTH_KEY_REFRESH_SECONDS",
    CORS_ORIGINS,
    LOCAL_ISSUER_KEY,
    HEAD_TIMEOUT,
)


def _get(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def split_list(value: str | None) -> tuple[str, ...]:
    """A comma-separated setting as its non-empty items."""
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def is_trusted_url(url: str) -> bool:
    """HTTPS, or plain HTTP to this machine (the local issuer and the tests' key server)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


def load_auth_settings() -> AuthSettings:
    """Read the access-control settings; anything short of a usable issuer fails by name."""
    mode = (_get("DICOMWEB_AUTH_MODE") or AUTH_OIDC).lower()
    if mode == AUTH_OFF:
        return AuthSettings(mode=AUTH_OFF)
    if mode != AUTH_OIDC:
        raise RuntimeError(f"DICOMWEB_AUTH_MODE must be {AUTH_OIDC} or {AUTH_OFF}")
    issuer = _get("DICOMWEB_AUTH_ISSUER")
    audiences = split_list(_get("DICOMWEB_AUTH_AUDIENCE"))
    if not issuer or not audiences:
        raise RuntimeError(
            "set DICOMWEB_AUTH_ISSUER and DICOMWEB_AUTH_AUDIENCE (or DICOMWEB_AUTH_MODE=off)"
        )
    if not is_trusted_url(issuer):
        raise RuntimeError("DICOMWEB_AUTH_ISSUER must be an https URL")
    refresh = _get("DICOMWEB_AUTH_KEY_REFRESH_SECONDS")
    return AuthSettings(
        mode=AUTH_OIDC,
        issuer=issuer,
        audiences=audiences,
        reader_role=_get("DICOMWEB_AUTH_READER_ROLE") or DEFAULT_READER_ROLE,
        owner_role=_get("DICOMWEB_AUTH_OWNER_ROLE") or DEFAULT_OWNER_ROLE,
        key_refresh_seconds=int(refresh) if refresh else DEFAULT_KEY_REFRESH_SECONDS,
    )


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
        delete_inline_seconds=float(
            _get("DICOMWEB_DELETE_INLINE_SECONDS") or DEFAULT_DELETE_INLINE_SECONDS
        ),
        export_inline_seconds=float(
            _get("DICOMWEB_EXPORT_INLINE_SECONDS") or DEFAULT_EXPORT_INLINE_SECONDS
        ),
        update_inline_seconds=float(
            _get("DICOMWEB_UPDATE_INLINE_SECONDS") or DEFAULT_UPDATE_INLINE_SECONDS
        ),
        body_idle_seconds=float(_get("DICOMWEB_BODY_IDLE_SECONDS") or DEFAULT_BODY_IDLE_SECONDS),
        body_timeout_seconds=float(
            _get("DICOMWEB_BODY_TIMEOUT_SECONDS") or DEFAULT_BODY_TIMEOUT_SECONDS
        ),
        auth=load_auth_settings(),
        data_partitions=(_get(DATA_PARTITIONS) or "false").lower() == "true",
        htj2k_copy=(_get(HTJ2K_COPY) or "false").lower() == "true",
    )


@cache
def settings() -> Settings:
    """The process-wide settings (environment is read once, like the clients are made once)."""
    return load_settings()
