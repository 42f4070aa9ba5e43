"""A token issuer for the local stack: one signing key on disk, its public half published the way
an OpenID Connect provider publishes its keys, and tokens minted with it by `python -m cli token`.

The service does not know this issuer is local: it discovers the keys from the metadata exactly as
it does Entra ID's, so `make run` with local tokens exercises the deployed validation code.
"""

import base64
import hashlib
import os
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from jwt.types import JWKDict
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ALGORITHM = "ES256"
METADATA_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/.well-known/jwks.json"
TOKEN_LIFETIME_SECONDS = 3600


def ensure_key(path: Path) -> None:
    """Make the signing key on first use, readable by its owner only."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # O_EXCL: when the host and the CLI race to make it, one key wins and both use it.
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)


class LocalIssuer:
    """The issuer at `url` (the local host's base URL) signing with the key at `key_path`."""

    def __init__(self, url: str, key_path: Path) -> None:
        ensure_key(key_path)
        self.url = url
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path} is not an EC private key")
        self._key = key
        public_der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        digest = hashlib.sha256(public_der).digest()[:12]
        self.kid = base64.urlsafe_b64encode(digest).decode("ascii")

    def metadata(self) -> dict[str, str | list[str]]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}{JWKS_PATH}",
            "id_token_signing_alg_values_supported": [ALGORITHM],
        }

    def jwks(self) -> dict[str, list[JWKDict]]:
        public = ECAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": ALGORITHM}]}

    def mint(self, audience: str, roles: list[str], lifetime: int = TOKEN_LIFETIME_SECONDS) -> str:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": audience,
            "sub": "local-developer",
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "roles": roles,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def routes(self) -> list[Route]:
        """The two documents a relying party reads, for the host to serve next to the functions."""

        async def metadata(_: Request) -> JSONResponse:
            return JSONResponse(self.metadata())

        async def jwks(_: Request) -> JSONResponse:
            return JSONResponse(self.jwks())

        return [
            Route(METADATA_PATH, metadata, methods=["GET"]),
            Route(JWKS_PATH, jwks, methods=["GET"]),
        ]
