"""Sending fuzzed requests and keeping score: every answer below 500, every body read whole.

A 503 with Retry-After is the one 5xx the service may give on purpose (a storage dependency did
not answer); it is counted apart, so a run shows whether it happened. A connection cut in the
middle of an answer counts as a 5xx too: it is how a failure after the status line shows.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import httpx

from tests.data.builders import with_fresh_uids
from tests.fuzz.corpus import NAMES
from tests.fuzz.requests import Pool, Request

BROKEN = 599
"""The status recorded for an answer the connection cut short."""


@dataclass
class Tally:
    sent: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    unavailable: int = 0
    server_errors: list[str] = field(default_factory=list)
    failed: list[Request] = field(default_factory=list)

    def record(self, request: Request, status: int, retry_after: bool) -> None:
        self.sent[request.kind] += 1
        self.statuses.setdefault(request.kind, Counter())[status] += 1
        if status == 503 and retry_after:
            self.unavailable += 1
        elif status >= 500:
            self.server_errors.append(f"{status} {request.method} {request.kind}")
            self.failed.append(request)

    def report(self) -> str:
        lines = [f"requests sent: {sum(self.sent.values())} ({_counts(self.sent)})"]
        for kind, statuses in sorted(self.statuses.items()):
            lines.append(f"  {kind}: {_counts(Counter(dict(sorted(statuses.items()))))}")
        lines.append(f"5xx answers: {len(self.server_errors)}")
        lines.append(f"503 with Retry-After (a dependency unavailable): {self.unavailable}")
        return "\n".join(lines)


def _counts(counter: Counter[str] | Counter[int]) -> str:
    return ", ".join(f"{key}: {count}" for key, count in counter.items())


def send(client: httpx.Client, request: Request, tally: Tally, pool: Pool) -> httpx.Response | None:
    """Send one request and record its status; None when the answer was cut short."""
    try:
        response = client.request(
            request.method,
            request.path,
            params=request.params,
            # Bytes: a client may send any octets (UTF-8 here), not only ASCII.
            headers={name: value.encode() for name, value in request.headers},
            content=request.body,
        )
    except httpx.RemoteProtocolError:
        tally.record(request, BROKEN, retry_after=False)
        return None
    tally.record(request, response.status_code, "retry-after" in response.headers)
    if request.kind == "store" and response.status_code in (200, 202):
        for instance in stored_instances(response):
            pool.add(instance)
    return response


def acceptable(response: httpx.Response | None) -> bool:
    """Below 500, or 503 with Retry-After."""
    if response is None:
        return False
    status = response.status_code
    return status < 500 or (status == 503 and "retry-after" in response.headers)


def stored_instances(response: httpx.Response) -> list[tuple[str, str, str]]:
    """The (study, series, instance) of each instance a store response says it stored."""
    try:
        items = response.json().get("00081199", {}).get("Value", [])
    except (json.JSONDecodeError, AttributeError):
        return []
    found = []
    for item in items:
        url = item.get("00081190", {}).get("Value", [""])[0]
        parts = url.split("/")
        if len(parts) >= 6 and parts[-6] == "studies":
            found.append((parts[-5], parts[-3], parts[-1]))
    return found


def seed(client: httpx.Client, pool: Pool) -> None:
    """Store each corpus file once, undamaged, so that retrieves have real targets."""
    for name in NAMES:
        data, _ = with_fresh_uids(name)
        response = client.post(
            "/v2/studies", content=data, headers={"content-type": "application/dicom"}
        )
        response.raise_for_status()
        for instance in stored_instances(response):
            pool.add(instance)
