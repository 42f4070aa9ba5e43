"""Access control over HTTP: a second local host with tokens on, trusting an issuer whose metadata
and keys these tests serve over local HTTP, and sharing the session's emulators."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from devhost.local_issuer import LocalIssuer
from devhost.settings import LOCAL_AUDIENCE, Ports, local_auth_env
from devhost.stack import LocalStack
from tests.data.builders import multipart, with_fresh_uids
from tests.data.tokens import (
    AUDIENCE,
    OWNER,
    READER,
    SigningKey,
    claims,
    hmac_with_public_key,
    tampered,
    unsigned,
)
from tests.functions.test_store import post

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REFRESH_SECONDS = 1


class KeyServer:
    """An OpenID Connect issuer's two documents, served from a thread; `keys` may change."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": owner.issuer, "jwks_uri": f"{owner.issuer}/keys"}
                elif self.path == "/keys":
                    body = {"keys": [key.jwk() for key in owner.keys]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> KeyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def signing_key() -> SigningKey:
    return SigningKey("key-1")


@pytest.fixture(scope="module")
def key_server(signing_key: SigningKey) -> Iterator[KeyServer]:
    with KeyServer(signing_key) as server:
        yield server


@pytest.fixture(scope="module")
def auth_stack(
    stack: LocalStack, key_server: KeyServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    """Only a host: the session stack's emulators (already prepared) hold the data."""
    ports = Ports(
        host=Ports.free().host, azurite_blob=stack.ports.azurite_blob, cosmos=stack.ports.cosmos
    )
    local = LocalStack(ROOT, tmp_path_factory.mktemp("auth-host"), ports)
    local.env.update(
        {
            "DICOMWEB_AUTH_MODE": "oidc",
            "DICOMWEB_AUTH_ISSUER": key_server.issuer,
            "DICOMWEB_AUTH_AUDIENCE": AUDIENCE,
            "DICOMWEB_AUTH_KEY_REFRESH_SECONDS": str(REFRESH_SECONDS),
            "DICOMWEB_CORS_ORIGINS": "https://viewer.example",
        }
    )
    with local.start(services=("host",)):
        yield local


@pytest.fixture
async def client(auth_stack: LocalStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=auth_stack.base_url, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def issuer(key_server: KeyServer) -> str:
    return key_server.issuer


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_plain_refusal(response: httpx.Response, *secrets: str) -> None:
    """Short, plain text, nothing from the request in it, no traceback."""
    assert response.headers["content-type"].startswith("text/plain")
    assert len(response.content) < 200
    assert "Traceback" not in response.text and 'File "' not in response.text
    for secret in secrets:
        assert secret not in response.text


async def store_one(client: httpx.AsyncClient, token: str) -> Any:
    data, ds = with_fresh_uids("CT_small.dcm")
    response = await post(client, multipart([data]), authorization=f"Bearer {token}")
    assert response.status_code == 200, response.text
    return ds


async def test_no_token_gets_a_bare_challenge(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/v2/studies"),
        ("POST", "/v2/studies"),
        ("DELETE", "/v1/studies/1.2"),
    ]:
        response = await client.request(method, path)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert_plain_refusal(response)


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        (lambda key, iss: unsigned(claims(iss), key.kid), "the token's algorithm is not accepted"),
        (
            lambda key, iss: hmac_with_public_key(claims(iss), key),
            "the token's algorithm is not accepted",
        ),
        (
            lambda key, iss: key.sign(claims(iss, audience="api://other")),
            "the token is for another audience",
        ),
        (
            lambda key, iss: key.sign(claims("https://login.example/evil/")),
            "the token is from another issuer",
        ),
        (lambda key, iss: key.sign(claims(iss, lifetime=-600)), "the token has expired"),
        (
            lambda key, iss: key.sign(claims(iss, not_before=int(time.time()) + 3600)),
            "the token is not valid yet",
        ),
        (
            lambda key, iss: tampered(key.sign(claims(iss, [READER])), roles=[OWNER]),
            "the token's signature is invalid",
        ),
        (lambda key, iss: "not.a.token", "malformed token"),
    ],
    ids=["alg-none", "hmac-public-key", "audience", "issuer", "expired", "nbf", "tampered", "junk"],
)
async def test_bad_tokens_are_refused(
    client: httpx.AsyncClient, signing_key: SigningKey, issuer: str, forge: Any, reason: str
) -> None:
    token = forge(signing_key, issuer)
    for method in ("GET", "POST"):
        response = await client.request(method, "/v2/studies", headers=bearer(token))
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == (
            f'Bearer error="invalid_token", error_description="{reason}"'
        )
        assert_plain_refusal(response, token)


async def test_unknown_key_then_rotation_is_picked_up_after_refresh(
    client: httpx.AsyncClient, key_server: KeyServer, issuer: str
) -> None:
    rotated = SigningKey("key-2")
    token = rotated.sign(claims(issuer, [READER]))
    response = await client.get("/v2/studies", headers=bearer(token))
    assert response.status_code == 401
    assert "signing key is unknown" in response.headers["www-authenticate"]

    key_server.keys.append(rotated)
    await asyncio.sleep(REFRESH_SECONDS + 0.2)
    response = await client.get("/v2/studies", headers=bearer(token))
    assert response.status_code not in (401, 403), response.text


async def test_reader_may_read_but_not_change(
    client: httpx.AsyncClient, signing_key: SigningKey, issuer: str
) -> None:
    owner = signing_key.sign(claims(issuer, [OWNER]))
    reader = signing_key.sign(claims(issuer, [READER]))
    ds = await store_one(client, owner)
    study = f"/v2/studies/{ds.StudyInstanceUID}"

    for path in (study, f"/v2/studies?StudyInstanceUID={ds.StudyInstanceUID}"):
        response = await client.get(path, headers={**bearer(reader), "Accept": "*/*"})
        assert response.status_code not in (401, 403), path

    data, _ = with_fresh_uids("CT_small.dcm")
    for method, path in [("POST", "/v2/studies"), ("PUT", "/v2/studies"), ("POST", study)]:
        response = await post(client, multipart([data]), path=path, method=method, **bearer(reader))
        assert response.status_code == 403, (method, path)
        assert response.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')
        assert_plain_refusal(response, reader, ds.StudyInstanceUID)
    response = await client.delete(study, headers=bearer(reader))
    assert response.status_code == 403
    # Still there: the refusals changed nothing.
    assert (await client.delete(study, headers=bearer(owner))).status_code == 204


async def test_a_token_without_roles_may_do_nothing(
    client: httpx.AsyncClient, signing_key: SigningKey, issuer: str
) -> None:
    token = signing_key.sign(claims(issuer, []))
    assert (await client.get("/v2/studies", headers=bearer(token))).status_code == 403
    assert (await client.delete("/v2/studies/1.2.3", headers=bearer(token))).status_code == 403


async def test_owner_may_do_everything(
    client: httpx.AsyncClient, signing_key: SigningKey, issuer: str
) -> None:
    owner = signing_key.sign(claims(issuer, [OWNER]))
    ds = await store_one(client, owner)
    study = f"/v2/studies/{ds.StudyInstanceUID}"
    series = f"{study}/series/{ds.SeriesInstanceUID}"
    data, _ = with_fresh_uids("CT_small.dcm", study_uid=ds.StudyInstanceUID)
    response = await post(
        client, multipart([data]), path="/v2/studies", method="PUT", **bearer(owner)
    )
    assert response.status_code == 200, response.text

    for path in (
        study,
        f"{series}/instances/{ds.SOPInstanceUID}",
        f"/v2/studies?StudyInstanceUID={ds.StudyInstanceUID}",
    ):
        response = await client.get(path, headers={**bearer(owner), "Accept": "*/*"})
        assert response.status_code not in (401, 403), path
    assert (await client.delete(series, headers=bearer(owner))).status_code == 204
    assert (await client.delete(study, headers=bearer(owner))).status_code == 204
    assert (await client.delete(study, headers=bearer(owner))).status_code == 404


async def test_tokens_in_the_query_string_are_refused(
    client: httpx.AsyncClient, signing_key: SigningKey, issuer: str
) -> None:
    token = signing_key.sign(claims(issuer, [OWNER]))
    for headers in ({}, bearer(token)):
        response = await client.get("/v2/studies", params={"access_token": token}, headers=headers)
        assert response.status_code == 400
        assert 'error="invalid_request"' in response.headers["www-authenticate"]
        assert_plain_refusal(response, token)


def raw_request(
    stack: LocalStack, method: str, target: str, headers: dict[str, str]
) -> tuple[int, bytes]:
    """The request line exactly as given: clients would normalise `..` and encoded slashes."""
    connection = http.client.HTTPConnection("127.0.0.1", stack.ports.host, timeout=30)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    "target",
    [
        "/v2/studies/..",
        "/v2/studies/../studies",
        "/v2/studies/1.2.3/../../v2/studies",
        "/v2/studies/..%2F..%2Fetc%2Fpasswd",
        "/v2/studies/1.2.3%2Fseries%2F4.5",
        "/v2/studies/1.2.3/series/%2E%2E",
        "/v2/studies/1.2.abc",
        "/v2/studies/1.2.3/series/4.5/instances/6.7%00",
        "/v2/studies/" + "1." * 40 + "1",
        "/v3/studies/1.2.3",
        "/v2/studies/1.2.3/series/4.5/instances/6.7/../../../../../../",
    ],
)
def test_path_tricks_are_refused_without_leaking(
    auth_stack: LocalStack, signing_key: SigningKey, issuer: str, target: str
) -> None:
    owner = signing_key.sign(claims(issuer, [OWNER]))
    for method in ("GET", "DELETE"):
        status, body = raw_request(auth_stack, method, target, bearer(owner))
        assert status in (400, 404, 405), (method, target, status)
        assert b"Traceback" not in body and owner.encode() not in body
        # And without a token nothing is found out either.
        status, _ = raw_request(auth_stack, method, target, {})
        assert status in (401, 404, 405), (method, target, status)


