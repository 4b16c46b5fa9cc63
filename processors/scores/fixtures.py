"""The fixtureId ↔ game_id map: a table materialised from the compacted `reference.fixture_map`.

Every worker reads the whole topic (all partitions, no consumer group), whatever partitions of
the score topics it owns, and follows it while it runs; a null value removes a mapping. (Faust's
GlobalTable over a foreign topic stalled the group's assignment on the embedded broker.)
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from mmstream.kafka.config import consumer_config
from processors.app import Pipeline

log = logging.getLogger(__name__)
CATCH_UP_DEADLINE_S = 30.0


class FixtureMap:
    def __init__(self, p: Pipeline) -> None:
        self.p = p
        self.topic = p.runtime.topics.name("fixture_map")
        self.by_fixture: dict[str, str] = {}
        self.by_game: dict[str, str] = {}
        self._reported: set[str] = set()
        self._stop = threading.Event()
        self.caught_up = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="fixture-map", daemon=True)
        p.app.task(self._start)

    async def _start(self) -> None:
        """Runs when the worker starts (a Faust task); the daemon thread ends with the process."""
        self._thread.start()

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
        deserialize = AvroDeserializer(self.p.registry)
        context = SerializationContext(self.topic, MessageField.VALUE)
        try:
            metadata = consumer.list_topics(self.topic, timeout=30).topics[self.topic]
            partitions = [
                TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in metadata.partitions
            ]
            ends = {
                tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions
            }
            consumer.assign(partitions)
            positions = dict.fromkeys(ends, 0)
            started = time.monotonic()
            while not self._stop.is_set():
                message = consumer.poll(0.2)
                if message is not None and not message.error():
                    self._apply(message.key(), message.value(), deserialize, context)
                    positions[int(message.partition() or 0)] = int(message.offset() or 0) + 1
                if not self.caught_up.is_set() and (
                    all(positions[p] >= end for p, end in ends.items())
                    or time.monotonic() - started > CATCH_UP_DEADLINE_S
                ):
                    log.info("fixture map loaded: %d mappings", len(self.by_fixture))
                    self.caught_up.set()
        except Exception:
            log.exception("the fixture map reader stopped")
        finally:
            self.caught_up.set()
            consumer.close()

    def _apply(
        self,
        key: bytes | None,
        value: bytes | None,
        deserialize: AvroDeserializer,
        context: SerializationContext,
    ) -> None:
        if key is None:
            return
        fixture_id = key.decode()
        if value is None:
            game_id = self.by_fixture.pop(fixture_id, None)
            if game_id is not None:
                self.by_game.pop(game_id, None)
            return
        mapping = deserialize(value, context)
        assert isinstance(mapping, dict)
        self.by_fixture[fixture_id] = str(mapping["game_id"])
        self.by_game[str(mapping["game_id"])] = fixture_id

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
