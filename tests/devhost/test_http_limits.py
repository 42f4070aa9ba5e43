"""Request heads and bodies that are too large or too slow get an answer, not a reset or a hang.

A stack of its own with small time bounds: 1 s between body chunks, 3 s per body, 2 s per head.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator

import pytest

from devhost.http_limits import DEFAULT_MAX_HEAD_BYTES
from devhost.stack import LocalStack
from tests.conftest import ROOT

pytestmark = pytest.mark.integration

IDLE_SECONDS, BODY_SECONDS, HEAD_SECONDS = 1, 3, 2
# Far past every bound: without them the answer would not come before the client gives up.
CLIENT_GIVES_UP_SECONDS = 30


@pytest.fixture(scope="module")
def limited_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    local = LocalStack(ROOT, tmp_path_factory.mktemp("limits"))
    local.env["DICOMWEB_BODY_IDLE_SECONDS"] = str(IDLE_SECONDS)
    local.env["DICOMWEB_BODY_TIMEOUT_SECONDS"] = str(BODY_SECONDS)
    local.env["DICOMWEB_HEAD_TIMEOUT_SECONDS"] = str(HEAD_SECONDS)
    with local as running:
        yield running


def connect(stack: LocalStack) -> socket.socket:
    return socket.create_connection(
        ("127.0.0.1", stack.ports.host), timeout=CLIENT_GIVES_UP_SECONDS
    )


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def store_head(content_length: int) -> bytes:
    return (
        b"POST /v2/studies HTTP/1.1\r\nHost: local\r\nContent-Type: application/dicom\r\n"
        b"Accept: application/dicom+json\r\n" + f"Content-Length: {content_length}\r\n\r\n".encode()
    )


def until_closed(client: socket.socket) -> bytes:
    """The whole answer of a server that closes the connection after it: one ``recv`` may
    return the head alone."""
    pieces = []
    while piece := client.recv(4096):
        pieces.append(piece)
    return b"".join(pieces)


def test_a_body_shorter_than_its_content_length_is_answered(limited_stack: LocalStack) -> None:
    with connect(limited_stack) as client:
        client.sendall(store_head(100_000) + b"DICM" * 10)
        answer = until_closed(client)
    assert status_of(answer) == 408
    assert b"did not arrive in time" in answer


def test_a_trickled_body_is_cut_off_by_the_overall_bound(limited_stack: LocalStack) -> None:
    give_up = time.monotonic() + CLIENT_GIVES_UP_SECONDS
    with connect(limited_stack) as client:
        client.sendall(store_head(10_000_000))
        # A byte every half second: never idle for long, but never done either.
        while not select.select([client], [], [], IDLE_SECONDS / 2)[0]:
            assert time.monotonic() < give_up, "no answer to a trickled body"
            client.sendall(b"x")
        answer = client.recv(4096)
    assert status_of(answer) == 408


def test_a_head_that_never_ends_is_answered_408(limited_stack: LocalStack) -> None:
    with connect(limited_stack) as client:
        client.sendall(b"GET /v2/studies HTTP/1.1\r\nHost: local\r\n")
        answer = client.recv(4096)
    assert status_of(answer) == 408


@pytest.mark.parametrize("size", [DEFAULT_MAX_HEAD_BYTES + 1, 500_000, 4_000_000])
def test_a_head_past_the_limit_is_answered_431(limited_stack: LocalStack, size: int) -> None:
    filler = b"a" * size
    with connect(limited_stack) as client:
        client.sendall(b"GET /v2/studies HTTP/1.1\r\nHost: local\r\nX-Filler: " + filler)
        client.sendall(b"\r\n\r\n")
        answer = client.recv(4096)
    assert status_of(answer) == 431


def test_a_head_within_the_limit_is_served(limited_stack: LocalStack) -> None:
    filler = b"a" * (DEFAULT_MAX_HEAD_BYTES - 200)
    with connect(limited_stack) as client:
        client.sendall(
            b"GET /v2/studies HTTP/1.1\r\nHost: local\r\nAccept: application/dicom+json\r\n"
            b"X-Filler: " + filler + b"\r\n\r\n"
        )
        answer = client.recv(4096)
    assert status_of(answer) in (200, 204)
