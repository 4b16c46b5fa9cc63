"""A fix to Faust's table writes while a broker fails over (faust-streaming 0.15.3 with
aiokafka 0.14.0): a bug of the client libraries, installed by `faust_fixes` on every broker.
"""

from __future__ import annotations

from typing import Any


def key_partition_from_known_partitions(key_partition: Any) -> Any:
    """Fix `partition_keys_through_failover`: a table write partitions its key over the topic's
    partitions as last known, or as the table declares them, when the producer's metadata has
    none for the changelog.

    A table with `use_partitioner` picks each changelog record's partition at once
    (`eager_partitioning`), through aiokafka's `_partition`, which reads the producer's
    metadata without waiting for it. That metadata has no partitions for the topic before the
    producer has asked for it (a worker's first write to a changelog another worker created)
    and while a killed broker's partitions have no leader yet (the response leaves the topic
    out): `partitions_for_topic` is None and the write raises `TypeError: 'NoneType' object is
    not iterable` in the agent, and the worker dies (both seen on the 3-node cluster,
    `tests/integration/cluster/test_broker_kill.py`). A changelog keeps the partitions its
    table declares (Faust checks them against the source topics), so hashing the key over
    those gives the partition the metadata would (murmur2, aiokafka's default partitioner).
    """
    known: dict[str, list[int]] = {}

    def partition_key(self: Any, topic: str, key: bytes) -> Any:
        from faust.types import TP

        producer = self._ensure_producer()
        partitions = producer._metadata.partitions_for_topic(topic)
        if partitions:
            known[topic] = sorted(partitions)
            return key_partition(self, topic, key)
        fallback = known.get(topic) or declared_partitions(self.app, topic)
        if not fallback:
            return key_partition(self, topic, key)  # not a changelog: the library's own error
        return TP(topic, producer._partitioner(key, fallback, fallback))

    return partition_key


def declared_partitions(app: Any, topic: str) -> list[int]:
    """The partitions of `topic` if it is a table's changelog (as the table declares them)."""
    for table in app.tables.values():
        if table.changelog_topic_name == topic:
            return list(range(table.partitions or app.conf.topic_partitions))
    return []
