"""`mmstream up` end to end: a fixed-seed scenario in, the derived topics checked against the
scenario's ground truth, every process exiting cleanly."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from mmstream.settings import TopicSettings
from mmstream.simulators import GroundTruth
from schemas.values import plain
from tests.fixtures.kafka import TestCluster
from tests.helpers.kafka import consume
from tests.helpers.processes import Child

PROCESSOR_SETTINGS = {
    "MMSTREAM_PROCESSOR_HEDGE_DEADLINE_S": "4",
    "MMSTREAM_PROCESSOR_CONFLICT_ALERT_S": "1.5",
    "MMSTREAM_PROCESSOR_LAG_GRACE_S": "2",
    "MMSTREAM_PROCESSOR_TICK_INTERVAL_S": "0.2",
}


def decoder(registry_url: str) -> Callable[[bytes], Any]:
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
    context = SerializationContext("", MessageField.VALUE)
    return lambda data: plain(deserialize(data, context))


def read_all(cluster: TestCluster, topics: TopicSettings, topic_id: str) -> list[Any]:
    decode = decoder(cluster.registry_url)
    return [
        v for _, v, _ in consume(cluster.target, topics.name(topic_id), 1, 30, decode, quiet_s=1.5)
    ]


def check_fills_and_alerts(
    cluster: TestCluster, topics: TopicSettings, truth: GroundTruth
) -> list[dict[str, Any]]:
    """Every filled order's hedge fill as the ground truth says, and an unhedged-fill alert
    open exactly for the orders that stayed unhedged; returns every alert read."""
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
    return alerts


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

    alerts = check_fills_and_alerts(cluster, topics, truth)
    opened = {(a["alert_type"], a["subject"]) for a in alerts if a["state"] == "OPEN"}

    transitions = [r for r in read_all(cluster, topics, "risk_emergency") if r["scope"] == "mmapi"]
    assert [r["active"] for r in transitions] == [True, False] * len(truth.emergency_windows)
    assert transitions[0]["reason"] == truth.emergency_windows[0].detail

    conflict_games = {g.game_id for g in truth.games.values() if g.conflicts}
    resolved = {(a["alert_type"], a["subject"]) for a in alerts if a["state"] == "RESOLVED"}
    for game_id in conflict_games:
        assert ("SCORE_CONFLICT", f"game:{game_id}") in opened, game_id
        assert ("SCORE_CONFLICT", f"game:{game_id}") in resolved, game_id
    games = {r["game_id"]: r for r in read_all(cluster, topics, "scores_reconciled")}
    assert set(games) == set(truth.games)
    for game in truth.games.values():
        final = games[game.game_id]
        assert final["status"] == "AGREE", final
        assert final["mmapi_score"] == f"{game.final_home}-{game.final_away}"
    summary = json.dumps(up.output[-600:])
    assert "fills=" in summary