def test_oversized_headers_are_refused(
    auth_stack: LocalStack, signing_key: SigningKey, issuer: str
) -> None:
    token = signing_key.sign(claims(issuer, [OWNER], padding="x" * 20_000))
    status, body = raw_request(auth_stack, "GET", "/v2/studies", bearer(token))
    assert status == 401 and b"too long" in body
    for headers in (
        {"Authorization": "Bearer " + "a" * 200_000},
        {f"X-Filler-{n}": "y" * 1000 for n in range(200)},
    ):
        try:
            status, body = raw_request(auth_stack, "GET", "/v2/studies", headers)
        except (ConnectionError, http.client.HTTPException):
            continue
        assert status in (400, 401, 413, 431), status
        assert b"Traceback" not in body


async def test_cors_preflight_needs_no_token_and_refusals_stay_readable(
    client: httpx.AsyncClient,
) -> None:
    origin = "https://viewer.example"
    preflight = await client.options(
        "/v2/studies",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type, Accept",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    # A browser script sees the 401 and the headers it needs.
    refused = await client.get("/v2/studies", headers={"Origin": origin})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == origin
    exposed = {h.strip() for h in refused.headers["access-control-expose-headers"].split(",")}
    assert exposed == {
        "ETag",
        "Warning",
        "Content-Type",
        "Content-Location",
        "Location",
        "Content-Range",
        "Accept-Ranges",
        "erroneous-dicom-attributes",
        "Content-Disposition",
    }


@pytest.fixture(scope="module")
def local_auth_stack(
    stack: LocalStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    """`DICOMWEB_LOCAL_AUTH=1 make run` in miniature: the host is its own token issuer."""
    ports = Ports(
        host=Ports.free().host, azurite_blob=stack.ports.azurite_blob, cosmos=stack.ports.cosmos
    )
    data_dir = tmp_path_factory.mktemp("local-auth-host")
    local = LocalStack(ROOT, data_dir, ports)
    local.env.update(local_auth_env(ports, data_dir))
    with local.start(services=("host",)):
        yield local


async def test_local_issuer_tokens_work_end_to_end(local_auth_stack: LocalStack) -> None:
    issuer = LocalIssuer(
        local_auth_stack.env["DICOMWEB_AUTH_ISSUER"],
        Path(local_auth_stack.env["DICOMWEB_AUTH_LOCAL_KEY"]),
    )
    owner = issuer.mint(LOCAL_AUDIENCE, [OWNER])
    reader = issuer.mint(LOCAL_AUDIENCE, [READER])
    async with httpx.AsyncClient(base_url=local_auth_stack.base_url, timeout=60) as http:
        assert (await http.get("/v2/studies")).status_code == 401
        ds = await store_one(http, owner)
        study = f"/v2/studies/{ds.StudyInstanceUID}"
        assert (await http.delete(study, headers=bearer(reader))).status_code == 403
        assert (await http.delete(study, headers=bearer(owner))).status_code == 204
        foreign = SigningKey(issuer.kid, "ES256").sign(
            claims(issuer.url, [OWNER], audience=LOCAL_AUDIENCE)
        )
        assert (await http.get("/v2/studies", headers=bearer(foreign))).status_code == 401
