"""Rendering the dashboard with rich: feeds, agents, latest fills, open alerts, emergency, games."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from mmstream.view.model import AgentStatus, Dashboard

STATE_STYLES = {"connected": "green", "streaming": "green", "subscribed": "green"}
STATUS_STYLES = {
    "HEDGED": "green",
    "AGREE": "green",
    "PARTIALLY_HEDGED": "yellow",
    "ONE_SIDED": "yellow",
    "STALE": "yellow",
    "UNHEDGED": "red",
    "HEDGE_REJECTED": "red",
    "CONFLICT": "red",
}


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def styled(value: Any, styles: dict[str, str]) -> Text:
    text = fmt(value)
    return Text(text, style=styles.get(text, ""))


def feeds_table(board: Dashboard) -> Table:
    table = Table(title="Feeds", expand=True)
    for column in ("feed", "session", "msgs/s", "messages", "last msg age", "DLQ", "reconnects"):
        table.add_column(column)
    for feed in board.feeds.values():
        age = None if feed.last_message_age_s is None else f"{feed.last_message_age_s:.1f}s"
        table.add_row(
            feed.name,
            Text(feed.state, style=STATE_STYLES.get(feed.state, "yellow")),
            fmt(feed.messages_per_s, 0),
            fmt(feed.messages_total, 0),
            fmt(age),
            Text(fmt(feed.dlq_total, 0), style="red" if feed.dlq_total else ""),
            fmt(feed.reconnects, 0),
        )
    return table


def agents_table(board: Dashboard) -> Table:
    table = Table(title="Agents", expand=True)
    for column in ("agent", "records in", "records out", "lag", "last processed", "DLQ"):
        table.add_column(column)
    for agent in board.agents.values():
        age = agent.last_processed_age_s
        table.add_row(
            Text(agent.name + (" STALLED" if agent.stalled else ""), style=stall_style(agent)),
            fmt(agent.records_in, 0),
            fmt(agent.records_out, 0),
            Text(fmt(agent.lag, 0), style=stall_style(agent)),
            fmt(None if age is None else f"{age:.1f}s ago"),
            Text(fmt(agent.dead_letters, 0), style="red" if agent.dead_letters else ""),
        )
    return table


def stall_style(agent: AgentStatus) -> str:
    return "bold red" if agent.stalled else ""


def records_table(title: str, columns: list[tuple[str, str]], rows: list[dict[str, Any]]) -> Table:
    """A table of records; `columns` pairs a header with the record field it shows."""
    table = Table(title=title, expand=True)
    for header, _ in columns:
        table.add_column(header)
    for row in rows:
        table.add_row(*(styled(row.get(field), STATUS_STYLES) for _, field in columns))
    return table


def with_lag(game: dict[str, Any]) -> dict[str, Any]:
    """A reconciled game with the lag to show: the trailing provider's while it catches up,
    none when both agree; unknown (-) otherwise."""
    lag = game.get("lag_ms")
    if lag is None and game.get("status") == "AGREE":
        lag = 0
    return {**game, "shown_lag_ms": lag}


def render(board: Dashboard) -> RenderableType:
    emergency = ", ".join(board.in_emergency()) or "none"
    header = Text.assemble(
        ("mmstream ", "bold"),
        f"fills {board.fills_seen}  alerts open {len(board.open_alerts)}  ",
        ("emergency: ", "bold"),
        (emergency, "bold red" if emergency != "none" else "green"),
    )
    return Group(
        header,
        feeds_table(board),
        agents_table(board),
        records_table(
            "Latest hedged fills",
            [
                ("order", "order_id"),
                ("status", "status"),
                ("filled", "filled_stake"),
                ("hedged", "hedged_stake"),
                ("ratio", "hedge_ratio"),
                ("latency ms", "hedge_latency_ms"),
            ],
            board.latest_fills.newest_first(),
        ),
        records_table(
            "Open alerts",
            [("alert", "alert_type"), ("subject", "subject"), ("message", "message")],
            board.open_alerts.newest_first(10),
        ),
        records_table(
            "Games",
            [
                ("game", "game_id"),
                ("status", "status"),
                ("MM API", "mmapi_score"),
                ("Predexon", "predexon_score"),
                ("leader", "leader"),
                ("lag ms", "shown_lag_ms"),
            ],
            [with_lag(game) for game in board.games.newest_first(12)],
        ),
    )
