"""Unexpected failures are logged with their code locations and never their messages."""

from __future__ import annotations

import logging

import pytest

from shared.failure_log import failure_description, log_failure

FAKE_PATIENT = "Doe^Jane"


def _parse_name(value: str) -> None:
    raise ValueError(f"cannot parse {value}")


def _store(value: str) -> None:
    try:
        _parse_name(value)
    except ValueError as exc:
        raise TypeError(f"store failed for {value}") from exc


def test_the_log_has_the_locations_and_not_the_message(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(TypeError) as raised:
        _store(FAKE_PATIENT)
    with caplog.at_level(logging.ERROR, logger="dicomweb"):
        log_failure(logging.getLogger("dicomweb"), "retrieve_instance", raised.value)
    (record,) = caplog.records
    text = record.getMessage()
    assert text.startswith("retrieve_instance failed: TypeError\n")
    assert "tests/shared/test_failure_log.py:" in text
    assert " in _store" in text
    assert "caused by ValueError" in text and " in _parse_name" in text
    assert FAKE_PATIENT not in text and "Doe" not in text
    assert record.exc_info is None  # no traceback with the message attached by logging


def test_a_cause_cycle_ends() -> None:
    first, second = ValueError(FAKE_PATIENT), KeyError(FAKE_PATIENT)
    first.__context__, second.__context__ = second, first
    description = failure_description(first)
    assert description.count("caused by") == 1
    assert FAKE_PATIENT not in description
