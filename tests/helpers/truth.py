"""The derived topics of a `mmstream up` run checked against its scenario's ground truth."""

from __future__ import annotations

from typing import Any

from mmstream.settings import TopicSettings
from mmstream.simulators import GroundTruth
from tests.fixtures.kafka import TestCluster
from tests.helpers.kafka import consume, decoder_for


def read_all(cluster: TestCluster, topics: TopicSettings, topic_id: str) -> list[Any]:
    name = topics.name(topic_id)
    decoder = decoder_for(cluster.registry_url, topics)

    def decode(data: bytes) -> Any:
        return decoder(data, name)

    return [v for _, v, _ in consume(cluster.target, name, 1, 30, decode, quiet_s=1.5)]


def assert_derived_equal_truth(
    cluster: TestCluster, topics: TopicSettings, truth: GroundTruth
) -> None:
    """Fills, unhedged alerts, emergency transitions and reconciled scores as the truth says."""
    alerts = assert_hedges_and_emergencies_equal_truth(cluster, topics, truth)
    opened = {(a["alert_type"], a["subject"]) for a in alerts if a["state"] == "OPEN"}
    conflict_games = {g.game_id for g in truth.games.values() if g.conflicts}
    resolved = {(a["alert_type"], a["subject"]) for a in alerts if a["state"] == "RESOLVED"}
    for game_id in conflict_games:
        assert ("SCORE_CONFLICT", f"game:{game_id}") in opened, game_id
        assert ("SCORE_CONFLICT", f"game:{game_id}") in resolved, game_id
    assert_final_scores_equal_truth(cluster, topics, truth)


def assert_hedges_and_emergencies_equal_truth(
    cluster: TestCluster, topics: TopicSettings, truth: GroundTruth
) -> list[dict[str, Any]]:
    """Fills, unhedged-fill alerts and the feed's emergency transitions; returns the alerts."""
    fills: dict[int, dict[str, Any]] = {}
    for record in read_all(cluster, topics, "hedge_fills"):
        fills[record["order_id"]] = record  # per-key order is kept: the last is the latest
    filled = [o for o in truth.client_orders() if o.filled_stake > 0]
    assert filled
    for order in filled:
        fill = fills[order.order_id]
        assert fill["filled_stake"] == order.filled_stake, order
        assert abs(fill["hedged_stake"] - order.hedged_stake) < 1e-6, order
        assert (fill["status"] in ("HEDGED", "OVER_HEDGED")) == order.fully_hedged, (order, fill)

    alerts = read_all(cluster, topics, "risk_alerts")
    latest = {a["alert_id"]: a["state"] for a in alerts}  # compacted view: last state wins
    for order in filled:
        alert_state = latest.get(f"UNHEDGED_FILL:order:{order.order_id}")
        if order.fully_hedged:  # on time, or late under load (then opened and resolved)
            assert alert_state in (None, "RESOLVED"), order
        else:
            assert alert_state == "OPEN", (order, fills[order.order_id])

    transitions = [r for r in read_all(cluster, topics, "risk_emergency") if r["scope"] == "mmapi"]
    assert [r["active"] for r in transitions] == [True, False] * len(truth.emergency_windows)
    assert transitions[0]["reason"] == truth.emergency_windows[0].detail
    return alerts


def assert_final_scores_equal_truth(
    cluster: TestCluster, topics: TopicSettings, truth: GroundTruth
) -> None:
    """Every game reconciled, both providers agreeing on its final score."""
    games = {r["game_id"]: r for r in read_all(cluster, topics, "scores_reconciled")}
    assert set(games) == set(truth.games)
    for game in truth.games.values():
        final = games[game.game_id]
        assert final["status"] == "AGREE", final
        assert final["mmapi_score"] == f"{game.final_home}-{game.final_away}"
