"""REST plumbing shared by both simulated providers: key check, rate limit, JSON errors."""

from __future__ import annotations

import time
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

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


class TimeOrderedRows:
    """The latest row per id, kept in (updatedAt, id) order: a listing from a date costs what it
    returns, not the size of the whole history (a gap fill during a long run must stay cheap)."""

    def __init__(self, id_field: str) -> None:
        self.id_field = id_field
        self.rows: dict[int, dict[str, Any]] = {}
        self.order: list[tuple[str, int]] = []

    def put(self, row: dict[str, Any]) -> None:
        row_id = int(row[self.id_field])
        previous = self.rows.get(row_id)
        if previous is not None:
            del self.order[bisect_left(self.order, (previous["updatedAt"], row_id))]
        self.rows[row_id] = row
        insort(self.order, (row["updatedAt"], row_id))

    def forget_before(self, cutoff: str) -> None:
        """Drop the rows last updated before `cutoff` (ISO text): a bounded history."""
        stop = bisect_left(self.order, (cutoff,))
        for _, row_id in self.order[:stop]:
            del self.rows[row_id]
        del self.order[:stop]

    def between(self, since: str | None, until: str | None) -> Iterator[dict[str, Any]]:
        """Rows with `since` <= updatedAt <= `until` (ISO text, sortable), oldest first."""
        start = 0 if since is None else bisect_left(self.order, (since,))
        for index in range(start, len(self.order)):
            updated, row_id = self.order[index]
            if until is not None and updated > until:
                return
            yield self.rows[row_id]
