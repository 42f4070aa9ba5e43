"""Timer-triggered functions in the local host, on their NCRONTAB schedules.

The Functions host reads a timer's six-field schedule (second minute hour day month weekday),
resolving ``%NAME%`` from the app settings, and calls the function at each occurrence; a run still
going when the next is due makes that one wait. Only the field forms the Functions host documents
are accepted: ``*``, numbers, ranges ``a-b``, lists ``a,b`` and steps ``*/n`` or ``a-b/n``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from azure.functions.decorators.function_app import Function
from azure.functions.decorators.timer import TimerTrigger
from azure.functions.timer import TimerRequest

from shared.failure_log import log_failure

logger = logging.getLogger("devhost")

# (lowest, highest) of each field, in schedule order.
_FIELDS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_SETTING = re.compile(r"^%([A-Za-z0-9_]+)%$")
# How far ahead an occurrence is looked for: every schedule that ever fires does within 28 years
# (the calendar repeats), and one asking for 31 February never does.
_HORIZON_DAYS = 28 * 366


def _field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        span, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            start, stop = low, high
        elif "-" in span:
            start, stop = (int(v) for v in span.split("-", 1))
        else:
            start = stop = int(span)
        if step < 1 or not low <= start <= stop <= high:
            raise ValueError(f"{item!r} is out of range {low}-{high}")
        values.update(range(start, stop + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Schedule:
    """A parsed six-field NCRONTAB expression."""

    fields: tuple[frozenset[int], ...]

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        parts = expression.split()
        if len(parts) != len(_FIELDS):
            raise ValueError(f"a timer schedule has six fields, not {len(parts)}: {expression!r}")
        try:
            return cls(tuple(_field(p, lo, hi) for p, (lo, hi) in zip(parts, _FIELDS, strict=True)))
        except ValueError as exc:
            raise ValueError(f"bad timer schedule {expression!r}: {exc}") from None

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence after ``moment``, skipping whole months, days, hours, minutes."""
        seconds, minutes, hours, days, months, weekdays = self.fields
        c = moment.replace(microsecond=0) + timedelta(seconds=1)
        limit = c + timedelta(days=_HORIZON_DAYS)
        while c < limit:
            if c.month not in months:
                c = (c.replace(day=1, hour=0, minute=0, second=0) + timedelta(days=32)).replace(
                    day=1
                )
            elif c.day not in days or (c.weekday() + 1) % 7 not in weekdays:  # Sunday is 0
                c = c.replace(hour=0, minute=0, second=0) + timedelta(days=1)
            elif c.hour not in hours:
                c = c.replace(minute=0, second=0) + timedelta(hours=1)
            elif c.minute not in minutes:
                c = c.replace(second=0) + timedelta(minutes=1)
            elif c.second not in seconds:
                c += timedelta(seconds=1)
            else:
                return c
        raise ValueError("the schedule never fires")


def resolve(schedule: str, settings: Mapping[str, str]) -> str:
    """``%NAME%`` replaced by that app setting, which must exist, as the host requires."""
    named = _SETTING.match(schedule.strip())
    if named is None:
        return schedule
    value = settings.get(named[1], "").strip()
    if not value:
        raise ValueError(f"the timer schedule names the app setting {named[1]}, which is not set")
    return value


@dataclass(frozen=True)
class TimerFunction:
    name: str
    schedule: Schedule
    handler: Callable[[TimerRequest], Awaitable[None] | None]

    async def run_forever(self) -> None:
        while True:
            now = datetime.now(UTC)
            due = self.schedule.next_after(now)
            await asyncio.sleep((due - now).total_seconds())
            try:
                result = self.handler(TimerRequest(past_due=False))
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                log_failure(logger, f"Function {self.name!r}", exc)


def timer_functions(
    app_functions: Sequence[Function], settings: Mapping[str, str]
) -> list[TimerFunction]:
    """The app's timer-triggered functions, with their schedules resolved and parsed."""
    timers = []
    for function in app_functions:
        trigger = function.get_trigger()
        if isinstance(trigger, TimerTrigger):
            handler = function.get_user_function()
            timers.append(
                TimerFunction(
                    name=function.get_function_name() or handler.__name__,
                    schedule=Schedule.parse(resolve(trigger.schedule, settings)),
                    handler=handler,
                )
            )
    return timers
