"""The local host's timer triggers: NCRONTAB schedules, app-setting names, and runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import azure.functions as func
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from devhost.app import build_app
from devhost.timers import Schedule, resolve


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("0 */5 * * * *", "2026-12-01T12:03:10", "2026-12-01T12:05:00"),
        ("0 */5 * * * *", "2026-12-01T12:05:00", "2026-12-01T12:10:00"),
        ("*/1 * * * * *", "2026-12-01T12:03:10.5", "2026-12-01T12:03:11"),
        ("0 0,30 * * * *", "2026-12-01T12:10:00", "2026-12-01T12:30:00"),
        ("15 10-20/5 3 * * *", "2026-12-01T03:16:00", "2026-12-01T03:20:15"),
        ("0 0 0 1 1 *", "2026-12-01T00:00:00", "2027-01-01T00:00:00"),
        # 2026-12-05 is a Saturday; 1-5 is Monday to Friday (Sunday is 0).
        ("0 30 9 * * 1-5", "2026-12-05T08:00:00", "2026-12-07T09:30:00"),
        ("0 0 12 * * 0", "2026-12-05T13:00:00", "2026-12-06T12:00:00"),
    ],
)
def test_next_occurrence(schedule: str, after: str, expected: str) -> None:
    assert Schedule.parse(schedule).next_after(at(after)) == at(expected)


@pytest.mark.parametrize(
    "schedule",
    [
        "0 */5 * * *",
        "61 * * * * *",
        "*/0 * * * * *",
        "0 0 0 32 * *",
        "a * * * * *",
        "5-1 * * * * *",
    ],
)
def test_bad_schedules_are_refused_by_name(schedule: str) -> None:
    with pytest.raises(ValueError, match="schedule"):
        Schedule.parse(schedule)


# Up to year 9000: the search horizon (28 years) has to fit before datetime.max.
@given(
    st.integers(1, 59), st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(9000, 1, 1))
)
def test_a_seconds_step_fires_within_its_step(step: int, moment: datetime) -> None:
    after = moment.replace(tzinfo=UTC)
    due = Schedule.parse(f"*/{step} * * * * *").next_after(after)
    assert 0 < (due - after).total_seconds() <= 60
    assert due.second % step == 0 and due.microsecond == 0


def test_schedules_may_name_an_app_setting() -> None:
    assert resolve("%SWEEP%", {"SWEEP": "0 */5 * * * *"}) == "0 */5 * * * *"
    assert resolve("0 */5 * * * *", {}) == "0 */5 * * * *"
    with pytest.raises(ValueError, match="SWEEP"):
        resolve("%SWEEP%", {})


async def test_timer_functions_run_while_the_app_is_up() -> None:
    ran = asyncio.Event()
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.timer_trigger(schedule="%EVERY%", arg_name="timer")
    async def tick(timer: func.TimerRequest) -> None:
        assert not timer.past_due
        ran.set()

    asgi = build_app(app, "api", timer_settings={"EVERY": "*/1 * * * * *"})
    async with asgi.router.lifespan_context(asgi):
        await asyncio.wait_for(ran.wait(), timeout=30)
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
        assert (await client.get("/api/anything")).status_code == 404
