"""The fixtureId ↔ game_id map: a table materialised from the compacted `reference.fixture_map`.

Every worker reads the whole topic (all partitions, no consumer group), whatever partitions of
the score topics it owns, and follows it while it runs; a null value removes a mapping. (Faust's
GlobalTable over a foreign topic stalled the group's assignment on the embedded broker.)

A record that does not decode is dead-lettered like an agent's; if the reader itself stops (the
broker unreachable at start, a bug), the worker says so and exits (`failures.die`) rather than
reconcile against a silently empty or frozen map.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from mmstream.core.deadletter import STAGE_VALUE_CONVERTER, Origin
from mmstream.core.errors import MmstreamError
from mmstream.core.kafka.config import consumer_config
from processors.app import Pipeline
from processors.failures import die
from schemas.decoder import DecodeError

log = logging.getLogger(__name__)
CATCH_UP_DEADLINE_S = 30.0
READER = "fixture-map"


class FixtureMapReaderStopped(MmstreamError):
    """The thread following `reference.fixture_map` ended."""


class FixtureMap:
    def __init__(self, p: Pipeline) -> None:
        self.p = p
        self.topic = p.runtime.topics.name("fixture_map")
        self.by_fixture: dict[str, str] = {}
        self.by_game: dict[str, str] = {}
        self._reported: set[str] = set()
        self._stop = threading.Event()
        self.caught_up = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fixture-map", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ended: asyncio.Future[BaseException] | None = None
        p.app.task(self._start)

    async def _start(self) -> None:
        """Runs when the worker starts (a Faust task) and for as long as it runs: the daemon
        thread ends with the process; if it ends before, so does the worker."""
        self._loop = asyncio.get_running_loop()
        self._ended = self._loop.create_future()
        self._thread.start()
        reason = await self._ended
        await die(self.p.app, "the fixture map reader", reason)

    def _run(self) -> None:
        try:
            self._follow()
            reason: BaseException = FixtureMapReaderStopped("it returned")
        except Exception as exc:
            reason = exc
        if self._loop is not None and self._ended is not None and not self._stop.is_set():
            self._loop.call_soon_threadsafe(self._ended.set_result, reason)

    def wait_loaded(self, deadline_s: float = CATCH_UP_DEADLINE_S) -> bool:
        return self.caught_up.wait(deadline_s)

    def _follow(self) -> None:
        consumer = Consumer(
            consumer_config(
                self.p.runtime.target,
                f"{self.p.settings.app_id}-fixture-map-{uuid.uuid4()}",
                **{"enable.auto.commit": False},
            )
        )
        try:
            metadata = consumer.list_topics(self.topic, timeout=30).topics[self.topic]
            partitions = [
                TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in metadata.partitions
            ]
            deadline = time.monotonic() + CATCH_UP_DEADLINE_S
            ends = {tp.partition: end_offset(consumer, tp, deadline) for tp in partitions}
            consumer.assign(partitions)
            positions = dict.fromkeys(ends, 0)
            started = time.monotonic()
            while not self._stop.is_set():
                message = consumer.poll(0.2)
                if message is not None and not message.error():
                    self._apply(message)
                    positions[int(message.partition() or 0)] = int(message.offset() or 0) + 1
                if not self.caught_up.is_set() and (
                    all(positions[p] >= end for p, end in ends.items())
                    or time.monotonic() - started > CATCH_UP_DEADLINE_S
                ):
                    log.info("fixture map loaded: %d mappings", len(self.by_fixture))
                    self.caught_up.set()
        finally:
            consumer.close()

    def _apply(self, message: Message) -> None:
        key, value = message.key(), message.value()
        if key is None:
            return
        fixture_id = key.decode()
        if value is None:
            game_id = self.by_fixture.pop(fixture_id, None)
            if game_id is not None:
                self.by_game.pop(game_id, None)
            return
        try:
            mapping = self.p.decoder.decode(value, self.topic)
        except DecodeError as exc:
            self._dead_letter(message, exc)
            return
        self.by_fixture[fixture_id] = str(mapping["game_id"])
        self.by_game[str(mapping["game_id"])] = fixture_id

    def _dead_letter(self, message: Message, exc: DecodeError) -> None:
        origin = Origin(self.topic, int(message.partition() or 0), int(message.offset() or 0))
        send = self.p.failures.send
        args = (READER, origin, message.key(), message.value(), exc, STAGE_VALUE_CONVERTER)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(send, *args, exc.reason)

    def game_for(self, fixture_id: str) -> str | None:
        return self.by_fixture.get(fixture_id)

    def fixture_for(self, game_id: str) -> str | None:
        return self.by_game.get(game_id)

    def unmapped(self, provider: str, identifier: str | None) -> None:
        """Count a record of an unmapped game; log each game once."""
        self.p.metrics.unmapped.labels(provider).inc()
        name = f"{provider}:{identifier}"
        if name not in self._reported:
            self._reported.add(name)
            log.warning(
                "no fixture mapping for %s %s: not reconciled (load it with "
                "`mmstream fixtures load`)",
                provider,
                identifier,
            )


def end_offset(consumer: Consumer, tp: TopicPartition, deadline: float) -> int:
    """The partition's end offset, asked again until `deadline` while Kafka cannot say: a
    broker killed as the reader starts (its handle destroyed, the partition's leader moving;
    the 3-node broker-kill test) is a failover to wait out, not the end of the map."""
    while True:
        try:
            return int(consumer.get_watermark_offsets(tp, timeout=10)[1])
        except KafkaException as exc:
            if time.monotonic() > deadline:
                raise
            log.warning(
                "fixture map: end offset of %s[%d]: %s; asking again", tp.topic, tp.partition, exc
            )
            time.sleep(0.5)
