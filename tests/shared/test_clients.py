"""The process-wide storage clients: SDK settings fixed once when they are made."""

from __future__ import annotations

import pytest
from azure.core.settings import settings as sdk_settings

from shared import clients


def test_sdk_tracing_settings_are_read_from_the_environment_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AZURE_TRACING_ENABLED", raising=False)
    monkeypatch.delenv("AZURE_SDK_TRACING_IMPLEMENTATION", raising=False)
    try:
        clients._settle_sdk_tracing()
        assert sdk_settings.tracing_enabled() is False
        # Read from memory from now on: a later change of the environment is not looked up.
        monkeypatch.setenv("AZURE_TRACING_ENABLED", "true")
        assert sdk_settings.tracing_enabled() is False
    finally:
        sdk_settings.tracing_enabled.unset_value()
        sdk_settings.tracing_implementation.unset_value()
