"""Faust codecs of the processors: Avro on the pipeline's topics, JSON on internal topics."""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from faust.serializers.codecs import Codec

from schemas.values import plain


class WriterSchemaAvro(Codec):
    """Decodes any Confluent-framed Avro record by its writer schema (several topics, one
    channel), with timestamps as epoch ms; encodes nothing (inputs only)."""

    def __init__(self, registry: SchemaRegistryClient, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deserialize = AvroDeserializer(registry)
        self.context = SerializationContext("", MessageField.VALUE)

    def _dumps(self, obj: Any) -> bytes:
        raise NotImplementedError("input-only codec")

    def _loads(self, s: bytes) -> Any:
        return plain(self.deserialize(s, self.context))


class CompactJson(Codec):
    """JSON for internal topics and table changelogs."""

    def _dumps(self, obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

    def _loads(self, s: bytes) -> Any:
        return json.loads(s)
