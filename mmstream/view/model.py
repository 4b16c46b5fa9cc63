"""The dashboard's state, folded from derived-topic records and scraped metrics (pure, no I/O)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

LATEST_FILLS = 8
LATEST_GAMES = 50  # games kept (a scenario with no end plays new ones round after round)


class Latest:
    """The latest record per key, each key once, newest first; the oldest leave past `limit`."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.records: OrderedDict[str, dict[str, Any]] = OrderedDict()  # oldest first

    def put(self, key: str, record: dict[str, Any]) -> None:
        self.records.pop(key, None)
        self.records[key] = record
        while self.limit is not None and len(self.records) > self.limit:
            self.records.popitem(last=False)

    def pop(self, key: str) -> None:
        self.records.pop(key, None)

    def newest_first(self, count: int | None = None) -> list[dict[str, Any]]:
        newest = list(reversed(self.records.values()))
        return newest if count is None else newest[:count]

    def keys(self) -> list[str]:
        """Newest first."""
        return list(reversed(self.records))

    def __len__(self) -> int:
        return len(self.records)


@dataclass
class FeedStatus:
    """One source connector as its metrics describe it."""

    name: str
    state: str = "starting"
    messages_total: float = 0.0
    messages_per_s: float = 0.0
    last_message_age_s: float | None = None
    dlq_total: float = 0.0
    reconnects: float = 0.0
    reachable: bool = False


@dataclass
class AgentStatus:
    """One agent of the Faust worker as its metrics describe it."""

    name: str
    records_in: float = 0.0
    records_out: float = 0.0
    lag: float | None = None
    last_processed_age_s: float | None = None
    stalled: bool = False
    dead_letters: float = 0.0


@dataclass
class Dashboard:
    """Everything the live view and the summary line show."""

    feeds: dict[str, FeedStatus] = field(default_factory=dict)
    agents: dict[str, AgentStatus] = field(default_factory=dict)
    latest_fills: Latest = field(default_factory=lambda: Latest(LATEST_FILLS))  # by order
    fills_seen: int = 0
    hedged_fills_seen: int = 0  # of which status HEDGED
    open_alerts: Latest = field(default_factory=Latest)
    alerts_seen: int = 0
    emergency: dict[str, dict[str, Any]] = field(default_factory=dict)
    games: Latest = field(default_factory=lambda: Latest(LATEST_GAMES))

    def apply_record(self, topic_id: str, key: str | None, value: dict[str, Any] | None) -> None:
        """Fold one derived-topic record into the view."""
        if value is None:
            return
        if topic_id == "hedge_fills":
            self.fills_seen += 1
            self.hedged_fills_seen += int(value.get("status") == "HEDGED")
            self.latest_fills.put(str(value.get("order_id") or key), value)
        elif topic_id == "risk_alerts":
            self.alerts_seen += 1
            alert_id = str(value.get("alert_id") or key)
            if str(value.get("state", "")).upper() in {"RESOLVED", "CLEARED"}:
                self.open_alerts.pop(alert_id)
            else:
                self.open_alerts.put(alert_id, value)
        elif topic_id == "risk_emergency":
            self.emergency[str(value.get("scope") or key)] = value
        elif topic_id == "scores_reconciled":
            self.games.put(str(value.get("game_id") or key), value)

    def in_emergency(self) -> list[str]:
        return sorted(scope for scope, v in self.emergency.items() if v.get("active"))

    def game_status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for game in self.games.newest_first():
            status = str(game.get("status", "?"))
            counts[status] = counts.get(status, 0) + 1
        return counts

    def summary_line(self) -> str:
        """One line for non-interactive runs (no TTY)."""
        feeds = " ".join(
            f"{f.name}={f.state}:{f.messages_per_s:.0f}/s,n={f.messages_total:.0f},"
            f"dlq={f.dlq_total:.0f}"
            for f in self.feeds.values()
        )
        agents = " ".join(
            f"{a.name}={a.records_in:.0f}>{a.records_out:.0f}"
            + (f",lag={a.lag:.0f}" if a.lag is not None else "")
            + (f",dlq={a.dead_letters:.0f}" if a.dead_letters else "")
            + (",STALLED" if a.stalled else "")
            for a in self.agents.values()
        )
        games = ",".join(f"{k}:{v}" for k, v in sorted(self.game_status_counts().items()))
        emergency = ",".join(self.in_emergency()) or "none"
        return (
            f"feeds[{feeds}] agents[{agents}] fills={self.fills_seen} "
            f"hedged={self.hedged_fills_seen} "
            f"alerts_open={len(self.open_alerts)} emergency={emergency} games[{games}]"
        )
