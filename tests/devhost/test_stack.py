"""The local stack: real Azurite, Cosmos emulator and Functions host processes on free ports."""

import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from azure.core.exceptions import ServiceRequestError
from azure.cosmos import CosmosClient, PartitionKey, exceptions
from azure.storage.blob import BlobServiceClient

from devhost import supervise
from devhost.children import StackError
from devhost.settings import COSMOS_EMULATOR_KEY, Ports, service_env
from devhost.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]

FUNCTION_APP = """
import os

import azure.functions as func
from azurefunctions.extensions.http.fastapi import JSONResponse, Request

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="settings/{name}", methods=["GET"])
async def setting(req: Request) -> JSONResponse:
    return JSONResponse({"value": os.environ.get(req.path_params["name"])})
"""

pytestmark = [
    pytest.mark.integration,
    # The Cosmos emulator's certificate is self-signed; azure-cosmos skips checks for 127.0.0.1.
    pytest.mark.filterwarnings("ignore:Unverified HTTPS request"),
]


@pytest.fixture(scope="module")
def app_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("app")
    (root / "function_app.py").write_text(FUNCTION_APP)
    (root / "host.json").write_text(json.dumps({"extensions": {"http": {"routePrefix": ""}}}))
    return root


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, app_root: Path) -> Iterator[LocalStack]:
    started = time.monotonic()
    local = LocalStack(ROOT, tmp_path_factory.mktemp("stack"), app_root=app_root)
    with local.start(services=("azurite", "cosmos", "host")):
        print(f"stack started in {time.monotonic() - started:.2f} s")
        yield local


def blob_service(stack: LocalStack) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(stack.env["DICOMWEB_BLOB_CONNECTION_STRING"])


def cosmos_client(stack: LocalStack) -> CosmosClient:
    return CosmosClient(stack.cosmos_endpoint, COSMOS_EMULATOR_KEY)


def test_settings_point_at_the_stack(stack: LocalStack) -> None:
    assert stack.env == service_env(stack.ports)
    assert (
        stack.env["DICOMWEB_BASE_URL"] == stack.base_url == f"http://127.0.0.1:{stack.ports.host}"
    )
    assert f"127.0.0.1:{stack.ports.cosmos}" in stack.env["DICOMWEB_COSMOS_CONNECTION_STRING"]


def test_azurite_stores_blobs(stack: LocalStack) -> None:
    container = blob_service(stack).get_container_client(f"c{uuid.uuid4().hex}")
    container.create_container()
    container.upload_blob("instance.dcm", b"DICM" * 1000)
    assert container.download_blob("instance.dcm").readall() == b"DICM" * 1000


def test_cosmos_emulator_answers_azure_cosmos(stack: LocalStack) -> None:
    database = cosmos_client(stack).create_database_if_not_exists("devhost-test")
    container = database.create_container_if_not_exists(
        f"c{uuid.uuid4().hex}", partition_key=PartitionKey(path="/study")
    )
    container.upsert_item({"id": "a", "study": "1.2", "modality": "CT"})
    container.upsert_item({"id": "b", "study": "1.2", "modality": "MR"})
    container.upsert_item({"id": "c", "study": "3.4", "modality": "MR"})
    found = container.query_items(
        "SELECT c.id FROM c WHERE c.modality = @m",
        parameters=[{"name": "@m", "value": "MR"}],
        partition_key="1.2",
    )
    # Scoped to the partition by the partition key alone, as in Cosmos DB.
    assert [item["id"] for item in found] == ["b"]
    with pytest.raises(exceptions.CosmosResourceNotFoundError):
        container.read_item("missing", partition_key="1.2")


def test_cosmos_emulator_runs_transactional_batches(stack: LocalStack) -> None:
    database = cosmos_client(stack).create_database_if_not_exists("devhost-test")
    container = database.create_container_if_not_exists(
        f"c{uuid.uuid4().hex}", partition_key=PartitionKey(path="/study")
    )
    created = container.execute_item_batch(
        [("create", ({"id": "a", "study": "1"},)), ("create", ({"id": "b", "study": "1"},))],
        partition_key="1",
    )
    assert [result["statusCode"] for result in created] == [201, 201]
    # Operations that address an item by id need the batch's partition key.
    changed = container.execute_item_batch(
        [("upsert", ({"id": "a", "study": "1", "n": 1},)), ("delete", ("b",))], partition_key="1"
    )
    assert [result["statusCode"] for result in changed] == [200, 204]


def test_cosmos_emulator_batches_are_all_or_nothing(stack: LocalStack) -> None:
    """As in Cosmos DB: an operation that fails undoes those before it (the index writes a change
    and its change feed entry in one batch)."""
    database = cosmos_client(stack).create_database_if_not_exists("devhost-test")
    container = database.create_container_if_not_exists(
        f"c{uuid.uuid4().hex}", partition_key=PartitionKey(path="/study")
    )
    kept = container.create_item({"id": "a", "study": "1", "n": 0})
    container.create_item({"id": "taken", "study": "1"})
    with pytest.raises(exceptions.CosmosBatchOperationError) as failed:
        container.execute_item_batch(
            [
                (
                    "replace",
                    ("a", {"id": "a", "study": "1", "n": 1}),
                    {"if_match_etag": kept["_etag"]},
                ),
                ("create", ({"id": "new", "study": "1"},)),
                ("create", ({"id": "taken", "study": "1"},)),
            ],
            partition_key="1",
        )
    assert (failed.value.error_index, failed.value.status_code) == (2, 409)
    after = container.read_item("a", partition_key="1")
    assert (after["n"], after["_etag"]) == (0, kept["_etag"])
    with pytest.raises(exceptions.CosmosResourceNotFoundError):
        container.read_item("new", partition_key="1")


