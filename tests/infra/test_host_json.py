"""host.json keeps URLs, which carry UIDs and query values, out of Application Insights."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import ROOT


def logging_settings() -> Any:
    return json.loads((ROOT / "host.json").read_text(encoding="utf-8"))["logging"]


def test_request_telemetry_with_urls_is_off() -> None:
    settings = logging_settings()
    # The ASP.NET Core request collector records the full URL, query string included.
    collection = settings["applicationInsights"]["httpAutoCollectionOptions"]
    assert collection["enableHttpTriggerExtendedInfoCollection"] is False
    # The per-invocation request telemetry of the function results records the path (UIDs).
    assert settings["logLevel"]["Host.Results"] == "None"
