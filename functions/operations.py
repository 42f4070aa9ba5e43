"""Operation status (the Azure DICOM service's ``/operations/{id}``): how far a DELETE that
answered 202, the reindex of added extended query tags, an export or a bulk update, has got in
the background."""

from __future__ import annotations

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from functions.http import OPERATION, http_errors, json_response, versioned_root
from shared.clients import clients
from shared.errors import NotFound
from shared.services.bulk_update import read_job as read_update
from shared.services.bulk_update import update_status
from shared.services.delete import progress
from shared.services.export import export_status, read_job
from shared.services.jobs import RUNNING, is_job_id
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
    is_job = is_job_id(operation_id)
    job = await read_job(ours, operation_id) if is_job else None
    if job is not None:
        errors = f"{job.destination.rstrip('/')}/{job.errors_log}"
        return json_response(export_status(job, errors))
    update = await read_update(ours, operation_id) if is_job else None
    if update is not None:
        # As Azure answers a bulk update's: 202 while it runs, 200 once it has ended.
        code = 202 if update.status == RUNNING else 200
        return json_response(update_status(update), code)
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
