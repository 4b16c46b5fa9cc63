"""`mmstream up` end to end: a fixed-seed scenario in, the derived topics checked against the
scenario's ground truth, every process exiting cleanly."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from mmstream.settings import TopicSettings
from mmstream.simulators import GroundTruth
from schemas.values import plain
from tests.fixtures.kafka import TestCluster
from tests.helpers.kafka import consume, from_beginning
from tests.helpers.processes import Child

DEADLINE_S = 4
PROCESSOR_SETTINGS = {
    "MMSTREAM_PROCESSOR_HEDGE_DEADLINE_S": str(DEADLINE_S),
    "MMSTREAM_PROCESSOR_MAX_LAG_S": "10",
    "MMSTREAM_PROCESSOR_CONFLICT_GRACE_S": "1.5",
    "MMSTREAM_PROCESSOR_RESOLVE_HYSTERESIS_S": "1.5",
    "MMSTREAM_PROCESSOR_TICK_INTERVAL_S": "0.2",
}


def decoder(registry_url: str) -> Callable[[bytes], Any]:
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
    context = SerializationContext("", MessageField.VALUE)
    return lambda data: plain(deserialize(data, context))


def read_all(cluster: TestCluster, topics: TopicSettings, topic_id: str) -> list[Any]:
    """Every record of the topic: at least up to each partition's reported end offset (a read
    that stopped at a quiet moment on a busy machine missed some), then until quiet."""
    decode = decoder(cluster.registry_url)
    name = topics.name(topic_id)
    probe = from_beginning(cluster.target, name)
    try:
        partitions = probe.list_topics(name, timeout=10).topics[name].partitions
        ends = [probe.get_watermark_offsets(TopicPartition(name, p), 10) for p in partitions]
    finally:
        probe.close()
    count = max(1, sum(high - low for low, high in ends))
    return [v for _, v, _ in consume(cluster.target, name, count, 60, decode, quiet_s=1.5)]


@pytest.fixture(scope="module")
def tmp_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


async def test_up_derives_what_the_ground_truth_says(
    cluster: TestCluster, topics: TopicSettings, tmp_path: Path
) -> None:
    env = {
        **cluster.env(topics),
        **PROCESSOR_SETTINGS,
        "MMSTREAM_DATA_DIR": str(tmp_path),
        "MMSTREAM_PROCESSOR_APP_ID": f"e2e-{tmp_path.name}",
    }
    up = Child(
        [
            "up",
            "--no-view",
            "--seed",
            "3",
            "--rate",
            "60",
            "--duration",
            "20",
            "--exit-when-done",
            "--summary-interval",
            "5",
        ],
        env,
        tmp_path / "up.log",
    )
    code = await up.wait(240)
    assert code == 0, up.output[-3000:]
    assert "scenario sent and processed" in up.output
    for name in ("connector-mmapi=0", "connector-predexon=0", "worker=0", "simulators=0"):
        assert name in up.output, f"{name} missing: {up.output[-1500:]}"
    truth = GroundTruth.read(tmp_path / "simulators" / "ground_truth.json")

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
            assert alert["opened_at"] == order.last_fill_ms + DEADLINE_S * 1000, (order, alert)

    emergencies = read_all(cluster, topics, "risk_emergency")
    transitions = [r for r in emergencies if r["scope"] == "mmapi"]
    assert [r["active"] for r in transitions] == [True, False] * len(truth.emergency_windows)
    assert transitions[0]["reason"] == truth.emergency_windows[0].detail
    run_ms = truth.end_ms - truth.start_ms + 60_000
    for record in emergencies:  # a duration, or null for a scope's first activation
        previous = record["previous_state_ms"]
        assert previous is None or 0 <= previous <= run_ms, record

    conflict_windows = [(g.game_id, w) for g in truth.games.values() for w in g.conflicts]
    assert conflict_windows and any(g.stale for g in truth.games.values())
    for game in truth.games.values():  # each window exactly once, nothing from lag
        subject = f"game:{game.game_id}"
        for alert_type, windows in (
            ("SCORE_CONFLICT", game.conflicts),
            ("SCORE_STALE", game.stale),
        ):
            mine = [a for a in alerts if a["alert_type"] == alert_type and a["subject"] == subject]
            opened_at = [a["opened_at"] for a in mine if a["state"] == "OPEN"]
            assert len(opened_at) == len(windows), (alert_type, game.game_id, mine)
            assert len([a for a in mine if a["state"] == "RESOLVED"]) == len(windows), mine
            for at, window in zip(sorted(opened_at), windows, strict=True):
                assert window.start_ms <= at <= window.end_ms, (alert_type, window, mine)
    activations = [r for r in emergencies if r["scope"] == "score_conflict" and r["active"]]
    assert len(activations) <= len(conflict_windows), activations  # at most once per window
    games = {r["game_id"]: r for r in read_all(cluster, topics, "scores_reconciled")}
    assert set(games) == set(truth.games)
    for game in truth.games.values():
        final = games[game.game_id]
        assert final["status"] == "AGREE", final
        assert final["mmapi_score"] == f"{game.final_home}-{game.final_away}"
    summary = json.dumps(up.output[-600:])
    assert "fills=" in summary
