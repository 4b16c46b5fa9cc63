"""Encode / decode records per second of a typical order record: the project's serde
(confluent-kafka AvroSerializer; the one decoder `schemas.decoder`; Confluent framing) vs bare
fastavro."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fastavro
from confluent_kafka.schema_registry import SchemaRegistryClient

from bench.common import embedded_stack, table
from mmstream.core.settings import TopicSettings
from schemas import load_schema_dict
from schemas.serde import AvroSerde

N = 50_000
ORDER = {
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
        "client": "desk",
        "fixtureId": "id1000000861624412",
        "outcomeId": 161,
        "exchange": "polymarket",
        "exchangeOrderId": "0x1a2b3c",
        "exchangeOutcomeId": "a1",
        "orderStatus": "FILLED",
        "matchedStatus": "FULLY_MATCHED",
        "orderCents": 0.45,
        "orderStake": 100.0,
        "matchedStake": 100.0,
        "matchedAt": 1771151405000,
        "createdAt": 1771151400000,
        "updatedAt": 1771151405000,
        "settlementStatus": "UNDECIDED",
        "bookmakerOutcomePrice": 1.9,
        "bookmakerOutcomeLimit": 1000.0,
    },
    "old": {"orderStatus": "PLACED", "matchedStatus": "NOT_MATCHED", "matchedStake": 0.0},
    "changed_fields": ["orderStatus", "matchedStatus", "matchedStake"],
    "payload_extra": {},
    "old_extra": {},
}


def rate(label: str, fn: object) -> tuple[str, float]:
    assert callable(fn)
    started = time.perf_counter()
    for _ in range(N):
        fn()
    return label, N / (time.perf_counter() - started)


def main() -> None:
    with embedded_stack() as stack:
        serde = AvroSerde(SchemaRegistryClient({"url": stack.registry_url}), TopicSettings())
        serde.register_all()
        data = serde.encode("orders", ORDER)
        parsed = fastavro.parse_schema(load_schema_dict("mmapi_order"))
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, parsed, ORDER)
        raw = buffer.getvalue()

        def bare_encode() -> None:
            out = io.BytesIO()
            fastavro.schemaless_writer(out, parsed, ORDER)

        results = [
            rate("serde encode (AvroSerializer)", lambda: serde.encode("orders", ORDER)),
            rate("bare fastavro.schemaless_writer", bare_encode),
            rate("serde decode (schemas.decoder)", lambda: serde.decode("orders", data)),
            rate(
                "bare fastavro.schemaless_reader",
                lambda: fastavro.schemaless_reader(io.BytesIO(raw), parsed, parsed),
            ),
        ]
    rows = [(label, f"{value:,.0f} records/s") for label, value in results]
    rows.append(("encoded size (serde / bare)", f"{len(data)} / {len(raw)} bytes"))
    rows.append(("serde / bare, encode", f"{results[0][1] / results[1][1]:.2f}"))
    rows.append(("serde / bare, decode", f"{results[2][1] / results[3][1]:.2f}"))
    print(table(rows))


if __name__ == "__main__":
    main()
