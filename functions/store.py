"""Store (STOW-RS): POST adds instances, PUT replaces them (the Azure API's v2 upsert).

PUT is accepted on v1 as well: it changes nothing for v1 clients, and one route per path keeps
the method table unambiguous.
"""

from __future__ import annotations

import azure.functions as func
import orjson
from azurefunctions.extensions.http.fastapi import Request, Response

from functions.http import (
    STUDIES,
    STUDY,
    api_version,
    http_errors,
    limited_body,
    path_partition,
    path_uid,
    versioned_root,
)
from shared.clients import clients
from shared.config import settings
from shared.services.store import StoreOptions, request_parts, store
from shared.services.store_response import store_response
from shared.web.media_types import DICOM_JSON, require_dicom_json

bp = func.Blueprint()


async def _store(req: Request, *, study_uid: str | None, upsert: bool) -> Response:
    require_dicom_json(req.headers.get("accept"), "the store response")
    parts = request_parts(req.headers.get("content-type"), limited_body(req))
    options = StoreOptions(
        api_version=api_version(req),
        partition=path_partition(req),
        study_uid=study_uid,
        upsert=upsert,
        htj2k_copy=settings().htj2k_copy,
    )
    outcomes = await store(parts, options, await clients())
    status, dataset = store_response(outcomes, versioned_root(req), study_uid)
    if dataset is None:
        return Response(status_code=status)
    body = orjson.dumps(dataset)
    return Response(content=body, status_code=status, media_type=DICOM_JSON)


@bp.route(route=STUDIES, methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def store_instances(req: Request) -> Response:
    return await _store(req, study_uid=None, upsert=False)


@bp.route(route=STUDY, methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def store_study_instances(req: Request) -> Response:
    return await _store(req, study_uid=path_uid(req, "study"), upsert=False)


@bp.route(route=STUDIES, methods=["PUT"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def upsert_instances(req: Request) -> Response:
    return await _store(req, study_uid=None, upsert=True)


@bp.route(
    route=STUDY,
    methods=["PUT"],
    auth_level=func.AuthLevel.ANONYMOUS,
)
@http_errors
async def upsert_study_instances(req: Request) -> Response:
    return await _store(req, study_uid=path_uid(req, "study"), upsert=True)
