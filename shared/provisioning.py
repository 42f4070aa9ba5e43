"""Creating the blob container and the Cosmos database and container on the local emulators.

In Azure these are declared in Bicep (the service's identity has data-plane rights only); the
emulators start empty, so the local stack creates them before the service starts.
"""

from __future__ import annotations

import contextlib

from azure.core.exceptions import ResourceExistsError
from azure.cosmos import PartitionKey

from shared.clients import Clients
from shared.config import Settings
from shared.uid_index.container import PARTITION_KEY_PATH, indexing_policy


async def provision(clients: Clients, config: Settings) -> None:
    with contextlib.suppress(ResourceExistsError):
        await clients.blobs.container.create_container()
    database = await clients.cosmos.create_database_if_not_exists(config.cosmos_database)
    await database.create_container_if_not_exists(
        id=config.cosmos_container,
        partition_key=PartitionKey(path=PARTITION_KEY_PATH),
        indexing_policy=indexing_policy(),
    )


async def index_is_empty(clients: Clients) -> bool:
    async for _ in clients.index.query_items("SELECT TOP 1 c.id FROM c", max_item_count=1):
        return False
    return True
