"""The local host's access log, free of patient data: one line per request with the method, the
route template, the query's parameter names, the status, the duration, a request id and the
storage calls the request made (``index=N blob=M``, see ``shared.storage.calls``).

URLs carry UIDs in their paths and patient names, IDs and even tokens in their query strings, so
nothing of the URL is written as sent: the dispatcher records which route matched (with its free
parameters as `{name}`, see `RouteTemplate.redacted`), query values become `_`, and a parameter
name is kept only when it is a DICOM keyword, a tag or a PS3.18 query parameter (anything else a
caller chose could itself be data).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from urllib.parse import parse_qsl

from pydicom.datadict import tag_for_keyword
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.storage import calls

logger = logging.getLogger("devhost.access")

# Where the dispatcher puts the redacted route of the function it chose.
ROUTE_KEY = "devhost.route"
# Logged for a request that no function and no fixed route took.
NO_ROUTE = "(no route)"
REDACTED_VALUE = "_"

# Query parameters of PS3.18 (QIDO-RS, WADO-RS, rendered resources) and of the Azure DICOM API.
QUERY_PARAMETERS = frozenset(
    {
        "accept",
        "access_token",
        "annotation",
        "charset",
        "columns",
        "fuzzymatching",
        "iccprofile",
        "includefield",
        "limit",
        "offset",
        "quality",
        "region",
        "rows",
        "viewport",
        "window",
    }
)
_TAG = re.compile(r"[0-9A-Fa-f]{8}")


def _is_attribute(name: str) -> bool:
    return _TAG.fullmatch(name) is not None or tag_for_keyword(name) is not None


def _is_standard_name(name: str) -> bool:
    """A PS3.18 query parameter, or an attribute or sequence path of them (`00101002.00100020`)."""
    return name.lower() in QUERY_PARAMETERS or all(map(_is_attribute, name.split(".")))


def redacted_query(query_string: bytes) -> str:
    """`?name=_&...` with every value hidden, unknown names too; empty without a query."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    names = [name if _is_standard_name(name) else REDACTED_VALUE for name, _ in pairs]
    return "?" + "&".join(f"{name}={REDACTED_VALUE}" for name in names) if names else ""


def route_of(scope: Scope) -> str:
    """The redacted route the dispatcher recorded, else a fixed route's literal path."""
    if ROUTE_KEY in scope:
        return str(scope[ROUTE_KEY])
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and "{" not in path else NO_ROUTE


def new_request_id() -> str:
    return secrets.token_hex(8)


class AccessLog:
    """ASGI middleware writing the access log line once the request is over."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_id = new_request_id()
        started = time.perf_counter()
        status: int | None = None

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        with calls.counting() as made:
            try:
                await self._app(scope, receive, send_noting_status)
            finally:
                logger.info(
                    "%s %s%s %s %.1f ms request=%s index=%d blob=%d",
                    scope["method"],
                    route_of(scope),
                    redacted_query(scope.get("query_string", b"")),
                    status if status is not None else "-",
                    (time.perf_counter() - started) * 1000,
                    request_id,
                    made[calls.INDEX],
                    made[calls.BLOB],
                )
