"""Session fixtures: one local stack (Azurite, the Cosmos DB emulator, the local Functions host)
on free ports in a temporary directory, shared by every integration test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from devhost.stack import LocalStack, clients_of
from shared.clients import Clients

ROOT = Path(__file__).resolve().parents[1]

EVERY_SECOND = "*/1 * * * * *"
"""A sweep schedule for a stack whose tests wait on the sweep."""

# Small enough that the size-limit test stays cheap, large enough for every corpus request.
MAX_REQUEST_BYTES = 96 * 1024 * 1024


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    data_dir = tmp_path_factory.mktemp("stack")
    local = LocalStack(ROOT, data_dir)
    local.env["DICOMWEB_MAX_REQUEST_BYTES"] = str(MAX_REQUEST_BYTES)
    with local as running:
        yield running


def own_stack(
    tmp_path_factory: pytest.TempPathFactory, name: str, **env: str
) -> Iterator[LocalStack]:
    """A stack of a module's own, with settings the session's does not have. A module that
    needs one overrides ``stack`` with it; ``base_url``, ``http`` and ``storage`` follow."""
    local = LocalStack(ROOT, tmp_path_factory.mktemp(name))
    local.env.update(env)
    with local as running:
        yield running


@pytest.fixture(scope="module")
def base_url(stack: LocalStack) -> str:
    return stack.base_url


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=300) as client:
        yield client


@pytest.fixture
async def storage(stack: LocalStack) -> AsyncIterator[Clients]:
    """Direct SDK access to the emulators, to check what the service wrote."""
    async with clients_of(stack) as clients:
        yield clients


@contextlib.asynccontextmanager
async def client_and_storage(
    local: LocalStack,
) -> AsyncIterator[tuple[httpx.AsyncClient, Clients]]:
    """An HTTP client of a stack's host, and direct access to its emulators."""
    async with (
        httpx.AsyncClient(base_url=local.base_url, timeout=120) as client,
        clients_of(local) as clients,
    ):
        yield client, clients
