"""The compiled record converters give what walking the schema gives: the same record, the same
unknown fields kept, or the same rejection, on generated feed input (good and bad)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.channels import CHANNELS
from connectors.edge import EdgeLimits
from connectors.errors import RejectedInput
from connectors.records import Converter, field_schema
from schemas import load_schema_dict

NOW = 1_771_151_405_000
LIMITS = EdgeLimits(clock=lambda: NOW)
ANY_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
TIMES = st.one_of(
    st.integers(NOW - 40 * 86_400_000, NOW + 2 * 86_400_000),
    st.sampled_from(["2026-02-15T10:30:05Z", "2026-02-15T10:30:05.123+01:00", "yesterday"]),
)


def plausible(schema: Any, named: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values a feed might send for `schema`: mostly right, sometimes not."""
    if isinstance(schema, list):
        return st.one_of(*(plausible(b, named) for b in schema))
    if isinstance(schema, str):
        simple = {
            "null": st.none(),
            "boolean": st.booleans(),
            "long": st.integers(-(2**64), 2**64),
            "int": st.integers(-(2**32), 2**32),
            "double": st.one_of(st.floats(), st.integers(-(2**64), 2**64)),
            "string": st.one_of(st.text(max_size=10), st.integers(), st.floats()),
        }
        return simple[schema] if schema in simple else plausible(named[schema], named)
    if schema.get("logicalType") == "timestamp-millis":
        return TIMES
    if schema["type"] == "record":
        named[schema["name"]] = schema
        named[f"{schema.get('namespace', 'mmstream.mmapi')}.{schema['name']}"] = schema
        fields = {f["name"]: plausible(f["type"], named) for f in schema["fields"]}
        return st.fixed_dictionaries({}, optional=fields)
    if schema["type"] == "array":
        return st.lists(plausible(schema["items"], named), max_size=3)
    if schema["type"] == "map":
        return st.dictionaries(st.text(max_size=5), plausible(schema["values"], named), max_size=3)
    return plausible(schema["type"], named)


def feed_objects(schema: Any, named: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Objects of the record's shape, with unknown fields and wrong values mixed in."""
    shaped = plausible(schema, dict(named))
    noise = st.dictionaries(st.text(max_size=8), ANY_JSON, max_size=3)
    return st.one_of(
        st.tuples(shaped, noise).map(lambda pair: {**pair[1], **pair[0]}),
        ANY_JSON,
    )


def outcome(function: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "ok", function(*args, **kwargs)
    except RejectedInput as exc:
        return "rejected", exc.reason


RECORDS = [(CHANNELS[c].schema_name, part) for c in CHANNELS for part in ("payload", "old")]


@pytest.mark.parametrize(("schema_name", "part"), RECORDS)
def test_compiled_converter_equals_the_walking_one(schema_name: str, part: str) -> None:
    converter = Converter(load_schema_dict(schema_name), LIMITS)
    schema = field_schema(converter.schema, part)

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(feed_objects(schema, converter.named))
    def check(value: Any) -> None:
        walked_sink: dict[str, str] = {}
        compiled_sink: dict[str, str] = {}
        walked = outcome(converter.walk_record, schema, value, part, walked_sink)
        compiled = outcome(converter.record, schema, value, part, compiled_sink)
        assert compiled == walked
        assert compiled_sink == walked_sink

    check()


def test_compiled_converter_keeps_owned_fields_and_the_predexon_record() -> None:
    converter = Converter(load_schema_dict("predexon_sports_live"), LIMITS)
    owned = {"envelope": {"source": "predexon"}, "frame_extra": {}}

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(feed_objects(converter.schema, converter.named))
    def check(value: Any) -> None:
        walked = outcome(converter.walk_record, converter.schema, value, "data", None, owned)
        compiled = outcome(converter.record, converter.schema, value, "data", None, owned)
        assert compiled == walked

    check()
