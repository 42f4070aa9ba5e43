"""Session fixtures: one local stack (Azurite, the Cosmos DB emulator, the local Functions host)
on free ports in a temporary directory, shared by every integration test."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from devhost.stack import LocalStack
from shared.clients import Clients, make_clients
from shared.config import load_settings

ROOT = Path(__file__).resolve().parents[1]

# Small enough that the size-limit test stays cheap, large enough for every corpus request.
MAX_REQUEST_BYTES = 96 * 1024 * 1024


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    data_dir = tmp_path_factory.mktemp("stack")
    local = LocalStack(ROOT, data_dir)
    local.env["DICOMWEB_MAX_REQUEST_BYTES"] = str(MAX_REQUEST_BYTES)
    with local as running:
        yield running


@pytest.fixture(scope="session")
def base_url(stack: LocalStack) -> str:
    return stack.base_url


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        yield client


@contextlib.asynccontextmanager
async def clients_of(stack: LocalStack) -> AsyncIterator[Clients]:
    """SDK clients for a stack's emulators, made from the same settings the service reads."""
    saved = dict(os.environ)
    os.environ.update(stack.env)
    try:
        clients = make_clients(load_settings())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        yield clients
    finally:
        await clients.close()


@pytest.fixture
async def storage(stack: LocalStack) -> AsyncIterator[Clients]:
    """Direct SDK access to the emulators, to check what the service wrote."""
    async with clients_of(stack) as clients:
        yield clients
