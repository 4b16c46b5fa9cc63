"""Test helpers on a real broker: produce, and consume with a bounded deadline."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    ConsumerGroupTopicPartitions,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient

from mmstream.core.kafka.config import ClusterTarget, consumer_config, producer_config
from mmstream.core.settings import TopicSettings
from schemas.decoder import Decoder


def decoder_for(registry_url: str, topics: TopicSettings) -> Callable[[bytes, str], Any]:
    """The project's one decoder, reading values of `topics` by their committed schemas."""
    decoder = Decoder(
        SchemaRegistryClient({"url": registry_url}),
        {name: topic_id for topic_id, name in topics.names().items()},
    )
    return decoder.decode


def from_beginning(
    target: ClusterTarget,
    topic: str,
    group_id: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> Consumer:
    """A consumer with every partition of `topic` assigned from offset 0 (no group join);
    `overrides`: more consumer properties (e.g. `isolation.level`)."""
    settings = {"enable.auto.commit": False, **(overrides or {})}
    consumer = Consumer(consumer_config(target, group_id or f"test-{uuid.uuid4()}", **settings))
    partitions = known_partitions(consumer, topic)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    return consumer


def known_partitions(consumer: Consumer, topic: str, deadline_s: float = 30.0) -> list[int]:
    """The partitions of `topic`, once the broker answering knows them: just after the topic
    is created, another node of a cluster may not yet (the topic comes back with
    UNKNOWN_TOPIC_OR_PART and no partitions, and assigning those would read nothing)."""
    end = time.monotonic() + deadline_s
    while True:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        if metadata.error is None and metadata.partitions:
            return sorted(metadata.partitions)
        assert time.monotonic() < end, f"{topic}: no partitions known ({metadata.error})"
        time.sleep(0.1)


def consume(
    target: ClusterTarget,
    topic: str,
    count: int,
    deadline_s: float = 20.0,
    decode: Callable[[bytes], Any] | None = None,
    group_id: str | None = None,
    quiet_s: float = 0.0,
    overrides: dict[str, Any] | None = None,
) -> list[tuple[str | None, Any, Message]]:
    """Read at least `count` records of `topic` from the beginning, or fail after `deadline_s`;
    with `quiet_s`, go on reading until no record came for that long (to see duplicates too).

    Partitions are assigned directly (no group join), so a read costs milliseconds.
    """
    consumer = from_beginning(target, topic, group_id, overrides)
    records: list[tuple[str | None, Any, Message]] = []
    end = time.monotonic() + deadline_s
    last = time.monotonic()
    try:
        while time.monotonic() < end:
            if len(records) >= count and time.monotonic() - last >= quiet_s:
                break
            message = consumer.poll(0.1)
            if message is None or message.error():
                continue
            last = time.monotonic()
            key = message.key()
            value = message.value()
            records.append(
                (
                    key.decode() if key is not None else None,
                    decode(value) if decode and value is not None else value,
                    message,
                )
            )
    finally:
        consumer.close()
    assert len(records) >= count, f"{topic}: got {len(records)} of {count} records in {deadline_s}s"
    return records


TANSU_QUIET_S = 1.5  # Tansu's end offsets fall short after a multi-record batch


def read_to_end(
    target: ClusterTarget,
    topic: str,
    decode: Callable[[bytes], Any] | None = None,
    deadline_s: float = 60.0,
) -> list[tuple[str | None, Any, Message]]:
    """Every record of `topic` up to each partition's end offset as the broker reports it now,
    or fail after `deadline_s`. Once the topic's writers have exited that is all it will ever
    hold, so on Apache Kafka duplicates are seen without waiting out a quiet period
    (`consume(quiet_s=...)`). Tansu reports the last batch's base offset + 1 as the end
    (BROKERS.md): there the read goes on past it until no record came for `TANSU_QUIET_S`."""
    consumer = from_beginning(target, topic)
    records: list[tuple[str | None, Any, Message]] = []
    try:
        ends: dict[int, int] = {}
        for tp in consumer.assignment():
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), 10)
            if high > low:
                ends[tp.partition] = high
        end = time.monotonic() + deadline_s
        quiet_s = TANSU_QUIET_S if target.embedded else 0.0
        last = time.monotonic()
        while ends or time.monotonic() - last < quiet_s:
            assert time.monotonic() < end, (
                f"{topic}: not read up to the end offsets {ends} in {deadline_s}s "
                f"({len(records)} records)"
            )
            message = consumer.poll(0.1)
            if message is None or message.error():
                continue
            last = time.monotonic()
            key, value = message.key(), message.value()
            records.append(
                (
                    key.decode() if key is not None else None,
                    decode(value) if decode and value is not None else value,
                    message,
                )
            )
            partition, offset = message.partition() or 0, message.offset() or 0
            if offset + 1 >= ends.get(partition, offset + 2):
                del ends[partition]
    finally:
        consumer.close()
    return records


def produce(
    target: ClusterTarget, topic: str, records: Sequence[tuple[str | None, bytes]], **config: Any
) -> None:
    producer = Producer(producer_config(target, **config))
    for key, value in records:
        producer.produce(topic, key=key.encode() if key else None, value=value)
    remaining = producer.flush(30)
    assert remaining == 0, f"{remaining} records not delivered to {topic}"


def consume_until(
    target: ClusterTarget,
    topic: str,
    done: Callable[[list[tuple[str | None, Any]]], bool],
    deadline_s: float,
    decode: Callable[[bytes], Any],
    overrides: dict[str, Any] | None = None,
) -> list[tuple[str | None, Any]]:
    """Read `topic` from the beginning until `done(records so far)` holds; fail after
    `deadline_s` with what was read."""
    consumer = from_beginning(target, topic, overrides=overrides)
    records: list[tuple[str | None, Any]] = []
    end = time.monotonic() + deadline_s
    try:
        while not done(records):
            assert time.monotonic() < end, f"{topic}: condition not met in {deadline_s}s: {records}"
            message = consumer.poll(0.1)
            raw = None if message is None or message.error() else message.value()
            if message is None or raw is None:
                continue
            key = message.key()
            records.append((key.decode() if key else None, decode(raw)))
    finally:
        consumer.close()
    return records


async def wait_committed(
    target: ClusterTarget, group: str, ends: dict[TopicPartition, int], deadline_s: float = 60.0
) -> None:
    """Wait until `group` has committed every partition up to its end, failing after
    `deadline_s`."""
    admin = AdminClient({"bootstrap.servers": target.bootstrap_servers, **target.client_properties})
    request = [ConsumerGroupTopicPartitions(group, list(ends))]
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        result = admin.list_consumer_group_offsets(request)[group].result(10)
        committed = {
            TopicPartition(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions
        }
        if all(committed.get(tp, -1) >= end for tp, end in ends.items()):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{group} did not commit {ends}")
