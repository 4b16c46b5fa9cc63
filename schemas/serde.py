"""Confluent wire format for every pipeline topic: magic byte, 4-byte schema id, Avro binary.

Values are written by `schemas.encoder` (fastavro with the Confluent framing: the bytes
confluent-kafka's `AvroSerializer` writes, at two thirds of its cost) and read with the
project's one decoder (`schemas.decoder`: reader schema = the topic's current `.avsc`, so
records written with an older compatible version still decode; timestamps as epoch-ms longs).
Keys are plain UTF-8 strings. `register_all()` runs at start-up; the encoders never register,
so nothing reaches the registry on the hot path after the first lookup of each subject.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from mmstream.core.errors import MmstreamError
from mmstream.core.settings import TopicSettings
from mmstream.core.topics import TOPICS_BY_ID
from schemas import load_schema
from schemas.decoder import Decoder
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
        self.decoder = Decoder(registry, {name: tid for tid, name in topics.names().items()})

    def schema_text(self, topic_id: str) -> str:
        name = TOPICS_BY_ID[topic_id].value_schema
        if name is None:
            raise SerdeError(f"{topic_id} carries other topics' original bytes, not Avro")
        return load_schema(name)

    def register_all(self) -> dict[str, int]:
        """Register every topic's value schema under `<topic>-value`; return subject → id."""
        ids = {}
        for topic_id, spec in TOPICS_BY_ID.items():
            if spec.value_schema is None:
                continue
            subject = subject_for(self.topics.name(topic_id))
            ids[subject] = self.registry.register_schema(
                subject, Schema(self.schema_text(topic_id), "AVRO")
            )
        log.info("registered %d value schemas", len(ids))
        return ids

    def encoder(self, topic_id: str) -> ConfluentAvroEncoder:
        encoder = self._encoders.get(topic_id)
        if encoder is None:
            subject = subject_for(self.topics.name(topic_id))
            encoder = ConfluentAvroEncoder(self.registry, subject, self.schema_text(topic_id))
            self._encoders[topic_id] = encoder
        return encoder

    def encode(self, topic_id: str, value: dict[str, Any]) -> bytes:
        try:
            return self.encoder(topic_id).encode(value)
        except Exception as exc:
            raise SerdeError(f"cannot encode a {topic_id} record: {exc}") from exc

    def encode_fields(self, topic_id: str, value: dict[str, Any]) -> tuple[bytes, list[int]]:
        """`encode`, and where each top-level field begins in the bytes (then their end)."""
        try:
            return self.encoder(topic_id).encode_fields(value)
        except Exception as exc:
            raise SerdeError(f"cannot encode a {topic_id} record: {exc}") from exc

    def decode(self, topic_id: str, data: bytes) -> dict[str, Any]:
        """A value of `topic_id` (raises `schemas.decoder.DecodeError`; timestamps in ms)."""
        return self.decoder.decode(data, self.topics.name(topic_id))
