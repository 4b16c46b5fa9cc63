"""The one decoder of the project: Confluent wire format → plain dict, for every reader.

Agents, the live view, `mmstream tail`, the fixture-map reader, tests and benches all decode
through `Decoder.decode`:

- fastavro directly (not confluent's `AvroDeserializer`): the writer schema is fetched from the
  registry once per schema id and kept parsed;
- resolved to the reader schema, the committed `.avsc` of the topic, so a record written with an
  older BACKWARD-compatible version gets the defaults of the fields added since (a topic without
  a committed schema is read with its writer schema);
- one representation of timestamps: `timestamp-millis` is read as the epoch-millisecond long it
  is on the wire (about three times faster than building datetimes, bench/bench_serde.py);
- where writer and reader schema are the same (the common case) no resolution is done, and the
  record is read by a reader compiled once per writer schema (`schemas.avro_reader`, about
  twice fastavro's speed on the raw topics' records); fastavro reads what it cannot compile
  and every record that needs resolving.

What cannot be decoded raises a `DecodeError` subclass; its `reason` is the dead-letter reason.
A registry that cannot be asked (down, 5xx, refused) is not a property of the record: it raises
`RegistryUnavailable`, which is not a `DecodeError`, so a reader stops rather than dead-letters
records that are fine.
"""

from __future__ import annotations

import json
import threading
from io import BytesIO
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro import parse_schema, schemaless_reader
from fastavro.read import SchemaResolutionError

from mmstream.core.errors import MmstreamError
from mmstream.core.topics import TOPICS_BY_ID
from schemas import load_schema
from schemas.avro_reader import Reader, compile_reader
from schemas.codegen import NotCompilable

MAGIC = 0
HEADER_SIZE = 5
# registry error codes meaning "no such schema id" (Confluent: 40403; some answer 40401/404)
UNKNOWN_ID_CODES = frozenset({40403, 40401, 404})


class DecodeError(MmstreamError):
    """A record's value cannot be decoded; `reason` names the class, as dead letters do."""

    reason = "undecodable"


class NotConfluentFramed(DecodeError):
    """The value does not start with magic byte 0 and a 4-byte schema id."""

    reason = "not_confluent_framed"


class UnknownSchemaId(DecodeError):
    """The registry does not know the record's schema id."""

    reason = "unknown_schema_id"


class UndecodableBytes(DecodeError):
    """The bytes after the header do not decode under their writer schema."""

    reason = "undecodable_bytes"


class SchemaMismatch(DecodeError):
    """The writer schema does not resolve to the topic's schema (a required field missing, a
    wrong type): the record is valid Avro, but not a record of this topic."""

    reason = "schema_mismatch"


class RegistryUnavailable(MmstreamError):
    """The registry could not be asked for a writer schema (not a problem of the record)."""


