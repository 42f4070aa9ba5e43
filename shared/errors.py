"""Errors that end a request with a standard-shaped HTTP answer.

Messages name the problem (a header, a tag, a rule) and never echo request data, which may carry
patient information.
"""

from __future__ import annotations

from collections.abc import Mapping


class DicomwebError(Exception):
    """A request-level failure with the HTTP status it maps to."""

    status: int = 400

    def __init__(
        self, message: str, *, status: int | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.headers = dict(headers or {})


class BadRequest(DicomwebError):
    status = 400


class NotFound(DicomwebError):
    status = 404


class Conflict(DicomwebError):
    status = 409


class NotAcceptable(DicomwebError):
    status = 406


class RequestTimeout(DicomwebError):
    """The request did not arrive in time; the connection is closed after the answer."""

    status = 408

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Connection": "close"})


class PayloadTooLarge(DicomwebError):
    status = 413


class UnsupportedMediaType(DicomwebError):
    status = 415


class ServiceUnavailable(DicomwebError):
    """Blob Storage or the index did not answer in time; the client should retry later."""

    status = 503

    def __init__(self, message: str = "storage is unavailable, retry later") -> None:
        super().__init__(message, headers={"Retry-After": "5"})
