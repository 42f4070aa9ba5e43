"""The storage clients, created once per process and reused by every request.

Async SDK clients hold connection pools; creating them per request would pay TLS and connection
set-up every time. In Azure the service authenticates with its managed identity
(``DefaultAzureCredential``); the connection strings exist only for the local emulators.
Retries are short: a request that cannot reach storage answers 503 with Retry-After quickly,
and the client retries, rather than holding the connection for a minute.
"""

from __future__ import annotations

import asyncio
import urllib.request
from dataclasses import dataclass
from typing import Any

from azure.core.settings import settings as sdk_settings
from azure.identity.aio import DefaultAzureCredential
from azure.storage.blob.aio import BlobServiceClient

from shared.config import Settings, settings
from shared.storage import calls
from shared.storage.blob_store import BlobStore
from shared.uid_index.cosmos.index import CosmosIndex, open_index
from shared.uid_index.registry_reads import RegistryReads

_BLOB_OPTIONS: dict[str, Any] = {
    "retry_total": 2,
    "initial_backoff": 0.5,
    "increment_base": 2,
    "connection_timeout": 5,
    "read_timeout": 120,
}


def _proxy_settings() -> dict[str, Any]:
    """Read proxy settings from the environment per request only if it has any.

    With environment settings on, aiohttp looks up the proxy variables and parses ``~/.netrc``
    in a worker thread for every request: two thread hops per blob or index call, a measurable
    share of a store's time (see docs/performance.md). Without proxy variables there is nothing
    to find.
    """
    return {"use_env_settings": bool(urllib.request.getproxies())}


def _settle_sdk_tracing() -> None:
    """Fix azure-core's tracing settings at what the environment says now.

    Unset in code, each setting is looked up in the environment on every call, several times per
    request (``DistributedTracingPolicy`` and the SDKs' ``distributed_trace`` decorators): about
    1% of a retrieve's host CPU. Set once, they are read from memory, with the same outcome.
    """
    sdk_settings.tracing_implementation = sdk_settings.tracing_implementation()
    sdk_settings.tracing_enabled = sdk_settings.tracing_enabled()


@dataclass(frozen=True)
class Clients:
    blobs: BlobStore
    index: CosmosIndex
    """The index (``shared.uid_index.index.Index``); services see only that interface."""
    blob_service: BlobServiceClient
    registry_reads: RegistryReads
    """The extended query tag registry as store requests share its reads."""

    async def close(self) -> None:
        await self.blob_service.close()
        await self.index.close()


def make_clients(config: Settings) -> Clients:
    _settle_sdk_tracing()
    proxies = _proxy_settings()
    blob_options = _BLOB_OPTIONS | proxies | {"raw_request_hook": calls.hook(calls.BLOB)}
    credential: Any = None
    if not (config.blob_connection_string and config.cosmos_connection_string):
        credential = DefaultAzureCredential(
            managed_identity_client_id=config.managed_identity_client_id
        )
    if config.blob_connection_string:
        blob_service = BlobServiceClient.from_connection_string(
            config.blob_connection_string, **blob_options
        )
    else:
        blob_service = BlobServiceClient(
            str(config.blob_endpoint), credential=credential, **blob_options
        )
    container = blob_service.get_container_client(config.blob_container)
    index = open_index(config, credential, proxies, calls.hook(calls.INDEX))
    return Clients(BlobStore(container), index, blob_service, RegistryReads(index.registry))


_clients: Clients | None = None
_lock = asyncio.Lock()


async def clients() -> Clients:
    """The process-wide clients, made on first use."""
    global _clients
    if _clients is None:
        async with _lock:
            if _clients is None:
                _clients = make_clients(settings())
    return _clients
