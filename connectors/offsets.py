"""Source offsets: where a connector had got to, kept in Kafka so that a restart closes its gap.

Like Kafka Connect's `offset.storage.topic`, a compacted topic (`connectors.offsets`) holds one
key per feed and channel (`mmapi/orders`); its newest record is the position: the newest event
time published on the channel and, while a REST gap fill is unfinished, where that fill stood.

At-least-once: a position is written only once every record queued before it has been
acknowledged by Kafka (`KafkaSink.acknowledged_below`), so a recorded position never runs ahead
of what is durable; a process killed at any moment leaves a position at or behind its last
durable record, and the next process gap-fills from there (duplicates possible, loss not).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections import deque
from typing import Any, NamedTuple

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from connectors.errors import ConnectorError
from connectors.sink import KafkaSink
from mmstream.core.kafka.config import ClusterTarget, consumer_config
from schemas.decoder import DecodeError, RegistryUnavailable
from schemas.serde import AvroSerde
from schemas.values import millis

log = logging.getLogger(__name__)
TOPIC_ID = "connector_offsets"


class OffsetsUnreadable(ConnectorError):
    """The offsets topic could not be read at start-up: starting "from now" would lose a gap."""


class Position(NamedTuple):  # a tuple: one is made per record published
    """How far one channel had got: the newest change published, and an unfinished gap fill."""

    watermark_ms: int | None = None
    gap_from_ms: int | None = None


def offset_key(feed: str, channel: str) -> str:
    return f"{feed}/{channel}"


class PositionTracker:
    """Positions noted as records are queued; each becomes durable once every record queued
    before it is acknowledged (Kafka Connect's committable-offsets rule)."""

    def __init__(self) -> None:
        self._noted: deque[tuple[int, str, Position]] = deque()
        self.durable: dict[str, Position] = {}

    def note(self, queued: int, channel: str, position: Position) -> None:
        """`position` holds for `channel` once the first `queued` records are acknowledged."""
        if self._noted and self._noted[-1][0] == queued and self._noted[-1][1] == channel:
            self._noted.pop()  # a newer position behind the same records supersedes it
        self._noted.append((queued, channel, position))

    def advance(self, acknowledged_below: int) -> dict[str, Position]:
        """Make durable what `acknowledged_below` covers; return the channels that changed."""
        changed: dict[str, Position] = {}
        while self._noted and self._noted[0][0] <= acknowledged_below:
            _, channel, position = self._noted.popleft()
            if self.durable.get(channel) != position:
                self.durable[channel] = position
                changed[channel] = position
        return changed


class SourceOffsets:
    """Records a feed's durable positions in the offsets topic, every `interval_s` and at exit."""

    def __init__(self, feed: str, sink: KafkaSink, interval_s: float) -> None:
        self.feed = feed
        self.sink = sink
        self.interval_s = interval_s
        self.tracker = PositionTracker()
        self.process = f"{socket.gethostname()}:{os.getpid()}"
        self.written = 0

    def note(self, channel: str, position: Position) -> None:
        """A position reached by everything queued so far (call right after queuing)."""
        self.tracker.note(self.sink.submitted, channel, position)

    async def write_durable(self) -> int:
        """Queue a record for each channel whose durable position moved; return how many."""
        changed = self.tracker.advance(self.sink.acknowledged_below())
        for channel, position in changed.items():
            value = {
                "feed": self.feed,
                "channel": channel,
                "watermark": position.watermark_ms,
                "gap_from": position.gap_from_ms,
                "recorded_at": int(time.time() * 1000),
                "process": self.process,
            }
            await self.sink.publish(TOPIC_ID, offset_key(self.feed, channel), value)
        self.written += len(changed)
        return len(changed)

    async def run(self, stop: asyncio.Event) -> None:
        """Write durable positions every `interval_s` until `stop` is set."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)
            await self.write_durable()

    async def write_final(self, deadline_s: float) -> None:
        """At a clean stop: wait for the queued records' acknowledgements, then record where they
        got to (a position behind them is also correct, just a longer gap fill next time)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline_s
        while loop.time() < end:
            if not self.sink.in_flight:
                break
            await asyncio.sleep(0.02)
        await self.write_durable()


def read_positions(
    target: ClusterTarget, serde: AvroSerde, feed: str, deadline_s: float = 30.0
) -> dict[str, Position]:
    """The positions the feed's last process recorded (newest record per key), read to the end
    of the offsets topic. Raises `OffsetsUnreadable` if Kafka does not answer in time."""
    topic = serde.topics.name(TOPIC_ID)
    consumer = Consumer(
        consumer_config(
            target,
            f"mmstream-offsets-reader-{uuid.uuid4().hex[:8]}",
            **{"enable.auto.commit": False, "enable.partition.eof": True},
        )
    )
    try:
        try:
            metadata = consumer.list_topics(topic, timeout=deadline_s).topics.get(topic)
        except KafkaException as exc:
            raise OffsetsUnreadable(f"could not reach Kafka to read {topic}: {exc}") from None
        if metadata is None or metadata.error is not None:
            log.info("%s: offsets topic %s not found", feed, topic)
            return {}
        partitions = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions]
        consumer.assign(partitions)
        positions: dict[str, Position] = {}
        pending = {tp.partition for tp in partitions}
        deadline = time.monotonic() + deadline_s
        prefix = offset_key(feed, "")
        while pending:
            if time.monotonic() > deadline:
                raise OffsetsUnreadable(f"could not read {topic} to its end within {deadline_s}s")
            message = consumer.poll(0.2)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(int(message.partition() or 0))
                    continue
                raise OffsetsUnreadable(f"reading {topic}: {error.str()}")
            key = (message.key() or b"").decode("utf-8", "replace")
            if key.startswith(prefix):
                _apply(positions, key[len(prefix) :], message.value(), serde, topic)
        return positions
    finally:
        consumer.close()


def _apply(
    positions: dict[str, Position], channel: str, data: bytes | None, serde: AvroSerde, topic: str
) -> None:
    if data is None:  # a tombstone: the position was reset by an operator
        positions.pop(channel, None)
        return
    try:
        value: dict[str, Any] = serde.decode(TOPIC_ID, data)
    except DecodeError as exc:
        log.warning("skipped an unreadable record in %s: %s", topic, exc)
        return
    except RegistryUnavailable as exc:
        raise OffsetsUnreadable(f"reading {topic}: {exc}") from None
    positions[channel] = Position(millis(value.get("watermark")), millis(value.get("gap_from")))
