"""Sending one batch as a STOW-RS request, with retries, down to a result per instance.

Retries are safe: an instance that an earlier attempt stored is answered 45070 (already stored)
the next time, which the import counts as present, so a retried batch converges instead of
duplicating. A batch that still fails, or fails in a way a retry cannot mend (400, 401, 403, 413,
415, ...), marks every one of its instances failed with the HTTP status.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable

import httpx

from cli.batching import Batch
from cli.retry import RETRY_STATUSES, RetryPolicy, parse_retry_after
from cli.sources import Outcome
from cli.stow_body import SourceError, StowBody
from cli.stow_results import InstanceResult, match_results, parse_stow_response
from shared.uid_index.index import BEING_CREATED

DICOM_JSON = "application/dicom+json"
# Statuses whose body is a STOW response dataset (PS3.18 §10.5.3.1).
ANSWERED = frozenset({200, 202, 409})
# How much of an error body the report quotes.
MAX_DETAIL = 200

Sleep = Callable[[float], Awaitable[None]]


def _detail(response: httpx.Response) -> str:
    """The first line of a short text answer, which names the problem on most servers."""
    if not response.headers.get("content-type", "").startswith(("text/", "application/json")):
        return ""
    text = response.text.strip().splitlines()
    return text[0][:MAX_DETAIL] if text else ""


def _failed_batch(batch: Batch, reason: str) -> list[InstanceResult]:
    return [InstanceResult(f.sop_instance_uid, Outcome.FAILED, reason) for f in batch]


class StowClient:
    """Stores batches at ``{base_url}/studies`` through one shared HTTP client."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        policy: RetryPolicy | None = None,
        *,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.http = http
        self.url = base_url.rstrip("/") + "/studies"
        self.policy = policy or RetryPolicy()
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.retries = 0

    async def store(self, batch: Batch) -> list[InstanceResult]:
        """One result per file of ``batch``, in its order.

        Instances refused because another request is storing them at that moment (two copies
        of one file in different batches) are sent again after a back-off: the retry then finds
        them stored (45070, already present) or stores them if the other request failed.
        """
        results = await self._send(batch)
        for retry in range(1, self.policy.attempts):
            busy = [i for i, result in enumerate(results) if result.code == BEING_CREATED]
            if not busy:
                break
            await self._wait(retry + 1, None)
            again = await self._send([batch[i] for i in busy])
            for i, result in zip(busy, again, strict=True):
                results[i] = result
        return results

    async def _send(self, batch: Batch) -> list[InstanceResult]:
        """One request for ``batch``, repeated while the server is busy or unreachable."""
        body = StowBody(batch)
        headers = {
            "Accept": DICOM_JSON,
            "Content-Type": body.content_type,
            "Content-Length": str(await body.length()),
        }
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.policy.attempts
            try:
                response = await self.http.post(self.url, content=body.chunks(), headers=headers)
            except SourceError as exc:
                return _failed_batch(batch, str(exc))
            except httpx.TransportError as exc:
                if last:
                    reason = f"no answer after {attempt} attempts ({type(exc).__name__})"
                    return _failed_batch(batch, reason)
                await self._wait(attempt, None)
                continue
            if response.status_code in ANSWERED:
                return self._results(batch, response)
            if response.status_code in RETRY_STATUSES and not last:
                await self._wait(attempt, parse_retry_after(response.headers.get("retry-after")))
                continue
            reason = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
            detail = _detail(response)
            if response.status_code in RETRY_STATUSES:
                reason += f" after {attempt} attempts"
            return _failed_batch(batch, f"{reason}: {detail}" if detail else reason)

    async def _wait(self, attempt: int, retry_after: float | None) -> None:
        self.retries += 1
        await self.sleep(self.policy.delay(attempt, retry_after, self.rng))

    @staticmethod
    def _results(batch: Batch, response: httpx.Response) -> list[InstanceResult]:
        try:
            dataset = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            dataset = None
        uids = [file.sop_instance_uid for file in batch]
        return match_results(uids, parse_stow_response(dataset), response.status_code)
