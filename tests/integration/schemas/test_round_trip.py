"""Every topic's schema survives a produce/consume round trip through the real registry,
and what the serde writes is readable by a stock confluent-kafka AvroDeserializer."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro import parse_schema
from fastavro.utils import generate_many

from mmstream.core.kafka.config import ClusterTarget
from mmstream.core.settings import TopicSettings
from mmstream.core.topics import TOPICS
from schemas import load_schema_dict
from schemas.decoder import Decoder, NotConfluentFramed
from schemas.serde import AvroSerde
from schemas.values import plain
from tests.helpers.kafka import consume, produce

SAMPLES_PER_TOPIC = 5


def samples(schema_name: str) -> list[dict[str, Any]]:
    schema = parse_schema(load_schema_dict(schema_name))
    return list(generate_many(schema, SAMPLES_PER_TOPIC))


AVRO_TOPICS = [t for t in TOPICS if t.value_schema is not None]


@pytest.mark.parametrize("spec", AVRO_TOPICS, ids=[t.id for t in AVRO_TOPICS])
def test_every_schema_round_trips_through_broker_and_registry(
    spec: Any,
    serde: AvroSerde,
    topics: TopicSettings,
    kafka_target: ClusterTarget,
    registry_client: SchemaRegistryClient,
) -> None:
    assert spec.value_schema is not None
    records = samples(spec.value_schema)
    topic = topics.name(spec.id)
    produce(
        kafka_target, topic, [(str(i), serde.encode(spec.id, r)) for i, r in enumerate(records)]
    )

    received = consume(kafka_target, topic, len(records), decode=lambda b: b)
    by_key = {key: value for key, value, _ in received}
    stock = AvroDeserializer(registry_client)  # no reader schema: the writer's, from the registry
    writer_only = Decoder(registry_client)  # no topic mapping: read by the writer schema
    context = SerializationContext(topic, MessageField.VALUE)
    for i, original in enumerate(records):
        raw = by_key[str(i)]
        assert raw[0] == 0, "Confluent magic byte"
        assert plain(serde.decode(spec.id, raw)) == original
        assert plain(stock(raw, context)) == original
        assert writer_only.decode(raw, topic) == original, "by writer schema alone, the same"


def test_a_spec_example_order_fill_round_trips(serde: AvroSerde) -> None:
    fill = {
        "envelope": {
            "source": "mmapi",
            "connection_id": "c-1",
            "subscription_id": "1",
            "received_at": 1771151405123,
            "event_time": 1771151405000,
            "origin": "LIVE",
        },
        "event": "UPDATE",
        "payload": {
            "orderId": 123,
            "fixtureId": "id1000000861624412",
            "outcomeId": 161,
            "exchange": "polymarket",
            "exchangeOrderId": "0x1a2b3c",
            "orderStatus": "FILLED",
            "matchedStatus": "FULLY_MATCHED",
            "orderCents": 0.45,
            "orderStake": 100.0,
            "matchedStake": 100.0,
            "matchedAt": 1771151405000,
        },
        "old": {"orderStatus": "PLACED", "matchedStatus": "NOT_MATCHED", "matchedStake": 0.0},
        "changed_fields": ["orderStatus", "matchedStatus", "matchedStake"],
        "payload_extra": {"newField": '"x"'},
        "old_extra": {},
    }
    decoded = plain(serde.decode("orders", serde.encode("orders", fill)))
    assert decoded["payload"]["matchedStake"] == 100.0
    assert decoded["old"]["orderStatus"] == "PLACED"
    assert decoded["old"]["orderId"] is None
    assert decoded["payload"]["matchedAt"] == 1771151405000
    assert decoded["changed_fields"] == ["orderStatus", "matchedStatus", "matchedStake"]
    assert decoded["payload_extra"] == {"newField": '"x"'}


def test_the_decoder_rejects_bytes_that_are_not_confluent_framed(
    registry_client: SchemaRegistryClient,
) -> None:
    with pytest.raises(NotConfluentFramed, match="not a Confluent-framed Avro record"):
        Decoder(registry_client).decode(b'{"json": "is not avro"}')


@pytest.mark.parametrize("spec", AVRO_TOPICS, ids=[t.id for t in AVRO_TOPICS])
def test_the_encoder_writes_the_bytes_confluents_avro_serializer_writes(
    spec: Any, serde: AvroSerde, topics: TopicSettings, registry_client: SchemaRegistryClient
) -> None:
    assert spec.value_schema is not None
    stock = AvroSerializer(
        registry_client,
        serde.schema_text(spec.id),
        conf={"auto.register.schemas": False, "normalize.schemas": False},
    )
    context = SerializationContext(topics.name(spec.id), MessageField.VALUE)
    for record in samples(spec.value_schema):
        assert serde.encode(spec.id, record) == stock(record, context)
