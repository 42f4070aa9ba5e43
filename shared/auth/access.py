"""Who may do what: a bearer token in the Authorization header, and a role for the method.

Reading (GET, HEAD) needs the reader role; anything else changes data and needs the owner role,
which also allows reading. Refusals follow RFC 6750: 401 with a ``WWW-Authenticate: Bearer``
challenge (an ``error`` only when a token was offered), 400 for a malformed request, 403 for a
valid token without the role.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

from shared.auth.keys import IssuerKeys, KeysUnavailable
from shared.auth.tokens import InvalidToken, TokenValidator
from shared.config import AUTH_OFF, AuthSettings
from shared.errors import DicomwebError

log = logging.getLogger("dicomweb.auth")

READ_METHODS = frozenset({"GET", "HEAD"})
# RFC 6750 section 2.1: "Bearer" (any case), one or more spaces, a b64token.
_BEARER = re.compile(r"bearer +([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)


def _challenge(error: str | None = None, description: str | None = None) -> dict[str, str]:
    if error is None:
        return {"WWW-Authenticate": "Bearer"}
    # A quoted-string: a configured role name must not be able to end it early.
    text = (description or "").replace("\\", "").replace('"', "'")
    return {"WWW-Authenticate": f'Bearer error="{error}", error_description="{text}"'}


class Unauthorized(DicomwebError):
    status = 401

    def __init__(self, reason: str | None = None) -> None:
        message = "a bearer token is required" if reason is None else reason
        headers = _challenge() if reason is None else _challenge("invalid_token", reason)
        super().__init__(message, headers=headers)


class InvalidRequest(DicomwebError):
    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason, headers=_challenge("invalid_request", reason))


class Forbidden(DicomwebError):
    status = 403

    def __init__(self, role: str) -> None:
        reason = f"the token lacks the {role} role"
        super().__init__(reason, headers=_challenge("insufficient_scope", reason))


class KeysNotReachable(DicomwebError):
    """The issuer's keys cannot be fetched: the token may be fine, so the client retries."""

    status = 503

    def __init__(self) -> None:
        super().__init__(
            "tokens cannot be checked right now, retry later", headers={"Retry-After": "10"}
        )


def bearer_token(authorization: Sequence[str], query_names: Iterable[str]) -> str:
    """The token of the request's only Authorization header; tokens in URLs end up in logs."""
    if any(name.lower() == "access_token" for name in query_names):
        raise InvalidRequest("tokens in the query string are not accepted")
    if len(authorization) > 1:
        raise InvalidRequest("more than one Authorization header")
    if not authorization:
        raise Unauthorized
    value = authorization[0].strip()
    scheme = value.split(" ", 1)[0]
    if scheme.lower() != "bearer":
        # Another scheme is as good as no credentials (RFC 6750 section 3.1).
        raise Unauthorized
    found = _BEARER.fullmatch(value)
    if found is None:
        raise Unauthorized("malformed token")
    return found.group(1)


def roles_of(claims: Mapping[str, Any]) -> frozenset[str]:
    roles = claims.get("roles")
    if not isinstance(roles, list):
        return frozenset()
    return frozenset(role for role in roles if isinstance(role, str))


class AccessGate(Protocol):
    async def check(
        self, method: str, authorization: Sequence[str], query_names: Collection[str]
    ) -> None: ...


class OpenGate:
    """Access control switched off: for the local stack and its tests only."""

    async def check(
        self, method: str, authorization: Sequence[str], query_names: Collection[str]
    ) -> None:
        return None


class TokenGate:
    """Access for callers whose token is valid and carries the role the method needs."""

    def __init__(self, validator: TokenValidator, reader_role: str, owner_role: str) -> None:
        self._validator = validator
        self._reader_role = reader_role
        self._owner_role = owner_role

    async def check(
        self, method: str, authorization: Sequence[str], query_names: Collection[str]
    ) -> None:
        token = bearer_token(authorization, query_names)
        try:
            claims = await self._validator.claims(token)
        except InvalidToken as refused:
            log.info("token refused: %s", refused.reason)
            raise Unauthorized(refused.reason) from None
        except KeysUnavailable:
            raise KeysNotReachable from None
        roles = roles_of(claims)
        if method.upper() in READ_METHODS:
            if not roles & {self._reader_role, self._owner_role}:
                raise Forbidden(self._reader_role)
        elif self._owner_role not in roles:
            raise Forbidden(self._owner_role)


def gate_for(auth: AuthSettings) -> AccessGate:
    if auth.mode == AUTH_OFF:
        return OpenGate()
    if auth.issuer is None:
        raise RuntimeError("access control is on but no token issuer is configured")
    keys = IssuerKeys(auth.issuer, min_refresh_seconds=auth.key_refresh_seconds)
    return TokenGate(
        TokenValidator(keys, auth.issuer, auth.audiences), auth.reader_role, auth.owner_role
    )
