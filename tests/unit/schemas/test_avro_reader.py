"""The compiled Avro reader reads fastavro's values, for generated records of every schema, and
refuses the bytes fastavro refuses (cut short, a branch or an index out of range)."""

from __future__ import annotations

import struct
from io import BytesIO
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import load_schema_dict, schema_names
from schemas.avro_reader import compile_reader
from schemas.codegen import NotCompilable
from schemas.decoder import without_timestamp_types
from tests.unit.schemas.test_avro_writer import fastavro_bytes, values

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fastavro_value(parsed: Any, data: bytes) -> Any:
    return schemaless_reader(BytesIO(data), parsed, None)


@pytest.mark.parametrize("name", schema_names())
def test_compiled_reader_reads_fastavros_values(name: str) -> None:
    schema = without_timestamp_types(load_schema_dict(name))  # as the decoder reads them
    read = compile_reader(schema)
    parsed = parse_schema(without_timestamp_types(load_schema_dict(name)))

    @SETTINGS
    @given(values(schema, {}))
    def check(value: Any) -> None:
        data = b"\x00head" + fastavro_bytes(parsed, value)
        assert read(data, 5) == (fastavro_value(parsed, data[5:]), len(data))

    check()


@pytest.mark.parametrize("name", ["mmapi_order", "mmapi_bet", "predexon_sports_live"])
def test_a_record_cut_short_never_reads_as_whole(name: str) -> None:
    schema = without_timestamp_types(load_schema_dict(name))
    read = compile_reader(schema)
    parsed = parse_schema(without_timestamp_types(load_schema_dict(name)))

    @SETTINGS
    @given(values(schema, {}), st.data())
    def check(value: Any, data: st.DataObject) -> None:
        whole = fastavro_bytes(parsed, value)
        cut = data.draw(st.integers(0, len(whole) - 1))
        try:
            _, end = read(whole[:cut], 0)
        except (IndexError, ValueError, struct.error):
            return
        assert end != cut  # the decoder calls that undecodable

    check()


@pytest.mark.parametrize(
    ("schema", "data"),
    [
        (["null", "string"], b"\x04"),  # branch 2 of a 2-branch union
        (["null", "string"], b"\x01"),  # branch -1
        ({"type": "enum", "name": "E", "symbols": ["A", "B"]}, b"\x04"),  # index 2
        ({"type": "enum", "name": "E", "symbols": ["A", "B"]}, b"\x01"),  # index -1
        ("boolean", b"\x02"),
        ("string", b"\x01"),  # length -1
        ("string", b"\x04\xff\xfe"),  # not UTF-8
        ("long", b"\xff" * 11),  # a varint longer than a long
    ],
    ids=["union", "union-negative", "enum", "enum-negative", "bool", "length", "utf8", "varint"],
)
def test_a_value_out_of_range_raises(schema: Any, data: bytes) -> None:
    with pytest.raises((IndexError, ValueError)):
        compile_reader(schema)(data, 0)


def test_blocks_with_a_byte_size_and_several_blocks() -> None:
    """Writers may split arrays and maps into blocks, with a negative count and a byte size."""
    read = compile_reader({"type": "map", "values": {"type": "array", "items": "long"}})
    # a block of 1 entry given as count -1 and byte size 4, then a block of 1, then the end
    data = b"\x01\x08" + b"\x02a" + b"\x02\x02\x00" + b"\x02" + b"\x02b\x00" + b"\x00"
    assert read(data, 0) == ({"a": [1], "b": []}, len(data))


def test_an_unsupported_union_is_refused() -> None:
    with pytest.raises(NotCompilable):
        compile_reader(["long", "string"])
