"""The fused convert-and-write functions give, byte for byte, what converting (the walking
converter) and then encoding with fastavro's schemaless writer give — or the same rejection —
on generated feed input for every schema in `schemas/`: nulls, absent fields, unions, unknown
fields (kept), times as text and as numbers, edge numbers, wrong types."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.channels import CHANNELS, ChangeRecords
from connectors.errors import RejectedInput
from connectors.fingerprints import RecordPrint
from connectors.fused import fuse
from connectors.predexon import compared_fields
from connectors.records import Converter, field_schema
from connectors.wire import LiveStateWriter
from schemas import load_schema, load_schema_dict, schema_names
from schemas.codegen import NotCompilable
from schemas.encoder import ConfluentAvroEncoder
from tests.unit.connectors.test_compiled import LIMITS, NOW, feed_objects, outcome

PREFIX = b"\x00\x00\x00\x01\x07"
EDGE_VALUES: st.SearchStrategy[Any] = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        -1,
        63,
        -64,
        64,
        -65,
        8191,
        8192,
        -8193,
        2**31 - 1,
        -(2**31),
        2**31,
        2**53 + 1,
        2**63 - 1,
        -(2**63),
        2**63,
        -(2**63) - 1,
        NOW,
        NOW + 1,
        float(NOW),
        -0.0,
        0.1,
        1e308,
        5e-324,
        float("inf"),
        float("nan"),
        "",
        "x" * 64,
        "é" * 40,
        "\ud800",
        "2026-02-15T10:30:05Z",
        [],
        {},
    ]
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def with_edges(schema: Any, named: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Feed objects of the record's shape, some known fields set to edge values."""
    names = [f["name"] for f in schema["fields"]]
    edges = st.dictionaries(st.sampled_from(names), EDGE_VALUES, max_size=4)
    return st.tuples(feed_objects(schema, named), edges).map(
        lambda pair: {**pair[0], **pair[1]} if isinstance(pair[0], dict) else pair[0]
    )


def fastavro_bytes(parsed: Any, value: Any) -> bytes:
    buffer = BytesIO()
    schemaless_writer(buffer, parsed, value)
    return buffer.getvalue()


def fused_outcome(
    function: Any, value: Any, path: str, sink: dict[str, str], owned: dict[str, Any] | None
) -> Any:
    out = bytearray()
    try:
        record = function(out, value, path, sink, owned, None)
    except RejectedInput as exc:
        return ("rejected", exc.reason), b""
    return ("ok", record), bytes(out)


def check_record(
    converter: Converter, schema: Any, path: str, owned: dict[str, Any] | None = None
) -> None:
    function = fuse(converter, schema, frozenset(owned or ()))
    parsed = parse_part(converter.schema, schema)

    @SETTINGS
    @given(with_edges(schema, dict(converter.named)))
    def check(value: Any) -> None:
        walked_sink: dict[str, str] = {}
        fused_sink: dict[str, str] = {}
        walked = outcome(converter.walk_record, schema, value, path, walked_sink, owned)
        fused, data = fused_outcome(function, value, path, fused_sink, owned)
        assert fused == walked
        assert fused_sink == walked_sink
        if walked[0] == "ok":
            assert data == fastavro_bytes(parsed, walked[1])

    check()


ENVELOPE = {
    "source": "mmapi",
    "connection_id": "c-1",
    "subscription_id": "s-1",
    "received_at": NOW,
    "event_time": None,
    "origin": "LIVE",
}
OWNED = {"envelope": ENVELOPE, "frame_extra": {"seen": '"later"'}}  # what connectors fill


@pytest.mark.parametrize("name", schema_names())
def test_fused_writes_fastavros_bytes_of_the_converted_record(name: str) -> None:
    converter = Converter(load_schema_dict(name), LIMITS)
    fields = {f["name"] for f in converter.schema["fields"]}
    owned = {k: v for k, v in OWNED.items() if k in fields} or None
    check_record(converter, converter.schema, "value", owned)


def test_a_converted_field_after_the_extra_map_is_refused() -> None:
    """Unknown fields are known only once every other field is converted (then the converter
    and the encoder are used in two steps)."""
    converter = Converter(load_schema_dict("predexon_sports_live"), LIMITS)
    with pytest.raises(NotCompilable, match="after the extra map"):
        fuse(converter, converter.schema)  # frame_extra, not owned, follows extra


def parse_part(top: Any, part: Any) -> Any:
    """`part` (a record inside `top`) parsed by fastavro, the named types of `top` known."""
    if part is top:
        return parse_schema(top)
    named: dict[str, Any] = {}
    parse_schema(top, named_schemas=named)
    namespace = top.get("namespace")
    named.pop(f"{namespace}.{part['name']}", None)
    return parse_schema({**part, "namespace": namespace}, named_schemas=named)


