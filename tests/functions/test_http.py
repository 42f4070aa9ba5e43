"""A streamed response that fails midway: logged by code location, never by message."""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncIterator

import pytest

from functions.http import ResponseAborted, send
from shared.web.streaming import Answer

PATIENT = "DOE^JANE^SECRET"


async def _failing_body() -> AsyncIterator[bytes]:
    yield b"first part"
    raise ValueError(f"bad value for {PATIENT}")


async def test_a_failure_midway_is_logged_without_its_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = send(Answer(_failing_body(), "application/dicom"))
    pieces: list[bytes] = []
    with (
        caplog.at_level(logging.ERROR, logger="dicomweb"),
        pytest.raises(ResponseAborted) as raised,
    ):
        async for piece in response.body_iterator:
            pieces.append(piece if isinstance(piece, bytes) else piece.encode())
    assert pieces == [b"first part"]
    (record,) = caplog.records
    assert "ValueError" in record.getMessage()
    assert "test_http.py" in record.getMessage()
    assert PATIENT not in record.getMessage()
    # What the web server prints of the exception it sees holds no message either.
    assert PATIENT not in "".join(traceback.format_exception(raised.value))
