"""The import command's arguments: what it refuses before sending anything."""

from __future__ import annotations

from pathlib import Path

import pytest

import cli.__main__ as cli_main
from cli.local_auth import local_base_url


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give the server's base URL with --url BASE, or --local"),
        (["--url", "ftp://host/dicom-web"], "--url must be an http:// or https:// URL"),
        (["--url", "http://"], "--url must be an http:// or https:// URL"),
    ],
)
def test_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert cli_main.main(["import", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


def test_local_and_a_token_exclude_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main.main(["--local", "import", str(tmp_path), "--token", "t"]) == 2
    assert "--local and --token exclude each other" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:  # both after the command: argparse's own check
        cli_main.main(["import", str(tmp_path), "--local", "--token", "t"])
    assert exited.value.code == 2


def test_a_missing_path_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    assert cli_main.main(["import", str(missing), "--url", "http://127.0.0.1:9/v2"]) == 2
    assert f"no such file or folder: {missing}" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--batch", "--concurrency"])
def test_counts_must_be_positive(tmp_path: Path, flag: str) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_main.main(["import", str(tmp_path), "--url", "http://127.0.0.1:9/v2", flag, "0"])
    assert exited.value.code == 2


def test_nothing_to_import_sends_nothing_and_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 9 (discard) has no server here: any request would fail the import.
    assert cli_main.main(["--local", "import", str(tmp_path), "--url", "http://127.0.0.1:9"]) == 0
    assert capsys.readouterr().out.startswith("0 stored, 0 already present, 0 failed, 0 skipped")


def test_local_means_the_v2_root_of_make_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICOMWEB_PORT", "7123")
    assert local_base_url() == "http://127.0.0.1:7123/v2"
