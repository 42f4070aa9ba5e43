"""The signing keys of a token issuer, discovered from its OpenID Connect metadata and cached.

Keys are fetched once and reused; an unknown key id triggers a fresh fetch, because that is how an
issuer's key rotation first shows, but never more often than a bound, so that tokens with made-up
key ids cannot turn the service into a load generator against the issuer. A failed fetch keeps
the keys already known.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import jwt

from shared.config import is_trusted_url

log = logging.getLogger("dicomweb.auth")

# Asymmetric only: "none" and the HMAC family would let anyone who knows a public key sign.
SIGNING_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_ASYMMETRIC_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})

# Refetch even without an unknown key id after this long, so keys an issuer withdrew stop counting.
MAX_KEY_AGE_SECONDS = 24 * 3600.0
# After a failed fetch, the next try waits this long (the refresh bound applies after successes).
RETRY_AFTER_FAILURE_SECONDS = 10.0
FETCH_TIMEOUT_SECONDS = 10.0
MAX_DOCUMENT_BYTES = 1024 * 1024

FetchJson = Callable[[str], Awaitable[object]]


class UnknownKey(Exception):
    """The token names a key the issuer does not publish (or did not publish at the last look)."""


class KeysUnavailable(Exception):
    """The issuer's keys could not be fetched, so no token can be checked right now."""


async def fetch_json(url: str) -> object:
    """GET a JSON document, bounded in time and size."""
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, headers={"Accept": "application/json"}) as response,
    ):
        response.raise_for_status()
        body = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise ValueError("document too large")
        return json.loads(body)


def metadata_url(issuer: str) -> str:
    """OpenID Connect Discovery: the metadata document sits under the issuer URL."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def jwks_uri(metadata: object, issuer: str) -> str:
    """The key set's URL from the issuer's metadata, which must name the same issuer."""
    if not isinstance(metadata, Mapping) or metadata.get("issuer") != issuer:
        raise ValueError("the metadata names another issuer")
    uri = metadata.get("jwks_uri")
    if not isinstance(uri, str) or not is_trusted_url(uri):
        raise ValueError("the metadata has no usable jwks_uri")
    return uri


def signing_keys(jwks: object) -> dict[str, jwt.PyJWK]:
    """The usable signature keys of a JWK set, by key id; others are left out, not fatal."""
    entries = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(entries, list):
        raise ValueError("the key set has no keys")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in entries:
        if not _is_signature_key(entry):
            continue
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError):
            continue
        if key.algorithm_name in SIGNING_ALGORITHMS:
            keys[entry["kid"]] = key
    return keys


def _is_signature_key(entry: Any) -> bool:
    return (
        isinstance(entry, Mapping)
        and isinstance(entry.get("kid"), str)
        and entry.get("kty") in _ASYMMETRIC_KEY_TYPES
        and entry.get("use", "sig") == "sig"
    )


class IssuerKeys:
    """The current signing keys of one issuer, refreshed on demand within bounds."""

    def __init__(
        self,
        issuer: str,
        *,
        min_refresh_seconds: float,
        fetch: FetchJson = fetch_json,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._issuer = issuer
        self._min_refresh = min_refresh_seconds
        self._fetch = fetch
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._next_fetch = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK:
        """The key with id `kid`; raises UnknownKey or, when nothing is known, KeysUnavailable."""
        if kid not in self._keys or self._stale():
            async with self._lock:
                # Another request may have refreshed while this one waited for the lock.
                if (kid not in self._keys or self._stale()) and self._clock() >= self._next_fetch:
                    await self._refresh()
        if kid in self._keys:
            return self._keys[kid]
        if self._fetched_at is None:
            raise KeysUnavailable
        raise UnknownKey

    def _stale(self) -> bool:
        return (
            self._fetched_at is not None and self._clock() - self._fetched_at > MAX_KEY_AGE_SECONDS
        )

    async def _refresh(self) -> None:
        started = self._clock()
        try:
            metadata = await self._fetch(metadata_url(self._issuer))
            keys = signing_keys(await self._fetch(jwks_uri(metadata, self._issuer)))
        except Exception as exc:
            self._next_fetch = started + RETRY_AFTER_FAILURE_SECONDS
            log.warning("fetching the token issuer's keys failed: %s", type(exc).__name__)
            return
        self._keys, self._fetched_at = keys, started
        self._next_fetch = started + self._min_refresh
