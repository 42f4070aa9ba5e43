"""Token validation and key discovery, with the issuer's documents served from memory."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.auth.keys import (
    MAX_KEY_AGE_SECONDS,
    RETRY_AFTER_FAILURE_SECONDS,
    IssuerKeys,
    KeysUnavailable,
    UnknownKey,
    signing_keys,
)
from shared.auth.tokens import (
    LEEWAY_SECONDS,
    MAX_TOKEN_CHARS,
    NUMERIC_DATE_CLAIMS,
    InvalidToken,
    TokenValidator,
    is_numeric_date,
)
from tests.data.tokens import (
    AUDIENCE,
    SigningKey,
    b64url,
    claims,
    hmac_with_public_key,
    tampered,
    unsigned,
)

ISSUER = "https://issuer.example/tenant/v2.0"
JWKS_URI = "https://issuer.example/tenant/keys"
REFRESH = 300.0


class Issuer:
    """An issuer's metadata and key set in memory, with a fake clock and a count of fetches."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.now = 1000.0
        self.fetches = 0
        self.down = False
        self.metadata: dict[str, Any] = {"issuer": ISSUER, "jwks_uri": JWKS_URI}

    async def fetch(self, url: str) -> object:
        await asyncio.sleep(0)
        if self.down:
            raise OSError("unreachable")
        if url == f"{ISSUER}/.well-known/openid-configuration":
            return self.metadata
        assert url == JWKS_URI
        self.fetches += 1
        return {"keys": [key.jwk() for key in self.keys]}

    def key_set(self) -> IssuerKeys:
        return IssuerKeys(
            ISSUER, min_refresh_seconds=REFRESH, fetch=self.fetch, clock=lambda: self.now
        )


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return SigningKey("rsa-1")


@pytest.fixture(scope="module")
def ec_key() -> SigningKey:
    return SigningKey("ec-1", "ES256")


@pytest.fixture
def issuer(rsa_key: SigningKey, ec_key: SigningKey) -> Issuer:
    return Issuer(rsa_key, ec_key)


@pytest.fixture
def validator(issuer: Issuer) -> TokenValidator:
    return TokenValidator(issuer.key_set(), ISSUER, (AUDIENCE, "other-audience"))


async def refusal(validator: TokenValidator, token: str) -> str:
    with pytest.raises(InvalidToken) as refused:
        await validator.claims(token)
    return refused.value.reason


@pytest.mark.parametrize("key_name", ["rsa_key", "ec_key"])
async def test_a_valid_token_gives_its_claims(
    validator: TokenValidator, key_name: str, request: pytest.FixtureRequest
) -> None:
    key: SigningKey = request.getfixturevalue(key_name)
    found = await validator.claims(key.sign(claims(ISSUER, ["r"])))
    assert found["roles"] == ["r"] and found["aud"] == AUDIENCE


async def test_any_configured_audience_is_accepted(
    validator: TokenValidator, rsa_key: SigningKey
) -> None:
    token = rsa_key.sign(claims(ISSUER, audience="other-audience"))
    assert (await validator.claims(token))["aud"] == "other-audience"


async def test_alg_none_is_refused(validator: TokenValidator, rsa_key: SigningKey) -> None:
    reason = await refusal(validator, unsigned(claims(ISSUER), rsa_key.kid))
    assert reason == "the token's algorithm is not accepted"


async def test_hmac_keyed_with_the_public_key_is_refused(
    validator: TokenValidator, rsa_key: SigningKey
) -> None:
    reason = await refusal(validator, hmac_with_public_key(claims(ISSUER), rsa_key))
    assert reason == "the token's algorithm is not accepted"


def with_kid(key: SigningKey, kid: str, algorithm: str) -> SigningKey:
    """`key`'s private half under another key id and algorithm."""
    forged = SigningKey(kid, algorithm)
    forged.private = key.private
    return forged


