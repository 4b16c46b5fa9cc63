"""One of two workers SIGKILLed mid-stream on the 3-node cluster: its partitions move to the
other worker, no hedge is lost and none is counted twice; with Faust's exactly-once, a
read_committed reader of hedge.fills also sees no record twice.

Measured and printed (run with -s): seconds from the kill until the group has one member
owning every partition, until every order's hedge is complete, and the duplicate records a
reader of hedge.fills sees (at-least-once may repeat records; the stake is never
double counted either way, the outputs being keyed and deterministic).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient

from mmstream.core.kafka.admin import create_topics, delete_topics
from mmstream.core.settings import TopicSettings
from mmstream.stack.kafka_cluster import KafkaCluster
from schemas.serde import AvroSerde
from schemas.values import plain
from tests.fixtures.kafka import TestCluster
from tests.helpers.groups import wait_owners
from tests.helpers.kafka import consume, consume_until
from tests.helpers.processes import Child
from tests.integration.processors.test_worker_restart import (
    FIRST,
    SECOND,
    bet,
    filled,
    hedged,
    send,
)

pytestmark = pytest.mark.cluster3
ORDERS = list(range(3000, 3040))


# Exactly-once is a measurement here, not a guarantee the project gives (README, "Processing
# guarantee"): measured 2026-12-01 (faust-streaming 0.15.3, Kafka 4.1.1), with two exactly_once
# workers the rebalance fenced the transactional producers (ProducerFenced, 'No transaction
# producer found'; faust-streaming/faust#323) and a read_committed reader saw 1 of 40 hedges in
# 90 s, before any kill - and on another run, at load 13, it held. An outcome that flips with
# the load cannot gate CI either way; MMSTREAM_TEST_EXACTLY_ONCE=1 runs the measurement.
EOS_MEASUREMENT = pytest.mark.skipif(
    os.environ.get("MMSTREAM_TEST_EXACTLY_ONCE") != "1",
    reason="exactly_once is measured, not supported (README); MMSTREAM_TEST_EXACTLY_ONCE=1 runs it",
)


@pytest.mark.parametrize(
    "guarantee", ["at_least_once", pytest.param("exactly_once", marks=EOS_MEASUREMENT)]
)
async def test_a_killed_workers_partitions_move_and_no_hedge_is_lost_or_counted_twice(
    cluster3: tuple[TestCluster, KafkaCluster],
    tmp_path: Path,
    guarantee: str,
) -> None:
    cluster, _ = cluster3
    suffix = uuid.uuid4().hex[:10]
    topics = TopicSettings(**{k: f"{v}.{suffix}" for k, v in TopicSettings().names().items()})
    create_topics(cluster.target, topics)
    serde = AvroSerde(SchemaRegistryClient({"url": cluster.registry_url}), topics)
    serde.register_all()
    app_id = f"kill-{suffix}"
    fills = topics.name("hedge_fills")
    reader = {"isolation.level": "read_committed"}

    def decode(data: bytes) -> Any:
        return plain(serde.decode("hedge_fills", data))

    def start() -> Child:
        env = {
            **cluster.env(topics),
            "MMSTREAM_PROCESSOR_APP_ID": app_id,
            "MMSTREAM_DATA_DIR": str(tmp_path),
            "MMSTREAM_PROCESSOR_HEDGE_DEADLINE_S": "600",
            "MMSTREAM_PROCESSOR_PROCESSING_GUARANTEE": guarantee,
        }
        return Child(["process"], env, tmp_path / f"worker-{uuid.uuid4().hex[:6]}.log")

    admin = AdminClient({"bootstrap.servers": cluster.target.bootstrap_servers})
    send(cluster, topics, serde, "orders", [filled(o) for o in ORDERS])
    send(cluster, topics, serde, "bets", [bet(o, second=False) for o in ORDERS])
    survivor, victim = start(), start()
    try:
        await wait_owners(admin, app_id, 2, 90)
        await asyncio.to_thread(
            consume_until, cluster.target, fills, hedged(FIRST, ORDERS), 90, decode, reader
        )
        # mid-stream: half the second bets and a replay of the first ones, then the kill
        send(cluster, topics, serde, "bets", [bet(o, second=True) for o in ORDERS[::2]])
        send(cluster, topics, serde, "bets", [bet(o, second=False) for o in ORDERS])
        victim.process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        send(cluster, topics, serde, "bets", [bet(o, second=True) for o in ORDERS[1::2]])
        assigned = await wait_owners(admin, app_id, 1, 60)
        moved_s = time.monotonic() - killed
        await asyncio.to_thread(
            consume_until,
            cluster.target,
            fills,
            hedged(FIRST + SECOND, ORDERS),
            90,
            decode,
            reader,
        )
        complete_s = time.monotonic() - killed
        records = [
            v
            for _, v, _ in consume(
                cluster.target, fills, 1, 30, decode, quiet_s=2.0, overrides=reader
            )
        ]
    finally:
        victim.kill()
        assert await survivor.stop() == 0, survivor.output[-3000:]
        delete_topics(cluster.target, list(topics.names().values()))
    seen = [json.dumps(r, sort_keys=True) for r in records]
    duplicates = len(seen) - len(set(seen))
    print(
        f"\n[{guarantee}] partitions moved {moved_s:.1f} s after the kill "
        f"({assigned} partitions, one member); every hedge complete after {complete_s:.1f} s; "
        f"{len(records)} hedge.fills records read_committed, {duplicates} duplicates"
    )
    latest = {r["order_id"]: r for r in records}
    for order_id in ORDERS:
        fill = latest[order_id]
        assert fill["hedged_stake"] == FIRST + SECOND and fill["status"] == "HEDGED", fill
        assert [b["bet_id"] for b in fill["bets"]] == [order_id * 10, order_id * 10 + 1], fill
    assert not [r for r in records if r["hedged_stake"] > FIRST + SECOND], "counted twice"
    if guarantee == "exactly_once":
        assert duplicates == 0, f"exactly-once: {duplicates} records read twice"
