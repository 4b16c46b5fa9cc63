"""A worker killed mid-stream and restarted: its hedge state comes back from the changelog,
no hedge is lost and none is counted twice (the upstream also replays records it already
delivered, as an at-least-once connector does).

The orders are committed before the kill, so the restarted worker does not read them again:
the fills it reports can only have come from the recovered table.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from connectors.publisher import Connection
from connectors.records import change_record
from mmstream.core.settings import TopicSettings
from schemas.serde import AvroSerde
from schemas.values import plain
from tests.fixtures.kafka import TestCluster
from tests.helpers.kafka import consume, consume_until, produce, wait_committed
from tests.helpers.processes import Child

T0 = 1_771_149_600_000
ORDERS = list(range(2000, 2012))
FIRST, SECOND = 60.0, 40.0


SESSION = Connection(connection_id="c", subscription_id="1")


def change(payload: dict[str, Any], at: int, event: str) -> dict[str, Any]:
    return change_record(SESSION.envelope("mmapi", at, at, "LIVE"), event, payload)


def filled(order_id: int) -> dict[str, Any]:
    at = T0 + order_id
    return change(
        {
            "orderId": order_id,
            "client": "desk",
            "fixtureId": "f",
            "orderStake": 100.0,
            "orderCents": 0.45,
            "matchedStake": 100.0,
            "matchedAt": at,
            "orderStatus": "FILLED",
            "updatedAt": at,
        },
        at,
        "UPDATE",
    )


def bet(order_id: int, second: bool) -> dict[str, Any]:
    at = T0 + order_id + (900 if second else 300)
    return change(
        {
            "betId": order_id * 10 + int(second),
            "orderId": order_id,
            "bookmaker": "vertex",
            "placedStake": SECOND if second else FIRST,
            "placedPrice": 1.9,
            "betStatus": "placed",
            "placedAt": at,
            "updatedAt": at,
        },
        at,
        "INSERT",
    )


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


def start_worker(cluster: TestCluster, topics: TopicSettings, app_id: str, tmp_path: Path) -> Child:
    env = {
        **cluster.env(topics),
        "MMSTREAM_PROCESSOR_APP_ID": app_id,
        "MMSTREAM_DATA_DIR": str(tmp_path),
        "MMSTREAM_PROCESSOR_HEDGE_DEADLINE_S": "600",  # no deadline alerts in this test
    }
    return Child(["process"], env, tmp_path / f"worker-{uuid.uuid4().hex[:6]}.log")


def hedged(stake: float, orders: list[int]) -> Callable[[list[tuple[str | None, Any]]], bool]:
    """Whether the latest hedge.fills record of every one of `orders` shows `stake` hedged."""

    def check(records: list[tuple[str | None, Any]]) -> bool:
        latest = {value["order_id"]: value for _, value in records}
        return all(latest.get(o, {}).get("hedged_stake") == stake for o in orders)

    return check


def ends_of(cluster: TestCluster, topic: str, count: int) -> dict[TopicPartition, int]:
    """Each partition's end offset, from the records themselves (not the broker's watermark)."""
    ends: dict[TopicPartition, int] = {}
    for _, _, message in consume(cluster.target, topic, count, 30):
        tp = TopicPartition(topic, message.partition() or 0)
        ends[tp] = max(ends.get(tp, 0), (message.offset() or 0) + 1)
    return ends


@pytest.mark.parametrize("stop_signal", [signal.SIGKILL, signal.SIGTERM], ids=["kill", "term"])
async def test_a_worker_restarted_mid_stream_loses_no_hedge_and_counts_none_twice(
    cluster: TestCluster,
    topics: TopicSettings,
    serde: AvroSerde,
    tmp_path: Path,
    stop_signal: signal.Signals,
) -> None:
    def decode(data: bytes) -> Any:
        return plain(serde.decode("hedge_fills", data))

    fills = topics.name("hedge_fills")
    app_id = f"restart-{uuid.uuid4().hex[:8]}"
    send(cluster, topics, serde, "orders", [filled(o) for o in ORDERS])
    send(cluster, topics, serde, "bets", [bet(o, second=False) for o in ORDERS])
    order_ends = ends_of(cluster, topics.name("orders"), len(ORDERS))

    first = start_worker(cluster, topics, app_id, tmp_path)
    try:
        await asyncio.to_thread(
            consume_until, cluster.target, fills, hedged(FIRST, ORDERS), 90, decode
        )
        await wait_committed(cluster.target, app_id, order_ends)
        # mid-stream: half the second bets, and the first bets again (an upstream replay)
        send(cluster, topics, serde, "bets", [bet(o, second=True) for o in ORDERS[:6]])
        send(cluster, topics, serde, "bets", [bet(o, second=False) for o in ORDERS])
        await asyncio.to_thread(
            consume_until, cluster.target, fills, hedged(FIRST + SECOND, ORDERS[:1]), 60, decode
        )
        first.process.send_signal(stop_signal)
        await first.wait(40)
    finally:
        first.kill()
    send(cluster, topics, serde, "bets", [bet(o, second=True) for o in ORDERS[6:]])

    second = start_worker(cluster, topics, app_id, tmp_path)
    try:
        records = await asyncio.to_thread(
            consume_until, cluster.target, fills, hedged(FIRST + SECOND, ORDERS), 120, decode
        )
    finally:
        assert await second.stop() == 0, second.output[-3000:]
    latest = {value["order_id"]: value for _, value in records}
    for order_id in ORDERS:
        fill = latest[order_id]
        assert fill["filled_stake"] == 100.0, ("the fill came back from the changelog", fill)
        assert fill["hedged_stake"] == FIRST + SECOND, fill
        assert fill["status"] == "HEDGED", fill
        assert [b["bet_id"] for b in fill["bets"]] == [order_id * 10, order_id * 10 + 1], fill
    overcounted = [v for _, v in records if v["hedged_stake"] > FIRST + SECOND]
    assert not overcounted, "a replayed or reprocessed bet was counted twice"