RECORDS = [(CHANNELS[c].schema_name, part) for c in CHANNELS for part in ("payload", "old")]


@pytest.mark.parametrize(("schema_name", "part"), RECORDS)
def test_fused_change_parts_keep_unknown_fields_in_the_sink(schema_name: str, part: str) -> None:
    converter = Converter(load_schema_dict(schema_name), LIMITS)
    check_record(converter, field_schema(converter.schema, part), part)


FRAME_EXTRA = st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2)


@pytest.mark.parametrize("channel", list(CHANNELS))
def test_a_change_record_written_in_one_pass_is_the_two_step_one(channel: str) -> None:
    """`ChangeRecords.written` = `build`, then the Confluent encoding (fastavro's bytes after
    the framing), then the fingerprint of the encoded payload … old_extra."""
    records = ChangeRecords(CHANNELS[channel], LIMITS)
    encoder = ConfluentAvroEncoder(None, "subject", load_schema(CHANNELS[channel].schema_name))  # type: ignore[arg-type]
    encoder._prefix = PREFIX
    named = records.converter.named
    parsed = parse_schema(records.converter.schema)
    olds = st.one_of(st.none(), with_edges(records.old_schema, dict(named)))

    @SETTINGS
    @given(with_edges(records.payload_schema, dict(named)), olds, FRAME_EXTRA, st.text(max_size=8))
    def check(payload: Any, old: Any, extra: dict[str, str], event: str) -> None:
        try:
            value = records.build(event, payload, old, dict(ENVELOPE), extra)
            value["envelope"]["event_time"] = records.event_time(value["payload"])
            two_step: Any = ("ok", *encoder.encode_fields(value), value["payload"])
        except RejectedInput as exc:
            two_step = ("rejected", exc.reason)
        try:
            data, typed, print_ = records.written(
                PREFIX, event, payload, old, dict(ENVELOPE), extra
            )
        except RejectedInput as exc:
            assert two_step == ("rejected", exc.reason)
            return
        assert two_step[0] == "ok"
        _, expected, starts, expected_payload = two_step
        assert data == expected == PREFIX + fastavro_bytes(parsed, value)
        assert typed == expected_payload
        assert print_ == records.fingerprint(expected, starts)

    check()


def test_a_live_state_written_in_one_pass_is_the_two_step_one() -> None:
    """`LiveStateWriter.write` = `Converter.record` with the owned envelope, the event time
    set, fastavro's bytes after the framing, and `RecordPrint`'s fingerprint."""
    converter = Converter(load_schema_dict("predexon_sports_live"), LIMITS)
    compared = compared_fields(converter.schema)
    writer = LiveStateWriter(converter, compared)
    prints = RecordPrint(converter.schema, compared)
    parsed = parse_schema(converter.schema)

    @SETTINGS
    @given(with_edges(converter.schema, dict(converter.named)), FRAME_EXTRA)
    def check(data: Any, extra: dict[str, str]) -> None:
        envelope = {**ENVELOPE, "source": "predexon"}
        try:
            value = converter.record(
                converter.schema,
                data,
                "data",
                owned={"envelope": dict(envelope), "frame_extra": extra},
            )
            value["envelope"]["event_time"] = value["updated_at"]
        except RejectedInput as exc:
            with pytest.raises(RejectedInput) as raised:
                writer.write(PREFIX, data, {"envelope": dict(envelope), "frame_extra": extra})
            assert raised.value.reason == exc.reason
            return
        encoded, typed, print_ = writer.write(
            PREFIX, data, {"envelope": dict(envelope), "frame_extra": extra}
        )
        assert typed == value
        assert encoded == PREFIX + fastavro_bytes(parsed, value)
        assert print_ == prints(value)

    check()


def test_the_envelope_head_follows_a_new_connection() -> None:
    """The per-connection part of the envelope is written once per connection, never stale."""
    records = ChangeRecords(CHANNELS["scores"], LIMITS)
    payload = {"fixtureId": "f1", "updatedAt": NOW}
    first, _, _ = records.written(PREFIX, "UPDATE", payload, None, dict(ENVELOPE), {})
    other = {**ENVELOPE, "connection_id": "c-2", "subscription_id": None}
    second, _, _ = records.written(PREFIX, "UPDATE", payload, None, dict(other), {})
    assert b"c-1" in first and b"s-1" in first
    assert b"c-2" in second and b"c-1" not in second and b"s-1" not in second
