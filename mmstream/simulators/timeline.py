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


# the formatted second of recent times: a thousand messages a second share a handful
_SECONDS: dict[int, str] = {}
_SECONDS_KEPT = 4096


def iso(anchor_ms: int, offset_ms: int) -> str:
    second, milli = divmod(anchor_ms + offset_ms, 1000)
    prefix = _SECONDS.get(second)
    if prefix is None:
        if len(_SECONDS) >= _SECONDS_KEPT:
            _SECONDS.clear()
        moment = datetime.fromtimestamp(second, tz=UTC)
        prefix = _SECONDS[second] = moment.strftime("%Y-%m-%dT%H:%M:%S.")
    return f"{prefix}{milli:03d}Z"


def render(value: Any, anchor_ms: int) -> Any:
    """Replace every `At` in a payload by its ISO text (the player renders every message it
    sends: scalars are passed over without a call each)."""
    kind = type(value)
    if kind is At:
        return iso(anchor_ms, value.ms)
    if kind is dict:
        return {
            k: v if type(v) not in CONTAINERS else render(v, anchor_ms) for k, v in value.items()
        }
    if kind is list:
        return [v if type(v) not in CONTAINERS else render(v, anchor_ms) for v in value]
    return value


CONTAINERS = frozenset({At, dict, list})
