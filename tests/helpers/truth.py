"""The derived topics of a `mmstream up` run checked against its scenario's ground truth, once
every process that writes them has exited."""

from __future__ import annotations

from typing import Any

from mmstream.core.settings import TopicSettings
from mmstream.simulators import GroundTruth
from tests.fixtures.kafka import TestCluster
from tests.helpers.kafka import decoder_for, read_to_end


def read_all(cluster: TestCluster, topics: TopicSettings, topic_id: str) -> list[Any]:
    """Every record of the topic (at least one), up to each partition's end offset: called once
    the run's processes have exited, so that is everything they wrote, duplicates included."""
    name = topics.name(topic_id)
    decoder = decoder_for(cluster.registry_url, topics)

    def decode(data: bytes) -> Any:
        return decoder(data, name)

    records = [v for _, v, _ in read_to_end(cluster.target, name, decode)]
    assert records, f"{name}: no record"
    return records


def assert_derived_equal_truth(
    cluster: TestCluster, topics: TopicSettings, truth: GroundTruth, deadline_s: float
) -> None:
    """Fills, unhedged alerts (at their deadline), emergency transitions (once per cause, with
    true durations), conflict and stale windows (each exactly once, none from lag) and
    reconciled scores as the truth says. A record replayed after a restart (at-least-once) is
    the same record again, so windows are counted by their distinct opening times."""
    alerts = assert_hedges_and_emergencies_equal_truth(cluster, topics, truth, deadline_s)
    emergencies = read_all(cluster, topics, "risk_emergency")
    conflict_windows = [w for g in truth.games.values() for w in g.conflicts]
    assert conflict_windows and any(g.stale for g in truth.games.values())
    for game in truth.games.values():  # each window exactly once, nothing from lag
        subject = f"game:{game.game_id}"
        for alert_type, windows in (
            ("SCORE_CONFLICT", game.conflicts),
            ("SCORE_STALE", game.stale),
        ):
            mine = [a for a in alerts if a["alert_type"] == alert_type and a["subject"] == subject]
            opened_at = sorted({a["opened_at"] for a in mine if a["state"] == "OPEN"})
            resolved_at = {a["opened_at"] for a in mine if a["state"] == "RESOLVED"}
            assert len(opened_at) == len(windows), (alert_type, game.game_id, mine)
            assert resolved_at == set(opened_at), (alert_type, game.game_id, mine)
            for at, window in zip(opened_at, windows, strict=True):
                assert window.start_ms <= at <= window.end_ms, (alert_type, window, mine)
    activations = {
        r["changed_at"] for r in emergencies if r["scope"] == "score_conflict" and r["active"]
    }
    assert len(activations) <= len(conflict_windows), activations  # at most once per window
    assert_final_scores_equal_truth(cluster, topics, truth)


def assert_hedges_and_emergencies_equal_truth(
    cluster: TestCluster,
    topics: TopicSettings,
    truth: GroundTruth,
    deadline_s: float,
    late_fills: dict[int, set[int]] | None = None,
) -> list[dict[str, Any]]:
    """Fills, unhedged-fill alerts (at their deadline) and the feed's emergency transitions
    (with true durations); returns the alerts.

    `late_fills`: for a run with a feed outage, the fill times (matchedAt) of each order whose
    fills were partly gap-filled after it. A fill made during the outage reaches the worker
    only after it, while stream time moves on with the wall clock (deadlines fall due when the
    input stops, processors/clock.py): such an order's alert may open at the deadline of an
    earlier fill, which was unhedged that long - never at any other time."""
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
    unhedged_opened = {
        a["order_id"]: a
        for a in alerts
        if a["alert_type"] == "UNHEDGED_FILL" and a["state"] == "OPEN"
    }
    for order in filled:
        if not order.fully_hedged:  # alerted at the deadline of its last fill, in event time
            assert order.last_fill_ms is not None
            alert = unhedged_opened[order.order_id]
            deadline_ms = int(deadline_s * 1000)
            last_deadline = order.last_fill_ms + deadline_ms
            anchors = (late_fills or {}).get(order.order_id)
            if anchors is None:
                assert alert["opened_at"] == last_deadline, (order, alert)
            else:
                assert alert["opened_at"] - deadline_ms in anchors, (order, alert, anchors)
                assert alert["opened_at"] <= last_deadline, (order, alert)

    emergencies = read_all(cluster, topics, "risk_emergency")
    transitions = [r for r in emergencies if r["scope"] == "mmapi"]
    changes = sorted({(r["changed_at"], r["active"]) for r in transitions})
    assert [active for _, active in changes] == [True, False] * len(truth.emergency_windows)
    assert transitions[0]["reason"] == truth.emergency_windows[0].detail
    run_ms = truth.end_ms - truth.start_ms + 60_000
    for record in emergencies:  # a duration, or null for a scope's first activation
        previous = record["previous_state_ms"]
        assert previous is None or 0 <= previous <= run_ms, record
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
