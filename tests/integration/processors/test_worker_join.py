"""A second worker joins mid-stream and takes over some partitions: the first worker must not
go on deciding for the orders it handed over.

Faust's in-memory table keeps the keys a worker wrote itself after it lost their partition
(it forgets only keys it had read back from the changelog), so without
`mmstream.core.kafka.faust_fixes`' `forget_moved_keys` the first worker's deadline timer still
finds the orders that moved, as it last knew them, and opens an UNHEDGED_FILL alert for an
order whose second hedge bet only the new owner read: an alert nobody ever resolves.

Each order is filled (100) and hedged 60 while one worker owns every partition; once the
second worker has joined, each order but one per partition (the controls) gets its second bet
(40). At the hedge deadline the controls' alerts open (each on its owner); the others are fully
hedged and must have no open alert.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from mmstream.core.child_process import free_port
from mmstream.core.kafka.faust_fixes import FIXES_OFF_VARIABLE
from mmstream.core.settings import TopicSettings
from schemas.serde import AvroSerde
from schemas.values import plain
from tests.fixtures.kafka import TestCluster
from tests.helpers.health import probe_now
from tests.helpers.kafka import consume, consume_until
from tests.helpers.processes import Child
from tests.integration.processors.test_worker_restart import FIRST, SECOND, bet, filled, send

ORDERS = list(range(4000, 4032))
DEADLINE_S = 30  # longer than the second worker's join on a loaded machine (checked below)


def assigned(port: int) -> int | None:
    """The partitions a worker owns once it is ready (assigned, recovered, no rebalance under
    way), from its `/readyz`; None while it is not."""
    status, body = probe_now(f"http://127.0.0.1:{port}/readyz")
    if status != 200:
        return None
    return int(body["checks"]["partitions"]["detail"].split()[0])


async def wait_assigned(ports: list[int], accept: Any, deadline_s: float) -> list[int]:
    """Wait until every worker on `ports` is ready and `accept(their partition counts)`."""
    end = asyncio.get_running_loop().time() + deadline_s
    while True:
        counts = [await asyncio.to_thread(assigned, port) for port in ports]
        if None not in counts and accept(counts):
            return counts  # type: ignore[return-value]
        assert asyncio.get_running_loop().time() < end, f"workers not as expected: {counts}"
        await asyncio.sleep(0.2)


def partitions_of(cluster: TestCluster, topics: TopicSettings) -> dict[int, int]:
    """Each order's partition of `mmapi.orders` (where the producer's partitioner put it)."""
    records = consume(cluster.target, topics.name("orders"), len(ORDERS), 30)
    return {int(key or 0): message.partition() or 0 for key, _, message in records}


@pytest.mark.parametrize("fixed", [False, True], ids=["without-fix", "with-fix"])
async def test_a_joining_worker_takes_orders_over_and_the_first_alerts_none_of_them(
    cluster: TestCluster, topics: TopicSettings, serde: AvroSerde, tmp_path: Path, fixed: bool
) -> None:
    app_id = f"join-{uuid.uuid4().hex[:8]}"
    alerts_topic, fills_topic = topics.name("risk_alerts"), topics.name("hedge_fills")

    def start(port: int) -> Child:
        env = {
            "MMSTREAM_PROCESSOR_METRICS_PORT": str(port),
            **cluster.env(topics),
            "MMSTREAM_PROCESSOR_APP_ID": app_id,
            "MMSTREAM_DATA_DIR": str(tmp_path),
            "MMSTREAM_PROCESSOR_HEDGE_DEADLINE_S": str(DEADLINE_S),
            "MMSTREAM_PROCESSOR_TICK_INTERVAL_S": "0.2",
            FIXES_OFF_VARIABLE: "" if fixed else "forget_moved_keys",
        }
        return Child(["process"], env, tmp_path / f"worker-{uuid.uuid4().hex[:6]}.log")

    def decode(topic_id: str) -> Any:
        return lambda data: plain(serde.decode(topic_id, data))

    def alerts(at_least: int) -> list[dict[str, Any]]:
        read = consume(
            cluster.target, alerts_topic, at_least, 10, decode("risk_alerts"), quiet_s=1.5
        )
        return [v for _, v, _ in read if v["alert_type"] == "UNHEDGED_FILL"]

    def latest_hedged(stake: float, orders: list[int]) -> Any:
        def check(records: list[tuple[str | None, Any]]) -> bool:
            latest = {value["order_id"]: value for _, value in records}
            return all(latest.get(o, {}).get("hedged_stake") == stake for o in orders)

        return check

    send(cluster, topics, serde, "orders", [filled(o) for o in ORDERS])
    send(cluster, topics, serde, "bets", [bet(o, second=False) for o in ORDERS])
    partition = partitions_of(cluster, topics)
    controls = sorted({p: o for o, p in sorted(partition.items(), reverse=True)}.values())
    assert len(controls) == 4, f"the orders did not spread over every partition: {partition}"
    hedged = [o for o in ORDERS if o not in controls]
    ports = [free_port(), free_port()]
    first = start(ports[0])
    second = None
    try:
        [alone] = await wait_assigned(ports[:1], lambda counts: counts[0] > 0, 60)
        await asyncio.to_thread(
            consume_until,
            cluster.target,
            fills_topic,
            latest_hedged(FIRST, ORDERS),
            60,
            decode("hedge_fills"),
        )
        second = start(ports[1])
        await wait_assigned(ports, lambda counts: 0 < counts[0] < alone and counts[1] > 0, 60)
        # the fills again (an at-least-once upstream replays), so that the new owner reads
        # both inputs and its stream clock runs, and the second bets of all but the controls
        send(cluster, topics, serde, "orders", [filled(o) for o in ORDERS])
        send(cluster, topics, serde, "bets", [bet(o, second=True) for o in hedged])
        await asyncio.to_thread(
            consume_until,
            cluster.target,
            fills_topic,
            latest_hedged(FIRST + SECOND, hedged),
            60,
            decode("hedge_fills"),
        )
        # the scenario holds only if the deadline had not passed before the orders moved
        early = alerts(0)
        assert not early, f"deadline passed before the second worker took over: {early}"

        def every_control_alerted(records: list[tuple[str | None, Any]]) -> bool:
            opened = {v["order_id"] for _, v in records if v["alert_type"] == "UNHEDGED_FILL"}
            return set(controls) <= opened

        await asyncio.to_thread(
            consume_until,
            cluster.target,
            alerts_topic,
            every_control_alerted,
            DEADLINE_S + 60,
            decode("risk_alerts"),
        )
        unhedged = alerts(len(controls))
    finally:
        first.kill()
        if second is not None:
            second.kill()
    latest = {a["order_id"]: a["state"] for a in unhedged}
    wrongly_open = sorted(o for o in hedged if latest.get(o) == "OPEN")
    if not fixed:  # the first worker alerted from the state it had handed over
        assert wrongly_open, f"the bug did not show without the fix: {unhedged}"
        return
    assert not wrongly_open, (
        f"fully hedged orders left with an open UNHEDGED_FILL alert: {wrongly_open} "
        f"(partitions {[partition[o] for o in wrongly_open]})"
    )
    assert {o for o, state in latest.items() if state == "OPEN"} == set(controls), unhedged
