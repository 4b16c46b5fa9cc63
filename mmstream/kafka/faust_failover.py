"""A fix to Faust's table writes while a broker fails over (faust-streaming 0.15.3 with
aiokafka 0.14.0): a bug of the client libraries, installed by `faust_fixes` on every broker.
"""

from __future__ import annotations

from typing import Any


def key_partition_from_known_partitions(key_partition: Any) -> Any:
    """Fix `partition_keys_through_failover`: a table write partitions its key by the topic's
    partitions as last known while the producer's metadata has lost them.

    A table with `use_partitioner` picks each changelog record's partition at once
    (`eager_partitioning`), through aiokafka's `_partition`, which reads the producer's
    metadata without waiting for it. While a killed broker's partitions have no leader yet, a
    metadata response leaves the topic out, `partitions_for_topic` is None and the write
    raises `TypeError: 'NoneType' object is not iterable` in the agent: the worker dies on a
    broker failover it would otherwise ride out (seen on the 3-node cluster,
    `tests/integration/cluster/test_broker_kill.py`). A topic's partitions do not change while
    the worker runs (the pipeline's topics have fixed counts), so the last known ones hash the
    key to the same partition as the metadata would (murmur2, aiokafka's default partitioner).
    """
    known: dict[str, list[int]] = {}

    def partition_key(self: Any, topic: str, key: bytes) -> Any:
        from faust.types import TP

        producer = self._ensure_producer()
        partitions = producer._metadata.partitions_for_topic(topic)
        if partitions:
            known[topic] = sorted(partitions)
        elif topic in known:
            return TP(topic, producer._partitioner(key, known[topic], known[topic]))
        return key_partition(self, topic, key)

    return partition_key
