"""Rendered and thumbnail resources (WADO-RS): studies, series, instances and frames as JPEG or
PNG images, and their thumbnails."""

from __future__ import annotations

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from functions.http import INSTANCE, SERIES, STUDY, http_errors, path_scope, send
from shared.clients import clients
from shared.services.rendered import retrieve_rendered, retrieve_rendered_instances
from shared.services.thumbnails import retrieve_thumbnail
from shared.web.render_params import rendered_params, thumbnail_params

bp = func.Blueprint()

FRAMES = f"{INSTANCE}/frames/{{frames}}"


def _frame_list(req: Request) -> str | None:
    value = req.path_params.get("frames")
    return None if value is None else str(value)


async def _rendered(req: Request) -> Response:
    params = rendered_params(req.query_params.multi_items(), req.headers.get("accept"))
    answer = await retrieve_rendered(
        await clients(), path_scope(req), _frame_list(req), params, req.headers.get("if-none-match")
    )
    return send(answer)


async def _rendered_instances(req: Request) -> Response:
    query, accept = req.query_params.multi_items(), req.headers.get("accept")
    params = rendered_params(query, accept, multipart=True)
    answer = await retrieve_rendered_instances(
        await clients(), path_scope(req), params, req.headers.get("if-none-match")
    )
    return send(answer)


async def _thumbnail(req: Request) -> Response:
    params = thumbnail_params(req.query_params.multi_items(), req.headers.get("accept"))
    answer = await retrieve_thumbnail(
        await clients(), path_scope(req), _frame_list(req), params, req.headers.get("if-none-match")
    )
    return send(answer)


@bp.route(route=f"{STUDY}/rendered", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def retrieve_study_rendered(req: Request) -> Response:
    return await _rendered_instances(req)


@bp.route(route=f"{SERIES}/rendered", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def retrieve_series_rendered(req: Request) -> Response:
    return await _rendered_instances(req)


@bp.route(route=f"{INSTANCE}/rendered", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def retrieve_instance_rendered(req: Request) -> Response:
    return await _rendered(req)


@bp.route(route=f"{FRAMES}/rendered", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def retrieve_frames_rendered(req: Request) -> Response:
    return await _rendered(req)


@bp.route(route=f"{STUDY}/thumbnail", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def retrieve_study_thumbnail(req: Request) -> Response:
    return await _thumbnail(req)


@bp.route(route=f"{SERIES}/thumbnail", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def retrieve_series_thumbnail(req: Request) -> Response:
    return await _thumbnail(req)


@bp.route(route=f"{INSTANCE}/thumbnail", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def retrieve_instance_thumbnail(req: Request) -> Response:
    return await _thumbnail(req)


@bp.route(route=f"{FRAMES}/thumbnail", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def retrieve_frame_thumbnail(req: Request) -> Response:
    return await _thumbnail(req)
