"""The Azure Functions app: registers the blueprints of ``functions/`` and nothing else."""

import azure.functions as func

from functions import (
    allow,
    change_feed,
    delete,
    operations,
    render,
    retrieve,
    search,
    store,
    sweep,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(store.bp)
app.register_functions(retrieve.bp)
app.register_functions(render.bp)
app.register_functions(search.bp)
app.register_functions(delete.bp)
app.register_functions(operations.bp)
app.register_functions(change_feed.bp)
app.register_functions(sweep.bp)
app.register_functions(
    allow.method_fallbacks(
        store.bp, retrieve.bp, render.bp, search.bp, delete.bp, operations.bp, change_feed.bp
    )
)
