"""The access gate: bearer parsing, RFC 6750 challenges, roles per method, and its settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from shared.auth.access import (
    Forbidden,
    InvalidRequest,
    KeysNotReachable,
    OpenGate,
    TokenGate,
    Unauthorized,
    bearer_token,
    gate_for,
    roles_of,
)
from shared.auth.keys import KeysUnavailable
from shared.auth.tokens import InvalidToken
from shared.config import (
    DEFAULT_OWNER_ROLE,
    DEFAULT_READER_ROLE,
    AuthSettings,
    load_auth_settings,
)
from shared.errors import DicomwebError

READER, OWNER = "Reader.Role", "Owner.Role"


class FakeValidator:
    """Maps token text to claims; any other token is refused, "down" means no keys."""

    def __init__(self, tokens: Mapping[str, Mapping[str, Any]]) -> None:
        self.tokens = tokens

    async def claims(self, token: str) -> Mapping[str, Any]:
        if token == "down":
            raise KeysUnavailable
        if token not in self.tokens:
            raise InvalidToken("the token has expired")
        return self.tokens[token]


@pytest.fixture
def gate() -> TokenGate:
    validator = FakeValidator(
        {
            "reader": {"roles": [READER]},
            "owner": {"roles": [OWNER]},
            "both": {"roles": ["x", READER, OWNER]},
            "none": {},
            "odd": {"roles": OWNER},
        }
    )
    return TokenGate(validator, READER, OWNER)  # type: ignore[arg-type]


async def outcome(gate: TokenGate, method: str, *headers: str, query: tuple[str, ...] = ()) -> int:
    try:
        await gate.check(method, list(headers), query)
    except DicomwebError as error:
        return error.status
    return 200


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc", "abc"),
        ("BEARER   a-b_c~d+e/f==", "a-b_c~d+e/f=="),
        ("  Bearer abc  ", "abc"),
    ],
)
def test_bearer_token_is_read(header: str, token: str) -> None:
    assert bearer_token([header], []) == token


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer a\tb", "Bearer ä", "Bearer =a"])
def test_malformed_bearer_values_are_invalid_tokens(header: str) -> None:
    with pytest.raises(Unauthorized) as refused:
        bearer_token([header], [])
    assert refused.value.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


@pytest.mark.parametrize("headers", [[], ["Basic dXNlcjpwYXNz"], ["Negotiate abc"], [""]])
def test_no_bearer_credentials_get_a_bare_challenge(headers: list[str]) -> None:
    with pytest.raises(Unauthorized) as refused:
        bearer_token(headers, [])
    assert refused.value.status == 401
    assert refused.value.headers == {"WWW-Authenticate": "Bearer"}


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        (["Bearer a", "Bearer b"], []),
        ([], ["access_token"]),
        (["Bearer a"], ["StudyDate", "ACCESS_TOKEN"]),
    ],
)
def test_ambiguous_or_query_tokens_are_bad_requests(headers: list[str], query: list[str]) -> None:
    with pytest.raises(InvalidRequest) as refused:
        bearer_token(headers, query)
    assert refused.value.status == 400
    assert 'error="invalid_request"' in refused.value.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("token", "read", "write"),
    [
        ("reader", 200, 403),
        ("owner", 200, 200),
        ("both", 200, 200),
        ("none", 403, 403),
        ("odd", 403, 403),
        ("expired", 401, 401),
        ("down", 503, 503),
    ],
)
async def test_roles_decide_per_method(gate: TokenGate, token: str, read: int, write: int) -> None:
    header = f"Bearer {token}"
    for method in ("GET", "HEAD", "get"):
        assert await outcome(gate, method, header) == read
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        assert await outcome(gate, method, header) == write


async def test_refusals_carry_rfc_6750_challenges(gate: TokenGate) -> None:
    with pytest.raises(Unauthorized) as expired:
        await gate.check("GET", ["Bearer expired"], ())
    assert expired.value.headers["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="the token has expired"'
    )
    assert expired.value.message == "the token has expired"
    with pytest.raises(Forbidden) as forbidden:
        await gate.check("DELETE", ["Bearer reader"], ())
    assert forbidden.value.headers["WWW-Authenticate"].startswith(
        'Bearer error="insufficient_scope"'
    )
    assert OWNER in forbidden.value.message
    with pytest.raises(KeysNotReachable) as unreachable:
        await gate.check("GET", ["Bearer down"], ())
    assert unreachable.value.headers["Retry-After"]


async def test_role_names_cannot_break_the_challenge() -> None:
    challenge = Forbidden('Odd"Role\\').headers["WWW-Authenticate"]
    assert challenge == (
        'Bearer error="insufficient_scope", error_description="the token lacks the Odd\'Role role"'
    )


async def test_open_gate_lets_everything_through() -> None:
    assert await OpenGate().check("DELETE", [], ["access_token"]) is None


def test_roles_claim_must_be_a_list_of_strings() -> None:
    assert roles_of({"roles": ["a", 1, None, "b"]}) == {"a", "b"}
    assert roles_of({"roles": "a"}) == frozenset()
    assert roles_of({}) == frozenset()


AUTH_VARIABLES = (
    "DICOMWEB_AUTH_MODE",
    "DICOMWEB_AUTH_ISSUER",
    "DICOMWEB_AUTH_AUDIENCE",
    "DICOMWEB_AUTH_READER_ROLE",
    "DICOMWEB_AUTH_OWNER_ROLE",
    "DICOMWEB_AUTH_KEY_REFRESH_SECONDS",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in AUTH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_access_control_is_on_unless_switched_off(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(RuntimeError, match="DICOMWEB_AUTH_ISSUER"):
        load_auth_settings()
    env.setenv("DICOMWEB_AUTH_MODE", "OFF")
    assert load_auth_settings() == AuthSettings(mode="off")
    assert isinstance(gate_for(load_auth_settings()), OpenGate)
    env.setenv("DICOMWEB_AUTH_MODE", "maybe")
    with pytest.raises(RuntimeError, match="DICOMWEB_AUTH_MODE"):
        load_auth_settings()


def test_issuer_settings(env: pytest.MonkeyPatch) -> None:
    env.setenv("DICOMWEB_AUTH_ISSUER", "https://sts.windows.net/tenant/")
    env.setenv("DICOMWEB_AUTH_AUDIENCE", " api://dicom , 0000-1111 ,")
    auth = load_auth_settings()
    assert auth.mode == "oidc" and auth.issuer == "https://sts.windows.net/tenant/"
    assert auth.audiences == ("api://dicom", "0000-1111")
    assert (auth.reader_role, auth.owner_role) == (DEFAULT_READER_ROLE, DEFAULT_OWNER_ROLE)
    assert auth.key_refresh_seconds == 300
    assert isinstance(gate_for(auth), TokenGate)
    env.setenv("DICOMWEB_AUTH_READER_ROLE", "R")
    env.setenv("DICOMWEB_AUTH_OWNER_ROLE", "O")
    env.setenv("DICOMWEB_AUTH_KEY_REFRESH_SECONDS", "5")
    auth = load_auth_settings()
    assert (auth.reader_role, auth.owner_role, auth.key_refresh_seconds) == ("R", "O", 5)


@pytest.mark.parametrize(
    "issuer", ["http://login.example/tenant", "ftp://127.0.0.1/", "https:///nohost"]
)
def test_issuer_must_be_https_unless_local(env: pytest.MonkeyPatch, issuer: str) -> None:
    env.setenv("DICOMWEB_AUTH_ISSUER", issuer)
    env.setenv("DICOMWEB_AUTH_AUDIENCE", "a")
    with pytest.raises(RuntimeError, match="https"):
        load_auth_settings()


def test_local_issuers_may_use_http(env: pytest.MonkeyPatch) -> None:
    env.setenv("DICOMWEB_AUTH_ISSUER", "http://127.0.0.1:7071")
    env.setenv("DICOMWEB_AUTH_AUDIENCE", "a")
    assert load_auth_settings().issuer == "http://127.0.0.1:7071"
