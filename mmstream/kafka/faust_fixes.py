"""Fixes to Faust's rebalance and recovery that every worker process installs (any broker).

faust-streaming 0.15 loses or mis-orders stream records around a rebalance (found while
testing a worker killed mid-stream and restarted; the same code runs against Apache Kafka):

1. On assignment the consumer marks every assigned partition active before the app pauses
   them, so the fetcher can hand over stream records *before* the tables are recovered; they
   wait on flow control and may then be processed against a half-recovered table.
2. After recovery, `on_recovery_completed` (and `_resume_streams`) resumes the stream
   partitions, then seeks them to their committed offsets, then clears the stream queues:
   records fetched in between are dropped, and the seek does not bring them back where
   nothing was committed yet.
3. aiokafka's `seek_to_committed` seeks only where the committed offset is above 0, so a
   partition with no commit stays wherever the fetcher had got to.
4. Faust hands aiokafka's `fetched_records` its live set of active partitions; while every
   partition is paused (after recovery, before the streams resume) that set is empty, and
   aiokafka reads an empty set as "all partitions": it drains the paused stream partitions,
   Faust discards what it did not ask for, and the position has moved past them.

Seen as a restarted worker that consumed nothing, or skipped records, after SIGKILL or SIGTERM
(about one restart in five on the embedded broker). The fixes: an empty set of active
partitions means none; stream partitions stay paused from assignment until recovery is done;
on resume the queues are cleared and the partitions positioned first, then resumed; a stream
partition with no committed offset is positioned at its beginning (what
`auto_offset_reset=earliest` promises). Changelog partitions are left alone: their position
belongs to table recovery.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import KafkaError

from mmstream.kafka.config import ClusterTarget, consumer_config

_INSTALLED = "_mmstream_fixed"


def install_faust_fixes() -> None:
    """Patch Faust once per process."""
    from faust.tables.recovery import Recovery
    from faust.transport.consumer import Consumer
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    if getattr(Recovery, _INSTALLED, False):
        return
    assign = Consumer.on_partitions_assigned

    async def on_partitions_assigned(self: Any, assigned: Any, generation_id: int = 0) -> None:
        self.pause_partitions(assigned)  # Faust pauses them too, but only after a few awaits
        await assign(self, assigned, generation_id)

    async def seek_to_committed(self: Any) -> Mapping[Any, int]:
        committed: Mapping[Any, int] = await self.call_thread(_seek_to_committed_or_beginning, self)
        return committed

    fetch_records: Any = AIOKafkaConsumerThread._fetch_records

    async def _fetch_records(self: Any, consumer: Any, active: Any, **kwargs: Any) -> Any:
        return await fetch_records(
            self, consumer, _Only(active) if active is not None else None, **kwargs
        )

    AIOKafkaConsumerThread._fetch_records = _fetch_records  # type: ignore[method-assign, assignment]
    Consumer.on_partitions_assigned = on_partitions_assigned  # type: ignore[method-assign]
    AIOKafkaConsumerThread.seek_to_committed = seek_to_committed  # type: ignore[method-assign]
    Recovery._resume_streams = _resume_streams  # type: ignore[method-assign]
    Recovery.on_recovery_completed = _on_recovery_completed  # type: ignore[method-assign]
    setattr(Recovery, _INSTALLED, True)


async def _seek_to_committed_or_beginning(thread: Any) -> Mapping[Any, int]:
    consumer = thread._ensure_consumer()
    committed: Mapping[Any, int | None] = await consumer.seek_to_committed()
    unpositioned = [
        tp
        for tp in _stream_partitions(thread.app, committed)
        if committed[tp] is None or committed[tp] <= 0  # type: ignore[operator]
    ]
    if unpositioned:
        await consumer.seek_to_beginning(*unpositioned)
    return committed  # type: ignore[return-value]


async def _resume_streams(self: Any, generation_id: int = 0) -> None:
    """Faust's `Recovery._resume_streams` (a rebalance with no table to recover), with the
    stream partitions positioned before they are resumed (fix 2 above)."""
    app = self.app
    await app.on_rebalance_complete.send()
    if app.consumer_generation_id != generation_id:
        self.log.warning("Recovery rebalancing again")
        return
    await _position_and_resume_streams(self)
    self.tables.on_standbys_ready()
    app.on_rebalance_end()
    self.log.info("Worker ready")


async def _on_recovery_completed(self: Any, generation_id: int = 0) -> None:
    """Faust's `Recovery.on_recovery_completed`, with the stream partitions positioned before
    they are resumed (fix 2 above)."""
    app = self.app
    self.log.info("Restore complete!")
    await app.on_rebalance_complete.send()
    self._set_recovery_ended()
    callbacks = [
        asyncio.ensure_future(
            table.on_recovery_completed(
                self.actives_for_table[table], self.standbys_for_table[table]
            )
        )
        for table in self.tables.values()
    ]
    if callbacks:
        await asyncio.wait(callbacks)
    if app.consumer_generation_id != generation_id:
        self.log.warning("Recovery rebalancing again")
        return
    await _position_and_resume_streams(self)
    if not app.assignor.assigned_standbys():
        self.tables.on_standbys_ready()
    app.on_rebalance_end()
    self.log.info("Worker ready")


async def _position_and_resume_streams(recovery: Any) -> None:
    app = recovery.app
    consumer = app.consumer
    app.flow_control.resume()  # clears the stream queues while the streams are still paused
    assignment = consumer.assignment()
    if assignment:
        recovery.log.info("Seek stream partitions to committed offsets.")
        await recovery._wait(consumer.perform_seek(), timeout=app.conf.broker_request_timeout)
        consumer.resume_partitions(_stream_partitions(app, assignment))
    recovery.completed.set()
    consumer.resume_flow()
    await app._fetcher.maybe_start()
    recovery.tables.on_actives_ready()


class _Only:
    """The active partitions as aiokafka's `fetched_records` tests them (`partitions and tp
    not in partitions`): still the live set, so partitions resumed during the wait count, but
    never falsy, so an empty set means none rather than all."""

    def __init__(self, partitions: Any) -> None:
        self.partitions = partitions

    def __bool__(self) -> bool:
        return True

    def __contains__(self, tp: object) -> bool:
        return tp in self.partitions


def _stream_partitions(app: Any, partitions: Iterable[Any]) -> set[Any]:
    changelogs = app.tables.changelog_topics
    return {tp for tp in partitions if tp.topic not in changelogs}


def install_exact_changelog_ends(target: ClusterTarget) -> None:
    """Embedded broker only: make the end offsets Faust recovers tables up to exact.

    Tansu answers ListOffsets(latest) with the last batch's base offset + 1 (BROKERS.md), so a
    table whose changelog was written in multi-record batches would be recovered short of its
    last updates. When Faust asks for the ends, each partition's last batch is read to its real
    end (one fetch per partition, at recovery only), so changelogs can be written in ordinary
    batches instead of one record per request.
    """
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    if getattr(AIOKafkaConsumerThread, "_mmstream_exact_ends", False):
        return
    reported_ends = AIOKafkaConsumerThread.highwaters

    async def highwaters(self: Any, *partitions: Any) -> Mapping[Any, int]:
        reported: Mapping[Any, int] = await reported_ends(self, *partitions)
        return await asyncio.to_thread(read_true_ends, target, reported)

    AIOKafkaConsumerThread.highwaters = highwaters  # type: ignore[method-assign]
    AIOKafkaConsumerThread._mmstream_exact_ends = True  # type: ignore[attr-defined]


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
