"""Retrieve (WADO-RS): studies, series, instances, frames, bulk data and metadata.

Every answer comes from ``shared`` with its body primed (its first piece produced) before the
headers go out, so that a storage failure or a missing file still gets its own status.
"""

from __future__ import annotations

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from functions.http import INSTANCE, SERIES, STUDY, http_errors, path_scope, send, versioned_root
from shared.clients import clients
from shared.services.bulk_data import retrieve_bulk_data
from shared.services.frames import retrieve_frames
from shared.services.metadata import retrieve_metadata
from shared.services.retrieve import retrieve_instances
from shared.web.negotiation import ACCEPT_PARAMETER

bp = func.Blueprint()


async def _instances(req: Request) -> Response:
    parameter = req.query_params.getlist(ACCEPT_PARAMETER)
    answer = await retrieve_instances(
        await clients(), path_scope(req), req.headers.get("accept"), parameter
    )
    return send(answer)


async def _metadata(req: Request) -> Response:
    answer = await retrieve_metadata(
        await clients(),
        path_scope(req),
        versioned_root(req),
        req.headers.get("accept"),
        req.headers.get("if-none-match"),
    )
    return send(answer)


@bp.route(route=STUDY, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def retrieve_study(req: Request) -> Response:
    return await _instances(req)


@bp.route(route=SERIES, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def retrieve_series(req: Request) -> Response:
    return await _instances(req)


@bp.route(route=INSTANCE, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def retrieve_instance(req: Request) -> Response:
    return await _instances(req)


@bp.route(route=f"{STUDY}/metadata", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def retrieve_study_metadata(req: Request) -> Response:
    return await _metadata(req)


@bp.route(route=f"{SERIES}/metadata", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def retrieve_series_metadata(req: Request) -> Response:
    return await _metadata(req)


@bp.route(route=f"{INSTANCE}/metadata", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def retrieve_instance_metadata(req: Request) -> Response:
    return await _metadata(req)


@bp.route(
    route=f"{INSTANCE}/frames/{{frames}}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS
)
@http_errors
async def retrieve_instance_frames(req: Request) -> Response:
    frame_list = str(req.path_params["frames"])
    answer = await retrieve_frames(
        await clients(),
        path_scope(req),
        frame_list,
        req.headers.get("accept"),
        req.headers.get("range"),
    )
    return send(answer)


@bp.route(
    route=f"{INSTANCE}/bulkdata/{{*path}}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS
)
@http_errors
async def retrieve_instance_bulk_data(req: Request) -> Response:
    answer = await retrieve_bulk_data(
        await clients(),
        path_scope(req),
        # An empty catch-all leaves the route value out (ASP.NET Core does so too).
        str(req.path_params.get("path", "")),
        req.headers.get("accept"),
        req.headers.get("range"),
    )
    return send(answer)
