"""Bulk intake: an agent's topics handed to it one fetched list per partition, not one event each.

Faust's consumer delivers every fetched record on its own (`Consumer._drain_messages` →
`Conductor.on_message`): a `Message` and an `Event` built, two tasks for `wait_first`, a lock,
the flow control and the producer buffer awaited, a decode and a queue put, per record. On a
backlog that costs more than the agents' own work (issue #17). With an `Intake` installed on
an app, the records of its registered topics skip all of that: each fetch's records of such a
partition go, as one `Chunk` of aiokafka's own records, to the topic's `ChunkQueue`, which the
agent reads in bulk (`processors/bulk.py`). Every other topic (changelogs, the tables'
recovery, topics not registered) keeps Faust's path unchanged.

What the per-record path guaranteed and still holds, per chunk instead of per record:

- the same fetch (`Consumer._wait_next_records`: only active partitions, none while the flow is
  stopped, none of a partition paused for recovery), the same read-offset bookkeeping (records
  below the read offset dropped, gaps recorded for the commit), `commit_every`;
- records fetched while the flow is stopped or of an older consumer generation are dropped, as
  `Consumer.getmany` drops them: their partition is read again from the last commit;
- per-partition order: a partition's chunks are queued, taken and acked in fetch order (a
  batch takes an even share of each queued partition, `ChunkQueue.take`);
- flow control and back-pressure: as the conductor, the drain waits while the app's flow
  control is suspended, and, before a fetch's first chunk for a queue, while that queue holds
  `max_records` (Faust's `stream_buffer_maxsize`), unless the flow stops (rebalance): a queue
  holds at most that plus one fetch's records, which are in memory already;
- a chunk taken by the agent is tracked in `Consumer.unacked` (so a rebalance's `wait_empty`
  waits for the agent's batch) and acked in bulk through the consumer's own bookkeeping
  (`_acked`, `_acked_index`, `_n_acked`), from which Faust computes the offsets it commits;
  a chunk never acked (the agent died) is never committed;
- Faust's stuck-stream check (the aiokafka driver's `verify_event_path`, every
  `broker_commit_interval` x 2.5 s) reads `Monitor.stream_inbound_time`, which its streams set
  per event: a chunk taken by the agent sets it for the chunk's partition, so the check stays
  quiet while the agent takes records and fires once it has taken none for
  `stream_processing_timeout` with records waiting.

`drain_messages` copies the loop of faust-streaming 0.15.3 and reads the consumer's own
bookkeeping: like the fixes of `faust_fixes.py`, it holds only for the pinned versions, which
`install_faust_fixes` checks before the app exists (`processors/app.py` installs both).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from faust.transport.consumer import CONSUMER_FETCHING, Consumer
from faust.types import TP
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

log = logging.getLogger(__name__)
_ORIGINAL_DRAIN: list[Callable[..., Any]] = []
FULL_RECHECK_S = 0.05  # a full queue's waiter also looks at the flow this often


@dataclass(eq=False)
class Chunk:
    """Consecutive records of one partition from one fetch; stands for them in
    `Consumer.unacked` (which only reads `acked` and `refcount`)."""

    tp: TP
    records: list[Any]  # aiokafka ConsumerRecords: topic, partition, offset, key, value, ...
    generation: int
    acked: bool = False
    refcount: int = 1

    def split(self, n: int) -> Chunk:
        """The first `n` records as a chunk of their own; this one keeps the rest."""
        head = Chunk(self.tp, self.records[:n], self.generation)
        del self.records[:n]
        return head


class ChunkQueue:
    """The chunks of one agent's topics, in fetch order per partition, at most about
    `max_records` records (the drain may add one fetch's records past it)."""

    def __init__(self, max_records: int) -> None:
        self.partitions: dict[TP, deque[Chunk]] = {}  # in the order they were first queued
        self.records = 0
        self.max_records = max_records
        self.arrived = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()

    def put(self, chunk: Chunk) -> None:
        self.partitions.setdefault(chunk.tp, deque()).append(chunk)
        self.records += len(chunk.records)
        self.arrived.set()
        if self.records >= self.max_records:
            self.room.clear()

    def take(self, max_records: int) -> list[Chunk]:
        """What is queued, at most `max_records` records, shared evenly among the queued
        partitions (a chunk longer than its share is split), each partition's in order.

        An even share reads co-partitioned topics in step: on a backlog a key's order and its
        bet (same partition number, written at about the same time) tend to fall in one batch,
        and the key is evaluated, changelogged and reported once for both instead of twice."""
        taken: list[Chunk] = []
        count = 0
        partitions = self.partitions
        while partitions and count < max_records:
            share = max(1, (max_records - count) // len(partitions))
            for tp in list(partitions):
                queued = partitions[tp]
                chunk = queued[0]
                wanted = min(share, max_records - count)
                if len(chunk.records) > wanted:
                    chunk = chunk.split(wanted)
                else:
                    queued.popleft()
                    if not queued:
                        del partitions[tp]
                taken.append(chunk)
                count += len(chunk.records)
                if count >= max_records:
                    break
        self.records -= count
        if not partitions:
            self.arrived.clear()
        if self.records < self.max_records:
            self.room.set()
        return taken

    def clear(self) -> None:
        self.partitions.clear()
        self.records = 0
        self.arrived.clear()
        self.room.set()


class Intake:
    """The registered topics of one app and their queues (see module doc)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.queues: dict[str, ChunkQueue] = {}  # topic name -> its agent's queue
        self.max_records = int(app.conf.stream_buffer_maxsize)

    def register(self, topics: Iterable[str]) -> ChunkQueue:
        """One queue for these topics (one agent's channel), before they are subscribed."""
        names = set(topics)
        queues = {id(self.queues[t]): self.queues[t] for t in names if t in self.queues}
        if len(queues) == 1 and all(t in self.queues for t in names):
            return next(iter(queues.values()))  # the same channel again
        if queues:
            raise ValueError(f"topics {sorted(names)}: some are read in bulk by another agent")
        queue = ChunkQueue(self.max_records)
        for topic in names:
            self.queues[topic] = queue
        return queue

    def ack(self, chunks: Iterable[Chunk]) -> None:
        """Mark the chunks' records processed, as `Consumer.ack` does for each record."""
        consumer = self.app.consumer
        acks_enabled_for = self.app.topics.acks_enabled_for
        unacked = consumer._unacked_messages
        with ack_lock:
            for chunk in chunks:
                if chunk.acked:
                    continue
                chunk.acked = True
                unacked.discard(chunk)
                tp = chunk.tp
                if not acks_enabled_for(tp.topic):
                    continue
                committed = consumer._committed_offset[tp]
                index = consumer._acked_index[tp]
                offsets = [
                    r.offset
                    for r in chunk.records
                    if (committed is None or r.offset >= committed) and r.offset not in index
                ]
                index.update(offsets)
                consumer._acked[tp].extend(offsets)
                consumer._n_acked += len(offsets)
            notify(consumer._waiting_for_ack)

    def track(self, chunks: Iterable[Chunk]) -> None:
        """The agent took these chunks: a rebalance waits for their ack, and the stuck-stream
        check sees their partitions' stream at work (see module doc)."""
        unacked = self.app.consumer._unacked_messages
        inbound = self.app.monitor.stream_inbound_time
        now = time.monotonic()  # the clock of Faust's check
        for chunk in chunks:
            unacked.add(chunk)
            inbound[chunk.tp] = now


def install_intake(app: Any) -> Intake:
    """An `Intake` for `app`; the consumer's drain loop is patched once per process and uses
    Faust's own loop for apps without an intake."""
    if not _ORIGINAL_DRAIN:
        _ORIGINAL_DRAIN.append(Consumer._drain_messages)

        async def drain(self: Any, fetcher: Any) -> None:
            intake = getattr(self.app, "_mmstream_intake", None)
            if intake is None:
                await _ORIGINAL_DRAIN[0](self, fetcher)
            else:
                await drain_messages(self, fetcher, intake)

        Consumer._drain_messages = drain  # type: ignore[method-assign]
    intake = Intake(app)
    app._mmstream_intake = intake
    return intake


async def drain_messages(consumer: Any, fetcher: Any, intake: Intake) -> None:
    """`Consumer._drain_messages` (faust-streaming 0.15.3) with registered topics in bulk."""
    consumer_stopped = consumer._stopped.is_set
    fetcher_stopped = fetcher._stopped.is_set
    try:
        while not (consumer_stopped() or fetcher_stopped()):
            consumer.diag.set_flag(CONSUMER_FETCHING)
            try:
                await fetch_once(consumer, intake)
            finally:
                consumer.diag.unset_flag(CONSUMER_FETCHING)
    except consumer.consumer_stopped_errors:
        if consumer.transport.app.should_stop:
            log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if consumer.transport.app.should_stop:
            return
        raise
    except Exception as exc:
        log.exception("Drain messages raised: %r", exc)
        raise


async def fetch_once(consumer: Any, intake: Intake) -> None:
    """One fetch: registered partitions' records queued in chunks, the others per record."""
    await asyncio.sleep(0)
    if consumer.should_stop:
        return
    records, active = await consumer._wait_next_records(1.0)
    app = consumer.app
    generation = app.consumer_generation_id
    if records is None or consumer.should_stop:
        return
    if not consumer.flow_active:
        try:
            await consumer.perform_seek()  # as Consumer.getmany
        except Exception as exc:
            log.warning("exception performing seek when flow not active %r", exc)
        return
    rest: dict[Any, list[Any]] = {}
    queued: set[int] = set()  # the queues given a chunk of this fetch
    buffered = consumer._buffered_partitions
    queues = intake.queues
    for tp, batch in records.items():
        if not batch or (active is not None and tp not in active and tp not in buffered):
            continue
        queue = queues.get(tp.topic)
        if queue is None:
            rest[tp] = batch
            continue
        if not consumer.flow_active or app.consumer_generation_id != generation:
            return  # a rebalance began: what was fetched is read again after it
        app.monitor.track_tp_end_offset(tp, consumer.highwater(tp))
        fresh = await read_forward(consumer, TP(tp.topic, tp.partition), batch)
        if fresh:
            if not app.flow_control.is_active():  # as Conductor.on_message: wait, not drop
                await consumer.wait_first(app.flow_control.acquire(), consumer.suspend_flow.wait())
            # back-pressure per fetch: a full queue is waited for before its first chunk of
            # the fetch, not between them (the records are in memory already), so that the
            # partitions of one fetch are queued, and taken, side by side
            while id(queue) not in queued and not queue.room.is_set() and consumer.flow_active:
                await consumer.wait_first(queue.room.wait(), consumer.suspend_flow.wait())
            if not consumer.flow_active or app.consumer_generation_id != generation:
                return
            queue.put(Chunk(TP(tp.topic, tp.partition), fresh, generation))
            queued.add(id(queue))
    if rest:
        await per_record(consumer, rest, generation)
    commit_every = consumer._commit_every
    if commit_every is not None and consumer._n_acked >= commit_every:
        consumer._n_acked = 0
        await consumer.commit()


async def read_forward(consumer: Any, tp: TP, batch: list[Any]) -> list[Any]:
    """The records at or past the read offset, gaps between them recorded (as the per-record
    loop does); the read offset moved to the last."""
    read_offset = consumer._read_offset[tp]
    if read_offset is not None and batch[0].offset < read_offset:
        batch = [r for r in batch if r.offset >= read_offset]
        if not batch:
            return batch
    if consumer.app.topics.acks_enabled_for(tp.topic):
        previous = read_offset
        for record in batch:
            if previous and record.offset - previous > 1:
                await consumer._add_gap(tp, previous + 1, record.offset)
            previous = record.offset
    consumer._read_offset[tp] = batch[-1].offset
    return batch


async def per_record(consumer: Any, records: dict[Any, list[Any]], generation: int) -> None:
    """Faust's own per-record delivery (`Consumer.getmany` + `_drain_messages`) for the rest."""
    app = consumer.app
    callback = consumer.callback
    to_message = consumer._to_message
    read_offset = consumer._read_offset
    acks_enabled_for = app.topics.acks_enabled_for
    since_yield = 0
    for tp, record in consumer.scheduler.iterate(records):
        if not consumer.flow_active or app.consumer_generation_id != generation:
            return
        app.monitor.track_tp_end_offset(tp, consumer.highwater(tp))
        message = to_message(tp, record)
        since_yield += 1
        if since_yield > 100:
            await asyncio.sleep(0)
            since_yield = 0
        offset = message.offset
        r_offset = read_offset[tp]
        if r_offset is None or offset >= r_offset:
            if offset - (r_offset or 0) > 1 and r_offset and acks_enabled_for(message.topic):
                await consumer._add_gap(tp, r_offset + 1, offset)
            commit_every = consumer._commit_every
            if commit_every is not None and consumer._n_acked >= commit_every:
                consumer._n_acked = 0
                await consumer.commit()
            await consumer.wait_first(callback(message), consumer.suspend_flow.wait())
            read_offset[tp] = offset
