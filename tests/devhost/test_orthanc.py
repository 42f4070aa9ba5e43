"""The throw-away Orthanc's configuration: reachable from loopback only, calling only what it is
given."""

from __future__ import annotations

from pathlib import Path

from devhost.orthanc import DICOMWEB_ROOT, PLUGIN, configuration


def test_loopback_only_no_dicom_server_storage_in_the_directory(tmp_path: Path) -> None:
    config = configuration(tmp_path, 8123, name="client", servers={})
    assert config["RemoteAccessAllowed"] is False
    assert config["DicomServerEnabled"] is False
    assert config["HttpPort"] == 8123
    for key in ("StorageDirectory", "IndexDirectory"):
        assert Path(str(config[key])).parent == tmp_path
    assert config["Plugins"] == [str(PLUGIN)]


def test_dicomweb_servers_are_those_given(tmp_path: Path) -> None:
    servers = {"ours": "http://127.0.0.1:7071/v1/"}
    config = configuration(tmp_path, 8123, name="client", servers=servers)
    assert config["DicomWeb"] == {
        "Enable": True,
        "Root": DICOMWEB_ROOT + "/",
        "Servers": {"ours": ["http://127.0.0.1:7071/v1/"]},
    }
