"""Refreshes of one study take turns in a process: each asker returns after a refresh that
started after it asked and named its series; those that waited run as one; other studies run
alongside; a read made ahead starts a refresh only while no refresh of its study ended since."""

from __future__ import annotations

import asyncio
import contextvars
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.uid_index.cosmos import refreshes
from shared.uid_index.cosmos.refreshes import Refreshes
from shared.uid_index.keys import SeriesRef, StudyRef

ASKER: contextvars.ContextVar[str] = contextvars.ContextVar("asker", default="")


def _series(study: StudyRef, n: int) -> SeriesRef:
    return SeriesRef(study, f"1.2.{n}")


@dataclass
class _Runs:
    """A refresh that records what it was asked, in whose context, and can be held open."""

    log: list[tuple[str, list[str], object | None, str]] = field(default_factory=list)
    running: set[str] = field(default_factory=set)
    overlapped: bool = False
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    fail: bool = False

    async def __call__(self, study: StudyRef, named: list[SeriesRef], ahead: object | None) -> None:
        self.overlapped |= study.key in self.running
        self.running.add(study.key)
        self.log.append((study.study_uid, sorted(s.series_uid for s in named), ahead, ASKER.get()))
        try:
            await self.gate.wait()
            if self.fail:
                raise ConnectionError("index unreachable")
        finally:
            self.running.discard(study.key)


async def _ask(turns: Refreshes, asker: str, study: StudyRef, n: int, **read: object) -> None:
    ASKER.set(asker)
    ahead, stamp = read.get("ahead"), read.get("stamp", 0)
    assert isinstance(stamp, int)
    await turns.refresh(study, [_series(study, n)], ahead, stamp)


async def test_refreshes_asked_for_meanwhile_wait_and_run_as_one() -> None:
    runs = _Runs()
    turns = Refreshes(runs, most_series=50)
    study, other = StudyRef("p", "1.1"), StudyRef("p", "1.9")
    first = asyncio.create_task(_ask(turns, "a", study, 1))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(_ask(turns, name, study, n)) for n, name in enumerate("bcd", 2)]
    beside = asyncio.create_task(_ask(turns, "e", other, 1))
    await asyncio.sleep(0)
    # The other study runs alongside; the three asked for meanwhile wait.
    assert [(uid, asker) for uid, _, _, asker in runs.log] == [("1.1", "a"), ("1.9", "e")]
    assert not any(t.done() for t in waiting)
    runs.gate.set()
    await asyncio.gather(first, beside, *waiting)
    assert runs.log[2] == ("1.1", ["1.2.2", "1.2.3", "1.2.4"], None, "b")  # in the first's context
    assert len(runs.log) == 3 and not runs.overlapped


@given(st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=30))
def test_every_asker_is_covered_by_a_run_that_started_after_it_asked(order: list[int]) -> None:
    """Askers arriving at random moments (after 0 to 5 steps of the loop): each one's series is
    in a run that started no earlier than it asked, and no two runs of the study overlap."""

    async def scenario() -> None:
        study = StudyRef("p", "1.1")
        started: list[tuple[int, set[str]]] = []
        clock = [0]
        overlap = [False, False]

        async def run(_: StudyRef, named: list[SeriesRef], __: object | None) -> None:
            overlap[1] |= overlap[0]
            overlap[0] = True
            started.append((clock[0], {s.series_uid for s in named}))
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            overlap[0] = False

        turns = Refreshes(run, most_series=3)
        asked: list[tuple[int, str]] = []

        async def asker(n: int, delay: int) -> None:
            for _ in range(delay):
                await asyncio.sleep(0)
            clock[0] += 1
            asked.append((clock[0], _series(study, n).series_uid))
            await turns.refresh(study, [_series(study, n)], None, 0)

        tasks = [asker(n, delay) for n, delay in enumerate(order)]
        await asyncio.gather(*tasks)
        for when, uid in asked:
            assert any(at >= when and uid in named for at, named in started)
        assert not overlap[1]
        assert all(len(named) <= 3 for _, named in started)

    asyncio.run(scenario())


async def test_a_read_ahead_starts_a_refresh_only_while_no_refresh_of_its_study_ended() -> None:
    runs = _Runs()
    runs.gate.set()
    turns = Refreshes(runs, most_series=50)
    study, other = StudyRef("p", "1.1"), StudyRef("p", "1.9")
    before = turns.stamp()
    await _ask(turns, "a", other, 1)  # another study's end leaves this study's read fresh
    await _ask(turns, "b", study, 1, ahead="read 1", stamp=before)
    assert runs.log[-1][2] == "read 1"
    await _ask(turns, "c", study, 2, ahead="read 2", stamp=before)  # read before b's end
    assert runs.log[-1][2] is None
    now = turns.stamp()
    await _ask(turns, "d", study, 3, ahead="read 3", stamp=now)
    assert runs.log[-1][2] == "read 3"


async def test_a_study_forgotten_takes_older_reads_as_stale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(refreshes, "REMEMBERED", 2)
    runs = _Runs()
    runs.gate.set()
    turns = Refreshes(runs, most_series=50)
    studies = [StudyRef("p", f"1.{n}") for n in range(4)]
    stamp = turns.stamp()
    await _ask(turns, "a", studies[0], 1)
    for study in studies[1:3]:
        await _ask(turns, "b", study, 1)  # studies[0] is forgotten now
    await _ask(
        turns, "c", studies[3], 1, ahead="never refreshed, read before a forgotten end", stamp=stamp
    )
    assert runs.log[-1][2] is None
    await _ask(turns, "d", studies[3], 1, ahead="read now", stamp=turns.stamp())
    assert runs.log[-1][2] == "read now"


async def test_a_failed_run_fails_everyone_it_ran_for_and_the_next_still_runs() -> None:
    runs = _Runs(fail=True)
    turns = Refreshes(runs, most_series=50)
    study = StudyRef("p", "1.1")
    first = asyncio.create_task(_ask(turns, "a", study, 1))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(_ask(turns, name, study, n)) for n, name in enumerate("bc", 2)]
    await asyncio.sleep(0)
    runs.gate.set()
    outcomes = await asyncio.gather(first, *waiting, return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    runs.fail = False
    await _ask(turns, "d", study, 4)
    assert runs.log[-1][1:] == (["1.2.4"], None, "d")


async def test_an_asker_that_gives_up_leaves_the_turn_to_the_others() -> None:
    runs = _Runs()
    turns = Refreshes(runs, most_series=50)
    study = StudyRef("p", "1.1")
    first = asyncio.create_task(_ask(turns, "a", study, 1))
    await asyncio.sleep(0)
    quitter = asyncio.create_task(_ask(turns, "b", study, 2))
    stayer = asyncio.create_task(_ask(turns, "c", study, 3))
    await asyncio.sleep(0)
    quitter.cancel()
    runs.gate.set()
    await asyncio.gather(first, stayer)
    assert quitter.cancelled()
    assert runs.log[-1][1] == ["1.2.2", "1.2.3"]
