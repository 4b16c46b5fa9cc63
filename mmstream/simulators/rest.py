"""REST plumbing shared by both simulated providers: key check, rate limit, JSON errors."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from aiohttp import web


class RateLimiter:
    """At most `per_minute` requests per key in any 60 s window."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.calls: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        now = self.clock()
        calls = self.calls.setdefault(key, deque())
        while calls and now - calls[0] >= 60:
            calls.popleft()
        if len(calls) >= self.per_minute:
            return False
        calls.append(now)
        return True


def json_error(status: int, body: dict[str, str], **headers: str) -> web.Response:
    return web.json_response(body, status=status, headers=headers or None)


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise web.HTTPUnprocessableEntity(
            text=f'{{"detail": "{name} must be an integer in [{low}, {high}]"}}',
            content_type="application/json",
        )
    return int(raw)
