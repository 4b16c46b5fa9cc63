"""The compiled Avro writer writes fastavro's bytes, for generated records of every schema."""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import load_schema_dict, schema_names
from schemas.avro_writer import compile_writer, long_bytes
from schemas.codegen import NotCompilable

LONGS = st.one_of(
    st.integers(-64, 63),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([-(2**63), 2**63 - 1, 64, -65, 8191, 8192]),
)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=80)


def values(schema: Any, named: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Valid values of `schema` (named types resolved through `named`)."""
    if isinstance(schema, list):
        return st.one_of(*(values(branch, named) for branch in schema))
    if isinstance(schema, str):
        simple: dict[str, st.SearchStrategy[Any]] = {
            "null": st.none(),
            "boolean": st.booleans(),
            "int": st.integers(-(2**31), 2**31 - 1),
            "long": LONGS,
            "float": st.floats(width=32, allow_nan=False),
            "double": st.floats(allow_nan=False),
            "string": TEXT,
            "bytes": st.binary(max_size=80),
        }
        return simple[schema] if schema in simple else values(named[schema], named)
    kind = schema["type"]
    if schema.get("logicalType") == "timestamp-millis":
        return st.one_of(
            LONGS, st.datetimes(timezones=st.just(UTC), min_value=datetime(1971, 1, 1))
        )
    if kind == "record":
        named[schema["name"]] = schema
        fields = {f["name"]: values(f["type"], named) for f in schema["fields"]}
        return st.fixed_dictionaries(fields)
    if kind == "array":
        return st.lists(values(schema["items"], named), max_size=70)
    if kind == "map":
        return st.dictionaries(TEXT, values(schema["values"], named), max_size=70)
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    return values(kind, named)


def fastavro_bytes(parsed: Any, value: Any) -> bytes:
    buffer = BytesIO()
    schemaless_writer(buffer, parsed, value)
    return buffer.getvalue()


@pytest.mark.parametrize("name", schema_names())
def test_compiled_writer_writes_fastavros_bytes(name: str) -> None:
    schema = load_schema_dict(name)
    write = compile_writer(schema)
    parsed = parse_schema(load_schema_dict(name))

    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(values(schema, {}))
    def check(value: Any) -> None:
        out = bytearray()
        write(out, value)
        assert bytes(out) == fastavro_bytes(parsed, value)

    check()


def test_long_boundaries_and_range() -> None:
    parsed = parse_schema("long")
    for value in (0, -1, 63, -64, 64, -65, 2**31, -(2**63), 2**63 - 1):
        assert long_bytes(value) == fastavro_bytes(parsed, value)
    with pytest.raises(ValueError, match="does not fit"):
        long_bytes(2**63)


def test_a_wrong_value_raises_rather_than_writing_garbage() -> None:
    write = compile_writer(load_schema_dict("mmapi_order"))
    with pytest.raises((TypeError, KeyError, AttributeError)):
        write(bytearray(), {"envelope": {"source": 1}})


def test_an_unsupported_union_is_refused() -> None:
    with pytest.raises(NotCompilable):
        compile_writer(["long", "string"])
