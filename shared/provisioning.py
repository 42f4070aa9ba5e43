"""Creating the blob container and the index on the local emulators.

In Azure these are declared in Bicep (the service's identity has data-plane rights only); the
emulators start empty, so the local stack creates them before the service starts.
"""

from __future__ import annotations

import contextlib

from azure.core.exceptions import ResourceExistsError

from shared.clients import Clients


async def provision(clients: Clients) -> None:
    with contextlib.suppress(ResourceExistsError):
        await clients.blobs.container.create_container()
    await clients.index.provision()


async def index_is_empty(clients: Clients) -> bool:
    return await clients.index.is_empty()
