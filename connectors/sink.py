"""The connectors' Kafka writer: at-least-once, bounded, and never silently dropping.

- Idempotent producer, `acks=all`, and no message timeout: while the broker is unreachable
  librdkafka keeps retrying instead of expiring records.
- At most `max_in_flight` records are unacknowledged; `publish` waits for room, so a connector
  stops reading its socket when Kafka is slow or down (backpressure), and memory stays bounded.
- A record larger than `max_message_bytes` (the producer's `message.max.bytes`) is refused
  with `RecordTooLarge` before it reaches librdkafka, so the caller can dead-letter it.
- Every unacknowledged record is kept until its delivery report. If the producer hits a fatal
  error (e.g. after a real broker restart an idempotent producer never recovers), a new producer
  is made and the kept records are sent again: duplicates are possible, loss is not.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from connectors.errors import DeliveryError, RecordTooLarge
from connectors.metrics import ConnectorMetrics
from mmstream.core.health import kafka_reachable, loop_responds
from mmstream.core.kafka.config import ClusterTarget, producer_config
from mmstream.core.settings import TopicSettings
from schemas.serde import AvroSerde

log = logging.getLogger(__name__)
Headers = list[tuple[str, str | bytes | None]]
RECORD_OVERHEAD = 512  # bytes of record and batch framing, on top of key, value and headers


def record_size(key: bytes | None, value: bytes, headers: Headers | None) -> int:
    size = RECORD_OVERHEAD + len(value) + (len(key) if key else 0)
    for name, header in headers or ():
        size += len(name) + (len(header) if header else 0)
    return size


class Pending(NamedTuple):  # a tuple: one is made per record
    topic: str
    key: bytes | None
    value: bytes
    headers: Headers | None
    event_time_ms: int | None


class KafkaSink:
    """Encodes and produces records; `publish` returns once the record is queued."""

    def __init__(
        self,
        target: ClusterTarget,
        serde: AvroSerde,
        topics: TopicSettings,
        metrics: ConnectorMetrics,
        max_in_flight: int = 10_000,
        max_message_bytes: int = 1_000_000,
        producer_factory: Callable[[dict[str, Any]], Producer] = Producer,
    ) -> None:
        self.serde = serde
        self.topics = topics
        self.metrics = metrics
        self.max_in_flight = max_in_flight
        self.max_message_bytes = max_message_bytes
        self._factory = producer_factory
        self._config = producer_config(
            target,
            **{
                "message.timeout.ms": 0,  # never expire: wait for the broker instead
                "queue.buffering.max.messages": max(max_in_flight * 2, 1000),
                "client.id": f"mmstream-{metrics.feed}",
                "message.max.bytes": max_message_bytes,
            },
        )
        self.producer = self._factory(self._config)
        self._names = topics.names()
        self._pending: dict[int, Pending] = {}
        self._next_id = 0  # records are numbered in the order `publish` queued them
        self._lock = threading.Lock()
        self._fatal: KafkaError | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._room = asyncio.Event()
        self._room.set()
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="producer-poll", daemon=True)
        self.failed = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._poller.start()
        health = self.metrics.health
        health.ready_when("kafka", kafka_reachable(lambda: self.producer))
        health.alive_when("event_loop", loop_responds(self._loop))

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def submitted(self) -> int:
        """How many records `publish` has queued so far (the next record's number)."""
        return self._next_id

    def acknowledged_below(self) -> int:
        """Every record numbered below this has been acknowledged by Kafka (for source offsets:
        a position is recorded only once everything queued before it is durable)."""
        with self._lock:
            return min(self._pending, default=self._next_id)

    def topic_name(self, topic_id: str) -> str:
        return self._names[topic_id]

    async def publish(
        self,
        topic_id: str,
        key: str | None,
        value: dict[str, Any],
        event_time_ms: int | None = None,
        headers: Headers | None = None,
    ) -> None:
        """Encode and queue one record; waits while `max_in_flight` records are unacknowledged."""
        await self.publish_bytes(
            topic_id, key, self.serde.encode(topic_id, value), event_time_ms, headers
        )

    def offer(
        self,
        topic_id: str,
        key: str | None,
        data: bytes,
        event_time_ms: int | None = None,
        headers: Headers | None = None,
    ) -> bool:
        """Queue one record's bytes now if there is room, without awaiting (the per-record
        path); False, with nothing queued, when the caller must `await publish_bytes`."""
        if len(self._pending) >= self.max_in_flight or self._fatal is not None:
            return False
        self._queue(self._record(topic_id, key, data, event_time_ms, headers))
        return True

    async def publish_bytes(
        self,
        topic_id: str,
        key: str | None,
        data: bytes,
        event_time_ms: int | None = None,
        headers: Headers | None = None,
    ) -> None:
        """Queue one record's bytes as they are (a dead letter's original bytes)."""
        record = self._record(topic_id, key, data, event_time_ms, headers)
        while len(self._pending) >= self.max_in_flight:
            self._room.clear()  # before the re-check: a delivery after it sees the flag down
            if len(self._pending) < self.max_in_flight:
                break
            await self._room.wait()
        self._queue(record)

    def _record(
        self,
        topic_id: str,
        key: str | None,
        data: bytes,
        event_time_ms: int | None,
        headers: Headers | None,
    ) -> Pending:
        """The record to queue; `RecordTooLarge` if Kafka would refuse it."""
        encoded_key = key.encode() if key is not None else None
        size = record_size(encoded_key, data, headers)
        if size > self.max_message_bytes:
            raise RecordTooLarge(
                f"record too large: {size} bytes exceeds message.max.bytes "
                f"({self.max_message_bytes})",
                topic_id,
            )
        return Pending(self._names[topic_id], encoded_key, data, headers, event_time_ms)

    def _queue(self, record: Pending) -> None:
        if self._fatal is not None:
            self._recreate_producer()
        record_id, self._next_id = self._next_id, self._next_id + 1
        self._produce(record_id, record)

    def _produce(self, record_id: int, record: Pending) -> None:
        with self._lock:
            self._pending[record_id] = record
        while True:
            try:
                self.producer.produce(
                    record.topic,
                    value=record.value,
                    key=record.key,
                    headers=record.headers,
                    on_delivery=functools.partial(self._delivered, record_id),
                )
                break
            except BufferError:  # librdkafka's own queue is full: let deliveries drain
                self.producer.poll(0.05)
            except KafkaException as exc:
                with self._lock:
                    self._pending.pop(record_id, None)
                if exc.args[0].code() == KafkaError.MSG_SIZE_TOO_LARGE:
                    raise RecordTooLarge(f"Kafka refused the record: {exc}", record.topic) from None
                raise

    def _delivered(self, record_id: int, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            if error.fatal():
                self._fatal = error
            self.failed += 1
            log.error("delivery failed (%s); the record is kept and will be sent again", error)
            return
        with self._lock:  # also the tallies': a BufferError polls on the event loop's thread
            record = self._pending.pop(record_id, None)
            if record is not None:
                self.metrics.delivered(record.topic, 1)
                if record.event_time_ms:
                    self.metrics.lag_of_feed.observe(
                        max(0.0, time.time() - record.event_time_ms / 1000)
                    )
        # wake a waiting `publish` only (a wake-up per delivery would cost the loop a syscall)
        if (
            not self._room.is_set()
            and len(self._pending) < self.max_in_flight // 2 + 1
            and self._loop is not None
        ):
            self._loop.call_soon_threadsafe(self._room.set)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.05)
            self.metrics.in_flight_of_feed.set(len(self._pending))
            if self._fatal is not None and self._loop is not None:
                self._loop.call_soon_threadsafe(self._room.set)
                time.sleep(0.05)

    def _recreate_producer(self) -> None:
        """A fatal producer error: new producer, and every kept record sent again."""
        error = self._fatal
        log.warning(
            "producer fatal error (%s): recreating it and re-sending %d records",
            error,
            len(self._pending),
        )
        self._fatal = None
        self.producer = self._factory(self._config)
        with self._lock:
            kept = sorted(self._pending.items())
            self._pending.clear()
        for record_id, record in kept:
            self._produce(record_id, record)

    async def flush(self, deadline_s: float) -> int:
        """Wait until every record is acknowledged or `deadline_s` passes; return the rest."""
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline_s
        while self._pending and loop.time() < end:
            if self._fatal is not None:
                self._recreate_producer()
            await asyncio.sleep(0.02)
        self._stop.set()
        if self._poller.is_alive():
            await asyncio.to_thread(self._poller.join, 2)
        remaining = len(self._pending)
        if remaining:
            raise DeliveryError(f"{remaining} records were not acknowledged by Kafka")
        return remaining
