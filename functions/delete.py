"""Delete (an Azure API extension to PS3.18): a study, a series or one instance.

204 when everything is gone; 202 with the operation's URL in ``Location`` when the instances are
hidden from every read but some files are left for the background sweep (large studies).
"""

from __future__ import annotations

import json

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from functions.http import (
    INSTANCE,
    SERIES,
    STUDY,
    http_errors,
    path_scope,
    versioned_root,
)
from shared.clients import clients
from shared.config import settings
from shared.errors import NotFound
from shared.services.delete import delete, scope_of
from shared.web.urls import operation_url

bp = func.Blueprint()


async def _delete(req: Request) -> Response:
    scope = path_scope(req)
    target = scope_of(scope)
    inline = settings().delete_inline_seconds
    outcome = await delete(await clients(), target, inline_seconds=inline)
    if not outcome.hidden:
        raise NotFound(f"no such {scope.level}")
    if not outcome.remaining:
        return Response(status_code=204)
    href = operation_url(versioned_root(req), target.operation_id)
    return Response(
        content=json.dumps({"id": target.operation_id, "href": href}),
        status_code=202,
        headers={"Location": href},
        media_type="application/json",
    )


@bp.route(route=STUDY, methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def delete_study_instances(req: Request) -> Response:
    return await _delete(req)


@bp.route(route=SERIES, methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def delete_series_instances(req: Request) -> Response:
    return await _delete(req)


@bp.route(route=INSTANCE, methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def delete_one_instance(req: Request) -> Response:
    return await _delete(req)
