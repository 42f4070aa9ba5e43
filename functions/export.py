"""Export (the Azure DICOM service's ``POST /v{n}/export``): studies, series and instances
copied into a blob container; 202 with the operation that does it."""

from __future__ import annotations

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from functions.http import (
    VERSION,
    http_errors,
    json_body,
    json_response,
    path_partition,
    versioned_root,
)
from shared.clients import clients
from shared.config import settings
from shared.services.export import parse_export_request, start_export
from shared.web.urls import operation_url

bp = func.Blueprint()

MAX_REQUEST_BYTES = 4 * 1024 * 1024
"""An export request lists identifiers only: 10,000 of them fit well inside this."""


@bp.route(route=f"{VERSION}/export", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def export(req: Request) -> Response:
    request = parse_export_request(await json_body(req, MAX_REQUEST_BYTES), path_partition(req))
    inline = settings().export_inline_seconds
    operation_id = await start_export(await clients(), request, inline_seconds=inline)
    href = operation_url(versioned_root(req), operation_id)
    return json_response({"id": operation_id, "href": href}, 202, {"Location": href})
