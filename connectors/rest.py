"""A small REST client for gap fills: API-key header, request budget, the shared retry policy.

Every request waits for a slot of the feed's budget (`<FEED>_REST_REQUESTS_PER_MIN`). A 429 or
a retriable status (`backoff.is_retriable`) and connection errors are retried up to
`max_attempts` times with the feed's back-off (full jitter, `Retry-After` as a floor); 401/403
stop the connector; any other status is an `EndpointRefused` naming the URL setting.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from connectors.backoff import Backoff, is_auth_refused, is_retriable, parse_retry_after
from connectors.errors import EndpointRefused, FatalSessionError, RetryableSessionError

log = logging.getLogger(__name__)


class RestClient:
    """GETs JSON from one provider within `requests_per_min`."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        requests_per_min: int,
        backoff: Backoff,
        max_attempts: int = 6,
        url_setting: str = "REST_URL",
    ) -> None:
        self.base_url = base_url
        self.headers = headers
        self.interval_s = 60.0 / requests_per_min
        self.backoff = backoff
        self.max_attempts = max_attempts
        self.url_setting = url_setting
        self._next_slot = 0.0
        self._session: aiohttp.ClientSession | None = None

    async def get(self, path: str, params: dict[str, Any]) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self.headers, timeout=aiohttp.ClientTimeout(total=30)
            )
        query = {k: str(v) for k, v in params.items() if v is not None}
        for attempt in range(self.max_attempts):
            await self._wait_for_slot()
            retry_after: float | None = None
            try:
                async with self._session.get(self.base_url + path, params=query) as response:
                    if response.status == 200:
                        return await response.json()
                    body = await response.text()
                    status = response.status
                    if is_auth_refused(status):
                        raise FatalSessionError(f"{path}: HTTP {status} (API key refused)")
                    if not is_retriable(status):
                        raise EndpointRefused(
                            f"{path}: HTTP {status} ({body[:200]}); check {self.url_setting}",
                            status,
                            self.url_setting,
                        )
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    problem = f"HTTP {status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = type(exc).__name__
            if attempt + 1 == self.max_attempts:
                break
            wait = self.backoff.delay(attempt, retry_after_s=retry_after)
            log.warning("%s: %s, retrying in %.2fs", path, problem, wait)
            await asyncio.sleep(wait)
        raise RetryableSessionError(f"{path}: no answer after {self.max_attempts} attempts")

    async def _wait_for_slot(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._next_slot)
        self._next_slot = slot + self.interval_s
        if slot > now:
            await asyncio.sleep(slot - now)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
