"""Retries and whole-batch failures of the STOW client, against scripted HTTP answers.

The answers come from an in-process transport so that each status and network fault can be
produced exactly; the integration tests send to the real service.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cli.retry import RetryPolicy
from cli.sources import DicomFile, Outcome
from cli.stow_client import StowClient

POLICY = RetryPolicy(attempts=3, base=0.5, cap=4.0)
STORED = {
    "00081199": {
        "vr": "SQ",
        "Value": [
            {"00081155": {"vr": "UI", "Value": ["1.1"]}},
            {"00081155": {"vr": "UI", "Value": ["1.2"]}},
        ],
    }
}
Answer = Callable[[int], httpx.Response]


def batch(sizes: tuple[int, int] = (3, 4)) -> list[DicomFile]:
    return [
        DicomFile("a", sizes[0], "1.1", lambda: io.BytesIO(b"abc")),
        DicomFile("b", sizes[1], "1.2", lambda: io.BytesIO(b"defg")),
    ]


class Server:
    """Answers the n-th request (from 1) with ``answer(n)``, after reading the whole body."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []
        self.waits: list[float] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = await request.aread()
        assert len(body) == int(request.headers["content-length"])
        return self.answer(len(self.requests))

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    async def store(self, files: list[DicomFile] | None = None) -> list[Any]:
        transport = httpx.MockTransport(self.handle)
        async with httpx.AsyncClient(transport=transport) as http:
            client = StowClient(
                http, "http://dicomweb.test/v2/", POLICY, rng=random.Random(3), sleep=self.sleep
            )
            results = await client.store(files or batch())
            assert client.retries == len(self.waits)
            return [(r.sop_instance_uid, r.outcome, r.reason) for r in results]


def stored(_: int) -> httpx.Response:
    return httpx.Response(200, json=STORED)


async def test_a_stored_batch_is_one_request_to_studies() -> None:
    server = Server(stored)
    assert await server.store() == [("1.1", Outcome.STORED, ""), ("1.2", Outcome.STORED, "")]
    [request] = server.requests
    assert request.method == "POST" and str(request.url) == "http://dicomweb.test/v2/studies"
    assert request.headers["accept"] == "application/dicom+json"
    assert request.headers["content-type"].startswith('multipart/related; type="application/dicom"')
    assert server.waits == []


@pytest.mark.parametrize("status", [429, 503])
async def test_busy_answers_are_retried_no_sooner_than_retry_after(status: int) -> None:
    def answer(n: int) -> httpx.Response:
        return httpx.Response(status, headers={"Retry-After": "2"}) if n < 3 else stored(n)

    server = Server(answer)
    assert [outcome for _, outcome, _ in await server.store()] == [Outcome.STORED] * 2
    assert len(server.requests) == 3 and len(server.waits) == 2
    assert all(wait >= 2 for wait in server.waits)


async def test_connection_errors_and_timeouts_are_retried_with_growing_waits() -> None:
    def answer(n: int) -> httpx.Response:
        if n == 1:
            raise httpx.ConnectError("refused")
        if n == 2:
            raise httpx.ReadTimeout("slow")
        return stored(n)

    server = Server(answer)
    assert [outcome for _, outcome, _ in await server.store()] == [Outcome.STORED] * 2
    assert 0.25 <= server.waits[0] <= 0.5 and 0.5 <= server.waits[1] <= 1.0


async def test_a_server_that_stays_unavailable_fails_the_batch_after_the_last_attempt() -> None:
    server = Server(lambda n: httpx.Response(503, text="storage is unavailable, retry later\n"))
    reason = "HTTP 503 Service Unavailable after 3 attempts: storage is unavailable, retry later"
    assert await server.store() == [
        ("1.1", Outcome.FAILED, reason),
        ("1.2", Outcome.FAILED, reason),
    ]
    assert len(server.requests) == 3


async def test_no_answer_at_all_fails_the_batch_after_the_last_attempt() -> None:
    def answer(n: int) -> httpx.Response:
        raise httpx.ReadTimeout("slow")

    server = Server(answer)
    results = await server.store()
    assert {reason for _, _, reason in results} == {"no answer after 3 attempts (ReadTimeout)"}


@pytest.mark.parametrize("status", [400, 403, 413, 415])
async def test_refused_requests_fail_the_whole_batch_at_once(status: int) -> None:
    text = "the multipart body ends before its close delimiter\nmore\n"
    server = Server(lambda n: httpx.Response(status, text=text))
    reasons = {r for _, _, r in await server.store()}
    phrase = httpx.codes.get_reason_phrase(status)
    assert reasons == {
        f"HTTP {status} {phrase}: the multipart body ends before its close delimiter"
    }
    assert len(server.requests) == 1


async def test_a_binary_error_body_is_not_quoted() -> None:
    server = Server(
        lambda n: httpx.Response(
            401, content=b"\x00\x01", headers={"content-type": "application/octet-stream"}
        )
    )
    assert {r for _, _, r in await server.store()} == {"HTTP 401 Unauthorized"}


async def test_a_conflict_answer_is_read_per_instance() -> None:
    dataset = {
        "00081198": {
            "vr": "SQ",
            "Value": [
                {
                    "00081155": {"vr": "UI", "Value": [uid]},
                    "00081197": {"vr": "US", "Value": [45070]},
                }
                for uid in ("1.2", "1.1")
            ],
        }
    }
    server = Server(lambda n: httpx.Response(409, json=dataset))
    assert [outcome for _, outcome, _ in await server.store()] == [Outcome.PRESENT] * 2


async def test_a_file_that_changed_fails_its_batch_without_retrying() -> None:
    server = Server(stored)
    results = await server.store(batch(sizes=(3, 5)))
    assert {(outcome, reason) for _, outcome, reason in results} == {
        (Outcome.FAILED, "b changed while it was being imported")
    }
    assert server.waits == []


def failure(uid: str, code: int) -> dict[str, Any]:
    return {
        "00081155": {"vr": "UI", "Value": [uid]},
        "00081197": {"vr": "US", "Value": [code]},
    }


async def test_instances_another_request_is_storing_are_sent_again() -> None:
    """The second request carries only the busy instance and finds it stored by then."""
    stored_one = {"00081155": {"vr": "UI", "Value": ["1.1"]}}
    first = {
        "00081198": {"vr": "SQ", "Value": [failure("1.2", 45071)]},
        "00081199": {"vr": "SQ", "Value": [stored_one]},
    }
    second = {"00081198": {"vr": "SQ", "Value": [failure("1.2", 45070)]}}

    def answer(n: int) -> httpx.Response:
        return httpx.Response(202, json=first) if n == 1 else httpx.Response(409, json=second)

    server = Server(answer)
    assert [outcome for _, outcome, _ in await server.store()] == [Outcome.STORED, Outcome.PRESENT]
    assert len(server.requests) == 2 and len(server.waits) == 1
    lengths = [int(request.headers["content-length"]) for request in server.requests]
    assert lengths[1] < lengths[0]


async def test_an_instance_that_stays_busy_fails_after_the_last_attempt() -> None:
    dataset = {"00081198": {"vr": "SQ", "Value": [failure("1.1", 45071), failure("1.2", 45071)]}}
    server = Server(lambda n: httpx.Response(409, json=dataset))
    assert {reason for _, _, reason in await server.store()} == {
        "45071 (being stored by another request)"
    }
    assert len(server.requests) == POLICY.attempts
