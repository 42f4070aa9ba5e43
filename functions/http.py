"""What every HTTP function shares: the API version, the service URL, the body, the errors.

Functions stay thin: they turn a request into arguments for ``shared`` and its result into a
response. Errors become short plain-text answers with the right status; unexpected exceptions are
logged with their type and code locations only (messages may carry patient data, see
``shared.failure_log``) and answer a bare 500.

Access control lives here too, so that no function can be added without it: the caller's token
and role are checked before the function runs (see ``shared.auth.access``).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from azurefunctions.extensions.http.fastapi import Request, Response, StreamingResponse
from starlette.requests import ClientDisconnect

from shared.auth.access import AccessGate, gate_for
from shared.config import DEFAULT_PARTITION, settings
from shared.dicom.validation import is_valid_uid
from shared.errors import BadRequest, DicomwebError, PayloadTooLarge, UnsupportedMediaType
from shared.failure_log import log_failure
from shared.services.retrieve_scope import Scope
from shared.web.body_deadline import BodyDeadline, within_deadline
from shared.web.partitions import partition_name
from shared.web.storage_errors import as_http_error
from shared.web.streaming import Answer
from shared.web.urls import EXTENDED_QUERY_TAGS, OPERATIONS, base_url

log = logging.getLogger("dicomweb")

# Every route starts with the API version; PS3.18 paths follow it. One spelling per resource, so
# that functions on the same resource share one route template (see functions/allow.py).
VERSION = "{version:regex(^v[12]$)}"
STUDIES = f"{VERSION}/studies"
STUDY = f"{STUDIES}/{{study}}"
SERIES = f"{STUDY}/series/{{series}}"
INSTANCE = f"{SERIES}/instances/{{instance}}"
# Every route is also served in a data partition, under this prefix (see functions/partitions.py).
PARTITIONS = "partitions"
IN_PARTITION = f"{VERSION}/{PARTITIONS}/{{partition}}"
# Long-running work (a large delete's remainder), as the Azure DICOM service names it.
OPERATION = f"{VERSION}/{OPERATIONS}/{{operation}}"
QUERY_TAGS = f"{VERSION}/{EXTENDED_QUERY_TAGS}"
QUERY_TAG = f"{QUERY_TAGS}/{{tagPath}}"
# What was stored, replaced and deleted, in order (the Azure DICOM service's change feed).
CHANGE_FEED = f"{VERSION}/changefeed"
CHANGE_FEED_LATEST = f"{CHANGE_FEED}/latest"

# Response headers a browser script may read. Azure's platform CORS answers preflights and sets
# Access-Control-Allow-Origin but has no setting for these, so every response names them itself.
EXPOSED_HEADERS = (
    "ETag, Warning, Content-Type, Content-Location, Location, Content-Range, Accept-Ranges, "
    "erroneous-dicom-attributes, Content-Disposition"
)


def api_version(req: Request) -> int:
    return int(str(req.path_params["version"])[1:])


def versioned_root(req: Request) -> str:
    """The base URL that RetrieveURLs start with, e.g. ``https://host/v2``, or
    ``https://host/v2/partitions/{name}`` for a request in a data partition."""
    server = req.scope.get("server")
    root = base_url(settings().base_url, req.headers, req.url.scheme, server)
    versioned = f"{root}/{req.path_params['version']}"
    if "partition" in req.path_params:
        return f"{versioned}/{PARTITIONS}/{path_partition(req)}"
    return versioned


def path_partition(req: Request) -> str:
    """The data partition the path names, or the default partition for a path without one."""
    if "partition" not in req.path_params:
        return DEFAULT_PARTITION
    return partition_name(str(req.path_params["partition"]), enabled=settings().data_partitions)


def path_uid(req: Request, name: str) -> str:
    value = str(req.path_params[name])
    if not is_valid_uid(value):
        raise BadRequest(f"{name} in the path is not a valid UID (1-64 digits and dots)")
    return value


REQUEST_ORIGINAL = "msdicom-request-original"
"""The Azure DICOM service's header that asks for instances as first stored, before any bulk
update changed them."""


