"""Delete (an Azure API extension to PS3.18): a study, a series or one instance."""

from __future__ import annotations

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from functions.http import INSTANCE, SERIES, STUDY, http_errors, path_uid
from shared.clients import clients
from shared.config import DEFAULT_PARTITION
from shared.errors import NotFound
from shared.uid_index.deleter import delete_instance, delete_series, delete_study
from shared.uid_index.keys import InstanceRef, SeriesRef, StudyRef

bp = func.Blueprint()


def _answer(deleted: int, level: str) -> Response:
    if not deleted:
        raise NotFound(f"no such {level}")
    return Response(status_code=204)


@bp.route(route=STUDY, methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def delete_study_instances(req: Request) -> Response:
    study = StudyRef(DEFAULT_PARTITION, path_uid(req, "study"))
    return _answer(await delete_study(await clients(), study), "study")


@bp.route(route=SERIES, methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def delete_series_instances(req: Request) -> Response:
    study = StudyRef(DEFAULT_PARTITION, path_uid(req, "study"))
    series = SeriesRef(study, path_uid(req, "series"))
    return _answer(await delete_series(await clients(), series), "series")


@bp.route(route=INSTANCE, methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def delete_one_instance(req: Request) -> Response:
    ref = InstanceRef.of(
        DEFAULT_PARTITION,
        path_uid(req, "study"),
        path_uid(req, "series"),
        path_uid(req, "instance"),
    )
    return _answer(await delete_instance(await clients(), ref), "instance")
