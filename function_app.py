"""The Azure Functions app: registers the blueprints of ``functions/`` and nothing else."""

import azure.functions as func

from functions import (
    allow,
    change_feed,
    delete,
    operations,
    partitions,
    render,
    retrieve,
    search,
    store,
    sweep,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
OPERATIONS = (store.bp, retrieve.bp, render.bp, search.bp, delete.bp, operations.bp, change_feed.bp)
IN_PARTITIONS = partitions.in_partitions(*OPERATIONS)
for blueprint in (*OPERATIONS, partitions.bp, IN_PARTITIONS, sweep.bp):
    app.register_functions(blueprint)
app.register_functions(allow.method_fallbacks(*OPERATIONS, partitions.bp, IN_PARTITIONS))
