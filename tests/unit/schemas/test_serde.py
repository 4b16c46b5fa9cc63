"""The serde's wire format, checked against a `mock://` registry (unit level)."""

from __future__ import annotations

import struct

from confluent_kafka.schema_registry import SchemaRegistryClient

from mmstream.settings import TopicSettings
from schemas.serde import AvroSerde, decode_key, encode_key
from schemas.values import millis, plain


def test_confluent_framing_and_round_trip() -> None:
    serde = AvroSerde(SchemaRegistryClient.new_client({"url": "mock://unit"}), TopicSettings())
    ids = serde.register_all()
    record = {
        "source": "mmapi",
        "reason": "malformed JSON",
        "error_class": None,
        "raw": b"{oops",
        "received_at": 1_771_151_405_123,
        "connection_id": None,
        "subscription_id": None,
        "channel": None,
    }
    data = serde.encode("dlq", record)
    magic, schema_id = struct.unpack(">bI", data[:5])
    assert magic == 0 and schema_id == ids["connectors.dlq-value"]
    assert plain(serde.decode("dlq", data)) == record


def test_keys_are_utf8_strings() -> None:
    assert encode_key(123) == b"123"
    assert decode_key(b"mlb-ari-pit-2026-05-07") == "mlb-ari-pit-2026-05-07"
    assert encode_key(None) is None


def test_millis_is_exact_for_large_values() -> None:
    from datetime import UTC, datetime, timedelta

    moment = datetime(2200, 1, 1, tzinfo=UTC) + timedelta(milliseconds=475)
    assert millis(moment) == 7_258_118_400_475
    assert millis(5) == 5 and millis(None) is None
