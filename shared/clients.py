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

from azure.core.pipeline.transport import AioHttpTransport
from azure.cosmos.aio import ContainerProxy, CosmosClient
from azure.identity.aio import DefaultAzureCredential
from azure.storage.blob.aio import BlobServiceClient

from shared.blob_store import BlobStore
from shared.config import Settings, settings

_BLOB_OPTIONS: dict[str, Any] = {
    "retry_total": 2,
    "initial_backoff": 0.5,
    "increment_base": 2,
    "connection_timeout": 5,
    "read_timeout": 120,
}
_COSMOS_OPTIONS: dict[str, Any] = {
    "retry_total": 2,
    "retry_backoff_max": 2,
    "retry_connect": 2,
    "connection_timeout": 5,
}


def _proxy_settings() -> dict[str, Any]:
    """Read proxy settings from the environment per request only if it has any.

    With environment settings on, aiohttp looks up the proxy variables and parses ``~/.netrc``
    in a worker thread for every request: two thread hops per blob or index call, a measurable
    share of a store's time (see docs/performance.md). Without proxy variables there is nothing
    to find.
    """
    return {"use_env_settings": bool(urllib.request.getproxies())}


@dataclass(frozen=True)
class Clients:
    blobs: BlobStore
    index: ContainerProxy
    blob_service: BlobServiceClient
    cosmos: CosmosClient


def make_clients(config: Settings) -> Clients:
    proxies = _proxy_settings()
    # The Blob SDK builds its transport from the client's options; Cosmos needs one given.
    blob_options = _BLOB_OPTIONS | proxies
    cosmos_options = _COSMOS_OPTIONS | {"transport": AioHttpTransport(**proxies)}
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
    if config.cosmos_connection_string:
        cosmos = CosmosClient.from_connection_string(
            config.cosmos_connection_string, **cosmos_options
        )
    else:
        cosmos = CosmosClient(str(config.cosmos_endpoint), credential=credential, **cosmos_options)
    container = blob_service.get_container_client(config.blob_container)
    index = cosmos.get_database_client(config.cosmos_database).get_container_client(
        config.cosmos_container
    )
    return Clients(BlobStore(container), index, blob_service, cosmos)


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
