"""Whole raw records written to their Confluent wire bytes in one pass (`connectors.fused`).

Both feeds' records begin with the envelope, whose `event_time` is a time of the payload, read
only once the payload is converted: the rest of the record is written first, then the framing
and the envelope before it. The envelope's first fields (source, connection, subscription) are
the same for a whole session: written once per connection. The bytes are those that
`Converter.record` + `AvroSerde.encode` give for the same input
(`tests/unit/connectors/test_wire.py`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from connectors.errors import RejectedInput
from connectors.fused import fuse
from connectors.records import Converter, field_schema
from schemas.avro_writer import compile_writer, long_bytes
from schemas.codegen import NotCompilable

Record = dict[str, Any]
SESSION_FIELDS = ("source", "connection_id", "subscription_id")  # the same for a connection
NULL, SOME = b"\x00", b"\x02"  # the union index of [null, T]: null, then T
EMPTY = b"\x00"  # an empty array or map


def projection(schema: Record, names: tuple[str, ...] | list[str]) -> Record:
    """The record `schema` with only the fields named (their order kept)."""
    return dict(schema, fields=[f for f in schema["fields"] if f["name"] in names])


class EnvelopeWriter:
    """Writes the envelope record: its per-connection head once per connection, then the
    receive time, the event time and the origin (written here: a compiled writer reading them
    from the dict cost a tenth of a record)."""

    TAIL = (
        ("received_at", {"type": "long", "logicalType": "timestamp-millis"}),
        ("event_time", ["null", {"type": "long", "logicalType": "timestamp-millis"}]),
        ("origin", "string"),
    )

    def __init__(self, schema: Record) -> None:
        names = [f["name"] for f in schema["fields"]]
        tail = tuple((f["name"], f["type"]) for f in schema["fields"][len(SESSION_FIELDS) :])
        if tuple(names[: len(SESSION_FIELDS)]) != SESSION_FIELDS or tail != self.TAIL:
            raise NotCompilable(f"the envelope must be {SESSION_FIELDS} then {self.TAIL}")
        self._head = compile_writer(projection(schema, SESSION_FIELDS))
        self._origin = compile_writer("string")
        self._session: tuple[Any, ...] = ()
        self._head_bytes = b""
        self._origins: dict[str, bytes] = {}

    def write(self, out: bytearray, envelope: Record) -> None:
        session = (envelope["source"], envelope["connection_id"], envelope["subscription_id"])
        if session != self._session:
            head = bytearray()
            self._head(head, envelope)
            self._session, self._head_bytes = session, bytes(head)
        out += self._head_bytes
        out += long_bytes(envelope["received_at"])
        event_time = envelope["event_time"]
        if event_time is None:
            out += NULL
        else:
            out += SOME
            out += long_bytes(event_time)
        origin = self._origins.get(envelope["origin"])
        if origin is None:
            written = bytearray()
            self._origin(written, envelope["origin"])
            origin = self._origins[envelope["origin"]] = bytes(written)
        out += origin


class ChangeWriter:
    """An MM API change record (`channels.ChangeRecords.build`) written straight from the
    broadcast: `write` gives the bytes, the typed payload and where the compared run of fields
    (payload … old_extra) lies in the bytes."""

    FIELDS = (
        "envelope",
        "event",
        "payload",
        "old",
        "changed_fields",
        "payload_extra",
        "old_extra",
        "frame_extra",
    )

    def __init__(self, converter: Converter) -> None:
        schema = converter.schema
        if tuple(f["name"] for f in schema["fields"]) != self.FIELDS:
            raise NotCompilable(f"a change record has the fields {self.FIELDS}")
        old_type = next(f["type"] for f in schema["fields"] if f["name"] == "old")
        if not (isinstance(old_type, list) and old_type[0] == "null" and len(old_type) == 2):
            raise NotCompilable("old must be [null, record]")
        types = {f["name"]: f["type"] for f in schema["fields"]}
        self.envelope = EnvelopeWriter(types["envelope"])
        self._event = compile_writer(types["event"])
        self._payload = fuse(converter, field_schema(schema, "payload"))
        self._old = fuse(converter, field_schema(schema, "old"))
        self._names = compile_writer(types["changed_fields"])
        self._payload_extra = compile_writer(types["payload_extra"])
        self._old_extra = compile_writer(types["old_extra"])
        self._frame_extra = compile_writer(types["frame_extra"])

    def write(
        self,
        prefix: bytes,
        envelope: Record,
        event: str,
        payload: Record,
        old: Any,
        frame_extra: dict[str, str],
        event_time: Any,
    ) -> tuple[bytes, Record, int, int]:
        """(the record's bytes, its typed payload, where the compared fields begin, end).
        `event_time(payload)` gives the envelope's event time from the typed payload."""
        body = bytearray()
        self._event(body, event)
        begin = len(body)
        payload_extra: dict[str, str] = {}
        typed = self._payload(body, payload, "payload", payload_extra, None, None)
        old_extra: dict[str, str] = {}
        if old is None:
            body += NULL + EMPTY  # no old, no changed fields
        elif type(old) is not dict:
            raise RejectedInput("old: expected an object")
        else:
            body += SOME
            self._old(body, old, "old", old_extra, None, None)
            self._names(body, list(old))
        if payload_extra:
            self._payload_extra(body, payload_extra)
        else:
            body += EMPTY
        if old_extra:
            self._old_extra(body, old_extra)
        else:
            body += EMPTY
        end = len(body)
        if frame_extra:
            self._frame_extra(body, frame_extra)
        else:
            body += EMPTY
        envelope["event_time"] = event_time(typed)
        out = bytearray(prefix)
        self.envelope.write(out, envelope)
        offset = len(out)
        out += body
        return bytes(out), typed, begin + offset, end + offset


class SpanPrint:
    """A fingerprint over some top-level fields of an encoded record: the digest of their
    bytes, in order — the same digest whether the fields were written alone or in the whole
    record (`fingerprints.RecordPrint` writes them alone)."""

    def __init__(self, schema: Record, fields: list[str], first: int = 0) -> None:
        """`first`: the index of the first field whose start `starts` holds."""
        names = [f["name"] for f in schema["fields"]]
        wanted = [i - first for i, name in enumerate(names) if name in fields]
        runs: list[tuple[int, int]] = []
        for index in wanted:
            if runs and runs[-1][1] == index:
                runs[-1] = (runs[-1][0], index + 1)
            else:
                runs.append((index, index + 1))
        self.runs = runs

    def __call__(self, data: bytes, starts: list[int], offset: int = 0) -> bytes:
        """The digest; `offset`: where in `data` the bytes that `starts` indexes begin."""
        digest = hashlib.blake2b(digest_size=16)
        view = memoryview(data)
        for first, last in self.runs:
            digest.update(view[offset + starts[first] : offset + starts[last]])
        return digest.digest()


class LiveStateWriter:
    """A Predexon live state written straight from the event's `data`: `write` gives the
    bytes, the typed record and its fingerprint over `compared` fields."""

    def __init__(self, converter: Converter, compared: list[str]) -> None:
        schema = converter.schema
        if schema["fields"][0]["name"] != "envelope":
            raise NotCompilable("a live state begins with its envelope")
        self.envelope = EnvelopeWriter(schema["fields"][0]["type"])
        owned = frozenset({"envelope", "frame_extra"})
        self._record = fuse(converter, schema, owned, frozenset({"envelope"}), marks=True)
        self.prints = SpanPrint(schema, compared, first=1)

    def write(self, prefix: bytes, data: Any, owned: Record) -> tuple[bytes, Record, bytes]:
        body = bytearray()
        starts: list[int] = []
        value = self._record(body, data, "data", None, owned, starts)
        envelope = value["envelope"]
        envelope["event_time"] = value["updated_at"]
        out = bytearray(prefix)
        self.envelope.write(out, envelope)
        offset = len(out)
        out += body
        encoded = bytes(out)
        return encoded, value, self.prints(encoded, starts, offset)
