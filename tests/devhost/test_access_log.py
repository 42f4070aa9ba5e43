"""The local host's access log shows routes and parameter names, never values from the URL."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from devhost.access_log import NO_ROUTE, REDACTED_VALUE, _is_standard_name, redacted_query
from devhost.app import build_app
from devhost.routes import RouteTemplate
from functions.http import INSTANCE, STUDY
from tests.devhost.test_app import make_function_app


@pytest.mark.parametrize(
    ("template", "path", "shown"),
    [
        (STUDY, "/v2/studies/1.2.3", "/v2/studies/{study}"),
        (
            f"{INSTANCE}/frames/{{frames}}",
            "/v1/studies/1/series/2/instances/3/frames/1,2",
            "/v1/studies/{study}/series/{series}/instances/{instance}/frames/{frames}",
        ),
        (
            f"{INSTANCE}/bulkdata/{{*path}}",
            "/v2/studies/1/series/2/instances/3/bulkdata/7fe00010",
            "/v2/studies/{study}/series/{series}/instances/{instance}/bulkdata/{path}",
        ),
        ("files/{id:int}", "/files/42", "/files/42"),
    ],
)
def test_routes_show_free_parameters_by_name(template: str, path: str, shown: str) -> None:
    route = RouteTemplate(template)
    values = route.match(path)
    assert values is not None
    assert route.redacted(values) == shown


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        (b"", ""),
        (b"PatientName=Doe%5EJane&includefield=all", "?PatientName=_&includefield=_"),
        (b"00100020=ID1&00081199.00081150=1.2", "?00100020=_&00081199.00081150=_"),
        (b"access_token=secret", "?access_token=_"),
        (b"Doe%5EJane", "?_=_"),
        (b"SmithJohn=1&limit=10", "?_=_&limit=_"),
    ],
)
def test_query_values_and_unknown_names_are_hidden(query: bytes, shown: str) -> None:
    assert redacted_query(query) == shown


@given(st.lists(st.tuples(st.text(), st.text()), max_size=8))
def test_a_redacted_query_holds_only_standard_names(pairs: list[tuple[str, str]]) -> None:
    shown = redacted_query(urlencode(pairs).encode())
    items = shown.removeprefix("?").split("&") if shown else []
    kept = [name for name, _ in pairs if name]
    assert len(items) <= len(pairs)
    for item in items:
        name, value = item.split("=")
        assert value == REDACTED_VALUE
        assert name == REDACTED_VALUE or _is_standard_name(name)
    assert all(name in shown for name in kept if _is_standard_name(name))


async def test_the_host_logs_the_route_not_the_url(caplog: pytest.LogCaptureFixture) -> None:
    transport = httpx.ASGITransport(app=build_app(make_function_app(), ""))
    async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
        with caplog.at_level(logging.INFO, logger="devhost.access"):
            await client.get("/studies/1.2.840.99", params={"access_token": "t0ken-xyz"})
            await client.get("/nothing/1.2.840.98")
    lines = [record.getMessage() for record in caplog.records if record.name == "devhost.access"]
    assert lines[0].startswith("GET /studies/{study}?access_token=_ 200 ")
    assert lines[1].startswith(f"GET {NO_ROUTE} 404 ")
    assert all(re.search(r" request=[0-9a-f]{16} index=0 blob=0$", line) for line in lines)
    assert not any("t0ken" in line or "1.2.840.9" in line for line in lines)
