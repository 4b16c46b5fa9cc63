"""A consumer group's lag per partition as the broker has it: each partition's end offset minus
the group's committed offset there — what `kafka-consumer-groups --describe` shows.

What a client knows by itself trails that truth: a Faust worker's highwater is the end offset of
its last fetch of the partition, and aiokafka fetches a partition again only once the worker has
consumed what it fetched before (none at all while tables recover: the partitions are paused).
Both the worker's lag metrics and `mmstream up --exit-when-done` read the broker instead.

The end offsets are read first, then the committed offsets: a partition found caught up was so
for every record it held when the read began. A partition where the group has committed nothing
counts from its earliest offset (the worker's `auto.offset.reset` is earliest). On Tansu, whose
ListOffsets answers the last batch's base offset + 1 (BROKERS.md), each partition's last batch is
read to its real end (`changelog_ends.read_true_ends`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from mmstream.core.kafka.changelog_ends import read_true_ends
from mmstream.core.kafka.config import ClusterTarget, admin_config

READ_TIMEOUT_S = 10.0


class Partition(NamedTuple):
    topic: str
    partition: int


class GroupLag:
    """Reads the lag of one consumer group (see module doc); one admin client, reused."""

    def __init__(self, target: ClusterTarget, group: str) -> None:
        self.target = target
        self.group = group
        self._admin: AdminClient | None = None
        self._group_listed = False  # once the cluster lists the group, it is not asked again

    @property
    def admin(self) -> AdminClient:
        if self._admin is None:
            self._admin = AdminClient(admin_config(self.target))
        return self._admin

    def read(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        """Records not yet committed by the group, per partition (blocking; raises
        `KafkaException` when the broker does not answer within `READ_TIMEOUT_S`)."""
        wanted = sorted(set(partitions))
        if not wanted:
            return {}
        latest, earliest = OffsetSpec.latest(), OffsetSpec.earliest()  # type: ignore[no-untyped-call]
        ends = self._offsets(wanted, latest)
        if self.target.embedded:
            ends = read_true_ends(self.target, ends)
        committed = self._committed(wanted)
        never = [p for p in wanted if committed.get(p) is None]
        starts = self._offsets(never, earliest) if never else {}
        lags = {}
        for p in wanted:
            base = committed.get(p)
            lags[p] = max(0, ends[p] - (starts.get(p, 0) if base is None else base))
        return lags

    def _offsets(self, partitions: list[Partition], spec: Any) -> dict[Partition, int]:
        request = {TopicPartition(p.topic, p.partition): spec for p in partitions}
        futures = self.admin.list_offsets(request, request_timeout=READ_TIMEOUT_S)
        return {
            Partition(tp.topic, tp.partition): int(future.result(READ_TIMEOUT_S).offset)
            for tp, future in futures.items()
        }

    def _committed(self, partitions: list[Partition]) -> dict[Partition, int | None]:
        # A group the cluster does not list has committed nothing. Not asked for its offsets:
        # librdkafka 2.16 crashed the process (SIGSEGV) asking a fresh Apache Kafka 4.1 node, whose
        # offsets topic did not exist yet, for an unknown group's offsets.
        if not self._group_listed:
            listed = self.admin.list_consumer_groups(request_timeout=READ_TIMEOUT_S)
            if self.group not in {g.group_id for g in listed.result(READ_TIMEOUT_S).valid}:
                return {}
            self._group_listed = True
        tps = [TopicPartition(p.topic, p.partition) for p in partitions]
        request = [ConsumerGroupTopicPartitions(self.group, tps)]
        future = self.admin.list_consumer_group_offsets(request, request_timeout=READ_TIMEOUT_S)
        result = future[self.group].result(READ_TIMEOUT_S)
        return {
            Partition(tp.topic, tp.partition): tp.offset if tp.offset >= 0 else None
            for tp in result.topic_partitions
        }
