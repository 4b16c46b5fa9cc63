"""Everything the agents write — derived records, table changelogs, dead letters — through one
confluent-kafka producer, acknowledged before Faust commits the offsets of what caused it.

Faust's own path (aiokafka, `send_soon` per record, a zero linger on the embedded broker) costs
more than the agents' logic (issue #17). Here a batch's records are queued with librdkafka's
`produce` (no await per record, linger 5 ms, murmur2 partitioning like aiokafka's, so a key
lands in the same partition as Faust would put it).

At-least-once holds because Faust awaits `app.producer.flush()` before every offset commit
(`Consumer._commit_offsets`), when partitions are revoked (`App._on_partitions_revoked`, after
the agents finished their current batch) and in `failures.die`: `install` makes that flush
also wait until every record this producer queued up to that moment is acknowledged. A record
the producer could not deliver ends the worker (exit 70) before anything past it is committed.

Changelog records are written as Faust writes them (`Table.send_changelog`: the table's key
and value serializers, the key's murmur2 partition, a tombstone for a deleted key), so Faust's
recovery reads them back unchanged. Where the table's serializers are raw keys and JSON values
(checked on its first record: Faust's bytes and compact JSON read back the same), the value is
written as compact JSON directly (`processors.codec.compact_json`), without Faust's codec
registry on every record.

With `processing_guarantee=exactly_once` (`FaustSink`) the same calls go through Faust's
producer instead, since only its transactions carry the offsets with the outputs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust
from confluent_kafka import KafkaError, Message, Producer
from faust.types import TableT

from mmstream.core.errors import MmstreamError
from processors.codec import compact_json

log = logging.getLogger(__name__)
Headers = Sequence[tuple[str, bytes]]
FLUSH_TIMEOUT_S = 60.0
FULL_QUEUE_WAIT_S = 0.05


def faust_format(table: TableT[bytes, Any], key: bytes, value: Any) -> tuple[bytes, bytes | None]:
    """Key and value as `Table.send_changelog` serializes them (None: a tombstone)."""
    serializers: Any = table  # Collection's serializers, not on TableT[bytes, Any]
    topic = table.changelog_topic
    key_bytes, _ = topic.prepare_key(key, serializers.key_serializer)
    if value is None:
        return key_bytes, None
    encoded, _ = topic.prepare_value(value, serializers.value_serializer)
    return key_bytes, encoded


class SinkError(MmstreamError):
    """The producer cannot deliver: an error of the mechanism, not of a record."""


class Epoch:
    """Records queued between two flushes: how many are not acknowledged yet, what failed."""

    def __init__(self) -> None:
        self.pending = 0
        self.errors: list[KafkaError] = []

    def delivered(self, error: KafkaError | None, _message: Message) -> None:
        self.pending -= 1
        if error is not None:
            self.errors.append(error)


class Sink:
    """The interface the agents write through (see module doc)."""

    def produce(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers = ()
    ) -> None:
        raise NotImplementedError

    def changelog(self, table: TableT[bytes, Any], key: bytes, value: Any) -> None:
        """One changelog record of `table`: `value` None deletes the key."""
        raise NotImplementedError

    def poll(self) -> None:
        """Serve delivery reports (after each batch); raises `SinkError` once one failed."""

    async def flush(self) -> None:
        """Until everything queued so far is acknowledged (raises `SinkError` if it cannot be)."""

    def close(self) -> None:
        """Release the producer (after the last flush)."""


class ConfluentSink(Sink):
    def __init__(self, config: dict[str, Any]) -> None:
        self.producer = Producer(config)
        self.epoch = Epoch()
        self.delivered = self.epoch.delivered  # the current epoch's delivery report
        self.waiting: list[Epoch] = []  # closed by a flush, not yet all acknowledged
        self.failed: SinkError | None = None
        self.fast_json: dict[str, bool] = {}  # changelog topic -> written as compact JSON

    def produce(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers = ()
    ) -> None:
        epoch = self.epoch
        while True:
            try:
                self.producer.produce(
                    topic,
                    value,
                    key,
                    headers=list(headers) if headers else None,
                    on_delivery=self.delivered,
                )
                break
            except BufferError:  # librdkafka's queue is full: let it drain
                self.producer.poll(FULL_QUEUE_WAIT_S)
        epoch.pending += 1

    def changelog(self, table: TableT[bytes, Any], key: bytes, value: Any) -> None:
        name = table.changelog_topic.get_topic_name()
        if value is None:
            self.produce(name, faust_format(table, key, None)[0], None)
            return
        fast = self.fast_json.get(name)
        if fast is None:  # first record: JSON if Faust's own serializers read back the same
            key_bytes, faust_value = faust_format(table, key, value)
            fast = key_bytes == key and json.loads(faust_value or b"null") == json.loads(
                compact_json(value)
            )
            self.fast_json[name] = fast
        if fast:
            self.produce(name, key, compact_json(value))
        else:
            self.produce(name, *faust_format(table, key, value))

    def poll(self) -> None:
        self.producer.poll(0)
        self.check(self.epoch, *self.waiting)

    def check(self, *epochs: Epoch) -> None:
        if self.failed is None:
            errors = [error for epoch in epochs for error in epoch.errors]
            if errors:
                self.failed = SinkError(
                    f"{len(errors)} records could not be delivered, first: {errors[0]}"
                )
        if self.failed is not None:
            raise self.failed

    async def flush(self) -> None:
        self.waiting.append(self.epoch)
        self.epoch = Epoch()
        self.delivered = self.epoch.delivered
        mine = list(self.waiting)  # records queued after this call need not be waited for
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        while any(epoch.pending > 0 for epoch in mine):
            self.producer.poll(0)
            self.check(*mine)
            if time.monotonic() > deadline:
                raise SinkError(
                    f"{sum(e.pending for e in mine)} records not acknowledged "
                    f"after {FLUSH_TIMEOUT_S:.0f} s"
                )
            await asyncio.sleep(0.001)
        self.check(*mine)
        self.waiting = [epoch for epoch in self.waiting if epoch.pending > 0]

    def close(self) -> None:
        self.producer.flush(FLUSH_TIMEOUT_S)


class FaustSink(Sink):
    """Faust's producer (exactly-once: records in the worker's transactions)."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self.topics: dict[str, faust.TopicT] = {}

    def produce(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers = ()
    ) -> None:
        channel = self.topics.get(topic)
        if channel is None:
            channel = self.app.topic(topic, key_serializer="raw", value_serializer="raw")
            self.topics[topic] = channel
        channel.send_soon(key=key, value=value, headers=list(headers) or None)

    def changelog(self, table: TableT[bytes, Any], key: bytes, value: Any) -> None:
        if value is None:
            table.send_changelog(None, key, None, value_serializer="raw")
        else:
            table.send_changelog(None, key, value)


def install(
    app: faust.App, sink: Sink, on_failure: Callable[[BaseException], Awaitable[None]]
) -> None:
    """Make Faust's producer flush (before each commit, on revoke, before exiting) flush
    `sink` first; `on_failure(exc)` ends the worker when it cannot (once: it returns at
    once while the worker is already exiting, whose own flush comes here too)."""
    producer = app.producer
    faust_flush = producer.flush

    async def flush() -> None:
        try:
            await sink.flush()
        except SinkError as exc:
            await on_failure(exc)
        await faust_flush()

    producer.flush = flush  # type: ignore[method-assign]
