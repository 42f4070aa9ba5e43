"""Export (the Azure DICOM service's ``POST /v{n}/export``): studies, series and instances
copied into a blob container; 202 with the operation that does it."""

from __future__ import annotations

import json

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from functions.http import (
    VERSION,
    http_errors,
    limited_body,
    path_partition,
    versioned_root,
)
from shared.clients import clients
from shared.config import settings
from shared.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from shared.services.export import parse_export_request, start_export
from shared.web.urls import OPERATIONS

bp = func.Blueprint()

MAX_REQUEST_BYTES = 4 * 1024 * 1024
"""An export request lists identifiers only: 10,000 of them fit well inside this."""


async def _json_body(req: Request) -> object:
    if not req.headers.get("content-type", "").lower().startswith("application/json"):
        raise UnsupportedMediaType("an export request is application/json")
    body = bytearray()
    async for chunk in limited_body(req):
        body += chunk
        if len(body) > MAX_REQUEST_BYTES:
            raise PayloadTooLarge(f"an export request is at most {MAX_REQUEST_BYTES} bytes")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest("the export request is not JSON") from None


@bp.route(route=f"{VERSION}/export", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def export(req: Request) -> Response:
    request = parse_export_request(await _json_body(req), path_partition(req))
    inline = settings().export_inline_seconds
    operation_id = await start_export(await clients(), request, inline_seconds=inline)
    href = f"{versioned_root(req)}/{OPERATIONS}/{operation_id}"
    return Response(
        content=json.dumps({"id": operation_id, "href": href}),
        status_code=202,
        headers={"Location": href},
        media_type="application/json",
    )
