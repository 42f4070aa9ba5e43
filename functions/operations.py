"""Operation status (the Azure DICOM service's ``/operations/{id}``): how far a DELETE that
answered 202, the reindex of added extended query tags, or an export, has got in the
background."""

from __future__ import annotations

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from functions.http import OPERATION, http_errors, json_response, versioned_root
from shared.clients import clients
from shared.errors import NotFound
from shared.services.delete import progress
from shared.services.export import export_status, is_export_id, read_job
from shared.services.reindex import find_operation, is_completed, operation_json

bp = func.Blueprint()


@bp.route(route=OPERATION, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def operation_status(req: Request) -> Response:
    operation_id = str(req.path_params["operation"])
    ours = await clients()
    reindex = await find_operation(ours.index, operation_id)
    if reindex is not None:
        # As the Azure DICOM service answers: 202 while the operation runs, 200 once it is done.
        code = 200 if is_completed(reindex) else 202
        return json_response(operation_json(reindex, versioned_root(req)), code)
    # A study's delete id is 32 hexadecimal digits too: an id without a job is a delete's.
    job = await read_job(ours, operation_id) if is_export_id(operation_id) else None
    if job is not None:
        errors = f"{job.destination.rstrip('/')}/{job.errors_log}"
        return json_response(export_status(job, errors))
    state = await progress(ours, operation_id)
    if state is None:
        raise NotFound("no such operation")
    status = {
        "operationId": operation_id,
        "type": "delete",
        "status": "running" if state.running else "succeeded",
        "remainingInstances": state.remaining,
    }
    return json_response(status)
