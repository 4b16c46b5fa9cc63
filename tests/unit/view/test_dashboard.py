"""The dashboard folds derived records the way an operator reads them."""

from __future__ import annotations

from rich.console import Console

from mmstream.view.model import LATEST_FILLS, Dashboard, FeedStatus
from mmstream.view.render import render


def test_alerts_open_and_resolve_by_id() -> None:
    board = Dashboard()
    board.apply_record("risk_alerts", "a1", {"alert_id": "a1", "state": "OPEN"})
    board.apply_record("risk_alerts", "a2", {"alert_id": "a2", "state": "OPEN"})
    board.apply_record("risk_alerts", "a1", {"alert_id": "a1", "state": "RESOLVED"})
    assert board.open_alerts.keys() == ["a2"]
    assert board.alerts_seen == 3


def test_latest_fills_are_bounded_newest_first() -> None:
    board = Dashboard()
    for order in range(LATEST_FILLS + 5):
        board.apply_record("hedge_fills", str(order), {"order_id": order, "status": "HEDGED"})
    assert len(board.latest_fills) == LATEST_FILLS
    assert board.latest_fills.newest_first()[0]["order_id"] == LATEST_FILLS + 4
    assert board.fills_seen == board.hedged_fills_seen == LATEST_FILLS + 5


def test_an_order_or_game_updated_again_shows_once_and_moves_first() -> None:
    board = Dashboard()
    for order, status in ((1, "UNHEDGED"), (2, "HEDGED"), (1, "HEDGED")):
        board.apply_record("hedge_fills", str(order), {"order_id": order, "status": status})
    assert [f["order_id"] for f in board.latest_fills.newest_first()] == [1, 2]
    assert board.latest_fills.newest_first()[0]["status"] == "HEDGED"
    for game, status in (("g1", "ONE_SIDED"), ("g2", "AGREE"), ("g1", "CATCHING_UP")):
        board.apply_record("scores_reconciled", game, {"game_id": game, "status": status})
    assert board.games.keys() == ["g1", "g2"]
    assert board.game_status_counts() == {"CATCHING_UP": 1, "AGREE": 1}


def test_the_games_table_shows_each_game_once_newest_first_with_its_lag() -> None:
    board = Dashboard()
    board.apply_record(
        "scores_reconciled", "g1", {"game_id": "g-one", "status": "CATCHING_UP", "lag_ms": 2875}
    )
    board.apply_record("scores_reconciled", "g2", {"game_id": "g-two", "status": "AGREE"})
    board.apply_record("scores_reconciled", "g3", {"game_id": "g-six", "status": "CONFLICT"})
    board.apply_record(
        "scores_reconciled", "g1", {"game_id": "g-one", "status": "CATCHING_UP", "lag_ms": 3120}
    )
    console = Console(width=160, record=True)
    console.print(render(board))
    games = console.export_text().split("Games", 1)[1]
    rows = [line for line in games.splitlines() if "g-" in line]
    assert [row.split()[1] for row in rows] == ["g-one", "g-six", "g-two"]
    assert "3120" in rows[0] and "2875" not in games, "the latest lag, once"
    assert rows[2].split()[-2] == "0", "agreeing providers: no lag"


def test_emergency_scopes_and_summary_line() -> None:
    board = Dashboard()
    board.feeds["mmapi"] = FeedStatus("mmapi", state="streaming", messages_per_s=12.0)
    board.apply_record("risk_emergency", "mmapi", {"scope": "mmapi", "active": True})
    board.apply_record("risk_emergency", "exposure", {"scope": "exposure", "active": False})
    board.apply_record("scores_reconciled", "g1", {"game_id": "g1", "status": "AGREE"})
    board.apply_record("scores_reconciled", "g2", {"game_id": "g2", "status": "CONFLICT"})
    assert board.in_emergency() == ["mmapi"]
    line = board.summary_line()
    assert "emergency=mmapi" in line
    assert "mmapi=streaming:12/s,n=0," in line
    assert "AGREE:1" in line and "CONFLICT:1" in line


def test_render_shows_every_section() -> None:
    board = Dashboard()
    board.feeds["predexon"] = FeedStatus("predexon", state="streaming", dlq_total=2)
    board.apply_record("hedge_fills", "7", {"order_id": 7, "status": "UNHEDGED"})
    console = Console(width=160, record=True)
    console.print(render(board))
    text = console.export_text()
    for title in ("Feeds", "Agents", "Latest hedged fills", "Open alerts", "Games", "predexon"):
        assert title in text
    assert "UNHEDGED" in text


def test_agents_show_lag_last_processed_dead_letters_and_a_stall() -> None:
    """From the worker's own metrics, rendered as Prometheus text and parsed as the view does."""
    from prometheus_client import generate_latest

    from mmstream.view.sources import apply_agent_samples, parse_samples
    from processors.metrics import ProcessorMetrics

    metrics = ProcessorMetrics()
    metrics.records_in.labels("hedge").inc(854)
    metrics.records_in.labels("scores").inc(10)
    metrics.lag.labels("hedge").set(1500)
    metrics.lag.labels("scores").set(0)
    metrics.last_processed.labels("hedge").set(1_000.0)
    metrics.last_processed.labels("scores").set(1_029.5)
    metrics.stalled.labels("hedge").set(1)
    metrics.dead_letters.labels("hedge", "unknown_schema_id").inc(3)
    board = Dashboard()
    apply_agent_samples(board, parse_samples(generate_latest(metrics.registry).decode()), 1_030.0)

    hedge, scores = board.agents["hedge"], board.agents["scores"]
    assert (hedge.lag, hedge.stalled, hedge.dead_letters) == (1500, True, 3)
    assert hedge.last_processed_age_s == 30.0 and scores.last_processed_age_s == 0.5
    assert scores.lag == 0 and not scores.stalled
    assert "hedge=854>0,lag=1500,dlq=3,STALLED" in board.summary_line()
    console = Console(width=120, record=True)
    console.print(render(board))
    screen = console.export_text()
    assert "hedge STALLED" in screen and "1,500" in screen and "30.0s ago" in screen
