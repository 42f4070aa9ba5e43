"""Signing keys and tokens for the access-control tests, including deliberately forged ones."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

AUDIENCE = "api://dicomweb-test"
READER = "DicomDataReader"
OWNER = "DicomDataOwner"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SigningKey:
    """A key pair as an issuer holds it: the private half signs, the JWK publishes the rest."""

    def __init__(self, kid: str, algorithm: str = "RS256") -> None:
        self.kid = kid
        self.algorithm = algorithm
        if algorithm.startswith("ES"):
            self.private: Any = ec.generate_private_key(ec.SECP256R1())
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        family = ECAlgorithm if self.algorithm.startswith("ES") else RSAAlgorithm
        jwk: dict[str, Any] = family.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        """`header` adds to or, with None, removes from the JWS header."""
        headers = {k: v for k, v in {"kid": self.kid, **header}.items() if v is not None}
        return jwt.encode(claims, self.private, algorithm=self.algorithm, headers=headers)


def claims(
    issuer: str,
    roles: list[str] | None = None,
    *,
    audience: str = AUDIENCE,
    lifetime: int = 600,
    not_before: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "sub": "test-caller",
        "roles": roles if roles is not None else [OWNER],
        **extra,
    }
    if not_before is not None:
        values["nbf"] = not_before
    return values


def unsigned(payload: dict[str, Any], kid: str) -> str:
    """alg=none: a token anyone can write."""
    header = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
    return f"{header}.{b64url(json.dumps(payload).encode())}."


def hmac_with_public_key(payload: dict[str, Any], key: SigningKey) -> str:
    """The classic confusion attack: HS256 keyed with the issuer's public key, which is public."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    body = f"{header}.{b64url(json.dumps(payload).encode())}"
    mac = hmac.new(key.public_pem(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{b64url(mac)}"


def tampered(token: str, **changes: Any) -> str:
    """The token with its payload changed and its original signature kept."""
    header, payload, signature = token.split(".")
    padded = payload + "=" * (-len(payload) % 4)
    values = json.loads(base64.urlsafe_b64decode(padded))
    values.update(changes)
    return f"{header}.{b64url(json.dumps(values).encode())}.{signature}"
