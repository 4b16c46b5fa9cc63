"""Bounded memory of what was published, per entity: the basis of dedup, backfill and gaps.

No single bad record can poison an entity. A time further ahead of its arrival than the allowed
clock skew is published (it passed the edge window) but does not become the entity's
"published" time, so later genuine updates are not taken for older ones. A sequence number
further than `max_jump` from the last one is published but does not advance the game's
sequence; a second far number that follows on from the first confirms a re-numbering.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

# Estimates of CPython's memory, calibrated with bench/bench_state_memory.py (README)
ENTRY_OVERHEAD = 350  # one entry's key tuple, LRU link, dataclass, digest and payload dict
FIELD_OVERHEAD = 40  # one field's slot in the payload dict (names are shared)
MAX_VALUE_BYTES = 256  # larger values are remembered by their digest


def fingerprint(*parts: Any) -> bytes:
    """A 16-byte digest of a state: enough to tell repeats apart, small enough to keep 100k."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@dataclass(frozen=True)
class Digest:
    """A field value too large to remember whole: equal values have equal digests."""

    value: bytes


def value_size(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 0  # shared objects
    if isinstance(value, str | bytes):
        return 49 + len(value)
    if isinstance(value, dict | list):
        return 64 + 2 * len(json.dumps(value, default=str))
    return 32


def compact(payload: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The payload as remembered (large values as digests) and its estimated size in bytes."""
    kept: dict[str, Any] = {}
    size = ENTRY_OVERHEAD
    for name, value in payload.items():
        length = value_size(value)
        if length > MAX_VALUE_BYTES:
            kept[name] = Digest(fingerprint(value))
            length = 90  # the Digest and its 16 bytes
        else:
            kept[name] = value
        size += FIELD_OVERHEAD + length
    return kept, size


@dataclass
class Published:
    fingerprint: bytes
    updated_ms: int | None
    payload: dict[str, Any]
    size: int


class PublishedState:
    """The last published state of each entity, bounded by count and by bytes (LRU)."""

    def __init__(
        self,
        capacity: int = 100_000,
        max_bytes: int = 256 * 2**20,
        max_future_skew_ms: int = 300_000,
    ) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.max_future_skew_ms = max_future_skew_ms
        self.entries: OrderedDict[tuple[str, str], Published] = OrderedDict()
        self.bytes = 0

    def get(self, kind: str, entity: str) -> Published | None:
        return self.entries.get((kind, entity))

    def plausible(self, updated_ms: int | None, received_ms: int | None) -> bool:
        """Whether a time may order the entity: not further ahead of its arrival than the skew."""
        return (
            updated_ms is None
            or received_ms is None
            or updated_ms <= received_ms + self.max_future_skew_ms
        )

    def remember(
        self,
        kind: str,
        entity: str,
        print_: bytes,
        updated_ms: int | None,
        payload: dict[str, Any],
        received_ms: int | None = None,
    ) -> bool:
        """Record a published state; False if its time was an outlier and was not taken."""
        key = (kind, entity)
        previous = self.entries.pop(key, None)
        if previous is not None:
            self.bytes -= previous.size
        trusted = self.plausible(updated_ms, received_ms)
        if not trusted:
            updated_ms = previous.updated_ms if previous is not None else None
        kept, size = compact(payload)
        self.entries[key] = Published(print_, updated_ms, kept, size)
        self.bytes += size
        while len(self.entries) > self.capacity or (
            self.bytes > self.max_bytes and len(self.entries) > 1
        ):
            _, evicted = self.entries.popitem(last=False)
            self.bytes -= evicted.size
        return trusted

    def changed_from(
        self, kind: str, entity: str, current: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The published values that `current` changes (None for a value kept as a digest)."""
        previous = self.entries.get((kind, entity))
        if previous is None:
            return None
        now, _ = compact(current)
        return {
            name: None if isinstance(value, Digest) else value
            for name, value in previous.payload.items()
            if now.get(name) != value
        }

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


class SequenceVerdict(StrEnum):
    NEXT = "next"  # newer, within the jump bound: publish and advance
    OLD = "old"  # not newer (a repeat or a late event): drop
    OUTLIER = "outlier"  # far from the last: publish, do not advance
    RENUMBERED = "renumbered"  # a far number confirmed by the one before it: publish, advance


class SequenceCheck(NamedTuple):
    verdict: SequenceVerdict
    missing: int  # sequence numbers skipped (NEXT only)

    @property
    def publish(self) -> bool:
        return self.verdict is not SequenceVerdict.OLD


class SequenceTracker:
    """Per-key sequence numbers: drop what is not newer, report gaps, ignore outliers."""

    def __init__(self, max_jump: int = 100_000) -> None:
        self.max_jump = max_jump
        self.last: dict[str, int] = {}
        self.candidate: dict[str, int] = {}  # a far number that a follower could confirm

    def check(self, key: str, sequence: int) -> SequenceCheck:
        previous = self.last.get(key)
        if previous is None:
            self.last[key] = sequence
            return SequenceCheck(SequenceVerdict.NEXT, 0)
        if abs(sequence - previous) <= self.max_jump:
            if sequence <= previous:
                return SequenceCheck(SequenceVerdict.OLD, 0)
            self.last[key] = sequence
            self.candidate.pop(key, None)
            return SequenceCheck(SequenceVerdict.NEXT, sequence - previous - 1)
        candidate = self.candidate.get(key)
        if candidate is not None and candidate < sequence <= candidate + self.max_jump:
            self.last[key] = sequence
            del self.candidate[key]
            return SequenceCheck(SequenceVerdict.RENUMBERED, 0)
        self.candidate[key] = sequence
        return SequenceCheck(SequenceVerdict.OUTLIER, 0)