def path_scope(req: Request) -> Scope:
    """The study, series or instance the path names, as first stored if the request asks."""
    params = req.path_params
    return Scope(
        partition=path_partition(req),
        study_uid=path_uid(req, "study"),
        series_uid=path_uid(req, "series") if "series" in params else None,
        sop_uid=path_uid(req, "instance") if "instance" in params else None,
        original=req.headers.get(REQUEST_ORIGINAL, "").strip().lower() == "true",
    )


def send(answer: Answer) -> Response:
    """A retrieve answer as a response: streamed, or bodiless (304)."""
    headers = dict(answer.headers)
    if answer.body is None:
        return Response(status_code=answer.status, headers=headers)
    if answer.content_type is not None:
        headers["Content-Type"] = answer.content_type
    return StreamingResponse(_logged(answer.body), status_code=answer.status, headers=headers)


class ResponseAborted(Exception):
    """A streamed response failed after its status was sent: the connection is cut.

    Raised in place of the original failure, which is logged by code location first, so that
    the web server's own traceback of it carries no message that could hold patient data.
    """


async def _logged(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``body``; a failure midway is logged as ``log_failure`` does, then ends the response."""
    try:
        async for piece in body:
            yield piece
    except Exception as exc:
        log_failure(log, "streamed response", exc)
        raise ResponseAborted from None


def _deadline() -> BodyDeadline:
    return BodyDeadline(settings().body_idle_seconds, settings().body_timeout_seconds)


async def limited_body(req: Request) -> AsyncIterator[bytes]:
    """The request body as it arrives, refused with 413 past the configured size and with 408
    when it pauses or takes longer than the configured bounds."""
    limit = settings().max_request_bytes
    declared = req.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the request body is larger than the limit of {limit} bytes")
    deadline = _deadline()
    seen = 0
    async for chunk in within_deadline(req.stream(), deadline):
        seen += len(chunk)
        if seen > limit:
            raise PayloadTooLarge(f"the request body is larger than the limit of {limit} bytes")
        if chunk:
            yield chunk


def error_response(error: DicomwebError) -> Response:
    return Response(
        content=error.message + "\n",
        status_code=error.status,
        headers=error.headers,
        media_type="text/plain",
    )


Handler = Callable[[Request], Awaitable[Response]]


@functools.cache
def access_gate() -> AccessGate:
    """One gate per process, so the issuer's keys are fetched once and shared by every call."""
    return gate_for(settings().auth)


def http_errors(handler: Handler) -> Handler:
    """Check access, then map errors to responses, so each function's body is its happy path."""

    @functools.wraps(handler)
    async def wrapper(req: Request) -> Response:
        response = await _checked(handler, req)
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        return response

    return wrapper


async def _checked(handler: Handler, req: Request) -> Response:
    try:
        await access_gate().check(
            req.method, req.headers.getlist("authorization"), req.query_params.keys()
        )
        path_partition(req)  # a partition route is refused before any work when its name is bad
        return await handler(req)
    except DicomwebError as exc:
        return error_response(exc)
    except ClientDisconnect:
        log.info("%s: client disconnected", handler.__name__)
        return Response(status_code=499)
    except Exception as exc:
        error = as_http_error(exc)
        if error is not None:
            return error_response(error)
        log_failure(log, handler.__name__, exc)
        return Response(content="internal error\n", status_code=500, media_type="text/plain")


MAX_JSON_BYTES = 1024 * 1024
"""A management request's JSON body: 128 tag entries take a few kilobytes."""


async def json_body(req: Request, limit: int = MAX_JSON_BYTES) -> Any:
    """The request's JSON body, at most ``limit`` bytes; 415 unless it is declared as JSON, 400
    when it is not JSON."""
    content_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json")
    body = b""
    async for chunk in within_deadline(req.stream(), _deadline()):
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the JSON body is larger than {limit} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise BadRequest("the body is not valid JSON") from None


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=orjson.dumps(body),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )
