"""The index container's definition: partition key and indexing policy, in one place.

Both the local provisioning and the Bicep deployment read ``indexing-policy.json``, so the index
searched locally is the index deployed to Azure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PARTITION_KEY_PATH = "/pk"
POLICY_FILE = Path(__file__).with_name("indexing-policy.json")


def indexing_policy() -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(POLICY_FILE.read_text())
    return policy
