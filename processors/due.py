"""Which table keys need attention at a given stream time, without sweeping the table.

A timer that evaluates every key on every tick costs O(table) per tick and, with a large
table, starves the agents. Instead each stored state says when it next needs looking at
(a deadline, an expiry) and the timer pops only the keys that are due.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable


class DueIndex:
    """Keys by the stream time (ms) they are next due at: a heap with lazy deletion."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, bytes]] = []
        self._due: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self._due)

    def schedule(self, key: bytes, due: int | None) -> None:
        """Make `key` due at `due` (replacing what it was due at); None = never."""
        if due is None:
            self._due.pop(key, None)
            return
        if self._due.get(key) == due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, key))
        if len(self._heap) > 2 * len(self._due) + 1024:
            self._compact()  # superseded entries would otherwise pile up until they fall due

    def pop_due(self, now: int) -> list[bytes]:
        """Every key due at or before `now`, each once; they are no longer scheduled."""
        keys = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, key = heapq.heappop(heap)
            if self._due.get(key) == due:
                del self._due[key]
                keys.append(key)
        return keys

    def rebuild(self, entries: Iterable[tuple[bytes, int | None]]) -> None:
        """Start over from every key's due time (after a table was recovered)."""
        self._due = {key: due for key, due in entries if due is not None}
        self._compact()

    def _compact(self) -> None:
        self._heap = [(due, key) for key, due in self._due.items()]
        heapq.heapify(self._heap)
