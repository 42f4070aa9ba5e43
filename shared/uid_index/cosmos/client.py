"""Opening the Cosmos DB index from the service's settings.

Retries are short: a request that cannot reach the index answers 503 with Retry-After quickly,
and the client retries, rather than holding the connection for a minute.
"""

from __future__ import annotations

from typing import Any

from azure.core.pipeline.transport import AioHttpTransport
from azure.cosmos.aio import CosmosClient

from shared.config import Settings
from shared.uid_index.cosmos.index import CosmosIndex

_COSMOS_OPTIONS: dict[str, Any] = {
    "retry_total": 2,
    "retry_backoff_max": 2,
    "retry_connect": 2,
    "connection_timeout": 5,
}


def open_index(config: Settings, credential: Any, proxies: dict[str, Any]) -> CosmosIndex:
    """The index container of ``config``; ``credential`` when there is no connection string."""
    # The Blob SDK builds its transport from the client's options; Cosmos needs one given.
    options = _COSMOS_OPTIONS | {"transport": AioHttpTransport(**proxies)}
    if config.cosmos_connection_string:
        client = CosmosClient.from_connection_string(config.cosmos_connection_string, **options)
    else:
        client = CosmosClient(str(config.cosmos_endpoint), credential=credential, **options)
    return CosmosIndex(client, config.cosmos_database, config.cosmos_container)
