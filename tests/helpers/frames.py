"""A connector's frame → outcome path with no broker: the real protocol, publisher and sink
(encoding, size checks) over a producer that keeps what it is given, and confluent's own
in-memory registry, so every record is read back with a stock `AvroDeserializer`."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from pydantic import SecretStr

from connectors.frames import Outcome
from connectors.metrics import ConnectorMetrics
from connectors.mmapi import MmapiProtocol
from connectors.predexon import PredexonProtocol
from connectors.publisher import Connection, Publisher
from connectors.settings import MmapiSettings, PredexonSettings
from connectors.sink import KafkaSink
from mmstream.core.deadletter import header_map
from mmstream.core.kafka.config import ClusterTarget
from mmstream.core.settings import TopicSettings
from schemas.serde import AvroSerde

TOPICS = TopicSettings()


@dataclass
class Produced:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, Any]] | None


class KeepingProducer:
    """Takes records like librdkafka and acknowledges each at once."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.records: list[Produced] = []

    def produce(
        self, topic: str, value: bytes, key: bytes | None, headers: Any, on_delivery: Any
    ) -> None:
        self.records.append(Produced(topic, key, value, headers))
        on_delivery(None, None)

    def poll(self, timeout: float) -> int:
        return 0


@dataclass
class Harness:
    """One feed's protocol wired to a keeping producer; `send` returns each frame's outcome."""

    protocol: MmapiProtocol | PredexonProtocol
    producer: KeepingProducer
    metrics: ConnectorMetrics
    registry: SchemaRegistryClient
    session: Connection = field(default_factory=lambda: Connection("conn-1", "sub-1"))

    async def send(self, frame: str | bytes) -> Outcome:
        return await self.protocol.handle(frame, self.session)

    def decoded(self, topic_id: str) -> list[dict[str, Any]]:
        """Every record of a topic read with a stock AvroDeserializer (writer schema by id)."""
        name = TOPICS.name(topic_id)
        deserialize = AvroDeserializer(self.registry)
        context = SerializationContext(name, MessageField.VALUE)
        return [deserialize(r.value, context) for r in self.producer.records if r.topic == name]

    def dead_letters(self) -> list[dict[str, Any]]:
        """The connectors.dlq records as DLQ tooling reads them: the original bytes as the
        value, `__connect.errors.*` headers (by short name) and the `mmstream.*` ones."""
        name = TOPICS.name("dlq")
        return [
            dead_letter_view(r.key, r.value, r.headers)
            for r in self.producer.records
            if r.topic == name
        ]

    def count(self, topic_id: str) -> int:
        return sum(1 for r in self.producer.records if r.topic == TOPICS.name(topic_id))


def dead_letter_view(
    key: bytes | None, value: bytes | None, headers: list[tuple[str, Any]] | None
) -> dict[str, Any]:
    """One dead letter: key and value as written, Connect's headers, ours, and the reason."""
    connect = header_map(headers)
    ours = {
        name.removeprefix("mmstream."): (data or b"").decode()
        for name, data in headers or []
        if name.startswith("mmstream.")
    }
    return {
        "key": key,
        "raw": value,
        "connect": connect,
        "mmstream": ours,
        "reason": connect["exception.message"],
        "raw_size": int(ours["raw.size"]),
    }


@functools.cache
def registered(feed: str) -> tuple[SchemaRegistryClient, AvroSerde]:
    """One in-memory registry holding every schema, and its serde, per feed, shared by the
    harnesses: building them (a TLS context, the compiled encoders) took longer than a fuzz
    example itself, and neither keeps anything of the records that pass through (the encoders
    and the writer schemas read back are caches)."""
    registry = SchemaRegistryClient.new_client({"url": f"mock://{feed}-{time.monotonic_ns()}"})
    serde = AvroSerde(registry, TOPICS)
    serde.register_all()
    return registry, serde


def harness(feed: str, **settings: Any) -> Harness:
    """A fresh protocol, publisher, sink, producer and metrics: nothing of a previous harness's
    frames is seen."""
    registry, serde = registered(feed)
    metrics = ConnectorMetrics(feed)
    producers: list[KeepingProducer] = []

    def factory(config: dict[str, Any]) -> Any:
        producers.append(KeepingProducer(config))
        return producers[-1]

    sink = KafkaSink(
        ClusterTarget("127.0.0.1:1", embedded=False),
        serde,
        TOPICS,
        metrics,
        max_in_flight=1_000_000,
        max_message_bytes=settings.pop("max_message_bytes", 1_000_000),
        producer_factory=factory,
    )
    publisher = Publisher(feed, sink, metrics)
    protocol: MmapiProtocol | PredexonProtocol
    if feed == "mmapi":
        protocol = MmapiProtocol(
            MmapiSettings(api_key=SecretStr("k"), **settings), publisher, metrics
        )
    else:
        protocol = PredexonProtocol(
            PredexonSettings(api_key=SecretStr("k"), **settings), publisher, metrics
        )
    return Harness(protocol, producers[0], metrics, registry)
