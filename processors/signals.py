"""The signals the agents send the emergency agent: one typed contract and one codec.

Each kind is a frozen dataclass; `encode` / `decode` are the only way to and from the JSON of
the internal signals topic, so a sender and the receiver cannot drift apart. The pure logic
modules build signals (`output`), the Faust wiring only moves them: the signals of one sending
call travel as one `batch` record (each record costs a send and a receive).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from processors.common import Output

TOPIC_ID = "signals"
KEY = "emergency"


@dataclass(frozen=True)
class Exposure:
    """An order's unhedged stake changed (0 when it left state for any reason)."""

    kind: ClassVar[str] = "exposure"
    order_id: int
    fixture_id: str | None
    unhedged: float
    at: int


@dataclass(frozen=True)
class Rejection:
    """A hedge bet was rejected by its bookmaker."""

    kind: ClassVar[str] = "rejection"
    bet_id: str
    at: int


@dataclass(frozen=True)
class Activity:
    """A feed's records are flowing: its newest event time and when the worker read it."""

    kind: ClassVar[str] = "activity"
    feed: str
    event_ms: int
    wall_ms: int
    at: int | None = None


@dataclass(frozen=True)
class Conflict:
    """A score-conflict window opened (active) or resolved on a game."""

    kind: ClassVar[str] = "conflict"
    game_id: str
    fixture_id: str | None
    active: bool
    at: int


Signal = Exposure | Rejection | Activity | Conflict
KINDS: dict[str, type[Signal]] = {k.kind: k for k in (Exposure, Rejection, Activity, Conflict)}
FIELDS = {kind: frozenset(f.name for f in fields(cls)) for kind, cls in KINDS.items()}


def encode(signal: Signal) -> dict[str, Any]:
    # the fields as they are (all plain values): `asdict` deep-copies each, ~20x the cost
    return {"kind": signal.kind, **vars(signal)}


def decode(value: dict[str, Any]) -> Signal:
    """One signal from its JSON; an unknown kind or a missing field raises ValueError."""
    kind = KINDS.get(str(value.get("kind")))
    if kind is None:
        raise ValueError(f"unknown signal kind {value.get('kind')!r}")
    names = FIELDS[kind.kind]
    try:
        return kind(**{k: v for k, v in value.items() if k in names})
    except TypeError as exc:
        raise ValueError(f"bad {kind.kind} signal: {exc}") from None


def output(signal: Signal) -> Output:
    """The signal as one of an agent's outputs (the wiring batches them per sending call)."""
    return Output(TOPIC_ID, KEY, encode(signal))


def batch(encoded: list[dict[str, Any]]) -> dict[str, Any]:
    """The record that carries one sending call's signals, in order."""
    return {"kind": "batch", "signals": encoded}


def decode_record(value: dict[str, Any]) -> list[Signal]:
    """The signals one record of the signals topic carries: a batch, or (records written
    before batching, still in the topic after an upgrade) a single signal."""
    if value.get("kind") == "batch":
        return [decode(v) for v in value["signals"]]
    return [decode(value)]


def activity(feed: str, event_ms: int) -> Output:
    """A feed's newest event time in a batch, read now (the emergency agent's silence check)."""
    return output(Activity(feed, event_ms, int(time.time() * 1000)))
