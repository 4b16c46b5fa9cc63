"""A small REST client for gap fills: API-key header, request budget, retry on 429 and 5xx."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from connectors.errors import FatalSessionError, RetryableSessionError

log = logging.getLogger(__name__)
RETRIES = 6


class RestClient:
    """GETs JSON from one provider within `requests_per_min`."""

    def __init__(self, base_url: str, headers: dict[str, str], requests_per_min: int) -> None:
        self.base_url = base_url
        self.headers = headers
        self.interval_s = 60.0 / requests_per_min
        self._next_slot = 0.0
        self._session: aiohttp.ClientSession | None = None

    async def get(self, path: str, params: dict[str, Any]) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self.headers, timeout=aiohttp.ClientTimeout(total=30)
            )
        query = {k: str(v) for k, v in params.items() if v is not None}
        for attempt in range(RETRIES):
            await self._wait_for_slot()
            try:
                async with self._session.get(self.base_url + path, params=query) as response:
                    if response.status == 200:
                        return await response.json()
                    body = await response.text()
                    if response.status in (401, 403):
                        raise FatalSessionError(f"{path}: HTTP {response.status} (API key refused)")
                    if response.status == 429 or response.status >= 500:
                        wait = float(response.headers.get("Retry-After", 2**attempt))
                        log.warning("%s: HTTP %d, retrying in %.1fs", path, response.status, wait)
                        await asyncio.sleep(wait)
                        continue
                    raise RetryableSessionError(f"{path}: HTTP {response.status}: {body[:200]}")
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("%s: %s, retrying", path, exc)
                await asyncio.sleep(min(10.0, 0.5 * 2**attempt))
        raise RetryableSessionError(f"{path}: no answer after {RETRIES} attempts")

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
