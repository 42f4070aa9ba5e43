"""Ports of the local stack and the service settings that point the function app at it.

The settings are built in one place so that `make run`, the preparation step and the tests all
talk to the emulators with exactly the same connection strings.
"""

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"

# Published development credentials of the emulators, the same in every installation.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
COSMOS_EMULATOR_KEY = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)

# Set (to 1, on, true or yes) to run `make run` with tokens from the local issuer instead of no
# access control at all.
LOCAL_AUTH_VARIABLE = "DICOMWEB_LOCAL_AUTH"
# What tokens of the local issuer are for.
LOCAL_AUDIENCE = "api://dicomweb-local"

# NCRONTAB schedule of the background sweep on the local stack.
LOCAL_SWEEP_SCHEDULE = "0 */1 * * * *"

# Environment variables that move the ports of `python -m devhost run`.
PORT_VARIABLES = {
    "host": "DICOMWEB_PORT",
    "azurite_blob": "AZURITE_BLOB_PORT",
    "cosmos": "COSMOS_EMULATOR_PORT",
}


@dataclass(frozen=True)
class Ports:
    """TCP ports on 127.0.0.1 of the Functions host, Azurite's blob service and Cosmos."""

    host: int = 7071
    azurite_blob: int = 10000
    cosmos: int = 8081

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Ports":
        """Defaults overridden by DICOMWEB_PORT, AZURITE_BLOB_PORT and COSMOS_EMULATOR_PORT."""
        defaults = cls()
        values: dict[str, int] = {}
        for field, variable in PORT_VARIABLES.items():
            raw = environ.get(variable, "").strip()
            if not raw:
                values[field] = getattr(defaults, field)
                continue
            try:
                values[field] = int(raw)
            except ValueError:
                raise ValueError(f"{variable}={raw!r} is not a port number") from None
        return cls(**values)

    @classmethod
    def free(cls) -> "Ports":
        """Three ports the kernel reports unused, so parallel test sessions do not collide.

        All three sockets stay bound until every port is chosen, so the kernel cannot hand out
        the same port twice.
        """
        sockets = [socket.socket() for _ in PORT_VARIABLES]
        try:
            for sock in sockets:
                sock.bind((LOOPBACK, 0))
            host, azurite_blob, cosmos = (sock.getsockname()[1] for sock in sockets)
        finally:
            for sock in sockets:
                sock.close()
        return cls(host=host, azurite_blob=azurite_blob, cosmos=cosmos)


def base_url(ports: Ports) -> str:
    """Address of the local Functions host."""
    return f"http://{LOOPBACK}:{ports.host}"


def service_env(ports: Ports) -> dict[str, str]:
    """The function app's settings for the local emulators, as environment variables."""
    return {
        "DICOMWEB_BLOB_CONNECTION_STRING": (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_ACCOUNT_KEY};"
            f"BlobEndpoint=http://{LOOPBACK}:{ports.azurite_blob}/{AZURITE_ACCOUNT};"
        ),
        "DICOMWEB_COSMOS_CONNECTION_STRING": (
            f"AccountEndpoint=https://{LOOPBACK}:{ports.cosmos}/;AccountKey={COSMOS_EMULATOR_KEY};"
        ),
        "DICOMWEB_BASE_URL": base_url(ports),
        "DICOMWEB_AUTH_MODE": "off",
        "DICOMWEB_DATA_PARTITIONS": "true",
        # Locally the sweep runs every minute; Azure's default is every five.
        "DICOMWEB_SWEEP_SCHEDULE": LOCAL_SWEEP_SCHEDULE,
    }


def local_auth_requested(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get(LOCAL_AUTH_VARIABLE, "").strip().lower() in ("1", "on", "true", "yes")


def local_issuer_key(data_dir: Path) -> Path:
    """Where the local issuer's signing key is kept (made on first use, never committed)."""
    return data_dir / "auth" / "local-issuer-key.pem"


def local_auth_env(ports: Ports, data_dir: Path) -> dict[str, str]:
    """Settings that turn access control on with the local host as the token issuer.

    The service validates these tokens exactly as it validates Entra ID ones: it discovers the
    issuer's keys from the metadata the host publishes at its own base URL.
    """
    return {
        "DICOMWEB_AUTH_MODE": "oidc",
        "DICOMWEB_AUTH_ISSUER": base_url(ports),
        "DICOMWEB_AUTH_AUDIENCE": LOCAL_AUDIENCE,
        "DICOMWEB_AUTH_LOCAL_KEY": str(local_issuer_key(data_dir)),
    }
