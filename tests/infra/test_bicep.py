"""Offline checks of the Bicep templates: they parse, and they agree with the code.

No Bicep compiler is available offline, so syntax is checked with the tree-sitter grammar, and
the settings and the index definition are compared with what the code reads and provisions.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tree_sitter_bicep
from tree_sitter import Language, Node, Parser

from devhost.workers import DEFAULT_PER_INSTANCE_CONCURRENCY, DEFAULT_WORKER_PROCESSES
from shared.config import SETTING_NAMES
from shared.uid_index.container import PARTITION_KEY_PATH, POLICY_FILE

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

# Settings that exist only to reach the local emulators; Azure uses endpoints and identity.
LOCAL_ONLY = {
    "DICOMWEB_BLOB_CONNECTION_STRING",
    "DICOMWEB_COSMOS_CONNECTION_STRING",
    # Read by the local host: in Azure, siteConfig.cors feeds the platform's CORS...
    "DICOMWEB_CORS_ORIGINS",
    # ...and tokens come from Entra ID, not from the local issuer's key on disk.
    "DICOMWEB_AUTH_LOCAL_KEY",
    # The local host reads request heads itself; in Azure the platform's front end does.
    "DICOMWEB_HEAD_TIMEOUT_SECONDS",
}
# Settings read by the Functions platform rather than by the service's code.
PLATFORM = {
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "PYTHON_ENABLE_INIT_INDEXING",
    "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT",
    "FUNCTIONS_WORKER_PROCESS_COUNT",
}


def parse(path: Path) -> Node:
    parser = Parser(Language(tree_sitter_bicep.language()))
    return parser.parse(path.read_bytes()).root_node


def test_there_are_templates() -> None:
    assert INFRA / "main.bicep" in BICEP_FILES
    assert len(BICEP_FILES) >= 5


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.name)
def test_template_parses(path: Path) -> None:
    root = parse(path)
    assert not root.has_error, f"{path.name} has a syntax error"


def test_parser_catches_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.bicep"
    broken.write_text("resource x 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: \n")
    assert parse(broken).has_error


def app_settings() -> set[str]:
    text = (INFRA / "modules" / "functionapp.bicep").read_text()
    block = text[text.index("resource settings") :]
    block = block[block.index("properties: {") : block.index("\n  }\n")]
    return set(re.findall(r"^\s+([A-Za-z_][A-Za-z0-9_]*):", block, re.MULTILINE))


def test_app_settings_are_exactly_what_the_code_reads() -> None:
    defined = app_settings()
    assert defined - PLATFORM == set(SETTING_NAMES) - LOCAL_ONLY
    assert defined >= PLATFORM


def test_code_reads_only_declared_settings() -> None:
    read: set[str] = set()
    for folder in ("shared", "functions"):
        for source in (ROOT / folder).rglob("*.py"):
            read |= set(
                re.findall(r"[\"'](DICOMWEB_[A-Z_]+|AZURE_CLIENT_ID)[\"']", source.read_text())
            )
    assert read <= set(SETTING_NAMES)


def test_cosmos_container_uses_the_code_s_index_definition() -> None:
    text = (INFRA / "modules" / "cosmos.bicep").read_text()
    loaded = re.search(r"loadJsonContent\('([^']+)'\)", text)
    assert loaded is not None
    assert (INFRA / "modules" / loaded.group(1)).resolve() == POLICY_FILE.resolve()
    assert f"paths: ['{PARTITION_KEY_PATH}']" in text


def test_storage_is_keyless_and_private() -> None:
    text = (INFRA / "modules" / "storage.bicep").read_text()
    for setting in (
        "allowSharedKeyAccess: false",
        "allowBlobPublicAccess: false",
        "minimumTlsVersion: 'TLS1_2'",
        "deleteRetentionPolicy: { enabled: true",
        "tierToCool",
    ):
        assert setting in text
    cosmos = (INFRA / "modules" / "cosmos.bicep").read_text()
    assert "disableLocalAuth: true" in cosmos and "EnableServerless" in cosmos


def _default(name: str) -> int:
    found = re.search(rf"^param {name} int = (\d+)$", (INFRA / "main.bicep").read_text(), re.M)
    assert found is not None, name
    return int(found.group(1))


def test_the_local_host_runs_as_the_template_deploys() -> None:
    assert _default("workerProcessCount") == DEFAULT_WORKER_PROCESSES
    assert _default("httpPerInstanceConcurrency") == DEFAULT_PER_INSTANCE_CONCURRENCY
    text = (INFRA / "modules" / "functionapp.bicep").read_text()
    assert "perInstanceConcurrency: httpPerInstanceConcurrency" in text
