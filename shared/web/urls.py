"""Absolute URLs the service hands out (RetrieveURL, BulkDataURI).

The base comes from configuration, else from the proxy's forwarded headers, else from the address
the server socket is bound to. Never from a bare ``Host`` header: clients send it without the
port, and it is attacker-controlled.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote


def _forwarded(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    forwarded = headers.get("forwarded")
    if forwarded:
        first = forwarded.split(",")[0]
        fields = {}
        for pair in first.split(";"):
            name, _, value = pair.strip().partition("=")
            fields[name.lower()] = value.strip().strip('"')
        if fields.get("host"):
            return fields.get("proto"), fields["host"]
    host = headers.get("x-forwarded-host")
    if host:
        return headers.get("x-forwarded-proto"), host.split(",")[0].strip()
    return None, None


def base_url(
    configured: str | None,
    headers: Mapping[str, str],
    scheme: str,
    server: tuple[str, int | None] | None,
) -> str:
    """The service root, without a trailing slash and without the API version."""
    if configured:
        return configured.rstrip("/")
    proto, host = _forwarded(headers)
    if host:
        return f"{proto or scheme}://{host}"
    if server is None:
        raise ValueError("cannot tell the service's address; set DICOMWEB_BASE_URL")
    name, port = server
    default = {"http": 80, "https": 443}.get(scheme)
    if ":" in name:
        name = f"[{name}]"
    return f"{scheme}://{name}" if port in (None, default) else f"{scheme}://{name}:{port}"


def study_url(root: str, study_uid: str) -> str:
    """``root`` is the versioned base, e.g. ``https://host/v2``."""
    return f"{root}/studies/{quote(study_uid)}"


def series_url(root: str, study_uid: str, series_uid: str) -> str:
    return f"{study_url(root, study_uid)}/series/{quote(series_uid)}"


def instance_url(root: str, study_uid: str, series_uid: str, sop_uid: str) -> str:
    return f"{series_url(root, study_uid, series_uid)}/instances/{quote(sop_uid)}"


# Resources of the Azure DICOM service beside PS3.18's, as it names them.
OPERATIONS = "operations"
EXTENDED_QUERY_TAGS = "extendedquerytags"


def operation_url(root: str, operation_id: str) -> str:
    return f"{root}/{OPERATIONS}/{operation_id}"


def query_tag_url(root: str, path: str) -> str:
    return f"{root}/{EXTENDED_QUERY_TAGS}/{path}"
