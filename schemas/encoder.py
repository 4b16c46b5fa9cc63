"""The one Avro encoder: Confluent wire format, the Avro binary from a compiled writer.

Magic byte 0, the 4-byte id the registry gave the topic's `.avsc` under `<topic>-value`, then
the schemaless Avro binary — the same bytes confluent-kafka's `AvroSerializer` writes (a test
compares them byte for byte). The schema is compiled into a writer (`schemas.avro_writer`) and
its id looked up once per topic (never registered here: that is `AvroSerde.register_all` at
start-up); a schema the compiler does not take is written by fastavro. Per MM API record:
AvroSerializer 71 µs, fastavro 47 µs, the compiled writer — see bench/RESULTS.md
(bench/bench_connectors.py, stage "encode").
"""

from __future__ import annotations

import json
from io import BytesIO
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from fastavro import parse_schema, schemaless_writer

from schemas.avro_writer import Writer, compile_writer
from schemas.codegen import NotCompilable

MAGIC = b"\x00"


class ConfluentAvroEncoder:
    """Encodes values of one schema under one subject; the schema id is resolved on first use."""

    def __init__(self, registry: SchemaRegistryClient, subject: str, schema_text: str) -> None:
        self.registry = registry
        self.subject = subject
        self.schema_text = schema_text
        self.parsed = parse_schema(json.loads(schema_text))
        self._prefix: bytes | None = None
        try:
            self.writer: Writer | None = compile_writer(json.loads(schema_text))
        except NotCompilable:
            self.writer = None

    def prefix(self) -> bytes:
        """Magic byte + schema id: the schema must be registered under the subject already."""
        if self._prefix is None:
            registered = self.registry.lookup_schema(self.subject, Schema(self.schema_text, "AVRO"))
            if registered.schema_id is None:
                raise LookupError(f"the registry gave no schema id under {self.subject}")
            self._prefix = MAGIC + registered.schema_id.to_bytes(4, "big")
        return self._prefix

    def encode_fields(self, value: dict[str, Any]) -> tuple[bytes, list[int]]:
        """The record's bytes, and where each top-level field begins in them (then the end)."""
        if self.writer is None:
            raise NotCompilable(f"{self.subject}: no compiled writer to report field offsets")
        out = bytearray(self._prefix or self.prefix())
        starts = self.writer(out, value)
        return bytes(out), starts

    def encode(self, value: dict[str, Any]) -> bytes:
        if self.writer is not None:
            out = bytearray(self._prefix or self.prefix())
            self.writer(out, value)
            return bytes(out)
        buffer = BytesIO()
        buffer.write(self._prefix or self.prefix())
        schemaless_writer(buffer, self.parsed, value)
        return buffer.getvalue()
