"""Access tokens: a JWT is accepted only if every check passes, and PyJWT does the cryptography.

The algorithm comes from an allow-list before any key is looked up, and the key itself fixes the
algorithm it verifies with, so a token cannot choose "none" or HMAC keyed with a public key.
Refusals carry a short fixed reason, never anything taken from the token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import jwt

from shared.auth.keys import SIGNING_ALGORITHMS, UnknownKey

# Clock difference tolerated between the issuer and this service.
LEEWAY_SECONDS = 60
# Entra ID access tokens are a few kilobytes; anything far larger is not worth parsing.
MAX_TOKEN_CHARS = 16 * 1024
# Claims that RFC 7519 types as NumericDate: a JSON number, which PyJWT does not insist on.
NUMERIC_DATE_CLAIMS = ("exp", "nbf", "iat")


class InvalidToken(Exception):
    """The token is refused; `reason` is safe to show the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeySource(Protocol):
    async def key(self, kid: str) -> jwt.PyJWK: ...


# Most specific first: several of PyJWT's errors derive from others.
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.InvalidAudienceError, "the token is for another audience"),
    (jwt.InvalidIssuerError, "the token is from another issuer"),
    (jwt.MissingRequiredClaimError, "the token lacks a required claim"),
    (jwt.InvalidSignatureError, "the token's signature is invalid"),
    (jwt.InvalidAlgorithmError, "the token's algorithm is not accepted"),
)


def _reason(error: jwt.InvalidTokenError) -> str:
    return next((text for kind, text in _REASONS if isinstance(error, kind)), "malformed token")


class TokenValidator:
    """Checks tokens of one issuer for one of a set of audiences."""

    def __init__(self, keys: KeySource, issuer: str, audiences: tuple[str, ...]) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audiences = list(audiences)

    async def claims(self, token: str) -> Mapping[str, Any]:
        """The token's claims once signature, issuer, audience and lifetime are verified."""
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("the token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise InvalidToken("malformed token") from None
        if header.get("alg") not in SIGNING_ALGORITHMS:
            raise InvalidToken("the token's algorithm is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no signing key")
        try:
            key = await self._keys.key(kid)
        except UnknownKey:
            raise InvalidToken("the token's signing key is unknown") from None
        try:
            claims: Mapping[str, Any] = jwt.decode(
                token,
                key,
                algorithms=sorted(SIGNING_ALGORITHMS),
                audience=self._audiences,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.InvalidTokenError as error:
            raise InvalidToken(_reason(error)) from None
        if not all(is_numeric_date(claims[name]) for name in NUMERIC_DATE_CLAIMS if name in claims):
            raise InvalidToken("malformed token")
        return claims


def is_numeric_date(value: object) -> bool:
    """A JSON number (RFC 7519 section 2): PyJWT would turn the string "9999999999" into one."""
    return isinstance(value, int | float) and not isinstance(value, bool)
