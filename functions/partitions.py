"""Data partitions (an Azure API extension): the list of partitions, and every operation's route
again under ``/v{n}/partitions/{name}/``.

The routes in a partition are built from the ones the other blueprints declare, so an operation
added later is served in partitions too. Each runs the same function, which reads its partition
from the path (``functions.http.path_partition``); paths without one are in the default
partition. With partitions off (``DICOMWEB_DATA_PARTITIONS``), partition routes answer 400.
"""

from __future__ import annotations

import functools
import json

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from functions.http import IN_PARTITION, PARTITIONS, VERSION, Handler, http_errors
from functions.routes import http_functions
from shared.clients import clients
from shared.config import settings
from shared.errors import BadRequest
from shared.services.partitions import list_partitions

bp = func.Blueprint()


@bp.route(route=f"{VERSION}/{PARTITIONS}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
async def retrieve_partitions(req: Request) -> Response:
    if not settings().data_partitions:
        raise BadRequest("data partitions are not enabled on this service")
    found = await list_partitions((await clients()).index)
    if not found:
        return Response(status_code=204)
    return Response(content=json.dumps(found), media_type="application/json")


def _twin(handler: Handler, name: str) -> Handler:
    @functools.wraps(handler)
    async def in_partition(req: Request) -> Response:
        return await handler(req)

    in_partition.__name__ = name
    return in_partition


def in_partitions(*blueprints: func.Blueprint) -> func.Blueprint:
    """Every HTTP function of ``blueprints`` again, at its route under a partition."""
    twins = func.Blueprint()
    prefix = f"{VERSION}/"
    for function, trigger in http_functions(*blueprints):
        route = str(trigger.route)
        if not route.startswith(prefix):
            continue
        name = f"{function.get_function_name()}_in_partition"
        handler = _twin(function.get_user_function(), name)
        twins.function_name(name=name)(
            twins.route(
                route=f"{IN_PARTITION}/{route[len(prefix) :]}",
                methods=trigger.methods,
                auth_level=func.AuthLevel.ANONYMOUS,
            )(handler)
        )
    return twins
