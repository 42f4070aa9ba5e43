"""The background sweep, on a timer: finishes large deletes and clears up after dead requests.

The schedule is an app setting (NCRONTAB, ``%DICOMWEB_SWEEP_SCHEDULE%``) so that a deployment can
choose its cost and the local stack can sweep often.
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.clients import clients
from shared.config import SWEEP_SCHEDULE
from shared.failure_log import log_failure
from shared.services.sweep import sweep

bp = func.Blueprint()
log = logging.getLogger("dicomweb")

# Well inside the Flex Consumption default function timeout (30 minutes); what is left waits for
# the next run.
SWEEP_SECONDS = 240.0


@bp.timer_trigger(schedule=f"%{SWEEP_SCHEDULE}%", arg_name="timer", use_monitor=False)
async def sweep_expired_leases(timer: func.TimerRequest) -> None:
    """One sweep; a failure is logged by location only (the Functions host would log its message,
    which may name UIDs) and left for the next run, which starts where this one stopped."""
    try:
        summary = await sweep(await clients(), seconds=SWEEP_SECONDS)
    except Exception as exc:
        log_failure(log, "sweep", exc)
        return
    counts = (
        summary.deletes_finished,
        summary.claims_released,
        summary.series_refreshed,
        summary.changes_numbered,
        summary.reindexes_completed,
        summary.exports_finished,
        summary.updates_finished,
    )
    if any(counts):
        log.info(
            "sweep: %d deleted instances purged, %d dead claims released, %d series refreshed, "
            "%d change feed entries numbered, %d reindexes completed, %d exports finished, "
            "%d bulk updates finished",
            *counts,
        )
