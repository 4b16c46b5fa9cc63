"""Fix `exact_changelog_ends` (Tansu only): the end offsets Faust recovers tables up to.

Tansu answers ListOffsets(latest) with the last batch's base offset + 1 (BROKERS.md), so a
table whose changelog was written in multi-record batches would be recovered short of its last
updates. Apache Kafka reports the true end (pinned by the broker-conformance tests), so this
fix is installed on Tansu only.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError

from mmstream.core.kafka.config import ClusterTarget, consumer_config


def exact_highwaters(reported_ends: Any, target: ClusterTarget) -> Any:
    """`AIOKafkaConsumerThread.highwaters` reading each partition's last batch to its real end
    (one fetch per partition, at recovery only), so changelogs can be written in ordinary
    batches instead of one record per request."""

    async def highwaters(self: Any, *partitions: Any) -> Mapping[Any, int]:
        reported: Mapping[Any, int] = await reported_ends(self, *partitions)
        return await asyncio.to_thread(read_true_ends, target, reported)

    return highwaters


def read_true_ends(target: ClusterTarget, reported: Mapping[Any, int]) -> dict[Any, int]:
    """Each partition's end offset, found by reading from its reported end - 1 to its end."""
    from confluent_kafka import Consumer, TopicPartition

    ends = dict(reported)
    starts = {(tp.topic, tp.partition): tp for tp, end in reported.items() if end}
    if not starts:
        return ends
    consumer = Consumer(
        consumer_config(
            target,
            f"mmstream-end-probe-{uuid.uuid4().hex[:8]}",
            **{"enable.auto.commit": False, "enable.partition.eof": True},
        )
    )
    try:
        consumer.assign([TopicPartition(t, p, reported[tp] - 1) for (t, p), tp in starts.items()])
        pending = set(starts)
        deadline = time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            key = (message.topic(), message.partition())
            error = message.error()
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                pending.discard(key)
            elif error is None and key in starts:
                tp = starts[key]
                ends[tp] = max(ends[tp] or 0, (message.offset() or 0) + 1)
        if pending:
            raise RuntimeError(f"could not read the end of changelog partitions {sorted(pending)}")
    finally:
        consumer.close()
    return ends
