"""The app's route table, read from the blueprints that declare it.

The 405 fallbacks (``allow``) and the data partition routes (``partitions``) are built from the
routes the other blueprints declare, so that the functions stay the one routing table.
"""

from __future__ import annotations

import azure.functions as func
from azure.functions.decorators.core import Trigger
from azure.functions.decorators.function_app import Function
from azure.functions.decorators.http import HttpTrigger


def http_functions(*blueprints: func.Blueprint) -> list[tuple[Function, HttpTrigger]]:
    """Each HTTP-triggered function of ``blueprints``, with its trigger."""
    probe = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    for blueprint in blueprints:
        probe.register_functions(blueprint)
    found: list[tuple[Function, HttpTrigger]] = []
    for function in probe.get_functions():
        trigger: Trigger | None = function.get_trigger()
        if isinstance(trigger, HttpTrigger) and trigger.route:
            found.append((function, trigger))
    return found
