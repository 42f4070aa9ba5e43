"""One aggregate refresh per study at a time in this process; those asked for meanwhile run as one.

Stores into one study at once (a modality sending one instance per request over several
connections) each refresh the study's aggregates after their commits. Run side by side, all but
one of their conditional writes fail on the etags and start again, four more index calls each.
Here a refresh asked for while one of its study runs waits for that one to end, then runs once
for all the refreshes asked for meanwhile, with the series of all of them (up to a batch's
worth). That is all each asker needs: a refresh that starts after its commits landed counts
them. Refreshes in other processes still meet on the etags, as before.

A read of the aggregates made ahead (``Index.refresh``'s ``read``) starts a refresh only if no
refresh of its study ended in this process since the read was sent: one that did wrote the
aggregates, so the read's etags are stale and would cost a retry. A refresh that waited never
uses one. The studies' last ends are remembered for the most recent ``REMEMBERED`` studies; a
read older than the latest end forgotten is taken as stale.

Written by hand: single-flight with a queue is a dozen lines, and nothing in the SDKs does it.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from shared.uid_index.keys import SeriesRef, StudyRef

REMEMBERED = 4096
"""Studies whose last refresh end is remembered, to judge reads made ahead of their refresh."""

Run = Callable[[StudyRef, list[SeriesRef], object | None], Awaitable[None]]
"""A refresh of a study's named series, started from the aggregates read ahead if given."""


@dataclass
class _Turn:
    """Refreshes asked for while one of their study ran: they run together next."""

    series: dict[str, SeriesRef]
    done: asyncio.Future[None]
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    """The first asker's: the turn's index calls count among that request's
    (``shared.storage.calls``)."""


class Refreshes:
    """Each study's refreshes one at a time, those that wait merged (``most_series`` at most)."""

    def __init__(self, run: Run, most_series: int) -> None:
        self._run = run
        self._most = most_series
        self._running: set[str] = set()
        self._waiting: dict[str, deque[_Turn]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ended = 0
        """Refreshes ended in this process: the clock reads ahead are stamped with."""
        self._last_end: OrderedDict[str, int] = OrderedDict()
        self._forgotten = 0
        """The latest end no longer remembered by study."""

    def stamp(self) -> int:
        """The clock, for a read of aggregates sent now."""
        return self._ended

    def _fresh(self, study: StudyRef, stamp: int) -> bool:
        last = self._last_end.get(study.key)
        return (self._forgotten if last is None else last) <= stamp

    async def refresh(
        self, study: StudyRef, series: Iterable[SeriesRef], ahead: object | None, stamp: int
    ) -> None:
        """Refresh ``series`` of ``study`` now, from ``ahead`` (read at ``stamp``) if it is still
        fresh; or, while a refresh of the study runs, once it has ended, with the others asked
        for meanwhile."""
        named = {s.key: s for s in series}
        key = study.key
        if key not in self._running:
            self._running.add(key)
            try:
                await self._run(
                    study, list(named.values()), ahead if self._fresh(study, stamp) else None
                )
            finally:
                self._end(study)
            return
        turns = self._waiting.setdefault(key, deque())
        if turns and len(turns[-1].series.keys() | named.keys()) <= self._most:
            turn = turns[-1]
            turn.series.update(named)
        else:
            turn = _Turn(dict(named), asyncio.get_running_loop().create_future())
            turn.done.add_done_callback(_retrieved)
            turns.append(turn)
        await asyncio.shield(turn.done)

    def _end(self, study: StudyRef) -> None:
        """A refresh of ``study`` ended: stamp it, and start the next turn waiting, if any."""
        key = study.key
        self._ended += 1
        self._last_end[key] = self._ended
        self._last_end.move_to_end(key)
        if len(self._last_end) > REMEMBERED:
            _, end = self._last_end.popitem(last=False)
            self._forgotten = max(self._forgotten, end)
        turns = self._waiting.get(key)
        if not turns:
            self._waiting.pop(key, None)
            self._running.discard(key)
            return
        turn = turns.popleft()
        task = asyncio.get_running_loop().create_task(self._take(study, turn), context=turn.context)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _take(self, study: StudyRef, turn: _Turn) -> None:
        try:
            await self._run(study, list(turn.series.values()), None)
        except Exception as exc:  # every asker gets the error, as if it had run alone
            turn.done.set_exception(exc)
        else:
            turn.done.set_result(None)
        finally:
            if not turn.done.done():  # cancelled, or stopped by the process ending
                turn.done.cancel()
            self._end(study)


def _retrieved(done: asyncio.Future[None]) -> None:
    """A turn's error is its askers'; should they all have gone, it is not reported again."""
    if not done.cancelled():
        done.exception()
