"""Operation status (the Azure DICOM service's ``/operations/{id}``): how far a DELETE that
answered 202, or an export, has got in the background."""

from __future__ import annotations

import json

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from functions.http import OPERATION, http_errors
from shared.clients import clients
from shared.errors import NotFound
from shared.services.delete import progress
from shared.services.export import export_status, is_export_id, read_job

bp = func.Blueprint()


@bp.route(route=OPERATION, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def operation_status(req: Request) -> Response:
    operation_id = str(req.path_params["operation"])
    # A study's delete id is 32 hexadecimal digits too: an id without a job is a delete's.
    job = await read_job(await clients(), operation_id) if is_export_id(operation_id) else None
    if job is not None:
        errors = f"{job.destination.rstrip('/')}/{job.errors_log}"
        return Response(
            content=json.dumps(export_status(job, errors)), media_type="application/json"
        )
    state = await progress(await clients(), operation_id)
    if state is None:
        raise NotFound("no such operation")
    status = {
        "operationId": operation_id,
        "type": "delete",
        "status": "running" if state.running else "succeeded",
        "remainingInstances": state.remaining,
    }
    return Response(content=json.dumps(status), media_type="application/json")
