"""Extended query tags (the Azure DICOM service's ``/extendedquerytags``): add, list, read,
switch in search, delete, and the instances whose value could not be indexed.

Adding answers 202 with the reindex operation at once; the sweep carries the reindex out.
Changes need the owner role, as every method but GET and HEAD does (``shared.auth.access``).
"""

from __future__ import annotations

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from functions.http import (
    QUERY_TAG,
    QUERY_TAGS,
    http_errors,
    json_body,
    json_response,
    versioned_root,
)
from shared.clients import clients
from shared.services.query_tags import (
    add_tags,
    delete_tag,
    error_json,
    get_tag,
    list_tags,
    operation_reference,
    set_query_status,
    tag_errors,
    tag_json,
)
from shared.web.search_params import bounded_integer

bp = func.Blueprint()

DEFAULT_LIMIT = 100
MAX_LIMIT = 200
"""Azure's paging of tags and of tag errors."""
MAX_OFFSET = 10_000
"""As for search: a page of errors is the first ``offset + limit`` in order."""


def _page(req: Request) -> tuple[int, int]:
    params = req.query_params
    offset = bounded_integer("offset", params.get("offset"), 0, 0, MAX_OFFSET)
    return offset, bounded_integer("limit", params.get("limit"), DEFAULT_LIMIT, 1, MAX_LIMIT)


@bp.route(route=QUERY_TAGS, methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def add_extended_query_tags(req: Request) -> Response:
    operation = await add_tags(await clients(), await json_body(req))
    reference = operation_reference(operation.operation_id, versioned_root(req))
    return json_response(reference, 202, {"Location": reference["href"]})


@bp.route(route=QUERY_TAGS, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def list_extended_query_tags(req: Request) -> Response:
    offset, limit = _page(req)
    states = await list_tags((await clients()).index, offset, limit)
    root = versioned_root(req)
    return json_response([tag_json(state, root) for state in states])


@bp.route(route=QUERY_TAG, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def get_extended_query_tag(req: Request) -> Response:
    state = await get_tag((await clients()).index, str(req.path_params["tagPath"]))
    return json_response(tag_json(state, versioned_root(req)))


@bp.route(route=QUERY_TAG, methods=["PATCH"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def update_extended_query_tag(req: Request) -> Response:
    ours = await clients()
    state = await set_query_status(ours, str(req.path_params["tagPath"]), await json_body(req))
    return json_response(tag_json(state, versioned_root(req)))


@bp.route(route=QUERY_TAG, methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def delete_extended_query_tag(req: Request) -> Response:
    await delete_tag(await clients(), str(req.path_params["tagPath"]))
    return Response(status_code=204)


@bp.route(route=f"{QUERY_TAG}/errors", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def list_extended_query_tag_errors(req: Request) -> Response:
    offset, limit = _page(req)
    index = (await clients()).index
    errors = await tag_errors(index, str(req.path_params["tagPath"]), offset, limit)
    return json_response([error_json(e) for e in errors])
