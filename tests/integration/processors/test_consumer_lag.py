"""A worker's `mmstream_processor_consumer_lag` agrees with the broker while the worker is behind
and records keep arriving: never below end offset minus committed offset as the broker had them
when the figure was sampled, and 0 once the broker shows the group caught up.

The test writes orders faster than one worker joins them (a backlog forms and grows) and notes
when each record was acknowledged. For each scrape of the worker's metrics, the records
acknowledged before the figure's sample time (`..._lag_sampled_timestamp_seconds`) were in the
partition then, and the group's committed offset read after the scrape is at least what it was
then: so the true lag at sample time is at least `acknowledged_then - committed_after`.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from bisect import bisect_right
from pathlib import Path

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from mmstream.core.child_process import free_port
from mmstream.core.kafka.config import producer_config
from mmstream.core.settings import TopicSettings
from mmstream.core.topics import TOPICS_BY_ID
from mmstream.view.sources import scrape
from schemas.serde import AvroSerde
from tests.fixtures.kafka import TestCluster
from tests.helpers.health import status_is, wait_answer
from tests.helpers.kafka import wait_committed
from tests.helpers.processes import Child
from tests.integration.processors.test_worker_restart import filled

ORDERS = range(5000, 7000)  # cycled: a repeated fill is a duplicate the join ignores
RECORDS = 100_000
RATE = 20_000  # records/s offered: well above what one worker joins
LAG = "mmstream_processor_consumer_lag"
SAMPLED = "mmstream_processor_lag_sampled_timestamp_seconds"
PARTITIONS = TOPICS_BY_ID["orders"].partitions


class Writer(threading.Thread):
    """Writes `RECORDS` orders at about `RATE`; for each partition, the acknowledged end offsets
    in the order they were acknowledged, with the wall-clock time of each acknowledgement."""

    def __init__(self, cluster: TestCluster, topic: str, values: list[tuple[str, bytes]]) -> None:
        super().__init__(daemon=True)
        self.producer = Producer(producer_config(cluster.target))
        self.topic = topic
        self.values = values
        self.acked: dict[int, tuple[list[float], list[int]]] = {}
        self.lock = threading.Lock()
        self.failed = 0

    def on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.failed += 1
            return
        with self.lock:
            times, ends = self.acked.setdefault(message.partition() or 0, ([], []))
            times.append(time.time())
            ends.append(max(ends[-1] if ends else 0, (message.offset() or 0) + 1))

    def run(self) -> None:
        started = time.monotonic()
        for sent in range(RECORDS):
            key, value = self.values[sent % len(self.values)]
            self.producer.produce(self.topic, value, key.encode(), on_delivery=self.on_delivery)
            if sent % 200 == 0:
                self.producer.poll(0)
                ahead = sent / RATE - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)  # pacing the load, not waiting for an outcome
        self.producer.flush(60)
        self.producer.close()

    def acked_before(self, partition: int, at: float) -> int:
        with self.lock:
            times, ends = self.acked.get(partition, ([], []))
            index = bisect_right(times, at)
            return ends[index - 1] if index else 0


def committed(admin: AdminClient, group: str, topic: str, partitions: int) -> dict[int, int]:
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    request = [ConsumerGroupTopicPartitions(group, tps)]
    result = admin.list_consumer_group_offsets(request)[group].result(10)
    return {tp.partition: max(0, tp.offset) for tp in result.topic_partitions}


def figures(url: str, topic: str) -> tuple[float, dict[int, float]] | None:
    samples = scrape(url) or {}
    sampled = [value for _, value in samples.get(SAMPLED, [])]
    lags = {
        int(labels["partition"]): value
        for labels, value in samples.get(LAG, [])
        if labels.get("topic") == topic
    }
    return (sampled[0], lags) if sampled and sampled[0] > 0 else None


async def test_the_consumer_lag_metric_never_trails_the_brokers_offsets(
    cluster: TestCluster, topics: TopicSettings, serde: AvroSerde, tmp_path: Path
) -> None:
    orders = topics.name("orders")
    app_id = f"lag-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {
        **cluster.env(topics),
        "MMSTREAM_PROCESSOR_APP_ID": app_id,
        "MMSTREAM_DATA_DIR": str(tmp_path),
        "MMSTREAM_PROCESSOR_METRICS_PORT": str(port),
        "MMSTREAM_PROCESSOR_LAG_INTERVAL_S": "0.2",
        "MMSTREAM_PROCESSOR_HEDGE_DEADLINE_S": "600",  # no deadline alerts in this test
    }
    values = [(str(o), serde.encode("orders", filled(o))) for o in ORDERS]
    admin = AdminClient({"bootstrap.servers": cluster.target.bootstrap_servers})
    url = f"http://127.0.0.1:{port}/metrics"
    worker = Child(["process"], env, tmp_path / "worker.log")
    trailing: list[str] = []
    behind = 0
    try:
        await wait_answer(
            f"http://127.0.0.1:{port}/readyz", status_is(200), 120, "the worker ready"
        )
        writer = Writer(cluster, orders, values)
        writer.start()
        deadline = time.monotonic() + 4 * RECORDS / RATE + 60
        while writer.is_alive():
            assert time.monotonic() < deadline, "the writer did not finish"
            seen = await asyncio.to_thread(figures, url, orders)
            assert seen is not None, f"no lag figures:\n{worker.output[-3000:]}"
            sampled_at, lags = seen
            after = await asyncio.to_thread(committed, admin, app_id, orders, PARTITIONS)
            for partition in range(PARTITIONS):
                floor = writer.acked_before(partition, sampled_at) - after.get(partition, 0)
                behind = max(behind, floor)
                if lags.get(partition, 0) < floor:
                    trailing.append(
                        f"partition {partition}: metric {lags.get(partition)} < {floor} "
                        f"(acknowledged by {sampled_at:.3f} minus committed after the scrape)"
                    )
        writer.join()
        assert writer.failed == 0, f"{writer.failed} records not delivered"
        ends = {TopicPartition(orders, p): e[-1] for p, (_, e) in writer.acked.items()}
        await wait_committed(cluster.target, app_id, ends, 180)
        caught_up_at, deadline = time.time(), time.monotonic() + 30
        seen = None
        while seen is None or seen[0] <= caught_up_at:  # figures sampled after that moment
            assert time.monotonic() < deadline, f"no lag figures since {caught_up_at}: {seen}"
            seen = await asyncio.to_thread(figures, url, orders)
        assert seen[1] == {p: 0 for p in range(PARTITIONS)}, seen
    finally:
        assert await worker.stop() == 0, worker.output[-3000:]
    assert behind > 1000, f"no backlog formed (at most {behind} records behind): nothing shown"
    assert not trailing, f"{len(trailing)} figures trailed the broker, first: {trailing[:5]}"
