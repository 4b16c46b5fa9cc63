"""Confluent wire format for every pipeline topic: magic byte, 4-byte schema id, Avro binary.

Values are written by `schemas.encoder` (fastavro with the Confluent framing: the bytes
confluent-kafka's `AvroSerializer` writes, at a fifth of its cost) and read with
`AvroDeserializer` (reader schema = the topic's current `.avsc`, so records written with an
older compatible version still decode). Keys are plain UTF-8 strings. `register_all()` runs
at start-up; the encoders never register, so nothing reaches the registry on the hot path
after the first lookup of each subject.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from mmstream.errors import MmstreamError
from mmstream.settings import TopicSettings
from mmstream.topics import TOPICS_BY_ID
from schemas import load_schema
from schemas.encoder import ConfluentAvroEncoder

log = logging.getLogger(__name__)


class SerdeError(MmstreamError):
    """A record could not be encoded or decoded."""


def subject_for(topic_name: str) -> str:
    return f"{topic_name}-value"


def encode_key(key: str | int | None) -> bytes | None:
    return None if key is None else str(key).encode("utf-8")


def decode_key(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8")


class AvroSerde:
    """Encodes and decodes each pipeline topic's values by topic id."""

    def __init__(self, registry: SchemaRegistryClient, topics: TopicSettings) -> None:
        self.registry = registry
        self.topics = topics
        self._encoders: dict[str, ConfluentAvroEncoder] = {}
        self._deserializers: dict[str, AvroDeserializer] = {}
        self._contexts: dict[str, SerializationContext] = {}

    def schema_text(self, topic_id: str) -> str:
        return load_schema(TOPICS_BY_ID[topic_id].value_schema)

    def register_all(self) -> dict[str, int]:
        """Register every topic's value schema under `<topic>-value`; return subject → id."""
        ids = {}
        for topic_id in TOPICS_BY_ID:
            subject = subject_for(self.topics.name(topic_id))
            ids[subject] = self.registry.register_schema(
                subject, Schema(self.schema_text(topic_id), "AVRO")
            )
        log.info("registered %d value schemas", len(ids))
        return ids

    def _context(self, topic_id: str) -> SerializationContext:
        context = self._contexts.get(topic_id)
        if context is None:
            context = SerializationContext(self.topics.name(topic_id), MessageField.VALUE)
            self._contexts[topic_id] = context
        return context

    def encoder(self, topic_id: str) -> ConfluentAvroEncoder:
        encoder = self._encoders.get(topic_id)
        if encoder is None:
            subject = subject_for(self.topics.name(topic_id))
            encoder = ConfluentAvroEncoder(self.registry, subject, self.schema_text(topic_id))
            self._encoders[topic_id] = encoder
        return encoder

    def deserializer(self, topic_id: str) -> AvroDeserializer:
        deserializer = self._deserializers.get(topic_id)
        if deserializer is None:
            deserializer = AvroDeserializer(self.registry, self.schema_text(topic_id))
            self._deserializers[topic_id] = deserializer
        return deserializer

    def encode(self, topic_id: str, value: dict[str, Any]) -> bytes:
        try:
            return self.encoder(topic_id).encode(value)
        except Exception as exc:
            raise SerdeError(f"cannot encode a {topic_id} record: {exc}") from exc

    def decode(self, topic_id: str, data: bytes) -> dict[str, Any]:
        try:
            value = self.deserializer(topic_id)(data, self._context(topic_id))
        except Exception as exc:
            raise SerdeError(f"cannot decode a {topic_id} record: {exc}") from exc
        assert isinstance(value, dict)
        return value
