"""The Azure Functions app: registers the blueprints of ``functions/``, once the process's
garbage collector is set for a server (``shared.collector``)."""

import azure.functions as func

from functions import (
    allow,
    bulk_update,
    change_feed,
    delete,
    export,
    operations,
    partitions,
    query_tags,
    render,
    retrieve,
    search,
    store,
    sweep,
)
from shared import collector

collector.set_for_server()

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
OPERATIONS = (
    store.bp,
    retrieve.bp,
    render.bp,
    search.bp,
    delete.bp,
    export.bp,
    bulk_update.bp,
    operations.bp,
    change_feed.bp,
)
"""The operations served in every data partition too; extended query tags are the service's."""
IN_PARTITIONS = partitions.in_partitions(*OPERATIONS)
SERVICE_WIDE = (partitions.bp, query_tags.bp)
for blueprint in (*OPERATIONS, *SERVICE_WIDE, IN_PARTITIONS, sweep.bp):
    app.register_functions(blueprint)
app.register_functions(allow.method_fallbacks(*OPERATIONS, *SERVICE_WIDE, IN_PARTITIONS))
