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
    OPERATIONS,
    SERIES,
    STUDY,
    http_errors,
    path_uid,
    versioned_root,
)
from shared.clients import clients
from shared.config import DEFAULT_PARTITION, settings
from shared.errors import NotFound
from shared.uid_index.deleter import DeleteScope, delete
from shared.uid_index.keys import InstanceRef, SeriesRef, StudyRef

bp = func.Blueprint()


async def _delete(req: Request, scope: DeleteScope, level: str) -> Response:
    outcome = await delete(await clients(), scope, inline_seconds=settings().delete_inline_seconds)
    if not outcome.hidden:
        raise NotFound(f"no such {level}")
    if not outcome.remaining:
        return Response(status_code=204)
    href = f"{versioned_root(req)}/{OPERATIONS}/{scope.operation_id}"
    return Response(
        content=json.dumps({"id": scope.operation_id, "href": href}),
        status_code=202,
        headers={"Location": href},
        media_type="application/json",
    )


def _study(req: Request) -> StudyRef:
    return StudyRef(DEFAULT_PARTITION, path_uid(req, "study"))


def _series(req: Request) -> SeriesRef:
    return SeriesRef(_study(req), path_uid(req, "series"))


@bp.route(route=STUDY, methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def delete_study_instances(req: Request) -> Response:
    return await _delete(req, DeleteScope.of_study(_study(req)), "study")


@bp.route(route=SERIES, methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def delete_series_instances(req: Request) -> Response:
    return await _delete(req, DeleteScope.of_series(_series(req)), "series")


@bp.route(route=INSTANCE, methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def delete_one_instance(req: Request) -> Response:
    ref = InstanceRef(_series(req), path_uid(req, "instance"))
    return await _delete(req, DeleteScope.of_instance(ref), "instance")
