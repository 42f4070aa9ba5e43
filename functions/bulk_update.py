"""Bulk update (the Azure DICOM service's ``POST /v{n}/studies/$bulkUpdate``): patient and study
attributes changed across whole studies; 202 with the operation that does it."""

from __future__ import annotations

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from functions.http import (
    STUDIES,
    http_errors,
    json_body,
    json_response,
    path_partition,
    versioned_root,
)
from shared.clients import clients
from shared.config import settings
from shared.services.bulk_update import parse_update_request, start_update
from shared.web.urls import operation_url

bp = func.Blueprint()

MAX_REQUEST_BYTES = 1024 * 1024
"""A bulk update names 50 studies and a few attributes: far inside this."""


@bp.route(route=f"{STUDIES}/$bulkUpdate", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def bulk_update(req: Request) -> Response:
    request = parse_update_request(
        await json_body(req, MAX_REQUEST_BYTES),
        path_partition(req),
        htj2k_copy=settings().htj2k_copy,
    )
    inline = settings().update_inline_seconds
    operation_id = await start_update(await clients(), request, inline_seconds=inline)
    href = operation_url(versioned_root(req), operation_id)
    return json_response({"id": operation_id, "href": href}, 202, {"Location": href})
