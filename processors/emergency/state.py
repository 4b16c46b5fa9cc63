"""The emergency agent's one state (its table's single key), JSON through `CompactJson`."""

from __future__ import annotations

from typing import NotRequired, TypedDict


class Scope(TypedDict):
    """One emergency scope (`mmapi`, `unhedged_exposure`, `feed_silence:<feed>`, ...)."""

    active: bool
    since: int  # when it entered this state (0 in states written before that was known)
    opened: NotRequired[int]  # when it was last activated
    games: NotRequired[list[str]]  # score_conflict: the games that activated it


class FeedActivity(TypedDict):
    event_ms: int | None  # the feed's newest event time seen
    wall_ms: int  # when a worker last read one of its records


class State(TypedDict):
    scopes: dict[str, Scope]
    # order_id -> (fixture_id, unhedged stake): a JSON pair, a list once read back
    exposure: dict[str, tuple[str | None, float]]
    rejections: dict[str, int]  # bet_id -> event ms
    activity: dict[str, FeedActivity]  # by feed
    conflicts: dict[str, str | None]  # game_id -> fixture_id
    watermark: int  # the newest signal time seen
