"""Compaction really runs on the compacted pipeline topics (`reference.fixture_map`,
`risk.emergency`) on Apache Kafka: after many updates per key, a fresh reader sees one record
per key, the latest.

The topics are created as the pipeline creates them (mmstream.core.kafka.admin.create_topics, RF 3);
the test only shortens the segment and cleaner settings so the cleaner runs within seconds.
Kafka never cleans the active segment: once the updates are written, a marker record (key
`SEGMENT_ROLL`) is written every 300 ms, so that each write after `segment.ms` rolls the
segment holding the updates into the cleaner's reach; the marker key is not a pipeline key and
is left out of the count.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from mmstream.core.kafka.admin import create_topics, delete_topics
from mmstream.core.kafka.config import producer_config
from mmstream.core.settings import TopicSettings
from mmstream.stack.kafka_cluster import KafkaCluster
from tests.fixtures.kafka import TestCluster
from tests.helpers.kafka import consume

pytestmark = pytest.mark.cluster3
SEGMENT_ROLL = b"SEGMENT_ROLL"
FAST_CLEANING = {
    "segment.ms": "100",
    "min.cleanable.dirty.ratio": "0.01",
    "min.compaction.lag.ms": "0",
    "delete.retention.ms": "100",
}
UPDATES = {"fixture_map": (20, 15), "risk_emergency": (2, 40)}  # keys, updates per key


def describe_when_every_broker_knows(admin: AdminClient, topic: str) -> dict[str, ConfigEntry]:
    """A topic's configs, asked again while the broker asked has not yet replayed the topic's
    creation from the metadata log: KRaft brokers learn of a new topic independently, and one
    restarted by the broker-kill tests can trail the controller by a few seconds."""
    deadline = time.monotonic() + 30
    while True:
        described = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)])
        try:
            config: dict[str, ConfigEntry] = next(iter(described.values())).result(30)
            return config
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
            assert time.monotonic() < deadline, f"a broker still does not know {topic} after 30 s"
        time.sleep(0.2)


@pytest.mark.parametrize("topic_id", sorted(UPDATES))
def test_a_fresh_reader_sees_one_record_per_key(
    cluster3: tuple[TestCluster, KafkaCluster], topic_id: str
) -> None:
    cluster, _ = cluster3
    suffix = uuid.uuid4().hex[:10]
    names = TopicSettings(**{k: f"{v}.{suffix}" for k, v in TopicSettings().names().items()})
    create_topics(cluster.target, names)
    topic = names.name(topic_id)
    try:
        admin = AdminClient({"bootstrap.servers": cluster.target.bootstrap_servers})
        entries = [
            ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
            for k, v in FAST_CLEANING.items()
        ]
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=entries)
        for future in admin.incremental_alter_configs([resource]).values():
            future.result(30)
        config = describe_when_every_broker_knows(admin, topic)
        assert config["cleanup.policy"].value == "compact", "the pipeline's own topic config"

        keys, updates = UPDATES[topic_id]
        producer = Producer(producer_config(cluster.target))
        for n in range(updates):
            for k in range(keys):
                producer.produce(topic, key=f"key-{k}".encode(), value=f"{n}".encode())
        assert producer.flush(30) == 0
        written = keys * updates

        deadline = time.monotonic() + 90
        while True:
            producer.produce(topic, key=SEGMENT_ROLL, value=b"")
            assert producer.flush(10) == 0
            records = consume(cluster.target, topic, 1, 30, quiet_s=0.5)
            per_key = Counter(k for k, _, _ in records if k != SEGMENT_ROLL.decode())
            latest = {k: v for k, v, _ in records if k != SEGMENT_ROLL.decode()}
            if set(per_key.values()) == {1}:
                break
            assert time.monotonic() < deadline, (
                f"{topic} not compacted in 90 s: {sum(per_key.values())} of {written} records "
                f"left for {len(per_key)} keys"
            )
            time.sleep(0.3)  # the segment must be older than segment.ms before the next write
        assert len(per_key) == keys
        assert set(latest.values()) == {str(updates - 1).encode()}, "the latest value survives"
    finally:
        delete_topics(cluster.target, list(names.names().values()))
