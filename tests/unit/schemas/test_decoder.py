"""The one decoder: each poison class, schema resolution to the committed `.avsc`, timestamps.

The registry here is a table of schema texts by id behind the one method the decoder calls
(`get_schema`), answering as Confluent's does (404 / 40403 for an unknown id); the decoder on the
real registry over HTTP is covered by the integration tests (`tests/integration/processors`).
"""

from __future__ import annotations

import copy
import io
import json
from dataclasses import dataclass
from typing import Any

import fastavro
import pytest
from confluent_kafka.schema_registry.error import SchemaRegistryError

from mmstream.core.settings import TopicSettings
from schemas import load_schema_dict
from schemas.decoder import (
    DecodeError,
    Decoder,
    NotConfluentFramed,
    RegistryUnavailable,
    SchemaMismatch,
    UndecodableBytes,
    UnknownSchemaId,
)

ORDERS = TopicSettings().name("orders")
T0 = 1_771_149_600_000


@dataclass
class Registered:
    schema_str: str


class SchemaTable:
    """Schema texts by id; `down` makes every lookup fail as an unreachable registry does."""

    def __init__(self) -> None:
        self.schemas: dict[int, str] = {}
        self.down = False
        self.lookups = 0

    def add(self, schema: dict[str, Any]) -> int:
        schema_id = len(self.schemas) + 1
        self.schemas[schema_id] = json.dumps(schema)
        return schema_id

    def get_schema(self, schema_id: int) -> Registered:
        self.lookups += 1
        if self.down:
            raise ConnectionRefusedError("[Errno 111] Connection refused")
        if schema_id not in self.schemas:
            raise SchemaRegistryError(404, 40403, "Schema not found")
        return Registered(self.schemas[schema_id])


def order(**payload: Any) -> dict[str, Any]:
    return {
        "envelope": {
            "source": "mmapi",
            "connection_id": "c",
            "subscription_id": "1",
            "received_at": T0,
            "event_time": T0 - 5,
            "origin": "LIVE",
        },
        "event": "UPDATE",
        "payload": {"orderId": 42, "orderStatus": "FILLED", "updatedAt": T0, **payload},
        "old": None,
        "changed_fields": [],
        "payload_extra": {},
    }


def framed(schema_id: int, schema: dict[str, Any], value: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(copy.deepcopy(schema)), value)
    return b"\x00" + schema_id.to_bytes(4, "big") + out.getvalue()


@pytest.fixture
def table() -> SchemaTable:
    return SchemaTable()


@pytest.fixture
def decoder(table: SchemaTable) -> Decoder:
    topic_ids = {name: topic_id for topic_id, name in TopicSettings().names().items()}
    return Decoder(table, topic_ids)  # type: ignore[arg-type]


def order_schema() -> dict[str, Any]:
    return load_schema_dict("mmapi_order")


def fields_of(record: dict[str, Any], name: str) -> list[dict[str, Any]]:
    field = next(f for f in record["fields"] if f["name"] == name)
    fields: list[dict[str, Any]] = field["type"]["fields"]
    return fields


def test_a_record_decodes_with_timestamps_as_epoch_ms(table: SchemaTable, decoder: Decoder) -> None:
    schema = order_schema()
    value = decoder.decode(framed(table.add(schema), schema, order(matchedStake=10.0)), ORDERS)
    assert value["envelope"]["received_at"] == T0, "timestamp-millis as the long it is"
    assert value["payload"]["updatedAt"] == T0
    assert value["payload"]["orderId"] == 42 and value["payload"]["matchedStake"] == 10.0


def test_the_writer_schema_is_fetched_once_per_id(table: SchemaTable, decoder: Decoder) -> None:
    schema = order_schema()
    data = framed(table.add(schema), schema, order())
    for _ in range(3):
        decoder.decode(data, ORDERS)
    assert table.lookups == 1