async def test_an_algorithm_other_than_the_key_s_is_refused(
    validator: TokenValidator, rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    # The published RSA key is for RS256; its private half signing RS384 must not pass.
    rs384 = with_kid(rsa_key, rsa_key.kid, "RS384").sign(claims(ISSUER))
    assert await refusal(validator, rs384) == "the token's algorithm is not accepted"
    es256 = with_kid(ec_key, rsa_key.kid, "ES256").sign(claims(ISSUER))
    assert await refusal(validator, es256) == "the token's algorithm is not accepted"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"audience": "api://someone-else"}, "the token is for another audience"),
        ({"lifetime": -LEEWAY_SECONDS - 60}, "the token has expired"),
    ],
)
async def test_claims_are_checked(
    validator: TokenValidator, rsa_key: SigningKey, changes: dict[str, Any], reason: str
) -> None:
    assert await refusal(validator, rsa_key.sign(claims(ISSUER, **changes))) == reason


async def test_a_token_not_valid_yet_is_refused(
    validator: TokenValidator, rsa_key: SigningKey
) -> None:
    token = rsa_key.sign(claims(ISSUER, not_before=int(time.time()) + LEEWAY_SECONDS + 120))
    assert await refusal(validator, token) == "the token is not valid yet"


async def test_wrong_issuer_is_refused(validator: TokenValidator, rsa_key: SigningKey) -> None:
    token = rsa_key.sign(claims("https://evil.example/"))
    assert await refusal(validator, token) == "the token is from another issuer"


