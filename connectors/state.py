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
import marshal
import struct
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

# CPython's memory per entry besides its key's and its record's characters: the LRU's dict slot
# and node, the key's and the record's object headers (bench/bench_state_memory.py, README)
ENTRY_OVERHEAD = 200
MAX_VALUE_BYTES = 256  # larger values are remembered by their digest
HEAD = struct.Struct("<16sqBI")  # fingerprint, published time, whether it has one, layout


def fingerprint(*parts: Any) -> bytes:
    """A 16-byte digest of a state: enough to tell repeats apart, small enough to keep 100k."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@dataclass(frozen=True)
class Digest:
    """A field value too large to remember whole: equal values have equal digests."""

    value: bytes


LARGE_CANDIDATES = (str, bytes, dict, list)


def kept(value: Any) -> Any:
    """A payload value as remembered: itself, or, when its marshalled form is larger than
    `MAX_VALUE_BYTES`, its digest (as bytes, which no JSON value is)."""
    if type(value) in LARGE_CANDIDATES and len(marshal.dumps(value, 4)) > MAX_VALUE_BYTES:
        return fingerprint(value)
    return value


def compact(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as compared with a remembered one (large values as `Digest`s)."""
    return {name: _restored(kept(value)) for name, value in payload.items()}


def _restored(value: Any) -> Any:
    return Digest(value) if type(value) is bytes else value


def entry_size(key: str, record: bytes) -> int:
    """The memory one remembered entity costs (what the byte bound counts)."""
    return ENTRY_OVERHEAD + len(key) + len(record)


class Published(NamedTuple):
    """An entity's last published state, as read from its record."""

    fingerprint: bytes
    updated_ms: int | None
    payload: dict[str, Any]  # large values as `Digest`s
    record: bytes  # the stored record itself: `is` tells whether it changed since


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
        self.entries: OrderedDict[str, bytes] = OrderedDict()  # "kind\0entity" → its record
        self.layouts: dict[tuple[str, ...], int] = {}  # the payloads' field names, by shape
        self.names: list[tuple[str, ...]] = []
        self.bytes = 0

    def get(self, kind: str, entity: str) -> Published | None:
        record = self.entries.get(f"{kind}\x00{entity}")
        if record is None:
            return None
        print_, updated_ms, timed, layout = HEAD.unpack_from(record)
        values = marshal.loads(record[HEAD.size :])
        names = self.names[layout]
        payload = {name: _restored(value) for name, value in zip(names, values, strict=True)}
        return Published(print_, updated_ms if timed else None, payload, record)

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
        key = f"{kind}\x00{entity}"
        previous = self.entries.pop(key, None)
        if previous is not None:
            self.bytes -= entry_size(key, previous)
        trusted = self.plausible(updated_ms, received_ms)
        if not trusted:
            updated_ms = None if previous is None else self._time_of(previous)
        record = self._record(print_, updated_ms, payload)
        self.entries[key] = record
        self.bytes += entry_size(key, record)
        while len(self.entries) > self.capacity or (
            self.bytes > self.max_bytes and len(self.entries) > 1
        ):
            evicted_key, evicted = self.entries.popitem(last=False)
            self.bytes -= entry_size(evicted_key, evicted)
        return trusted

    def _record(self, print_: bytes, updated_ms: int | None, payload: dict[str, Any]) -> bytes:
        """One bytes object per entity (a tuple of Python objects costs twice as much): the
        header, then the payload's values, marshalled, in the order of its shared layout."""
        names = tuple(payload)
        layout = self.layouts.get(names)
        if layout is None:
            layout = self.layouts[names] = len(self.names)
            self.names.append(names)
        values = marshal.dumps(tuple(payload.values()), 4)
        if len(values) > MAX_VALUE_BYTES:  # then one of them may be large: look at each
            values = marshal.dumps(tuple([kept(value) for value in payload.values()]), 4)
        head = HEAD.pack(print_, updated_ms or 0, updated_ms is not None, layout)
        return head + values

    @staticmethod
    def _time_of(record: bytes) -> int | None:
        _, updated_ms, timed, _ = HEAD.unpack_from(record)
        return updated_ms if timed else None

    def changed_from(
        self, kind: str, entity: str, current: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The published values that `current` changes (None for a value kept as a digest)."""
        previous = self.get(kind, entity)
        if previous is None:
            return None
        now = compact(current)
        return {
            name: None if isinstance(value, Digest) else value
            for name, value in previous.payload.items()
            if now.get(name) != value
        }

    def is_repeat(self, kind: str, entity: str, print_: bytes) -> bool:
        previous = self.entries.get(f"{kind}\x00{entity}")
        return previous is not None and previous.startswith(print_)

    def is_older(self, kind: str, entity: str, updated_ms: int | None) -> bool:
        """Whether a change stamped `updated_ms` predates what was published (a late arrival)."""
        published = self._published_ms(kind, entity)
        return published is not None and updated_ms is not None and updated_ms < published

    def is_stale(self, kind: str, entity: str, updated_ms: int | None) -> bool:
        """Whether a snapshot taken at `updated_ms` is not newer than what was published."""
        published = self._published_ms(kind, entity)
        return published is not None and updated_ms is not None and updated_ms <= published

    def _published_ms(self, kind: str, entity: str) -> int | None:
        previous = self.entries.get(f"{kind}\x00{entity}")
        return None if previous is None else self._time_of(previous)


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
