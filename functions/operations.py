"""Operation status (the Azure DICOM service's ``/operations/{id}``): how far a DELETE that
answered 202 has got in the background."""

from __future__ import annotations

import json

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from functions.http import OPERATION, http_errors
from shared.clients import clients
from shared.errors import NotFound
from shared.services.delete import progress

bp = func.Blueprint()


@bp.route(route=OPERATION, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def operation_status(req: Request) -> Response:
    operation_id = str(req.path_params["operation"])
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
