"""The local host's CORS and local token issuer, in process; and `python -m cli token`."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest

import cli.__main__ as cli_main
from devhost import supervise
from devhost.app import build_app, local_issuer_routes
from devhost.local_issuer import JWKS_PATH, METADATA_PATH, LocalIssuer, ensure_key
from devhost.settings import LOCAL_AUDIENCE, Ports, local_auth_env, service_env
from shared.auth.keys import IssuerKeys
from shared.auth.tokens import InvalidToken, TokenValidator
from shared.config import DEFAULT_OWNER_ROLE, DEFAULT_READER_ROLE
from tests.devhost.test_app import make_function_app

ISSUER = "http://127.0.0.1:7071"
ORIGIN = "https://viewer.example"


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "auth" / "key.pem"


@pytest.fixture
async def client(key_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    env = {"DICOMWEB_AUTH_ISSUER": ISSUER, "DICOMWEB_AUTH_LOCAL_KEY": str(key_path)}
    app = build_app(
        make_function_app(), "", cors_origins=[ORIGIN], extra_routes=local_issuer_routes(env)
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
        yield http


def test_the_key_is_made_once_and_private(key_path: Path) -> None:
    ensure_key(key_path)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    first = key_path.read_bytes()
    ensure_key(key_path)
    assert key_path.read_bytes() == first
    assert LocalIssuer(ISSUER, key_path).kid == LocalIssuer(ISSUER, key_path).kid


async def test_tokens_pass_the_service_s_own_validation(
    client: httpx.AsyncClient, key_path: Path
) -> None:
    async def fetch(url: str) -> object:
        return (await client.get(url)).raise_for_status().json()

    keys = IssuerKeys(ISSUER, min_refresh_seconds=300, fetch=fetch)
    validator = TokenValidator(keys, ISSUER, (LOCAL_AUDIENCE,))
    issuer = LocalIssuer(ISSUER, key_path)
    claims = await validator.claims(issuer.mint(LOCAL_AUDIENCE, ["r"]))
    assert claims["roles"] == ["r"] and claims["iss"] == ISSUER
    with pytest.raises(InvalidToken, match="expired"):
        await validator.claims(issuer.mint(LOCAL_AUDIENCE, ["r"], lifetime=-3600))


async def test_the_issuer_documents_are_served(client: httpx.AsyncClient) -> None:
    metadata = (await client.get(METADATA_PATH)).json()
    assert metadata["issuer"] == ISSUER and metadata["jwks_uri"] == f"{ISSUER}{JWKS_PATH}"
    (key,) = (await client.get(JWKS_PATH)).json()["keys"]
    assert key["kty"] == "EC" and key["alg"] == "ES256" and "d" not in key


def test_without_the_setting_there_is_no_issuer() -> None:
    assert local_issuer_routes({}) == []


async def test_preflight_is_answered_by_the_host(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/studies/1.2",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "DELETE",
            "Access-Control-Request-Headers": "authorization, content-type, accept, range",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    allowed = set(
        response.headers["access-control-allow-headers"].lower().replace(" ", "").split(",")
    )
    assert {"authorization", "accept", "content-type", "range"} <= allowed
    assert "DELETE" in response.headers["access-control-allow-methods"]
    assert "PATCH" in response.headers["access-control-allow-methods"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        {"Origin": ORIGIN, "Access-Control-Request-Method": "TRACE"},
        {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-secret",
        },
    ],
)
async def test_preflights_outside_the_policy_are_refused(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.options("/studies/1.2", headers=headers)
    assert response.status_code == 400
    assert response.headers.get("access-control-allow-origin") != "https://evil.example"


async def test_functions_never_see_options(client: httpx.AsyncClient) -> None:
    # Not a preflight: no function accepts OPTIONS, so the host finds none (404, as in Azure).
    response = await client.options("/studies/1.2", headers={"Origin": ORIGIN})
    assert response.status_code == 404


async def test_actual_responses_name_the_allowed_origin_only(client: httpx.AsyncClient) -> None:
    allowed = await client.get("/studies/1.2", headers={"Origin": ORIGIN})
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    other = await client.get("/studies/1.2", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_no_origins_no_cors() -> None:
    transport = httpx.ASGITransport(app=build_app(make_function_app(), ""))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
        response = await http.options(
            "/studies/1.2", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
        )
    assert response.status_code == 404
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    ("argv", "role"),
    [
        (["token", "--local"], DEFAULT_OWNER_ROLE),
        (["--local", "token", "--role", "reader"], DEFAULT_READER_ROLE),
        (["token", "--role", "owner", "--local"], DEFAULT_OWNER_ROLE),
    ],
)
def test_cli_mints_tokens_for_the_local_host(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    role: str,
) -> None:
    monkeypatch.setattr(cli_main, "LOCAL_DATA", tmp_path)
    for name, value in local_auth_env(Ports(), tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DICOMWEB_PORT", "7123")
    assert cli_main.main(argv) == 0
    token = capsys.readouterr().out.strip()
    issuer = LocalIssuer("http://127.0.0.1:7123", tmp_path / "auth" / "local-issuer-key.pem")
    key = jwt.PyJWK(issuer.jwks()["keys"][0])
    claims = jwt.decode(token, key, algorithms=["ES256"], audience=LOCAL_AUDIENCE)
    assert claims["iss"] == "http://127.0.0.1:7123" and claims["roles"] == [role]


def test_cli_token_needs_local(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["token"]) == 2
    assert "az account get-access-token" in capsys.readouterr().err


def test_the_banner_says_whether_auth_is_off(tmp_path: Path) -> None:
    off = "\n".join(supervise.access_lines(service_env(Ports())))
    assert "auth               OFF" in off and "DICOMWEB_LOCAL_AUTH=1" in off
    env = {**service_env(Ports()), **local_auth_env(Ports(), tmp_path)}
    on = "\n".join(supervise.access_lines({**env, "DICOMWEB_CORS_ORIGINS": ORIGIN}))
    assert "OFF" not in on and "local issuer http://127.0.0.1:7071" in on and ORIGIN in on
