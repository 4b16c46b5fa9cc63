"""Score reconciliation's state per game_id, as stored in its table (JSON via `CompactJson`).

Tables outlive versions: `logic.upgrade` fills in what a state written by an older version
lacks before the logic reads it. JSON has no tuples: the pairs and triples below are lists once
read back (indexed and unpacked the same way).
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

# (home, away, received_at): a score a provider showed, and when it was first received
Segment = tuple[int, int, int]
# (provider, shown since, withdrawn at): a score shown, then taken back
Withdrawal = tuple[str, int, int]


class View(TypedDict):
    """One provider's latest view of the game."""

    home: int | None
    away: int | None
    period: str | None
    clock: str | None
    live: bool | None
    ended: bool | None
    updated_at: int
    received_at: int
    score_since: NotRequired[int]  # when this score was first received (set on apply)
    reliability: NotRequired[str | None]  # Predexon's reliability block
    conflict: NotRequired[bool | None]
    stale: NotRequired[bool | None]


class ConflictWindow(TypedDict):
    since: int
    cause: str | None  # PROVIDER_FLAG, UNEXPLAINED, TRAILING_TOO_LONG, SCORE_WITHDRAWN
    calm_since: int | None
    detected: NotRequired[int]


class StaleWindow(TypedDict):
    since: int
    provider: str | None
    calm_since: int | None


class State(TypedDict):
    game_id: str
    fixture_id: str | None
    views: dict[str, View]  # by provider
    last_received: dict[str, int]
    segments: dict[str, list[Segment]]  # oldest first
    pruned: dict[str, int]  # when the newest dropped segment's score was left
    gaps: dict[str, list[int]]  # recent update intervals
    missed_since: dict[str, int | None]
    status: str | None
    emitted: str | None  # fingerprint of the last scores.reconciled record
    disagree_since: int | None
    flag_since: int | None
    stale_flag_since: int | None
    withdrawn: Withdrawal | None
    conflict: ConflictWindow | None
    stale: StaleWindow | None
    stale_unflagged: tuple[int, int] | None  # Predexon's stale flag shown: from, until
    conflict_ended: int