def without_timestamp_types(schema: Any) -> Any:
    """The schema with every `timestamp-millis` annotation removed (the long stays)."""
    if isinstance(schema, list):
        return [without_timestamp_types(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: without_timestamp_types(value)
        for key, value in schema.items()
        if not (key == "logicalType" and value == "timestamp-millis")
    }


def shortened(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def schema_id_of(data: bytes) -> int:
    """The schema id of a Confluent-framed value, or `NotConfluentFramed`."""
    if len(data) < HEADER_SIZE or data[0] != MAGIC:
        raise NotConfluentFramed(
            f"not a Confluent-framed Avro record: {len(data)} bytes starting {data[:5]!r} "
            "(expected magic byte 0 and a 4-byte schema id)"
        )
    return int.from_bytes(data[1:HEADER_SIZE], "big")


class Decoder:
    """Decodes Confluent-framed Avro values by writer schema id, resolved to the reader schema
    of the topic they were read from. Thread-safe; one per process is enough."""

    def __init__(self, registry: SchemaRegistryClient, topic_ids: dict[str, str] | None = None):
        """`topic_ids` maps topic names to topic ids (`TopicSettings.names()` inverted), so
        records read from a pipeline topic are resolved to its committed `.avsc`."""
        self.registry = registry
        self.topic_ids = topic_ids or {}
        self._writers: dict[int, dict[str, Any]] = {}
        self._readers: dict[str, Any] = {}  # topic name -> parsed reader schema (or None)
        # (schema id, topic) -> (parsed writer, parsed reader or None, compiled reader or None)
        self._plans: dict[tuple[int, str], tuple[Any, Any, Reader | None]] = {}
        self._lock = threading.Lock()

    def decode(self, data: bytes, topic: str = "") -> dict[str, Any]:
        """The value of a record read from `topic` (a topic name)."""
        schema_id = schema_id_of(data)
        plan = self._plans.get((schema_id, topic))
        if plan is None:
            plan = self._plan(schema_id, topic)
        writer, reader, compiled = plan
        if compiled is not None:
            return self._compiled(compiled, schema_id, data)
        body = BytesIO(data[HEADER_SIZE:])
        try:
            value = schemaless_reader(body, writer, reader)
        except SchemaResolutionError as exc:  # its text holds both schemas whole: shortened
            raise SchemaMismatch(
                f"schema id {schema_id} does not resolve to the schema of {topic or 'the topic'}: "
                f"{shortened(str(exc))}"
            ) from exc
        except Exception as exc:  # fastavro raises many types for corrupt bytes
            raise UndecodableBytes(
                f"schema id {schema_id}: {type(exc).__name__}: {shortened(str(exc))}"
            ) from exc
        return whole_record(value, HEADER_SIZE + body.tell(), len(data), schema_id)

    @staticmethod
    def _compiled(read: Reader, schema_id: int, data: bytes) -> dict[str, Any]:
        try:
            value, end = read(data, HEADER_SIZE)
        except Exception as exc:  # IndexError (short), ValueError (a byte out of range)
            raise UndecodableBytes(
                f"schema id {schema_id}: {type(exc).__name__}: {shortened(str(exc))}"
            ) from exc
        return whole_record(value, end, len(data), schema_id)

    def _plan(self, schema_id: int, topic: str) -> tuple[Any, Any, Reader | None]:
        with self._lock:
            writer_json = self._writers.get(schema_id)
            if writer_json is None:
                writer_json = self._writers[schema_id] = self._fetch(schema_id)
            reader_json = self._reader_json(topic)
            writer = parse_schema(writer_json)
            if reader_json is None or reader_json == writer_json:
                try:
                    compiled: Reader | None = compile_reader(writer_json)
                except NotCompilable:
                    compiled = None
                plan: tuple[Any, Any, Reader | None] = (writer, None, compiled)
            else:
                try:
                    plan = (writer, parse_schema(reader_json), None)
                except Exception as exc:
                    raise SchemaMismatch(f"schema id {schema_id}: {exc}") from exc
            self._plans[(schema_id, topic)] = plan
            return plan

    def _reader_json(self, topic: str) -> Any:
        topic_id = self.topic_ids.get(topic)
        spec = TOPICS_BY_ID.get(topic_id) if topic_id else None
        if spec is None or spec.value_schema is None:
            return None
        return without_timestamp_types(json.loads(load_schema(spec.value_schema)))

    def _fetch(self, schema_id: int) -> Any:
        try:
            text = self.registry.get_schema(schema_id).schema_str
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404 or exc.error_code in UNKNOWN_ID_CODES:
                raise UnknownSchemaId(f"the registry has no schema id {schema_id}") from exc
            raise RegistryUnavailable(
                f"the registry answered {exc.http_status_code} for schema id {schema_id}: "
                f"{exc.error_message}"
            ) from exc
        except Exception as exc:
            raise RegistryUnavailable(
                f"the registry could not be asked for schema id {schema_id}: {exc}"
            ) from exc
        if not text:
            raise UnknownSchemaId(f"schema id {schema_id} has no schema text in the registry")
        try:
            return without_timestamp_types(json.loads(text))
        except ValueError as exc:
            raise SchemaMismatch(f"schema id {schema_id} is not an Avro schema: {exc}") from exc


def whole_record(value: Any, end: int, size: int, schema_id: int) -> dict[str, Any]:
    """`value`, read from a message of `size` bytes up to `end`, if it used the message whole
    and is a record."""
    if end != size:
        what = "left over after" if end < size else "missing at the end of"
        raise UndecodableBytes(
            f"schema id {schema_id}: {abs(size - end)} bytes {what} the record "
            "(not written with this schema)"
        )
    if not isinstance(value, dict):
        raise SchemaMismatch(f"schema id {schema_id}: a {type(value).__name__}, not a record")
    return value