async def test_small_clock_skew_is_tolerated(
    validator: TokenValidator, rsa_key: SigningKey
) -> None:
    now = int(time.time())
    token = rsa_key.sign(claims(ISSUER, lifetime=-(LEEWAY_SECONDS // 2), not_before=now + 20))
    assert await validator.claims(token)


@pytest.mark.parametrize("missing", ["exp", "iss", "aud"])
async def test_required_claims(
    validator: TokenValidator, rsa_key: SigningKey, missing: str
) -> None:
    values = claims(ISSUER)
    del values[missing]
    assert await refusal(validator, rsa_key.sign(values)) == "the token lacks a required claim"


async def test_a_tampered_payload_is_refused(
    validator: TokenValidator, rsa_key: SigningKey
) -> None:
    token = rsa_key.sign(claims(ISSUER, ["reader"]))
    forged = tampered(token, roles=["owner"])
    assert await refusal(validator, forged) == "the token's signature is invalid"


async def test_a_token_signed_by_another_key_with_the_same_id_is_refused(
    validator: TokenValidator, rsa_key: SigningKey
) -> None:
    impostor = SigningKey(rsa_key.kid)
    token = impostor.sign(claims(ISSUER))
    assert await refusal(validator, token) == "the token's signature is invalid"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("not-a-token", "malformed token"),
        ("a.b.c", "malformed token"),
        (f"{b64url(b'{}')}.{b64url(b'{}')}.", "the token's algorithm is not accepted"),
        ("x" * (MAX_TOKEN_CHARS + 1), "the token is too long"),
    ],
)
async def test_garbage_is_refused(validator: TokenValidator, token: str, reason: str) -> None:
    assert await refusal(validator, token) == reason


async def test_a_token_without_key_id_is_refused(
    validator: TokenValidator, rsa_key: SigningKey
) -> None:
    token = rsa_key.sign(claims(ISSUER), kid=None)
    assert await refusal(validator, token) == "the token names no signing key"


async def test_a_non_object_payload_is_refused(
    validator: TokenValidator, rsa_key: SigningKey
) -> None:
    token = rsa_key.sign(claims(ISSUER))
    header, _, signature = token.split(".")
    assert await refusal(validator, f"{header}.{b64url(b'[1]')}.{signature}")


async def test_unknown_key_is_refused_until_the_issuer_publishes_it(
    issuer: Issuer, validator: TokenValidator, rsa_key: SigningKey
) -> None:
    rotated = SigningKey("rsa-2")
    token = rotated.sign(claims(ISSUER))
    assert await refusal(validator, token) == "the token's signing key is unknown"
    assert issuer.fetches == 1

    issuer.keys.append(rotated)
    # Within the refresh bound an unknown key id does not fetch again.
    issuer.now += REFRESH / 2
    assert await refusal(validator, token) == "the token's signing key is unknown"
    assert issuer.fetches == 1

    issuer.now += REFRESH
    assert await validator.claims(token)
    assert issuer.fetches == 2
    # Known keys are served from the cache.
    assert await validator.claims(rsa_key.sign(claims(ISSUER)))
    assert issuer.fetches == 2


async def test_made_up_key_ids_fetch_at_most_once_per_bound(issuer: Issuer) -> None:
    keys = issuer.key_set()
    await asyncio.gather(*(keys.key(f"made-up-{n}") for n in range(50)), return_exceptions=True)
    for n in range(50):
        issuer.now += REFRESH / 100
        with pytest.raises(UnknownKey):
            await keys.key(f"later-{n}")
    assert issuer.fetches == 1


async def test_concurrent_first_requests_fetch_once(issuer: Issuer, rsa_key: SigningKey) -> None:
    keys = issuer.key_set()
    found = await asyncio.gather(*(keys.key(rsa_key.kid) for _ in range(20)))
    assert {key.key_id for key in found} == {rsa_key.kid}
    assert issuer.fetches == 1


async def test_keys_are_refetched_once_old(issuer: Issuer, rsa_key: SigningKey) -> None:
    keys = issuer.key_set()
    await keys.key(rsa_key.kid)
    issuer.keys.remove(rsa_key)
    issuer.now += MAX_KEY_AGE_SECONDS + 1
    with pytest.raises(UnknownKey):
        await keys.key(rsa_key.kid)
    assert issuer.fetches == 2


async def test_an_unreachable_issuer_makes_keys_unavailable_then_retries(
    issuer: Issuer, rsa_key: SigningKey
) -> None:
    keys = issuer.key_set()
    issuer.down = True
    with pytest.raises(KeysUnavailable):
        await keys.key(rsa_key.kid)
    issuer.down = False
    with pytest.raises(KeysUnavailable):
        await keys.key(rsa_key.kid)
    issuer.now += RETRY_AFTER_FAILURE_SECONDS
    assert (await keys.key(rsa_key.kid)).key_id == rsa_key.kid


async def test_a_failed_refresh_keeps_the_known_keys(issuer: Issuer, rsa_key: SigningKey) -> None:
    keys = issuer.key_set()
    await keys.key(rsa_key.kid)
    issuer.down = True
    issuer.now += MAX_KEY_AGE_SECONDS + 1
    assert (await keys.key(rsa_key.kid)).key_id == rsa_key.kid


@pytest.mark.parametrize(
    "metadata",
    [
        {"issuer": "https://evil.example/", "jwks_uri": JWKS_URI},
        {"issuer": ISSUER, "jwks_uri": "http://issuer.example/keys"},
        {"issuer": ISSUER},
        ["not", "an", "object"],
    ],
)
async def test_untrustworthy_metadata_yields_no_keys(
    issuer: Issuer, rsa_key: SigningKey, metadata: Any
) -> None:
    issuer.metadata = metadata
    with pytest.raises(KeysUnavailable):
        await issuer.key_set().key(rsa_key.kid)


def test_only_asymmetric_signature_keys_are_used(rsa_key: SigningKey, ec_key: SigningKey) -> None:
    jwks = {
        "keys": [
            rsa_key.jwk(),
            {**ec_key.jwk(), "use": "enc"},
            {"kty": "oct", "kid": "hmac", "k": b64url(b"secret"), "alg": "HS256"},
            {"kty": "RSA", "kid": "broken", "n": "AQAB"},
            {**rsa_key.jwk(), "kid": None},
            "junk",
        ]
    }
    assert set(signing_keys(jwks)) == {rsa_key.kid}
    with pytest.raises(ValueError):
        signing_keys({"no": "keys"})


async def test_an_expiry_written_as_a_string_is_refused(
    validator: TokenValidator, rsa_key: SigningKey
) -> None:
    token = rsa_key.sign(claims(ISSUER, exp="9999999999"))
    assert await refusal(validator, token) == "malformed token"


@pytest.mark.parametrize("claim", NUMERIC_DATE_CLAIMS)
async def test_any_date_written_as_a_string_is_refused(
    validator: TokenValidator, rsa_key: SigningKey, claim: str
) -> None:
    values = claims(ISSUER, not_before=int(time.time()))
    values[claim] = str(values[claim])
    assert await refusal(validator, rsa_key.sign(values)) == "malformed token"


@given(date=st.integers(0, 2**40) | st.floats(0, 2**40, allow_nan=False))
def test_json_numbers_are_numeric_dates(date: float) -> None:
    assert is_numeric_date(date) and not is_numeric_date(str(date))
