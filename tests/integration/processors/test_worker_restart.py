"""A worker stopped mid-stream and restarted recovers its hedge state from the changelog:
no hedge is lost and none is counted twice, even with the upstream's at-least-once replays.

The restart here is SIGTERM (a deploy). SIGKILL recovery of a Faust table is pinned in the
broker-conformance tests; with the full processors worker on the embedded broker, a worker
restarted after SIGKILL joined but did not resume consuming in our runs (see the README).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmstream.settings import TopicSettings
from schemas.serde import AvroSerde
from schemas.values import plain
from tests.fixtures.kafka import TestCluster
from tests.helpers.kafka import consume, produce
from tests.helpers.processes import Child

T0 = 1_771_149_600_000
ORDERS = range(2000, 2012)


def envelope(at: int) -> dict[str, Any]:
    return {
        "source": "mmapi",
        "connection_id": "c",
        "subscription_id": "1",
        "received_at": at,
        "event_time": at,
        "origin": "LIVE",
    }


def order(order_id: int, at: int, matched: float) -> dict[str, Any]:
    return {
        "envelope": envelope(at),
        "event": "UPDATE",
        "changed_fields": [],
        "old": None,
        "payload_extra": {},
        "old_extra": {},
        "payload": {
            "orderId": order_id,
            "client": "desk",
            "fixtureId": "f",
            "orderStake": 100.0,
            "matchedStake": matched,
            "matchedAt": at,
            "orderStatus": "FILLED",
            "updatedAt": at,
        },
    }


def bet(order_id: int, bet_id: int, at: int, stake: float) -> dict[str, Any]:
    return {
        "envelope": envelope(at),
        "event": "INSERT",
        "changed_fields": [],
        "old": None,
        "payload_extra": {},
        "old_extra": {},
        "payload": {
            "betId": bet_id,
            "orderId": order_id,
            "bookmaker": "vertex",
            "placedStake": stake,
            "placedPrice": 1.9,
            "betStatus": "placed",
            "placedAt": at,
            "updatedAt": at,
        },
    }


def send(
    cluster: TestCluster,
    topics: TopicSettings,
    serde: AvroSerde,
    topic_id: str,
    records: list[dict[str, Any]],
) -> None:
    produce(
        cluster.target,
        topics.name(topic_id),
        [(str(r["payload"]["orderId"]), serde.encode(topic_id, r)) for r in records],
    )


def worker(cluster: TestCluster, topics: TopicSettings, app_id: str, tmp_path: Path) -> Child:
    env = {
        **cluster.env(topics),
        "MMSTREAM_PROCESSOR_APP_ID": app_id,
        "MMSTREAM_DATA_DIR": str(tmp_path),
        "MMSTREAM_PROCESSOR_HEDGE_DEADLINE_S": "60",
    }
    return Child(["process"], env, tmp_path / f"worker-{uuid.uuid4().hex[:4]}.log")


def latest_fills(
    cluster: TestCluster, topics: TopicSettings, decode: Callable[[bytes], Any], hedged: float
) -> dict[int, dict[str, Any]]:
    """The latest hedge.fills record per order, once every order shows `hedged` (or 90 s)."""
    latest: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for _, value, _ in consume(
            cluster.target, topics.name("hedge_fills"), len(ORDERS), 90, decode, quiet_s=1.0
        ):
            latest[value["order_id"]] = value
        if all(latest.get(o, {}).get("hedged_stake") == hedged for o in ORDERS):
            break
    return latest


async def test_restarted_worker_recovers_without_losing_or_double_counting(
    cluster: TestCluster,
    topics: TopicSettings,
    serde: AvroSerde,
    tmp_path: Path,
) -> None:
    def decode(data: bytes) -> Any:
        return plain(serde.decode("hedge_fills", data))

    app_id = f"restart-{uuid.uuid4().hex[:8]}"
    send(cluster, topics, serde, "orders", [order(o, T0 + o, 100.0) for o in ORDERS])
    send(cluster, topics, serde, "bets", [bet(o, o * 10, T0 + o + 300, 60.0) for o in ORDERS])
    first = worker(cluster, topics, app_id, tmp_path)
    try:
        before = latest_fills(cluster, topics, decode, 60.0)
        assert {f["hedged_stake"] for f in before.values()} == {60.0}, before
    finally:
        await first.stop()
    # at-least-once upstream: the first bets again, and the rest of each hedge
    send(cluster, topics, serde, "bets", [bet(o, o * 10, T0 + o + 300, 60.0) for o in ORDERS])
    send(cluster, topics, serde, "bets", [bet(o, o * 10 + 1, T0 + o + 900, 40.0) for o in ORDERS])
    second = worker(cluster, topics, app_id, tmp_path)
    try:
        after = latest_fills(cluster, topics, decode, 100.0)
    finally:
        assert await second.stop() == 0, second.output[-2000:]
    for order_id in ORDERS:
        fill = after[order_id]
        assert fill["hedged_stake"] == 100.0, (order_id, fill)
        assert fill["status"] == "HEDGED"
        assert sorted(b["bet_id"] for b in fill["bets"]) == [order_id * 10, order_id * 10 + 1]
