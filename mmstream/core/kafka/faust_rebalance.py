"""Five fixes to Faust's rebalance and recovery (faust-streaming 0.15.3 with aiokafka 0.14.0).

Each is a bug of the client libraries, not of a broker; each has a test that shows the bug
without the fix and its absence with it (`tests/integration/broker/test_faust_fixes.py`), run
on the session's broker (Tansu, and Apache Kafka in the Kafka tier). The functions replaced
below are copies of the pinned versions' code with the order or the condition changed; the
pinned versions are checked at start-up (`faust_fixes.check_pinned_versions`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any


def pause_streams_on_assign(assign: Any) -> Any:
    """Fix `pause_streams_on_assign`: stream partitions stay paused from assignment on.

    Faust's `Consumer.on_partitions_assigned` marks every assigned partition active, then
    awaits the app's callbacks, and only these pause the stream partitions for recovery: in
    between, the fetcher hands stream records to the streams before the tables are recovered
    (upstream: faust-streaming/faust#596 describes the same window). Pausing them first closes
    it; recovery resumes them (fix `position_before_resume`).
    """

    async def on_partitions_assigned(self: Any, assigned: Any, generation_id: int = 0) -> None:
        self.pause_partitions(assigned)
        await assign(self, assigned, generation_id)

    return on_partitions_assigned


async def seek_to_committed_or_beginning(thread: Any) -> Mapping[Any, int]:
    """Fix `seek_uncommitted_to_beginning`: Faust's "seek to committed" also rewinds stream
    partitions with no commit, to their beginning (`auto_offset_reset=earliest`).

    aiokafka's `seek_to_committed` seeks only where the committed offset is above 0
    (upstream: aio-libs/aiokafka#1003), so after a rebalance a partition nobody has committed
    yet stays wherever the fetcher had got to, and the records it fetched but Faust dropped
    are never read. Changelog partitions are left alone: table recovery positions them.
    """
    consumer = thread._ensure_consumer()
    committed: Mapping[Any, int | None] = await consumer.seek_to_committed()
    unpositioned = [
        tp
        for tp in stream_partitions(thread.app, committed)
        if committed[tp] is None or committed[tp] <= 0  # type: ignore[operator]
    ]
    if unpositioned:
        await consumer.seek_to_beginning(*unpositioned)
    return committed  # type: ignore[return-value]


async def seek_to_committed(self: Any) -> Mapping[Any, int]:
    """`AIOKafkaConsumerThread.seek_to_committed` with fix `seek_uncommitted_to_beginning`."""
    committed: Mapping[Any, int] = await self.call_thread(seek_to_committed_or_beginning, self)
    return committed


async def resume_streams(self: Any, generation_id: int = 0) -> None:
    """Faust's `Recovery._resume_streams` (a rebalance with no table to recover), with the
    stream partitions positioned before they are resumed (fix `position_before_resume`)."""
    app = self.app
    await app.on_rebalance_complete.send()
    if app.consumer_generation_id != generation_id:
        self.log.warning("Recovery rebalancing again")
        return
    await position_and_resume_streams(self)
    self.tables.on_standbys_ready()
    app.on_rebalance_end()
    self.log.info("Worker ready")


async def on_recovery_completed(self: Any, generation_id: int = 0) -> None:
    """Faust's `Recovery.on_recovery_completed`, with the stream partitions positioned
    before they are resumed (fix `position_before_resume`)."""
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
    await position_and_resume_streams(self)
    if not app.assignor.assigned_standbys():
        self.tables.on_standbys_ready()
    app.on_rebalance_end()
    self.log.info("Worker ready")


async def position_and_resume_streams(recovery: Any) -> None:
    """Fix `position_before_resume`: clear the stream queues, seek, and only then resume.

    Faust resumes the stream partitions, then seeks them to their committed offsets, then
    clears the stream queues (`flow_control.resume`): records fetched in between are dropped
    from the queues, and where nothing was committed yet the seek does not bring them back
    (upstream: faust-streaming/faust#216, fixed for the table-less path only in #217, and
    #596). Here the queues are cleared while the streams are still paused, the partitions are
    positioned, and then resumed.
    """
    app = recovery.app
    consumer = app.consumer
    app.flow_control.resume()  # clears the stream queues while the streams are still paused
    assignment = consumer.assignment()
    if assignment:
        recovery.log.info("Seek stream partitions to committed offsets.")
        await recovery._wait(consumer.perform_seek(), timeout=app.conf.broker_request_timeout)
        consumer.resume_partitions(stream_partitions(app, assignment))
    recovery.completed.set()
    consumer.resume_flow()
    await app._fetcher.maybe_start()
    recovery.tables.on_actives_ready()


def fetch_only_active(fetch_records: Any) -> Any:
    """Fix `empty_active_means_none`: an empty set of active partitions fetches nothing.

    Faust hands aiokafka's `fetched_records` its live set of active partitions, and aiokafka
    reads an empty set as "every partition" (`if partitions and tp not in partitions`). While
    every partition is paused (after recovery, before the streams resume) the set is empty:
    aiokafka drains the paused partitions' buffered records and advances their positions,
    Faust drops the records it did not ask for, and they are never read (upstream: the
    behaviour is described in robinhood/faust#69, whose fix checks the set only before the
    call, not while aiokafka waits on it).
    """

    async def _fetch_records(self: Any, consumer: Any, active: Any, **kwargs: Any) -> Any:
        return await fetch_records(
            self, consumer, OnlyThese(active) if active is not None else None, **kwargs
        )

    return _fetch_records


class OnlyThese:
    """The active partitions as aiokafka's `fetched_records` tests them (`partitions and tp
    not in partitions`): still the live set, so partitions resumed during the wait count, but
    never falsy, so an empty set means none rather than all."""

    def __init__(self, partitions: Any) -> None:
        self.partitions = partitions

    def __bool__(self) -> bool:
        return True

    def __contains__(self, tp: object) -> bool:
        return tp in self.partitions


def stream_partitions(app: Any, partitions: Iterable[Any]) -> set[Any]:
    changelogs = app.tables.changelog_topics
    return {tp for tp in partitions if tp.topic not in changelogs}


def remember_key_partitions(send_changelog: Any) -> Any:
    """Fix `forget_moved_keys`: the in-memory store learns the partition of every key the
    worker writes itself, so that it drops the key when the partition moves to another worker.

    Faust's memory store drops, after a rebalance's recovery, the keys of partitions no longer
    assigned, but it knows a key's partition only from the changelog records it read back in a
    recovery (faust-streaming/faust#199 added that index, fed by the changelog only). A key
    first written after the worker's last recovery is in no partition as far as the store
    knows, so it stays after its partition moved: the worker's timers go on deciding for
    orders another worker now owns (from the state as it was at the hand-over, e.g. opening
    an UNHEDGED_FILL alert the new owner, which read the hedge bet, never resolves), and write
    that stale state into a changelog the new owner reads at its next recovery.
    """

    def send(self: Any, partition: Any, key: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        sent = send_changelog(self, partition, key, value, *args, **kwargs)
        index_written_key(self, key, None if value is None else sent.message.partition)
        return sent

    return send


INDEX_WRITTEN_KEYS = {"installed": False}  # set by fix `forget_moved_keys`


def index_written_key(table: Any, key: Any, partition: int | None) -> None:
    """Tell `table`'s memory store the changelog partition of a key the worker wrote (None: a
    deletion, which the store forgets likewise); see `remember_key_partitions`. Writes that go
    around `send_changelog` (the agents' hot path, `processors/batch.py`) call it directly. A
    part of fix `forget_moved_keys`: nothing without it, so that its test shows the bug."""
    known = getattr(table.data, "_key_partition", None)  # the memory store's index
    if known is None or not INDEX_WRITTEN_KEYS["installed"]:
        return
    if partition is None:
        known.pop(key, None)
    else:
        known[key] = partition


def index_direct_write(table: Any, key: bytes, deleted: bool) -> None:
    """`index_written_key` for a write that goes around `send_changelog` (the agents' hot
    path): the key's changelog partition is computed only while the fix is installed."""
    if not INDEX_WRITTEN_KEYS["installed"]:
        return
    if not deleted and key in getattr(table.data, "_key_partition", ()):
        return  # indexed already: a key's partition never changes (murmur2 costs ~3 µs)
    index_written_key(table, key, None if deleted else changelog_partition(table, key))


def changelog_partition(table: Any, key_bytes: bytes) -> int:
    """The partition a changelog record of `key_bytes` goes to: murmur2 over the table's
    partitions, as aiokafka's default partitioner and librdkafka's `murmur2_random` place it."""
    from aiokafka.partitioner import murmur2

    count = table.partitions or table.app.conf.topic_partitions
    return int((murmur2(key_bytes) & 0x7FFFFFFF) % count)


def between_rebalances(
    app: Any, tick: Callable[[], Awaitable[None]]
) -> Callable[[], Awaitable[None]]:
    """A timer body that does nothing while the group rebalances (from the revocation, which
    Faust flags at once in `app.rebalancing`, until the recovery has ended).

    A timer that writes a table keeps running through a rebalance in Faust: after the
    revocation has flushed the producer, its writes can miss the changelog the partition's next
    owner recovers from (which then never learns, say, that an alert is open, and never
    resolves it), and on a kept partition the recovery replays the changelog over them.
    Skipping those ticks costs a deadline's delay by the rebalance's length, nothing more.
    """

    @functools.wraps(tick)
    async def run() -> None:
        if not app.rebalancing:
            await tick()

    return run
