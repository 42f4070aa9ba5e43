"""Search (QIDO-RS): the six search resources, for studies, series and instances."""

from __future__ import annotations

import azure.functions as func
import orjson
from azurefunctions.extensions.http.fastapi import Request, Response

from functions.http import (
    SERIES,
    STUDIES,
    STUDY,
    VERSION,
    http_errors,
    path_partition,
    path_uid,
    versioned_root,
)
from shared.clients import clients
from shared.dicom.query import SearchQuery
from shared.dicom.query_levels import Level
from shared.errors import BadRequest
from shared.services.search import SearchResult, search
from shared.web.media_types import DICOM_JSON, require_dicom_json
from shared.web.search_params import parse_search

bp = func.Blueprint()

TRUNCATED_WARNING = '299 - "There are additional results that can be requested"'
ERRONEOUS_ATTRIBUTES = "erroneous-dicom-attributes"
"""Names the extended query tags searched on whose values failed to index somewhere."""


async def _search(
    req: Request, level: Level, study_uid: str | None = None, series_uid: str | None = None
) -> Response:
    require_dicom_json(req.headers.get("accept"), "the search result")
    index = (await clients()).index
    params = req.query_params.multi_items()
    try:
        # Most searches name built-in keys only, which no extended query tag can be (they are
        # refused at registration): then the registry is not read at all.
        query = parse_search(level, params, study_uid=study_uid, series_uid=series_uid)
    except BadRequest:
        registry = await index.registry()
        query = parse_search(
            level, params, study_uid=study_uid, series_uid=series_uid, tags=registry.tags
        )
    result = await search(index, query, path_partition(req), versioned_root(req))
    headers = _headers(query, result)
    if not result.datasets:
        return Response(status_code=204, headers=headers)
    body = orjson.dumps(result.datasets)
    return Response(content=body, media_type=DICOM_JSON, headers=headers)


def _headers(query: SearchQuery, result: SearchResult) -> dict[str, str]:
    warnings = [TRUNCATED_WARNING] if result.truncated else []
    if query.ignored:
        names = ", ".join(query.ignored)
        warnings.append(f'299 - "Disabled extended query tags were ignored: {names}"')
    headers = {"Warning": ", ".join(warnings)} if warnings else {}
    if result.erroneous:
        headers[ERRONEOUS_ATTRIBUTES] = ",".join(result.erroneous)
    return headers


@bp.route(route=STUDIES, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def search_studies(req: Request) -> Response:
    return await _search(req, Level.STUDY)


@bp.route(route=f"{VERSION}/series", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def search_series(req: Request) -> Response:
    return await _search(req, Level.SERIES)


@bp.route(route=f"{VERSION}/instances", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def search_instances(req: Request) -> Response:
    return await _search(req, Level.INSTANCE)


@bp.route(route=f"{STUDY}/series", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def search_study_series(req: Request) -> Response:
    return await _search(req, Level.SERIES, path_uid(req, "study"))


@bp.route(
    route=f"{STUDY}/instances",
    methods=["GET"],
    auth_level=func.AuthLevel.ANONYMOUS,
)
@http_errors
async def search_study_instances(req: Request) -> Response:
    return await _search(req, Level.INSTANCE, path_uid(req, "study"))


@bp.route(
    route=f"{SERIES}/instances",
    methods=["GET"],
    auth_level=func.AuthLevel.ANONYMOUS,
)
@http_errors
async def search_series_instances(req: Request) -> Response:
    return await _search(req, Level.INSTANCE, path_uid(req, "study"), path_uid(req, "series"))