def test_cosmos_emulator_iterates_a_missing_array_as_empty(stack: LocalStack) -> None:
    """As Azure does: `IN` over a path that a document lacks yields nothing, for that document
    alone, instead of failing the whole query (the search's name and modality matches rely on it).
    """
    database = cosmos_client(stack).create_database_if_not_exists("devhost-test")
    container = database.create_container_if_not_exists(
        f"c{uuid.uuid4().hex}", partition_key=PartitionKey(path="/study")
    )
    container.create_item({"id": "named", "study": "1", "q": {"names": ["DOE"]}})
    container.create_item({"id": "bare", "study": "1"})
    found = container.query_items(
        "SELECT VALUE c.id FROM c WHERE c.study = '1' "
        "AND EXISTS(SELECT VALUE v FROM v IN c.q.names WHERE v = 'DOE')",
        partition_key="1",
    )
    assert list(found) == ["named"]


def test_host_serves_the_app_with_the_service_settings(stack: LocalStack) -> None:
    response = httpx.get(f"{stack.base_url}/settings/DICOMWEB_BASE_URL")
    assert response.json() == {"value": stack.base_url}


def test_azurite_restart_keeps_data(stack: LocalStack) -> None:
    container = blob_service(stack).get_container_client(f"c{uuid.uuid4().hex}")
    container.create_container()
    container.upload_blob("kept", b"still here")
    old_pid = stack.pids()["azurite"]
    stack.stop_azurite()
    with pytest.raises(ServiceRequestError):
        container.download_blob("kept", retry_total=0).readall()
    stack.start_azurite()
    assert stack.pids()["azurite"] != old_pid
    assert container.download_blob("kept").readall() == b"still here"


def test_azurite_stops_promptly_mid_request_and_keeps_data(stack: LocalStack) -> None:
    container = blob_service(stack).get_container_client(f"c{uuid.uuid4().hex}")
    container.create_container()
    container.upload_blob("kept", b"saved before the stop")
    with socket.create_connection(("127.0.0.1", stack.ports.azurite_blob)) as upload:
        upload.sendall(
            f"PUT /devstoreaccount1/{container.container_name}/half HTTP/1.1\r\n"
            "Host: 127.0.0.1\r\nx-ms-blob-type: BlockBlob\r\nContent-Length: 1000000\r\n\r\n"
            "half a body".encode()
        )
        started = time.monotonic()
        stack.stop_azurite()
        assert time.monotonic() - started < 3
    stack.start_azurite()
    assert container.download_blob("kept").readall() == b"saved before the stop"


def test_cosmos_restart_comes_back_empty(stack: LocalStack) -> None:
    cosmos_client(stack).create_database_if_not_exists("gone-after-restart")
    started = time.monotonic()
    stack.restart_cosmos()
    assert time.monotonic() - started < 5
    names = [database["id"] for database in cosmos_client(stack).list_databases()]
    assert "gone-after-restart" not in names


def _children() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


def test_stop_leaves_no_child_processes(tmp_path: Path) -> None:
    before = _children()
    stack = LocalStack(ROOT, tmp_path).start(services=("azurite", "cosmos"))
    pids = stack.pids()
    assert set(pids) == {"azurite", "cosmos"}
    assert set(pids.values()) <= _children() - before
    stack.stop()
    assert not any(psutil.pid_exists(pid) for pid in pids.values())
    assert _children() <= before
    assert stack.pids() == {}


def test_a_busy_port_is_named(tmp_path: Path) -> None:
    before = _children()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        ports = Ports(host=Ports.free().host, azurite_blob=busy, cosmos=Ports.free().cosmos)
        with pytest.raises(StackError, match=f"port {busy} \\(azurite, AZURITE_BLOB_PORT\\)"):
            LocalStack(ROOT, tmp_path, ports).start(services=("azurite", "cosmos"))
    assert _children() <= before


def test_a_child_dying_at_startup_is_reported_with_its_log(tmp_path: Path) -> None:
    app_root = tmp_path / "app"
    app_root.mkdir()
    (app_root / "function_app.py").write_text("raise RuntimeError('broken app')\n")
    (app_root / "host.json").write_text("{}")
    stack = LocalStack(ROOT, tmp_path / "data", app_root=app_root)
    before = _children()
    with pytest.raises(StackError, match=r"(?s)host ended with exit code 1.*broken app"):
        stack.start(services=("host",))
    assert _children() <= before


def test_second_run_says_it_is_already_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".local").mkdir()
    with (tmp_path / ".local" / "run.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write(f"{os.getpid()} http://127.0.0.1:7071\n")
        lock.flush()
        assert supervise.run(tmp_path) == 1
    message = capsys.readouterr().err
    assert f"already running (pid {os.getpid()}) at http://127.0.0.1:7071" in message


def test_ports_come_from_the_environment() -> None:
    assert Ports.from_env({}) == Ports(host=7071, azurite_blob=10000, cosmos=8081)
    assert Ports.from_env({"DICOMWEB_PORT": "8000", "COSMOS_EMULATOR_PORT": " 9000 "}) == Ports(
        host=8000, azurite_blob=10000, cosmos=9000
    )
    with pytest.raises(ValueError, match="AZURITE_BLOB_PORT='x' is not a port number"):
        Ports.from_env({"AZURITE_BLOB_PORT": "x"})
