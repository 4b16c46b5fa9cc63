"""What really happened in a scenario, for tests to hold the pipeline's outputs against."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(slots=True)
class BetTruth:
    bet_id: int
    stake: float
    status: str  # final betStatus
    bookmaker: str


@dataclass(slots=True)
class OrderTruth:
    order_id: int
    client: str
    fixture_id: str
    filled_stake: float = 0.0
    bets: list[BetTruth] = field(default_factory=list)
    last_fill_ms: int | None = None  # matchedAt of the last fill (epoch ms): deadline anchor

    @property
    def hedged_stake(self) -> float:
        return sum(b.stake for b in self.bets if b.status not in ("rejected", "failed"))

    @property
    def rejected_bets(self) -> int:
        return sum(1 for b in self.bets if b.status in ("rejected", "failed"))

    @property
    def fully_hedged(self) -> bool:
        return self.filled_stake > 0 and self.hedged_stake >= self.filled_stake - 1e-9


@dataclass
class Window:
    start_ms: int  # epoch ms
    end_ms: int
    detail: str = ""


@dataclass
class GameTruth:
    game_id: str
    fixture_id: str
    league: str
    sport: str
    final_home: int = 0
    final_away: int = 0
    score_changes: int = 0
    conflicts: list[Window] = field(default_factory=list)
    stale: list[Window] = field(default_factory=list)


class Forgotten(dict[Any, Any]):
    """A mapping that keeps nothing: the truth of a scenario whose history is not held (one
    with no end, or the player's copy of one whose truth was written beforehand)."""

    def __setitem__(self, key: Any, value: Any) -> None:
        return None


@dataclass
class GroundTruth:
    seed: int
    start_ms: int
    end_ms: int
    default_client: str
    orders: dict[int, OrderTruth] = field(default_factory=dict)
    games: dict[str, GameTruth] = field(default_factory=dict)
    emergency_windows: list[Window] = field(default_factory=list)
    messages: dict[str, int] = field(default_factory=dict)  # per feed/channel, before faults

    @classmethod
    def forgetful(cls, truth: GroundTruth) -> GroundTruth:
        """`truth` made to keep no orders nor games: bounded memory however long it plays."""
        truth.orders = Forgotten()
        truth.games = Forgotten()
        return truth

    def client_orders(self, client: str | None = None) -> list[OrderTruth]:
        wanted = client or self.default_client
        return [o for o in self.orders.values() if o.client == wanted]

    def shift_times(self, shift_ms: int) -> None:
        """Move every event time (windows, fills) by `shift_ms` (the scenario was built on
        one anchor and played on another); start and end are set by the caller."""
        windows = list(self.emergency_windows)
        for game in self.games.values():
            windows += game.conflicts + game.stale
        for window in windows:
            window.start_ms += shift_ms
            window.end_ms += shift_ms
        for order in self.orders.values():
            if order.last_fill_ms is not None:
                order.last_fill_ms += shift_ms

    def write(self, path: Path) -> None:
        """Write the truth as one JSON object, an order at a time: a copy of a million-message
        scenario's whole truth at once would double the simulator's memory at its end."""
        head = {k: getattr(self, k) for k in ("seed", "start_ms", "end_ms", "default_client")}
        with path.open("w", encoding="utf-8") as out:
            out.write(json.dumps(head)[:-1] + ',\n "orders": {')
            for number, (order_id, order) in enumerate(self.orders.items()):
                out.write(f'{"," if number else ""}\n  "{order_id}": {json.dumps(asdict(order))}')
            games = {k: asdict(v) for k, v in self.games.items()}
            windows = [asdict(w) for w in self.emergency_windows]
            out.write(f'}},\n "games": {json.dumps(games)},\n "emergency_windows": ')
            out.write(f'{json.dumps(windows)},\n "messages": {json.dumps(self.messages)}}}\n')

    @classmethod
    def read(cls, path: Path) -> GroundTruth:
        return cls.from_dict(json.loads(path.read_text()))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroundTruth:
        orders = {
            int(k): OrderTruth(**{**v, "bets": [BetTruth(**b) for b in v["bets"]]})
            for k, v in data["orders"].items()
        }
        games = {
            k: GameTruth(
                **{
                    **v,
                    "conflicts": [Window(**w) for w in v["conflicts"]],
                    "stale": [Window(**w) for w in v["stale"]],
                }
            )
            for k, v in data["games"].items()
        }
        return cls(
            seed=data["seed"],
            start_ms=data["start_ms"],
            end_ms=data["end_ms"],
            default_client=data["default_client"],
            orders=orders,
            games=games,
            emergency_windows=[Window(**w) for w in data["emergency_windows"]],
            messages=data["messages"],
        )
