"""Bounded memory of what was published, per entity: the basis of dedup, backfill and gaps."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


def fingerprint(*parts: Any) -> bytes:
    """A 16-byte digest of a state: enough to tell repeats apart, small enough to keep 100k."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


@dataclass
class Published:
    fingerprint: bytes
    updated_ms: int | None
    payload: dict[str, Any]


class PublishedState:
    """The last published state of each entity (LRU-bounded)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self.entries: OrderedDict[tuple[str, str], Published] = OrderedDict()

    def get(self, kind: str, entity: str) -> Published | None:
        return self.entries.get((kind, entity))

    def remember(
        self, kind: str, entity: str, print_: bytes, updated_ms: int | None, payload: dict[str, Any]
    ) -> None:
        key = (kind, entity)
        self.entries[key] = Published(print_, updated_ms, payload)
        self.entries.move_to_end(key)
        while len(self.entries) > self.capacity:
            self.entries.popitem(last=False)

    def is_repeat(self, kind: str, entity: str, print_: bytes) -> bool:
        previous = self.entries.get((kind, entity))
        return previous is not None and previous.fingerprint == print_

    def is_older(self, kind: str, entity: str, updated_ms: int | None) -> bool:
        """Whether a change stamped `updated_ms` predates what was published (a late arrival)."""
        published = self._published_ms(kind, entity)
        return published is not None and updated_ms is not None and updated_ms < published

    def is_stale(self, kind: str, entity: str, updated_ms: int | None) -> bool:
        """Whether a snapshot taken at `updated_ms` is not newer than what was published."""
        published = self._published_ms(kind, entity)
        return published is not None and updated_ms is not None and updated_ms <= published

    def _published_ms(self, kind: str, entity: str) -> int | None:
        previous = self.entries.get((kind, entity))
        return None if previous is None else previous.updated_ms


class SequenceTracker:
    """Per-key sequence numbers: drop what is not newer, report gaps."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    def check(self, key: str, sequence: int) -> tuple[bool, int]:
        """(publish?, missing) for an incoming sequence number."""
        previous = self.last.get(key)
        if previous is not None and sequence <= previous:
            return False, 0
        self.last[key] = sequence
        missing = sequence - previous - 1 if previous is not None else 0
        return True, missing
