"""The timeline's vocabulary: steps with virtual-time stamps, rendered to the wire at send time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class At:
    """A timestamp `ms` after the scenario's start; rendered as ISO 8601 UTC on the wire."""

    ms: int


@dataclass(frozen=True)
class Step:
    """One message of the world, due `t_ms` after the start."""

    t_ms: int
    seq: int  # tie-breaker: generation order
    feed: str  # "mmapi" | "predexon"
    channel: str  # MM API channel, or "sports_live"
    client: str | None  # MM API client of client-filtered channels
    event: str  # INSERT / UPDATE (MM API); "sports_live_state" (Predexon)
    payload: dict[str, Any]
    old: dict[str, Any] | None = None


def iso(anchor_ms: int, offset_ms: int) -> str:
    moment = datetime.fromtimestamp((anchor_ms + offset_ms) / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def render(value: Any, anchor_ms: int) -> Any:
    """Replace every `At` in a payload by its ISO text."""
    if isinstance(value, At):
        return iso(anchor_ms, value.ms)
    if isinstance(value, dict):
        return {k: render(v, anchor_ms) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, anchor_ms) for v in value]
    return value
