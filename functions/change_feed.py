"""The change feed (the Azure DICOM service's ``/changefeed``): entries in sequence order, and
the latest entry, of one data partition (the default one for a path without a partition)."""

from __future__ import annotations

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from functions.http import (
    CHANGE_FEED,
    CHANGE_FEED_LATEST,
    api_version,
    http_errors,
    json_response,
    path_partition,
    versioned_root,
)
from shared.clients import clients
from shared.services.change_feed import read_changes, read_latest
from shared.web.change_feed_params import include_metadata, parse_feed_page

bp = func.Blueprint()


@bp.route(route=CHANGE_FEED, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def change_feed(req: Request) -> Response:
    partition = path_partition(req)
    page = parse_feed_page(api_version(req), req.query_params.multi_items())
    entries = await read_changes(await clients(), partition, page, versioned_root(req))
    return json_response(entries)


@bp.route(route=CHANGE_FEED_LATEST, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def change_feed_latest(req: Request) -> Response:
    """The latest entry; 204 while there is none (as Azure answers a null entry)."""
    partition = path_partition(req)
    metadata = include_metadata(req.query_params.multi_items())
    latest = await read_latest(await clients(), partition, metadata, versioned_root(req))
    return Response(status_code=204) if latest is None else json_response(latest)