def test_an_older_compatible_writer_gets_the_reader_schemas_defaults(
    table: SchemaTable, decoder: Decoder
) -> None:
    """BACKWARD compatibility: a record written before `origin` existed reads as LIVE."""
    older = order_schema()
    envelope = fields_of(older, "envelope")
    envelope[:] = [f for f in envelope if f["name"] != "origin"]
    value = order()
    del value["envelope"]["origin"]
    decoded = decoder.decode(framed(table.add(older), older, value), ORDERS)
    assert decoded["envelope"]["origin"] == "LIVE"


@pytest.mark.parametrize(
    "data",
    [b"plain bytes, not avro", b'{"orderId": 1}', b"", b"\x00\x00", b"\x01\x00\x00\x00\x01abc"],
    ids=["text", "json", "empty", "short", "wrong-magic"],
)
def test_bytes_that_are_not_confluent_framed(decoder: Decoder, data: bytes) -> None:
    with pytest.raises(NotConfluentFramed) as caught:
        decoder.decode(data, ORDERS)
    assert caught.value.reason == "not_confluent_framed"


def test_an_unknown_schema_id(decoder: Decoder) -> None:
    with pytest.raises(UnknownSchemaId, match="no schema id 99999") as caught:
        decoder.decode(b"\x00" + (99999).to_bytes(4, "big") + b"\x02x", ORDERS)
    assert caught.value.reason == "unknown_schema_id"


def test_garbage_after_a_known_schema_id(table: SchemaTable, decoder: Decoder) -> None:
    schema_id = table.add(order_schema())
    with pytest.raises(UndecodableBytes) as caught:
        decoder.decode(b"\x00" + schema_id.to_bytes(4, "big") + b"\xff\xff\xff\xff\xff", ORDERS)
    assert caught.value.reason == "undecodable_bytes"


def test_bytes_left_over_after_the_record(table: SchemaTable, decoder: Decoder) -> None:
    schema = order_schema()
    data = framed(table.add(schema), schema, order()) + b"trailing"
    with pytest.raises(UndecodableBytes, match="left over"):
        decoder.decode(data, ORDERS)


def test_a_valid_record_of_another_shape_is_a_schema_mismatch(
    table: SchemaTable, decoder: Decoder
) -> None:
    other = {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "string"}]}
    with pytest.raises(SchemaMismatch) as caught:
        decoder.decode(framed(table.add(other), other, {"x": "y"}), ORDERS)
    assert caught.value.reason == "schema_mismatch"


def test_a_required_field_missing_is_a_schema_mismatch(
    table: SchemaTable, decoder: Decoder
) -> None:
    schema = order_schema()
    payload = fields_of(schema, "payload")
    payload[:] = [f for f in payload if f["name"] != "orderId"]
    value = order()
    del value["payload"]["orderId"]
    with pytest.raises(SchemaMismatch):
        decoder.decode(framed(table.add(schema), schema, value), ORDERS)


def test_a_wrong_type_is_a_schema_mismatch(table: SchemaTable, decoder: Decoder) -> None:
    schema = order_schema()
    next(f for f in fields_of(schema, "payload") if f["name"] == "orderId")["type"] = "string"
    value = order(orderId="forty-two")
    with pytest.raises(SchemaMismatch):
        decoder.decode(framed(table.add(schema), schema, value), ORDERS)


def test_a_topic_without_a_committed_schema_reads_by_the_writer(
    table: SchemaTable, decoder: Decoder
) -> None:
    other = {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "string"}]}
    assert decoder.decode(framed(table.add(other), other, {"x": "y"}), "someone.else") == {"x": "y"}


def test_an_unreachable_registry_is_not_a_record_problem(
    table: SchemaTable, decoder: Decoder
) -> None:
    """Not a DecodeError: the record is fine, so it must not be dead-lettered."""
    schema = order_schema()
    data = framed(table.add(schema), schema, order())
    table.down = True
    with pytest.raises(RegistryUnavailable) as caught:
        decoder.decode(data, ORDERS)
    assert not isinstance(caught.value, DecodeError)
    table.down = False
    assert decoder.decode(data, ORDERS)["payload"]["orderId"] == 42, "nothing cached from it"
